"""``netdiag sniff`` live in the lab, side by side with tcpdump.

Every capture runs in router r1 on its interface toward r2 (eth1), while iputils
ping crosses it from src to dst; tcpdump (libpcap, TPACKET_V3) captures on the
same interface at the same time with the same filter and count. The reference
verdicts are tcpdump's file (the same packets, byte for byte, in the same order),
tcpdump's and tshark's reading of our files, tcpdump's stderr lines and tcpdump's
own refusal of what we refuse.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netdiag.capture import read_capture

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
NETDIAG = [sys.executable, "-m", "netdiag", "sniff"]
IFACE = "eth1"  # r1's side of link 1
WAIT = 20.0  # seconds any one capture may take; a bound, not an assertion

pytestmark = pytest.mark.root


def _has_bpf() -> bool:
    try:
        from netdiag.capture.bpf import compile_filter  # noqa: F401
    except ImportError:
        return False
    return True


def _bpf_or_skip() -> None:
    if not _has_bpf():
        pytest.skip("netdiag.capture.bpf (the filter compiler) is not there yet")


def _start(lab, argv: list[str]) -> subprocess.Popen[str]:
    """Start a capture in r1 and wait until it says it is listening (both tools do)."""
    proc = lab.popen("r1", argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + WAIT
    seen = b""
    # Raw reads of the pipe: a buffered readline() can pull the "listening" line into
    # Python's buffer along with the one before it, where select() no longer sees it.
    fd = proc.stderr.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 4096)
            seen += chunk
            if b"listening on" in seen:
                return proc
            if not chunk:
                break
    proc.kill()
    pytest.fail(f"{argv[0]} did not start listening: {seen.decode(errors='replace')!r}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    try:
        _out, err = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"capture did not end within {WAIT} s: {err!r}")
    return proc.returncode, err


def _ping(lab, count: int, family: int = 4) -> None:
    dst = lab.addr("dst", family)
    lab.exec("src", ["ping", f"-{family}", "-c", str(count), "-i", "0.05", "-W", "2", dst],
             capture_output=True, timeout=WAIT, check=True)  # fmt: skip


def _frames(path: Path) -> list[bytes]:
    with read_capture(path) as r:
        return [rec.data for rec in r]


def _side_by_side(lab, tmp_path: Path, mine: list[str], theirs: list[str], count: int,
                  traffic) -> tuple[Path, Path, str, str]:  # fmt: skip
    """netdiag sniff and tcpdump on r1, same count, same filter, same time."""
    ours, ref = tmp_path / "netdiag.pcap", tmp_path / "tcpdump.pcap"
    a = _start(lab, [*NETDIAG, "-c", str(count), "-w", str(ours), *mine])
    b = _start(lab, ["tcpdump", "-c", str(count), "-w", str(ref), *theirs])
    traffic()
    (sa, ea), (sb, eb) = _finish(a), _finish(b)
    assert sb == 0, eb
    assert sa == 0, ea
    return ours, ref, ea, eb


# ------------------------------------------------------------ the same packets


@pytest.mark.parametrize("ring", [True, False], ids=["ring", "recvmsg"])
def test_captures_the_packets_tcpdump_captures_byte_for_byte(lab, tmp_path, require_tool, ring):
    require_tool("tcpdump")
    extra = [] if ring else ["--no-ring"]
    ours, ref, _ea, _eb = _side_by_side(lab, tmp_path, ["-i", IFACE, *extra], ["-i", IFACE],
                                        8, lambda: _ping(lab, 4))  # fmt: skip
    assert len(_frames(ref)) == 8
    assert _frames(ours) == _frames(ref)


FILTERS = [
    # (expression, ping family, packets: echo requests and replies crossing r1)
    ("icmp", 4, 8),
    ("icmp[icmptype] = icmp-echo", 4, 4),
    ("host 198.18.4.2 and not arp", 4, 8),
    ("icmp6 and ip6[40] = 129", 6, 4),  # echo replies only
]


@pytest.mark.parametrize(("expr", "family", "count"), FILTERS)
def test_a_kernel_filter_selects_what_tcpdumps_selects(
    lab, tmp_path, require_tool, expr, family, count
):
    require_tool("tcpdump")
    _bpf_or_skip()
    ours, ref, _ea, _eb = _side_by_side(lab, tmp_path, ["-i", IFACE, expr], ["-i", IFACE, expr],
                                        count, lambda: _ping(lab, 4, family))  # fmt: skip
    assert len(_frames(ref)) == count
    assert _frames(ours) == _frames(ref)


@pytest.mark.parametrize("direction", ["in", "out"])
def test_q_direction_selects_what_tcpdump_q_selects(lab, tmp_path, require_tool, direction):
    require_tool("tcpdump")
    # on r1's eth1 the echo requests go out and the replies come in: 4 each way
    flags = ["-i", IFACE, "-Q", direction]
    ours, ref, _ea, _eb = _side_by_side(lab, tmp_path, flags, flags, 4,
                                        lambda: _ping(lab, 4))  # fmt: skip
    assert _frames(ours) == _frames(ref)


def test_snaplen_cuts_packets_as_tcpdump_does(lab, tmp_path, require_tool):
    require_tool("tcpdump")
    flags = ["-i", IFACE, "-s", "60"]
    ours, ref, _ea, _eb = _side_by_side(lab, tmp_path, flags, flags, 8, lambda: _ping(lab, 4))
    with read_capture(ours) as a, read_capture(ref) as b:
        mine = [(r.data, r.wirelen) for r in a]
        theirs = [(r.data, r.wirelen) for r in b]
    assert mine == theirs
    assert {len(d) for d, _w in theirs} == {60}


def test_any_writes_linux_sll2_that_tcpdump_and_tshark_read(lab, tmp_path, require_tool):
    require_tool("tcpdump")
    tshark = require_tool("tshark")
    # a ping crossing r1 is seen twice per packet: in on one interface, out on the other
    ours, ref, _ea, _eb = _side_by_side(lab, tmp_path, ["-i", "any"],
                                        ["-i", "any", "-y", "LINUX_SLL2"], 16,
                                        lambda: _ping(lab, 4))  # fmt: skip
    assert _frames(ours) == _frames(ref)
    out = subprocess.run(["tcpdump", "-nr", str(ours)], capture_output=True, text=True)
    assert "link-type LINUX_SLL2" in out.stderr
    assert len(out.stdout.splitlines()) == 16
    encap = subprocess.run([tshark, "-r", str(ours), "-T", "fields", "-e", "frame.encap_type"],
                           capture_output=True, text=True)  # fmt: skip
    assert encap.returncode == 0, encap.stderr
    assert len(encap.stdout.split()) == 16


def test_a_filter_on_any_selects_what_tcpdump_selects(lab, tmp_path, require_tool):
    require_tool("tcpdump")
    _bpf_or_skip()
    expr = "icmp[icmptype] = icmp-echoreply and len > 50"
    ours, ref, _ea, _eb = _side_by_side(lab, tmp_path, ["-i", "any", expr],
                                        ["-i", "any", "-y", "LINUX_SLL2", expr], 8,
                                        lambda: _ping(lab, 4))  # fmt: skip
    assert _frames(ours) == _frames(ref)


# ------------------------------------------------------------ ending and counting


def _trio(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if re.fullmatch(r"\d+ packets? .+", ln)]


def test_stderr_ends_with_tcpdumps_three_counters(lab, tmp_path, require_tool):
    require_tool("tcpdump")
    _ours, _ref, ea, eb = _side_by_side(lab, tmp_path, ["-i", IFACE], ["-i", IFACE], 6,
                                        lambda: _ping(lab, 3))  # fmt: skip
    mine, theirs = _trio(ea), _trio(eb)
    assert len(theirs) == 3
    shape = [re.sub(r"^\d+", "N", ln) for ln in theirs]
    assert [re.sub(r"^\d+", "N", ln) for ln in mine] == shape
    assert mine[0] == theirs[0] == "6 packets captured"
    received = [int(ln.split()[0]) for ln in (mine[1], theirs[1])]
    assert min(received) >= 6
    assert mine[2] == "0 packets dropped by kernel"


def test_sigint_leaves_a_complete_file_that_tcpdump_and_tshark_read(lab, tmp_path, require_tool):
    require_tool("tcpdump")
    tshark = require_tool("tshark")
    path = tmp_path / "interrupted.pcapng"
    expr = ["icmp"] if _has_bpf() else []
    proc = _start(lab, [*NETDIAG, "-i", IFACE, "-w", str(path), *expr])
    _ping(lab, 3)
    time.sleep(0.3)  # let the ring hand over its last block (RETIRE_MS is 100)
    proc.send_signal(signal.SIGINT)
    status, err = _finish(proc)
    assert status == 0, err
    captured = int(_trio(err)[0].split()[0])
    assert captured >= 6
    td = subprocess.run(["tcpdump", "-nr", str(path)], capture_output=True, text=True)
    assert td.returncode == 0, td.stderr
    assert len(td.stdout.splitlines()) == captured
    ts = subprocess.run([tshark, "-r", str(path)], capture_output=True, text=True)
    assert ts.returncode == 0, ts.stderr
    assert len(ts.stdout.splitlines()) == captured


def test_sigterm_stops_cleanly_too(lab, tmp_path):
    path = tmp_path / "terminated.pcap"
    proc = _start(lab, [*NETDIAG, "-i", IFACE, "-w", str(path)])
    _ping(lab, 2)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    status, err = _finish(proc)
    assert status == 0, err
    assert len(_frames(path)) == int(_trio(err)[0].split()[0])


def test_duration_ends_the_capture(lab):
    proc = _start(lab, [*NETDIAG, "-i", IFACE, "--duration", "0.5", "-w", "/dev/null"])
    status, err = _finish(proc)
    assert status == 0, err
    assert len(_trio(err)) == 3


# ------------------------------------------------------------ refusals


def _one_line_exit_2(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("netdiag: "), proc.stderr
    return lines[0]


def test_without_cap_net_raw_one_line_and_exit_2(require_tool):
    setpriv = require_tool("setpriv")
    # root without CAP_NET_RAW (dropped from the bounding set): the interpreter and the
    # checkout stay readable, only the capability is missing
    drop = [setpriv, "--bounding-set", "-net_raw"]
    ref = subprocess.run([*drop, "tcpdump", "-i", "lo", "-c", "1"], capture_output=True,
                         text=True, timeout=WAIT)  # fmt: skip
    assert ref.returncode != 0 and "permission" in ref.stderr
    mine = subprocess.run([*drop, *NETDIAG, "-i", "lo", "-c", "1"], capture_output=True,
                          text=True, env=ENV, timeout=WAIT)  # fmt: skip
    assert "CAP_NET_RAW" in _one_line_exit_2(mine)


def test_unknown_interface_one_line_and_exit_2(require_tool):
    require_tool("tcpdump")
    ref = subprocess.run(["tcpdump", "-i", "nosuch0", "-c", "1"], capture_output=True,
                         text=True, timeout=WAIT)  # fmt: skip
    assert ref.returncode != 0 and "nosuch0" in ref.stderr
    mine = subprocess.run([*NETDIAG, "-i", "nosuch0", "-c", "1"], capture_output=True,
                          text=True, env=ENV, timeout=WAIT)  # fmt: skip
    assert "nosuch0" in _one_line_exit_2(mine)


def test_an_invalid_filter_is_one_line_and_exit_2():
    _bpf_or_skip()
    mine = subprocess.run([*NETDIAG, "-i", "lo", "-c", "1", "host", "and", "("],
                          capture_output=True, text=True, env=ENV, timeout=WAIT)  # fmt: skip
    _one_line_exit_2(mine)
