"""The -v tree, the -x hex dump, JSON lines and the capture statistics."""

from __future__ import annotations

import json

from render_samples import A4, B4, R4, SAMPLES, T0_NS

from netdiag.inspect.hexdump import hex_lines
from netdiag.inspect.packetjson import packet_json
from netdiag.inspect.stats import stats_dict, stats_text
from netdiag.inspect.tree import tree_lines
from netdiag.metrics.capstats import CaptureStatsAccumulator
from netdiag.packets import Packet, decode
from netdiag.render.jsonout import to_json


def _packet(name: str) -> Packet:
    lt, frame = next((lt, f) for n, lt, f in SAMPLES if n == name)
    return decode(frame, lt)


# -- tree ---------------------------------------------------------------------------------


def test_tree_lists_every_layer_with_checksum_verdicts() -> None:
    lines = tree_lines(_packet("tcp syn"))
    assert lines[0].startswith("    ethernet: src 02:00:00:00:00:01, dst 02:00:00:00:00:02")
    assert "type IPv4 (0x0800)" in lines[0]
    assert lines[1].startswith(f"    ipv4: src {A4}, dst {B4}, proto 6 (TCP), ttl 64")
    assert "checksum 0xab93 [correct]" in lines[1]
    assert lines[2].startswith("    tcp: sport 45678, dport 80, seq 1000, ack 0, flags S")
    assert "[correct]" in lines[2]
    assert "        options:" in lines
    assert "            mss: kind 2, value 1460" in lines
    assert "            TS: kind 8, value [1, 0]" in lines


def test_tree_marks_a_bad_checksum_incorrect_and_a_partial_one_unverified() -> None:
    lt, frame = next((lt, f) for n, lt, f in SAMPLES if n == "udp")
    bad = bytearray(frame)
    bad[-1] ^= 0xFF  # payload byte: the UDP checksum no longer matches
    udp_line = next(x for x in tree_lines(decode(bytes(bad), lt)) if "udp:" in x)
    assert udp_line.endswith("[incorrect]")
    cut = decode(frame[:-2], lt)  # captured short: cannot be judged
    assert next(x for x in tree_lines(cut) if "udp:" in x).endswith("[unverified]")


def test_tree_shows_the_quoted_datagram_and_mpls_labels_below_the_icmp_layer() -> None:
    lines = tree_lines(_packet("icmp time exceeded mpls"))
    text = "\n".join(lines)
    assert "    icmp: type 11, code 0, checksum" in text
    assert "        quoted:\n            ipv4: src 198.18.0.1, dst 198.18.3.2" in text
    assert "            udp: sport 45000, dport 33434" in text
    assert "        extensions: version 2, checksum [correct]" in text
    assert "                mpls: label 16004, tc 0, s true, ttl 1" in text
    assert lines[0].startswith("    ethernet") and f"src {R4}" in lines[1]


def test_tree_ends_with_the_decode_error() -> None:
    lines = tree_lines(_packet("truncated tcp"))
    assert lines[-1] == "    [malformed: tcp: truncated: needed 20 bytes, got 12 (at byte 34)]"


# -- hex ----------------------------------------------------------------------------------


def test_hex_lines_have_tcpdump_layout() -> None:
    assert hex_lines(bytes(range(19))) == [
        "\t0x0000:  0001 0203 0405 0607 0809 0a0b 0c0d 0e0f",
        "\t0x0010:  1011 12",
    ]
    assert hex_lines(b"") == []


# -- JSON ---------------------------------------------------------------------------------


def test_json_line_has_position_time_lengths_layers_and_error_only_when_malformed() -> None:
    good = json.loads(packet_json(3, T0_NS, _packet("icmp echo request"), 98))
    assert good["n"] == 3 and good["ts"] == 1700000000.123456
    assert good["caplen"] == 98 and good["len"] == 98
    assert [x["layer"] for x in good["layers"]] == ["ethernet", "ipv4", "icmp"]
    assert "error" not in good
    bad = json.loads(packet_json(1, T0_NS, _packet("truncated tcp"), 54))
    assert bad["error"] == "tcp: truncated: needed 20 bytes, got 12 (at byte 34)"


def test_every_sample_is_strict_json() -> None:
    for _name, lt, frame in SAMPLES:
        line = packet_json(1, T0_NS, decode(frame, lt), len(frame))
        json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))


def test_json_turns_bytes_into_hex_and_tuples_into_lists() -> None:
    assert json.loads(to_json({"b": b"\x01\xff", "t": (1, (2, 3))})) == {
        "b": "01ff",
        "t": [1, [2, 3]],
    }


# -- statistics ---------------------------------------------------------------------------


def _stats() -> CaptureStatsAccumulator:
    acc = CaptureStatsAccumulator()
    for i, (_name, lt, frame) in enumerate(SAMPLES):
        acc.add(decode(frame, lt), len(frame), T0_NS + i * 1000)
    return acc


def test_hierarchy_nests_layers_and_counts_every_prefix() -> None:
    s = _stats().result()
    rows = {n.path: (n.packets, n.bytes) for n in s.hierarchy}
    eth = [f for _n, lt, f in SAMPLES if lt == 1]
    assert rows[("ethernet",)] == (len(eth), sum(map(len, eth)))
    assert rows[("ethernet", "vlan", "ipv4", "icmp")][0] == 1
    assert rows[("ethernet", "vlan", "vlan", "ipv4", "udp")][0] == 1
    assert rows[("ethernet", "ipv4", "malformed")][0] == 1  # the truncated TCP segment
    assert rows[("linktype-147",)] == (1, 4)
    assert s.malformed == 1
    assert s.packets == len(SAMPLES)
    # depth-first: every row follows its parent
    seen: set[tuple[str, ...]] = set()
    for n in s.hierarchy:
        assert len(n.path) == 1 or n.path[:-1] in seen
        seen.add(n.path)


def test_conversations_are_per_address_pair_with_both_directions() -> None:
    s = _stats().result(top=None)
    conv = {(c.a, c.b): c for c in s.conversations}
    c = conv[(A4, B4)]
    assert c.packets_ab > 0 and c.packets_ba > 0
    assert c.packets == c.packets_ab + c.packets_ba and c.bytes == c.bytes_ab + c.bytes_ba
    assert [x.bytes for x in s.conversations] == sorted(
        (x.bytes for x in s.conversations), reverse=True
    )
    assert len(_stats().result(top=2).conversations) == 2


def test_stats_render_as_tables_and_as_one_json_object() -> None:
    s = _stats().result()
    text = stats_text(s)
    assert "Protocol hierarchy" in text and "IP conversations" in text
    assert ". ipv4" in text and "Malformed packets" in text
    d = json.loads(to_json(stats_dict(s)))
    assert d["packets"] == len(SAMPLES) and d["malformed"] == 1
    assert d["hierarchy"][0]["path"] == ["ethernet"]
    assert {"a", "b", "packets", "bytes", "packets_ab", "bytes_ba"} <= set(d["conversations"][0])


def test_empty_stats() -> None:
    s = CaptureStatsAccumulator().result()
    assert s.packets == 0 and s.duration == 0.0
    assert "(no packets)" in stats_text(s)
