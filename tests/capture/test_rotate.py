"""Rotating capture files (``sniff -w -C -G -W``) against tcpdump's own rotation.

tcpdump rotates files when it reads a capture too (``tcpdump -r IN -w OUT -C 1
-W N``), with the same code as when it captures; with ``--time-stamp-precision
nano`` it writes nanosecond pcap, as ``sniff -w`` does. So the reference for
``-C``/``-W`` is tcpdump's files, byte for byte: the same names, the same cut
points, the same bytes, for the sniffer's fast path (whole ring blocks of
encoded records) and its per-record path. pcapng files are checked by tshark
(every file opens, and together they hold the input's packets). A write that
fails (RLIMIT_FSIZE in a child, /dev/full) leaves files that capinfos and tshark
read, and names the file in one line.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netdiag.capture.pcap import PcapWriter
from netdiag.capture.rotate import (
    KEEP,
    NEXT,
    STOP,
    CaptureWriteError,
    RotatingWriter,
    Rotation,
    RotationPlan,
    parse_size,
)
from netdiag.errors import UsageError

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000  # seconds


def _make_input(path: Path, packets: int = 25000, seed: int = 7) -> None:
    """A nanosecond pcap of random frames, sizes and gaps (tcpdump only copies them)."""
    r = random.Random(seed)
    t = T0 * 1_000_000_000
    with PcapWriter(path, 1, 262144, nanosecond=True) as w:
        for _ in range(packets):
            n = r.randint(42, 300)
            t += r.randint(1000, 200_000_000)
            w.write(r.randbytes(n), t, wirelen=n + r.choice((0, 0, 10)))


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rot") / "in.pcap"
    _make_input(path)
    return path


def _records(path: Path) -> list[bytes]:
    """The raw records (16-byte header + data) of a little-endian pcap file."""
    raw = path.read_bytes()
    out, off = [], 24
    while off < len(raw):
        caplen = int.from_bytes(raw[off + 8 : off + 12], "little")
        out.append(raw[off : off + 16 + caplen])
        off += 16 + caplen
    return out


def _tcpdump_rotate(tcpdump: str, src: Path, out: Path, args: list[str]) -> None:
    user = ["-Z", "root"] if os.geteuid() == 0 else []  # it drops to its own user otherwise
    done = subprocess.run([tcpdump, "--time-stamp-precision=nano", *user, "-r", str(src),
                           "-w", str(out), *args], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr


def _tree(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _feed_blocks(w: RotatingWriter, recs: list[bytes], seed: int) -> None:
    """As the sniffer does: blocks of 1..3000 records, each as one chunk."""
    r = random.Random(seed)
    i = 0
    while i < len(recs):
        n = r.choice((1, 2, 17, 400, 3000))
        w.write_encoded(b"".join(recs[i : i + n]), len(recs[i : i + n]))
        i += n


def _feed_records(w: RotatingWriter, recs: list[bytes]) -> None:
    for rec in recs:
        sec = int.from_bytes(rec[0:4], "little")
        nsec = int.from_bytes(rec[4:8], "little")
        wirelen = int.from_bytes(rec[12:16], "little")
        w.write(rec[16:], sec * 1_000_000_000 + nsec, wirelen=wirelen)


# ------------------------------------------------------------ -C and -W, as tcpdump


@pytest.mark.parametrize("files", [None, 1, 3, 11], ids=["no-W", "W1", "W3", "W11"])
@pytest.mark.parametrize("path", ["blocks", "records"])
def test_size_rotation_makes_tcpdumps_files_byte_for_byte(
    tmp_path, require_tool, big_input, files, path
):
    tcpdump = require_tool("tcpdump")
    ref, ours = tmp_path / "tcpdump", tmp_path / "netdiag"
    ref.mkdir()
    ours.mkdir()
    w_args = [] if files is None else ["-W", str(files)]
    _tcpdump_rotate(tcpdump, big_input, ref / "out", ["-C", "1", *w_args])
    plan = RotationPlan(str(ours / "out"), size=parse_size("1"), files=files)
    recs = _records(big_input)
    with RotatingWriter(plan, 1, snaplen=262144, start=T0) as w:
        if path == "blocks":
            _feed_blocks(w, recs, seed=files or 0)
        else:
            _feed_records(w, recs)
    theirs, mine = _tree(ref), _tree(ours)
    assert len(theirs) >= 2 or files == 1  # it did rotate (-W 1: over one name)
    assert sorted(mine) == sorted(theirs)
    for name in theirs:
        assert mine[name] == theirs[name], name
    assert w.count == len(recs)


def test_pcapng_blocks_and_records_make_the_same_files(tmp_path, big_input):
    recs = _records(big_input)
    trees = []
    for path in ("blocks", "records"):
        d = tmp_path / path
        d.mkdir()
        plan = RotationPlan(str(d / "out.pcapng"), size=700_000, files=4)
        with RotatingWriter(plan, 1, pcapng=True, start=T0) as w:
            if path == "blocks":
                _feed_blocks(w, recs, seed=9)
            else:
                _feed_records(w, recs)
        trees.append(_tree(d))
    assert len(trees[0]) == 4
    assert trees[0] == trees[1]


def test_size_units_are_tcpdumps():
    assert parse_size("10") == 10_000_000  # tcpdump -C 10: millions of bytes
    assert parse_size("20k") == 20 * 1024  # tcpdump 4.99.4+: KiB, MiB, GiB
    assert parse_size("3M") == 3 << 20
    assert parse_size("1g") == 1 << 30
    for bad in ("0", "-1", "1.5", "k", "10x", "", "\u00b2", "1 0"):
        with pytest.raises(UsageError):
            parse_size(bad)


@pytest.mark.parametrize("path", ["blocks", "records"])
def test_pcapng_files_each_open_in_tshark_and_hold_the_input_between_them(
    tmp_path, require_tool, big_input, path
):
    tshark = require_tool("tshark")
    limit = 1_000_000
    plan = RotationPlan(str(tmp_path / "out.pcapng"), size=limit)
    with RotatingWriter(plan, 1, pcapng=True, start=T0) as w:
        if path == "blocks":
            _feed_blocks(w, _records(big_input), seed=5)
        else:
            _feed_records(w, _records(big_input))
    names = w.files
    assert len(names) >= 4
    fields = ["-o", "frame.generate_md5_hash:TRUE", "-T", "fields", "-e", "frame.time_epoch",
              "-e", "frame.len", "-e", "frame.cap_len", "-e", "frame.md5_hash"]  # fmt: skip

    def lines(p: str) -> list[str]:
        done = subprocess.run([tshark, "-r", p, *fields], capture_output=True, text=True,
                              env={**os.environ, "TZ": "UTC"})  # fmt: skip
        assert done.returncode == 0, (p, done.stderr)
        return done.stdout.splitlines()

    together = [ln for n in names for ln in lines(n)]
    assert together == lines(str(big_input))
    for n in names[:-1]:  # tcpdump's rule: a file ends past the limit by its last record
        raw = Path(n).read_bytes()
        last = int.from_bytes(raw[-4:], "little")
        assert len(raw) > limit >= len(raw) - last
        assert raw[:4] == b"\x0a\x0d\x0d\x0a"  # its own section header


# ------------------------------------------------------------ -G: time slices


def _plan_g(tmp_path: Path, **kw) -> RotationPlan:
    return RotationPlan(str(tmp_path / "g-%Y%m%d-%H%M%S.pcap"), seconds=2, **kw)


def test_time_rotation_names_files_by_strftime_at_the_start_of_each_slice(tmp_path):
    rot = Rotation(_plan_g(tmp_path), T0)
    assert rot.name == str(tmp_path / time.strftime("g-%Y%m%d-%H%M%S.pcap", time.localtime(T0)))
    assert [rot.before(100, T0 + d) for d in (0, 1)] == [KEEP, KEEP]
    assert rot.before(100, T0 + 2) == NEXT  # tcpdump: t - Gflag_time >= Gflag
    assert rot.name.endswith(time.strftime("%H%M%S.pcap", time.localtime(T0 + 2)))
    assert rot.before(100, T0 + 3) == KEEP
    assert rot.before(100, T0 + 9) == NEXT  # the slice starts at the packet, not on a grid
    assert rot.name.endswith(time.strftime("%H%M%S.pcap", time.localtime(T0 + 9)))


def test_time_rotation_with_w_stops_after_n_files_as_tcpdump(tmp_path):
    rot = Rotation(_plan_g(tmp_path, files=2), T0)
    assert rot.before(0, T0 + 2) == NEXT
    assert rot.before(0, T0 + 4) == STOP  # "Maximum file limit reached: 2"


def test_time_and_size_number_the_files_of_each_slice(tmp_path):
    plan = RotationPlan(str(tmp_path / "s%S-"), size=1000, seconds=10, files=3)
    rot = Rotation(plan, T0)
    sec = time.strftime("%S", time.localtime(T0))
    assert rot.name.endswith(f"s{sec}-0")
    assert rot.before(1001, T0) == NEXT and rot.name.endswith(f"s{sec}-1")
    assert rot.before(1001, T0) == NEXT and rot.name.endswith(f"s{sec}-2")
    assert rot.before(1001, T0) == NEXT and rot.name.endswith(f"s{sec}-0")  # a ring per slice
    sec2 = time.strftime("%S", time.localtime(T0 + 10))
    assert rot.before(10, T0 + 10) == NEXT and rot.name.endswith(f"s{sec2}-0")


@pytest.mark.parametrize("ext", ["pcap", "pcapng"])
def test_time_rotation_cuts_blocks_at_the_first_late_packet_and_loses_none(
    tmp_path, require_tool, big_input, ext
):
    tshark = require_tool("tshark")
    plan = RotationPlan(str(tmp_path / f"g-%s.{ext}"), seconds=60)
    recs = _records(big_input)[:3000]
    with RotatingWriter(plan, 1, start=T0, pcapng=ext == "pcapng") as w:
        _feed_blocks(w, recs, seed=3)
    assert len(w.files) > 3
    total = 0
    for name in w.files:
        start = int(Path(name).name[2 : -len(ext) - 1])
        done = subprocess.run([tshark, "-r", name, "-T", "fields", "-e", "frame.time_epoch"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        stamps = [float(x) for x in done.stdout.split()]
        assert stamps, name
        assert all(start <= t < start + 60 for t in stamps), name
        assert int(stamps[0]) == start or name == w.files[0]  # a slice opens at its packet
        total += len(stamps)
    assert total == len(recs)


def test_time_rotation_with_w_refuses_what_comes_after_the_last_file(tmp_path, big_input):
    plan = RotationPlan(str(tmp_path / "g-%s.pcap"), seconds=60, files=2)
    recs = _records(big_input)[:3000]
    with RotatingWriter(plan, 1, start=T0) as w:
        _feed_blocks(w, recs, seed=4)
    assert w.done and len(w.files) == 2
    assert w.count + w.refused == len(recs) and w.refused > 0
    assert w.count == sum(len(_records(Path(n))) for n in w.files)


def test_plan_refusals():
    for kw in ({"files": 3}, {"size": 0}, {"seconds": 0}, {"size": 10, "files": 0}):
        with pytest.raises(UsageError):
            RotationPlan("x.pcap", **kw)
    with pytest.raises(UsageError):
        RotationPlan("")


# ------------------------------------------------------------ writes that fail

_CHILD = r"""
import resource, sys
from netdiag.capture.rotate import RotatingWriter, RotationPlan, CaptureWriteError
resource.setrlimit(resource.RLIMIT_FSIZE, (__LIMIT__, __LIMIT__))
rec = bytes(range(256)) * 4
plan = RotationPlan(sys.argv[1], size=__SIZE__)
w = RotatingWriter(plan, 1, start=1700000000, pcapng=__PCAPNG__)
try:
    for i in range(100000):
        if __BLOCKS__:
            hdr = (1700000000).to_bytes(4, "little") + (i).to_bytes(4, "little")
            one = hdr + (1024).to_bytes(4, "little") * 2 + rec
            w.write_encoded(one * __PER__, __PER__)
        else:
            w.write(rec, 1700000000 * 10**9 + i)
    w.close()
