"""The lab's delay line: a transparent relay that holds every frame of a link for a while.

This kernel has no netem, so a delayed link ``k`` is cut in two: the left node's
interface is paired with ``l<k>a`` and the right node's with ``l<k>b``, both in
the lab's relay namespace (``nd-LAB-relay``), and this process copies every
frame from one to the other after the link's delay. It works at layer 2 (ARP
and neighbour discovery cross it too, delayed like the rest), so the routers do
not see it: no TTL is spent and no address is added.

- :class:`DelayLine` is the pure part (STYLE habit 4): given a frame and its
  arrival time it says when the frame leaves; it keeps the order of a direction
  (a frame never overtakes the one before it, so jitter reorders nothing) and
  bounds what it holds (``LIMIT`` frames per direction, like netem's ``limit``;
  beyond it frames are dropped and counted).
- :func:`run` is the loop: AF_PACKET sockets bound to the relay's interfaces,
  each frame stamped on arrival by the kernel (SO_TIMESTAMPNS) and sent on at
  its time. It sleeps until 0.4 ms before a departure and polls from there (a
  wake-up from sleep is 0.1-0.3 ms late on a VM), with a timer slack of 1 ns
  instead of the kernel's default 50 µs.
- ``python -m netdiag.lab.relay K:MS:JITTER ...`` (as ``netdiag.lab.lab``
  starts it, inside the relay namespace) prints ``ready`` once every socket is
  bound, then relays until SIGTERM.

The node ends of a delayed link have checksum offload switched off (by the lab):
a frame read from a veth with a partial checksum would otherwise go on with a
wrong one.
"""

from __future__ import annotations

import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

from netdiag.records import dataclass, field

__all__ = ["DelayLine", "run", "main", "LIMIT", "relay_interfaces"]

LIMIT = 10_000  # frames held per direction
ETH_P_ALL = 0x0003
PACKET_IGNORE_OUTGOING = 23
SOL_PACKET = 263
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
PR_SET_TIMERSLACK = 29
_TIMESPEC = struct.Struct("@qq")
SPIN_NS = 400_000


def relay_interfaces(link: int) -> tuple[str, str]:
    """The relay's two interfaces for link ``link``: toward the left node, the right node."""
    return f"l{link}a", f"l{link}b"


@dataclass
class DelayLine:
    """One direction of one link: when each frame leaves. Pure; times in ns."""

    delay_ns: int
    jitter_ns: int = 0
    rng: random.Random = field(default_factory=random.Random)
    held: int = 0
    dropped: int = 0
    _last_due: int = 0

    def admit(self, arrival_ns: int) -> int | None:
        """The departure time of a frame that arrived at ``arrival_ns``; None: dropped."""
        if self.held >= LIMIT:
            self.dropped += 1
            return None
        wait = self.delay_ns
        if self.jitter_ns:
            wait = max(0, wait + self.rng.randint(-self.jitter_ns, self.jitter_ns))
        due = max(arrival_ns + wait, self._last_due)
        self._last_due = due
        self.held += 1
        return due

    def left(self) -> None:
        self.held -= 1


def _set_timer_slack() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: the default slack only costs precision
        pass


def _open(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def run(links: dict[int, tuple[float, float]], ready: object = None) -> None:
    """Relay every link ``k -> (delay ms, jitter ms)`` until SIGTERM or SIGINT."""
    _set_timer_slack()
    out: dict[socket.socket, tuple[socket.socket, DelayLine]] = {}
    for k, (ms, jitter) in links.items():
        a, b = (_open(name) for name in relay_interfaces(k))
        out[a] = (b, DelayLine(int(ms * 1e6), int(jitter * 1e6)))
        out[b] = (a, DelayLine(int(ms * 1e6), int(jitter * 1e6)))
    stop: list[int] = []

    def _stop(*_: object) -> None:  # raise out of a select() with no timeout (PEP 475
        stop.append(1)  # would retry it): the loop ends at once, not when a frame comes
        raise _Stop

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if callable(ready):
        ready()
    heap: list[tuple[int, int, socket.socket, DelayLine, bytes]] = []
    try:
        _relay(out, heap, stop)
    except _Stop:
        pass


class _Stop(Exception):
    """SIGTERM or SIGINT: the relay ends."""


def _relay(
    out: dict[socket.socket, tuple[socket.socket, DelayLine]],
    heap: list[tuple[int, int, socket.socket, DelayLine, bytes]],
    stop: list[int],
) -> None:
    order = 0
    readers = list(out)
    now = time.time_ns
    while not stop:
        # Sleep until SPIN_NS before the next departure, then poll: waking from a sleep
        # costs this VM 0.1-0.3 ms, polling the last stretch a few microseconds.
        timeout = None if not heap else max(0.0, (heap[0][0] - now() - SPIN_NS) / 1e9)
        try:
            readable, _, _ = select.select(readers, [], [], timeout)
        except InterruptedError:
            continue
        for s in readable:
            target, line = out[s]
            while True:
                try:
                    data, anc, _flags, _addr = s.recvmsg(65536, 64)
                except (BlockingIOError, InterruptedError):
                    break
                stamp = None
                for level, kind, cdata in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = _TIMESPEC.unpack_from(cdata)
                        stamp = sec * 1_000_000_000 + nsec
                due = line.admit(stamp if stamp is not None else now())
                if due is not None:
                    order += 1
                    heapq.heappush(heap, (due, order, target, line, data))
        t = now()
        while heap and heap[0][0] <= t:
            _due, _n, target, line, data = heapq.heappop(heap)
            line.left()
            try:
                target.send(data)
            except OSError:  # a full queue or a link going down: the frame is lost
                pass


def _parse(argv: list[str]) -> dict[int, tuple[float, float]]:
    links = {}
    for arg in argv:
        k, ms, jitter = arg.split(":")
        links[int(k)] = (float(ms), float(jitter))
    return links


def main(argv: list[str] | None = None) -> int:
    links = _parse(sys.argv[1:] if argv is None else argv)

    def ready() -> None:
        print("ready", flush=True)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)

    run(links, ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
