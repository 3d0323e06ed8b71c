"""The file under ``sniff -w``'s writers: unbuffered, counted, and cut back to
its last whole record when a write fails.

``Sink`` is what ``capture.rotate.RotatingWriter`` hands to the pcap and pcapng
writers as their file object. Each of their calls is one whole record or block
(``write``); small ones are gathered up to 256 KiB, a ring block's worth goes
out at once (``os.write``, short writes continued). When a write fails (ENOSPC,
EFBIG under RLIMIT_FSIZE, EIO), the file is cut back (``ftruncate`` needs no
room) to the end of the last whole record that reached it: whole items are
kept, and in an item of several records cut in the middle, its whole records
(``whole_pcap``, ``whole_epb``). ``lost`` counts the records that did not make
it, and ``CaptureWriteError`` (exit status 1) names the file. Only a regular
file is ever cut or removed (never ``/dev/full``, a FIFO, a terminal).
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from netdiag.errors import CaptureError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Sink", "CaptureWriteError", "whole_pcap", "whole_epb"]

_U32 = struct.Struct("<I")
_SINK_BUFFER = 256 << 10  # small writes (pcapng records) are gathered up to this


class CaptureWriteError(CaptureError):
    """A capture file could not be opened or written; what was written stays valid."""

    exit_status = 1


class Sink:
    """An unbuffered file that counts what it was given and, when a write fails,
    cuts the file back to the end of the last whole item (record, or block of
    records) that reached it; ``lost`` then says how many records did not."""

    __slots__ = ("name", "fd", "own", "regular", "size", "written", "lost", "walk", "_items",
                 "_pending", "closed")  # fmt: skip

    def __init__(self, name: str, fd: int | None = None) -> None:
        self.name = name
        if fd is None:
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            except OSError as e:
                raise CaptureWriteError(f"{name}: {e.strerror or e}") from None
            self.own = True
        else:
            self.own = False
        self.fd = fd
        try:  # only a regular file is cut back or removed (never /dev/full, a FIFO, ...)
            self.regular = self.own and stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            self.regular = False
        self.size = 0  # bytes handed to write()
        self.written = 0  # bytes known to be in the file, ending on a whole item
        self.lost = 0  # records handed to write() that a failed write lost
        # (bytes, n) -> (bytes of the whole records within the first n, how many)
        self.walk: Callable[[bytes | memoryview, int], tuple[int, int]] | None = None
        self._items: list[tuple[bytes | memoryview, int]] = []  # (bytes, records) not yet out
        self._pending = 0
        self.closed = False

    def write(self, b: bytes | memoryview, records: int = 1) -> int:
        """Take ``b``, holding ``records`` whole records (the writers' own calls: one
        record or block each; headers are flushed at once by RotatingWriter)."""
        n = len(b)
        if n >= _SINK_BUFFER:
            if self._items:
                self.flush()
            self._items.append((b, records))
            self._pending = n
            self.flush()
        else:
            self._items.append((bytes(b), records))
            self._pending += n
            if self._pending >= _SINK_BUFFER:
                self.flush()
        self.size += n
        return n

    def flush(self) -> None:
        items = self._items
        if not items:
            return
        chunk = items[0][0] if len(items) == 1 else b"".join(b for b, _r in items)
        view = memoryview(chunk)
        done = 0
        try:
            while done < len(view):
                done += os.write(self.fd, view[done:])
        except OSError as e:
            self._failed(done)
            if e.errno == errno.EPIPE:
                raise BrokenPipeError(e.errno, e.strerror) from None  # `-w - | head`: quiet
            why = "File too large" if e.errno == errno.EFBIG else (e.strerror or str(e))
            raise CaptureWriteError(f"{self.name}: {why}") from None
        finally:
            items.clear()
            self._pending = 0
        self.written += done

    def _failed(self, done: int) -> None:
        """Keep the whole records among the ``done`` bytes that made it; cut the rest.
        An item of several records cut in the middle keeps its whole ones (``walk``)."""
        kept = 0
        for b, records in self._items:
            if done < 0:
                self.lost += records
            elif kept + len(b) <= done:
                kept += len(b)
            else:
                nbytes, nrec = (0, 0)
                if records > 1 and self.walk is not None:
                    nbytes, nrec = self.walk(b, done - kept)
                kept += nbytes
                self.lost += records - nrec
                done = -1  # everything after this item is lost
        self.written += kept
        self.size = self.written
        if self.regular:
            try:
                os.ftruncate(self.fd, self.written)
            except OSError:
                pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.flush()
        finally:
            if self.own:
                os.close(self.fd)


def whole_pcap(b: bytes | memoryview, n: int) -> tuple[int, int]:
    """The whole pcap records within the first ``n`` bytes of ``b``: (bytes, count)."""
    off = count = 0
    while off + 16 <= n:
        step = 16 + _U32.unpack_from(b, off + 8)[0]
        if off + step > n:
            break
        off += step
        count += 1
    return off, count


def whole_epb(b: bytes | memoryview, n: int) -> tuple[int, int]:
    """The whole pcapng blocks within the first ``n`` bytes of ``b``: (bytes, count)."""
    off = count = 0
    while off + 8 <= n:
        step = _U32.unpack_from(b, off + 4)[0]
        if step < 12 or off + step > n:
            break
        off += step
        count += 1
    return off, count
