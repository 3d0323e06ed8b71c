"""The deciding half of the many-target engine: no sockets, no clocks (STYLE habit 4).

A :class:`Sweep` holds N targets and decides, given the time (monotonic ns):

- which probe is due (:meth:`Sweep.due`): per target, a period (``-p``, or the
  target's own); globally, a minimum gap between any two sends (``-i``). A retry
  after a timeout goes out at once, as fping sends it straight from its timeout
  handler;
- what timed out (:meth:`Sweep.expire`): each probe waits the target's current
  timeout; in the alive check (no count, no loop) a timeout sends a retry, up to
  ``retries``, with the timeout multiplied by ``backoff`` each time (fping's
  500, 750, 1125, 1687 ms with the defaults), and the first reply resets it;
- which reply matches (:meth:`Sweep.reply`, :meth:`Sweep.error`): probes carry
  a 16-bit sequence number drawn from one space shared by every target, so one
  socket per family and method serves them all, as fping's seqmap does. The
  packet-level checks (identifier, cookie, quoted datagram) are in
  :mod:`~netdiag.multi.match`.

Counting follows fping: a probe is counted as transmitted when it is answered,
times out or fails to send; a reply later than the timeout is not a reply.
A reply to a probe already answered is a :class:`~netdiag.multi.results.Duplicate`.

Memory is bounded per target: counters, min/max/sum, the last reply's TTL and a
ring of the last ``ring`` results (every probe's in count mode, where the ring is
the count). Probes in flight are bounded by the timeouts: an entry leaves the
sequence map when its timeout passes, answered or not (and is remembered 10 s more,
as fping's seqmap, so that a router's late ICMP error is still attributed).

For a long-running caller (the exporter): loop mode with per-target periods
(``Target.period_ms``), :meth:`Sweep.add_target` and :meth:`Sweep.retire` (a
reload), :meth:`Sweep.stop`, and :meth:`Sweep.result` to read one target's state
as a frozen :class:`~netdiag.multi.results.HostResult` at any time.
"""

from __future__ import annotations

import heapq
from collections import deque

from netdiag.multi.results import Duplicate, HostResult, IcmpError, Reply, SendError, Timeout
from netdiag.records import dataclass

__all__ = ["Settings", "Target", "Due", "Sweep", "TargetState", "rtt_ns", "SEQ_SPACE"]

SEQ_SPACE = 1 << 16
_MS = 1_000_000
_GONE_NS = 10_000_000_000
_IDLE_STEPS = 20


@dataclass(frozen=True)
class Settings:
    """fping's timing: ``-i`` interval (global gap), ``-p`` period, ``-t`` timeout,
    ``-r`` retries, ``-B`` backoff, ``-c``/``-C`` count, ``-l`` loop (all ms)."""

    interval_ms: float = 10.0
    period_ms: float = 1000.0
    timeout_ms: float = 500.0
    retries: int = 3
    backoff: float = 1.5
    count: int | None = None
    loop: bool = False
    ring: int = 64  # results kept per target in loop mode

    def __post_init__(self) -> None:
        if self.interval_ms < 0 or self.period_ms < 0 or self.timeout_ms <= 0:
            raise ValueError("interval and period must be >= 0, the timeout > 0")
        if self.retries < 0 or not 1.0 <= self.backoff <= 5.0:
            raise ValueError("retries >= 0, backoff 1.0 .. 5.0")
        if self.count is not None and self.count < 1:
            raise ValueError("count >= 1")
        if self.ring < 1:
            raise ValueError("ring >= 1")

    @property
    def repeating(self) -> bool:
        """Count or loop mode: probes every period, no retries."""
        return self.loop or self.count is not None


@dataclass(frozen=True)
class Target:
    name: str  # as the user gave it, printed by fping
    address: str
    family: int  # 4 or 6
    period_ms: float | None = None  # this target's own period (exporter); None: Settings'
    offset_ms: float = 0.0  # its first probe this long after the start (exporter: bursts)


@dataclass(frozen=True, slots=True)
class Due:
    """Probe number ``probe`` of target ``target``, scheduled for ``at_ns``."""

    target: int
    probe: int
    at_ns: int


