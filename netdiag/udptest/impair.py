"""A user-space UDP relay that impairs one direction on purpose and says what it did.

Datagrams from the sender side (any peer of ``--listen``) go to ``--to`` from
one upstream socket per peer (so replies find their way back, like a NAT);
replies are returned unimpaired. Each sender-side datagram ``n`` (from 0, in
the order the relay received them) gets exactly one action:

* ``drop`` (probability ``loss``): never forwarded;
* ``dup`` (``dup``): forwarded twice, back to back;
* ``reorder`` (``reorder``): held back until ``gap`` datagrams numbered above it
  have been forwarded (or ``hold_ms`` passed), then forwarded;
* ``forward``: forwarded once (always, for the first ``spare`` datagrams);

and every forwarded copy waits ``delay`` +- uniform ``jitter`` ms. The draws are
made per datagram in a fixed order from ``random.Random(seed)``, so a seed makes
the whole run (including the log) repeatable.

The log (``--log``) has one JSON line per sender-side datagram:
``{"n": k, "action": ..., "delay_ms": ...}``. A held datagram is logged when it
leaves, as ``reorder`` only if at least one datagram numbered above it left
before it (so it truly arrives out of order on an order-keeping path), else as
``forward`` with ``"held": true``. That makes the log the ground truth that
receivers are checked against. Lines of held datagrams appear when they leave;
sort by ``n`` for sending order.

Bounded: at most ``max_queue`` datagrams and ``max_bytes`` bytes of payload held
or delayed (past either, a new datagram is dropped and logged with
``"reason": "queue full"``), ``max_peers`` peers, a held datagram waits at most
``hold_ms``, optional ``duration``. SIGINT/SIGTERM (or ``stop``) end the loop:
what is held and delayed is sent at once (and logged), the log is closed and the
counts are returned; the CLI then exits with status 0.
"""

from __future__ import annotations

import heapq
import random
import selectors
import signal
import socket
import threading
import time
from collections import Counter, OrderedDict

from netdiag.errors import NetdiagError, UsageError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import IO, Any

__all__ = ["ImpairOptions", "RelayResult", "relay", "parse_hostport"]


