"""BOOTP and DHCP messages (RFC 951, RFC 2131; options RFC 2132).

``decode(data)`` returns a frozen ``Dhcp``: the fixed BOOTP header (op, hardware
type and length, hops, xid, secs, flags, ciaddr/yiaddr/siaddr/giaddr, chaddr,
sname, file), and, after the magic cookie 99.130.83.99, the options as
``(code, bytes)`` in wire order (pad and end are not kept). With option 52
(overload, RFC 2132 §9.3) the options in ``file`` and then ``sname`` follow.
Option values are interpreted by the readers (``option``, ``message_type``,
``client_mac``) and by ``inspect/dhcptext``, which names them.

Bounded: each option's length is checked against the field it is in
(``TruncatedError``), a message shorter than the 236-byte header is truncated,
and a missing end option is accepted (many clients pad without one).
``build(...)`` writes a message (round trip ``decode(build(...))``).
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass

__all__ = ["Dhcp", "decode", "build", "HEADER_LEN", "MAGIC", "MESSAGE_TYPES"]

_S = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")
HEADER_LEN = _S.size  # 236
MAGIC = b"\x63\x82\x53\x63"
_L = "dhcp"

# RFC 2132 §9.6, RFC 4388, RFC 6926; tcpdump's names.
MESSAGE_TYPES = {1: "Discover", 2: "Offer", 3: "Request", 4: "Decline", 5: "ACK", 6: "NACK",
                 7: "Release", 8: "Inform", 9: "Force Renew", 10: "Lease Query",
                 11: "Lease Unassigned", 12: "Lease Unknown", 13: "Lease Active"}  # fmt: skip


def _ip(b: bytes) -> str:
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


@dataclass(frozen=True, slots=True)
class Dhcp:
    op: int  # 1 BOOTREQUEST, 2 BOOTREPLY
    htype: int
    hlen: int
    hops: int
    xid: int
    secs: int
    flags: int  # bit 15: broadcast
    ciaddr: str
    yiaddr: str
    siaddr: str
    giaddr: str
    chaddr: bytes  # 16 bytes; the first ``hlen`` are the address
    sname: bytes
    file: bytes
    magic: bool  # the DHCP magic cookie was there (else: plain BOOTP vendor area)
    options: tuple[tuple[int, bytes], ...]
    length: int

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def client_mac(self) -> str | None:
        """chaddr as a MAC address (Ethernet: htype 1, hlen 6)."""
        if self.htype != 1 or self.hlen != 6:
            return None
        return ":".join(f"{b:02x}" for b in self.chaddr[:6])

    def option(self, code: int) -> bytes | None:
        """The first option ``code``'s value (RFC 3396 splitting is not joined)."""
        for c, v in self.options:
            if c == code:
                return v
        return None

    @property
    def message_type(self) -> int | None:
        v = self.option(53)
        return v[0] if v else None

    @property
    def message_type_name(self) -> str | None:
        t = self.message_type
        return None if t is None else MESSAGE_TYPES.get(t, f"Unknown ({t})")


def _options(buf: bytes, at: int, end: int, out: list[tuple[int, bytes]]) -> None:
    while at < end:
        code = buf[at]
        if code == 0:
            at += 1
            continue
        if code == 255:
            return
        if at + 2 > end:
            raise TruncatedError(_L, at, 2, end - at)
        n = buf[at + 1]
        if at + 2 + n > end:
            raise TruncatedError(_L, at, 2 + n, end - at)
        out.append((code, bytes(buf[at + 2 : at + 2 + n])))
        at += 2 + n


def decode(data: bytes | memoryview) -> Dhcp:
    buf = bytes(data)
    n = len(buf)
    if n < HEADER_LEN:
        raise TruncatedError(_L, 0, HEADER_LEN, n)
    op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, ch, sname, file = _S.unpack_from(buf)
    if hlen > 16:
        raise MalformedError(_L, 2, f"hardware address length {hlen} > 16")
    opts: list[tuple[int, bytes]] = []
    magic = buf[HEADER_LEN : HEADER_LEN + 4] == MAGIC
    if magic:
        _options(buf, HEADER_LEN + 4, n, opts)
        overload = next((v for c, v in opts if c == 52), None)
        if overload:
            if overload[0] & 1:
                _options(buf, 108, 236, opts)  # file
            if overload[0] & 2:
                _options(buf, 44, 108, opts)  # sname
    elif n > HEADER_LEN and n < HEADER_LEN + 4:
        raise TruncatedError(_L, HEADER_LEN, 4, n - HEADER_LEN)
    return Dhcp(
        op, htype, hlen, hops, xid, secs, flags, _ip(ci), _ip(yi), _ip(si), _ip(gi),
        ch, sname, file, magic, tuple(opts), n,
    )  # fmt: skip


def _addr(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def build(
    op: int,
    xid: int,
    chaddr: bytes,
    options: tuple[tuple[int, bytes], ...] | list[tuple[int, bytes]] = (),
    *,
    htype: int = 1,
    hops: int = 0,
    secs: int = 0,
    flags: int = 0,
    ciaddr: str = "0.0.0.0",
    yiaddr: str = "0.0.0.0",
    siaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    sname: bytes = b"",
    file: bytes = b"",
    pad_to: int = 300,
) -> bytes:
    """A DHCP message with the magic cookie, ``options``, the end option, and zero
    padding up to ``pad_to`` bytes (BOOTP's 300-byte minimum, RFC 951)."""
    head = _S.pack(
        op, htype, len(chaddr), hops, xid, secs, flags, _addr(ciaddr), _addr(yiaddr),
        _addr(siaddr), _addr(giaddr), chaddr, sname, file,
    )  # fmt: skip
    body = b"".join(bytes((c, len(v))) + v for c, v in options) + b"\xff"
    msg = head + MAGIC + body
    return msg + bytes(max(0, pad_to - len(msg)))
