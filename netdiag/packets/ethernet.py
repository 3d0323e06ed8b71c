"""Ethernet II (IEEE 802.3 framing with an EtherType) and 802.1Q/802.1ad tags.

Layout: destination MAC (6), source MAC (6), EtherType (2). A VLAN tag
(IEEE 802.1Q §9.6) sits where the EtherType was: TPID (2) then TCI (2:
PCP 3 bits, DEI 1 bit, VID 12 bits) and the next EtherType.
A type field below 0x0600 is an 802.3 length (LLC follows): kept as ``type``.

Like every layer class, ``Ethernet`` and ``VlanTag`` have no ``__init__``: the
``decode`` classmethod validates and fills the slots, and the dispatcher
(dispatch.py) fills them itself on its fast path (STYLE habit 9).
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.packets.addr import mac_bytes, mac_text

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Ethernet", "VlanTag", "HEADER_LEN", "TAG_LEN", "TAG", "TYPE", "TYPE_AT", "build", "tci"]

_S = struct.Struct("!6s6sH")
HEADER_LEN = _S.size  # 14
TYPE = struct.Struct("!H")  # the EtherType, at TYPE_AT (the dispatcher reads it)
TYPE_AT = 12
TAG = struct.Struct("!HH")  # TCI, next type (the TPID is the previous type field)
TAG_LEN = 4

_PCP_SHIFT = 13
_DEI_MASK = 0x1000
_VID_MASK = 0x0FFF


class Ethernet:
    """An Ethernet II header. ``type`` is the EtherType (or 802.3 length).

    Only the type is read up front; the MACs are sliced out when asked for.
    """

    __slots__ = ("_buf", "type", "offset")
    _buf: bytes
    type: int
    offset: int
    name = "ethernet"
    header_len = HEADER_LEN

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> Ethernet:
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("ethernet", off, HEADER_LEN, got)
        eth = cls()
        eth._buf = buf
        eth.type = TYPE.unpack_from(buf, off + TYPE_AT)[0]
        eth.offset = off
        return eth

    @property
    def dst_raw(self) -> bytes:
        return bytes(self._buf[self.offset : self.offset + 6])

    @property
    def src_raw(self) -> bytes:
        return bytes(self._buf[self.offset + 6 : self.offset + 12])

    @property
    def dst(self) -> str:
        return mac_text(self.dst_raw)

    @property
    def src(self) -> str:
        return mac_text(self.src_raw)

    def fields(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "type": self.type}


class VlanTag:
    """One 802.1Q (TPID 0x8100) or 802.1ad (0x88a8) tag. ``type`` is the next EtherType."""

    __slots__ = ("tpid", "tci", "type", "offset")
    tpid: int
    tci: int
    type: int
    offset: int
    name = "vlan"
    header_len = TAG_LEN

    @classmethod
    def decode(cls, buf: bytes, off: int, tpid: int) -> VlanTag:
        got = len(buf) - off
        if got < TAG_LEN:
            raise TruncatedError("vlan", off, TAG_LEN, got)
        tag = cls()
        tag.tci, tag.type = TAG.unpack_from(buf, off)
        tag.tpid = tpid
        tag.offset = off
        return tag

    @property
    def vid(self) -> int:
        return self.tci & _VID_MASK

    @property
    def pcp(self) -> int:
        return self.tci >> _PCP_SHIFT

    @property
    def dei(self) -> bool:
        return bool(self.tci & _DEI_MASK)

    def fields(self) -> dict[str, Any]:
        return {
            "tpid": self.tpid,
            "vid": self.vid,
            "pcp": self.pcp,
            "dei": self.dei,
            "type": self.type,
        }


def build(
    dst: str | bytes,
    src: str | bytes,
    ethertype: int,
    payload: bytes = b"",
    vlans: tuple[tuple[int, int], ...] = (),
) -> bytes:
    """An Ethernet II frame (no FCS, no padding).

    ``vlans`` lists the tags outermost first as ``(tpid, tci)`` pairs, e.g.
    ``((0x88A8, 100), (0x8100, 200))`` for 802.1ad QinQ.
    """
    head = bytearray(mac_bytes(dst) + mac_bytes(src))
    for tpid, tci in vlans:
        if not 0 <= tci <= 0xFFFF:
            raise ValueError(f"a VLAN TCI is 16 bits, not {tci}")
        head += struct.pack("!HH", tpid, tci)
    head += struct.pack("!H", ethertype)
    return bytes(head) + payload


def tci(vid: int, pcp: int = 0, dei: bool = False) -> int:
    """The TCI of a tag (IEEE 802.1Q §9.6)."""
    if not 0 <= vid <= _VID_MASK or not 0 <= pcp <= 7:
        raise ValueError(f"VLAN id must be 0..4095 and PCP 0..7, not {vid}/{pcp}")
    return (pcp << _PCP_SHIFT) | (_DEI_MASK if dei else 0) | vid
