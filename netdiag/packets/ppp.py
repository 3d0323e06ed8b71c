"""PPP frames (LINKTYPE_PPP, 9; LINKTYPE_PPP_HDLC, 50).

Layout (RFC 1661 §2, RFC 1662 §3.1): in HDLC-like framing, address 0xFF and
control 0x03 come first (link type 50 always has them; link type 9 may); then
the protocol field, 2 bytes, or 1 byte when compressed (RFC 1661 §6.5: an odd
first byte). Protocol 0x0021 carries IPv4, 0x0057 IPv6 (RFC 5072).
"""

from __future__ import annotations

from netdiag.errors import TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PPP", "build", "PROTOCOL_NAMES", "ETHERTYPES"]

PROTO_IP, PROTO_IPV6 = 0x0021, 0x0057
#: PPP protocol -> the EtherType of what it carries
ETHERTYPES = {PROTO_IP: 0x0800, PROTO_IPV6: 0x86DD, 0x0281: 0x8847, 0x002B: 0x8137}
#: names as tcpdump prints them
PROTOCOL_NAMES = {
    PROTO_IP: "IP", PROTO_IPV6: "IPV6", 0x0281: "MPLS", 0x0283: "MPLS", 0x002B: "IPX",
    0xC021: "LCP", 0x8021: "IPCP", 0x8057: "IP6CP", 0xC023: "PAP", 0xC223: "CHAP",
    0x003D: "ML", 0x80FD: "CCP", 0x00FD: "COMP",
}  # fmt: skip


class PPP:
    __slots__ = ("address", "control", "protocol", "offset", "header_len")
    name = "ppp"

    address: int | None
    control: int | None
    protocol: int
    offset: int
    header_len: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0, hdlc: bool = False) -> PPP:
        """``hdlc``: the frame has address and control bytes (link type 50)."""
        got = len(buf) - off
        h = cls()
        h.offset = off
        h.address = h.control = None
        pos = off
        if hdlc or (got >= 2 and buf[off] == 0xFF and buf[off + 1] == 0x03):
            if got < 2:
                raise TruncatedError("ppp", off, 2, got)
            h.address, h.control = buf[off], buf[off + 1]
            pos += 2
        if len(buf) - pos < 1:
            raise TruncatedError("ppp", off, pos - off + 2, got)
        if buf[pos] & 1:
            h.protocol = buf[pos]
            pos += 1
        else:
            if len(buf) - pos < 2:
                raise TruncatedError("ppp", off, pos - off + 2, got)
            h.protocol = buf[pos] << 8 | buf[pos + 1]
            pos += 2
        h.header_len = pos - off
        return h

    @property
    def ethertype(self) -> int:
        return ETHERTYPES.get(self.protocol, 0)

    @property
    def protocol_name(self) -> str:
        return PROTOCOL_NAMES.get(self.protocol, "")

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.address is not None:
            d["address"] = self.address
            d["control"] = self.control
        d["protocol"] = self.protocol
        return d


def build(protocol: int, payload: bytes = b"", hdlc: bool = True) -> bytes:
    head = b"\xff\x03" if hdlc else b""
    return head + protocol.to_bytes(2, "big") + payload
