"""``sniff -w``'s writer: capture files that rotate, as tcpdump's ``-C``, ``-G`` and
``-W`` make them, and that stay valid when a write fails.

``RotatingWriter`` acts on ``capture.rotation``'s decisions (tcpdump's rules and
names, pure). It is used for every ``sniff -w``, rotating or not: it holds one
pcap (nanosecond) or pcapng writer at a time (each file its own header, or
section header and interface block) over a ``capture.sink.Sink``. A record is
written to exactly one file, whole. A write that fails (disk full, EFBIG, EIO)
leaves the file cut back to its last whole record, so every file stays a valid
capture, and raises ``CaptureWriteError`` (one line, exit 1); a file that got
nothing valid is removed.

Hot path (STYLE habit 9): the sniffer hands whole ring blocks already laid out as
nanosecond pcap records (``write_encoded``; for pcapng they are turned into
Enhanced Packet Blocks in one pass, ``epb_chunk``). A block that cannot reach the
size limit, arriving before the time limit (wall clock, read once per block),
goes to the file as one ``os.write`` without being looked at; only the block in
which a rotation falls is walked, record headers only, to find the cut.
"""

from __future__ import annotations

import os
import struct
import time

from netdiag.capture.pcap import PcapWriter
from netdiag.capture.pcapng import PcapNgWriter
from netdiag.capture.rotation import KEEP, NEXT, STOP, Rotation, RotationPlan, file_name, parse_size
from netdiag.capture.sink import CaptureWriteError, Sink, whole_epb, whole_pcap
from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "RotatingWriter",
    "CaptureWriteError",
    "epb_chunk",
    "RotationPlan",
    "Rotation",
    "parse_size",
    "file_name",
    "KEEP",
    "NEXT",
    "STOP",
]

_REC = struct.Struct("<IIII")  # pcap record header: seconds, fraction, caplen, wirelen
_EPB = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, caplen, wirelen
_EPB_TS = struct.Struct("<4xI4xII")  # length, ts high, ts low
_U32 = struct.Struct("<I")
_EPB_TYPE = 6


def epb_chunk(chunk: bytes, records: int) -> bytes:
    """Nanosecond pcap records, back to back, as pcapng Enhanced Packet Blocks on
    interface 0 with nanosecond timestamps (the interface block RotatingWriter
    writes): what ``PcapNgWriter.write`` would write for each, in one pass."""
    out: list[bytes] = []
    app = out.append
    unpack = _REC.unpack_from
    pack = _EPB.pack
    tails: dict[int, bytes] = {}  # padding and trailing length, by captured length
    off = 0
    for _ in range(records):
        sec, nsec, caplen, wirelen = unpack(chunk, off)
        start = off + 16
        off = start + caplen
        units = sec * 1_000_000_000 + nsec
        tail = tails.get(caplen)
        if tail is None:
            size = 32 + caplen + (-caplen & 3)
            tail = tails[caplen] = b"\0" * (-caplen & 3) + _U32.pack(size)
        app(pack(_EPB_TYPE, 28 + caplen + len(tail), 0, units >> 32, units & 0xFFFFFFFF,
                 caplen, wirelen))  # fmt: skip
        app(chunk[start:off])
        app(tail)
    return b"".join(out)