class TargetState:
    """What is kept per target: counters, RTT min/max/sum, the ring of recent results
    ``(probe, rtt_ms or None)``, and the current timeout (with backoff)."""

    __slots__ = ("transmitted", "received", "duplicates", "errors", "min_ms", "max_ms",
                 "sum_ms", "ring", "timeout_ns", "tries", "icmp_errors", "last_ttl")  # fmt: skip

    def __init__(self, ring: int, timeout_ns: int) -> None:
        self.transmitted = self.received = self.duplicates = self.errors = self.tries = 0
        self.min_ms = self.max_ms = self.sum_ms = 0.0
        self.ring: deque[tuple[int, float | None]] = deque(maxlen=ring)
        self.timeout_ns = timeout_ns
        self.icmp_errors: deque[str] = deque(maxlen=16)
        self.last_ttl = 0  # TTL (hop limit) of the last reply

    @property
    def avg_ms(self) -> float | None:
        return self.sum_ms / self.received if self.received else None

    @property
    def loss_pct(self) -> int:
        if not self.transmitted:
            return 0
        return max(0, self.transmitted - self.received) * 100 // self.transmitted


class _Out:
    """A probe in flight (or answered, until its timeout passes)."""

    __slots__ = ("target", "probe", "mono_ns", "wall_ns", "deadline_ns", "answered")

    def __init__(self, target: int, probe: int, mono_ns: int, wall_ns: int, deadline: int) -> None:
        self.target, self.probe = target, probe
        self.mono_ns, self.wall_ns, self.deadline_ns = mono_ns, wall_ns, deadline
        self.answered = False


def rtt_ns(sent_mono: int, sent_wall: int, now_ns: int, kernel_wall_ns: int | None) -> int:
    """The kernel receive stamp minus the wall clock at send; the monotonic difference
    when there is no stamp or the stamp lies outside [0, monotonic] (a clock step)."""
    mono = max(0, now_ns - sent_mono)
    if kernel_wall_ns is None:
        return mono
    kernel = kernel_wall_ns - sent_wall
    return kernel if 0 <= kernel <= mono else mono


