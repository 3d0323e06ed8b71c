"""LLDP (IEEE 802.1AB-2016 §8), EtherType 0x88cc.

An LLDPDU is a run of TLVs: type (7 bits) and length (9 bits), then the value.
Decoded by name: chassis id (1) and port id (2), each a subtype and an id (a
MAC address for subtype 4 of the chassis or 3 of the port, a network address
for 5 of the chassis or 4 of the port, text otherwise), time to live (3,
seconds), port description (4), system name (5), system description (6),
capabilities (7: supported and enabled bits), management address (8: address
string length, family and address, interface numbering subtype and number, OID
length and OID), and organisationally specific TLVs (127: OUI, subtype, data;
IEEE 802.1's port VLAN id, OUI 00-80-c2 subtype 1, is named). Every other TLV is
kept as type and bytes. The walk stops at the end TLV (type 0) or where the
frame ends on a TLV boundary (some senders omit the end TLV, and tcpdump and
tshark accept that); a TLV whose length runs past the frame, or a lone byte
after the last TLV, is reported there. Each
step consumes at least the 2 bytes of a TLV header, so it cannot loop.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip_text, mac_bytes, mac_text
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LLDP", "LldpTlv", "build", "build_tlv", "TLV_NAMES"]

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
ETHERTYPE = 0x88CC
OUI_8021 = 0x0080C2
TLV_NAMES = {
    0: "end",
    1: "chassis_id",
    2: "port_id",
    3: "ttl",
    4: "port_description",
    5: "system_name",
    6: "system_description",
    7: "capabilities",
    8: "management_address",
    127: "organization_specific",
}
_AFI = {1: 4, 2: 16}  # IANA address family -> address length


@dataclass(frozen=True, slots=True)
class LldpTlv:
    type: int
    value: bytes

    def fields(self) -> dict[str, Any]:
        return {
            "name": TLV_NAMES.get(self.type, f"tlv-{self.type}"),
            "type": self.type,
            "value": self.value,
        }


def _id_text(subtype: int, value: bytes, mac_subtype: int, addr_subtype: int) -> str:
    if subtype == mac_subtype and len(value) == 6:
        return mac_text(value)
    if subtype == addr_subtype and len(value) >= 1 and _AFI.get(value[0]) == len(value) - 1:
        return ip_text(value[1:])
    try:
        return value.decode("utf-8") if value.isascii() else value.hex(":")
    except UnicodeDecodeError:
        return value.hex(":")


@dataclass(frozen=True, slots=True)
class LLDP:
    offset: int
    end: int
    tlvs: tuple[LldpTlv, ...]
    name = "lldp"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int) -> LLDP:
        if end > len(buf):
            end = len(buf)
        out: list[LldpTlv] = []
        at = off
        while end - at >= 2:
            h = _U16.unpack_from(buf, at)[0]
            t, n = h >> 9, h & 0x1FF
            if end - at - 2 < n:
                raise TruncatedError("lldp", at, 2 + n, end - at)
            tlv = LldpTlv(t, bytes(buf[at + 2 : at + 2 + n]))
            _check(tlv, at)
            out.append(tlv)
            at += 2 + n
            if t == 0:
                break
        if not out or end - at == 1:
            raise TruncatedError("lldp", at, 2, end - at)
        return cls(off, end, tuple(out))

    @property
    def header_len(self) -> int:
        return self.end - self.offset

    @property
    def length(self) -> int:
        return self.end - self.offset

    def _first(self, t: int) -> bytes | None:
        for x in self.tlvs:
            if x.type == t:
                return x.value
        return None

    @property
    def chassis_subtype(self) -> int | None:
        v = self._first(1)
        return v[0] if v else None

    @property
    def chassis_id(self) -> str | None:
        v = self._first(1)
        return _id_text(v[0], v[1:], 4, 5) if v else None

    @property
    def port_subtype(self) -> int | None:
        v = self._first(2)
        return v[0] if v else None

    @property
    def port_id(self) -> str | None:
        v = self._first(2)
        return _id_text(v[0], v[1:], 3, 4) if v else None

    @property
    def ttl(self) -> int | None:
        v = self._first(3)
        return int(_U16.unpack_from(v)[0]) if v is not None and len(v) >= 2 else None

    def _text(self, t: int) -> str | None:
        v = self._first(t)
        return None if v is None else v.decode("utf-8", "replace")

    @property
    def port_description(self) -> str | None:
        return self._text(4)

    @property
    def system_name(self) -> str | None:
        return self._text(5)

    @property
    def system_description(self) -> str | None:
        return self._text(6)

    @property
    def capabilities(self) -> tuple[int, int] | None:
        v = self._first(7)
        return (v[0] << 8 | v[1], v[2] << 8 | v[3]) if v is not None and len(v) >= 4 else None

    @property
    def management_addresses(self) -> list[dict[str, Any]]:
        out = []
        for x in self.tlvs:
            if x.type != 8:
                continue
            v = x.value
            n = v[0]
            afi = v[1]
            addr = v[2 : 1 + n]
            text = ip_text(addr) if _AFI.get(afi) == len(addr) else addr.hex(":")
            at = 1 + n
            out.append(
                {
                    "family": afi,
                    "address": text,
                    "if_subtype": v[at],
                    "if_number": int(_U32.unpack_from(v, at + 1)[0]),
                }
            )
        return out

    @property
    def port_vlan(self) -> int | None:
        """IEEE 802.1 port VLAN id (OUI 00-80-c2, subtype 1)."""
        for x in self.tlvs:
            v = x.value
            if x.type == 127 and len(v) >= 6 and v[:4] == b"\x00\x80\xc2\x01":
                return int(_U16.unpack_from(v, 4)[0])
        return None

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "chassis_subtype": self.chassis_subtype,
            "chassis_id": self.chassis_id,
            "port_subtype": self.port_subtype,
            "port_id": self.port_id,
            "ttl": self.ttl,
        }
        for key, val in (
            ("port_description", self.port_description),
            ("system_name", self.system_name),
            ("system_description", self.system_description),
            ("port_vlan", self.port_vlan),
        ):
            if val is not None:
                d[key] = val
        caps = self.capabilities
        if caps is not None:
            d["capabilities"], d["enabled"] = caps
        mgmt = self.management_addresses
        if mgmt:
            d["management"] = mgmt
        d["tlvs"] = [x.fields() for x in self.tlvs]
        return d


def _check(tlv: LldpTlv, at: int) -> None:
    """The minimum value lengths of the TLVs decoded by name (802.1AB §8.5)."""
    t, v = tlv.type, tlv.value
    if t in (1, 2) and len(v) < 2:
        raise MalformedError("lldp", at, f"{TLV_NAMES[t]} TLV of {len(v)} bytes")
    if t == 3 and len(v) < 2:
        raise MalformedError("lldp", at, f"ttl TLV of {len(v)} bytes")
    if t == 7 and len(v) < 4:
        raise MalformedError("lldp", at, f"capabilities TLV of {len(v)} bytes")
    if t == 8:
        if len(v) < 1 or v[0] < 2 or len(v) < 1 + v[0] + 6:
            raise MalformedError("lldp", at, "management address TLV too short for its fields")
        oid = v[1 + v[0] + 5]
        if len(v) < 1 + v[0] + 6 + oid:
            raise MalformedError("lldp", at, "management address OID beyond the TLV")
    if t == 127 and len(v) < 4:
        raise MalformedError("lldp", at, f"organization specific TLV of {len(v)} bytes")


def build_tlv(t: int, value: bytes = b"") -> bytes:
    if len(value) > 511:
        raise ValueError("an LLDP TLV value has at most 511 bytes")
    return _U16.pack(t << 9 | len(value)) + value


def build(
    chassis_mac: str,
    port: str,
    ttl: int = 120,
    *,
    system_name: str | None = None,
    port_vlan: int | None = None,
    extra: bytes = b"",
) -> bytes:
    """An LLDPDU: chassis id (MAC), port id (interface name), TTL, optional TLVs, end."""
    out = build_tlv(1, b"\x04" + mac_bytes(chassis_mac))
    out += build_tlv(2, b"\x05" + port.encode())
    out += build_tlv(3, _U16.pack(ttl))
    if system_name is not None:
        out += build_tlv(5, system_name.encode())
    if port_vlan is not None:
        out += build_tlv(127, b"\x00\x80\xc2\x01" + _U16.pack(port_vlan))
    return out + extra + build_tlv(0)
