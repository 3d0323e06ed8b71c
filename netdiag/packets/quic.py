"""QUIC packet headers as a UDP datagram carries them (RFC 9000 §17, RFC 8999, RFC 9369).

``decode(data)`` reads every packet coalesced in one datagram (RFC 9000 §12.2):
long-header packets (§17.2) one after the other, each delimited by its Length
field, then at most one short-header packet (§17.3), which runs to the end.

Long header: header form and fixed bit, the packet type (Initial, 0-RTT,
Handshake, Retry; RFC 9369 §3.2 renumbers them for QUIC v2), version, the
destination and source connection IDs; then, by type, the token length and
token (Initial), the Length (Initial, 0-RTT, Handshake), or the retry token and
its 16-byte integrity tag (Retry). Version 0 is a Version Negotiation packet
(§17.2.1): the versions the server supports follow the connection IDs. For a
version we do not know (not 1, 2 or an IETF draft ``0xff0000NN``), only the
invariant part (RFC 8999 §5.1: version and connection IDs) is read, and the
rest of the datagram belongs to that packet.

Everything after the Length field is header-protected and encrypted (RFC 9001
§5): the packet number, the frames and so the ClientHello inside an Initial are
not decoded here (packets/quicinitial.py decrypts a client's Initial, with the
``cryptography`` library, from ``QUIC.data``). A short header's connection ID
has no length on the wire (the peers agreed it), so only its first byte is read.
Zero bytes after the last long-header packet are counted as padding (RFC 9000
§14.1 lets clients pad a datagram that way).

Bounds: connection IDs longer than 20 bytes in a known version are malformed
(§17.2), a token length past the end of the datagram is truncation, a Length
past it keeps the header and counts the missing bytes (``QUIC.truncated``: a
capture cut by its snapshot length still shows its headers, as in tshark),
and a first byte with the fixed bit clear is not QUIC (gQUIC before Q046 reads
so). Errors are ``TruncatedError``/``MalformedError`` with layer ``quic``.
"""

from __future__ import annotations

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass, field

__all__ = [
    "QUIC",
    "LongHeader",
    "ShortHeader",
    "PACKET_TYPES",
    "version_name",
    "decode",
    "varint",
]

_LAYER = "quic"
V1, V2 = 0x00000001, 0x6B3343CF
MAX_CID_LEN = 20
INITIAL, ZERO_RTT, HANDSHAKE, RETRY = "Initial", "0-RTT", "Handshake", "Retry"
VERSION_NEGOTIATION = "Version Negotiation"
# RFC 9000 §17.2 (v1 and drafts) and RFC 9369 §3.2 (v2): wire bits -> type.
PACKET_TYPES = {1: (INITIAL, ZERO_RTT, HANDSHAKE, RETRY), 2: (RETRY, INITIAL, ZERO_RTT, HANDSHAKE)}
_TAG_LEN = 16  # Retry integrity tag (RFC 9001 §5.8)


@dataclass(frozen=True, slots=True)
class LongHeader:
    offset: int  # of the first byte, in the datagram
    first_byte: int
    version: int
    dcid: bytes
    scid: bytes
    packet_type: str | None  # None for a version we do not know
    token: bytes | None = None  # Initial: the token; Retry: the retry token
    length: int | None = None  # the Length field (Initial, 0-RTT, Handshake)
    payload_offset: int | None = None  # where the protected packet number starts
    size: int = 0  # bytes of this packet in the datagram
    supported_versions: tuple[int, ...] = ()  # Version Negotiation
    integrity_tag: bytes | None = None  # Retry

    @property
    def token_length(self) -> int | None:
        return None if self.token is None or self.packet_type != INITIAL else len(self.token)

    @property
    def long_packet_type(self) -> int:
        """The two type bits as sent (tshark's ``quic.long.packet_type``)."""
        return (self.first_byte >> 4) & 0x3


@dataclass(frozen=True, slots=True)
class ShortHeader:
    offset: int
    first_byte: int
    size: int

    @property
    def spin_bit(self) -> bool:
        return bool(self.first_byte & 0x20)


@dataclass(frozen=True, slots=True)
class QUIC:
    packets: tuple[LongHeader | ShortHeader, ...]
    padding: int = 0
    truncated: int = 0  # bytes the last packet's Length says are missing from the data
    data: bytes = field(default=b"", repr=False, compare=False)  # the datagram (quicinitial)
    # Set by a reader that follows the connection (inspect/appstreams.py): the DCID the
    # Initial keys come from, and whether this datagram is the server's.
    initial_dcid: bytes | None = field(default=None, repr=False, compare=False)
    from_server: bool = field(default=False, repr=False, compare=False)

    @property
    def long_headers(self) -> tuple[LongHeader, ...]:
        return tuple(p for p in self.packets if isinstance(p, LongHeader))


