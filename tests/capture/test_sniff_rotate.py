"""``netdiag sniff -w`` for days, live in the lab: rotation (``-C``, ``-G``, ``-W``)
side by side with tcpdump, the drain at SIGINT/SIGTERM, and a disk that fills.

Captures run in router r1 on its interface toward r2 (eth1) while iputils ping
crosses it from src to dst, as in test_sniff.py. References: tcpdump's own
rotated files (the same names and the same bytes, both tools stopped by ``-c``),
tcpdump's stderr line for ``-G``/``-W``, ping's own counts of what crossed, and
capinfos/tshark reading every file we leave behind.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.capture.test_sniff import _finish, _start

REPO = Path(__file__).resolve().parents[2]
NETDIAG = [sys.executable, "-m", "netdiag", "sniff"]
IFACE = "eth1"

pytestmark = pytest.mark.root


def _ping(lab, *args: str) -> tuple[int, int]:
    """iputils ping from src to dst; (transmitted, received) from its summary."""
    done = lab.exec("src", ["ping", "-4", "-W", "2", *args, lab.addr("dst")],
                    capture_output=True, text=True, timeout=30)  # fmt: skip
    m = re.search(r"(\d+) packets transmitted, (\d+) received", done.stdout)
    assert m, done.stdout + done.stderr
    return int(m.group(1)), int(m.group(2))


def _count(tool: str, path: Path | str) -> int:
    done = subprocess.run([tool, "-r", str(path), "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, (path, done.stderr)
    return len(done.stdout.split())


def _valid(capinfos: str, path: Path) -> int:
    """capinfos reads the file to its end without complaint; its packet count."""
    info = subprocess.run([capinfos, "-c", "-M", str(path)], capture_output=True, text=True)
    assert info.returncode == 0 and not info.stderr.strip(), (path, info.stderr)
    return int(info.stdout.split("Number of packets:")[1].split()[0])


# ------------------------------------------------------------ rotation, as tcpdump


@pytest.mark.parametrize("files", [None, 3], ids=["C1", "C1-W3"])
def test_size_rotation_makes_the_files_tcpdump_makes(lab, tmp_path, require_tool, files):
    tcpdump = require_tool("tcpdump")
    ref, ours = tmp_path / "tcpdump", tmp_path / "netdiag"
    ref.mkdir()
    ours.mkdir()
    n = 4000  # 2000 echo requests and replies of 1000 bytes: about 4.2 MB, 5 files
    w = [] if files is None else ["-W", str(files)]
    a = _start(lab, [*NETDIAG, "-i", IFACE, "-c", str(n), "-C", "1", *w, "-w", str(ours / "f"),
                     "icmp"])  # fmt: skip
    b = _start(lab, [tcpdump, "-Z", "root", "--time-stamp-precision=nano", "-B", "16384",
                     "-i", IFACE, "-c", str(n), "-C", "1", *w, "-w", str(ref / "f"),
                     "icmp"])  # fmt: skip
    _ping(lab, "-f", "-c", "2000", "-s", "1000")
    (sa, ea), (sb, eb) = _finish(a), _finish(b)
    assert sb == 0, eb
    assert sa == 0, ea
    theirs = {p.name: p.read_bytes() for p in ref.iterdir()}
    mine = {p.name: p.read_bytes() for p in ours.iterdir()}
    assert sorted(mine) == sorted(theirs)
    assert len(theirs) == (3 if files else 5)
    for name, data in theirs.items():
        assert mine[name] == data, name  # same packets, same kernel stamps, same cuts


def test_time_rotation_with_w_stops_after_n_files_as_tcpdump(lab, tmp_path, require_tool):
    tcpdump = require_tool("tcpdump")
    tshark = require_tool("tshark")
    ref, ours = tmp_path / "tcpdump", tmp_path / "netdiag"
    ref.mkdir()
    ours.mkdir()
    a = _start(lab, [*NETDIAG, "-i", IFACE, "-G", "1", "-W", "2", "-w", str(ours / "g-%s.pcap"),
                     "icmp"])  # fmt: skip
    b = _start(lab, [tcpdump, "-Z", "root", "--immediate-mode", "-i", IFACE, "-G", "1",
                     "-W", "2", "-w", str(ref / "g-%s.pcap"), "icmp"])  # fmt: skip
    _ping(lab, "-i", "0.1", "-c", "35")
    (sa, ea), (sb, eb) = _finish(a), _finish(b)
    assert sb == 0, eb
    assert sa == 0, ea
    line = "Maximum file limit reached: 2"
    assert line in eb.splitlines() and line in ea.splitlines()
    assert len(list(ref.iterdir())) == len(list(ours.iterdir())) == 2
    for f in ours.iterdir():
        start = int(f.name[2:-5])
        done = subprocess.run([tshark, "-r", str(f), "-T", "fields", "-e", "frame.time_epoch"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        assert all(start <= float(t) < start + 1 for t in done.stdout.split()), f.name


# ------------------------------------------------------------ the drain


@pytest.mark.parametrize(("sig", "extra"), [(signal.SIGINT, []), (signal.SIGTERM, []),
                                            (signal.SIGINT, ["--no-ring"])],
                         ids=["SIGINT", "SIGTERM", "SIGINT-recvmsg"])  # fmt: skip
def test_a_signal_right_after_the_traffic_keeps_every_queued_packet(
    lab, tmp_path, require_tool, sig, extra
):
    tshark = require_tool("tshark")
    path = tmp_path / "drained.pcap"
    proc = _start(lab, [*NETDIAG, "-i", IFACE, *extra, "-w", str(path), "icmp"])
    tx, rx = _ping(lab, "-i", "0.002", "-c", "100")  # 0.2 s: the last block is not yet due
    proc.send_signal(sig)
    status, err = _finish(proc)
    assert status == 0, err
    assert _count(tshark, path) == tx + rx
    assert f"{tx + rx} packets captured" in err


def test_a_signal_during_rotation_loses_nothing_across_files(lab, tmp_path, require_tool):
    tshark = require_tool("tshark")
    proc = _start(lab, [*NETDIAG, "-i", IFACE, "-C", "40k", "-w", str(tmp_path / "r.pcapng"),
                        "icmp"])  # fmt: skip
    tx, rx = _ping(lab, "-i", "0.002", "-c", "200", "-s", "400")
    proc.send_signal(signal.SIGINT)
    status, err = _finish(proc)
    assert status == 0, err
    files = sorted(tmp_path.iterdir(), key=lambda p: int(p.name[8:] or 0))
    assert len(files) >= 4
    assert sum(_count(tshark, f) for f in files) == tx + rx
    for f in files[:-1]:  # each over 40 KiB by less than its last block
        raw = f.read_bytes()
        assert len(raw) > 40 * 1024 >= len(raw) - int.from_bytes(raw[-4:], "little")


# ------------------------------------------------------------ writes that fail


def test_a_full_disk_is_one_line_exit_1_and_every_file_stays_valid(lab, tmp_path, require_tool):
    capinfos = require_tool("capinfos")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "netdiag-test-full", str(mnt)],
                   check=True)  # fmt: skip
    try:
        proc = _start(lab, [*NETDIAG, "-i", IFACE, "-C", "40k", "-w", str(mnt / "out"), "icmp"])
        _ping(lab, "-i", "0.002", "-c", "400", "-s", "400")  # ~370 KB: more than fits
        try:
            status, err = proc.wait(timeout=10), proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert status == 1, err
        lines = [ln for ln in err.splitlines() if ln and "listening on" not in ln]
        assert len(lines) == 1 and re.fullmatch(
            rf"netdiag: {re.escape(str(mnt))}/out\d*: No space left on device", lines[0]
        ), err
        files = list(mnt.iterdir())
        assert len(files) >= 2
        assert all(_valid(capinfos, f) > 0 for f in files)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_file_size_limit_is_one_line_exit_1_and_a_valid_file(lab, tmp_path, require_tool):
    capinfos = require_tool("capinfos")
    path = tmp_path / "limited.pcap"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = lab.popen("r1", [*NETDIAG, "-i", IFACE, "-w", str(path), "icmp"], env=env,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     preexec_fn=limit)  # fmt: skip
    try:
        time.sleep(1.0)
        _ping(lab, "-i", "0.002", "-c", "200", "-s", "400")
        status, err = proc.wait(timeout=10), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert status == 1, err
    assert err.splitlines()[-1] == f"netdiag: {path}: File too large"
    assert 0 < _valid(capinfos, path) < 400
    assert path.stat().st_size <= 50_000