class Sweep:
    """N targets, one schedule, one sequence space. ``start_ns``: monotonic time of the
    first sends (every target's first probe is due then, in the order given)."""

    def __init__(self, targets: list[Target], settings: Settings, start_ns: int,
                 first_seq: int = 0) -> None:  # fmt: skip
        self.targets = list(targets)
        self.settings = settings
        s = settings
        ring = s.count if s.count is not None and not s.loop else s.ring
        self._timeout_ns = int(s.timeout_ms * _MS)
        self.states = [TargetState(ring, self._timeout_ns) for _ in self.targets]
        self._interval_ns = int(s.interval_ms * _MS)
        self._periods = [int((t.period_ms if t.period_ms is not None else s.period_ms) * _MS)
                         for t in self.targets]  # fmt: skip
        self._due: list[tuple[int, int, int, int]] = [
            (start_ns + int(t.offset_ms * _MS), i, i, 0) for i, t in enumerate(self.targets)
        ]
        heapq.heapify(self._due)
        self._order = len(self.targets)
        self._retry: deque[Due] = deque()
        self._out: dict[int, _Out] = {}
        self._expiry: list[tuple[int, int, int]] = []  # (deadline, seq, probe key)
        self._seq = first_seq % SEQ_SPACE
        self._unanswered = 0
        self._reserved: int | None = None
        self._retired: set[int] = set()
        self.stopped = False
        # probes past their timeout, kept 10 s for ICMP errors about them (fping's seqmap)
        self._gone: dict[int, tuple[int, int, int]] = {}
        self._gone_order: deque[tuple[int, int]] = deque()  # (at, seq), oldest first
        self.last_send_ns: int | None = None
        self._next_allowed: int | None = None
        self.sent_total = self.replies_total = self.timeouts_total = self.other_icmp = 0

    # -- the target list, for a long-running loop (the exporter's reload)

    def add_target(self, target: Target, now_ns: int) -> int:
        """Probe one more target, from ``now_ns`` on; returns its index."""
        s = self.settings
        i = len(self.targets)
        self.targets.append(target)
        ring = s.count if s.count is not None and not s.loop else s.ring
        self.states.append(TargetState(ring, self._timeout_ns))
        period = target.period_ms if target.period_ms is not None else s.period_ms
        self._periods.append(int(period * _MS))
        self._order += 1
        heapq.heappush(self._due, (now_ns, self._order, i, 0))
        return i

    def retire(self, i: int) -> None:
        """Send nothing more to target ``i`` (its index and its counters stay)."""
        self._retired.add(i)

    # -- what to send

    def due(self, now_ns: int) -> Due | None:
        """The probe to send now, or None. Retries first; then the earliest scheduled
        probe that is due, if the global gap since the last send has passed."""
        if self._retry:
            return self._retry.popleft()
        if not self._due or self._due[0][0] > now_ns:
            return None
        if self._next_allowed is not None and now_ns < self._next_allowed:
            return None
        at, _order, target, probe = heapq.heappop(self._due)
        if target in self._retired:
            return self.due(now_ns)
        return Due(target, probe, at)

    def reserve(self) -> int:
        """The sequence number the next :meth:`sent` will use (the loop builds the probe
        with it before reading the clocks and sending)."""
        if self._reserved is None:
            self._reserved = self._free_seq()
        return self._reserved

    def sent(self, due: Due, now_ns: int, wall_ns: int) -> int:
        """``due`` left at ``now_ns`` (monotonic) / ``wall_ns``; returns its sequence number."""
        seq = self.reserve()
        self._reserved = None
        state = self.states[due.target]
        deadline = now_ns + state.timeout_ns
        self._out[seq] = _Out(due.target, due.probe, now_ns, wall_ns, deadline)
        self._gone.pop(seq, None)
        heapq.heappush(self._expiry, (deadline, seq, id(self._out[seq])))
        self._unanswered += 1
        state.tries += 1
        self._pace(now_ns)
        self.sent_total += 1
        self._schedule_next(due)
        return seq

    def send_failed(self, due: Due, now_ns: int, message: str) -> SendError:
        """``sendto`` refused ``due``: counted as sent and lost, no timeout, no retry."""
        state = self.states[due.target]
        state.tries += 1
        state.transmitted += 1
        state.ring.append((due.probe, None))
        self._pace(now_ns)
        self._schedule_next(due)
        return SendError(due.target, due.probe, message)

    def _pace(self, now_ns: int) -> None:
        """The global gap (-i). While the sweep is busy, sends keep to a grid of
        ``interval`` steps, so that the loop's late wake-ups (a little after each gap, and
        the odd stall when the machine is busy) do not add up over a sweep; catching up
        after a stall, two sends are still at least half a gap apart. After an idle
        spell (more than :data:`_IDLE_STEPS` steps late) the grid restarts at the send."""
        self.last_send_ns = now_ns
        step = self._interval_ns
        base = self._next_allowed
        if base is None or now_ns - base > _IDLE_STEPS * step:
            self._next_allowed = now_ns + step
        else:
            self._next_allowed = max(base + step, now_ns + step // 2)

    def _schedule_next(self, due: Due) -> None:
        s = self.settings
        nxt = due.probe + 1
        if s.loop or (s.count is not None and nxt < s.count):
            self._order += 1
            heapq.heappush(self._due, (due.at_ns + self._periods[due.target], self._order,
                                       due.target, nxt))  # fmt: skip

    def _free_seq(self) -> int:
        for _ in range(SEQ_SPACE):
            seq = self._seq
            self._seq = (seq + 1) % SEQ_SPACE
            if seq not in self._out:
                return seq
        # every sequence number in flight: reuse the oldest (never with sane timeouts)
        _deadline, seq, _key = heapq.heappop(self._expiry)
        self._drop(seq)
        return seq

    # -- when to wake, what timed out

    def wake_ns(self, now_ns: int) -> int | None:
        """The next time something is due (a send or a timeout); None when done."""
        if self._retry:
            return now_ns
        times = []
        if self._due:
            at = self._due[0][0]
            if self._next_allowed is not None:
                at = max(at, self._next_allowed)
            times.append(at)
        if self._expiry:
            times.append(self._expiry[0][0])
        return min(times) if times else None

    def stop(self) -> None:
        """Ask the loop to end after its current wait (a long-running caller's exit)."""
        self.stopped = True

    @property
    def done(self) -> bool:
        """Nothing left to send and nothing unanswered in flight."""
        return not self._due and not self._retry and not self._unanswered

    def expire(self, now_ns: int, wall_ns: int = 0) -> list[Timeout]:
        """Probes whose timeout has passed: unanswered ones become :class:`Timeout`
        (and, in the alive check, a retry with the timeout times ``backoff``)."""
        out: list[Timeout] = []
        s = self.settings
        while self._expiry and self._expiry[0][0] <= now_ns:
            _deadline, seq, key = heapq.heappop(self._expiry)
            entry = self._out.get(seq)
            if entry is None or id(entry) != key:
                continue
            self._drop(seq)
            self._gone[seq] = (entry.target, entry.probe, now_ns)
            self._gone_order.append((now_ns, seq))
            if entry.answered:
                continue
            state = self.states[entry.target]
            state.transmitted += 1
            state.ring.append((entry.probe, None))
            self.timeouts_total += 1
            out.append(Timeout(entry.target, entry.probe, wall_ns))
            if not s.repeating and state.tries < s.retries + 1:
                state.timeout_ns = int(state.timeout_ns * s.backoff)
                self._retry.append(Due(entry.target, entry.probe, now_ns))
        # forget what is past 10 s, oldest first (a scan of the whole map at every
        # call cost a 1,000-target loop most of its CPU)
        order, old = self._gone_order, now_ns - _GONE_NS
        while order and order[0][0] < old:
            at, seq = order.popleft()
            gone = self._gone.get(seq)
            if gone is not None and gone[2] == at:
                del self._gone[seq]
        return out

    def _drop(self, seq: int) -> None:
        entry = self._out.pop(seq)
        if not entry.answered:
            self._unanswered -= 1

    # -- what arrives

    def reply(
        self, seq: int, source: str, now_ns: int, kernel_wall_ns: int | None, size: int,
        ttl: int, answer: str = "",
    ) -> Reply | Duplicate | None:  # fmt: skip
        """A reply carrying ``seq`` (its identifier and cookie already checked)."""
        entry = self._out.get(seq)
        if entry is None:
            return None  # not ours, or later than its timeout: not a reply (fping)
        rtt_ms = rtt_ns(entry.mono_ns, entry.wall_ns, now_ns, kernel_wall_ns) / _MS
        state = self.states[entry.target]
        if entry.answered:
            state.duplicates += 1
            return Duplicate(entry.target, entry.probe, rtt_ms, size, source)
        if now_ns > entry.deadline_ns:
            return None
        entry.answered = True
        self._unanswered -= 1
        state.transmitted += 1
        state.received += 1
        if state.received == 1 or rtt_ms < state.min_ms:
            state.min_ms = rtt_ms
        if rtt_ms > state.max_ms:
            state.max_ms = rtt_ms
        state.sum_ms += rtt_ms
        state.ring.append((entry.probe, rtt_ms))
        state.timeout_ns = self._timeout_ns
        state.last_ttl = ttl
        self.replies_total += 1
        wall = kernel_wall_ns if kernel_wall_ns is not None else entry.wall_ns + int(rtt_ms * _MS)
        return Reply(entry.target, entry.probe, rtt_ms, size, source, ttl, wall, answer)

    def error(self, seq: int, source: str, family: int, icmp_type: int, code: int,
              text: str = "") -> IcmpError | None:  # fmt: skip
        """An ICMP error quoting probe ``seq``. As fping: reported, and the probe keeps
        waiting for its timeout."""
        entry = self._out.get(seq)
        if entry is not None:
            target, probe = entry.target, entry.probe
        elif seq in self._gone:
            target, probe, _at = self._gone[seq]
        else:
            return None
        state = self.states[target]
        state.errors += 1
        if text:
            state.icmp_errors.append(text)
        self.other_icmp += 1
        return IcmpError(target, probe, source, family, icmp_type, code)

    def target_of(self, seq: int) -> int | None:
        entry = self._out.get(seq)
        if entry is not None:
            return entry.target
        gone = self._gone.get(seq)
        return None if gone is None else gone[0]

    # -- results

    def result(self, i: int, protocol: str = "icmp", port: int | None = None) -> HostResult:
        t, st = self.targets[i], self.states[i]
        rtts = tuple(r for _p, r in sorted(st.ring, key=lambda pr: pr[0]))
        return HostResult(
            target=t.name, address=t.address, family=t.family,
            transmitted=st.transmitted, received=st.received, duplicates=st.duplicates,
            errors=st.errors, rtts=rtts, min_rtt=st.min_ms, max_rtt=st.max_ms,
            sum_rtt=st.sum_ms, protocol=protocol, port=port,
            icmp_errors=tuple(st.icmp_errors),
        )  # fmt: skip

    def results(self, protocol: str = "icmp", port: int | None = None) -> list[HostResult]:
        return [self.result(i, protocol, port) for i in range(len(self.targets))]
