"""The application dissectors (DNS, DHCP, DHCPv6, NTP, HTTP): against scapy, cut
at every offset, fuzzed, and built then decoded.

Reference messages are the UDP/TCP payloads of ``captures/app/scapy.pcap``
(crafted by scapy) and ``captures/app/lab.pcap`` (dig and curl against local
servers), so every case was written by something other than netdiag.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP
from scapy.layers.dns import DNS
from scapy.layers.ntp import NTP

from netdiag import DecodeError, MalformedError, TruncatedError
from netdiag.capture.files import read_capture
from netdiag.packets import app, dhcp, dhcp6, dns, http, ntp
from netdiag.packets.addr import ip_text
from netdiag.packets.dispatch import decode as decode_frame

CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "app"
FUZZ = settings(max_examples=300, deadline=None)


def payloads(name: str) -> list[tuple[str, bytes]]:
    """(protocol, payload) of every UDP/TCP packet with a payload on an application port."""
    out = []
    with read_capture(str(CAPTURES / name)) as reader:
        for rec in reader:
            p = decode_frame(rec.data, rec.linktype)
            t = p.udp or p.tcp
            if t is None:
                continue
            proto = app.protocol_for(t.name, t.sport, t.dport)
            body = bytes(p.data[t.payload_offset : t.end])
            if proto is not None and body:
                out.append((proto, body))
    return out


REFS = payloads("scapy.pcap") + payloads("lab.pcap")
MODULE = {"dns": dns.decode, "mdns": dns.decode, "llmnr": dns.decode,
          "dns-tcp": dns.decode_tcp, "dhcp": dhcp.decode, "dhcp6": dhcp6.decode,
          "ntp": ntp.decode, "http": http.decode}  # fmt: skip


def refs(*names: str) -> list[bytes]:
    return [b for n, b in REFS if n in names]


def test_the_reference_captures_hold_every_protocol() -> None:
    assert {n for n, _ in REFS} >= {"dns", "mdns", "llmnr", "dns-tcp", "dhcp", "dhcp6", "ntp",
                                    "http"}  # fmt: skip


# -- against scapy --------------------------------------------------------------------


@pytest.mark.parametrize("raw", refs("dns", "mdns", "llmnr"))
def test_dns_fields_agree_with_scapy(raw: bytes) -> None:
    ref = DNS(raw)
    m = dns.decode(raw)
    assert (m.id, m.qr, m.opcode, m.rcode & 0xF) == (ref.id, ref.qr, ref.opcode, ref.rcode)
    assert (m.qdcount, m.ancount, m.nscount, m.arcount) == (
        ref.qdcount, ref.ancount, ref.nscount, ref.arcount)  # fmt: skip
    assert [q.name for q in m.questions] == [q.qname.decode() for q in ref.qd]
    for mine, theirs in zip(m.answers, ref.an, strict=True):
        assert mine.name == theirs.rrname.decode()
        assert mine.rtype == theirs.type
        if mine.rtype in (1, 28):
            assert mine.data == theirs.rdata
        if mine.rtype in (5, 2, 12):
            assert mine.data == theirs.rdata.decode()


@pytest.mark.parametrize("raw", refs("dhcp"))
def test_dhcp_fields_agree_with_scapy(raw: bytes) -> None:
    ref = BOOTP(raw)
    m = dhcp.decode(raw)
    assert (m.op, m.xid, m.yiaddr, m.giaddr, m.hops) == (ref.op, ref.xid, ref.yiaddr,
                                                         ref.giaddr, ref.hops)  # fmt: skip
    assert m.chaddr[:6] == bytes(ref.chaddr)[:6]
    opts = {o[0]: o[1] for o in ref["DHCP"].options if isinstance(o, tuple)}
    assert m.message_type == opts["message-type"]


@pytest.mark.parametrize("raw", refs("ntp"))
def test_ntp_fields_agree_with_scapy(raw: bytes) -> None:
    ref = NTP(raw)
    m = ntp.decode(raw)
    assert (m.version, m.mode, m.stratum, m.poll, m.precision) == (
        ref.version, ref.mode, ref.stratum, ref.poll, ref.precision)  # fmt: skip


def test_a_query_we_build_is_read_by_scapy() -> None:
    raw = dns.build_query("www.example.com", 28, ident=0x1A2B, udp_size=1232)
    ref = DNS(raw)
    assert (ref.id, ref.rd, ref.qd[0].qname, ref.qd[0].qtype) == (
        0x1A2B, 1, b"www.example.com.", 28)  # fmt: skip
    assert ref.ar[0].type == 41 and ref.ar[0].rclass == 1232


# -- truncation at every offset -------------------------------------------------------


@pytest.mark.parametrize("raw", refs("dns", "mdns", "llmnr"))
def test_a_dns_message_cut_anywhere_is_truncated(raw: bytes) -> None:
    for k in range(len(raw)):
        with pytest.raises(TruncatedError) as e:
            dns.decode(raw[:k])
        assert e.value.layer == "dns" and 0 <= e.value.offset <= k
    assert dns.decode(raw).length == len(raw)


@pytest.mark.parametrize("raw", refs("dns-tcp"))
def test_a_dns_tcp_message_cut_anywhere_is_truncated(raw: bytes) -> None:
    for k in range(len(raw)):
        with pytest.raises(TruncatedError):
            dns.decode_tcp(raw[:k])


@pytest.mark.parametrize("raw", refs("dhcp"))
def test_a_dhcp_message_cut_anywhere_is_truncated_or_keeps_a_prefix(raw: bytes) -> None:
    whole = dhcp.decode(raw)
    for k in range(len(raw)):
        try:
            m = dhcp.decode(raw[:k])
        except TruncatedError as e:
            assert e.layer == "dhcp"
            continue
        assert k >= dhcp.HEADER_LEN
        assert whole.options[: len(m.options)] == m.options  # cut between options


@pytest.mark.parametrize("raw", refs("dhcp6"))
def test_a_dhcp6_message_cut_anywhere_is_truncated_or_keeps_a_prefix(raw: bytes) -> None:
    whole = dhcp6.decode(raw)
    for k in range(len(raw)):
        try:
            m = dhcp6.decode(raw[:k])
        except TruncatedError as e:
            assert e.layer == "dhcp6"
            continue
        assert whole.options[: len(m.options)] == m.options


@pytest.mark.parametrize("raw", refs("ntp"))
def test_an_ntp_packet_cut_short_of_its_header_is_truncated(raw: bytes) -> None:
    for k in range(len(raw)):
        if k < ntp.HEADER_LEN:
            with pytest.raises(TruncatedError, match=f"needed {ntp.HEADER_LEN if k else 1}"):
                ntp.decode(raw[:k])
        else:
            assert ntp.decode(raw[:k]).trailer == raw[ntp.HEADER_LEN : k]


@pytest.mark.parametrize("raw", refs("http"))
def test_an_http_message_cut_anywhere_decodes_what_is_there(raw: bytes) -> None:
    whole = http.decode(raw)
    for k in range(len(raw)):
        m = http.decode(raw[:k])
        assert m.kind in (whole.kind, "data")
        assert whole.headers[: len(m.headers)] == m.headers


# -- hostile input --------------------------------------------------------------------


def test_a_compression_loop_stops() -> None:
    loop = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    with pytest.raises(MalformedError, match="does not point back"):
        dns.decode(loop)


def test_a_pointer_forward_or_past_the_end_is_malformed() -> None:
    fwd = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\xc0\x20\x00\x01\x00\x01"
    with pytest.raises(MalformedError, match="compression pointer to 32"):
        dns.decode(fwd)


def test_a_name_longer_than_255_bytes_is_malformed() -> None:
    name = (b"\x3f" + b"a" * 63) * 5 + b"\x00"
    msg = bytes.fromhex("1234 0100 0001 0000 0000 0000") + name + b"\x00\x01\x00\x01"
    with pytest.raises(MalformedError, match="longer than 255"):
        dns.decode(msg)


def test_a_record_count_beyond_the_message_is_truncated() -> None:
    raw = refs("dns")[0]
    lie = raw[:6] + b"\x00\x09" + raw[8:]
    with pytest.raises(TruncatedError):
        dns.decode(lie)


def test_dhcp6_relays_nested_deeply_stop() -> None:
    inner = dhcp6.build(1, 7)
    for _ in range(12):
        inner = bytes([12, 0]) + bytes(32) + dhcp6.build_option(9, inner)
    with pytest.raises(MalformedError, match="nested deeper"):
        dhcp6.decode(inner)


@pytest.mark.parametrize("name", sorted(MODULE))
@FUZZ
@given(data=st.binary(max_size=600))
def test_any_bytes_decode_or_raise_a_decode_error(name: str, data: bytes) -> None:
    try:
        MODULE[name](data)
    except DecodeError:
        pass


@FUZZ
@given(st.sampled_from(REFS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                       min_size=1, max_size=8))  # fmt: skip
def test_damaged_reference_messages_decode_or_raise_a_decode_error(
    ref: tuple[str, bytes], flips: list[tuple[int, int]]
) -> None:
    name, raw = ref
    buf = bytearray(raw)
    for at, value in flips:
        buf[at % len(buf)] = value
    try:
        MODULE[name](bytes(buf))
    except DecodeError:
        pass


# -- build, then decode ---------------------------------------------------------------


@pytest.mark.parametrize("raw", refs("dns", "mdns", "llmnr"))
def test_dns_build_then_decode_gives_the_message_back(raw: bytes) -> None:
    m = dns.decode(raw)
    again = dns.decode(dns.build(m))
    assert again._replace(length=m.length) == m
    assert dns.decode_tcp(dns.build_tcp(m)).questions == m.questions


_label = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_ ", min_size=1, max_size=20)
_name = st.lists(_label, min_size=0, max_size=4).map(lambda ls: "".join(x + "." for x in ls) or ".")
_v4 = st.ip_addresses(v=4).map(lambda a: ip_text(a.packed))  # as netdiag writes them
_v6 = st.ip_addresses(v=6).map(lambda a: ip_text(a.packed))
_rec = st.one_of(
    st.builds(lambda n, a: dns.Record(n, 1, 1, 60, 4, a), _name, _v4),
    st.builds(lambda n, a: dns.Record(n, 28, 1, 60, 16, a), _name, _v6),
    st.builds(lambda n, t: dns.Record(n, 5, 1, 60, 0, t), _name, _name),
    st.builds(lambda n, p, t: dns.Record(n, 15, 1, 9, 0, (p, t)), _name, st.integers(0, 65535),
              _name),
    st.builds(lambda n, s: dns.Record(n, 16, 1, 9, 0, tuple(s)), _name,
              st.lists(st.text("abc =;\\", max_size=30).map(lambda s: s.replace("\\", "\\092")),
                       max_size=3)),
    st.builds(lambda n, b: dns.Record(n, 99, 1, 9, 0, b), _name, st.binary(max_size=40)),
)  # fmt: skip


@FUZZ
@given(st.integers(0, 65535), st.integers(0, 65535), _name, st.lists(_rec, max_size=4))
def test_any_message_we_build_decodes_to_itself(
    ident: int, flags: int, qname: str, answers: list[dns.Record]
) -> None:
    m = dns.Message(ident, flags & ~0x0F, 1, len(answers), 0, 0, (dns.Question(qname, 1, 1),),
                    tuple(answers), (), (), 0)  # fmt: skip
    raw = dns.build(m)
    got = dns.decode(raw)
    want = m._replace(
        length=len(raw),
        answers=tuple(
            r._replace(rdlength=g.rdlength) for r, g in zip(m.answers, got.answers, strict=True)
        ),
    )
    assert got == want


def test_dhcp_ntp_dhcp6_http_build_then_decode() -> None:
    opts = ((53, b"\x01"), (50, bytes([192, 0, 2, 7])), (12, b"host"))
    m = dhcp.decode(dhcp.build(1, 0xABCDEF01, bytes.fromhex("02000000000b"), opts))
    assert (m.xid, m.client_mac, m.options, m.length) == (
        0xABCDEF01, "02:00:00:00:00:0b", opts, 300)  # fmt: skip
    n = ntp.decode(ntp.build(4, stratum=2, poll=6, precision=-20, transmit_ts=123 << 32))
    assert (n.mode, n.stratum, n.poll, n.precision, n.transmit_ts) == (4, 2, 6, -20, 123 << 32)
    ia = dhcp6.build_option(3, bytes.fromhex("00000001 00000e10 00001518")
                            + dhcp6.build_option(5, bytes(15) + b"\x01" + bytes(8)))  # fmt: skip
    d = dhcp6.decode(dhcp6.build(1, 0x123456, ia))
    assert d.xid == 0x123456 and d.options[0].value == (1, 3600, 5400)
    assert d.options[0].options[0].value == ("::1", 0, 0)
    r = http.decode(http.build_request("GET", "/x", [("Host", "h"), ("Content-Length", "0")]))
    assert (r.method, r.uri, r.version, r.host, r.content_length, r.complete) == (
        "GET", "/x", "HTTP/1.1", "h", 0, True)  # fmt: skip
    s = http.decode(http.build_response(404, "Not Found", [("Content-Type", "text/plain")]))
    assert (s.status, s.reason, s.content_type) == (404, "Not Found", "text/plain")


def test_a_pointer_to_a_name_already_read_is_bounded_like_any_other() -> None:
    """The suffix cache (a pointer to a name read before) keeps the 255-byte limit."""
    long = (b"\x3f" + b"a" * 63) * 3 + b"\x3d" + b"b" * 61 + b"\x00"  # 255 bytes: the most
    head = bytes.fromhex("1234 8100 0001 0001 0000 0000")
    question = long + b"\x00\x01\x00\x01"
    rr = b"\x01c\xc0\x0c" + bytes.fromhex("0001 0001 0000 003c 0004 c0000201")
    with pytest.raises(MalformedError, match="longer than 255"):
        dns.decode(head + question + rr)
    ok = b"\xc0\x0c" + rr[4:]  # the same name again: fine
    m = dns.decode(head + question + ok)
    assert m.answers[0].name == m.questions[0].name and len(m.questions[0].name) == 254


def test_pointers_into_the_middle_of_names_read_before() -> None:
    """www.example.test, then mail -> example.test (a suffix), then the root via that."""
    head = bytes.fromhex("0001 8180 0001 0002 0000 0000")
    q = b"\x03www\x07example\x04test\x00" + b"\x00\x01\x00\x01"
    a1 = b"\x04mail\xc0\x10" + bytes.fromhex("0005 0001 0000 003c 0002") + b"\xc0\x0c"
    a2 = b"\xc0\x22" + bytes.fromhex("0001 0001 0000 003c 0004 c0000202")
    m = dns.decode(head + q + a1 + a2)
    assert [r.name for r in m.answers] == ["mail.example.test.", "mail.example.test."]
    assert m.answers[0].data == "www.example.test."
    ref = DNS(head + q + a1 + a2)
    assert [r.rrname.decode() for r in ref.an] == [r.name for r in m.answers]
