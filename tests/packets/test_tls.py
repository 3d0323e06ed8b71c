"""packets/tls.py: records, hellos and alerts; cut at every offset; hostile lengths; fuzz.

The reference ClientHello is a real one (OpenSSL through Python's ssl, in
captures/tls/tls13.pcap; its fields are checked against tshark in
tests/inspect/test_tls_oracle.py). Messages written field by field from RFC 8446
come from tlsbuild.py.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.capture import read_capture
from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.inspect.tlstext import tls_fields, tls_summary
from netdiag.packets import decode as decode_packet
from netdiag.packets import tls
from netdiag.packets.tlsnames import is_grease, version_name

from .tlsbuild import alpn_ext, client_hello, record, server_hello, sni_ext

CAPTURE = Path(__file__).resolve().parents[2] / "captures" / "tls" / "tls13.pcap"
FUZZ = settings(max_examples=300, deadline=None)


def _first_payload(path: Path) -> bytes:
    for rec in read_capture(str(path)):
        p = decode_packet(rec.data, rec.linktype)
        if p.tcp is not None and p.tcp.payload_length:
            return p.data[p.tcp.payload_offset : p.tcp.end]
    raise AssertionError("no payload")


HELLO_RECORD = _first_payload(CAPTURE)


def test_the_reference_is_one_record_holding_one_client_hello() -> None:
    t = tls.decode(HELLO_RECORD)
    (r,) = t.records
    assert (r.content_type, r.length, r.offset) == (22, len(HELLO_RECORD) - 5, 0)
    (h,) = r.handshakes
    assert (h.msg_type, h.offset, h.complete) == (1, 5, True)
    ch = t.client_hello
    assert ch is not None and ch.server_name == "example.com"
    assert ch.alpn == (b"h2", b"http/1.1") and 0x0304 in ch.supported_versions


def test_cut_record_at_every_offset_gives_the_exact_truncation() -> None:
    n_body = len(HELLO_RECORD) - 5
    for n in range(len(HELLO_RECORD)):
        with pytest.raises(TruncatedError) as e:
            tls.decode(HELLO_RECORD[:n])
        want = (0, 5, n) if n < 5 else (5, n_body, n - 5)
        assert (e.value.layer, e.value.offset, e.value.needed, e.value.got) == ("tls", *want)
        assert (
            str(e.value)
            == f"tls: truncated: needed {want[1]} bytes, got {want[2]} (at byte {want[0]})"
        )


def test_a_segment_cut_anywhere_is_a_partial_record_not_an_error() -> None:
    for n in range(1, len(HELLO_RECORD)):
        t = tls.decode_segment(HELLO_RECORD[:n])
        assert (t.records, t.partial, t.continuation) == ((), n, 0)
    rest = HELLO_RECORD[200:]
    t = tls.decode_segment(rest)  # a later segment of the same record
    assert (t.records, t.continuation) == ((), len(rest))
    t = tls.decode_segment(HELLO_RECORD + HELLO_RECORD[:7])
    assert len(t.records) == 1 and t.partial == 7


def test_cut_hello_body_at_every_offset_raises_a_decode_error_inside_the_cut() -> None:
    body = HELLO_RECORD[9:]
    ext_block = 2 + 32 + 1 + body[34] + 2
    ext_block += struct.unpack_from("!H", body, ext_block - 2)[0]
    ext_block += 1 + body[ext_block]  # compression methods: the extensions start here
    for n in range(len(body)):
        if n == ext_block:
            assert tls.decode_client_hello(body[:n], 9).extensions == ()  # legal: none sent
            continue
        with pytest.raises(DecodeError) as e:
            tls.decode_client_hello(body[:n], 9)
        assert e.value.layer == "tls" and 9 <= e.value.offset <= 9 + n


@pytest.mark.parametrize(
    ("data", "error", "text"),
    [
        (b"\x17\x03\x03\x48\x01" + b"\0" * 0x4801, MalformedError, "record length 18433 > 18432"),
        (b"\x16\x05\x01\x00\x00", MalformedError, "record version 0x0501 is not TLS"),
        (b"\x63\x03\x01\x00\x00", MalformedError, "content type 99 is not a TLS record"),
        (b"\x80\x2e\x01\x03\x01", MalformedError, "SSLv2 record header"),
        (b"", TruncatedError, "needed 5 bytes, got 0"),
    ],
)
def test_impossible_record_headers(data: bytes, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        tls.decode(data)


def test_a_vector_longer_than_its_message_is_malformed_at_its_length_field() -> None:
    hello = bytearray(client_hello([0x1301, 0x1302], [sni_ext("a.example")]))
    # cipher_suites length (after type 1, length 3, version 2, random 32, sid 1+32)
    at = 4 + 2 + 32 + 1 + 32
    hello[at : at + 2] = b"\xff\xff"
    with pytest.raises(MalformedError, match="length 65535 runs past its enclosing field") as e:
        tls.decode(record(22, bytes(hello)))
    assert e.value.offset == 5 + at


def test_odd_cipher_suites_and_bytes_after_extensions_are_malformed() -> None:
    body = bytearray(client_hello([0x1301], [])[4:])
    body[2 + 32 + 1 + 32 : 2 + 32 + 1 + 32 + 2] = b"\x00\x01"
    with pytest.raises(DecodeError):
        tls.decode_client_hello(bytes(body))
    good = client_hello([0x1301], [sni_ext("a.example")])
    extra = b"\x01" + (int.from_bytes(good[1:4], "big") + 1).to_bytes(3, "big") + good[4:] + b"!"
    with pytest.raises(MalformedError, match="1 bytes after the extensions"):
        tls.decode(record(22, extra))


def test_server_hello_gives_the_chosen_version_cipher_and_alpn() -> None:
    # supported_versions in a ServerHello is one version (RFC 8446 §4.2.1), not a list.
    sh = server_hello(0x1302, [struct.pack("!HHH", 43, 2, 0x0304), alpn_ext([b"h2"])])
    t = tls.decode(record(22, sh))
    s = t.server_hello
    assert s is not None
    assert (s.cipher_suite, s.version, s.alpn, s.legacy_version) == (0x1302, 0x0304, b"h2", 0x0303)
    assert t.tls13 and not s.hello_retry_request


def test_alerts_by_level_and_description() -> None:
    t = tls.decode(record(21, b"\x02\x28") + record(21, b"\x01\x00"))
    assert [(r.alert.level, r.alert.description) for r in t.records if r.alert] == [(2, 40), (1, 0)]
    t = tls.decode(record(21, b"\x02" * 26))  # longer than 2: encrypted
    assert t.records[0].alert is None and t.records[0].encrypted


def test_after_change_cipher_spec_a_tls12_handshake_record_is_encrypted() -> None:
    finished = record(22, b"\x00" * 8 + bytes(range(32)))  # AES-GCM: zero explicit nonce first
    t = tls.decode(record(20, b"\x01") + finished)
    assert t.records[1].encrypted and not t.records[1].handshakes and t.after_ccs
    # Not knowing about the ChangeCipherSpec, the bytes still do not read as plaintext.
    assert tls.decode(finished).records[0].encrypted


def test_in_tls13_a_hello_after_change_cipher_spec_is_plaintext() -> None:
    hello = record(22, client_hello([0x1301], [sni_ext("b.example")]))
    t = tls.decode(record(20, b"\x01") + hello)
    assert t.client_hello is not None and t.client_hello.server_name == "b.example"
    t = tls.decode(hello, after_ccs=True)  # a second ClientHello after HelloRetryRequest
    assert t.client_hello is not None


def test_a_hello_spanning_two_records_is_decoded_in_the_second() -> None:
    hello = client_hello([0x1301, 0xC02B], [sni_ext("span.example"), alpn_ext([b"h2"])])
    data = record(22, hello[:50]) + record(22, hello[50:])
    t = tls.decode(data)
    assert t.records[0].handshakes == ()
    (h,) = t.records[1].handshakes
    assert isinstance(h.body, tls.ClientHello) and h.body.server_name == "span.example"
    t = tls.decode(record(22, hello[:50]))  # and the first record alone: incomplete
    assert t.records[0].handshakes[0].complete is False


def test_grease_and_version_names() -> None:
    assert all(is_grease(v) for v in range(0x0A0A, 0x10000, 0x1010))
    assert not is_grease(0x0A0B) and not is_grease(0x1A0A)
    assert (version_name(0x0304), version_name(0x0A0A), version_name(0x7F1C)) == (
        "TLSv1.3", "GREASE", "0x7f1c")  # fmt: skip


def _only_decode_errors(fn, data: bytes) -> None:  # noqa: ANN001
    """``fn(data)`` decodes or raises a DecodeError; what decodes also renders."""
    try:
        t = fn(data)
    except DecodeError:
        return
    if isinstance(t, tls.TLS):
        tls_summary(t)
        json.dumps(tls_fields(t))


@FUZZ
@given(st.binary(max_size=600))
def test_fuzz_any_bytes_give_a_record_or_a_decode_error(data: bytes) -> None:
    _only_decode_errors(tls.decode, data)
    _only_decode_errors(tls.decode_segment, data)
    _only_decode_errors(tls.decode_handshake, data)
    _only_decode_errors(tls.decode_client_hello, data)
    _only_decode_errors(lambda d: tls.decode(b"\x16\x03\x01" + struct.pack("!H", len(d)) + d),
                        data)  # fmt: skip


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(HELLO_RECORD) - 1), st.integers(0, 255)),
                min_size=1, max_size=8))  # fmt: skip
def test_fuzz_damaged_real_hello(flips: list[tuple[int, int]]) -> None:
    data = bytearray(HELLO_RECORD)
    for at, value in flips:
        data[at] = value
    _only_decode_errors(tls.decode, bytes(data))
    _only_decode_errors(tls.decode_segment, bytes(data))


def test_a_caller_following_the_stream_carries_a_message_into_the_next_call() -> None:
    cert = b"\x0b" + (3000).to_bytes(3, "big") + bytes(range(256)) * 11 + b"\x00" * 184
    first = tls.decode(record(22, cert[:1000]), carry=b"")
    assert first.records[0].handshakes == () and first.pending == cert[:1000]
    second = tls.decode(record(22, cert[1000:]), carry=first.pending)
    (h,) = second.records[0].handshakes
    assert (h.msg_type, h.length, h.complete) == (11, 3000, True) and second.pending == b""
    # Alone, each call says what it can: an incomplete Certificate, then bytes that
    # do not start a message (taken as encrypted).
    assert tls.decode(record(22, cert[:1000])).records[0].handshakes[0].complete is False
    assert tls.decode(record(22, cert[1000:])).records[0].encrypted
