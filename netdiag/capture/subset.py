"""Writing the selected records of one or more capture files, unchanged where possible.

``SubsetWriter(dest, sources, pcapng=None)`` takes the items of ``scan.Source``
(with ``raw=True``) and writes them to ``dest``, in pcapng when ``pcapng`` says so
or, when it is None, when the name ends in ``.pcapng``; pcap otherwise.

- **One source, same format: a verbatim copy.** pcap: the file header and every
  selected record's bytes as they are (byte order, timestamp unit, the 24-byte
  headers of Kuznetzov's format, original lengths). pcapng: the section header and
  every block that is not a packet (interfaces with all their options, name
  resolution, statistics, later sections), and the selected packet blocks, all
  byte for byte. What ``tcpdump -r IN -w OUT EXPR`` keeps of a pcap file, and more
  of a pcapng one (tcpdump writes pcapng input out as pcap).
- **Otherwise the records are re-encoded, nothing lost that the output can hold.**
  pcap out: one link type (several are refused: use pcapng), nanosecond
  timestamps when an input has them, microsecond otherwise; captured bytes and
  original lengths unchanged. pcapng out (the merge of several files, or a pcap
  input): one little-endian section; each input interface becomes an interface
  of the output the first time a record of it is written. A little-endian pcapng
  interface block is copied as it is (name, resolution, offset, comments), and its
  packet blocks too, with only the interface number changed; a pcap input gets an
  interface at its own resolution (microseconds or nanoseconds). Big-endian
  pcapng sections are re-encoded at nanosecond resolution without their options.

Every write is one ``write`` call of whole records (``CaptureWriter``), so a
stopped run leaves a valid file.
"""

from __future__ import annotations

import os
import struct

from netdiag.capture.pcap import MAGIC_NSEC, MAGIC_USEC
from netdiag.capture.pcapng import (
    BYTE_ORDER_MAGIC,
    EPB_TYPE,
    IDB_TYPE,
    OPT_ENDOFOPT,
    OPT_IF_TSRESOL,
    OPT_SHB_USERAPPL,
    PB_TYPE,
    SHB_TYPE,
    _block,
    _option,
)
from netdiag.capture.record import CaptureWriter
from netdiag.errors import CaptureError, UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import BinaryIO

    from netdiag.capture.scan import Item, Source

__all__ = ["SubsetWriter", "wants_pcapng"]

_PCAP_FILE = struct.Struct("<IHHiIII")
_PCAP_REC = struct.Struct("<IIII")
_EPB = struct.Struct("<IIIIIII")
_U32 = struct.Struct("<I")


def wants_pcapng(dest: str | os.PathLike[str] | BinaryIO, pcapng: bool | None) -> bool:
    if pcapng is not None:
        return pcapng
    return isinstance(dest, str | os.PathLike) and os.fspath(dest).lower().endswith(".pcapng")


