"""Crash-freedom of the application layer's rendering: any payload on any
application port, and damaged reference messages, go through the line, the
``-v`` tree and JSON without raising (a payload that does not decode is shown with
its reason)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.capture.files import read_capture
from netdiag.inspect.apptext import app_fields
from netdiag.inspect.packetjson import packet_json
from netdiag.inspect.text import TextFormatter
from netdiag.inspect.tree import tree_lines
from netdiag.metrics.appstats import DnsSummaryAccumulator
from netdiag.packets import app, ethernet, ipv4, tcp, udp
from netdiag.packets.dispatch import decode

CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "app"


def _payloads() -> list[tuple[str, bytes]]:
    out = []
    for name in ("scapy.pcap", "lab.pcap"):
        with read_capture(str(CAPTURES / name)) as reader:
            for rec in reader:
                p = decode(rec.data, rec.linktype)
                t = p.udp or p.tcp
                proto = None if t is None else app.protocol_for(t.name, t.sport, t.dport)
                if proto is not None and t is not None and t.end > t.payload_offset:
                    out.append((proto, bytes(p.data[t.payload_offset : t.end])))
    return out


REFS = _payloads()

FUZZ = settings(max_examples=300, deadline=None)
UDP_PORTS = sorted(app.UDP_PORTS)
TCP_PORTS = sorted(app.TCP_PORTS)
A, B = "192.0.2.1", "192.0.2.2"


def frame(transport: str, port: int, payload: bytes, sport: int = 40000) -> bytes:
    if transport == "udp":
        seg, proto = udp.build(sport, port, payload, src=A, dst=B), 17
    else:
        seg = tcp.build(sport, port, flags=0x18, payload=payload, src=A, dst=B)
        proto = 6
    return ethernet.build("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800,
                          ipv4.build(A, B, proto, seg))  # fmt: skip


def render(data: bytes) -> None:
    p = decode(data, 1)
    TextFormatter().line(0, p, len(data))
    tree_lines(p)
    json.loads(packet_json(1, 0, p, len(data)))
    f = app_fields(p)
    assert f is None or f["layer"] in app.DISSECTORS
    DnsSummaryAccumulator().add(p, 0)


@FUZZ
@given(st.sampled_from(UDP_PORTS), st.binary(max_size=400))
def test_any_udp_payload_on_an_application_port_renders(port: int, payload: bytes) -> None:
    render(frame("udp", port, payload))


@FUZZ
@given(st.sampled_from(TCP_PORTS), st.binary(max_size=400))
def test_any_tcp_payload_on_an_application_port_renders(port: int, payload: bytes) -> None:
    render(frame("tcp", port, payload))


_PORT = {"dns": 53, "mdns": 5353, "llmnr": 5355, "dhcp": 67, "dhcp6": 547, "ntp": 123,
         "dns-tcp": 53, "http": 80}  # fmt: skip


@FUZZ
@given(st.sampled_from(REFS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                       min_size=1, max_size=6))  # fmt: skip
def test_damaged_reference_messages_render(ref: tuple[str, bytes], flips: list) -> None:
    name, raw = ref
    buf = bytearray(raw)
    for at, value in flips:
        buf[at % len(buf)] = value
    transport = "tcp" if name in ("dns-tcp", "http") else "udp"
    render(frame(transport, _PORT[name], bytes(buf)))
