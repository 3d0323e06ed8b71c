"""The Internet checksum (RFC 1071) against the RFC's worked example and scapy's ``checksum()``."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, in4_chksum
from scapy.utils import checksum as scapy_checksum

from netdiag.packets.addr import ip_bytes
from netdiag.packets.checksum import internet_checksum, ones_sum, pseudo_header_sum, verify

from .reference import ipv4_addr


def test_rfc1071_worked_example():
    # RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 have the one's-complement sum ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D
    assert verify(data + (0x220D).to_bytes(2, "big"))


def test_rfc1071_sum_is_byte_order_independent():
    # RFC 1071 §2(B): swapping the bytes of every word swaps the bytes of the sum.
    assert ones_sum(bytes.fromhex("0100 03f2 f5f4 f7f6")) == 0xF2DD


def test_odd_length_pads_the_last_byte_with_zero():
    # RFC 1071 §4.1: a left-over byte is added as the high byte of a word.
    assert ones_sum(b"\x01") == 0x0100
    assert ones_sum(b"\xab\xcd\xef") == (0xABCD + 0xEF00) % 0xFFFF
    assert ones_sum(bytes.fromhex("0001f203f4f5f6")) == ones_sum(bytes.fromhex("0001f203f4f5f600"))


def test_empty_data_and_carries():
    assert ones_sum(b"") == 0 and internet_checksum(b"") == 0xFFFF
    assert ones_sum(b"\xff\xff\x00\x01") == 0x0001  # end-around carry
    assert ones_sum(b"\xff\xff" * 1000) == 0xFFFF


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_internet_checksum_agrees_with_scapy(data):
    assert internet_checksum(data) == scapy_checksum(data)
    assert internet_checksum(memoryview(data)) == internet_checksum(bytearray(data))


@settings(max_examples=200, deadline=None)
@given(a=st.binary(max_size=64).filter(lambda b: len(b) % 2 == 0), b=st.binary(max_size=64))
def test_sums_chain_through_start(a, b):
    assert ones_sum(b, ones_sum(a)) == ones_sum(a + b) or {
        ones_sum(b, ones_sum(a)),
        ones_sum(a + b),
    } == {0, 0xFFFF}


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=2, max_size=100).filter(lambda b: len(b) % 2 == 0))
def test_data_with_its_checksum_verifies(data):
    c = internet_checksum(data)
    assert verify(data + c.to_bytes(2, "big"))


@settings(max_examples=100, deadline=None)
@given(src=ipv4_addr, dst=ipv4_addr, proto=st.sampled_from([6, 17]), seg=st.binary(max_size=80))
def test_ipv4_pseudo_header_agrees_with_scapy(src, dst, proto, seg):
    ref = in4_chksum(proto, IP(src=src, dst=dst), seg)  # len unset: scapy uses len(seg)
    ours = internet_checksum(seg, pseudo_header_sum(ip_bytes(src), ip_bytes(dst), proto, len(seg)))
    assert ours == ref
