"""``netdiag fping ...``: many targets at once, with fping 5.1's options, output and exit
statuses, on the engine of :mod:`netdiag.multi`.

Modes, as fping's: without ``-c``/``-C``/``-l``, an alive check (``NAME is alive`` on
the first reply, retries with backoff, ``NAME is unreachable`` at the end); with
``-c N``/``-C N``, N probes per target every ``-p`` ms, a line per reply (stdout) and
the summaries on stderr; ``-l`` loops until Ctrl-C (``-Q S``: a summary every S s).
ICMP errors from routers go to stderr in fping's words.

Exit status: 0 all targets alive, 1 some unreachable (with ``-x N``: fewer than N
alive), 2 a name not found or a bad argument, 4 a system call failed.
"""

from __future__ import annotations

import argparse
import sys
import time

from netdiag.argtypes import number as _number
from netdiag.errors import UsageError
from netdiag.fping import render
from netdiag.fping.targets import generate, read_file
from netdiag.multi.core import Settings, Sweep, Target
from netdiag.multi.loop import Probing, run_sweep
from netdiag.multi.results import Duplicate, IcmpError, Reply, SendError, Timeout
from netdiag.probing.resolve import resolve

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "cmd_fping", "settings_from_args", "resolve_targets"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "fping",
        help="probe many hosts at once, like fping",
        description="Probe many targets at once with fping 5.1's options and output. "
        "Exit status: 0 all alive, 1 some unreachable, 2 a name not found or a bad "
        "argument, 4 a system call failed. ICMP needs root or CAP_NET_RAW, or "
        "net.ipv4.ping_group_range admitting the user (datagram sockets).",
    )
    p.add_argument("targets", nargs="*", metavar="TARGET", help="addresses or names "
                   "(with -g: a CIDR, or START END)")  # fmt: skip
    p.add_argument("-f", dest="file", metavar="FILE", help="read targets from FILE (- stdin)")
    p.add_argument("-g", dest="generate", action="store_true",
                   help="generate targets from a CIDR or START END (IPv4)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="-g: allow more than 65536 targets")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-c", dest="count", type=_number(int, "count", 1), metavar="N",
                      help="send N probes to each target")  # fmt: skip
    mode.add_argument("-C", dest="all_rtts", type=_number(int, "count", 1), metavar="N",
                      help="as -c, and report every RTT")  # fmt: skip
    mode.add_argument("-l", dest="loop", action="store_true", help="loop until Ctrl-C")
    p.add_argument("-Q", dest="squiet", type=_number(float, "interval", 0), metavar="SECS",
                   help="quiet, and a summary every SECS")  # fmt: skip
    p.add_argument("-a", dest="alive", action="store_true", help="show the alive targets")
    p.add_argument("-u", dest="unreach", action="store_true", help="show the unreachable ones")
    p.add_argument("-q", dest="quiet", action="store_true", help="no per-probe lines")
    p.add_argument("-s", dest="stats", action="store_true", help="print final statistics")
    p.add_argument("-e", dest="elapsed", action="store_true", help="show the RTT when alive")
    p.add_argument("-D", dest="timestamps", action="store_true", help="timestamp each line")
    p.add_argument("-i", dest="interval", type=_number(float, "interval", 0), default=10.0,
                   metavar="MS", help="gap between any two sends (default 10)")  # fmt: skip
    p.add_argument(
        "-p",
        dest="period",
        type=_number(float, "period", 0),
        default=1000.0,
        metavar="MS",
        help="gap between probes to one target (default 1000)",
    )
    p.add_argument("-t", dest="timeout", type=_number(float, "timeout", 0.001), metavar="MS",
                   help="initial timeout (default 500; with -c/-C/-l: the period, at most "
                   "2000)")  # fmt: skip
    p.add_argument("-r", dest="retries", type=_number(int, "retry", 0), default=3, metavar="N",
                   help="retries in the alive check (default 3)")  # fmt: skip
    p.add_argument(
        "-B",
        dest="backoff",
        type=_number(float, "backoff", 1.0),
        default=1.5,
        metavar="F",
        help="timeout backoff factor, 1.0..5.0 (default 1.5)",
    )
    p.add_argument("-x", dest="reachable", type=_number(int, "reachable", 1), metavar="N",
                   help="exit 0 if at least N targets are alive")  # fmt: skip
    p.add_argument("-b", dest="size", type=_number(int, "size", 0), default=56, metavar="BYTES",
                   help="payload bytes (default 56)")  # fmt: skip
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4)
    fam.add_argument("-6", dest="family", action="store_const", const=6)
    p.add_argument("-S", dest="source", metavar="ADDR", help="source address")
    p.add_argument("-I", dest="interface", metavar="IFACE", help="bind to interface")
    port = p.add_mutually_exclusive_group()
    port.add_argument(
        "--tcp",
        type=_number(int, "port", 1),
        metavar="PORT",
        help="TCP SYN probes (SYN-ACK or RST is a reply; raw socket)",
    )
    port.add_argument(
        "--udp",
        type=_number(int, "port", 1),
        metavar="PORT",
        help="UDP probes (echoed data or port unreachable is a reply)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per target at the end")
    p.set_defaults(func=cmd_fping, give_up_privileges=True)
    return p


