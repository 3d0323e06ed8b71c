"""The loop both tracers run: send what the session allows, read, expire, hand out hops.

A tracer (raw :class:`netdiag.trace.loop.Tracer` or unprivileged
:class:`netdiag.trace.dgram.DgramTracer`) provides ``readers`` (sockets to wait
on), ``_send(session, n, ttl, key)`` and ``_drain(session, sock)``; this loop
owns the clock. It reads its sockets after every probe it sends (see "Clocks"
in :mod:`netdiag.trace.loop`: a read-time stamp is then late by one send at
most).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable

from netdiag.errors import NetdiagError
from netdiag.trace.core import Hop, TraceSession

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["drive", "SO_TIMESTAMPNS", "IP_MTU_DISCOVER", "IPV6_MTU_DISCOVER", "PMTUDISC_DONT",
           "PMTUDISC_PROBE"]  # fmt: skip

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # SCM_TIMESTAMPNS too
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
PMTUDISC_DONT, PMTUDISC_PROBE = 0, 3  # IP_PMTUDISC_* == IPV6_PMTUDISC_* (linux/in.h, in6.h)


def drive(tracer: Any, session: TraceSession, on_hop: Callable[[Hop], None]) -> None:
    """Send, wait and feed until ``session`` is done; hops go to ``on_hop`` in order."""
    readers = tracer.readers
    idle = 0  # passes in a row that neither sent nor had anything to wait for
    while True:
        sent = False
        while (nxt := session.next_probe()) is not None:
            sent = True
            tracer._send(session, *nxt)
            for sock in readers:  # read as we go
                tracer._drain(session, sock)
        for sock in readers:
            tracer._drain(session, sock)
        session.expire(time.monotonic_ns())
        for hop in session.ready():
            on_hop(hop)
        if session.done:
            return
        deadline = session.next_deadline()
        if deadline is None:  # nothing in flight: the next pass sends or is done
            # (answers read above may have opened the window); two idle passes in a
            # row mean nothing to send and nothing to wait for: never spin on that
            idle = 0 if sent else idle + 1
            if idle >= 2:
                raise NetdiagError("traceroute: internal error: nothing to send or wait for")
            continue
        idle = 0
        timeout = max(0.0, (deadline - time.monotonic_ns()) / 1e9)
        select.select(readers, [], [], timeout)
