"""``traceroute --multipath`` without privileges: one datagram socket per flow.

:class:`netdiag.trace.dgram.DgramTracer` binds a UDP socket (or, for ``-I``, an ICMP
datagram socket) to its flow's port and reads the ICMP errors about its probes from
the error queue (IP_RECVERR). Multipath needs one flow per source port, so here
every flow gets a tracer of its own, made when the session first probes it, and
one epoll set waits on them all. What the error queue gives back is our payload
and the offender's address, not the quoted headers, so there is no NAT evidence
(:attr:`UnprivilegedPath.note` says so) and no alias test (those need raw
sockets). ``-T`` needs raw sockets. Flows are capped below the open-files limit.
"""

from __future__ import annotations

import resource
import selectors
import time

from netdiag.errors import NetdiagError
from netdiag.trace.dgram import DgramTracer
from netdiag.trace.multipath.core import MdaSession, Reply
from netdiag.trace.probe import Answer, probe_key

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Callable

    from netdiag.trace.loop import TraceOptions
    from netdiag.trace.probe import Flow

__all__ = ["run_unprivileged", "NOTE", "max_flows"]

NOTE = ("no raw sockets: datagram sockets and the error queue, so no quoted headers "
        "(no NAT evidence) and no alias tests")  # fmt: skip


def max_flows() -> int:
    """Flows (one socket each) this process may open: the soft open-files limit less a margin."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(4000, soft - 64))


class _Flow:
    """What DgramTracer's send and read call on a "session", for one flow."""

    def __init__(self, session: MdaSession, f: int) -> None:
        self.session, self.f = session, f
        self.keys: dict[int, tuple[int, int]] = {}  # probe key -> ttl, wall time sent
        self.ttl_of: dict[int, int] = {}  # probe number -> ttl
        self.key_of: dict[int, int] = {}  # probe number -> key

    def sent(self, n: int, mono: int, wall: int) -> None:
        self.keys[self.key_of[n]] = (self.ttl_of[n], wall)

    def send_failed(self, n: int) -> None:
        self.session.failed(self.f, self.ttl_of[n])

    def answered(self, answer: Answer, mono: int, stamp: int | None) -> None:
        got = self.keys.get(answer.key)
        if got is None:
            return
        ttl, wall = got
        rtt = max(0, (stamp or time.time_ns()) - wall)
        self.session.answered(self.f, ttl, Reply(answer.source, rtt, answer.final,
                                                 answer.reached, answer.annotation))  # fmt: skip


def run_unprivileged(session: MdaSession, flow_of: Callable[[int], Flow], opt: TraceOptions,
                     key_base: int) -> None:  # fmt: skip
    """Drive ``session`` to its end over one DgramTracer per flow (``flow_of(f)``)."""
    tracers: dict[int, tuple[DgramTracer, _Flow]] = {}
    sel = selectors.DefaultSelector()
    serial = 0
    try:
        while True:
            for f, ttl in session.next_probes(time.monotonic_ns()):
                if f not in tracers:
                    try:
                        t = DgramTracer(flow_of(f), opt.interface, opt.dont_fragment)
                    except NetdiagError:  # its port is taken, say: that flow is lost
                        session.failed(f, ttl)
                        continue
                    adapter = _Flow(session, f)
                    tracers[f] = (t, adapter)
                    sel.register(t.sock, selectors.EVENT_READ, f)
                t, adapter = tracers[f]
                key = probe_key(t.flow, key_base, serial)
                adapter.ttl_of[serial], adapter.key_of[serial] = ttl, key
                t._send(adapter, serial, ttl, key)  # type: ignore[arg-type]
                serial += 1
            session.expire(time.monotonic_ns())
            if session.done:
                return
            deadline = session.next_deadline()
            if deadline is None:
                continue
            timeout = max(0.0, (deadline - time.monotonic_ns()) / 1e9)
            for ready, _events in sel.select(timeout) if tracers else []:
                t, adapter = tracers[ready.data]
                t._drain(adapter, t.sock)  # type: ignore[arg-type]
            if not tracers:
                time.sleep(timeout)
    finally:
        sel.close()
        for t, _a in tracers.values():
            t.close()
