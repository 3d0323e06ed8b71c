"""List the host's sockets: sock_diag over netlink, /proc/net where that is missing.

The thin shell around ``netdiag.netlink.sockdiag``/``diagreplies`` (the codec) and
``netdiag.sockets.procnet`` (the /proc/net parser): it opens one AF_NETLINK
NETLINK_SOCK_DIAG socket, sends one dump request per kind and family, and reads
until NLMSG_DONE (bounded in datagrams and time). A kind the kernel has no
sock_diag handler for (the dump ends in ENOENT, e.g. raw sockets without
CONFIG_INET_RAW_DIAG), or a kernel without NETLINK_SOCK_DIAG at all, is read
from /proc/thread-self/net/* instead, and ``SocketReport.notes`` says so (the
CLI prints the notes with ``-v``). The thread's network namespace is the one
listed (``netdiag.lab.netns.in_netns`` switches it).

Owning processes come from /proc/*/fd links ``socket:[inode]``; an unprivileged
user sees only its own processes there, as with ``ss -p``, and sock_diag itself
needs no privilege: nothing here fails for lack of root.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterable

from netdiag.errors import NetdiagError
from netdiag.netlink import diagreplies as dr
from netdiag.netlink import sockdiag as sd
from netdiag.records import dataclass, replace
from netdiag.sockets import procnet
from netdiag.sockets.model import KINDS, Endpoint, Process, Selection, Socket

__all__ = ["SocketReport", "list_sockets", "owners"]

_MAX_DATAGRAMS = 100_000  # bounds the read loop of one dump
_DUMP_TIMEOUT = 5.0  # seconds for one dump, all datagrams together
_RECV_SIZE = 1 << 16
_TYPES: dict[int, str] = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram",
          socket.SOCK_SEQPACKET: "seqpacket", socket.SOCK_RAW: "raw"}  # fmt: skip
_INET_PROTO = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP, "raw": socket.IPPROTO_RAW}
_INET_TYPE = {"tcp": "stream", "udp": "dgram", "raw": "raw"}
_PROC_DIR = "/proc/thread-self/net" if os.path.isdir("/proc/thread-self/net") else "/proc/net"


@dataclass(frozen=True, slots=True)
class SocketReport:
    sockets: tuple[Socket, ...]
    notes: tuple[str, ...]  # where /proc/net stood in for sock_diag, and why
    sources: tuple[tuple[str, str], ...]  # (kind, "netlink" | "proc")


class _Unavailable(Exception):
    def __init__(self, err: int) -> None:
        self.err = err


# -- netlink -----------------------------------------------------------------------------


def _open_netlink() -> socket.socket:
    s = socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, sd.NETLINK_SOCK_DIAG
    )
    s.settimeout(_DUMP_TIMEOUT)
    return s


def _dump(sock: socket.socket, request: bytes, seq: int) -> list[dr.Reply]:
    sock.sendto(request, (0, 0))
    out: list[dr.Reply] = []
    deadline = time.monotonic() + _DUMP_TIMEOUT
    for _ in range(_MAX_DATAGRAMS):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(_RECV_SIZE)
        except TimeoutError:
            raise NetdiagError("sockets: sock_diag dump did not finish in time") from None
        for reply in dr.decode_stream(data):
            if isinstance(reply, dr.NlError | dr.Done):
                if reply.seq != seq:
                    continue  # one request at a time: nothing else can end this dump
                if reply.errno:
                    raise _Unavailable(reply.errno)
                return out
            out.append(reply)
    raise NetdiagError(f"sockets: sock_diag dump longer than {_MAX_DATAGRAMS} datagrams")


def _build(kind: str, family: int, seq: int, info: bool) -> bytes:
    if kind == "unix":
        return sd.build_unix_request(seq=seq)
    if kind == "packet":
        return sd.build_packet_request(seq=seq)
    ext: tuple[int, ...] = (sd.INET_DIAG_SKMEMINFO,)
    if info and kind == "tcp":
        ext = (sd.INET_DIAG_INFO, sd.INET_DIAG_CONG, sd.INET_DIAG_SKMEMINFO)
    return sd.build_inet_request(family, _INET_PROTO[kind], ext=ext, seq=seq)


def _ifname(ifindex: int) -> str | None:
    if ifindex == 0:
        return None
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return str(ifindex)


def _from_inet(kind: str, m: dr.InetDiag) -> Socket:
    fam = "inet" if m.family == socket.AF_INET else "inet6"
    return Socket(
        kind, fam, _INET_TYPE[kind], m.state, Endpoint(m.src, m.sport),
        Endpoint(m.dst, m.dport), m.rqueue, m.wqueue, m.uid, m.inode, "netlink",
        tcp_info=m.tcp_info, cong=m.cong,
    )  # fmt: skip


def _from_unix(m: dr.UnixDiag) -> Socket:
    return Socket(
        "unix", "unix", _TYPES.get(m.type, str(m.type)), m.state,
        Endpoint(m.name, inode=m.inode), Endpoint(None, inode=m.peer or 0),
        m.rqueue or 0, m.wqueue or 0, m.uid, m.inode, "netlink",
    )  # fmt: skip


def _from_packet(m: dr.PacketDiag) -> Socket:
    ifindex = m.info.ifindex if m.info is not None else 0
    rq = m.meminfo.rmem_alloc if m.meminfo is not None else 0
    return Socket(
        "packet", "packet", _TYPES.get(m.type, str(m.type)), 7,
        Endpoint(protocol=m.protocol, interface=_ifname(ifindex)), Endpoint(),
        rq, 0, m.uid, m.inode, "netlink",
    )  # fmt: skip


def _netlink_kind(
    sock: socket.socket, kind: str, versions: Iterable[int], info: bool, seq: int
) -> list[Socket]:
    out: list[Socket] = []
    families = [socket.AF_UNIX] if kind == "unix" else [socket.AF_PACKET]
    if kind in _INET_PROTO:
        families = [socket.AF_INET if v == 4 else socket.AF_INET6 for v in sorted(versions)]
    for n, family in enumerate(families):
        for m in _dump(sock, _build(kind, family, seq + n, info), seq + n):
            if isinstance(m, dr.InetDiag):
                out.append(_from_inet(kind, m))
            elif isinstance(m, dr.UnixDiag):
                out.append(_from_unix(m))
            elif isinstance(m, dr.PacketDiag):
                out.append(_from_packet(m))
    return out


# -- /proc/net ---------------------------------------------------------------------------


def _read(name: str) -> str:
    try:
        with open(os.path.join(_PROC_DIR, name)) as f:
            return f.read()
    except FileNotFoundError:
        return ""  # that protocol is not in this kernel: no sockets of it
    except OSError as exc:
        raise NetdiagError(f"sockets: cannot read /proc/net/{name}: {exc.strerror}") from None


def _proc_kind(kind: str, versions: Iterable[int]) -> list[Socket]:
    out: list[Socket] = []
    if kind == "unix":
        for u in procnet.parse_unix(_read("unix")):
            out.append(Socket(
                "unix", "unix", _TYPES.get(u.type, str(u.type)), u.state,
                Endpoint(u.path, inode=u.inode), Endpoint(None, inode=0), 0, 0, None,
                u.inode, "proc",
            ))  # fmt: skip
    elif kind == "packet":
        for p in procnet.parse_packet(_read("packet")):
            out.append(Socket(
                "packet", "packet", _TYPES.get(p.type, str(p.type)), 7,
                Endpoint(protocol=p.protocol, interface=_ifname(p.ifindex)), Endpoint(),
                p.rmem, 0, p.uid, p.inode, "proc",
            ))  # fmt: skip
    else:
        for v in sorted(versions):
            name = kind if v == 4 else f"{kind}6"
            for r in procnet.parse_inet(_read(name), name):
                out.append(Socket(
                    kind, "inet" if v == 4 else "inet6", _INET_TYPE[kind], r.state,
                    Endpoint(r.src, r.sport), Endpoint(r.dst, r.dport), r.rx_queue,
                    r.tx_queue, r.uid, r.inode, "proc",
                ))  # fmt: skip
    return out


# -- owners ------------------------------------------------------------------------------


def owners(proc: str = "/proc") -> dict[int, tuple[Process, ...]]:
    """Socket inode -> the processes holding it (pid, command, fd), from /proc/*/fd.
    Processes whose fd directory we may not read are left out (as ss -p does)."""
    found: dict[int, list[Process]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            fds = os.listdir(f"{proc}/{pid}/fd")
        except OSError:
            continue
        comm: str | None = None
        for fd in fds:
            try:
                target = os.readlink(f"{proc}/{pid}/fd/{fd}")
            except OSError:
                continue
            if not target.startswith("socket:["):
                continue
            if comm is None:
                try:
                    with open(f"{proc}/{pid}/comm") as f:
                        comm = f.read().strip()
                except OSError:
                    comm = "?"
            found.setdefault(int(target[8:-1]), []).append(Process(pid, comm, int(fd)))
    return {ino: tuple(sorted(ps, key=lambda p: (p.pid, p.fd))) for ino, ps in found.items()}


# -- the whole listing -------------------------------------------------------------------


def list_sockets(
    selection: Selection,
    *,
    info: bool = False,
    processes: bool = False,
    use_netlink: bool = True,
    opener: Callable[[], socket.socket] | None = None,
) -> SocketReport:
    """The sockets ``selection`` matches, in ss's order (packet, unix, raw, udp, tcp)."""
    kinds = [k for k in KINDS if k in selection.kinds]
    notes: list[str] = []
    sources: list[tuple[str, str]] = []
    nl: socket.socket | None = None
    if use_netlink:
        try:
            nl = (opener or _open_netlink)()
        except OSError as exc:
            notes.append(
                f"sock_diag (NETLINK_SOCK_DIAG) is not available "
                f"({errno.errorcode.get(exc.errno or 0, '?')}: {exc.strerror}); "
                f"read /proc/net instead"
            )
    found: list[Socket] = []
    try:
        for n, kind in enumerate(kinds):
            got: list[Socket] | None = None
            if nl is not None:
                try:
                    got = _netlink_kind(nl, kind, selection.versions, info, 16 * (n + 1))
                    sources.append((kind, "netlink"))
                except _Unavailable as exc:
                    notes.append(
                        f"sock_diag has no {kind} handler "
                        f"({errno.errorcode.get(exc.err, str(exc.err))}: {os.strerror(exc.err)});"
                        f" read /proc/net instead"
                    )
            if got is None:
                got = _proc_kind(kind, selection.versions)
                sources.append((kind, "proc"))
            found.extend(got)
    finally:
        if nl is not None:
            nl.close()
    chosen = [s for s in found if selection.matches(s)]
    if processes and chosen:
        table = owners()
        chosen = [replace(s, processes=table.get(s.inode, ())) for s in chosen]
    return SocketReport(tuple(chosen), tuple(notes), tuple(sources))