def settings_from_args(a: argparse.Namespace) -> Settings:
    count = a.count or a.all_rtts
    repeating = count is not None or a.loop
    timeout = a.timeout if a.timeout is not None else \
        (min(a.period, 2000.0) if repeating else 500.0)  # fmt: skip
    timeout = max(timeout, 0.001)  # -p 0: fping waits 0 ms, i.e. takes no reply
    if not 1.0 <= a.backoff <= 5.0:
        raise UsageError(f"backoff factor {a.backoff:.1f} not valid, must be between 1.0 and 5.0")
    return Settings(interval_ms=a.interval, period_ms=a.period, timeout_ms=timeout,
                    retries=a.retries, backoff=a.backoff, count=count,
                    loop=a.loop)  # fmt: skip


def resolve_targets(names: list[str], family: int | None,
                    warn: Any) -> tuple[list[Target], int]:  # fmt: skip
    """Resolve each name; one that does not resolve is reported (``warn(line)``, fping's
    ``NAME: reason``) and counted. Returns (targets, names not found)."""
    targets, unknown = [], 0
    for name in names:
        try:
            fam, address = resolve(name, family)
        except UsageError as exc:
            warn(str(exc))
            unknown += 1
            continue
        targets.append(Target(name, address, fam))
    return targets, unknown


