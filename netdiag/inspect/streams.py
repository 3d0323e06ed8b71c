"""TCP reassembly: application messages that span segments (TLS records, DNS over
TCP with its length prefix, HTTP heads), cut out of each direction's byte stream.

``Streams.segment(key, seq, payload, framer, syn=, fin=, rst=)`` takes one TCP
segment of the direction ``key`` (any hashable naming source and destination:
addresses and ports) and returns a ``Delivery``: the messages that this segment
completes, in order, and what happened to its bytes (``state``):

- ``"delivered"``: in order; its bytes completed the messages given (maybe none:
  ``"partial"`` then, the message goes on in later segments);
- ``"retransmission"``: every byte was delivered already (a duplicate, or a
  keep-alive); overlapping bytes of a segment that brings new ones are trimmed,
  so each stream byte is delivered once (the first copy wins, as in tshark);
- ``"out-of-order"``: it starts past a gap; it is held until the gap fills;
- ``"lost-sync"``: the bytes do not frame (the framer raised a ``DecodeError``,
  or a message is larger than ``max_message``), or a gap never filled while
  the held bytes reached the limit. The stream is dropped and picked up again at
  the start of the next segment that frames (a capture that starts
  mid-connection is picked up the same way).

Sequence numbers are compared modulo 2^32 (RFC 9293 §3.4: a signed 32-bit
difference), so a stream that wraps is followed across the wrap. A SYN sets the
start (ISN + 1); without one, the first segment seen starts the stream.

A ``framer(buf, off) -> int | None`` gives the length of the message at ``off``
in ``buf`` (header included), None when too few bytes are there to say; it raises
``DecodeError`` for bytes that cannot start a message. ``tls_framer``,
``dns_tcp_framer`` and ``http_head_framer`` are here.

Memory is bounded: per direction ``max_flow_bytes`` (the contiguous buffer and
the held out-of-order bytes together, and at most ``max_held`` held segments), in
total ``max_total_bytes``, and at most
``max_flows`` directions (the least recently active ones are forgotten first).
FIN ends a direction's state, RST both directions'. Nothing here reads a clock
or a socket: it is the pure state a reader keeps while it walks a capture.
"""

from __future__ import annotations

from netdiag.errors import DecodeError, MalformedError
from netdiag.packets.tls import record_length
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

    Framer = Callable[[bytes, int], "int | None"]

__all__ = [
    "Streams",
    "Delivery",
    "tls_framer",
    "dns_tcp_framer",
    "http_head_framer",
    "seq_delta",
]

_M32 = 0xFFFFFFFF
_HALF = 1 << 31
DELIVERED, PARTIAL, RETRANSMISSION, OUT_OF_ORDER, LOST_SYNC = (
    "delivered",
    "partial",
    "retransmission",
    "out-of-order",
    "lost-sync",
)


def seq_delta(a: int, b: int) -> int:
    """``a - b`` for 32-bit sequence numbers, as a signed difference (RFC 9293 §3.4)."""
    d = (a - b) & _M32
    return d - (1 << 32) if d >= _HALF else d


@dataclass(frozen=True, slots=True)
class Delivery:
    messages: tuple[bytes, ...]
    state: str


_NOTHING = _PARTIAL = Delivery((), PARTIAL)
_RETRANSMITTED = Delivery((), RETRANSMISSION)
_HELD = Delivery((), OUT_OF_ORDER)


class _Direction:
    __slots__ = ("next_seq", "buf", "held", "held_bytes", "synced", "offset")

    def __init__(self, next_seq: int, synced: bool) -> None:
        self.next_seq = next_seq  # the sequence number of the next byte expected
        self.buf = bytearray()  # contiguous bytes not yet framed into a message
        self.held: dict[int, bytes] = {}  # out-of-order segments by sequence number
        self.held_bytes = 0
        self.synced = synced  # the buffer starts at a message boundary we trust
        self.offset = 0  # stream bytes delivered so far (to name a message's place)

    @property
    def size(self) -> int:
        return len(self.buf) + self.held_bytes


