"""IPv6 (RFC 8200) and its extension headers.

Fixed header (RFC 8200 §3): version/traffic class/flow label (4), payload
length (2), next header (1), hop limit (1), source (16), destination (16).
Extension headers (§4) are walked to the upper-layer protocol by
``walk_extensions``, which the dispatcher calls after the fixed header is kept,
so a damaged extension chain still leaves a good IPv6 layer behind:
hop-by-hop (0), routing (43), destination options (60): (hdr ext len + 1) * 8;
fragment (44): 8 bytes (§4.5); AH (51): (payload len + 2) * 4 (RFC 4302 §2.2).

Hot path (STYLE habit 9), as in ipv4.py: ``IPv6`` has no ``__init__``;
``decode`` validates ``HOT`` (one unpack) and fills eight slots (protocol,
addresses as text from the pair cache of addr.py, where the payload is), and
the dispatcher (dispatch.py) fills them itself. The rest is read from the buffer
when asked.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import PAIR_TEXT, ip6_pair_text, ip_bytes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "IPv6",
    "HEADER_LEN",
    "HOT",
    "EXTENSION_HEADERS",
    "build",
    "build_extension",
    "build_fragment",
]

_S = struct.Struct("!IHBB16s16s")
HEADER_LEN = _S.size  # 40
# What is read up front (the dispatcher reads it too): the byte holding the version,
# payload length, next header, and source and destination as 32 bytes (the key of
# addr.PAIR_TEXT).
HOT = struct.Struct("!B3xHBx32s")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_FRAG = struct.Struct("!BBHI")  # next, reserved, offset/res/M, identification

EXTENSION_HEADERS = {0: "hop-by-hop", 43: "routing", 44: "fragment", 51: "ah", 60: "dstopts"}


class IPv6:
    __slots__ = ("_buf", "offset", "protocol", "payload_offset", "extensions", "end", "src", "dst")
    _buf: bytes
    offset: int
    protocol: int  # the upper layer, after any extension headers
    proto: int  # alias of ``protocol``, bound below the class
    payload_offset: int  # where the upper layer starts
    extensions: tuple[tuple[int, int, int], ...]  # (next header, offset, length)
    end: int
    src: str
    dst: str
    name = "ipv6"
    version = 6
    header_len = HEADER_LEN

    @classmethod
    def decode(cls, buf: bytes, off: int = 0, end: int | None = None) -> IPv6:
        """The fixed header at ``off`` (extensions: ``walk_extensions``); the packet
        ends by ``end`` (default: the buffer's)."""
        if end is None:
            end = len(buf)
        got = end - off
        if got < HEADER_LEN:
            raise TruncatedError("ipv6", off, HEADER_LEN, got)
        v, plen, nh, addrs = HOT.unpack_from(buf, off)
        if v >> 4 != 6:
            raise MalformedError("ipv6", off, f"version {v >> 4}, not 6")
        ip = cls()
        ip._buf = buf
        ip.offset = off
        ip.protocol = nh
        ip.payload_offset = off + HEADER_LEN
        ip.extensions = ()
        ip.src, ip.dst = PAIR_TEXT.get(addrs) or ip6_pair_text(addrs)
        # A zero payload length with a hop-by-hop header is a jumbogram (RFC 2675):
        # its length lives in an option; take what was captured.
        if off + HEADER_LEN + plen <= end and (plen or nh != 0):
            ip.end = off + HEADER_LEN + plen
        else:
            ip.end = end
        return ip

    # From the buffer, when asked.
    @property
    def payload_len(self) -> int:
        """The payload length field (extension headers included)."""
        return int(_U16.unpack_from(self._buf, self.offset + 4)[0])

    @property
    def next_header(self) -> int:
        """The next header field: the first extension header, or the upper layer."""
        return self._buf[self.offset + 6]

    @property
    def truncated(self) -> bool:
        """The capture holds less than the payload length."""
        return self.offset + HEADER_LEN + self.payload_len > self.end

    @property
    def src_raw(self) -> bytes:
        o = self.offset + 8
        return bytes(self._buf[o : o + 16])

    @property
    def dst_raw(self) -> bytes:
        o = self.offset + 24
        return bytes(self._buf[o : o + 16])

    def walk_extensions(self) -> None:
        """Follow the extension-header chain; sets ``protocol`` and ``payload_offset``."""
        b = self._buf
        nh = self.next_header
        p = self.offset + HEADER_LEN
        end = self.end
        exts = []
        while nh in EXTENSION_HEADERS:
            if end - p < 8:
                raise TruncatedError("ipv6." + EXTENSION_HEADERS[nh], p, 8, end - p)
            if nh == 44:
                nxt = b[p]
                n = 8
            elif nh == 51:
                nxt = b[p]
                n = (b[p + 1] + 2) * 4
            else:
                nxt = b[p]
                n = (b[p + 1] + 1) * 8
            if end - p < n:
                raise TruncatedError("ipv6." + EXTENSION_HEADERS[nh], p, n, end - p)
            exts.append((nh, p, n))
            p += n
            nh = nxt
            if len(exts) > 32:
                raise MalformedError("ipv6", p, "more than 32 extension headers")
        self.extensions = tuple(exts)
        self.protocol = nh
        self.payload_offset = p

    def _fragment(self) -> tuple[int, bool, int] | None:
        """The fragment header (RFC 8200 §4.5): offset in bytes, M flag, identification."""
        for kind, p, _n in reversed(self.extensions):
            if kind == 44:
                _nxt, _res, offm, ident = _FRAG.unpack_from(self._buf, p)
                return offm & 0xFFF8, bool(offm & 1), ident
        return None

    @property
    def frag_offset(self) -> int:
        """Fragment offset in bytes (0 without a fragment header)."""
        f = self._fragment() if self.extensions else None
        return 0 if f is None else f[0]

    @property
    def mf(self) -> bool:
        f = self._fragment() if self.extensions else None
        return False if f is None else f[1]

    @property
    def frag_id(self) -> int | None:
        f = self._fragment() if self.extensions else None
        return None if f is None else f[2]

    @property
    def vtcfl(self) -> int:
        return _U32.unpack_from(self._buf, self.offset)[0]  # type: ignore[no-any-return]

    @property
    def hop_limit(self) -> int:
        return self._buf[self.offset + 7]

    @property
    def nh(self) -> int:
        return self.next_header

    @property
    def hlim(self) -> int:
        return self.hop_limit

    @property
    def ttl(self) -> int:
        return self.hop_limit

    @property
    def traffic_class(self) -> int:
        return (self.vtcfl >> 20) & 0xFF

    @property
    def flow_label(self) -> int:
        return self.vtcfl & 0xFFFFF

    @property
    def payload_length(self) -> int:
        """Upper-layer length the header declares, after the extension headers."""
        return self.offset + HEADER_LEN + self.payload_len - self.payload_offset

    @property
    def is_fragment(self) -> bool:
        return self.frag_id is not None

    @property
    def final_dst_raw(self) -> bytes:
        """The destination of the upper-layer pseudo-header (RFC 8200 §8.1).

        In transit (a routing header with segments left) that is the final
        destination: the last address of a type 0 or 2 header (RFC 5095, RFC 6275
        §6.4), Segment List[0] of a segment routing header (RFC 8754 §2).
        """
        b = self._buf
        for kind, p, n in reversed(self.extensions):
            if kind == 43 and b[p + 3] and n >= 24:
                if b[p + 2] in (0, 2):
                    return bytes(b[p + n - 16 : p + n])
                if b[p + 2] == 4:
                    return bytes(b[p + 8 : p + 24])
        return self.dst_raw

    def extension_fields(self) -> list[dict[str, Any]]:
        b = self._buf
        out: list[dict[str, Any]] = []
        for kind, p, n in self.extensions:
            d: dict[str, Any] = {"type": EXTENSION_HEADERS[kind], "nh": b[p], "len": n}
            if kind == 44:
                d.update(offset=self.frag_offset, mf=self.mf, id=self.frag_id)
            elif kind == 43:
                d.update(routing_type=b[p + 2], segments_left=b[p + 3])
            elif kind in (0, 60):
                d["options"] = _tlv_options(b, p + 2, p + n)
            out.append(d)
        return out

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "src": self.src,
            "dst": self.dst,
            "nh": self.next_header,
            "proto": self.protocol,
            "hlim": self.hop_limit,
            "tc": self.traffic_class,
            "flow": self.flow_label,
            "plen": self.payload_len,
        }
        if self.extensions:
            d["ext"] = self.extension_fields()
        if self.truncated:
            d["truncated"] = True
        return d


