"""The exporter's probing: engine threads, path threads, and applying a configuration.

- One :class:`Group` per (method, port, size, timeout): a thread running the
  many-target engine (``netdiag.multi.loop.run_sweep``) in loop mode, every target
  at its own period, in bursts of up to :data:`BURST` (and the configured gap between any two
  sends, none by default). Its ``on_event`` feeds
  the targets' :class:`~netdiag.exporter.collector.TargetStats`; its ``on_report``
  (every 0.2 s, in the engine's thread, since the sweep is not shared) applies the
  reload's additions and retirements and the stop.
- One :class:`PathMonitor` per target with ``path``: a thread running
  ``netdiag.trace.mtr.mtr`` every ``every`` seconds.
- :class:`Prober` applies a configuration (at start and at each reload): places
  each new target in its group (a name is resolved in the background, so a slow
  resolver delays no one; one that does not resolve: ``up`` 0,
  ``errors_total{type="resolve"}``, a log line, retried every 30 s), retires the
  ones gone. A group whose sockets need a privilege the process lacks reports
  ``type="privilege"`` for its targets and a line; the others go on.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque

from netdiag.errors import NetdiagError
from netdiag.exporter.collector import PathStats, Registry, TargetStats, error_type
from netdiag.exporter.config import Config, TargetConfig
from netdiag.multi.core import Settings, Sweep, Target
from netdiag.multi.loop import Probing, run_sweep
from netdiag.multi.results import Duplicate, IcmpError, Reply, SendError, Timeout
from netdiag.probing.resolve import is_address, resolve
from netdiag.records import replace

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["Group", "PathMonitor", "Prober", "log"]

RETRY_RESOLVE_S = 30.0
_REPORT_S = 0.2
#: the most targets probed together: one wake-up sends them and their replies come in
#: together, which costs a fraction of a wake-up per probe (1,000 targets at 1 s: 9 %
#: of a core in bursts of 50, 6.5 % in bursts of 100, here); the bursts' phases in
#: the period follow the golden ratio, so that they stay spread however many there are
BURST = 100
_PHI = 0.6180339887498949
_RCVBUF_SHARE = 60_000  # bytes of replies a burst may queue (the default buffer: 212,992)


def burst_size(size: int) -> int:
    """Targets per burst for ``size``-byte payloads: their replies (with the kernel's
    overhead per packet) stay well inside a socket's default receive buffer."""
    return max(4, min(BURST, _RCVBUF_SHARE // (size + 500)))


def burst_offset_ms(slot: int, period_ms: float, burst: int = BURST) -> float:
    """When, after it joins, the ``slot``-th target of a group is first probed."""
    return ((slot // burst) * _PHI % 1.0) * period_ms


def log(message: str) -> None:
    """One line on stderr, as the daemon's log."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    sys.stderr.write(f"{stamp} netdiag exporter: {message}\n")
    sys.stderr.flush()


def _group_key(t: TargetConfig) -> tuple[object, ...]:
    return (t.protocol, t.port, t.size, t.timeout)


class Group:
    """One engine thread for the targets sharing a method, size and timeout.

    ``members`` belongs to the caller's thread (the prober); the sweep's indexes
    belong to the engine's thread, which takes the queued changes in ``on_report``."""

    def __init__(
        self,
        like: TargetConfig,
        gap_ms: float,
        registry: Registry,
        members: list[tuple[TargetStats, Target]],
    ) -> None:
        self.key = _group_key(like)
        port = like.port
        self.probing = Probing(
            tcp=port if like.protocol == "tcp" else None,
            udp=port if like.protocol == "udp" else None,
            size=like.size,
        )
        self.settings = Settings(
            interval_ms=gap_ms, timeout_ms=like.timeout * 1000, loop=True, ring=1
        )
        self.registry = registry
        self.members = {s.config.key: (s, t) for s, t in members}
        self.families = {t.family for _s, t in members}
        self._stats = [s for s, _t in members]  # by sweep index (engine thread)
        self._index = {s.config.key: i for i, s in enumerate(self._stats)}
        self.burst = burst_size(like.size)
        self._initial = [
            replace(t, offset_ms=burst_offset_ms(i, t.period_ms or 1000.0, self.burst))
            for i, (_s, t) in enumerate(members)
        ]
        self._slots = len(members)
        self._ops: deque[tuple[str, Any, Any]] = deque()
        self._stop = False
        self.failed: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"probe {like.method}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def add(self, stats: TargetStats, target: Target) -> None:
        self.members[stats.config.key] = (stats, target)
        offset = burst_offset_ms(self._slots, target.period_ms or 1000.0, self.burst)
        self._slots += 1
        self._ops.append(("add", stats, replace(target, offset_ms=offset)))

    def retire(self, key: tuple[object, ...]) -> None:
        self.members.pop(key, None)
        self._ops.append(("retire", key, None))

    def stop(self) -> None:
        self._stop = True

    def _run(self) -> None:
        try:
            run_sweep(
                self._initial,
                self.settings,
                self.probing,
                self._event,
                on_report=self._report,
                report_every_s=_REPORT_S,
            )
        except (NetdiagError, OSError) as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        kind = "privilege" if type(exc).__name__ == "PrivilegeError" else "socket"
        self.failed = " ".join(str(exc).split())
        with self.registry.lock:
            for s in self._stats:
                s.up = False
                s.error(kind)
            hosts = ", ".join(s.config.host for s in self._stats[:5])
        more = ", ..." if len(self._stats) > 5 else ""
        log(f"{self.probing.protocol} probes cannot run ({hosts}{more}): {self.failed}")

    def _event(self, event: Any, _sweep: Sweep) -> None:
        stats = self._stats[event.target]
        with self.registry.lock:
            if isinstance(event, Reply):
                stats.reply(event.rtt_ms / 1000, event.ttl)
            elif isinstance(event, Timeout):
                stats.lost()
            elif isinstance(event, Duplicate):
                stats.duplicate()
            elif isinstance(event, IcmpError):
                stats.error(error_type(event.family, event.type, event.code))
            elif isinstance(event, SendError):
                stats.lost()
                stats.error("send")

    def _report(self, sweep: Sweep) -> None:
        while self._ops:
            op, a, b = self._ops.popleft()
            if op == "add":
                start = time.monotonic_ns() + int(b.offset_ms * 1e6)
                self._index[a.config.key] = sweep.add_target(b, start)
                self._stats.append(a)
            elif (i := self._index.pop(a, None)) is not None:
                sweep.retire(i)
        if self._stop:
            sweep.stop()


class PathMonitor:
    """mtr every ``every`` seconds to one target, into its :class:`PathStats`."""

    def __init__(
        self, config: TargetConfig, address: str, family: int, path: PathStats, registry: Registry
    ) -> None:
        self.config = config
        self.address = address
        self.family = family
        self.path = path
        self.registry = registry
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"path {config.host}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from netdiag.trace.loop import TraceOptions
        from netdiag.trace.mtr import MtrOptions, mtr
        from netdiag.trace.probe import Method

        pc = self.config.path
        assert pc is not None
        opt = MtrOptions(
            trace=TraceOptions(method=Method(pc.method), family=self.family, max_ttl=pc.max_hops),
            count=pc.rounds,
        )
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                report = mtr(self.address, opt)
            except (NetdiagError, OSError) as exc:
                log(f"path to {self.config.host}: {' '.join(str(exc).split())}")
                with self.registry.lock:
                    stats = self.registry.targets.get(self.config.key)
                    if stats is not None:
                        stats.error("path")
            else:
                with self.registry.lock:
                    self.path.report(report)
            self._stop.wait(max(0.0, pc.every - (time.monotonic() - start)))


class Prober:
    """Everything that probes, for the configuration last applied."""

    def __init__(
        self, registry: Registry, resolver: Callable[[str], tuple[int, str]] | None = None
    ) -> None:
        self.registry = registry
        self.resolver = resolver or resolve
        self.config: Config | None = None
        self.groups: dict[tuple[object, ...], Group] = {}
        self.placed: dict[tuple[object, ...], tuple[TargetConfig, Target, tuple[object, ...]]] = {}
        self.paths: dict[tuple[object, ...], PathMonitor] = {}
        self.unresolved: dict[tuple[object, ...], TargetConfig] = {}
        self.resolving: dict[tuple[object, ...], tuple[TargetConfig, Any]] = {}
        self._pool: Any = None
        self._next_resolve = time.monotonic() + RETRY_RESOLVE_S

    def apply(self, config: Config) -> None:
        """Probe what ``config`` lists from now on (start, or a reload)."""
        reg = self.registry
        wanted = {t.key: t for t in config.targets}
        with reg.lock:
            reg.label_names = config.label_names
        known = [*self.placed, *self.unresolved, *self.resolving]
        for key in [k for k in known if k not in wanted]:
            self._remove(key)
            with reg.lock:
                reg.targets.pop(key, None)
                reg.paths.pop(key, None)
        adds: dict[tuple[object, ...], list[tuple[TargetStats, Target]]] = {}
        for key, tc in wanted.items():
            placed = self.placed.get(key) or self.resolving.get(key)
            if placed is not None and placed[0] == tc:
                continue
            if placed is not None or key in self.unresolved:
                self._remove(key)
            with reg.lock:
                stats = reg.targets.get(key)
                if stats is None or stats.bounds != config.buckets:
                    stats = reg.targets[key] = TargetStats(tc, config.buckets)
                stats.config = tc
            self._place(tc, stats, adds)
        self.config = config
        self._start(adds, config.gap_ms)  # a new gap_ms applies to the groups made from now

    def _place(
        self,
        tc: TargetConfig,
        stats: TargetStats,
        adds: dict[tuple[object, ...], list[tuple[TargetStats, Target]]],
    ) -> None:
        """An address is placed at once; a name is resolved in the background (a
        resolver that times out delays no other target) and placed by :meth:`tick`."""
        if is_address(tc.host):
            family, address = self.resolver(tc.host)
            self._placed(tc, stats, family, address, adds)
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(8, thread_name_prefix="resolve")
        with self.registry.lock:
            stats.up = False
        self.resolving[tc.key] = (tc, self._pool.submit(self.resolver, tc.host))

    def _resolved(
        self,
        tc: TargetConfig,
        future: Any,
        adds: dict[tuple[object, ...], list[tuple[TargetStats, Target]]],
    ) -> None:
        stats = self.registry.targets[tc.key]
        try:
            family, address = future.result()
        except Exception as exc:  # NetdiagError from resolve(), or anything a resolver raises
            self.unresolved[tc.key] = tc
            with self.registry.lock:
                stats.up, stats.ip = False, ""
                stats.error("resolve")
            reason = " ".join(str(exc).split())
            log(f"target {tc.host}: {reason} (retried every {RETRY_RESOLVE_S:g} s)")
            return
        self._placed(tc, stats, family, address, adds)

    def _placed(
        self,
        tc: TargetConfig,
        stats: TargetStats,
        family: int,
        address: str,
        adds: dict[tuple[object, ...], list[tuple[TargetStats, Target]]],
    ) -> None:
        target = Target(tc.host, address, family, period_ms=tc.interval * 1000)
        gk = _group_key(tc)
        self.placed[tc.key] = (tc, target, gk)
        with self.registry.lock:
            stats.ip = address
            stats.up = True
        adds.setdefault(gk, []).append((stats, target))
        if tc.path is None:
            with self.registry.lock:
                self.registry.paths.pop(tc.key, None)
        else:
            path = PathStats()
            with self.registry.lock:
                path = self.registry.paths.setdefault(tc.key, path)
            mon = PathMonitor(tc, address, family, path, self.registry)
            self.paths[tc.key] = mon
            mon.start()

    def _start(
        self, adds: dict[tuple[object, ...], list[tuple[TargetStats, Target]]], gap_ms: float
    ) -> None:
        for gk, members in adds.items():
            group = self.groups.get(gk)
            families = {t.family for _s, t in members}
            if group is not None and group.failed is None and families <= group.families:
                for stats, target in members:
                    group.add(stats, target)
                continue
            if group is not None:  # a new family, or it failed: a new engine for them all
                group.stop()
                members = list(group.members.values()) + members
            group = Group(members[0][0].config, gap_ms, self.registry, members)
            self.groups[gk] = group
            group.start()

    def _remove(self, key: tuple[object, ...]) -> None:
        self.unresolved.pop(key, None)
        self.resolving.pop(key, None)
        placed = self.placed.pop(key, None)
        if placed is not None:
            group = self.groups.get(placed[2])
            if group is not None:
                group.retire(key)
                if not group.members:
                    group.stop()
                    del self.groups[placed[2]]
        mon = self.paths.pop(key, None)
        if mon is not None:
            mon.stop()

    def tick(self, now: float) -> None:
        """Place the names resolved since; every :data:`RETRY_RESOLVE_S`, resolve again
        the ones that did not."""
        if self.config is None:
            return
        adds: dict[tuple[object, ...], list[tuple[TargetStats, Target]]] = {}
        for key, (tc, future) in list(self.resolving.items()):
            if future.done():
                del self.resolving[key]
                self._resolved(tc, future, adds)
        if now >= self._next_resolve:
            self._next_resolve = now + RETRY_RESOLVE_S
            for key, tc in list(self.unresolved.items()):
                del self.unresolved[key]
                self._place(tc, self.registry.targets[key], adds)
        self._start(adds, self.config.gap_ms)

    def stop(self) -> None:
        for group in self.groups.values():
            group.stop()
        for mon in self.paths.values():
            mon.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        for group in self.groups.values():
            group.thread.join(max(0.0, end - time.monotonic()))
