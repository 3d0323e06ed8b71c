"""``netdiag sockets`` in a lab namespace, side by side with ss (iproute2).

Each test opens known sockets of every kind inside the lab's ``dst`` namespace
(this thread only, via ``in_netns``), so the listing holds the test's own
sockets; ss runs in the same namespace (``ip netns exec``) as the reference.
Traffic stays inside that namespace: a TCP connection and two datagrams over
198.18.1.2 to itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import struct
import tempfile
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from netdiag import cli
from netdiag.lab.netns import in_netns
from netdiag.sockets.dump import list_sockets
from netdiag.sockets.model import Selection, default_states
from netdiag.sockets.render import json_lines, table

TCP_BYTES = 1234  # left unread in the accepting socket's receive queue
UNIX_BYTES = 777  # left unread in the accepted UNIX stream socket
ETH_P_ALL, ETH_P_IP = 0x0003, 0x0800


@dataclass
class Known:
    netns: str
    socks: dict[str, socket.socket] = field(default_factory=dict)
    inodes: dict[str, int] = field(default_factory=dict)

    def inode(self, name: str) -> int:
        if name not in self.inodes:
            self.inodes[name] = os.fstat(self.socks[name].fileno()).st_ino
        return self.inodes[name]


def _inq(sock: socket.socket) -> int:
    """SIOCINQ (= FIONREAD): the kernel's count of unread bytes, asked another way."""
    return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0" * 4))[0])


