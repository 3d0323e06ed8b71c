"""Capture files: open any pcap or pcapng file by its content, write either format.

``read_capture`` recognises the format by the magic number, never by the name,
and opens eagerly: a missing, empty or foreign file raises ``CaptureError``
before anything is yielded. A capture damaged further on yields every good
record, then raises ``DamagedCaptureError`` naming the byte offset. Nothing but
``NetdiagError`` subclasses escapes the reader, whatever the bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from netdiag.capture.pcap import PcapReader, PcapWriter, byte_order
from netdiag.capture.pcapng import SHB_TYPE, PcapNgReader, PcapNgWriter
from netdiag.capture.record import Input, Record
from netdiag.errors import CaptureError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["CaptureReader", "read_capture", "open_writer", "PcapWriter", "PcapNgWriter", "Record"]


class CaptureReader:
    """An opened capture: iterate it for ``Record`` objects (once), close it or use it as
    a context manager. ``format`` is "pcap" or "pcapng"; ``linktypes`` lists the link
    type of each interface (one for pcap); ``snaplen`` is the first interface's."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        inp = Input(source)
        try:
            self._parser = _open(inp)
        except BaseException:
            inp.close()
            raise
        self._inp = inp
        self.name = inp.name
        self.format: str = self._parser.format
        self._iter: Iterator[Record] | None = None

    @property
    def linktypes(self) -> list[int]:
        return self._parser.linktypes

    @property
    def snaplen(self) -> int:
        return self._parser.snaplen

    def __iter__(self) -> Iterator[Record]:
        if self._iter is None:
            self._iter = self._parser.records()
        return self._iter

    def close(self) -> None:
        self._inp.close()

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<CaptureReader {self.name!r} {self.format} linktypes={self.linktypes}>"


def _open(inp: Input) -> PcapReader | PcapNgReader:
    got = inp.ensure(4)
    if got == 0:
        raise CaptureError(f"{inp.name}: empty file, not a pcap or pcapng file")
    magic = inp.buf[inp.pos : inp.pos + 4]
    if got < 4:
        raise CaptureError(f"{inp.name}: not a pcap or pcapng file (only {got} bytes)")
    if int.from_bytes(magic, "big") == SHB_TYPE:
        return PcapNgReader(inp)
    bo = byte_order(magic)
    if bo is None:
        raise CaptureError(f"{inp.name}: not a pcap or pcapng file (magic 0x{magic.hex()})")
    return PcapReader(inp, *bo)


def read_capture(source: str | os.PathLike[str] | BinaryIO) -> CaptureReader:
    """Open a pcap or pcapng file (a path or a binary file object) for reading."""
    return CaptureReader(source)


def open_writer(
    path: str | os.PathLike[str] | BinaryIO,
    linktype: int = 1,
    *,
    pcapng: bool | None = None,
    snaplen: int = 262144,
    nanosecond: bool = False,
) -> PcapWriter | PcapNgWriter:
    """A writer for ``path``: pcapng when ``pcapng`` says so or, when it is None, when the
    name ends in ``.pcapng``; classic pcap otherwise."""
    if pcapng is None:
        pcapng = isinstance(path, str | os.PathLike) and os.fspath(path).lower().endswith(".pcapng")
    if pcapng:
        return PcapNgWriter(path, linktype, snaplen=snaplen, tsresol_exp10=9 if nanosecond else 6)
    return PcapWriter(path, linktype, snaplen, nanosecond)