class SubsetWriter(CaptureWriter):
    """Writes the items of ``sources`` (see the module's description)."""

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        sources: list[Source],
        *,
        pcapng: bool | None = None,
    ) -> None:
        ng = wants_pcapng(dest, pcapng)
        self.pcapng = ng
        self.copy = len(sources) == 1 and sources[0].format == ("pcapng" if ng else "pcap")
        self._sources = sources
        self._linktype = -1
        if not self.copy and not ng:
            kinds = sorted({lt for s in sources for lt in s.linktypes})
            if len(kinds) > 1:
                raise UsageError(
                    f"link types {', '.join(map(str, kinds))} cannot share a pcap file; "
                    "write pcapng (--pcapng or a .pcapng name)"
                )
            self._linktype = kinds[0] if kinds else 1
        super().__init__(dest)
        self._ifmap: dict[tuple[int, int], int] = {}  # (source, interface) -> output interface
        # output interface -> exponent of its 10^-n resolution; None: a copied block
        self._units: list[int | None] = []
        if self.copy:
            head = sources[0].head
            if head is None:
                self.close()
                raise CaptureError(f"{sources[0].name}: header blocks too large to copy")
            self._write(head)
        elif ng:
            opts = _option(OPT_SHB_USERAPPL, b"netdiag") + _option(OPT_ENDOFOPT, b"")
            body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + opts
            self._write(_block(SHB_TYPE, body))
        else:
            self._nano = any(s.nanosecond for s in sources)
            snaplen = max([s.snaplen for s in sources] + [1]) or 262144
            magic = MAGIC_NSEC if self._nano else MAGIC_USEC
            self._write(_PCAP_FILE.pack(magic, 2, 4, 0, 0, snaplen, self._linktype))

    def write_item(self, item: Item) -> None:
        """Write one item of ``Source.items(raw=True)``: a packet, a block to copy, or (a
        verbatim copy) a batch of records."""
        _ts, src, rec, raw, order, number = item
        if self.copy:
            assert raw is not None
            self._write(raw)
            self.count += 1 if rec is not None else number  # a batch: ``number`` records
            return
        if rec is None:  # a non-packet block: only a verbatim copy keeps them
            return
        if not self.pcapng:
            if rec.linktype != self._linktype:
                raise UsageError(
                    f"link types {self._linktype} and {rec.linktype} cannot share a pcap "
                    "file; write pcapng (--pcapng or a .pcapng name)"
                )
            sec, ns = divmod(rec.ts_ns, 1_000_000_000)
            if not 0 <= sec <= 0xFFFFFFFF or rec.wirelen > 0xFFFFFFFF:
                raise UsageError(
                    f"{self.name}: timestamp {sec} s does not fit a pcap record "
                    "(before 1970 or after 2106); write pcapng (--pcapng or a .pcapng name)"
                )
            frac = ns if self._nano else ns // 1000
            self._write(_PCAP_REC.pack(sec, frac, rec.caplen, rec.wirelen) + rec.data)
            self.count += 1
            return
        key = (src, rec.interface)
        out = self._ifmap.get(key)
        if out is None:
            out = self._ifmap[key] = self._interface(self._sources[src], rec.interface)
        exp = self._units[out]
        if exp is None:  # a copied interface block: its records keep their raw units
            assert raw is not None
            btype = int.from_bytes(raw[:4], "little")
            if btype == EPB_TYPE:
                self._write(raw[:8] + _U32.pack(out) + raw[12:])  # only the interface changes
                self.count += 1
                return
            # an obsolete packet block keeps its timestamp units; a simple one has none
            units = (
                (_U32.unpack_from(raw, 12)[0] << 32 | _U32.unpack_from(raw, 16)[0])
                if (btype == PB_TYPE)
                else 0
            )
        else:
            units = rec.ts_ns // 10 ** (9 - exp)
            if not 0 <= units < 1 << 64:
                raise UsageError(f"{self.name}: timestamp {rec.ts_ns} ns does not fit pcapng")
        pad = -rec.caplen % 4
        n = 32 + rec.caplen + pad
        head = _EPB.pack(EPB_TYPE, n, out, units >> 32, units & 0xFFFFFFFF, rec.caplen, rec.wirelen)
        self._write(head + rec.data + b"\x00" * pad + _U32.pack(n))
        self.count += 1

    def _interface(self, source: Source, number: int) -> int:
        out = len(self._units)
        entry = source.idbs[number] if number < len(source.idbs) else None
        if source.format == "pcapng" and entry is not None:
            idb_order, block = entry
            if idb_order == "<":
                self._write(block)
                self._units.append(None)
                return out
        lt = source.linktypes[number] if number < len(source.linktypes) else 1
        snaplen = source.snaplen if source.format == "pcap" else 0
        exp = 9 if source.nanosecond or source.format == "pcapng" else 6
        opts = b""
        if exp != 6:
            opts = _option(OPT_IF_TSRESOL, bytes((exp,))) + _option(OPT_ENDOFOPT, b"")
        self._write(_block(IDB_TYPE, struct.pack("<HHI", lt, 0, snaplen) + opts))
        self._units.append(exp)
        return out