@contextlib.contextmanager
def known_sockets(lab) -> Iterator[Known]:
    node = lab.node("dst")
    k = Known(node.netns)
    a4, a6 = lab.addr("dst"), lab.addr("dst", 6)
    tmp = tempfile.mkdtemp(prefix="netdiag-sock-")
    tag = f"netdiag-{os.getpid()}-{time.monotonic_ns()}"
    with in_netns(node.netns):
        s = k.socks
        try:
            s["tcp_listen"] = socket.create_server((a4, 0), backlog=8)
            port = s["tcp_listen"].getsockname()[1]
            s["tcp_client"] = socket.create_connection((a4, port), timeout=5)
            s["tcp_server"], _ = s["tcp_listen"].accept()
            s["tcp_client"].sendall(b"t" * TCP_BYTES)
            s["tcp6_listen"] = socket.create_server((a6, 0), family=socket.AF_INET6)
            s["udp_bound"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s["udp_bound"].bind((a4, 0))
            s["udp_conn"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s["udp_conn"].connect(s["udp_bound"].getsockname())
            s["udp_conn"].send(b"u" * 100)
            s["raw_icmp"] = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            s["unix_listen"] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s["unix_listen"].bind(os.path.join(tmp, "stream.sock"))
            s["unix_listen"].listen(4)
            s["unix_client"] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s["unix_client"].connect(os.path.join(tmp, "stream.sock"))
            s["unix_server"], _ = s["unix_listen"].accept()
            s["unix_client"].sendall(b"x" * UNIX_BYTES)
            s["unix_dgram"] = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s["unix_dgram"].bind(f"\0{tag}-dgram")
            s["unix_seq_listen"] = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s["unix_seq_listen"].bind(f"\0{tag}-seq")
            s["unix_seq_listen"].listen(4)
            for t, n in ((socket.SOCK_STREAM, "str"), (socket.SOCK_DGRAM, "dgr"),
                         (socket.SOCK_SEQPACKET, "seq")):  # fmt: skip
                s[f"pair_{n}_a"], s[f"pair_{n}_b"] = socket.socketpair(socket.AF_UNIX, t)
            ifname = node.interfaces[0].name
            s["packet_all"] = socket.socket(
                socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)
            )
            s["packet_all"].bind((ifname, 0))
            s["packet_ip"] = socket.socket(
                socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP)
            )
            deadline = time.monotonic() + 5  # a bound, not a timing assertion
            while _inq(s["tcp_server"]) < TCP_BYTES and time.monotonic() < deadline:
                time.sleep(0.01)
            yield k
        finally:
            for name, sock in s.items():
                if sock.fileno() >= 0:
                    k.inode(name)  # remembered for assertions after the with block
                sock.close()
            for name in os.listdir(tmp):
                os.unlink(os.path.join(tmp, name))
            os.rmdir(tmp)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(["sockets", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def rows(text: str) -> set[tuple[str, str, str, str, int, int]]:
    """ss's table (and ours) as (netid, state, local, peer, recv-q, send-q) rows; ss
    leaves out Netid for one of tcp/udp/raw and State when one state is selected."""
    lines = text.splitlines()
    header = lines[0].split() if lines else []
    has_netid, has_state = "Netid" in header, "State" in header
    found = set()
    for line in lines[1:]:
        f = line.split()
        if not f:
            continue
        netid = f.pop(0) if has_netid else "-"
        state = f.pop(0) if has_state else "-"
        if netid.startswith("u_"):
            rq, sq, lpath, lino, ppath, pino = f[:6]
            found.add((netid, state, f"{lpath} {lino}", f"{ppath} {pino}", int(rq), int(sq)))
        else:
            rq, sq, local, peer = f[:4]
            found.add((netid, state, local, peer, int(rq), int(sq)))
    return found


def ss(lab, *argv: str, user: int | None = None) -> str:
    prefix = [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}",
                                      "--clear-groups"]  # fmt: skip
    done = lab.exec("dst", [*prefix, "ss", *argv], capture_output=True, text=True, check=True)
    return str(done.stdout)


@pytest.mark.root
def test_json_lists_every_kind_with_its_family_type_state_ends_and_owner(lab, capsys):
    comm = open("/proc/self/comm").read().strip()
    with known_sockets(lab) as k:
        status, out, _ = run_cli(capsys, "--json", "-a")
        by_inode = {o["inode"]: o for o in map(json.loads, out.splitlines())}
        s = k.socks

        def got(name: str) -> dict:
            return by_inode[k.inode(name)]

        expect = {  # (family, type, state), states as ss names them
            "tcp_listen": ("inet", "stream", "LISTEN"),
            "tcp_client": ("inet", "stream", "ESTAB"),
            "tcp_server": ("inet", "stream", "ESTAB"),
            "tcp6_listen": ("inet6", "stream", "LISTEN"),
            "udp_bound": ("inet", "dgram", "UNCONN"),
            "udp_conn": ("inet", "dgram", "ESTAB"),
            "raw_icmp": ("inet", "raw", "UNCONN"),
            "unix_listen": ("unix", "stream", "LISTEN"),
            "unix_client": ("unix", "stream", "ESTAB"),
            "unix_server": ("unix", "stream", "ESTAB"),
            "unix_dgram": ("unix", "dgram", "UNCONN"),
            "unix_seq_listen": ("unix", "seqpacket", "LISTEN"),
            "pair_str_a": ("unix", "stream", "ESTAB"),
            "pair_dgr_a": ("unix", "dgram", "ESTAB"),
            "pair_seq_a": ("unix", "seqpacket", "ESTAB"),
            "packet_all": ("packet", "raw", "UNCONN"),
            "packet_ip": ("packet", "dgram", "UNCONN"),
        }
        for name, (family, kind, state) in expect.items():
            o = got(name)
            assert (o["family"], o["type"], o["state"]) == (family, kind, state), name
            assert (o["pid"], o["comm"]) == (os.getpid(), comm), name
            assert o["uid"] == os.getuid(), name
        for name in ("tcp_listen", "tcp_client", "tcp_server", "udp_bound", "udp_conn"):
            addr, port = s[name].getsockname()[:2]
            assert got(name)["local"] == {"address": addr, "port": port}, name
        for name in ("tcp_client", "tcp_server", "udp_conn"):
            addr, port = s[name].getpeername()[:2]
            assert got(name)["peer"] == {"address": addr, "port": port}, name
        assert got("tcp6_listen")["local"]["address"] == s["tcp6_listen"].getsockname()[0]
        assert got("raw_icmp")["local"] == {"address": "0.0.0.0", "port": socket.IPPROTO_ICMP}
        assert got("unix_listen")["local"]["path"] == s["unix_listen"].getsockname()
        assert (
            got("unix_dgram")["local"]["path"] == "@" + s["unix_dgram"].getsockname()[1:].decode()
        )
        assert got("unix_client")["peer"]["inode"] == k.inode("unix_server")
        assert got("pair_seq_a")["peer"]["inode"] == k.inode("pair_seq_b")
        assert got("packet_all")["local"] == {
            "protocol": ETH_P_ALL, "interface": s["packet_all"].getsockname()[0]}  # fmt: skip
        assert got("packet_ip")["local"] == {"protocol": ETH_P_IP, "interface": None}
    assert status == 0


@pytest.mark.root
def test_receive_queues_hold_the_bytes_sent_and_unread(lab, capsys):
    with known_sockets(lab) as k:
        status, out, _ = run_cli(capsys, "--json", "-a")
        by_inode = {o["inode"]: o for o in map(json.loads, out.splitlines())}
        assert by_inode[k.inode("tcp_server")]["recv_q"] == TCP_BYTES == _inq(k.socks["tcp_server"])
        assert by_inode[k.inode("unix_server")]["recv_q"] == UNIX_BYTES
        assert _inq(k.socks["unix_server"]) == UNIX_BYTES


def _same_as(lab, capsys, ours_argv: tuple[str, ...], ss_argv: tuple[str, ...]) -> None:
    for _attempt in range(3):  # a socket of another test may come or go in between
        _, out, _ = run_cli(capsys, *ours_argv)
        reference = rows(ss(lab, *ss_argv))
        if rows(out) == reference:
            break
    assert rows(out) == reference


@pytest.mark.root
def test_same_sockets_as_ss_tuwxan_and_ss_0an(lab, capsys):
    with known_sockets(lab):
        _same_as(lab, capsys, ("-tuwxan",), ("-tuwxan",))
        _same_as(lab, capsys, ("-0an",), ("-0an",))
        _same_as(lab, capsys, ("-tuwxn",), ("-tuwxn",))  # default: connected ones
        _same_as(lab, capsys, ("-tuwxln",), ("-tuwxln",))


@pytest.mark.root
@pytest.mark.parametrize(
    "words",
    [["state", "established"], ["state", "listening"], ["dport", "=", ":{port}"],
     ["sport", "=", ":{port}"], ["dst", "198.18.0.0/15"], ["src", "198.18.1.0/24"]],
)  # fmt: skip
def test_filter_words_select_what_ss_selects(lab, capsys, words):
    with known_sockets(lab) as k:
        port = str(k.socks["tcp_listen"].getsockname()[1])
        argv = tuple(w.replace("{port}", port) for w in words)
        _same_as(lab, capsys, ("-tan", *argv), ("-tan", *argv))


@pytest.mark.root
def test_tcp_info_with_i_reports_the_kernels_cwnd_as_ss_does(lab, capsys):
    with known_sockets(lab) as k:
        _, out, _ = run_cli(capsys, "--json", "-ti")
        info = {o["inode"]: o["tcp_info"] for o in map(json.loads, out.splitlines())}
        ours = info[k.inode("tcp_client")]
        port = k.socks["tcp_client"].getsockname()[1]
        text = ss(lab, "-tin", "sport", "=", f":{port}")
    cwnd = int(text.split("cwnd:")[1].split()[0])
    assert ours["snd_cwnd"] == cwnd
    assert ours["rtt"] > 0 and ours["total_retrans"] == 0 and ours["cong"] in text


@pytest.mark.root
def test_without_sock_diag_falls_back_to_proc_net_and_says_so(lab, capsys, monkeypatch):
    def no_sock_diag() -> socket.socket:
        raise OSError(errno.EPROTONOSUPPORT, os.strerror(errno.EPROTONOSUPPORT))

    monkeypatch.setattr("netdiag.sockets.dump._open_netlink", no_sock_diag)
    with known_sockets(lab):
        status, out, err = run_cli(capsys, "-v", "-tuwxan")
        reference = rows(ss(lab, "-tuwxan"))
    assert status == 0
    assert "sock_diag (NETLINK_SOCK_DIAG) is not available (EPROTONOSUPPORT" in err
    # /proc/net/tcp has no backlog for listeners, /proc/net/unix no peers or queues:
    # compare what the files hold (inet: every column but Send-Q of listeners)
    ours = rows(out)
    inet = {r[:4] for r in ours if not r[0].startswith("u_")}
    assert inet == {r[:4] for r in reference if not r[0].startswith("u_")}
    assert {r[:3] for r in ours if r[0].startswith("u_")} == {
        r[:3] for r in reference if r[0].startswith("u_")}  # fmt: skip


def _as_nobody(selection: Selection) -> tuple[int, str, list[dict]]:
    """List in a forked child that became uid/gid 65534 (the venv's python lies under
    /root, which nobody may not read, so setpriv cannot start it)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on
        try:
            os.close(r)
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            rep = list_sockets(selection, processes=True)
            text = table(rep.sockets) + "\0" + "\n".join(json_lines(rep.sockets))
            os.write(w, text.encode())
            os._exit(0)
        except BaseException:
            os._exit(3)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    text, _, objs = data.decode().partition("\0")
    return os.waitstatus_to_exitcode(status), text, [json.loads(x) for x in objs.splitlines()]


@pytest.mark.root
def test_unprivileged_user_sees_what_ss_shows_it_without_error(lab):
    everything = Selection(states=default_states(False, True))
    with known_sockets(lab) as k:
        code, ours, objs = _as_nobody(everything)
        reference = ss(lab, "-tuwx0anp", user=65534)
    assert code == 0
    assert rows(ours) == rows(reference)
    assert "users:" not in reference  # ss run by nobody cannot see our processes either
    # the forked child holds copies of our sockets: it sees itself as their owner,
    # and never this (root) process, whose /proc/PID/fd it may not read
    mine = {o["inode"]: o for o in objs}
    for name in ("tcp_server", "udp_bound", "raw_icmp", "unix_listen", "packet_all"):
        owners = {p["pid"] for p in mine[k.inode(name)]["processes"]}
        assert os.getpid() not in owners and len(owners) == 1, name


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["state", "bogus"], "netdiag: sockets: state needs a state name, got 'bogus'\n"),
     (["dport", "=", ":http"], "netdiag: sockets: bad port in 'dport': ':http' (expected :PORT)\n"),
     (["dst", "300.1.1.1"], "netdiag: sockets: not an address or network: '300.1.1.1'\n"),
     (["frobnicate"], "netdiag: sockets: unknown filter word 'frobnicate'\n"),
     (["-4", "-6"], None)],
)  # fmt: skip
def test_bad_filter_words_are_one_line_and_exit_status_2(capsys, argv, message):
    status, out, err = run_cli(capsys, *argv)
    assert (status, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("netdiag: sockets")
    if message is not None:
        assert err == message
