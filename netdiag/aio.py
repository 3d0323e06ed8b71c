"""netdiag's API as coroutines: thousands of pings at once on one asyncio event loop.

Every :func:`ping` running on a loop shares that loop's ICMP socket per family
(opened by the first, closed when the last finishes): raw where allowed, with the
kernel filter for its identifier, else the ICMP datagram socket, else
:class:`~netdiag.errors.PrivilegeError` with the fix (as ``netdiag ping``). A
probe's sequence number comes from one 16-bit space per socket and names the
coroutine waiting for it; :class:`~netdiag.multi.match.EchoMatcher` (pure) checks
the identifier and the socket's random cookie, so replies are never credited to
another ping, and a second reply to a probe counts as a duplicate.

:func:`traceroute` and :func:`mtr` run the blocking ones in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterable

from netdiag.errors import UsageError
from netdiag.multi.core import SEQ_SPACE, rtt_ns
from netdiag.multi.match import EchoMatcher
from netdiag.multi.results import HostResult
from netdiag.packets import decode, icmp, icmpv6
from netdiag.ping.options import PingOptions, configure
from netdiag.ping.sock import ANC_SIZE, RECV_SIZE, ancillary, open_icmp_socket, with_ip_header
from netdiag.probing.resolve import is_address, resolve

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.trace.core import TraceResult
    from netdiag.trace.mtr import MtrReport

__all__ = ["ping", "multiping", "traceroute", "mtr"]

_RCVBUF = 4 << 20  # thousands of replies can arrive in one burst
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


class _Pending:
    __slots__ = ("future", "mono_ns", "wall_ns", "replies")

    def __init__(self, future: asyncio.Future[tuple[float, int]], mono: int, wall: int) -> None:
        self.future, self.mono_ns, self.wall_ns, self.replies = future, mono, wall, 0


class _Channel:
    """One family's shared ICMP socket on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, family: int, size: int) -> None:
        self.loop, self.family = loop, family
        self.sock, self.raw = open_icmp_socket(family)
        try:
            ident = configure(self.sock, family, self.raw, PingOptions(size=size))
            for opt in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, opt, _RCVBUF)
                    break
                except OSError:
                    continue
        except BaseException:
            self.sock.close()
            raise
        self.matcher = EchoMatcher(family, ident, os.urandom(8), size)
        self.payload = self.matcher.payload(size)
        self.pending: dict[int, _Pending] = {}
        self.next_seq = int.from_bytes(os.urandom(2), "big")
        self.users = 0
        loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def send(self, address: str) -> tuple[int, _Pending]:
        """Send one echo request to ``address``; (its sequence number, what waits for it)."""
        for _ in range(SEQ_SPACE):
            seq = self.next_seq
            self.next_seq = (seq + 1) % SEQ_SPACE
            if seq not in self.pending:
                break
        else:
            raise UsageError(f"more than {SEQ_SPACE} probes in flight on one socket")
        ident = self.matcher.ident
        if self.family == 4:
            msg = icmp.build_echo(ident, seq, self.payload)
        else:
            msg = icmpv6.build_echo(ident, seq, self.payload, "::", address)
        fut: asyncio.Future[tuple[float, int]] = self.loop.create_future()
        mono = time.monotonic_ns()
        wall = time.time_ns()
        entry = _Pending(fut, mono, wall)
        self.pending[seq] = entry
        try:
            self.sock.sendto(msg, (address, 0))
        except BlockingIOError:
            entry.future.set_exception(TimeoutError("send buffer full"))
        except OSError as exc:
            entry.future.set_exception(exc)
        return seq, entry

    def _readable(self) -> None:
        fam = self.family
        while True:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(RECV_SIZE, ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # a datagram socket's pending ICMP error: not a reply
            now = time.monotonic_ns()
            stamp, ttl = ancillary(anc)
            source = str(addr[0]).partition("%")[0]
            if fam == 4 and self.raw:
                packet = decode(data, 228)
            else:
                packet = decode(with_ip_header(fam, data, source, ttl), 228 + (fam == 6))
            m = self.matcher.match(packet)
            if m is None or m[0] != "reply":
                continue
            entry = self.pending.get(m[1])
            if entry is None:
                continue
            entry.replies += 1
            if not entry.future.done():
                rtt = rtt_ns(entry.mono_ns, entry.wall_ns, now, stamp) / 1e6
                entry.future.set_result((rtt, m[3]))


_CHANNELS: dict[tuple[int, int, int], _Channel] = {}  # (id(loop), family, size) -> channel


def _acquire(family: int, size: int) -> _Channel:
    loop = asyncio.get_running_loop()
    key = (id(loop), family, size)
    ch = _CHANNELS.get(key)
    if ch is None or ch.loop is not loop:
        ch = _CHANNELS[key] = _Channel(loop, family, size)
    ch.users += 1
    return ch


def _release(ch: _Channel) -> None:
    ch.users -= 1
    if ch.users == 0:
        ch.close()
        key = (id(ch.loop), ch.family, len(ch.payload))
        if _CHANNELS.get(key) is ch:
            del _CHANNELS[key]


async def _resolve(host: str, family: int | None) -> tuple[int, str]:
    if is_address(host):
        return resolve(host, family)
    return await asyncio.get_running_loop().run_in_executor(None, resolve, host, family)


async def ping(
    host: str,
    count: int = 4,
    interval: float = 1.0,
    timeout: float = 2.0,
    *,
    size: int = 56,
    family: int | None = None,
) -> HostResult:
    """Probe ``host`` with ICMP echo ``count`` times, ``interval`` s apart; each probe
    waits ``timeout`` s. Returns the same :class:`HostResult` as ``netdiag.ping``."""
    if count < 1 or interval < 0 or timeout <= 0:
        raise UsageError("count >= 1, interval >= 0 and timeout > 0")
    fam, address = await _resolve(host, family)
    ch = _acquire(fam, size)
    rtts: list[float | None] = []
    duplicates = 0
    try:
        for i in range(count):
            if i:
                await asyncio.sleep(interval)
            seq, entry = ch.send(address)
            try:
                rtt, _ttl = await asyncio.wait_for(asyncio.shield(entry.future), timeout)
                rtts.append(rtt)
            except (TimeoutError, OSError):
                rtts.append(None)
            finally:
                if not entry.future.done():
                    entry.future.cancel()
                duplicates += max(0, entry.replies - 1)
                ch.pending.pop(seq, None)
    finally:
        _release(ch)
    got = [r for r in rtts if r is not None]
    return HostResult(
        target=host, address=address, family=fam, transmitted=len(rtts), received=len(got),
        duplicates=duplicates, rtts=tuple(rtts), min_rtt=min(got, default=0.0),
        max_rtt=max(got, default=0.0), sum_rtt=sum(got),
    )  # fmt: skip


async def multiping(
    hosts: Iterable[str],
    count: int = 2,
    interval: float = 0.5,
    timeout: float = 2.0,
    *,
    size: int = 56,
    family: int | None = None,
) -> list[HostResult]:
    """:func:`ping` every host at once; results in the order of ``hosts``."""
    return list(await asyncio.gather(*(ping(h, count, interval, timeout, size=size,
                                            family=family) for h in hosts)))  # fmt: skip


async def traceroute(host: str, **options: object) -> TraceResult:
    """``netdiag.traceroute`` in a worker thread."""
    from netdiag import api

    return await asyncio.to_thread(api.traceroute, host, **options)  # type: ignore[arg-type]


async def mtr(host: str, rounds: int = 10, interval: float = 1.0, **options: object) -> MtrReport:
    """``netdiag.mtr`` in a worker thread."""
    from netdiag import api

    return await asyncio.to_thread(api.mtr, host, rounds, interval, **options)  # type: ignore[arg-type]
