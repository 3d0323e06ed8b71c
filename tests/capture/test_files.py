"""Capture-file I/O: pcap and pcapng read and written, checked against references we did
not write: scapy's raw readers and writers, dpkt, tcpdump (libpcap) and tshark (wiretap),
and the tcpdump project's test captures.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.utils import PcapNgWriter as ScapyPcapNgWriter
from scapy.utils import RawPcapNgReader, RawPcapReader, wrpcap

from netdiag.capture import PcapNgWriter, PcapWriter, Record, open_writer, read_capture
from netdiag.errors import CaptureError, DamagedCaptureError, UsageError

SEC = 1_000_000_000


# ------------------------------------------------------------------ helpers
def read_all(source: object) -> tuple[list[Record], CaptureError | None]:
    """Every record, and the error that ended the reading (None: a clean end)."""
    out: list[Record] = []
    try:
        with read_capture(source) as r:  # type: ignore[arg-type]
            for rec in r:
                out.append(rec)
    except CaptureError as e:
        return out, e
    return out, None


def tshark_records(tshark: str, path: Path) -> list[tuple[int, int, int, int]]:
    """(wire length, captured length, ns since the epoch, interface) per frame, as tshark
    reports them; a frame without a timestamp (an SPB) counts as 0 ns."""
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(path),
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.interface_id",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = []
    for line in out.splitlines():
        wl, cl, ts, ifn = line.split(",")
        rows.append((int(wl), int(cl), int(Decimal(ts or 0) * SEC), int(ifn or 0)))
    return rows


def ours(path: Path | io.BytesIO) -> list[tuple[int, int, int, int]]:
    return [(r.wirelen, r.caplen, r.ts_ns, r.interface) for r in read_capture(path)]


def swap_pcap(le: bytes) -> bytes:
    """A little-endian pcap file rewritten big-endian, header by header."""
    out = bytearray(struct.pack(">IHHiIII", *struct.unpack_from("<IHHiIII", le, 0)))
    p = 24
    while p < len(le):
        sec, frac, caplen, wirelen = struct.unpack_from("<IIII", le, p)
        out += struct.pack(">IIII", sec, frac, caplen, wirelen) + le[p + 16 : p + 16 + caplen]
        p += 16 + caplen
    return bytes(out)


def ng_block(order: str, btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def ng_option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def ng_shb(order: str) -> bytes:
    return ng_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def ng_idb(order: str, linktype: int, snaplen: int = 0, opts: bytes = b"") -> bytes:
    if opts:
        opts += ng_option(order, 0, b"")
    return ng_block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def ng_epb(order: str, ifn: int, units: int, data: bytes, wirelen: int | None = None) -> bytes:
    wl = len(data) if wirelen is None else wirelen
    return ng_block(
        order,
        6,
        struct.pack(order + "IIIII", ifn, units >> 32, units & 0xFFFFFFFF, len(data), wl) + data,
    )


def ng_blocks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, type, length) of each block of a little-endian pcapng file."""
    out, p = [], 0
    while p < len(data):
        btype, n = struct.unpack_from("<II", data, p)
        out.append((p, btype, n))
        p += n
    return out


packet_bytes = st.binary(min_size=0, max_size=300)


