"""``tcp analyze`` against tshark 4.0's TCP analysis, on the generated captures
(captures/make_tcp_captures.py), the sample captures and the public corpus.

Per packet, every ``tcp.analysis.*`` flag, ``duplicate_ack_num``, ``ack_rtt`` and
``bytes_in_flight`` must be tshark's; per connection, the counts must be the sums
of tshark's flags, the packets and bytes each way tshark's, and the handshake
RTT tshark's ``tcp.analysis.initial_rtt``.

Over the whole public corpus (80 files with TCP, 1178 analysed frames, compared
once by hand: it takes minutes), every frame agrees but those of the two files
with impossible timestamps (``timestamp_invalid_*``: microseconds past 10^6,
which the capture reader takes otherwise than tshark). tshark analyses 37 more
frames netdiag does not decode as TCP: ARCnet links, GRE tunnels, BIG TCP
(IPv4 length 0), TCP headers cut short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from netdiag.tcpanalysis.analyze import analyze
from netdiag.tcpanalysis.flags import FLAG_FIELDS

sys.path.insert(0, str(Path(__file__).parent))
from tcpan_oracle import differences, our_analysis, tshark_analysis  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
GENERATED = ["tcp/tcp-wrap.pcap", "tcp/tcp-zerowin.pcap", "tcp/tcp-keepalive.pcap"]
SAMPLES = [*GENERATED, "tcp-handshake.pcap", "mixed.pcapng", "sll2.pcap"]


def netdiag(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netdiag", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def tshark_totals(tshark: str, path: str) -> dict[tuple[int, int], list[int]]:
    """(stream, source port) -> [packets, bytes] from tshark's own dissection (the
    first TCP header of a frame: OpenFlow, say, carries more inside)."""
    out = subprocess.run(
        [tshark, "-r", path, "-n", "-Y", "tcp and not icmp and not icmpv6", "-T", "fields",
         "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "frame.len", "-E", "occurrence=f"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    totals: dict[tuple[int, int], list[int]] = {}
    for line in out.splitlines():
        stream, port, length = line.split("\t")
        t = totals.setdefault((int(stream), int(port)), [0, 0])
        t[0] += 1
        t[1] += int(length)
    return totals


def tshark_initial_rtts(tshark: str, path: str) -> dict[int, float]:
    out = subprocess.run(
        [tshark, "-r", path, "-n", "-Y", "tcp.analysis.initial_rtt", "-T", "fields",
         "-e", "tcp.stream", "-e", "tcp.analysis.initial_rtt"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    found: dict[int, float] = {}
    for line in out.splitlines():
        stream, rtt = line.split("\t")
        found.setdefault(int(stream), float(rtt))
    return found


def assert_like_tshark(tshark: str, path: Path) -> None:
    theirs = tshark_analysis(tshark, str(path))
    ours, a = our_analysis(str(path))
    assert differences(theirs, ours) == []
    # per connection: our counts are tshark's flags summed over the stream
    sums: dict[int, Counter[str]] = {}
    for d in theirs.values():
        sums.setdefault(int(d["stream"]), Counter()).update(k for k, v in d.items() if v is True)
    assert len(a.connections) == len(sums) or not sums
    for c in a.connections:
        expected = sums.get(c.stream, Counter())
        for _, key, _, _ in FLAG_FIELDS:
            mine = c.counts[key]
            if key == "retransmission":  # tshark also marks fast and spurious ones
                mine += c.counts["fast_retransmission"] + c.counts["spurious_retransmission"]
            assert mine == expected[key], (c.stream, key)
    totals = tshark_totals(tshark, str(path))
    for c in a.connections:
        for d in (c.a, c.b):
            assert [d.packets, d.bytes] == totals.get((c.stream, d.port), [0, 0])
    rtts = tshark_initial_rtts(tshark, str(path))
    assert {c.stream: c.initial_rtt_ms for c in a.connections if c.initial_rtt_ms} == {
        s: pytest.approx(v * 1e3, abs=1e-6) for s, v in rtts.items()
    }


@pytest.mark.parametrize("name", SAMPLES)
def test_every_flag_and_figure_is_tsharks(name, require_tool):
    assert_like_tshark(require_tool("tshark"), CAPTURES / name)


def test_the_generated_captures_show_each_case():
    """The staged cases are really in the files (so the comparison above covers them)."""
    seen: Counter[str] = Counter()
    for name in GENERATED:
        for p in analyze(str(CAPTURES / name)).packets:
            seen.update(p.names)
    for key in ("retransmission", "fast_retransmission", "spurious_retransmission",
                "out_of_order", "lost_segment", "ack_lost_segment", "duplicate_ack",
                "zero_window", "zero_window_probe", "zero_window_probe_ack", "window_full",
                "window_update", "keep_alive", "keep_alive_ack", "reused_ports"):  # fmt: skip
        assert seen[key] > 0, key


def test_sequence_numbers_wrap():
    """tcp-wrap.pcap: both ISNs just below 2^32; the figures stay those of a short
    transfer (a wrap read as a jump would make gigabytes in flight)."""
    (c,) = analyze(str(CAPTURES / "tcp/tcp-wrap.pcap")).connections
    assert c.a.payload_bytes == 100 + 8 * 1000 - 1000 + 1000 + 3 * 1000 + 2 * 500
    assert 0 < c.a.max_bytes_in_flight <= 8000
    assert c.a.goodput_bps is not None and c.a.goodput_bps < 1e6
    assert c.b.sack_blocks == 4 and c.b.dsack_blocks == 0
    assert c.end == "FIN"


def test_zero_window_time_and_rst_end():
    (c,) = analyze(str(CAPTURES / "tcp/tcp-zerowin.pcap")).connections
    assert c.b.zero_window_s == pytest.approx(0.580)  # from 20 ms to the update at 600 ms
    assert c.end == "RST" and c.a.rst and not c.b.rst


def test_ports_reused_start_a_new_connection():
    conns = analyze(str(CAPTURES / "tcp/tcp-keepalive.pcap")).connections
    assert [(c.stream, c.end) for c in conns] == [(0, "FIN"), (1, "RST")]
    assert conns[1].counts["reused_ports"] == 1


def test_the_generator_is_deterministic(tmp_path):
    subprocess.run([sys.executable, str(CAPTURES / "make_tcp_captures.py"), str(tmp_path)],
                   check=True, timeout=60)  # fmt: skip
    for name in GENERATED:
        got = tmp_path / Path(name).name
        assert got.read_bytes() == (CAPTURES / name).read_bytes(), name


def test_cli_table_and_json():
    r = netdiag("tcp", "analyze", str(CAPTURES / "tcp/tcp-wrap.pcap"), "--packets")
    assert r.returncode == 0, r.stderr
    assert "[TCP Fast Retransmission]" in r.stdout and "[TCP Dup ACK #3]" in r.stdout
    assert "41000" in r.stdout and "FIN" in r.stdout
    r = netdiag("tcp", "analyze", "--json", "--packets", str(CAPTURES / "tcp/tcp-zerowin.pcap"))
    j = json.loads(r.stdout)
    assert sorted(j) == ["connections", "frames", "packets", "segments"]
    (c,) = j["connections"]
    assert c["end"] == "RST" and c["counts"]["zero_window"] == 2
    assert {"address", "port", "packets", "bytes", "retransmission_rate", "goodput_bps",
            "ack_rtt_mean_ms", "max_bytes_in_flight", "zero_window_s"} <= set(c["a"])  # fmt: skip


def test_a_filter_selects_the_segments():
    r = netdiag("tcp", "analyze", "--json", str(CAPTURES / "mixed.pcapng"), "port", "80")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert [c["b"]["port"] for c in j["connections"]] == [80]


def test_bad_input_is_one_line_and_status_2(tmp_path):
    for args in (["tcp", "analyze", str(tmp_path / "missing.pcap")],
                 ["tcp", "analyze", str(CAPTURES / "tcp/tcp-wrap.pcap"), "port", "("],
                 ["tcp", "analyze"], ["tcp"]):  # fmt: skip
        r = netdiag(*args)
        assert r.returncode == 2, args
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr


def test_a_damaged_file_is_analysed_up_to_the_damage(tmp_path):
    data = (CAPTURES / "tcp/tcp-wrap.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 30])
    r = netdiag("tcp", "analyze", str(cut))
    assert r.returncode == 1
    assert "29 TCP segments in 1 connections" in r.stdout
    assert r.stderr.startswith("netdiag: ") and r.stderr.count("\n") == 1


def test_the_whole_corpus_goes_through_without_a_traceback(require_corpus):
    corpus = require_corpus("tcpdump-tests")
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    code = (
        "import sys\n"
        "from netdiag.tcpanalysis.analyze import analyze\n"
        "from netdiag.tcpanalysis.render import analysis_json, connections_table\n"
        "from netdiag.errors import NetdiagError\n"
        "for f in sys.argv[1:]:\n"
        "    try:\n"
        "        a = analyze(f)\n"
        "    except NetdiagError:\n"
        "        continue\n"
        "    connections_table(a.connections); analysis_json(a, True)\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    r = subprocess.run([sys.executable, "-c", code, *map(str, files)], capture_output=True,
                       text=True, timeout=300, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]


# The corpus files with the most TCP analysis in them (the whole corpus agrees with
# tshark, but comparing all of it takes minutes; see the module's note).
CORPUS_TCP = ["of13_ericsson.pcapng", "pptp.pcap", "mptcp-v0.pcap", "bgp-role.pcapng",
              "kday7.pcap"]  # fmt: skip


@pytest.mark.parametrize("name", CORPUS_TCP)
def test_corpus_files_are_analysed_as_tshark_does(name, require_corpus, require_tool):
    assert_like_tshark(require_tool("tshark"), require_corpus("tcpdump-tests") / name)
