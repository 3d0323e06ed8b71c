"""``netdiag mtr --multipath``: a multipath trace, then rounds over the flows it found.

The trace (:func:`~netdiag.trace.multipath.loop.multipath`) finds the branches;
:func:`~netdiag.trace.multipath.rounds.pick_flows` keeps a few flows that cross
all of them; every round then probes those flows (their source ports, so each
keeps its branch) at every TTL, paced per address as single-path mtr paces its
hops (:mod:`.rounds` decides and counts). Rounds start every ``interval``
seconds; a probe waits at most ``min(wait, max(interval, 1 s))``. Raw sockets,
or without them the unprivileged datagram sockets (``-U``, ``-I``), as the trace.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from netdiag.records import dataclass, replace
from netdiag.trace.loop import make_flow
from netdiag.trace.mtr import MtrOptions
from netdiag.trace.multipath.loop import (
    Flows,
    MultipathResult,
    Receiver,
    _run,
    header_socket,
    multipath,
    raw_tracer,
)
from netdiag.trace.multipath.rounds import BranchBook, BranchReport, RoundSession, pick_flows
from netdiag.trace.probe import Method

__all__ = ["MultipathMtr", "mtr_multipath"]


@dataclass(frozen=True)
class MultipathMtr:
    trace: MultipathResult  # the discovery the rounds started from
    report: BranchReport
    interval: float
    interrupted: bool = False


def mtr_multipath(target: str, options: MtrOptions | None = None, confidence: float = 95,
                  lite: bool = True, aliases: bool = True,
                  on_round: Callable[[MultipathMtr], None] | None = None,
                  first_port: int | None = None) -> MultipathMtr:  # fmt: skip
    """Trace every path to ``target``, then run ``count`` rounds over its flows (until
    Ctrl-C when count is None); ``on_round`` sees the result after every round."""
    opt = options or MtrOptions()
    topt = opt.trace
    found = multipath(target, topt, confidence, lite, aliases, first_port)
    base = replace(make_flow(found.family, found.address, topt), sport=found.first_port)
    flows = Flows(base)
    chosen = pick_flows(found.paths)
    book = BranchBook(found.paths, chosen, found.family, topt.method is Method.UDP,
                      topt.first_ttl, found.routers())  # fmt: skip
    wait_ns = int(min(topt.wait[0], max(opt.interval, 1.0)) * 1e9)
    interrupted = False
    tracer = raw_tracer(base, topt)
    rx = Receiver(flows, RoundSession([], wait_ns))  # type: ignore[arg-type]  # its protocol
    head = header_socket(topt) if tracer is not None and found.family == 4 else None

    def one_round(session: RoundSession, key_base: int) -> None:
        if tracer is not None:
            rx.session = session  # type: ignore[assignment]
            rx.keys.clear()  # a late answer from an earlier round counts for nothing
            rx.pads.clear()
            _run(tracer, rx, session, False, [], head)  # type: ignore[arg-type]
        else:
            from netdiag.trace.multipath.dgram import run_unprivileged

            run_unprivileged(session, flows.flow, topt, key_base)  # type: ignore[arg-type]

    def result() -> MultipathMtr:
        return MultipathMtr(found, book.report(), opt.interval, interrupted)

    start = time.monotonic()
    try:
        while chosen and (opt.count is None or book.rounds < opt.count):
            pause = start + book.rounds * opt.interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            at = time.monotonic() - start
            session = RoundSession(book.plan(at), wait_ns)
            one_round(session, (book.rounds * 4096) & 0xFFFFFFFF)
            book.record(at, session.results)
            if on_round is not None:
                on_round(result())
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if tracer is not None:
            tracer.close()
        if head is not None:
            head.close()
    return result()
