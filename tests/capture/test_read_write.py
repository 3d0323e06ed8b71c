"""``netdiag read -w``: the selected records, byte for byte, against tcpdump, editcap, mergecap.

References: ``tcpdump -r IN -w OUT EXPR`` (the same file, byte for byte, for a
microsecond pcap; ``--time-stamp-precision=nano`` for a nanosecond one), the
input file's own blocks for pcapng (tcpdump writes pcapng input out as pcap),
``mergecap`` for the merge order, ``editcap -A/-B`` for time bounds, and tshark
reading every file written.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from netdiag.capture.files import open_writer, read_capture
from netdiag.cli import main

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
sys.path.insert(0, str(ROOT / "tests" / "bench"))
import bench_decode  # noqa: E402 (the 200k mix's generator, at a smaller size here)

EXPRESSIONS = [
    "tcp and port 80",
    "udp port 53",
    "ip6 net 2001:db8:1::/48",
    "icmp[icmptype] = icmp-echo",
    "vlan and ip",
    "less 100 and tcp",
    "arp or icmp6",
]
UTC_ENV = {**os.environ, "TZ": "UTC"}


@pytest.fixture(scope="module")
def mix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "mix.pcap"
    bench_decode.generate(path, n=9000, seed=11)  # > 1 MiB: records cross read chunks
    return path


def _records(path: Path) -> list[tuple[int, bytes, int, int]]:
    with read_capture(path) as r:
        return [(rec.ts_ns, rec.data, rec.wirelen, rec.linktype) for rec in r]


def _tcpdump_w(src: Path, out: Path, expr: str, *extra: str) -> None:
    subprocess.run(
        ["tcpdump", *extra, "-r", str(src), "-w", str(out), expr],
        check=True,
        capture_output=True,
    )


def _blocks(path: Path) -> list[bytes]:
    """The blocks of a little-endian pcapng file, as bytes."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos < len(data):
        blen = struct.unpack_from("<I", data, pos + 4)[0]
        out.append(data[pos : pos + blen])
        pos += blen
    return out


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_w_writes_the_very_file_tcpdump_w_writes(
    expr: str, mix: Path, tmp_path: Path, require_tool
) -> None:
    require_tool("tcpdump")
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    assert main(["read", "-w", str(ours), str(mix), expr]) == 0
    _tcpdump_w(mix, theirs, expr)
    assert ours.read_bytes() == theirs.read_bytes()
    assert len(_records(ours)) > 0 or expr == "vlan and ip"


def test_w_keeps_nanoseconds_as_tcpdump_nano_does(tmp_path: Path, require_tool) -> None:
    require_tool("tcpdump")
    src = CAPTURES / "nanosecond.pcap"
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    assert main(["read", "-w", str(ours), str(src), "udp"]) == 0
    _tcpdump_w(src, theirs, "udp", "--time-stamp-precision=nano")
    assert ours.read_bytes() == theirs.read_bytes()
    assert ours.read_bytes() == src.read_bytes()  # every packet is UDP: the file itself


def test_a_big_endian_pcap_is_copied_in_its_own_byte_order(tmp_path: Path) -> None:
    src = tmp_path / "be.pcap"
    frames = [b"\x00" * 12 + b"\x08\x00" + bytes(range(i, i + 40)) for i in range(6)]
    head = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    recs = [struct.pack(">IIII", 1000 + i, i, len(f), len(f) + i) + f for i, f in enumerate(frames)]
    src.write_bytes(head + b"".join(recs))
    out = tmp_path / "out.pcap"
    assert main(["read", "-w", str(out), str(src), "len > 56"]) == 0  # wire lengths 54 + i
    assert out.read_bytes() == head + b"".join(r for i, r in enumerate(recs) if i > 2)