# ``proto`` (the issues' JSON name) reads the same slot as ``protocol``, at no cost.
setattr(IPv6, "proto", IPv6.__dict__["protocol"])  # noqa: B010


def _tlv_options(b: bytes, p: int, stop: int) -> list[dict[str, Any]]:
    """Hop-by-hop / destination options (RFC 8200 §4.2); Pad1 is a lone zero byte."""
    out: list[dict[str, Any]] = []
    while p < stop:
        kind = b[p]
        if kind == 0:
            p += 1
            continue
        if p + 1 >= stop or p + 2 + b[p + 1] > stop:
            out.append({"type": kind, "malformed": True})
            break
        n = b[p + 1]
        if kind != 1:  # PadN
            out.append({"type": kind, "data": bytes(b[p + 2 : p + 2 + n]).hex()})
        p += 2 + n
    return out


def build(
    src: str | bytes,
    dst: str | bytes,
    nh: int,
    payload: bytes = b"",
    *,
    hop_limit: int = 64,
    traffic_class: int = 0,
    flow_label: int = 0,
) -> bytes:
    """An IPv6 packet; ``payload`` starts with any extension headers ``nh`` names."""
    vtcfl = (6 << 28) | ((traffic_class & 0xFF) << 20) | (flow_label & 0xFFFFF)
    return _S.pack(vtcfl, len(payload), nh, hop_limit, ip_bytes(src), ip_bytes(dst)) + payload


def build_extension(nh: int, body: bytes = b"") -> bytes:
    """A hop-by-hop, routing or destination-options header carrying ``body``
    (after the two first bytes), padded with PadN/Pad1 to a multiple of 8."""
    n = 2 + len(body)
    pad = -n % 8
    if pad == 1:
        body += b"\x00"
    elif pad:
        body += bytes((1, pad - 2)) + b"\x00" * (pad - 2)
    n += pad
    return bytes((nh, n // 8 - 1)) + body


def build_fragment(nh: int, offset: int, mf: bool, ident: int) -> bytes:
    """A fragment header (RFC 8200 §4.5); ``offset`` in bytes, a multiple of 8."""
    if offset % 8:
        raise ValueError(f"fragment offset {offset} is not a multiple of 8")
    return _FRAG.pack(nh, 0, offset | int(mf), ident)