class Streams:
    """Per-direction reassembly state for one capture; see the module docstring."""

    def __init__(
        self,
        *,
        max_flow_bytes: int = 1 << 18,
        max_total_bytes: int = 1 << 24,
        max_flows: int = 4096,
        max_message: int = 1 << 17,
        max_held: int = 256,
    ) -> None:
        self.max_flow_bytes = max_flow_bytes
        self.max_held = max_held
        self.max_total_bytes = max_total_bytes
        self.max_flows = max_flows
        self.max_message = max_message
        self._dirs: dict[Hashable, _Direction] = {}
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._dirs)

    def buffered(self, key: Hashable) -> int:
        d = self._dirs.get(key)
        return 0 if d is None else d.size

    def segment(
        self,
        key: Hashable,
        seq: int,
        payload: bytes | memoryview,
        framer: Framer,
        *,
        syn: bool = False,
        fin: bool = False,
        rst: bool = False,
        reverse: Hashable = None,
    ) -> Delivery:
        """Feed one segment of direction ``key``; ``reverse`` names the other
        direction (RST forgets it too)."""
        data = bytes(payload)
        start = (seq + 1) & _M32 if syn else seq & _M32
        d = self._dirs.pop(key, None)
        if d is None:
            d = _Direction(start, syn)
        elif syn and not d.buf and not d.held and not d.offset:
            d.next_seq = start
        dirs = self._dirs
        dirs[key] = d  # most recently active last
        before = len(d.buf) + d.held_bytes
        out = self._feed(d, start, data, framer) if data else _NOTHING
        self.total_bytes += len(d.buf) + d.held_bytes - before
        if rst:
            self._forget(key)
            if reverse is not None:
                self._forget(reverse)
        elif fin:
            self._forget(key)
        elif len(dirs) > self.max_flows or self.total_bytes > self.max_total_bytes:
            self._bound(key)
        return out

    # -- inside one direction -----------------------------------------------------------

    def _feed(self, d: _Direction, seq: int, data: bytes, framer: Framer) -> Delivery:
        delta = seq_delta(seq, d.next_seq)
        if delta < 0:
            if -delta >= len(data):
                return _RETRANSMITTED
            data = data[-delta:]  # the part already delivered is the first copy's
            delta = 0
        if delta > 0:
            if d.size + len(data) > self.max_flow_bytes or len(d.held) >= self.max_held:
                # The gap will not fill within bounds: start over at this segment.
                self._restart(d, seq)
                d.buf += data
                d.next_seq = (seq + len(data)) & _M32
                return self._frame(d, framer, LOST_SYNC)
            if len(data) > len(d.held.get(seq, b"")):
                d.held_bytes += len(data) - len(d.held.get(seq, b""))
                d.held[seq] = data
            return _HELD
        d.next_seq = (d.next_seq + len(data)) & _M32
        if not d.buf and not d.held:
            return self._frame(d, framer, DELIVERED, data)  # framed in place, no copy
        d.buf += data
        if d.held:
            self._drain(d)
        return self._frame(d, framer, DELIVERED)

    def _drain(self, d: _Direction) -> None:
        """Move held segments that the stream has reached into the buffer."""
        moved = True
        while moved and d.held:
            moved = False
            for s in list(d.held):
                delta = seq_delta(s, d.next_seq)
                if delta > 0:
                    continue
                chunk = d.held.pop(s)
                d.held_bytes -= len(chunk)
                if -delta < len(chunk):
                    rest = chunk[-delta:]
                    d.buf += rest
                    d.next_seq = (d.next_seq + len(rest)) & _M32
                moved = True

    def _frame(
        self, d: _Direction, framer: Framer, state: str, data: bytes | None = None
    ) -> Delivery:
        """Cut the messages off the buffer (or off ``data``, the segment itself, when
        nothing was buffered before it)."""
        messages: list[bytes] = []
        buf: Any = d.buf if data is None else data
        off = 0
        end = len(buf)
        while off < end:
            try:
                n = framer(buf, off)
            except DecodeError:
                n = -1
            if n is not None and (n <= 0 or n > self.max_message):
                # Not a message boundary: drop what is buffered, wait for a segment start.
                self._restart(d, d.next_seq)
                return Delivery(tuple(messages), LOST_SYNC)
            if n is None or n > end - off:
                break
            messages.append(bytes(buf[off : off + n]))
            off += n
            d.synced = True
        d.offset += off
        if data is None:
            if off:
                del d.buf[:off]
        elif off < end:
            d.buf += data[off:] if off else data
        if len(d.buf) > self.max_flow_bytes:
            self._restart(d, d.next_seq)
            return Delivery(tuple(messages), LOST_SYNC)
        if not messages:
            return _PARTIAL if state == DELIVERED else Delivery((), state)
        return Delivery(tuple(messages), state)

    def _restart(self, d: _Direction, seq: int) -> None:
        d.buf.clear()
        d.held.clear()
        d.held_bytes = 0
        d.synced = False
        d.next_seq = seq & _M32

    # -- the bounds ----------------------------------------------------------------------

    def _forget(self, key: Hashable) -> None:
        d = self._dirs.pop(key, None)
        if d is not None:
            self.total_bytes -= d.size

    def _bound(self, keep: Hashable) -> None:
        dirs = self._dirs
        while len(dirs) > self.max_flows or self.total_bytes > self.max_total_bytes:
            oldest = next(iter(dirs))
            if oldest == keep and len(dirs) == 1:
                d = dirs[keep]
                self.total_bytes -= d.size
                self._restart(d, d.next_seq)
                return
            if oldest == keep:
                dirs[keep] = dirs.pop(keep)  # the active one goes last; drop another
                continue
            self._forget(oldest)


# A TLS record: its 5-byte header and length (packets/tls.py checks the header).
tls_framer: Framer = record_length


def dns_tcp_framer(buf: bytes, off: int = 0) -> int | None:
    """DNS over TCP (RFC 1035 §4.2.2): a 2-byte length, then the message."""
    if len(buf) - off < 2:
        return None
    return 2 + ((buf[off] << 8) | buf[off + 1])


_HEAD_END = b"\r\n\r\n"
_HEAD_LIMIT = 1 << 16


def http_head_framer(buf: bytes, off: int = 0) -> int | None:
    """An HTTP/1.x head: up to and including the blank line (64 KiB at most). The
    body is not framed here (Content-Length and chunking are the caller's)."""
    i = buf.find(_HEAD_END, off)
    if i >= 0:
        return i - off + 4
    if len(buf) - off > _HEAD_LIMIT:
        raise MalformedError("http", 0, f"no end of the head in {_HEAD_LIMIT} bytes")
    return None
