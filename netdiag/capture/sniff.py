"""The live capture loop behind ``netdiag sniff``: thin, bounded, stoppable.

``Sniffer(options)`` opens the AF_PACKET socket (``capture.afpacket``) with the
filter compiled by ``capture.bpf`` for the socket's link type; ``run(writer,
on_record)`` then waits on the ring block by block and hands the packets to a
capture-file writer and/or a callback until ``count`` packets were taken,
``duration`` seconds passed, SIGINT/SIGTERM arrived (when run in the main
thread) or ``stop()`` was called (from any thread). It returns a frozen
``SniffResult`` with our count and the kernel's counters.

Stopping never cuts a record: signals only set a flag and wake ``poll`` through
a pipe (``signal.set_wakeup_fd``); the loop stops between blocks, so the file
ends on a complete record and the writer is flushed. Stopping loses nothing
either: on a signal, ``stop()`` or the duration, the kernel filter is swapped
for one that accepts nothing and the ring is drained, the block still being
filled included (it is handed over within RETIRE_MS), so every packet the
kernel accepted before the stop is written. A ``RotatingWriter`` whose ``-G``/
``-W`` plan is complete ends the capture too (``stopped_by`` "files").

Hot path: with a nanosecond pcap writer and no callback, each block goes to the
file as one ``write`` of ready-made records (``PacketSocket.pcap_block``);
nothing is decoded.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time
from collections.abc import Callable, Sequence

from netdiag.capture.afpacket import DEFAULT_BUFFER, MAX_SNAPLEN, RETIRE_MS, Insn, PacketSocket
from netdiag.capture.bpf.kernel import attach_filter
from netdiag.capture.pcap import PcapWriter
from netdiag.capture.pcapng import PcapNgWriter
from netdiag.capture.record import Record
from netdiag.errors import NetdiagError, UsageError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.capture.rotate import RotatingWriter

__all__ = ["SniffOptions", "SniffResult", "Sniffer", "sniff", "compile_expression"]

_BIG = 1 << 62
_REJECT_ALL = (0x06, 0, 0, 0)  # BPF_RET|BPF_K, k = 0: keep nothing
DRAIN_SECONDS = max(0.5, 4 * RETIRE_MS / 1000)  # bound on waiting for the last block


@dataclass(frozen=True, slots=True)
class SniffOptions:
    interface: str = "any"
    count: int | None = None  # stop after this many packets
    duration: float | None = None  # stop after this many seconds
    snaplen: int = MAX_SNAPLEN
    promisc: bool = True
    direction: str = "inout"  # -Q in | out | inout
    expression: str = ""  # pcap-filter expression; "" takes everything
    buffer_size: int = DEFAULT_BUFFER  # bytes of ring (or socket buffer)
    ring: bool = True  # False: plain recvmsg

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise UsageError(f"count {self.count}: must be at least 1")
        if self.duration is not None and not self.duration > 0:
            raise UsageError(f"duration {self.duration}: must be more than 0 seconds")
        if not 1 <= self.snaplen <= MAX_SNAPLEN:
            raise UsageError(f"snaplen {self.snaplen}: must be 1..{MAX_SNAPLEN}")
        if self.direction not in ("in", "out", "inout"):
            raise UsageError(f"direction {self.direction!r}: use in, out or inout")
        if not 64 << 10 <= self.buffer_size <= 1 << 31:
            raise UsageError(f"buffer size {self.buffer_size}: must be 64 KiB .. 2 GiB")


@dataclass(frozen=True, slots=True)
class SniffResult:
    interface: str
    linktype: int
    snaplen: int
    ring: bool  # captured through the TPACKET_V3 ring (else recvmsg)
    captured: int  # packets handed to the writer / callback
    received: int  # accepted by the kernel filter ("received by filter")
    dropped: int  # accepted but lost for want of room ("dropped by kernel")
    freeze_q: int  # times the ring was full (tpacket_stats_v3.tp_freeze_q_cnt)
    stopped_by: str  # "count", "duration", "signal", "stop", "files" (-G with -W)
    seconds: float

    @property
    def lost(self) -> bool:
        return self.dropped > 0


def compile_expression(expression: str, linktype: int, snaplen: int) -> list[Insn]:
    """The classic-BPF program of a pcap-filter expression, as (code, jt, jf, k)."""
    try:
        from netdiag.capture.bpf import FilterError, compile_filter
    except ImportError:
        raise UsageError("filter expressions need netdiag.capture.bpf, not installed") from None
    try:
        prog = compile_filter(expression, linktype, snaplen)
    except NetdiagError:
        raise
    except FilterError as e:  # in case it is not a NetdiagError
        raise UsageError(str(e)) from None
    return [(int(i.code), int(i.jt), int(i.jf), int(i.k)) for i in prog]


def _fast_sink(writer: Any) -> Callable[[bytes, int], None] | None:
    """Where ready-made nanosecond pcap records can go in one write, if they can."""
    if getattr(writer, "rotating", False):  # a capture.rotate.RotatingWriter
        return writer.write_encoded if writer.encoded else None
    if not isinstance(writer, PcapWriter) or not writer.nanosecond:
        return None
    sink: Callable[[bytes, int], None] = writer.write_encoded
    return sink


class Sniffer:
    """An open capture; ``run`` it once, then ``close`` it (or use ``with``)."""

    def __init__(self, options: SniffOptions) -> None:
        self.options = options
        expr = options.expression.strip()

        def program(linktype: int) -> Sequence[Insn]:
            return compile_expression(expr, linktype, options.snaplen) if expr else ()

        self.sock = PacketSocket(
            options.interface,
            snaplen=options.snaplen,
            promisc=options.promisc,
            direction=options.direction,
            program=program,
            buffer_size=options.buffer_size,
            ring=options.ring,
        )
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop = threading.Event()
        self._signalled = False

    @property
    def linktype(self) -> int:
        return self.sock.linktype

    def stop(self) -> None:
        """Ask ``run`` to stop after the block in hand (any thread, or a signal handler)."""
        self._stop.set()
        try:
            os.write(self._wake_w, b"s")
        except OSError:  # full or closed: it is awake anyway
            pass

    def run(
        self,
        writer: PcapWriter | PcapNgWriter | RotatingWriter | None = None,
        on_record: Callable[[Record], None] | None = None,
        after_block: Callable[[], None] | None = None,
    ) -> SniffResult:
        """Capture into ``writer`` and/or ``on_record`` until count, duration or stop;
        ``after_block`` is called after each block's packets were handed on."""
        handlers = self._trap_signals()
        try:
            captured, why, seconds = self._loop(writer, on_record, after_block)
        finally:
            self._untrap(handlers)
            if writer is not None:
                writer.flush()
        stats = self.sock.read_stats()
        o = self.options
        return SniffResult(
            interface=o.interface,
            linktype=self.sock.linktype,
            snaplen=o.snaplen,
            ring=self.sock.ring,
            captured=captured,
            received=stats.received,
            dropped=stats.dropped,
            freeze_q=stats.freeze_q,
            stopped_by=why,
            seconds=seconds,
        )

    def _loop(
        self,
        writer: Any,
        on_record: Callable[[Record], None] | None,
        after_block: Callable[[], None] | None,
    ) -> tuple[int, str, float]:
        sock = self.sock
        o = self.options
        fast = _fast_sink(writer) if on_record is None else None
        linktype = sock.linktype
        flush = writer.flush if getattr(writer, "rotating", False) else None  # once a block

        def block(limit: int) -> int:
            """Hand on the next ready block (at most ``limit`` packets)."""
            if fast is not None:
                chunk, n = sock.pcap_block(limit)
                if n:
                    fast(chunk, n)
            else:
                recs = sock.records(limit)
                n = len(recs)
                for ts, data, wirelen in recs:
                    if writer is not None:
                        writer.write(data, ts, wirelen=wirelen)
                    if on_record is not None:
                        on_record(Record(ts, data, linktype, wirelen))
                if after_block is not None:
                    after_block()
            if flush is not None:
                flush()
            return n

        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN | select.POLLERR)
        poller.register(self._wake_r, select.POLLIN)
        start = time.monotonic()
        deadline = start + o.duration if o.duration is not None else None
        want = o.count or _BIG
        captured = 0
        while True:
            if self._stop.is_set():
                why = "signal" if self._signalled else "stop"
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                why = "duration"
                break
            if not sock.ready():
                timeout = None if deadline is None else max(1, int((deadline - now) * 1000) + 1)
                poller.poll(timeout)
                self._drain_wake()
                continue
            captured += block(want - captured)
            if captured >= want:
                why = "count"
                break
            if getattr(writer, "done", False):
                why = "files"
                break
        if why in ("signal", "stop", "duration"):
            captured += self._drain(block, want - captured, writer, poller)
        captured -= getattr(writer, "refused", 0)
        return captured, why, time.monotonic() - start

    def _drain(self, block: Callable[[int], int], left: int, writer: Any, poller: Any) -> int:
        """At the end: keep every packet the kernel accepted before it. The filter
        is swapped for one that takes nothing (the queue can only shrink), the
        ready blocks are read, and the block being filled is waited for until the
        kernel hands it over (RETIRE_MS), within DRAIN_SECONDS."""
        sock = self.sock
        try:
            attach_filter(sock.sock, [_REJECT_ALL])
        except NetdiagError:
            pass  # then drain what is there now, bounded all the same
        got = 0
        deadline = time.monotonic() + DRAIN_SECONDS
        while got < left and not getattr(writer, "done", False):
            if sock.ready():
                got += block(left - got)
                continue
            if not sock.pending() or time.monotonic() >= deadline:
                break
            poller.poll(10)
            self._drain_wake()
        return got

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 256):
                pass
        except OSError:
            pass

    def _trap_signals(self) -> dict[int, Any] | None:
        """In the main thread: SIGINT/SIGTERM set the stop flag and wake ``poll``."""
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: Any) -> None:
            self._signalled = True
            self.stop()

        old: dict[int, Any] = {
            s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)
        }
        old[-1] = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        return old

    @staticmethod
    def _untrap(old: dict[int, Any] | None) -> None:
        if old is None:
            return
        signal.set_wakeup_fd(old.pop(-1))
        for s, h in old.items():
            signal.signal(s, h)

    def close(self) -> None:
        self.sock.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Sniffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sniff(
    options: SniffOptions,
    writer: PcapWriter | PcapNgWriter | None = None,
    on_record: Callable[[Record], None] | None = None,
) -> SniffResult:
    """Open, run and close a capture (the Python API of ``netdiag sniff``)."""
    with Sniffer(options) as s:
        return s.run(writer, on_record)
