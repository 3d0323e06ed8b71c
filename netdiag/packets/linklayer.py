"""Link-layer headers other than Ethernet, and the link-type table.

- Linux cooked v1 (LINKTYPE_LINUX_SLL, 113): packet type (2), ARPHRD type (2),
  address length (2), address (8, padded), protocol (2). 16 bytes.
- Linux cooked v2 (LINKTYPE_LINUX_SLL2, 276): protocol (2), reserved (2),
  interface index (4), ARPHRD type (2), packet type (1), address length (1),
  address (8). 20 bytes.
- BSD loopback (NULL, 0: family in the capturing host's byte order; LOOP, 108:
  network byte order), 4 bytes. IPv4 is family 2; IPv6 is 24, 28 or 30 on the
  BSDs and 10 on Linux.

As for every layer class, ``decode`` (a classmethod) validates and builds.
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.packets.addr import mac_text
from netdiag.packets.numbers import LinkType

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LinuxSLL",
    "LinuxSLL2",
    "Loopback",
    "LINKTYPE_NAMES",
    "NULL_AF_IPV4",
    "NULL_AF_IPV6",
    "build_sll",
    "build_sll2",
    "build_null",
]

_SLL = struct.Struct("!HHH8sH")
_SLL2 = struct.Struct("!HHIHBB8s")
NULL_AF_IPV4 = 2
NULL_AF_IPV6 = frozenset((10, 24, 28, 30))

PACKET_TYPES = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}

LINKTYPE_NAMES = {
    LinkType.NULL: "NULL",
    LinkType.ETHERNET: "EN10MB",
    LinkType.RAW: "RAW",
    LinkType.LOOP: "LOOP",
    LinkType.LINUX_SLL: "LINUX_SLL",
    LinkType.IPV4: "IPV4",
    LinkType.IPV6: "IPV6",
    LinkType.LINUX_SLL2: "LINUX_SLL2",
    LinkType.PPP: "PPP",
    LinkType.PPP_HDLC: "PPP_SERIAL",
    LinkType.C_HDLC: "C_HDLC",
    LinkType.IEEE802_11: "IEEE802_11",
    LinkType.FRELAY: "FRELAY",
    LinkType.PFLOG: "PFLOG",
    LinkType.SUNATM: "SUNATM",
    LinkType.IEEE802_11_RADIO: "IEEE802_11_RADIO",
    LinkType.NFLOG: "NFLOG",
}


class LinuxSLL:
    __slots__ = ("pkttype", "hatype", "addr_raw", "type", "offset")
    name = "sll"
    header_len = _SLL.size

    pkttype: int
    hatype: int
    addr_raw: bytes
    type: int
    offset: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> LinuxSLL:
        got = len(buf) - off
        if got < _SLL.size:
            raise TruncatedError("sll", off, _SLL.size, got)
        h = cls()
        h.pkttype, h.hatype, alen, addr, h.type = _SLL.unpack_from(buf, off)
        h.addr_raw = addr[: min(alen, 8)]
        h.offset = off
        return h

    @property
    def addr(self) -> str:
        return mac_text(self.addr_raw) if self.addr_raw else ""

    def fields(self) -> dict[str, Any]:
        return {
            "pkttype": self.pkttype,
            "hatype": self.hatype,
            "addr": self.addr,
            "type": self.type,
        }


class LinuxSLL2:
    __slots__ = ("type", "ifindex", "hatype", "pkttype", "addr_raw", "offset")
    name = "sll2"
    header_len = _SLL2.size

    type: int
    ifindex: int
    hatype: int
    pkttype: int
    addr_raw: bytes
    offset: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> LinuxSLL2:
        got = len(buf) - off
        if got < _SLL2.size:
            raise TruncatedError("sll2", off, _SLL2.size, got)
        h = cls()
        h.type, _res, h.ifindex, h.hatype, h.pkttype, alen, addr = _SLL2.unpack_from(buf, off)
        h.addr_raw = addr[: min(alen, 8)]
        h.offset = off
        return h

    @property
    def addr(self) -> str:
        return mac_text(self.addr_raw) if self.addr_raw else ""

    def fields(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "ifindex": self.ifindex,
            "hatype": self.hatype,
            "pkttype": self.pkttype,
            "addr": self.addr,
        }


class Loopback:
    """BSD loopback encapsulation. ``family`` is normalised to the host that wrote it."""

    __slots__ = ("family", "offset")
    name = "loopback"
    header_len = 4

    family: int
    offset: int

    @classmethod
    def decode(cls, buf: bytes, off: int, network_order: bool) -> Loopback:
        got = len(buf) - off
        if got < 4:
            raise TruncatedError("loopback", off, 4, got)
        raw = bytes(buf[off : off + 4])
        fam = int.from_bytes(raw, "big")
        if not network_order and fam > 0xFFFF:  # written little-endian
            fam = int.from_bytes(raw, "little")
        h = cls()
        h.family = fam
        h.offset = off
        return h

    @property
    def ethertype(self) -> int | None:
        if self.family == NULL_AF_IPV4:
            return 0x0800
        if self.family in NULL_AF_IPV6:
            return 0x86DD
        return None

    def fields(self) -> dict[str, Any]:
        return {"family": self.family}


def build_sll(
    proto: int, payload: bytes, pkttype: int = 0, addr: bytes = b"", hatype: int = 1
) -> bytes:
    return _SLL.pack(pkttype, hatype, len(addr), addr.ljust(8, b"\x00"), proto) + payload


def build_sll2(
    proto: int,
    payload: bytes,
    ifindex: int = 1,
    pkttype: int = 0,
    addr: bytes = b"",
    hatype: int = 1,
) -> bytes:
    return (
        _SLL2.pack(proto, 0, ifindex, hatype, pkttype, len(addr), addr.ljust(8, b"\x00")) + payload
    )


def build_null(family: int, payload: bytes, network_order: bool = False) -> bytes:
    return family.to_bytes(4, "big" if network_order else "little") + payload
