"""Crash-freedom: any bytes, on any link type, decode without raising.

``decode`` reports bad input in ``Packet.error`` (a ``DecodeError``) and never raises;
``layer_fields()`` (what the JSON renderer calls) and every property of every
decoded layer never raise either. Inputs: arbitrary bytes, arbitrary bytes behind
valid headers, and valid packets with bytes flipped.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag import DecodeError, decode
from netdiag.packets import ethernet, ipv4, ipv6, linklayer

from .reference import ALL_LINKTYPES
from .test_case_table import CASES, build_netdiag, build_scapy
from .test_truncation import REFERENCES

FUZZ = settings(max_examples=400, deadline=None)

# Lazily parsed parts that report damage by raising a DecodeError when read directly;
# ``fields()`` catches it and reports it as ``options_error``.
_RAISES_DECODE_ERROR = {("icmpv6", "nd_options")}


def exercise(data: bytes, linktype: int) -> None:
    p = decode(data, linktype)
    assert p.error is None or isinstance(p.error, DecodeError)
    fields = p.layer_fields()
    json.dumps(fields, default=str)
    repr(p)
    p.payload  # noqa: B018
    p.transport  # noqa: B018
    packets = [p]
    for layer in p.layers:
        q = getattr(layer, "quoted", None)
        if q is not None:
            packets.append(q)
    for pk in packets:
        for layer in pk.layers:
            for name in dir(type(layer)):
                if isinstance(getattr(type(layer), name, None), property):
                    try:
                        getattr(layer, name)
                    except DecodeError:
                        assert (layer.name, name) in _RAISES_DECODE_ERROR


@FUZZ
@given(data=st.binary(max_size=200), linktype=st.sampled_from(ALL_LINKTYPES))
def test_arbitrary_bytes_never_raise(data, linktype):
    exercise(data, linktype)


@FUZZ
@given(linktype=st.integers(-5, 300), data=st.binary(max_size=40))
def test_any_link_type_number_never_raises(linktype, data):
    exercise(data, linktype)


_HEADERS = st.sampled_from(
    [
        ethernet.build("02:00:00:00:00:01", "02:00:00:00:00:02", 0x0800),
        ethernet.build("02:00:00:00:00:01", "02:00:00:00:00:02", 0x86DD, vlans=((0x8100, 5),)),
        ethernet.build("02:00:00:00:00:01", "02:00:00:00:00:02", 0x0806),
        linklayer.build_sll2(0x0800, b""),
        linklayer.build_sll(0x86DD, b""),
        linklayer.build_null(2, b""),
    ]
)
_PROTOS = st.sampled_from([1, 6, 17, 58, 0, 43, 44, 60, 51, 4, 41, 2])


@FUZZ
@given(head=_HEADERS, tail=st.binary(max_size=160))
def test_arbitrary_bytes_behind_valid_link_headers_never_raise(head, tail):
    linktype = {14: 1, 18: 1, 20: 276, 16: 113, 4: 0}[len(head)]
    exercise(head + tail, linktype)


@FUZZ
@given(proto=_PROTOS, body=st.binary(max_size=160), v6=st.booleans(), pad=st.binary(max_size=8))
def test_arbitrary_transport_bytes_behind_valid_ip_headers_never_raise(proto, body, v6, pad):
    if v6:
        data = ipv6.build("2001:db8::1", "2001:db8::2", proto, body)
    else:
        data = ipv4.build("192.0.2.1", "192.0.2.2", proto, body)
    exercise(data + pad, 101)  # with link-layer padding after the datagram too
    exercise(data[: len(data) // 2], 101)


_VALID = [(r.data, r.linktype) for r in REFERENCES] + [
    (build(c), c["link"]) for c in CASES for build in (build_netdiag, build_scapy)
]


@settings(max_examples=600, deadline=None)
@given(
    ref=st.sampled_from(_VALID),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=6),
)
def test_valid_packets_with_flipped_bytes_never_raise(ref, flips):
    data, linktype = ref
    b = bytearray(data)
    for at, mask in flips:
        b[at % len(b)] ^= mask
    exercise(bytes(b), linktype)


@settings(max_examples=200, deadline=None)
@given(
    ref=st.sampled_from(_VALID), at=st.integers(0, 10_000), insert=st.binary(min_size=1, max_size=4)
)
def test_valid_packets_with_inserted_or_deleted_bytes_never_raise(ref, at, insert):
    data, linktype = ref
    i = at % len(data)
    exercise(data[:i] + insert + data[i:], linktype)
    exercise(data[:i] + data[i + len(insert) :], linktype)


def test_decode_accepts_bytearray_and_memoryview():
    data, linktype = _VALID[0]
    for form in (bytearray(data), memoryview(data)):
        p = decode(form, linktype)
        assert p.error is None and p.layer_fields() == decode(data, linktype).layer_fields()
