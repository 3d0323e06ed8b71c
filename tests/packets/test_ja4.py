"""JA4 against the examples of its own specification (FoxIO-LLC/ja4,
``technical_details/JA4.md``): the ClientHello the specification describes (its
cipher, extension and signature-algorithm lists, GREASE added where a browser
puts it, since GREASE must be ignored) gives the fingerprints it prints."""

from __future__ import annotations

import pytest

from netdiag.packets import ja4, tls

from .tlsbuild import (
    alpn_ext,
    client_hello,
    ext,
    groups_ext,
    key_share_ext,
    record,
    sigalgs_ext,
    sni_ext,
    versions_ext,
)

# The specification's example lists, in their wire order.
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
                0xC014, 0x009C, 0x009D, 0x002F, 0x0035]  # fmt: skip
SPEC_EXTENSIONS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005,
                   0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]  # fmt: skip
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
GREASE = 0x2A2A

# What the specification prints for them.
SPEC_JA4 = "t13d1516h2_8daaf6152771_e5627efa2ab1"
SPEC_JA4_O = "t13d1516h2_acb858a92679_18f69afefd3d"
SPEC_JA4_R = (
    "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
    "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
    "0403,0804,0401,0503,0805,0501,0806,0601"
)
SPEC_JA4_RO = (
    "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035_"
    "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_"
    "0403,0804,0401,0503,0805,0501,0806,0601"
)


def _spec_hello(*, sigalgs: bool = True, alpn: list[bytes] | None = None,
                sni: bool = True) -> tls.ClientHello:  # fmt: skip
    exts = [ext(GREASE, b"")]
    for t in SPEC_EXTENSIONS:
        if t == 0x0000:
            if sni:
                exts.append(sni_ext("example.com"))
        elif t == 0x0010:
            exts.append(alpn_ext(alpn if alpn is not None else [b"h2", b"http/1.1"]))
        elif t == 0x000D:
            exts.append(sigalgs_ext([GREASE, *SPEC_SIGALGS] if sigalgs else [GREASE]))
        elif t == 0x002B:
            exts.append(versions_ext([GREASE, 0x0304, 0x0303]))
        elif t == 0x000A:
            exts.append(groups_ext([GREASE, 29, 23, 24]))
        elif t == 0x0033:
            exts.append(key_share_ext([GREASE, 29]))
        elif t == 0x000B:
            exts.append(ext(t, b"\x01\x00"))
        else:
            exts.append(ext(t, b"\x00" if t != 0x0015 else b"\x00" * 8))
    exts.append(ext(0x1A1A, b"\x00"))  # GREASE last too, as Chrome sends it
    data = record(22, client_hello([GREASE, *SPEC_CIPHERS], exts), 0x0301)
    ch = tls.decode(data).client_hello
    assert ch is not None
    return ch


def test_the_specification_example_fingerprint() -> None:
    ch = _spec_hello()
    assert ja4.ja4(ch) == SPEC_JA4


def test_the_specification_raw_and_original_forms() -> None:
    ch = _spec_hello()
    assert ja4.ja4_raw(ch) == SPEC_JA4_R
    assert ja4.ja4_raw(ch, original=True) == SPEC_JA4_RO
    assert ja4.ja4(ch, original=True) == SPEC_JA4_O


def test_without_signature_algorithms_the_extension_list_alone_is_hashed() -> None:
    # The specification: "0005,...,4469,ff01 = 6d807ffa2a79" (no trailing underscore).
    # Its list still names 000d: here the extension holds GREASE only.
    ch = _spec_hello(sigalgs=False)
    assert ja4.ja4(ch) == "t13d1516h2_8daaf6152771_6d807ffa2a79"


def test_no_sni_is_i_and_quic_is_q() -> None:
    ch = _spec_hello(sni=False)
    # SNI is not in the hashed list, so only JA4_a changes.
    assert ja4.ja4(ch, "q") == "q13i1515h2_8daaf6152771_e5627efa2ab1"


@pytest.mark.parametrize(
    ("first", "chars"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"x", "xx"),  # "only a single character: both first and last"
        (b"", "00"),
        # The specification's non-alphanumeric examples:
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"\x30\xab", "3b"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
    ],
)
def test_alpn_characters_as_the_specification_lists_them(first: bytes, chars: str) -> None:
    assert ja4.alpn_chars(first) == chars
    assert ja4.ja4_a(_spec_hello(alpn=[first, b"h2"]))[8:] == chars


def test_no_alpn_extension_is_00_and_no_ciphers_is_zeros() -> None:
    data = record(22, client_hello([], [sni_ext("a.example")]), 0x0301)
    ch = tls.decode(data).client_hello
    assert ch is not None
    # No supported_versions: the ClientHello's version (0x0303) is used.
    assert ja4.ja4(ch) == "t12d000100_000000000000_000000000000"


def test_version_from_supported_versions_ignores_grease_and_takes_the_highest() -> None:
    data = record(22, client_hello([0x1301], [versions_ext([0x0303, 0xFAFA, 0x0304, 0x0302])]))
    ch = tls.decode(data).client_hello
    assert ch is not None
    assert ja4.ja4_a(ch) == "t13i010100"


def test_counts_stop_at_99() -> None:
    ciphers = list(range(0x0001, 0x0001 + 120))
    exts = [ext(0x0100 + i, b"") for i in range(110)]
    ch = tls.decode(record(22, client_hello(ciphers, exts))).client_hello
    assert ch is not None
    assert ja4.ja4_a(ch) == "t12i999900"
