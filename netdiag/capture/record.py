"""The capture record, and the chunked byte source the readers share.

A ``Record`` is what every reader yields and every writer takes: exact integer
nanoseconds, the captured bytes, the link type of its interface and the length
the packet had on the wire.

``Input`` reads a file or a stream in large chunks (STYLE habit 9: a 200k-packet
capture is benchmarked). Parsers keep the buffer and position in local variables
and come back here only when a record crosses the end of the chunk. It works on
pipes too (``read1`` returns what is there), so a live ``tcpdump -w -`` can feed it.
"""

from __future__ import annotations

import os

from netdiag.errors import CaptureError, UsageError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import BinaryIO, Self

__all__ = ["Record", "Input", "MAX_RECORD", "source_name", "open_dest", "CaptureWriter"]

CHUNK = 1 << 20
MAX_RECORD = 256 << 20  # a captured length or block length past this is impossible


@dataclass(frozen=True, slots=True)
class Record:
    """One captured packet."""

    ts_ns: int  # nanoseconds since the epoch, exact
    data: bytes  # the captured bytes
    linktype: int  # pcap LINKTYPE of the interface it was captured on
    wirelen: int  # length on the wire (may exceed ``caplen``)
    interface: int = 0  # pcapng interface number within the file (0 for pcap)

    @property
    def ts(self) -> float:
        """Seconds since the epoch as a float (loses nanoseconds; use ``ts_ns``)."""
        return self.ts_ns / 1e9

    @property
    def caplen(self) -> int:
        return len(self.data)


def source_name(source: str | os.PathLike[str] | BinaryIO) -> str:
    """The name used in messages: the path, or the stream's name if it has one."""
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    if isinstance(name, int):
        return f"<fd {name}>"
    return "<stream>"


class Input:
    """A byte source read in chunks: ``buf[pos:]`` is what has been read and not consumed;
    ``base + pos`` is the file offset of ``pos``."""

    __slots__ = ("name", "_f", "_read", "_own", "buf", "pos", "base", "eof")

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        self.name = source_name(source)
        f: BinaryIO
        if isinstance(source, str | os.PathLike):
            try:
                f = open(source, "rb", buffering=0)  # closed by close()
            except OSError as e:
                raise CaptureError(f"{self.name}: {e.strerror or e}") from None
            self._own = True
        else:
            f = source
            self._own = False
        self._f = f
        self._read = getattr(f, "read1", None) or f.read
        self.buf = b""
        self.pos = 0
        self.base = 0
        self.eof = False

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def ensure(self, n: int) -> int:
        """Make ``n`` bytes from ``pos`` available if the source has them; return how many
        are available (fewer than ``n`` only at the end of the input)."""
        avail = len(self.buf) - self.pos
        if avail >= n or self.eof:
            return avail
        parts = [self.buf[self.pos :]]
        self.base += self.pos
        self.pos = 0
        while avail < n:
            try:
                chunk = self._read(max(CHUNK, n - avail))
            except OSError as e:
                raise CaptureError(f"{self.name}: {e.strerror or e}") from None
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            avail += len(chunk)
        self.buf = b"".join(parts)
        return avail

    def close(self) -> None:
        self.buf = b""
        if self._own:
            self._f.close()


def open_dest(dest: str | os.PathLike[str] | BinaryIO) -> tuple[BinaryIO, bool, str]:
    """(file, opened by us?, name) for a writer's destination."""
    if isinstance(dest, str | os.PathLike):
        name = os.fspath(dest)
        try:
            return open(dest, "wb"), True, name  # closed by the writer
        except OSError as e:
            raise CaptureError(f"{name}: {e.strerror or e}") from None
    return dest, False, str(getattr(dest, "name", "<stream>"))


class CaptureWriter:
    """What the pcap and pcapng writers share: the destination, one ``write``
    call per record (so a writer stopped between two records and closed leaves a
    valid file), errors as CaptureError/UsageError, flush, close, ``with``."""

    def __init__(self, dest: str | os.PathLike[str] | BinaryIO) -> None:
        self._f, self._own, self.name = open_dest(dest)
        self.count = 0

    def _write(self, b: bytes) -> None:
        try:
            self._f.write(b)
        except OSError as e:
            raise CaptureError(f"{self.name}: {e.strerror or e}") from None
        except ValueError as e:  # write to a closed file
            raise UsageError(f"{self.name}: {e}") from None

    def write_encoded(self, chunk: bytes, records: int) -> None:
        """Append ``records`` complete records already encoded in this writer's
        format (the sniffer builds pcap records straight from the ring), in one call."""
        self._write(chunk)
        self.count += records

    def flush(self) -> None:
        try:
            self._f.flush()
        except OSError as e:
            raise CaptureError(f"{self.name}: {e.strerror or e}") from None

    def close(self) -> None:
        if self._f.closed:
            return
        self.flush()
        if self._own:
            self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
