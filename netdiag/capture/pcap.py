"""The classic libpcap file format: reader and writer.

File header (24 bytes): magic (4), version major (2) and minor (2), thiszone (4),
sigfigs (4), snaplen (4), link type (4; the low 16 bits, the rest are FCS flags).
The magic, read in either byte order, gives the byte order and the timestamp
unit: 0xa1b2c3d4 microseconds, 0xa1b23c4d nanoseconds, 0xa1b2cd34 microseconds
with the 24-byte record headers of Kuznetzov's patched libpcap (still read by
libpcap). Each record: seconds (4), microseconds or nanoseconds (4), captured
length (4), original length (4), then the captured bytes.

Hot path: one precompiled ``struct.Struct`` per byte order, the buffer and
position held in locals, one slice and one ``Record`` per packet.
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

__all__ = [
    "PcapWriter",
    "PcapReader",
    "MAGIC_USEC",
    "MAGIC_NSEC",
    "MAGIC_KUZNETZOV",
    "FILE_HEADER_LEN",
]

MAGIC_USEC = 0xA1B2C3D4
MAGIC_NSEC = 0xA1B23C4D
MAGIC_KUZNETZOV = 0xA1B2CD34
FILE_HEADER_LEN = 24
_LINKTYPE_MASK = 0xFFFF  # the upper bits carry the FCS length (LINKTYPE_FCS_*)
_MAX_U32 = 0xFFFFFFFF

_FILE = {"<": struct.Struct("<IHHiIII"), ">": struct.Struct(">IHHiIII")}
_REC = {"<": struct.Struct("<IIII"), ">": struct.Struct(">IIII")}
# magic -> (nanoseconds?, record header length)
_MAGICS = {MAGIC_USEC: (False, 16), MAGIC_NSEC: (True, 16), MAGIC_KUZNETZOV: (False, 24)}


def byte_order(magic: bytes) -> tuple[str, bool, int] | None:
    """(struct byte order, nanoseconds?, record header length) for a pcap magic, else None."""
    for order, value in (
        ("<", int.from_bytes(magic, "little")),
        (">", int.from_bytes(magic, "big")),
    ):
        m = _MAGICS.get(value)
        if m is not None:
            return order, m[0], m[1]
    return None


class PcapReader:
    """Parses the file header at once (raising ``CaptureError`` if it is short) and the
    records as they are iterated."""

    format = "pcap"

    def __init__(self, inp: Input, order: str, nanosecond: bool, rec_len: int) -> None:
        self._inp = inp
        self._order = order
        self.nanosecond = nanosecond
        self._rec_len = rec_len
        got = inp.ensure(FILE_HEADER_LEN)
        if got < FILE_HEADER_LEN:
            raise DamagedCaptureError(
                inp.name, 0, 0, f"truncated pcap file header ({got} of {FILE_HEADER_LEN} bytes)"
            )
        (_m, self.version_major, self.version_minor, self.thiszone, _sigfigs, self.snaplen, lt) = (
            _FILE[order].unpack_from(inp.buf, inp.pos)
        )
        inp.pos += FILE_HEADER_LEN
        self.linktypes = [lt & _LINKTYPE_MASK]
        self.fcs_bits = lt >> 16

    def records(self) -> Iterator[Record]:
        inp = self._inp
        name = inp.name
        unpack = _REC[self._order].unpack_from
        hl = self._rec_len
        linktype = self.linktypes[0]
        mul = 1 if self.nanosecond else 1000
        buf = inp.buf
        pos = inp.pos
        size = len(buf)
        n = 0
        while True:
            if pos + hl > size:
                inp.pos = pos
                avail = inp.ensure(hl)
                buf, pos, size = inp.buf, inp.pos, len(inp.buf)
                if avail < hl:
                    if avail == 0:
                        return
                    raise DamagedCaptureError(
                        name, inp.offset, n, f"truncated record header ({avail} of {hl} bytes)"
                    )
            sec, frac, caplen, wirelen = unpack(buf, pos)
            if caplen > MAX_RECORD:
                inp.pos = pos
                raise DamagedCaptureError(
                    name, inp.offset, n, f"impossible captured length {caplen}"
                )
            start = pos + hl
            stop = start + caplen
            if stop > size:
                inp.pos = pos
                avail = inp.ensure(hl + caplen) - hl
                buf, pos, size = inp.buf, inp.pos, len(inp.buf)
                if avail < caplen:
                    raise DamagedCaptureError(
                        name, inp.offset, n, f"truncated record data ({avail} of {caplen} bytes)"
                    )
                start = pos + hl
                stop = start + caplen
            yield Record(sec * 1_000_000_000 + frac * mul, buf[start:stop], linktype, wirelen)
            pos = stop
            n += 1


class PcapWriter(CaptureWriter):
    """Writes a pcap file (little-endian, version 2.4).

    Each ``write`` hands one complete record to the file in a single call, so a
    writer stopped between two writes (Ctrl-C) and then closed leaves a valid file.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str] | BinaryIO,
        linktype: int = 1,
        snaplen: int = 262144,
        nanosecond: bool = False,
    ) -> None:
        if not 0 <= linktype <= _MAX_U32 or not 0 < snaplen <= _MAX_U32:
            raise UsageError(f"bad pcap linktype {linktype} or snaplen {snaplen}")
        super().__init__(dest)
        self.linktype = linktype
        self.snaplen = snaplen
        self.nanosecond = nanosecond
        self._div = 1 if nanosecond else 1000
        self._rec = _REC["<"]
        magic = MAGIC_NSEC if nanosecond else MAGIC_USEC
        self._write(_FILE["<"].pack(magic, 2, 4, 0, 0, snaplen, linktype))

    def write(self, data: bytes, ts_ns: int, wirelen: int | None = None) -> None:
        """Append one record; ``data`` is cut to the snaplen, ``wirelen`` defaults to its
        full length."""
        sec, frac = divmod(ts_ns, 1_000_000_000)
        if not 0 <= sec <= _MAX_U32:
            raise UsageError(f"timestamp {ts_ns} ns does not fit a pcap record")
        caplen = min(len(data), self.snaplen)
        if wirelen is None:
            wirelen = len(data)
        elif not caplen <= wirelen <= _MAX_U32:
            raise UsageError(f"wire length {wirelen} is less than the captured {caplen}")
        hdr = self._rec.pack(sec, frac // self._div, caplen, wirelen)
        self._write(hdr + bytes(data[:caplen]))
        self.count += 1