def test_pcapng_keeps_every_block_but_the_unselected_packets(tmp_path: Path, require_tool) -> None:
    """The section header, interface blocks and packet comments stay, byte for byte;
    the selection is tcpdump's."""
    require_tool("editcap")
    src = tmp_path / "commented.pcapng"
    # editcap adds a comment to frame 2 (and writes its own section header options)
    subprocess.run(
        ["editcap", "-a", "2:a comment on frame 2", str(CAPTURES / "mixed.pcapng"), str(src)],
        check=True,
        capture_output=True,
    )
    ours, theirs = tmp_path / "ours.pcapng", tmp_path / "theirs.pcap"
    assert main(["read", "-w", str(ours), str(src), "tcp"]) == 0
    _tcpdump_w(src, theirs, "tcp")
    # the same records as tcpdump selects (tcpdump writes microseconds)
    got = [(ts // 1000, d, w) for ts, d, w, _ in _records(ours)]
    assert got == [(ts // 1000, d, w) for ts, d, w, _ in _records(theirs)]
    # every block of the input that is not a rejected packet, unchanged and in order
    selected = {d for _, d, _, _ in _records(ours)}
    expected = [
        b
        for b in _blocks(src)
        if struct.unpack_from("<I", b)[0] != 6
        or b[28 : 28 + struct.unpack_from("<I", b, 20)[0]] in selected
    ]
    assert _blocks(ours) == expected
    comments = subprocess.run(
        ["tshark", "-r", str(ours), "-T", "fields", "-e", "frame.comment"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "a comment on frame 2" in comments


def test_w_dash_writes_stdout_for_tcpdump_r_dash(mix: Path, require_tool) -> None:
    require_tool("tcpdump")
    expr = "tcp and port 80"
    ours = subprocess.run(
        f"{sys.executable} -m netdiag read -w - {mix} '{expr}' | tcpdump -nr -",
        shell=True,
        capture_output=True,
        text=True,
        env={**UTC_ENV, "PYTHONPATH": str(ROOT)},
        check=True,
    ).stdout
    theirs = subprocess.run(
        ["tcpdump", "-nr", str(mix), expr], capture_output=True, text=True, env=UTC_ENV, check=True
    ).stdout
    assert ours == theirs and ours.count("\n") > 50


def _two_tied_files(tmp_path: Path) -> tuple[Path, Path]:
    """Two pcaps whose timestamps interleave and tie (ties: mergecap takes the later file)."""
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    t0 = 1_700_000_000 * 10**9
    with open_writer(a, 1) as w:
        for k in (0, 2, 2, 5, 9):
            w.write(b"A" * 12 + b"\x08\x00" + bytes((k,)) * 30, t0 + k * 1000)
    with open_writer(b, 1) as w:
        for k in (1, 2, 3, 9, 10):
            w.write(b"B" * 12 + b"\x08\x00" + bytes((k,)) * 31, t0 + k * 1000)
    return a, b


@pytest.mark.parametrize("fmt", ["pcapng", "pcap"])
def test_several_files_merge_in_mergecaps_order(fmt: str, tmp_path: Path, require_tool) -> None:
    require_tool("mergecap")
    a, b = _two_tied_files(tmp_path)
    inputs = [str(a), str(b), str(CAPTURES / "tcp-handshake.pcap"), str(CAPTURES / "vlan.pcap")]
    ours, theirs = tmp_path / f"ours.{fmt}", tmp_path / f"theirs.{fmt}"
    assert main(["read", "-w", str(ours), *inputs]) == 0
    subprocess.run(["mergecap", "-F", fmt, "-w", str(theirs), *inputs], check=True)
    assert _records(ours) == _records(theirs)
    if fmt == "pcap":
        # mergecap writes microseconds, as we do when every input has them
        assert ours.read_bytes()[24:] == theirs.read_bytes()[24:]


def test_merged_pcapng_interfaces_come_from_each_file(tmp_path: Path, require_tool) -> None:
    require_tool("tshark")
    out = tmp_path / "m.pcapng"
    files = [CAPTURES / "two-interfaces.pcapng", CAPTURES / "sll2.pcap", CAPTURES / "mixed.pcapng"]
    assert main(["read", "-w", str(out), *map(str, files)]) == 0
    got = _records(out)
    assert sorted(got, key=lambda r: r[0]) == got
    assert sorted(got) == sorted(r for f in files for r in _records(f))
    tshark = subprocess.run(
        ["tshark", "-r", str(out), "-T", "fields", "-e", "frame.len"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(x) for x in tshark] == [w for _, _, w, _ in got]


@pytest.mark.parametrize(
    ("since", "until", "a", "b"),
    [
        (
            "1700000000.02",
            "1700000000.041003",
            "2023-11-14 22:13:20.02",
            "2023-11-14 22:13:20.041003",
        ),
        ("2023-11-14T22:13:20.040002Z", None, "2023-11-14 22:13:20.040002", None),
        (None, "2023-11-14T23:13:20.040002+01:00", None, "2023-11-14 22:13:20.040002"),
    ],
)
def test_since_and_until_select_what_editcap_a_and_b_select(
    since: str | None, until: str | None, a: str | None, b: str | None, tmp_path: Path, require_tool
) -> None:
    require_tool("editcap")
    src = CAPTURES / "tcp-handshake.pcap"
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    argv = ["read", "-w", str(ours), str(src)]
    argv += ["--since", since] if since else []
    argv += ["--until", until] if until else []
    assert main(argv) == 0
    cmd = ["editcap", *(["-A", a] if a else []), *(["-B", b] if b else []), str(src), str(theirs)]
    subprocess.run(["editcap", "-F", "pcap", *cmd[1:]], check=True, env=UTC_ENV)
    assert _records(ours) == _records(theirs)
    assert 0 < len(_records(ours)) < len(_records(src))


def test_c_stops_after_n_written_packets(mix: Path, tmp_path: Path, require_tool) -> None:
    require_tool("tcpdump")
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    assert main(["read", "-c", "7", "-w", str(ours), str(mix), "udp"]) == 0
    _tcpdump_w(mix, theirs, "udp", "-c", "7")
    assert ours.read_bytes() == theirs.read_bytes()


def test_a_damaged_file_writes_what_was_read_and_exits_1(
    mix: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(mix.read_bytes()[:50_000])
    out = tmp_path / "out.pcap"
    assert main(["read", "-w", str(out), str(cut)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "truncated record" in err[0]
    whole = _records(mix)
    got = _records(out)
    assert got == whole[: len(got)] and len(got) > 100


def test_since_and_until_on_pcapng_select_what_editcap_selects(
    tmp_path: Path, require_tool
) -> None:
    require_tool("editcap")
    src = CAPTURES / "mixed.pcapng"
    ours, theirs = tmp_path / "ours.pcapng", tmp_path / "theirs.pcapng"
    argv = ["read", "-w", str(ours), "--since", "2023-11-14T22:13:22Z", "--until"]
    assert main([*argv, "1700000010", str(src), "tcp"]) == 0
    subprocess.run(
        [
            "editcap",
            "-A",
            "2023-11-14 22:13:22",
            "-B",
            "2023-11-14 22:13:30",
            str(src),
            str(theirs),
        ],
        check=True,
        env=UTC_ENV,
    )
    everything = _records(theirs)
    tcp = [r for r in everything if r[1][12:14] == b"\x08\x00" and r[1][23] == 6]
    tcp += [r for r in everything if r[1][12:14] == b"\x86\xdd" and r[1][20] == 6]
    assert sorted(_records(ours)) == sorted(tcp) and 0 < len(tcp) < len(everything)


@pytest.mark.parametrize("expr", ["tcp port 80 or udp", "ip6 or arp or vlan"])
def test_corpus_files_select_what_tcpdump_selects(
    expr: str, tmp_path: Path, require_tool, require_corpus
) -> None:
    """Every corpus file tcpdump filters with ``expr``: the same records, data and wire
    lengths (timestamps are compared byte for byte above: here libpcap reinterprets
    the invalid ones of the fuzzed files, which we copy as they are)."""
    require_tool("tcpdump")
    corpus = require_corpus("tcpdump-tests")
    compared = selected = 0
    for src in sorted(corpus.glob("*.pcap*")):
        theirs = tmp_path / "theirs.pcap"
        done = subprocess.run(
            ["tcpdump", "-r", str(src), "-w", str(theirs), expr], capture_output=True
        )
        if done.returncode != 0 or not theirs.exists():
            continue  # a link type tcpdump does not filter on, or a file it refuses
        ours = tmp_path / "ours.pcap"
        status = main(["read", "-w", str(ours), str(src), expr])
        want = [(d, w) for _, d, w, _ in _records(theirs)]
        if status != 0:  # damaged further on (1), or cannot be pcap (2: after 2106)
            assert status in (1, 2), src.name
            continue
        # libpcap cuts a record longer than the file's snaplen when it reads it (so
        # tcpdump -w loses those bytes); we copy records as they are
        with read_capture(src) as r:
            cut = r.snaplen if r.format == "pcap" and 0 < r.snaplen <= 262144 else 262144
        got = [(d[:cut], w) for _, d, w, _ in _records(ours)]
        assert got == want, src.name
        compared += 1
        selected += len(got)
    assert compared > 300 and selected > 1000


@pytest.mark.parametrize(
    ("expr", "display"), [("ip", "ip"), ("udp or tcp", "udp or tcp"), ("ip6", "ipv6")]
)
def test_each_interface_of_a_pcapng_is_filtered_for_its_own_link_type(
    expr: str, display: str, capsys: pytest.CaptureFixture[str], require_tool
) -> None:
    """Ethernet and raw IP interfaces in one file (tcpdump cannot read it; tshark's
    display filter is the reference for the frame numbers)."""
    require_tool("tshark")
    src = str(CAPTURES / "two-interfaces.pcapng")
    assert main(["read", "--json", src, expr]) == 0
    import json

    got = [json.loads(line)["n"] for line in capsys.readouterr().out.splitlines()]
    want = subprocess.run(
        ["tshark", "-r", src, "-Y", display, "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert got == [int(x) for x in want] and got


def test_w_without_a_filter_reproduces_every_corpus_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], require_corpus
) -> None:
    """Same format in and out, nothing rejected: the file itself, byte for byte (for a
    file damaged further on, exit 1 and its bytes up to the last good record)."""
    corpus = require_corpus("tcpdump-tests")
    copied = damaged = 0
    for src in sorted(corpus.iterdir()):
        kind = "pcapng" if src.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a" else "pcap"
        out = tmp_path / f"out.{kind}"
        status = main(["read", "-w", str(out), str(src)])
        capsys.readouterr()
        if status == 2:  # not a capture at all (or its header is bad): nothing to copy
            continue
        data, copy = src.read_bytes(), out.read_bytes()
        if status == 0:
            assert copy == data, src.name
            copied += 1
        else:
            assert status == 1 and data.startswith(copy), src.name
            damaged += 1
    assert copied + damaged > 600  # damage further on: test_a_damaged_file_... above


@pytest.mark.parametrize("name", ["nanosecond.pcap", "tcp-handshake.pcap"])
def test_a_pcap_written_as_pcapng_keeps_its_resolution(
    name: str, tmp_path: Path, require_tool
) -> None:
    require_tool("tshark")
    src = CAPTURES / name
    out = tmp_path / "out.pcapng"
    assert main(["read", "-w", str(out), str(src)]) == 0
    assert _records(out) == _records(src)
    theirs = subprocess.run(
        ["tshark", "-r", str(out), "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    digits = 9 if name.startswith("nano") else 6
    assert [f"{ts // 10**9}.{ts % 10**9:09d}"[: 11 + digits] for ts, *_ in _records(src)] == [
        t[: 11 + digits] for t in theirs
    ]


def test_header_blocks_beyond_the_first_read_are_printed_but_not_copied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def block(btype: int, body: bytes) -> bytes:
        return struct.pack("<II", btype, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    # an interface block of 2 MiB (32 comments of 64 KiB): past the 1 MiB first read
    chunk = b"y" * 65532
    comments = b"".join(struct.pack("<HH", 1, len(chunk)) + chunk for _ in range(32))
    idb = struct.pack("<HHI", 1, 0, 0) + comments + struct.pack("<HH", 0, 0)
    frame = b"\x02" * 12 + b"\x08\x00" + bytes(40)
    epb = (
        struct.pack("<IIIII", 0, 0, 1, len(frame), len(frame)) + frame + b"\x00" * (-len(frame) % 4)
    )
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    src = tmp_path / "big-idb.pcapng"
    src.write_bytes(block(0x0A0D0D0A, shb) + block(1, idb) + block(6, epb))
    assert main(["read", "-tt", str(src)]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    out = tmp_path / "out.pcapng"
    assert main(["read", "-w", str(out), str(src)]) == 2
    assert "too large to copy" in capsys.readouterr().err
    assert main(["read", "-w", str(tmp_path / "out.pcap"), str(src)]) == 0
    assert _records(tmp_path / "out.pcap") == _records(src)
