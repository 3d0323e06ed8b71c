"""TCP (RFC 9293).

Layout (RFC 9293 §3.1): source port (2), destination port (2), sequence (4),
acknowledgment (4), data offset/reserved/flags (2), window (2), checksum (2),
urgent pointer (2), options ((data offset - 5) * 4).

Options (§3.2, RFC 7323, RFC 2018) are parsed on demand into ``(kind, value)``
pairs: MSS -> int, window scale -> int, SACK-permitted -> None, SACK -> list of
(left, right), timestamps -> (tsval, tsecr), NOP/EOL -> None, anything else ->
the raw bytes. An ICMP error quotes only the first 8 bytes of a segment; such a
``partial`` header has ports and sequence, and ``None`` for the rest.

Hot path (STYLE habit 9): ``TCP`` has no ``__init__``; ``decode`` validates
``HOT`` (one unpack) and fills the slots, and the dispatcher (dispatch.py) fills
them itself for a whole header. The rest is read from the buffer when asked.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip_bytes
from netdiag.packets.checksum import internet_checksum, pseudo_header_sum, transport_checksum_ok

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "TCP",
    "HEADER_LEN",
    "HOT",
    "FIN",
    "SYN",
    "RST",
    "PSH",
    "ACK",
    "URG",
    "ECE",
    "CWR",
    "flags_text",
    "build",
    "build_options",
]

_S = struct.Struct("!HHIIHHHH")
HEADER_LEN = _S.size  # 20
_PORTS = struct.Struct("!HH")
HOT = struct.Struct("!HH8xH")  # ports, data offset/flags: what the dispatcher reads
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100
# tcpdump's order and letters ("Flags [S.]").
_FLAG_LETTERS = (
    (FIN, "F"),
    (SYN, "S"),
    (RST, "R"),
    (PSH, "P"),
    (ACK, "."),
    (URG, "U"),
    (ECE, "E"),
    (CWR, "W"),
    (AE, "e"),
)
OPT_EOL, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_PERM, OPT_SACK, OPT_TS = 0, 1, 2, 3, 4, 5, 8
OPTION_NAMES = {
    0: "eol",
    1: "nop",
    2: "mss",
    3: "wscale",
    4: "sackOK",
    5: "sack",
    8: "TS",
    19: "md5",
    29: "tcp-ao",
    30: "mptcp",
    34: "tfo",
}


def flags_text(flags: int) -> str:
    """Flags as tcpdump prints them: ``S``, ``S.``, ``P.``, ``none``."""
    s = "".join(c for bit, c in _FLAG_LETTERS if flags & bit)
    return s or "none"


class TCP:
    __slots__ = (
        "_buf",
        "_ip",
        "offset",
        "sport",
        "dport",
        "offflags",
        "end",
    )
    _buf: bytes
    _ip: Any  # the IP layer carrying it (IPv4 | IPv6 | None), for the checksum
    offset: int
    sport: int
    dport: int
    offflags: int | None  # data offset and flags; None: only 8 bytes were quoted
    end: int
    name = "tcp"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int, ip: Any = None, quoted: bool = False) -> TCP:
        """The segment at ``off``, ending at ``end``, carried by ``ip`` (for the
        checksum); ``quoted``: inside an ICMP error, where 8 bytes may be all."""
        got = end - off
        seg = cls()
        seg._buf = buf
        seg._ip = ip
        seg.offset = off
        seg.end = end
        if got < HEADER_LEN:
            if quoted and got >= 8:
                seg.sport, seg.dport = _PORTS.unpack_from(buf, off)
                seg.offflags = None
                return seg
            raise TruncatedError("tcp", off, HEADER_LEN, got)
        seg.sport, seg.dport, offflags = HOT.unpack_from(buf, off)
        hl = (offflags >> 12) * 4
        if hl < HEADER_LEN:
            raise MalformedError("tcp", off, f"data offset {hl} < 20")
        if got < hl and not quoted:
            raise TruncatedError("tcp", off, hl, got)
        seg.offflags = offflags
        return seg

    @property
    def header_len(self) -> int:
        """The data offset in bytes; 8 when only the first 8 bytes were quoted."""
        f = self.offflags
        return 8 if f is None else (f >> 12) * 4

    @property
    def partial(self) -> bool:
        """Quoted short of its whole header (inside an ICMP error)."""
        return self.offflags is None or self.end - self.offset < self.header_len

    @property
    def seq(self) -> int:
        return int(_U32.unpack_from(self._buf, self.offset + 4)[0])

    def _rest(self, at: int, fmt: struct.Struct) -> int | None:
        if self.offflags is None:
            return None
        return fmt.unpack_from(self._buf, self.offset + at)[0]  # type: ignore[no-any-return]

    @property
    def ack(self) -> int | None:
        return self._rest(8, _U32)

    @property
    def window(self) -> int | None:
        return self._rest(14, _U16)

    @property
    def checksum(self) -> int | None:
        return self._rest(16, _U16)

    @property
    def urgent(self) -> int | None:
        return self._rest(18, _U16)

    @property
    def data_offset(self) -> int | None:
        return None if self.offflags is None else self.offflags >> 12

    @property
    def flags(self) -> int | None:
        return None if self.offflags is None else self.offflags & 0x1FF

    @property
    def flags_text(self) -> str:
        f = self.flags
        return "?" if f is None else flags_text(f)

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_len

    @property
    def payload_length(self) -> int:
        return max(0, self.end - self.offset - self.header_len)

    @property
    def checksum_ok(self) -> bool | None:
        """None when the segment was not captured whole (or has no IP layer)."""
        return transport_checksum_ok(self._buf, self.offset, self.end, self._ip, 6)

    @property
    def options(self) -> list[tuple[int, Any]]:
        if self.partial:
            return []
        return parse_options(self._buf, self.offset + HEADER_LEN, self.offset + self.header_len)

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "sport": self.sport,
            "dport": self.dport,
            "seq": self.seq,
            "ack": self.ack,
            "flags": self.flags_text,
            "win": self.window,
        }
        if self.partial:
            d["partial"] = True
            return d
        d["checksum"] = self.checksum
        d["checksum_ok"] = self.checksum_ok
        d["urg"] = self.urgent
        if self.header_len > HEADER_LEN:
            d["options"] = [_option_json(k, v) for k, v in self.options]
        return d


def _option_json(kind: int, value: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": kind, "name": OPTION_NAMES.get(kind, str(kind))}
    if isinstance(value, bytes):
        d["data"] = value.hex()
    elif value is not None:
        d["value"] = value
    return d


def parse_options(b: bytes, p: int, stop: int) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    while p < stop:
        kind = b[p]
        if kind == OPT_EOL:
            out.append((OPT_EOL, None))
            break
        if kind == OPT_NOP:
            out.append((OPT_NOP, None))
            p += 1
            continue
        if p + 1 >= stop or b[p + 1] < 2 or p + b[p + 1] > stop:
            out.append((-1, bytes(b[p:stop])))  # malformed remainder, kept
            break
        n = b[p + 1]
        v = bytes(b[p + 2 : p + n])
        val: Any = v
        if kind == OPT_MSS and n == 4:
            val = int.from_bytes(v, "big")
        elif kind == OPT_WSCALE and n == 3:
            val = v[0]
        elif kind == OPT_SACK_PERM and n == 2:
            val = None
        elif kind == OPT_SACK and (n - 2) % 8 == 0:
            val = [
                (int.from_bytes(v[i : i + 4], "big"), int.from_bytes(v[i + 4 : i + 8], "big"))
                for i in range(0, n - 2, 8)
            ]
        elif kind == OPT_TS and n == 10:
            val = (int.from_bytes(v[:4], "big"), int.from_bytes(v[4:], "big"))
        out.append((kind, val))
        p += n
    return out


def build_options(options: list[tuple[int, Any]]) -> bytes:
    """Encode (kind, value) options as ``parse_options`` returns them, padded with EOL."""
    out = bytearray()
    for kind, val in options:
        if kind in (OPT_EOL, OPT_NOP):
            out.append(kind)
        elif kind == OPT_MSS:
            out += struct.pack("!BBH", kind, 4, val)
        elif kind == OPT_WSCALE:
            out += bytes((kind, 3, val))
        elif kind == OPT_SACK_PERM:
            out += bytes((kind, 2))
        elif kind == OPT_SACK:
            out += bytes((kind, 2 + 8 * len(val)))
            for left, right in val:
                out += struct.pack("!II", left, right)
        elif kind == OPT_TS:
            out += struct.pack("!BBII", kind, 10, val[0], val[1])
        else:
            out += bytes((kind, 2 + len(val))) + val
    out += b"\x00" * (-len(out) % 4)
    return bytes(out)


def build(
    sport: int,
    dport: int,
    *,
    seq: int = 0,
    ack: int = 0,
    flags: int = SYN,
    window: int = 64240,
    urgent: int = 0,
    options: bytes = b"",
    payload: bytes = b"",
    src: str | bytes | None = None,
    dst: str | bytes | None = None,
) -> bytes:
    """A TCP segment; with ``src``/``dst`` its checksum covers the pseudo-header."""
    if len(options) % 4 or len(options) > 40:
        raise ValueError("TCP options must be padded to 4 bytes and at most 40")
    hl = HEADER_LEN + len(options)
    seg = bytearray(
        _S.pack(sport, dport, seq, ack, ((hl // 4) << 12) | (flags & 0x1FF), window, 0, urgent)
        + options
        + payload
    )
    if src is not None and dst is not None:
        start = pseudo_header_sum(ip_bytes(src), ip_bytes(dst), 6, len(seg))
        seg[16:18] = internet_checksum(seg, start).to_bytes(2, "big")
    return bytes(seg)
