"""NTP packets (RFC 5905 §7.3; control messages, mode 6: RFC 9327 and RFC 1305 App. B).

``decode(data)`` returns a frozen ``Ntp``. The first byte gives the leap
indicator, version and mode. For modes 0-5 and 7, the 48-byte header follows:
stratum, poll and precision (signed log2 seconds), root delay and root
dispersion (unsigned 16.16 seconds, kept raw: ``root_delay / 65536`` is
seconds), the reference id (4 bytes), and the reference, origin, receive and
transmit timestamps (64-bit 32.32 from 1900, kept raw). What follows the
header (extension fields, key id and MAC) is ``trailer`` bytes. For mode 6,
the 12-byte control header: response/error/more bits and opcode, sequence,
status, association id, offset, count, then ``count`` bytes of data.

A datagram shorter than its header is a ``TruncatedError`` (layer ``"ntp"``),
a control message whose count runs past the datagram too. ``build(...)``
writes a client or server packet (round trip ``decode(build(...))``).
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.records import dataclass

__all__ = ["Ntp", "NtpControl", "decode", "build", "HEADER_LEN", "MODE_NAMES"]

_S = struct.Struct("!BBbbII4sQQQQ")
HEADER_LEN = _S.size  # 48
_C = struct.Struct("!BBHHHHH")
CONTROL_LEN = _C.size  # 12
_L = "ntp"
MODE_NAMES = {0: "unspecified", 1: "symmetric active", 2: "symmetric passive", 3: "client",
              4: "server", 5: "broadcast", 6: "control", 7: "private"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NtpControl:
    """The mode-6 control header (RFC 9327 §2)."""

    response: bool
    error: bool
    more: bool
    opcode: int
    sequence: int
    status: int
    association_id: int
    offset: int
    count: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Ntp:
    leap: int
    version: int
    mode: int
    length: int
    stratum: int | None = None
    poll: int | None = None
    precision: int | None = None
    root_delay: int | None = None  # 16.16 fixed point, raw
    root_dispersion: int | None = None  # 16.16 fixed point, raw
    reference_id: bytes | None = None
    reference_ts: int | None = None  # 32.32 fixed point from 1900, raw
    origin_ts: int | None = None
    receive_ts: int | None = None
    transmit_ts: int | None = None
    trailer: bytes = b""  # extension fields, key id and MAC
    control: NtpControl | None = None

    @property
    def mode_name(self) -> str:
        return MODE_NAMES[self.mode]

    @property
    def reference_id_text(self) -> str | None:
        """Stratum 0/1: the ASCII kiss code or source; above: an IPv4 address (or hash)."""
        r = self.reference_id
        if r is None:
            return None
        if self.stratum is not None and self.stratum <= 1:
            return "".join(chr(b) for b in r if 0x20 <= b < 0x7F)
        return f"{r[0]}.{r[1]}.{r[2]}.{r[3]}"


def decode(data: bytes | memoryview) -> Ntp:
    buf = bytes(data)
    n = len(buf)
    if n < 1:
        raise TruncatedError(_L, 0, 1, 0)
    b0 = buf[0]
    leap, version, mode = b0 >> 6, b0 >> 3 & 7, b0 & 7
    if mode == 6:
        if n < CONTROL_LEN:
            raise TruncatedError(_L, 0, CONTROL_LEN, n)
        _, b1, seq, status, assoc, offset, count = _C.unpack_from(buf)
        if CONTROL_LEN + count > n:
            raise TruncatedError(_L, CONTROL_LEN, count, n - CONTROL_LEN)
        ctl = NtpControl(
            bool(b1 & 0x80), bool(b1 & 0x40), bool(b1 & 0x20), b1 & 0x1F,
            seq, status, assoc, offset, count, buf[CONTROL_LEN : CONTROL_LEN + count],
        )  # fmt: skip
        return Ntp(leap, version, mode, n, trailer=buf[CONTROL_LEN + count :], control=ctl)
    if n < HEADER_LEN:
        raise TruncatedError(_L, 0, HEADER_LEN, n)
    _, stratum, poll, prec, rdelay, rdisp, refid, ref, org, rec, xmt = _S.unpack_from(buf)
    return Ntp(
        leap, version, mode, n, stratum, poll, prec, rdelay, rdisp, refid,
        ref, org, rec, xmt, buf[HEADER_LEN:],
    )  # fmt: skip


def build(
    mode: int = 3,
    *,
    version: int = 4,
    leap: int = 0,
    stratum: int = 0,
    poll: int = 0,
    precision: int = 0,
    root_delay: int = 0,
    root_dispersion: int = 0,
    reference_id: bytes = b"\0\0\0\0",
    reference_ts: int = 0,
    origin_ts: int = 0,
    receive_ts: int = 0,
    transmit_ts: int = 0,
    trailer: bytes = b"",
) -> bytes:
    """An NTP packet of modes 0-5 or 7 (RFC 5905 §7.3)."""
    return (
        _S.pack(
            leap << 6 | version << 3 | mode,
            stratum,
            poll,
            precision,
            root_delay,
            root_dispersion,
            reference_id,
            reference_ts,
            origin_ts,
            receive_ts,
            transmit_ts,
        )  # fmt: skip
        + trailer
    )
