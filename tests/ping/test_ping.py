"""netdiag ping in the namespace lab, side by side with iputils ping on the same path.

Every run is bounded: -c COUNT and -w DEADLINE (or -W) on each, intervals of 10-200 ms.
Traffic goes only to lab addresses (198.18.0.0/15, 2001:db8::/32) from the lab's src.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import signal
import statistics
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from netdiag.errors import NetdiagError, PrivilegeError
from netdiag.lab.netns import in_netns
from netdiag.ping.cli import add_parser
from netdiag.ping.options import PingOptions
from netdiag.ping.run import ping
from netdiag.probing.privileges import CAP_NET_RAW, capabilities

ROOT_DIR = str(Path(__file__).resolve().parents[2])
TIMEOUT = 20


def netdiag_ping(lab, *argv: str, node: str = "src") -> tuple[int, str]:
    """Run ``netdiag ping ARGV`` in-process inside ``node``; (exit status, stdout)."""
    parser = argparse.ArgumentParser(prog="netdiag")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ping", *argv])
    args.give_up_privileges = False  # in-process: dropping root would change pytest itself
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with in_netns(lab.node(node).netns), redirect_stdout(out):
        try:
            status = args.func(args)
        except NetdiagError as exc:
            return exc.exit_status, str(exc)
    return status, out.getvalue()


def iputils_ping(lab, *argv: str) -> tuple[int, str]:
    proc = lab.exec("src", ["ping", *argv], capture_output=True, text=True, timeout=TIMEOUT)
    return proc.returncode, proc.stdout


def counts(text: str) -> tuple[int, int]:
    m = re.search(r"^(\d+) packets transmitted, (\d+) received", text, re.M)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def rtts(text: str) -> list[float]:
    return [float(x) for x in re.findall(r" time=([\d.]+) ms", text)]


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_reaches_dst_across_four_routers_like_iputils(lab, family):
    dst = lab.addr("dst", family)
    status, out = netdiag_ping(lab, f"-{family}", "-c", "3", "-i", "0.05", "-w", "5", dst)
    ref_status, ref = iputils_ping(lab, f"-{family}", "-c", "3", "-i", "0.05", "-w", "5", dst)
    assert status == ref_status == 0, out
    assert out.splitlines()[0] == ref.splitlines()[0]  # the PING header
    for seq in (1, 2, 3):
        assert re.search(rf"^64 bytes from {dst}: icmp_seq={seq} ttl=60 time=[\d.]+ ms$", out, re.M)
    assert counts(out) == counts(ref) == (3, 3)
    assert f"--- {dst} ping statistics ---" in out
    assert re.search(r"^rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms$", out, re.M)
    assert "3 received, 0% packet loss, time " in out


@pytest.mark.root
@pytest.mark.parametrize(
    "family, text", [(4, "Time to live exceeded"), (6, "Time exceeded: Hop limit")]
)
def test_small_ttl_reports_time_exceeded_from_the_right_router(lab, family, text):
    dst = lab.addr("dst", family)
    argv = (f"-{family}", "-c", "1", "-W", "1", "-t", "2", dst)
    status, out = netdiag_ping(lab, *argv)
    ref_status, ref = iputils_ping(lab, *argv)
    line = f"From {lab.addr('r2', family)} icmp_seq=1 {text}"
    assert line in ref  # the reference says so too
    assert status == ref_status == 1
    assert line in out.splitlines()
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss" in out


@pytest.mark.root
def test_address_that_does_not_exist_is_full_loss_and_exit_1(lab):
    status, out = netdiag_ping(lab, "-c", "2", "-i", "0.2", "-W", "0.5", "198.18.4.99")
    assert status == 1
    assert "2 packets transmitted, 0 received, 100% packet loss" in out
    assert "rtt min" not in out


@pytest.mark.root
def test_outstanding_probes_are_reported_with_O(lab):
    status, out = netdiag_ping(lab, "-O", "-c", "2", "-i", "0.1", "-W", "0.2", "198.18.4.99")
    assert status == 1
    assert "no answer yet for icmp_seq=1" in out.splitlines()


@pytest.mark.root
def test_df_probe_larger_than_a_link_reports_frag_needed_with_its_mtu(make_lab):
    narrow = make_lab(routers=3, mtu=(2, 1280))
    big = ("-c", "1", "-W", "1", "-M", "do", "-s", "1400")
    status, out = netdiag_ping(narrow, "-4", *big, narrow.addr("dst"))
    assert status == 1
    assert f"From {narrow.addr('r2')} icmp_seq=1 Frag needed and DF set (mtu = 1280)" in out
    status, out = netdiag_ping(narrow, "-6", *big, narrow.addr("dst", 6))
    assert status == 1
    assert f"From {narrow.addr('r2', 6)} icmp_seq=1 Packet too big: mtu=1280" in out
    # -M dont: the router fragments and the reply comes back
    status, out = netdiag_ping(narrow, "-4", "-c", "1", "-W", "1", "-M", "dont", "-s", "1400",
                               narrow.addr("dst"))  # fmt: skip
    assert status == 0, out
    assert "1408 bytes from" in out


@pytest.mark.root
def test_probe_larger_than_the_local_mtu_with_df_is_a_local_error(lab, capfd):
    status, out = netdiag_ping(lab, "-c", "1", "-W", "5", "-M", "do", "-s", "1600",
                               lab.addr("dst"))  # fmt: skip
    ref_status, ref = iputils_ping(lab, "-c", "1", "-W", "5", "-M", "do", "-s", "1600",
                                   lab.addr("dst"))  # fmt: skip
    assert status == ref_status == 1
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss" in ref
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss" in out
    mine = capfd.readouterr().err.strip()
    for family in (4, 6):  # iputils' exact words on stderr (mtu= for IPv4, mtu: for IPv6)
        theirs = lab.exec("src", ["ping", f"-{family}", "-c", "1", "-W", "1", "-M", "do", "-s",
                                  "1600", lab.addr("dst", family)], capture_output=True,
                          text=True, timeout=TIMEOUT).stderr.strip()  # fmt: skip
        if family == 6:
            netdiag_ping(lab, "-6", "-c", "1", "-W", "1", "-M", "do", "-s", "1600",
                         lab.addr("dst", 6))  # fmt: skip
            mine = capfd.readouterr().err.strip()
        assert mine == theirs, (mine, theirs)
        assert theirs.startswith("ping: local error: message too long, mtu")


@pytest.mark.root
def test_two_concurrent_pings_with_the_same_identifier_each_get_their_own(lab, monkeypatch):
    # the same echo identifier for both: only the per-session cookie tells them apart
    # (and the kernel filter lets both sessions' replies through to both sockets)
    monkeypatch.setattr("netdiag.ping.options.random_ident", lambda: 0x1234)
    results = {}

    def one(key: str) -> None:
        with in_netns(lab.src.netns):
            results[key] = ping(lab.addr("dst"), PingOptions(count=20, interval=0.01,
                                                             deadline=5))  # fmt: skip

    threads = [threading.Thread(target=one, args=(k,)) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=TIMEOUT)
    for key in "ab":
        r = results[key]
        assert (r.transmitted, r.received, r.duplicates) == (20, 20, 0)
        assert [x.seq for x in r.replies] == list(range(1, 21))


@pytest.mark.root
def test_concurrent_pings_with_their_own_identifiers_each_get_their_own_next_to_iputils(lab):
    # iputils ping runs at the same time; the kernel filter (our identifier) and the cookie
    # keep its replies out of our counts and ours out of its
    ref = lab.popen("src", ["ping", "-c", "20", "-i", "0.01", "-w", "5", lab.addr("dst")],
                    stdout=subprocess.PIPE, text=True)  # fmt: skip
    with in_netns(lab.src.netns):
        r = ping(lab.addr("dst"), PingOptions(count=20, interval=0.01, deadline=5))
    theirs, _ = ref.communicate(timeout=TIMEOUT)
    assert counts(theirs) == (20, 20) and "DUP" not in theirs
    assert (r.transmitted, r.received, r.duplicates) == (20, 20, 0)
    assert [x.seq for x in r.replies] == list(range(1, 21))


def test_the_module_and_the_function_are_both_reachable():
    import netdiag.ping
    import netdiag.ping.run as module

    assert inspect.ismodule(netdiag.ping.run) and netdiag.ping.run is module
    assert netdiag.ping.ping is module.ping


@pytest.mark.root
def test_counts_and_median_rtt_match_iputils(lab):
    dst = lab.addr("dst")
    argv = ("-c", "30", "-i", "0.01", "-w", "5", dst)
    status, out = netdiag_ping(lab, *argv)
    ref_status, ref = iputils_ping(lab, *argv)
    assert status == ref_status == 0
    assert counts(out) == counts(ref) == (30, 30)
    mine, theirs = statistics.median(rtts(out)), statistics.median(rtts(ref))
    assert abs(mine - theirs) <= max(0.050, 0.2 * theirs), (mine, theirs)


@pytest.mark.root
def test_json_is_one_object_with_every_reply(lab):
    status, out = netdiag_ping(lab, "--json", "-c", "2", "-i", "0.05", "-w", "5", lab.addr("dst"))
    assert status == 0
    doc = json.loads(out)
    assert set(doc) >= {"target", "address", "transmitted", "received", "duplicates", "errors",
                        "loss_pct", "rtt_ms", "replies", "icmp_errors"}  # fmt: skip
    assert (doc["transmitted"], doc["received"], doc["loss_pct"]) == (2, 2, 0.0)
    assert set(doc["rtt_ms"]) == {"min", "avg", "max", "mdev"}
    assert [(r["seq"], r["from"], r["ttl"], r["dup"]) for r in doc["replies"]] == [
        (1, "198.18.4.2", 60, False), (2, "198.18.4.2", 60, False)]  # fmt: skip
    status, out = netdiag_ping(lab, "--json", "-c", "1", "-W", "1", "-t", "1", lab.addr("dst"))
    doc = json.loads(out)
    assert status == 1
    assert doc["icmp_errors"] == [{"seq": 1, "from": "198.18.0.2", "type": 11, "code": 0,
                                   "text": "Time to live exceeded"}]  # fmt: skip


@pytest.mark.root
def test_quiet_and_timestamps(lab):
    status, out = netdiag_ping(lab, "-q", "-c", "2", "-i", "0.05", "-w", "5", lab.addr("dst"))
    assert status == 0
    assert "bytes from" not in out and "2 received" in out
    status, out = netdiag_ping(lab, "-D", "-c", "1", "-w", "5", lab.addr("dst"))
    assert re.search(r"^\[\d{10}\.\d{6}\] 64 bytes from 198\.18\.4\.2: icmp_seq=1 ", out, re.M)


@pytest.mark.root
def test_interface_source_address_and_tos(lab):
    for iface in ("eth0", lab.addr("src")):
        status, out = netdiag_ping(lab, "-I", iface, "-Q", "0x10", "-c", "1", "-w", "5",
                                   lab.addr("dst"))  # fmt: skip
        assert status == 0, out
    status, out = netdiag_ping(lab, "-I", "198.18.77.1", "-c", "1", "-w", "1", lab.addr("dst"))
    assert status == 2 and "cannot bind" in out


@pytest.mark.root
def test_flood_prints_dots_and_backspaces(lab):
    status, out = netdiag_ping(lab, "-f", "-c", "50", "-w", "5", lab.addr("dst"))
    assert status == 0
    assert "50 packets transmitted, 50 received" in out
    flood = out.splitlines()[1]
    assert flood.count(".") == 50  # a dot per probe sent,
    assert flood.count("\b \b") == 50  # a backspace per reply


# `netdiag ping ARGS` as its own process (python -c, so it also runs as nobody, given
# the python and the copy of netdiag of the nobody_netdiag fixture: where=its path).
def cli_code(where: str = ROOT_DIR) -> str:
    return (
        f"import sys; sys.path.insert(0, {where!r}); from netdiag.cli import main; "
        "sys.exit(main(['ping', *sys.argv[1:]]))"
    )


CLI_CODE = cli_code()


@pytest.mark.root
def test_ctrl_c_prints_the_summary(lab):
    code = CLI_CODE
    proc = lab.popen("src", [sys.executable, "-c", code, "-i", "0.05", "-w", "10",
                             lab.addr("dst")], stdout=subprocess.PIPE, text=True)  # fmt: skip
    first = proc.stdout.readline() + proc.stdout.readline()  # header + the first reply
    proc.send_signal(signal.SIGINT)  # ip netns exec passes it on by exec'ing python
    rest, _ = proc.communicate(timeout=TIMEOUT)
    assert "icmp_seq=1 " in first
    assert re.search(r"^\d+ packets transmitted, \d+ received", rest, re.M), rest
    assert proc.returncode == 0


# --------------------------------------------------------------------------- privileges

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _as_nobody(lab, nobody, *argv: str) -> subprocess.CompletedProcess[str]:
    code = cli_code(nobody.path)
    return lab.exec("src", [*NOBODY, nobody.python, "-c", code, *argv], capture_output=True,
                    text=True, timeout=TIMEOUT)  # fmt: skip


def _set_group_range(lab, value: str) -> None:
    with in_netns(lab.src.netns):
        with open("/proc/sys/net/ipv4/ping_group_range", "w") as f:
            f.write(value)


@pytest.mark.root
def test_without_any_privilege_one_line_with_the_fixes_and_exit_2(make_lab, nobody_netdiag):
    bare = make_lab(routers=1)
    _set_group_range(bare, "1 0")
    proc = _as_nobody(bare, nobody_netdiag, "-c", "1", "-W", "1", bare.addr("dst"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    for fix in ("root", "setcap cap_net_raw+ep", "ping_group_range"):
        assert fix in lines[0]


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_datagram_socket_fallback_when_ping_group_range_admits_us(make_lab, nobody_netdiag, family):
    small = make_lab(routers=1)
    _set_group_range(small, "65534 65534")
    dst = small.addr("dst", family)
    proc = _as_nobody(small, nobody_netdiag, f"-{family}", "-c", "2", "-i", "0.2", "-w", "5", dst)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"^64 bytes from {dst}: icmp_seq=2 ttl=63 time=", proc.stdout, re.M)
    proc = _as_nobody(small, nobody_netdiag, f"-{family}", "-c", "1", "-W", "1", "-t", "1", dst)
    assert proc.returncode == 1
    assert f"From {small.addr('r1', family)} icmp_seq=1 " in proc.stdout
    proc = _as_nobody(small, nobody_netdiag, "-c", "1", "-i", "0.1", dst)
    assert proc.returncode == 2 and "minimal interval allowed for user is 200ms" in proc.stderr


CAP_NET_RAW_ONLY = [*NOBODY, "--inh-caps=+net_raw", "--ambient-caps=+net_raw"]


@pytest.mark.root
def test_cap_net_raw_without_root_may_use_short_intervals_like_iputils(make_lab, nobody_netdiag):
    small = make_lab(routers=1)
    _set_group_range(small, "1 0")  # no datagram fallback: only the capability helps
    argv = ("-c", "2", "-i", "0.1", "-w", "5", small.addr("dst"))
    ref = small.exec("src", [*CAP_NET_RAW_ONLY, "ping", *argv], capture_output=True, text=True,
                     timeout=TIMEOUT)  # fmt: skip
    code = cli_code(nobody_netdiag.path)
    mine = small.exec("src", [*CAP_NET_RAW_ONLY, nobody_netdiag.python, "-c", code, *argv],
                      capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert ref.returncode == mine.returncode == 0, mine.stderr
    assert counts(mine.stdout) == counts(ref.stdout) == (2, 2)


def test_the_effective_capability_set_is_read_from_proc_status(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tping\nCapEff:\t0000000000002000\n")  # bit 13: CAP_NET_RAW
    assert capabilities(str(status)) >> CAP_NET_RAW & 1
    status.write_text("CapEff:\t0000000000000000\n")
    assert capabilities(str(status)) == 0


GIVE_UP_CODE = (
    "import os, sys; "
    "from netdiag.ping.run import ping; from netdiag.ping.options import PingOptions; "
    "r = ping(sys.argv[1], PingOptions(count=1, deadline=5), give_up_privileges=True); "
    "print(r.received, os.geteuid(), os.getegid(), os.getgroups())"
)


@pytest.mark.root
def test_started_through_sudo_it_opens_the_socket_then_becomes_the_user(make_lab, nobody_netdiag):
    small = make_lab(routers=1)
    _set_group_range(small, "1 0")  # as the user, no ICMP socket could be had at all
    # it starts as root but goes on as nobody: what it imports then, nobody must read
    env = {"SUDO_UID": "65534", "SUDO_GID": "65534", "PATH": "/usr/bin:/bin",
           "PYTHONPATH": nobody_netdiag.path}  # fmt: skip
    proc = small.exec("src", [nobody_netdiag.python, "-c", GIVE_UP_CODE, small.addr("dst")],
                      env=env, capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "65534", "65534", "[]"]


def test_privilege_error_is_a_netdiag_error():
    assert issubclass(PrivilegeError, NetdiagError)