class _Printer:
    """Renders the engine's events as fping does, as they happen."""

    def __init__(self, a: argparse.Namespace, targets: list[Target]) -> None:
        self.a = a
        self.names = [t.name for t in targets]
        self.width = max((len(n) for n in self.names), default=0)
        repeating = bool(a.count or a.all_rtts or a.loop)
        self.json = a.json
        self.quiet = a.quiet or a.squiet is not None
        self.per_recv = repeating and not self.quiet and not self.json
        self.verbose = not repeating and not (a.alive or a.unreach or a.reachable) \
            and not self.quiet and not self.json  # fmt: skip
        self.show_alive = not repeating and a.alive and not self.json
        self.splits = render.Splits(len(targets)) if a.squiet is not None else None
        self.first_rtt: dict[int, float] = {}
        self.flush = a.loop or sys.stdout.isatty()

    def out(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        if self.flush:
            sys.stdout.flush()

    def err(self, line: str) -> None:
        sys.stdout.flush()
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def __call__(self, ev: Any, sweep: Sweep) -> None:
        a = self.a
        stamp = None
        if isinstance(ev, Reply):
            state = sweep.states[ev.target]
            if self.splits is not None:
                self.splits.add(ev.target, ev.rtt_ms)
            if state.received == 1 and (self.verbose or self.show_alive):
                rtt = ev.rtt_ms if a.elapsed else None
                self.out(render.alive_line(self.names[ev.target], self.verbose, rtt))
            if self.per_recv:
                stamp = ev.wall_ns if a.timestamps else None
                self.out(render.reply_line(self.names[ev.target], self.width, ev, state, stamp))
        elif isinstance(ev, Timeout):
            if self.splits is not None:
                self.splits.add(ev.target, None)
            if self.per_recv:
                stamp = (ev.wall_ns or time.time_ns()) if a.timestamps else None
                self.out(render.timeout_line(self.names[ev.target], self.width, ev,
                                             sweep.states[ev.target], stamp))  # fmt: skip
        elif isinstance(ev, IcmpError):
            if not self.quiet:
                self.err(sweep.states[ev.target].icmp_errors[-1])
        elif isinstance(ev, Duplicate):
            if not self.per_recv and not self.quiet and not self.json:
                self.err(render.duplicate_line(self.names[ev.target], ev))
        elif isinstance(ev, SendError):
            if self.verbose:
                self.err(f"{self.names[ev.target]}: error while sending ping: {ev.message}")

    def report(self, _sweep: Sweep) -> None:
        if self.splits is not None:
            self.err("\n".join(self.splits.lines(self.names, self.width,
                                                 time.strftime("%H:%M:%S"))))  # fmt: skip


def cmd_fping(args: argparse.Namespace) -> int:
    a = args
    settings = settings_from_args(a)
    names = list(a.targets)
    if a.generate:
        if a.file:
            raise UsageError("-g and -f exclude each other")
        names = generate(names, a.force)
    elif a.file:
        names = read_file(a.file) + names
    if not names:
        raise UsageError("fping: no targets: give them as arguments, -f FILE or -g")
    quiet = a.quiet or a.squiet is not None  # fping: -q and -Q silence these warnings
    printer_err = (lambda line: None) if quiet else \
        (lambda line: sys.stderr.write(line + "\n"))  # fmt: skip
    targets, unknown = resolve_targets(names, a.family, printer_err)
    probing = Probing(tcp=a.tcp, udp=a.udp, size=a.size, source=a.source,
                      interface=a.interface)  # fmt: skip
    printer = _Printer(a, targets)
    elapsed, interrupted = 0.0, False
    sweep = None
    if targets:
        sweep, elapsed, interrupted = run_sweep(
            targets, settings, probing, printer,
            on_report=printer.report if a.squiet else None,
            report_every_s=a.squiet or None,
            give_up_privileges=a.give_up_privileges,
        )  # fmt: skip
    results = sweep.results(probing.protocol, probing.port) if sweep is not None else []
    return _finish(a, printer, results, unknown, sweep, elapsed)


def _finish(a: argparse.Namespace, printer: _Printer, results: list[Any], unknown: int,
            sweep: Sweep | None, elapsed: float) -> int:  # fmt: skip
    repeating = bool(a.count or a.all_rtts or a.loop)
    if a.json:
        import json

        for r in results:
            printer.out(json.dumps(r.as_json()))
    else:
        for name, r in zip(printer.names, results, strict=True):
            if not r.received and (printer.verbose or (a.unreach and not repeating)):
                printer.out(name + (" is unreachable" if printer.verbose else ""))
        if repeating:
            lines = [""] if printer.per_recv else []
            for name, r in zip(printer.names, results, strict=True):
                if a.all_rtts:
                    lines.append(render.all_rtts_line(name, printer.width, r))
                else:
                    lines.append(render.summary_line(name, printer.width, r))
            printer.err("\n".join(lines))
        if a.stats and sweep is not None:
            block = render.stats_block(results, unknown, sweep.timeouts_total, sweep.sent_total,
                                       sweep.replies_total + sum(r.duplicates for r in results),
                                       sweep.other_icmp, elapsed)  # fmt: skip
            printer.err("\n".join(block))
    alive = sum(1 for r in results if r.received)
    sys.stdout.flush()
    if a.reachable:
        enough = alive >= a.reachable
        word = "Enough" if enough else "Not enough"
        print(f"{word} hosts reachable (required: {a.reachable}, reachable: {alive})")
        return 0 if enough else 1
    if unknown:
        return 2
    return 0 if alive == len(results) else 1