# ------------------------------------------------------------------ round trips
@st.composite
def pcap_records(draw: st.DrawFn) -> list[tuple[bytes, int, int]]:
    n = draw(st.integers(0, 8))
    return [
        (d, draw(st.integers(0, (1 << 32) * SEC - 1)), len(d) + draw(st.integers(0, 2000)))
        for d in (draw(packet_bytes) for _ in range(n))
    ]


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("nanosecond", [False, True], ids=["usec", "nsec"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=pcap_records(), linktype=st.sampled_from([1, 101, 113, 276, 147]))
def test_pcap_round_trip_agrees_with_scapy_and_dpkt(
    tmp_path_factory, records, linktype, nanosecond, big_endian
):
    buf = io.BytesIO()
    with PcapWriter(buf, linktype, nanosecond=nanosecond) as w:
        for data, ts, wl in records:
            w.write(data, ts, wl)
    raw = buf.getvalue()
    if big_endian:
        raw = swap_pcap(raw)
    path = tmp_path_factory.mktemp("rt") / "f.pcap"
    path.write_bytes(raw)
    unit = 1 if nanosecond else 1000
    got = list(read_capture(path))
    assert [(r.data, r.wirelen, r.linktype, r.interface) for r in got] == [
        (d, wl, linktype, 0) for d, _, wl in records
    ]
    assert [r.ts_ns for r in got] == [ts // unit * unit for _, ts, _ in records]
    # scapy's raw reader: the same bytes, seconds and fraction
    scapy = RawPcapReader(str(path))
    sref = [(d, m.sec * SEC + m.usec * unit, m.wirelen) for d, m in scapy]
    scapy.close()
    assert sref == [(r.data, r.ts_ns, r.wirelen) for r in got]
    # dpkt agrees on the data and the timestamp (as a float)
    with path.open("rb") as f:
        dref = list(dpkt.pcap.Reader(f))
    assert [d for _, d in dref] == [r.data for r in got]
    assert [float(ts) for ts, _ in dref] == pytest.approx([r.ts for r in got], abs=2e-6)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(
        st.tuples(
            st.integers(0, 1), packet_bytes, st.integers(0, (1 << 33) * SEC), st.integers(0, 100)
        ),
        max_size=10,
    ),
    resol=st.tuples(st.integers(0, 9), st.integers(0, 9)),
)
def test_pcapng_round_trip_two_interfaces_agrees_with_scapy(tmp_path_factory, records, resol):
    path = tmp_path_factory.mktemp("rt") / "f.pcapng"
    with PcapNgWriter(path, None) as w:
        assert w.add_interface(1, "eth0", tsresol_exp10=resol[0]) == 0
        assert w.add_interface(101, "tun0", snaplen=0, tsresol_exp10=resol[1]) == 1
        for ifn, data, ts, extra in records:
            w.write(data, ts, interface=ifn, wirelen=len(data) + extra)
    with read_capture(path) as r:
        assert r.format == "pcapng"
        assert r.linktypes == [1, 101]
        got = list(r)
    units = [10 ** (9 - resol[ifn]) for ifn, *_ in records]
    assert [(x.interface, x.data, x.ts_ns, x.wirelen, x.linktype) for x in got] == [
        (ifn, data, ts // u * u, len(data) + extra, (1, 101)[ifn])
        for (ifn, data, ts, extra), u in zip(records, units, strict=True)
    ]
    scapy = RawPcapNgReader(str(path))
    sref = [
        (d, ((m.tshigh << 32) | m.tslow) * SEC // m.tsresol, m.wirelen, m.linktype)
        for d, m in scapy
    ]
    scapy.close()
    assert sref == [(x.data, x.ts_ns, x.wirelen, x.linktype) for x in got]


def test_record_properties():
    r = Record(1_700_000_000_123_456_789, b"abc", 1, 60)
    assert r.caplen == 3 and r.interface == 0
    assert r.ts == pytest.approx(1_700_000_000.123456789)


# ------------------------------------------------------------------ writers vs tools
def _sample_frames() -> list[tuple[bytes, int]]:
    eth = bytes.fromhex("ffffffffffff0200000000010800")
    ip = bytes.fromhex("4500001c0001000040110000c0000201c0000202") + bytes(8)
    return [(eth + ip + bytes(i), 1_700_000_000 * SEC + i * 1_234_567_891) for i in range(5)]


@pytest.mark.parametrize("nanosecond", [False, True], ids=["usec", "nsec"])
def test_pcap_written_by_netdiag_reads_the_same_in_tshark_and_tcpdump(
    tmp_path, require_tool, nanosecond
):
    tshark, tcpdump = require_tool("tshark"), require_tool("tcpdump")
    path = tmp_path / "w.pcap"
    with open_writer(path, 1, nanosecond=nanosecond, snaplen=50) as w:
        assert isinstance(w, PcapWriter)
        for data, ts in _sample_frames():
            w.write(data, ts)
    unit = 1 if nanosecond else 1000
    expect = [(len(d), min(len(d), 50), ts // unit * unit, 0) for d, ts in _sample_frames()]
    assert tshark_records(tshark, path) == expect
    assert ours(path) == expect
    prec = "nano" if nanosecond else "micro"
    out = subprocess.run(
        [tcpdump, "-r", str(path), "-n", "-tt", f"--time-stamp-precision={prec}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [int(Decimal(line.split()[0]) * SEC) for line in out] == [e[2] for e in expect]


def test_pcapng_written_by_netdiag_reads_the_same_in_tshark(tmp_path, require_tool):
    tshark = require_tool("tshark")
    path = tmp_path / "w.pcapng"
    ip = bytes.fromhex("4500001c0001000040110000c0000201c0000202") + bytes(8)
    with PcapNgWriter(path, 1, tsresol_exp10=9) as w:
        tun = w.add_interface(101, "tun0", snaplen=20, tsresol_exp10=6)
        w.write(bytes(6) * 2 + b"\x08\x00" + ip, 1_700_000_000_123_456_789)
        w.write(ip, 1_700_000_001_987_654_321, interface=tun)
        w.write(ip, 1_700_000_002_000_000_001, interface=tun, wirelen=1500)
    expect = [
        (42, 42, 1_700_000_000_123_456_789, 0),
        (28, 20, 1_700_000_001_987_654_000, 1),
        (1500, 20, 1_700_000_002_000_000_000, 1),
    ]
    assert tshark_records(tshark, path) == expect
    assert ours(path) == expect


def test_pcapng_with_one_linktype_reads_in_tcpdump(tmp_path, require_tool):
    # libpcap refuses pcapng files whose interfaces have different link types
    tcpdump = require_tool("tcpdump")
    path = tmp_path / "w.pcapng"
    with open_writer(path, 1) as w:
        assert isinstance(w, PcapNgWriter)
        for data, ts in _sample_frames():
            w.write(data, ts)
    out = subprocess.run(
        [tcpdump, "-r", str(path), "-n", "-tt"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert [line.split()[0] for line in out] == [
        f"{ts // SEC}.{ts % SEC // 1000:06d}" for _, ts in _sample_frames()
    ]


def test_a_flushed_writer_leaves_a_complete_file_for_tcpdump(tmp_path, require_tool):
    # what a sniffer stopped by Ctrl-C leaves behind: every written record, whole
    tcpdump = require_tool("tcpdump")
    for name in ("f.pcap", "f.pcapng"):
        w = open_writer(tmp_path / name)
        for data, ts in _sample_frames()[:3]:
            w.write(data, ts)
        w.flush()
        done = subprocess.run(
            [tcpdump, "-r", str(tmp_path / name), "-n"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 3
        w.close()


def test_writer_argument_errors():
    with pytest.raises(UsageError, match="interface 1 was not added"):
        PcapNgWriter(io.BytesIO()).write(b"x", 0, interface=1)
    with pytest.raises(UsageError, match="timestamp"):
        PcapWriter(io.BytesIO()).write(b"x", -1)
    with pytest.raises(UsageError, match="wire length 1"):
        PcapWriter(io.BytesIO()).write(b"xy", 0, wirelen=1)
    with pytest.raises(CaptureError, match="No such file or directory"):
        PcapWriter("/nonexistent/dir/f.pcap")


# ------------------------------------------------------------------ files from other writers
def test_files_written_by_scapy_read_the_same_as_tshark(tmp_path, require_tool):
    tshark = require_tool("tshark")
    frames = _sample_frames()
    pcap, ng = tmp_path / "s.pcap", tmp_path / "s.pcapng"
    from scapy.packet import Raw

    pkts = []
    for data, ts in frames:
        p = Raw(data)
        p.time = Decimal(ts) / SEC
        pkts.append(p)
    wrpcap(str(pcap), pkts, linktype=1)
    w = ScapyPcapNgWriter(str(ng))
    for p in pkts:
        w.write(p)
    w.close()
    for path in (pcap, ng):
        assert ours(path) == tshark_records(tshark, path)
        assert len(ours(path)) == len(frames)


@pytest.mark.parametrize("fmt", ["pcap", "nsecpcap", "pcapng"])
def test_files_converted_by_editcap_read_the_same_as_tshark(tmp_path, require_tool, fmt):
    tshark, editcap = require_tool("tshark"), require_tool("editcap")
    src = tmp_path / "src.pcapng"
    with PcapNgWriter(src, 1, tsresol_exp10=9) as w:
        for data, ts in _sample_frames():
            w.write(data, ts)
    out = tmp_path / f"out.{fmt}"
    subprocess.run([editcap, "-F", fmt, str(src), str(out)], check=True, capture_output=True)
    with read_capture(out) as r:
        assert r.format == ("pcapng" if fmt == "pcapng" else "pcap")
    assert ours(out) == tshark_records(tshark, out)
    assert len(ours(out)) == 5


def test_hand_built_pcapng_features_read_the_same_as_tshark(tmp_path, require_tool):
    """Two sections of opposite byte order; if_tsresol as a power of 2 and of 10; SPBs,
    the obsolete Packet Block, statistics and unknown blocks skipped."""
    tshark = require_tool("tshark")
    frame = bytes(12) + b"\x08\x00" + bytes(30)
    le, be = "<", ">"
    data = (
        ng_shb(le)
        + ng_idb(le, 1, 0, ng_option(le, 9, b"\x86"))  # 2^-6 s
        + ng_idb(le, 1, 0, ng_option(le, 9, b"\x03"))  # ms
        + ng_epb(le, 0, 1_700_000_000 * 64 + 33, frame)
        + ng_block(le, 5, bytes(12))  # interface statistics
        + ng_block(le, 0x99, b"skip me!")  # unassigned
        + ng_epb(le, 1, 1_700_000_000_123, frame, 100)
        + ng_block(le, 2, struct.pack("<HHIIII", 1, 0, 0, 5_000, len(frame), 60) + frame)
        + ng_shb(be)
        + ng_idb(be, 1, 40)
        + ng_epb(be, 0, 1_600_000_000_000_001, frame)
        + ng_block(be, 3, struct.pack(">I", 44) + frame[:40])  # cut to the snaplen
        + ng_block(be, 3, struct.pack(">I", 30) + frame[:30])
    )
    path = tmp_path / "hand.pcapng"
    path.write_bytes(data)
    expect = [
        (44, 44, 1_700_000_000_515_625_000, 0),
        (100, 44, 1_700_000_000_123_000_000, 1),
        (60, 44, 5_000_000_000, 1),
        (44, 44, 1_600_000_000_000_001_000, 2),
        (44, 40, 0, 2),
        (30, 30, 0, 2),
    ]
    assert ours(path) == expect
    # tshark 4.0 numbers interfaces within each section (the 2nd section's first is 0
    # again); we number them across the file, so that linktypes[record.interface] holds.
    assert tshark_records(tshark, path) == [e[:3] + (e[3] if e[3] < 2 else 0,) for e in expect]
    with read_capture(path) as r:
        assert r.linktypes == [1, 1]  # the interfaces before the first packet, read at open
        list(r)
        assert r.linktypes == [1, 1, 1]


def test_reads_from_a_stream_in_small_pieces():
    """A pipe delivers a few bytes at a time: records crossing every chunk boundary."""
    buf = io.BytesIO()
    with PcapNgWriter(buf) as w:
        for data, ts in _sample_frames():
            w.write(data, ts)
    whole = buf.getvalue()

    class Trickle(io.RawIOBase):
        def __init__(self, step: int) -> None:
            self.src, self.step = io.BytesIO(whole), step

        def readable(self) -> bool:
            return True

        def read1(self, n: int = -1) -> bytes:
            return self.src.read(min(self.step, n if n >= 0 else self.step))

    expect = ours(io.BytesIO(whole))
    for step in (1, 3, 7, 64):
        assert [
            (r.wirelen, r.caplen, r.ts_ns, r.interface) for r in read_capture(Trickle(step))
        ] == expect


# ------------------------------------------------------------------ bad input
def test_missing_empty_foreign_and_directory_raise_capture_error_on_open(tmp_path):
    with pytest.raises(CaptureError, match=r"^/nonexistent\.pcap: No such file or directory$"):
        read_capture("/nonexistent.pcap")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError, match=r"empty\.pcap: empty file"):
        read_capture(empty)
    text = tmp_path / "notes.pcap"
    text.write_bytes(b"hello world\n")
    with pytest.raises(
        CaptureError,
        match=r"notes\.pcap: not a pcap or pcapng file "
        r"\(magic 0x68656c6c\)$",
    ):
        read_capture(text)
    with pytest.raises(CaptureError, match="Is a directory"):
        list(read_capture(tmp_path))


def test_format_is_recognised_by_content_not_name(tmp_path):
    path = tmp_path / "really-pcapng.pcap"
    with open_writer(path, 101, pcapng=True) as w:
        w.write(b"\x45" + bytes(19), 5 * SEC)
    with read_capture(path) as r:
        assert r.format == "pcapng" and r.linktypes == [101]
        assert [x.ts_ns for x in r] == [5 * SEC]


def _pcap(*records: tuple[int, bytes]) -> bytes:
    """A pcap made by the reference writer (scapy)."""
    from scapy.packet import Raw

    pkts = []
    for sec, data in records:
        p = Raw(data)
        p.time = sec
        pkts.append(p)
    with tempfile.TemporaryDirectory() as d:
        wrpcap(f"{d}/f.pcap", pkts, linktype=1)
        return Path(f"{d}/f.pcap").read_bytes()


def test_pcap_cut_at_every_offset_yields_whole_records_then_an_exact_error():
    data = _pcap((1, bytes(range(40))), (2, b"\x01" * 17), (3, b""), (4, b"\x02" * 9))
    full, err = read_all(io.BytesIO(data))
    assert err is None and [r.data for r in full] == [
        bytes(range(40)),
        b"\x01" * 17,
        b"",
        b"\x02" * 9,
    ]
    starts = [24]
    for r in full:
        starts.append(starts[-1] + 16 + r.caplen)
    for cut in range(len(data)):
        got, err = read_all(io.BytesIO(data[:cut]))
        done = sum(1 for s in starts[1:] if s <= cut)
        assert got == full[:done], cut
        if cut == 0:
            assert str(err) == "<stream>: empty file, not a pcap or pcapng file"
        elif cut < 4:
            assert str(err) == f"<stream>: not a pcap or pcapng file (only {cut} bytes)"
        elif cut < 24:
            assert isinstance(err, DamagedCaptureError)
            assert str(err) == (
                f"<stream>: damaged at byte 0, after 0 records: truncated pcap "
                f"file header ({cut} of 24 bytes)"
            )
        elif cut in starts:
            assert err is None, cut
        else:
            at = max(s for s in starts if s <= cut)
            have = cut - at
            reason = (
                f"truncated record header ({have} of 16 bytes)"
                if have < 16
                else f"truncated record data ({have - 16} of {full[done].caplen} bytes)"
            )
            assert isinstance(err, DamagedCaptureError)
            assert str(err) == f"<stream>: damaged at byte {at}, after {done} records: {reason}"
            assert (err.offset, err.records) == (at, done)


def test_pcapng_cut_at_every_offset_yields_whole_records_then_an_exact_error(tmp_path):
    from scapy.packet import Raw

    w = ScapyPcapNgWriter(str(tmp_path / "f.pcapng"))
    for i, d in enumerate((bytes(range(13)), b"", b"\x07" * 20)):
        p = Raw(d)
        p.time = 10 + i
        w.write(p)
    w.close()
    data = (tmp_path / "f.pcapng").read_bytes()
    full, err = read_all(io.BytesIO(data))
    assert err is None and len(full) == 3
    blocks = ng_blocks(data)
    names = {0x0A0D0D0A: "section header", 1: "interface description", 6: "enhanced packet"}
    for cut in range(len(data)):
        got, err = read_all(io.BytesIO(data[:cut]))
        before = [b for b in blocks if b[0] + b[2] <= cut]
        done = sum(1 for b in before if b[1] == 6)
        assert got == full[:done], cut
        if cut == 0 or cut < 4:
            assert isinstance(err, CaptureError) and not isinstance(err, DamagedCaptureError)
            continue
        if any(b[0] + b[2] == cut for b in blocks):
            assert err is None, cut
            continue
        at, btype, n = next(b for b in blocks if b[0] <= cut < b[0] + b[2])
        have = cut - at
        if btype == 0x0A0D0D0A and have < 12:
            reason = f"truncated section header block ({have} of 12 bytes)"
        elif have < 8:
            reason = f"truncated block header ({have} of 8 bytes)"
        else:
            reason = f"truncated {names[btype]} block ({have} of {n} bytes)"
        assert str(err) == f"<stream>: damaged at byte {at}, after {done} records: {reason}"


def test_impossible_lengths_are_reported_after_the_good_records():
    good = _pcap((1, b"abc"))
    bad = good + struct.pack("<IIII", 2, 0, 300 << 20, 60)
    got, err = read_all(io.BytesIO(bad))
    assert len(got) == 1
    assert str(err) == (
        f"<stream>: damaged at byte 43, after 1 records: impossible captured length {300 << 20}"
    )
    le = "<"
    head = ng_shb(le) + ng_idb(le, 1)
    ok = ng_epb(le, 0, 0, b"x")
    cases = {
        struct.pack("<II", 6, 30) + bytes(22): "impossible enhanced packet block length 30",
        struct.pack("<II", 6, 8): "impossible enhanced packet block length 8",
        struct.pack("<II", 0xBAD, 4): "impossible type 0x00000bad block length 4",
        ng_epb(le, 3, 0, b"x"): "enhanced packet block on interface 3, but the section has "
        "1 interfaces",
        ng_epb(le, 0, 0, b"x")[:-4] + struct.pack("<I", 40): "enhanced packet block length 36 "
        "and trailing length 40 differ",
    }
    for tail, reason in cases.items():
        got, err = read_all(io.BytesIO(head + ok + tail))
        assert len(got) == 1
        assert isinstance(err, DamagedCaptureError)
        assert err.reason == reason
        assert err.offset == len(head + ok)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200),
    st.sampled_from([b"", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a"]),
)
def test_arbitrary_bytes_raise_only_capture_error(tail, magic):
    got, err = read_all(io.BytesIO(magic + tail))
    assert err is None or isinstance(err, CaptureError)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_pcapng_raises_only_capture_error(data):
    base = bytearray(
        ng_shb("<")
        + ng_idb("<", 1, 0, ng_option("<", 9, b"\x09"))
        + ng_epb("<", 0, 5, b"abcd")
        + ng_block("<", 3, struct.pack("<I", 9) + b"x")
    )
    for _ in range(data.draw(st.integers(1, 4))):
        base[data.draw(st.integers(0, len(base) - 1))] = data.draw(st.integers(0, 255))
    got, err = read_all(io.BytesIO(bytes(base)))
    assert err is None or isinstance(err, CaptureError)


# ------------------------------------------------------------------ the tcpdump test corpus
@pytest.fixture
def corpus(require_corpus) -> Path:
    """The tcpdump test corpus (``../shared/corpus/tcpdump-tests``), or skip (see conftest)."""
    return require_corpus("tcpdump-tests")


@pytest.fixture
def corpus_files(corpus: Path) -> list[Path]:
    return sorted(corpus.glob("*"))


# Files where tshark's numbers differ from the file's own fields, and why:
# - SunATM (linktype 123): wiretap moves the 4-byte pseudo-header out of the frame, so
#   tshark's lengths are 4 less than the record's (libpcap and we keep them in the data).
# - Sub-second fields out of range (>= 10^6 us or >= 10^9 ns): tshark keeps them
#   unnormalised (it prints "...370.1000000000", or a negative time after an overflow);
#   we add the fraction to the seconds, as scapy's raw fields show it.
TSHARK_ATM_PSEUDO_HEADER = {123}
TSHARK_BAD_FRACTION = {
    "rx_serviceid_oobr.pcap",
    "timestamp_invalid_micro.pcap",
    "timestamp_invalid_nano.pcap",
}


def test_corpus_reading_raises_nothing_but_capture_error(corpus_files):
    for path in corpus_files:
        got, err = read_all(path)
        assert err is None or isinstance(err, CaptureError), path
        for r in got:
            assert r.caplen <= 256 << 20 and r.ts_ns >= 0


def test_corpus_record_counts_match_libpcap(require_tool, corpus_files):
    tcpdump = require_tool("tcpdump")
    differ = []
    for path in corpus_files:
        done = subprocess.run(
            [tcpdump, "--count", "-r", str(path)], capture_output=True, text=True, check=False
        )
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
        theirs = int(last.split()[0]) if last.endswith(("packet", "packets")) else None
        got, err = read_all(path)
        if theirs != len(got) or (err is None) != (done.returncode == 0):
            differ.append((path.name, len(got), theirs, err, done.stderr[-200:]))
    assert differ == []


def _tshark_subset(files: list[Path]) -> list[Path]:
    """Every pcapng file and every fourth pcap file (sorted by name): ~180 files."""
    pcaps = [p for p in files if p.suffix == ".pcap"]
    return [p for p in files if p.suffix == ".pcapng"] + pcaps[::4]


def test_corpus_records_match_tshark_on_a_subset(require_tool, corpus_files):
    tshark = require_tool("tshark")
    files = _tshark_subset(corpus_files)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        refs = list(pool.map(lambda p: tshark_records(tshark, p), files))
    compared = 0
    for path, ref in zip(files, refs, strict=True):
        with read_capture(path) as r:
            linktypes = list(r.linktypes)
            mine = [(x.wirelen, x.caplen, x.ts_ns, x.interface, x.linktype) for x in r]
        if not ref and mine:
            # tshark refuses link types it has no dissector for (DSA tags, MFR, Juniper):
            # the libpcap count test covers these files.
            assert (
                subprocess.run(
                    [tshark, "-r", str(path)], capture_output=True, text=True, check=False
                ).stderr.find("unknown or unsupported")
                >= 0
            ), path
            continue
        assert len(mine) == len(ref), path
        for m, t in zip(mine, ref, strict=True):
            wl, cl, ts, ifn, lt = m
            if lt in TSHARK_ATM_PSEUDO_HEADER:
                wl, cl = max(wl - 4, 0), max(cl - 4, 0)
            if path.name in TSHARK_BAD_FRACTION:
                ts = t[2]
            assert (wl, cl, ts, ifn) == t, (path, m, t, linktypes)
        compared += 1
    assert compared > 100


def test_corpus_out_of_range_fractions_are_added_to_the_seconds(corpus):
    for name in sorted(TSHARK_BAD_FRACTION):
        path = corpus / name
        unit = 1 if "nano" in name else 1000
        scapy = RawPcapReader(str(path))
        ref = [m.sec * SEC + m.usec * unit for _, m in scapy]
        scapy.close()
        assert [r.ts_ns for r in read_capture(path)] == ref