class RotatingWriter:
    """``sniff -w``'s writer: one pcap (nanosecond) or pcapng file at a time, rotated
    by ``plan``. ``done`` turns true when ``-G``/``-W`` ended the capture; ``refused``
    counts the packets handed over after that (not written). ``files`` lists every
    name opened, in order. ``fd`` writes to an open descriptor instead (``-w -``)."""

    def __init__(
        self,
        plan: RotationPlan,
        linktype: int,
        *,
        snaplen: int = 262144,
        pcapng: bool = False,
        start: int | None = None,
        fd: int | None = None,
    ) -> None:
        if fd is not None and plan.rotates:
            raise UsageError("-C and -G need a file name for -w, not standard output")
        self.plan = plan
        self.linktype = linktype
        self.snaplen = snaplen
        self.pcapng = pcapng
        self.nanosecond = True
        self.encoded = True  # write_encoded takes nanosecond pcap records (pcapng: converted)
        self.rotating = True  # what the sniffer looks for (it does not import this module)
        self.rotation = Rotation(plan, int(time.time()) if start is None else start)
        self.count = 0
        self.refused = 0
        self.done = False
        self.files: list[str] = []
        self._fd = fd
        self._sink: Sink | None = None
        self._inner: PcapWriter | PcapNgWriter | None = None
        self._open(self.rotation.name if fd is None else plan.pattern)

    @property
    def name(self) -> str:
        return self._sink.name if self._sink is not None else self.plan.pattern

    def _open(self, name: str) -> None:
        self._close_current()
        sink = Sink(name, self._fd)
        sink.walk = whole_epb if self.pcapng else whole_pcap
        self._sink = sink
        self.files.append(name)
        dest: Any = sink  # a file object as far as the writers are concerned
        try:
            if self.pcapng:
                self._inner = PcapNgWriter(dest, self.linktype, snaplen=self.snaplen,
                                           tsresol_exp10=9)  # fmt: skip
            else:
                self._inner = PcapWriter(dest, self.linktype, self.snaplen, True)
            sink.flush()  # the header is on disk, or we know now that it cannot be
        except CaptureWriteError:
            sink.lost = 0  # header blocks, not records
            self._fail()
            raise

    def _fail(self) -> None:
        """After a failed write: the records it lost are not counted, the file is
        closed (and removed if nothing valid is in it), nothing more is written."""
        self.done = True
        sink = self._sink
        self._sink = self._inner = None
        if sink is None:
            return
        try:
            sink.close()
        except CaptureWriteError:
            pass
        self.count -= sink.lost
        if sink.regular and sink.written == 0:
            try:
                os.unlink(sink.name)
            except OSError:
                pass

    def _close_current(self) -> None:
        sink = self._sink
        if sink is None:
            return
        try:
            sink.flush()
        except CaptureWriteError:
            self._fail()
            raise
        self._sink = self._inner = None
        sink.close()  # nothing is left to write

    # -- the sniffer's two ways in

    def write(self, data: bytes, ts_ns: int, wirelen: int | None = None) -> None:
        """One packet (the per-record path: pcapng, or records that need rewriting)."""
        if self.done:
            self.refused += 1
            return
        sink, inner = self._sink, self._inner
        assert sink is not None and inner is not None
        if self.plan.rotates:
            act = self.rotation.before(sink.size, ts_ns // 1_000_000_000)
            if act != KEEP:
                if not self._next(act):
                    self.refused += 1
                    return
                sink, inner = self._sink, self._inner
                assert sink is not None and inner is not None
        self.count += 1
        try:
            inner.write(data, ts_ns, wirelen=wirelen)
        except CaptureWriteError:
            self._fail()
            raise

    def write_encoded(self, chunk: bytes, records: int) -> None:
        """``records`` nanosecond pcap records, laid out back to back in ``chunk``."""
        if self.done:
            self.refused += records
            return
        if self.pcapng:
            chunk = epb_chunk(chunk, records)
        rot = self.rotation
        limit = self.plan.size
        view = memoryview(chunk)
        pos = 0
        left = records
        fresh = False  # the record at pos opened its file: it goes there unchecked
        while left:
            sink = self._sink
            assert sink is not None
            quiet = rot.quiet_until()
            if (limit is None or sink.size + len(chunk) - pos <= limit) and (
                quiet is None or time.time() < quiet
            ):
                self._put(view[pos:] if pos else chunk, left)
                return
            cut, k, act = self._cut(chunk, pos, sink.size - pos, fresh)
            if k:
                self._put(view[pos:cut], k)
                left -= k
            if act == KEEP:
                return
            if not self._next(act):
                self.refused += left
                return
            pos, fresh = cut, True

    def _cut(self, chunk: bytes, pos: int, base: int, fresh: bool) -> tuple[int, int, int]:
        """Walk the records from ``pos`` (the file holds ``base + offset`` bytes before
        the record at ``offset``) to the first that ``Rotation.before`` sends to a
        new file: (its offset, records before it, the decision), or (end, n, KEEP).
        The test in the loop is ``before``'s own, spelled out (no call per record)."""
        rot = self.rotation
        limit = self.plan.size
        seconds = self.plan.seconds
        started = rot.started
        end = len(chunk)
        off, k = pos, 0
        if self.pcapng:  # Enhanced Packet Blocks: length at 4, nanoseconds at 12
            unpack = _EPB_TS.unpack_from
            if fresh:
                off += unpack(chunk, off)[0]
                k = 1
            while off < end:
                length, high, low = unpack(chunk, off)
                sec = ((high << 32) | low) // 1_000_000_000
                if (seconds is not None and sec - started >= seconds) or (
                    limit is not None and base + off > limit
                ):
                    return off, k, rot.before(base + off, sec)
                off += length
                k += 1
            return end, k, KEEP
        unpack = _REC.unpack_from
        if fresh:
            off += 16 + unpack(chunk, off)[2]
            k = 1
        while off < end:
            sec, _frac, caplen, _wire = unpack(chunk, off)
            if (seconds is not None and sec - started >= seconds) or (
                limit is not None and base + off > limit
            ):
                return off, k, rot.before(base + off, sec)
            off += 16 + caplen
            k += 1
        return end, k, KEEP

    def _put(self, b: bytes | memoryview, records: int) -> None:
        sink = self._sink
        assert sink is not None
        self.count += records
        try:
            sink.write(b, records)
        except CaptureWriteError:
            self._fail()
            raise

    def _next(self, act: int) -> bool:
        """Open the rotation's next file; False (and ``done``) when the plan ends here."""
        if act == STOP:
            self._close_current()
            self.done = True
            return False
        try:
            self._open(self.rotation.name)
        except CaptureWriteError:
            self.done = True
            raise
        return True

    # -- the end

    def flush(self) -> None:
        if self._sink is not None:
            try:
                self._sink.flush()
            except CaptureWriteError:
                self._fail()
                raise

    def close(self) -> None:
        self._close_current()

    def __enter__(self) -> RotatingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
