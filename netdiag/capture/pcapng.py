"""The pcapng file format (draft-ietf-opsawg-pcapng): reader and writer.

Every block: type (4), total length (4), body, total length again (4); lengths
are multiples of 4 and at least 12. A file is one or more sections; each starts
with a Section Header Block (type 0x0A0D0D0A, the same in both byte orders)
whose byte-order magic 0x1A2B3C4D fixes the byte order of the section, and has
its own interfaces:

- IDB (1): link type (2), reserved (2), snaplen (4), options; ``if_tsresol``
  (9, one byte: 10^-n, or 2^-n with the high bit set; default 10^-6) and
  ``if_tsoffset`` (14, seconds added to every timestamp).
- EPB (6): interface (4), timestamp high and low (4+4), captured length (4),
  original length (4), data padded to 4, options.
- SPB (3): original length (4), data; interface 0; the captured length is
  min(original length, snaplen, room in the block).
- Packet Block (2, obsolete): interface (2), drops (2), then as the EPB.

Other block types are skipped by their length. Interface numbers in records are
counted across the whole file (section 2's interface 0 follows section 1's), as
tshark numbers them, so ``linktypes[record.interface]`` is always right.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from netdiag.capture.record import MAX_RECORD, CaptureWriter, Input, Record
from netdiag.errors import DamagedCaptureError, UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["PcapNgReader", "PcapNgWriter", "SHB_TYPE", "BYTE_ORDER_MAGIC"]

SHB_TYPE = 0x0A0D0D0A
BYTE_ORDER_MAGIC = 0x1A2B3C4D
IDB_TYPE = 1
PB_TYPE = 2
SPB_TYPE = 3
EPB_TYPE = 6
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_SHB_HARDWARE = 2
OPT_SHB_OS = 3
OPT_SHB_USERAPPL = 4
OPT_IF_NAME = 2
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14

_BLOCK_NAMES = {
    SHB_TYPE: "section header",
    IDB_TYPE: "interface description",
    PB_TYPE: "packet",
    SPB_TYPE: "simple packet",
    EPB_TYPE: "enhanced packet",
}
_MIN_LEN = {SHB_TYPE: 28, IDB_TYPE: 20, PB_TYPE: 32, SPB_TYPE: 16, EPB_TYPE: 32}


def _structs(order: str) -> dict[str, struct.Struct]:
    return {
        "hdr": struct.Struct(order + "II"),
        "u32": struct.Struct(order + "I"),
        "shb": struct.Struct(order + "HHq"),
        "idb": struct.Struct(order + "HHI"),
        "epb": struct.Struct(order + "IIIII"),
        "pb": struct.Struct(order + "HHIIII"),
        "opt": struct.Struct(order + "HH"),
        "i64": struct.Struct(order + "q"),
    }


_S = {"<": _structs("<"), ">": _structs(">")}


def _block_name(btype: int) -> str:
    return _BLOCK_NAMES.get(btype, f"type 0x{btype:08x}")


class _Interface:
    __slots__ = ("linktype", "snaplen", "mul", "div", "offset_ns", "number")

    def __init__(
        self, linktype: int, snaplen: int, tsresol: int, offset_s: int, number: int
    ) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        exp = tsresol & 0x7F
        if tsresol & 0x80:  # 2^-exp seconds
            self.mul, self.div = 1_000_000_000, 1 << exp
        elif exp <= 9:
            self.mul, self.div = 10 ** (9 - exp), 1
        else:
            self.mul, self.div = 1, 10 ** (exp - 9)
        self.offset_ns = offset_s * 1_000_000_000
        self.number = number


class PcapNgReader:
    """Parses the first section header at once (raising ``CaptureError`` if it is bad),
    then blocks as they are iterated. ``linktypes`` lists every interface seen so far;
    the interface blocks before the first packet are read at once."""

    format = "pcapng"

    def __init__(self, inp: Input) -> None:
        self._inp = inp
        self.linktypes: list[int] = []
        self.snaplens: list[int] = []
        self._ifaces: list[_Interface] = []  # of the current section
        self._order = "<"
        self._n = 0
        got = inp.ensure(12)
        b = inp.buf[inp.pos : inp.pos + 12]
        if got < 12 or int.from_bytes(b[8:12], "little") not in (BYTE_ORDER_MAGIC, 0x4D3C2B1A):
            reason = (
                f"truncated section header block ({got} of 12 bytes)"
                if got < 12
                else f"bad byte-order magic 0x{b[8:12].hex()}"
            )
            raise DamagedCaptureError(inp.name, 0, 0, reason)
        self._block()  # the first section header: errors here are the file's, raised now
        try:
            while self._peek() in (IDB_TYPE, SHB_TYPE):
                self._block()
        except DamagedCaptureError:
            pass  # raised again, at the same place, by iteration

    @property
    def snaplen(self) -> int:
        return self.snaplens[0] if self.snaplens else 0

    def _peek(self) -> int | None:
        inp = self._inp
        if inp.ensure(8) < 8:
            return None
        return int(_S[self._order]["u32"].unpack_from(inp.buf, inp.pos)[0])

    def _damaged(self, reason: str) -> DamagedCaptureError:
        return DamagedCaptureError(self._inp.name, self._inp.offset, self._n, reason)

    def _block(self) -> Record | None:
        """Read the block at the current position; return its record, if it is a packet.
        Raise EOFError at the clean end of the input."""
        inp = self._inp
        avail = inp.ensure(12)
        if avail == 0:
            raise EOFError
        if avail < 8:
            raise self._damaged(f"truncated block header ({avail} of 8 bytes)")
        buf, pos = inp.buf, inp.pos
        s = _S[self._order]
        btype, blen = s["hdr"].unpack_from(buf, pos)
        if btype == SHB_TYPE:
            if avail < 12:
                raise self._damaged(f"truncated section header block ({avail} of 12 bytes)")
            bom = buf[pos + 8 : pos + 12]
            if int.from_bytes(bom, "little") == BYTE_ORDER_MAGIC:
                self._order = "<"
            elif int.from_bytes(bom, "big") == BYTE_ORDER_MAGIC:
                self._order = ">"
            else:
                raise self._damaged(f"bad byte-order magic 0x{bom.hex()}")
            s = _S[self._order]
            blen = s["u32"].unpack_from(buf, pos + 4)[0]
        name = _block_name(btype)
        if blen % 4 or blen < _MIN_LEN.get(btype, 12) or blen > MAX_RECORD:
            raise self._damaged(f"impossible {name} block length {blen}")
        avail = inp.ensure(blen)
        if avail < blen:
            raise self._damaged(f"truncated {name} block ({avail} of {blen} bytes)")
        buf, pos = inp.buf, inp.pos
        trailer = s["u32"].unpack_from(buf, pos + blen - 4)[0]
        if trailer != blen:
            raise self._damaged(f"{name} block length {blen} and trailing length {trailer} differ")
        rec = None
        if btype == EPB_TYPE or btype == PB_TYPE:
            if btype == EPB_TYPE:
                ifn, hi, lo, caplen, wirelen = s["epb"].unpack_from(buf, pos + 8)
            else:
                ifn, _drops, hi, lo, caplen, wirelen = s["pb"].unpack_from(buf, pos + 8)
            if ifn >= len(self._ifaces):
                raise self._damaged(
                    f"{name} block on interface {ifn}, but the section "
                    f"has {len(self._ifaces)} interfaces"
                )
            if 32 + caplen > blen:
                raise self._damaged(f"captured length {caplen} does not fit a {blen}-byte block")
            i = self._ifaces[ifn]
            ts = ((hi << 32) | lo) * i.mul // i.div + i.offset_ns
            rec = Record(ts, buf[pos + 28 : pos + 28 + caplen], i.linktype, wirelen, i.number)
        elif btype == SPB_TYPE:
            if not self._ifaces:
                raise self._damaged("simple packet block, but the section has no interface")
            i = self._ifaces[0]
            wirelen = s["u32"].unpack_from(buf, pos + 8)[0]
            caplen = min(wirelen, blen - 16)
            if i.snaplen:
                caplen = min(caplen, i.snaplen)
            rec = Record(0, buf[pos + 12 : pos + 12 + caplen], i.linktype, wirelen, i.number)
        elif btype == IDB_TYPE:
            self._interface(buf, pos + 8, pos + blen - 4, s)
        elif btype == SHB_TYPE:
            major, minor, _seclen = s["shb"].unpack_from(buf, pos + 12)
            if major != 1:
                raise self._damaged(f"unsupported pcapng version {major}.{minor}")
            self._ifaces = []
        inp.pos = pos + blen
        if rec is not None:
            self._n += 1
        return rec

    def _interface(self, buf: bytes, p: int, stop: int, s: dict[str, struct.Struct]) -> None:
        linktype, _res, snaplen = s["idb"].unpack_from(buf, p)
        tsresol, offset = 6, 0
        p += 8
        while p + 4 <= stop:
            code, n = s["opt"].unpack_from(buf, p)
            if code == OPT_ENDOFOPT or p + 4 + n > stop:
                break
            if code == OPT_IF_TSRESOL and n >= 1:
                tsresol = buf[p + 4]
            elif code == OPT_IF_TSOFFSET and n >= 8:
                offset = s["i64"].unpack_from(buf, p + 4)[0]
            p += 4 + n + (-n % 4)
        number = len(self.linktypes)
        self._ifaces.append(_Interface(linktype, snaplen, tsresol, offset, number))
        self.linktypes.append(linktype)
        self.snaplens.append(snaplen)

    def records(self) -> Iterator[Record]:
        inp = self._inp
        while True:
            # Fast path (hot): a run of well-formed EPBs inside the buffer, all checks
            # of _block() inlined; anything else goes through _block().
            s = _S[self._order]
            hdr, epb, u32 = s["hdr"].unpack_from, s["epb"].unpack_from, s["u32"].unpack_from
            ifaces = self._ifaces
            nif = len(ifaces)
            buf = inp.buf
            pos = inp.pos
            size = len(buf)
            n = self._n
            while pos + 32 <= size:
                btype, blen = hdr(buf, pos)
                end = pos + blen
                if btype != EPB_TYPE or end > size or blen & 3 or blen < 32:
                    break
                ifn, hi, lo, caplen, wirelen = epb(buf, pos + 8)
                if ifn >= nif or 32 + caplen > blen or u32(buf, end - 4)[0] != blen:
                    break
                i = ifaces[ifn]
                rec = Record(
                    ((hi << 32) | lo) * i.mul // i.div + i.offset_ns,
                    buf[pos + 28 : pos + 28 + caplen],
                    i.linktype,
                    wirelen,
                    i.number,
                )
                pos = end
                n += 1
                yield rec
            inp.pos = pos
            self._n = n
            try:
                rec2 = self._block()
            except EOFError:
                return
            if rec2 is not None:
                yield rec2


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


_EPB = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, caplen, len
_U32 = struct.Struct("<I")


class PcapNgWriter(CaptureWriter):
    """Writes a pcapng file (one little-endian section).

    ``linktype`` (default Ethernet) adds interface 0 at once; pass ``None`` and call
    ``add_interface`` instead. Each ``write`` hands one complete block to the file in
    a single call, so a writer stopped between two writes and closed leaves a valid file.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        linktype: int | None = 1,
        *,
        snaplen: int = 262144,
        tsresol_exp10: int = 9,
        hardware: str | None = None,
        os_name: str | None = None,
        userappl: str | None = "netdiag",
        comment: str | None = None,
    ) -> None:
        super().__init__(dest)
        self._ifaces: list[tuple[int, int, int]] = []  # linktype, snaplen, exponent
        opts = b""
        for code, text in (
            (OPT_COMMENT, comment),
            (OPT_SHB_HARDWARE, hardware),
            (OPT_SHB_OS, os_name),
            (OPT_SHB_USERAPPL, userappl),
        ):
            if text is not None:
                opts += _option(code, text.encode())
        if opts:
            opts += _option(OPT_ENDOFOPT, b"")
        self._write(_block(SHB_TYPE, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts))
        if linktype is not None:
            self.add_interface(linktype, snaplen=snaplen, tsresol_exp10=tsresol_exp10)

    def add_interface(
        self, linktype: int, name: str | None = None, snaplen: int = 262144, tsresol_exp10: int = 9
    ) -> int:
        """Describe an interface; returns its number for ``write``. Timestamps are
        stored in units of 10^-tsresol_exp10 seconds (9: nanoseconds, exact)."""
        if not 0 <= linktype <= 0xFFFF or not 0 <= snaplen <= 0xFFFFFFFF:
            raise UsageError(f"bad pcapng linktype {linktype} or snaplen {snaplen}")
        if not 0 <= tsresol_exp10 <= 19:
            raise UsageError(f"if_tsresol exponent {tsresol_exp10} is not 0..19")
        opts = b""
        if name is not None:
            opts += _option(OPT_IF_NAME, name.encode())
        if tsresol_exp10 != 6:
            opts += _option(OPT_IF_TSRESOL, bytes((tsresol_exp10,)))
        if opts:
            opts += _option(OPT_ENDOFOPT, b"")
        self._write(_block(IDB_TYPE, struct.pack("<HHI", linktype, 0, snaplen) + opts))
        self._ifaces.append((linktype, snaplen, tsresol_exp10))
        return len(self._ifaces) - 1

    def write(
        self, data: bytes, ts_ns: int, interface: int = 0, wirelen: int | None = None
    ) -> None:
        """Append one Enhanced Packet Block; ``data`` is cut to the interface's snaplen."""
        if not 0 <= interface < len(self._ifaces):
            raise UsageError(
                f"pcapng interface {interface} was not added ({len(self._ifaces)} interfaces)"
            )
        _lt, snaplen, exp = self._ifaces[interface]
        caplen = min(len(data), snaplen) if snaplen else len(data)
        if wirelen is None:
            wirelen = len(data)
        elif not caplen <= wirelen <= 0xFFFFFFFF:
            raise UsageError(f"wire length {wirelen} is less than the captured {caplen}")
        units = ts_ns // 10 ** (9 - exp) if exp <= 9 else ts_ns * 10 ** (exp - 9)
        if not 0 <= units < 1 << 64:
            raise UsageError(f"timestamp {ts_ns} ns does not fit a pcapng block")
        pad = -caplen % 4
        n = 32 + caplen + pad
        self._write(
            _EPB.pack(EPB_TYPE, n, interface, units >> 32, units & 0xFFFFFFFF, caplen, wirelen)
            + bytes(data[:caplen])
            + b"\x00" * pad
            + _U32.pack(n)
        )
        self.count += 1
