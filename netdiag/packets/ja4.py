"""The JA4 TLS client fingerprint, from a decoded ClientHello.

Written from FoxIO's public specification (github.com/FoxIO-LLC/ja4,
``technical_details/JA4.md``); JA4 itself is BSD-3-Clause licensed. A JA4 is
``a_b_c``:

- **a** (10 characters): ``t`` (TLS over TCP), ``q`` (QUIC) or ``d`` (DTLS);
  the version, two characters (``13``, ``12``, ``11``, ``10``, ``s3``, ``s2``,
  ``d1``, ``d2``, ``d3``, else ``00``), taken as the highest non-GREASE value of
  supported_versions when that extension is present, else the ClientHello's
  legacy version (the record's version is never used); ``d`` when a
  server_name extension is present, else ``i``; the number of cipher suites and
  the number of extensions, two digits each, GREASE not counted, capped at 99;
  the first and last characters of the first ALPN value (``00`` when there is
  none or it is empty; when its first or last byte is not an ASCII letter or
  digit, the first and last characters of its hex form instead).
- **b**: the first 12 hex digits of the SHA-256 of the cipher suites, GREASE
  removed, as 4-digit lower-case hex, sorted, comma-separated;
  ``000000000000`` when there are none.
- **c**: the same over the extensions, GREASE, server_name (0000) and ALPN
  (0010) removed, sorted; then, when the ClientHello has signature algorithms,
  ``_`` and those in their order, GREASE removed; ``000000000000`` when no
  extension is left.

Checked against the specification's examples (tests/packets/test_ja4.py), and
once against the expected outputs FoxIO keeps for its own test captures
(``python/test/testdata``, Rust snapshots): 137 of 138 ClientHellos over TCP
and the 3 inside QUIC Initials (decrypted by packets/quicinitial.py) agree. The one that does
not has a non-ASCII first ALPN value (``tls-non-ascii-alpn.pcapng``): FoxIO's
implementations (Python, Rust, Wireshark plugin) still print ``99`` there, the
specification's text says the hex rule above, and we follow the text.

``ja4_raw`` gives the strings before hashing (the specification's ``JA4_r``);
``original=True`` keeps the wire order and includes SNI and ALPN (``JA4_o`` and
``JA4_ro``).
"""

from __future__ import annotations

import hashlib

from netdiag.packets.tlsnames import is_grease

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.packets.tls import ClientHello

__all__ = ["ja4", "ja4_raw", "ja4_a", "alpn_chars"]

_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_EMPTY = "000000000000"
_SUPPORTED_VERSIONS = 0x002B
_SNI, _ALPN = 0x0000, 0x0010


def _alnum(b: int) -> bool:
    return 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def alpn_chars(first: bytes | None) -> str:
    """The two ALPN characters of JA4_a for the first ALPN value."""
    if not first:
        return "00"
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    h = first.hex()
    return h[0] + h[-1]


def ja4_a(ch: ClientHello, transport: str = "t") -> str:
    ext_types = [t for t in ch.extension_types if not is_grease(t)]
    if _SUPPORTED_VERSIONS in ch.extension_types:
        offered = [v for v in ch.supported_versions if not is_grease(v)]
        version = max(offered) if offered else 0
    else:
        version = ch.legacy_version
    ciphers = sum(1 for c in ch.cipher_suites if not is_grease(c))
    sni = "d" if _SNI in ext_types else "i"
    return (
        f"{transport}{_VERSIONS.get(version, '00')}{sni}{min(ciphers, 99):02d}"
        f"{min(len(ext_types), 99):02d}{alpn_chars(ch.alpn[0] if ch.alpn else None)}"
    )


def _parts(ch: ClientHello, original: bool) -> tuple[str, str]:
    ciphers = [c for c in ch.cipher_suites if not is_grease(c)]
    exts = [t for t in ch.extension_types if not is_grease(t)]
    if not original:
        ciphers.sort()
        exts = sorted(t for t in exts if t not in (_SNI, _ALPN))
    b = ",".join(f"{c:04x}" for c in ciphers)
    c = ",".join(f"{t:04x}" for t in exts)
    sigs = [s for s in ch.signature_algorithms if not is_grease(s)]
    if c and sigs:
        c += "_" + ",".join(f"{s:04x}" for s in sigs)
    return b, c


def _hash12(text: str) -> str:
    if not text:
        return _EMPTY
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def ja4(ch: ClientHello, transport: str = "t", *, original: bool = False) -> str:
    """The JA4 (or, with ``original``, JA4_o) of a ClientHello."""
    b, c = _parts(ch, original)
    return f"{ja4_a(ch, transport)}_{_hash12(b)}_{_hash12(c)}"


def ja4_raw(ch: ClientHello, transport: str = "t", *, original: bool = False) -> str:
    """JA4_r (or JA4_ro): the lists themselves instead of their hashes."""
    b, c = _parts(ch, original)
    return f"{ja4_a(ch, transport)}_{b}_{c}"