def version_name(version: int) -> str:
    if version == V1:
        return "1"
    if version == V2:
        return "2"
    if version == 0:
        return "negotiation"
    if version >> 8 == 0xFF0000:
        return f"draft-{version & 0xFF}"
    if (version & 0x0F0F0F0F) == 0x0A0A0A0A:
        return "reserved"  # RFC 9000 §15: forcing version negotiation
    raw = version.to_bytes(4, "big")
    if raw[:1] == b"Q" and raw[1:].isdigit():
        return raw.decode()  # gQUIC
    return f"0x{version:08x}"


def varint(buf: bytes, off: int, end: int) -> tuple[int, int]:
    """A variable-length integer (RFC 9000 §16) at ``off``: (value, next offset)."""
    if off >= end:
        raise TruncatedError(_LAYER, off, 1, 0)
    n = 1 << (buf[off] >> 6)
    if end - off < n:
        raise TruncatedError(_LAYER, off, n, end - off)
    v = buf[off] & 0x3F
    for i in range(1, n):
        v = (v << 8) | buf[off + i]
    return v, off + n


def _known(version: int) -> int | None:
    """Which packet-type table a version uses, or None when unknown."""
    if version == V1 or version >> 8 == 0xFF0000:
        return 1
    if version == V2:
        return 2
    return None


def _cid(buf: bytes, off: int, end: int, limit: int) -> tuple[bytes, int]:
    if off >= end:
        raise TruncatedError(_LAYER, off, 1, 0)
    n = buf[off]
    if n > limit:
        raise MalformedError(_LAYER, off, f"connection ID length {n} > {limit}")
    if end - off - 1 < n:
        raise TruncatedError(_LAYER, off + 1, n, end - off - 1)
    return buf[off + 1 : off + 1 + n], off + 1 + n


def _long(buf: bytes, off: int, end: int) -> LongHeader:
    first = buf[off]
    if end - off < 5:
        raise TruncatedError(_LAYER, off, 5, end - off)
    version = int.from_bytes(buf[off + 1 : off + 5], "big")
    table = _known(version)
    limit = MAX_CID_LEN if table is not None else 255
    dcid, p = _cid(buf, off + 5, end, limit)
    scid, p = _cid(buf, p, end, limit)
    if version == 0:
        rest = end - p
        if rest % 4:
            raise MalformedError(
                _LAYER, p, f"{rest} bytes of supported versions, not a multiple of 4"
            )
        vers = tuple(int.from_bytes(buf[i : i + 4], "big") for i in range(p, end, 4))
        return LongHeader(off, first, 0, dcid, scid, VERSION_NEGOTIATION, size=end - off,
                          supported_versions=vers)  # fmt: skip
    if table is None:
        return LongHeader(off, first, version, dcid, scid, None, size=end - off)
    if not first & 0x40:
        raise MalformedError(_LAYER, off, "fixed bit is 0")
    ptype = PACKET_TYPES[table][(first >> 4) & 0x3]
    if ptype == RETRY:
        if end - p < _TAG_LEN:
            raise TruncatedError(_LAYER, p, _TAG_LEN, end - p)
        return LongHeader(off, first, version, dcid, scid, ptype, token=buf[p : end - _TAG_LEN],
                          size=end - off, integrity_tag=buf[end - _TAG_LEN : end])  # fmt: skip
    token = None
    if ptype == INITIAL:
        tlen, q = varint(buf, p, end)
        if end - q < tlen:
            raise TruncatedError(_LAYER, q, tlen, end - q)
        token = buf[q : q + tlen]
        p = q + tlen
    length, q = varint(buf, p, end)
    # A Length past the end (a capture's snapshot length, or a cut datagram) keeps
    # the header: size stops at the end and QUIC.truncated says how much is missing.
    return LongHeader(off, first, version, dcid, scid, ptype, token=token, length=length,
                      payload_offset=q, size=min(q + length, end) - off)  # fmt: skip


def decode(data: bytes | memoryview) -> QUIC:
    """Every QUIC packet in one UDP datagram."""
    buf = bytes(data)
    end = len(buf)
    if end == 0:
        raise TruncatedError(_LAYER, 0, 1, 0)
    out: list[LongHeader | ShortHeader] = []
    off = 0
    while off < end:
        first = buf[off]
        if first & 0x80:
            hdr = _long(buf, off, end)
            out.append(hdr)
            off += hdr.size
            if hdr.length is not None and hdr.payload_offset is not None:
                missing = hdr.payload_offset + hdr.length - end
                if missing > 0:
                    return QUIC(tuple(out), 0, missing, buf)
            continue
        if out and not any(buf[off:end]):
            return QUIC(tuple(out), end - off, 0, buf)
        if not first & 0x40:
            raise MalformedError(_LAYER, off, "fixed bit is 0: not a QUIC packet")
        out.append(ShortHeader(off, first, end - off))
        break
    return QUIC(tuple(out), 0, 0, buf)