except CaptureWriteError as e:
    print(w.count, len(w.files), e.exit_status)
    print(e, file=sys.stderr)
"""


@pytest.mark.parametrize(("pcapng", "blocks", "per"), [
    (False, True, 7), (False, True, 300), (True, True, 7), (True, True, 300), (False, False, 1),
    (True, False, 1)], ids=["pcap-blocks", "pcap-big-blocks", "pcapng-blocks",
                            "pcapng-big-blocks", "pcap-records", "pcapng-records"])  # fmt: skip
def test_a_file_size_limit_leaves_a_valid_capture_and_one_line(
    tmp_path, require_tool, pcapng, blocks, per
):
    capinfos = require_tool("capinfos")
    src = (_CHILD.replace("__LIMIT__", "250_000").replace("__SIZE__", "None")
           .replace("__PCAPNG__", repr(pcapng)).replace("__BLOCKS__", repr(blocks))
           .replace("__PER__", str(per)))  # fmt: skip
    name = tmp_path / ("out.pcapng" if pcapng else "out.pcap")
    done = subprocess.run([sys.executable, "-c", src, str(name)], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    count, nfiles, status = map(int, done.stdout.split())
    assert status == 1
    assert done.stderr.strip() == f"{name}: File too large"
    assert count > 0
    if blocks:  # whole records of a block cut in the middle are kept: the file is full
        assert name.stat().st_size > 250_000 - 1100
    files = sorted(tmp_path.iterdir())
    assert len(files) == nfiles
    seen = 0
    for f in files:
        info = subprocess.run([capinfos, "-c", "-M", str(f)], capture_output=True, text=True)
        assert info.returncode == 0, (f, info.stderr)  # capinfos complains of a cut record
        assert "cut short" not in info.stderr and "appears to" not in info.stderr
        seen += int(info.stdout.split("Number of packets:")[1].split()[0])
    assert seen == count


def test_dev_full_is_one_line_and_status_1():
    with pytest.raises(CaptureWriteError) as e:
        RotatingWriter(RotationPlan("/dev/full"), 1)
    assert str(e.value) == "/dev/full: No space left on device"
    assert e.value.exit_status == 1
    assert os.path.exists("/dev/full")  # never removed: not a regular file


def test_a_file_that_cannot_be_created_is_one_line_and_status_1(tmp_path):
    with pytest.raises(CaptureWriteError) as e:
        RotatingWriter(RotationPlan(str(tmp_path / "no" / "such.pcap")), 1)
    assert str(e.value) == f"{tmp_path}/no/such.pcap: No such file or directory"