def parse_hostport(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` or ``[V6ADDR]:PORT``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise UsageError(f"{text!r}: expected ADDR:PORT")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        value = int(port)
    except ValueError:
        raise UsageError(f"{text!r}: bad port {port!r}") from None
    if not 0 < value < 65536:
        raise UsageError(f"{text!r}: port must be 1..65535")
    return host, value


@dataclass(frozen=True)
class ImpairOptions:
    listen: tuple[str, int]
    to: tuple[str, int]
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    gap: int = 3
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int | None = None
    log: str | None = None
    hold_ms: float = 200.0
    max_queue: int = 100_000
    max_bytes: int = 64 << 20
    max_peers: int = 64
    duration: float | None = None
    spare: int = 0  # the first ``spare`` datagrams pass unimpaired (a handshake)

    def __post_init__(self) -> None:
        for name in ("loss", "dup", "reorder"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UsageError(f"--{name} {getattr(self, name)}: must be 0..1")
        if self.max_queue < 1 or self.max_bytes < 1:
            raise UsageError("--queue and --queue-bytes must be >= 1")
        if self.gap < 1:
            raise UsageError(f"--gap {self.gap}: must be >= 1")
        if self.delay_ms < 0 or self.jitter_ms < 0 or self.jitter_ms > self.delay_ms + 1e-9:
            if self.jitter_ms > self.delay_ms:
                raise UsageError("--jitter must not exceed --delay")
            raise UsageError("--delay and --jitter must be >= 0")


@dataclass(frozen=True)
class RelayResult:
    received: int  # sender-side datagrams
    actions: dict[str, int]
    replies: int  # datagrams returned to the sender side
    peers: int


class _Relay:
    def __init__(self, opts: ImpairOptions, log: IO[str] | None) -> None:
        self.o = opts
        self.log = log
        self.rng = random.Random(opts.seed)
        self.sel = selectors.DefaultSelector()
        family, addr = _resolve(opts.listen)
        self.to_family, self.to_addr = _resolve(opts.to)
        self.front = socket.socket(family, socket.SOCK_DGRAM)
        _big_buffers(self.front)
        try:
            self.front.bind(addr)
        except OSError as e:
            self.front.close()
            raise NetdiagError(f"bind {opts.listen[0]}:{opts.listen[1]}: {e.strerror}") from None
        self.front.setblocking(False)
        self.sel.register(self.front, selectors.EVENT_READ, None)
        self.peers: OrderedDict[Any, socket.socket] = OrderedDict()
        self.n = 0
        self.replies = 0
        self.actions: Counter[str] = Counter()
        self.held: list[list[Any]] = []  # [n, data, peer, passed, since_ns, delay_ns]
        self.timers: list[tuple[int, int, int, bytes, Any]] = []  # (due, tie, n, data, peer)
        self.tie = 0
        self.queued_bytes = 0  # payload bytes in ``held`` and ``timers``

    # -- the sender side

    def on_front(self, data: bytes, peer: Any, now: int) -> None:
        n, o, rng = self.n, self.o, self.rng
        self.n += 1
        u_loss, u_dup, u_reo, u_jit = rng.random(), rng.random(), rng.random(), rng.random()
        delay = int((o.delay_ms + (2 * u_jit - 1) * o.jitter_ms) * 1e6) if o.delay_ms else 0
        if n < o.spare:
            u_loss = u_dup = u_reo = 1.0
        if u_loss < o.loss:
            self._log(n, "drop", 0)
            return
        full = len(self.held) + len(self.timers) >= o.max_queue
        if full or self.queued_bytes + len(data) > o.max_bytes:
            self._log(n, "drop", 0, ', "reason": "queue full"')
            return
        if u_dup < o.dup:
            self._log(n, "dup", delay)
            self._out(n, data, peer, now, delay)
            self._out(n, data, peer, now, delay)
        elif u_reo < o.reorder:
            self.held.append([n, data, peer, 0, now, delay])
            self.queued_bytes += len(data)
        else:
            self._log(n, "forward", delay)
            self._out(n, data, peer, now, delay)

    def _out(self, n: int, data: bytes, peer: Any, now: int, delay: int) -> None:
        if delay > 0:
            self.tie += 1
            heapq.heappush(self.timers, (now + delay, self.tie, n, data, peer))
            self.queued_bytes += len(data)
        else:
            self._emit(n, data, peer, now)

    def _emit(self, n: int, data: bytes, peer: Any, now: int) -> None:
        try:
            self._upstream(peer).send(data)
        except OSError:
            pass  # the far side is not there (yet): like a loss past the relay
        if self.held:
            release = []
            for h in self.held:
                if n > h[0]:
                    h[3] += 1
                    if h[3] >= self.o.gap:
                        release.append(h)
            for h in release:
                self._release(h, now)

    def _release(self, h: list[Any], now: int) -> None:
        self.held.remove(h)
        n, data, peer, passed, since, delay = h
        self.queued_bytes -= len(data)
        held = now - since
        if passed:
            self._log(n, "reorder", held + delay)
        else:
            self._log(n, "forward", held + delay, ', "held": true')
        self._out(n, data, peer, now, delay)

    def _log(self, n: int, action: str, delay_ns: int, more: str = "") -> None:
        self.actions[action] += 1
        if self.log is not None:
            self.log.write(
                f'{{"n": {n}, "action": "{action}", "delay_ms": {delay_ns / 1e6:.3f}{more}}}\n'
            )

    def _upstream(self, peer: Any) -> socket.socket:
        up = self.peers.get(peer)
        if up is None:
            if len(self.peers) >= self.o.max_peers:
                _old, sock = self.peers.popitem(last=False)
                self.sel.unregister(sock)
                sock.close()
            up = socket.socket(self.to_family, socket.SOCK_DGRAM)
            _big_buffers(up)
            up.connect(self.to_addr)
            up.setblocking(False)
            self.sel.register(up, selectors.EVENT_READ, peer)
            self.peers[peer] = up
        return up

    # -- timers and the loop

    def due(self, now: int) -> None:
        while self.timers and self.timers[0][0] <= now:
            _due, _tie, n, data, peer = heapq.heappop(self.timers)
            self.queued_bytes -= len(data)
            self._emit(n, data, peer, now)
        limit = int(self.o.hold_ms * 1e6)
        for h in [h for h in self.held if now - h[4] >= limit]:
            self._release(h, now)

    def next_timeout(self, now: int) -> float:
        soon = [self.timers[0][0]] if self.timers else []
        soon += [h[4] + int(self.o.hold_ms * 1e6) for h in self.held]
        return max(0.0, (min(soon) - now) / 1e9) if soon else 0.1

    def run(self, stop: threading.Event) -> None:
        mono = time.monotonic_ns
        end = mono() + int(self.o.duration * 1e9) if self.o.duration else None
        while not stop.is_set() and (end is None or mono() < end):
            events = self.sel.select(min(0.1, self.next_timeout(mono())))
            for key, _mask in events:
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                for _ in range(256):
                    try:
                        data, peer = sock.recvfrom(65536)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        continue
                    if key.data is None:
                        self.on_front(data, peer, mono())
                    else:
                        self.replies += 1
                        try:
                            self.front.sendto(data, key.data)
                        except OSError:
                            pass
            self.due(mono())
        self.flush()

    def flush(self) -> None:
        now = time.monotonic_ns()
        for h in list(self.held):
            self._release(h, now)
        while self.timers:
            _due, _tie, n, data, peer = heapq.heappop(self.timers)
            self.queued_bytes -= len(data)
            self._emit(n, data, peer, now)

    def close(self) -> None:
        for sock in [self.front, *self.peers.values()]:
            sock.close()
        self.sel.close()


def _resolve(hp: tuple[str, int]) -> tuple[int, Any]:
    try:
        info = socket.getaddrinfo(hp[0], hp[1], socket.AF_UNSPEC, socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise UsageError(f"{hp[0]}: {e.strerror}") from None
    return info[0][0], info[0][4]


def _big_buffers(sock: socket.socket) -> None:
    for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, 16 << 20)
            break
        except OSError:
            continue


def relay(
    opts: ImpairOptions, stop: threading.Event | None = None, ready: Any = None
) -> RelayResult:
    """Run the relay until SIGINT/SIGTERM (main thread), ``stop`` or ``duration``.
    ``ready()`` is called once the socket is bound."""
    stop = stop or threading.Event()
    try:
        log = open(opts.log, "w", buffering=1 << 16) if opts.log else None  # noqa: SIM115
    except OSError as e:
        raise NetdiagError(f"--log {opts.log}: {e.strerror}") from None
    old: dict[signal.Signals, Any] = {}
    try:
        r = _Relay(opts, log)
        try:
            if threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    old[sig] = signal.signal(sig, lambda *_a: stop.set())
            if ready is not None:
                ready()
            r.run(stop)
        finally:
            r.close()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if log is not None:
            log.close()
    return RelayResult(r.n, dict(r.actions), r.replies, len(r.peers))
