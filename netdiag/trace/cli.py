"""``netdiag traceroute ...`` and ``netdiag mtr ...``, in the manner of traceroute(8) and mtr.

Wire both in with ``tracecli.add_parser(subparsers)``; each sets ``func(args) -> int``
via ``set_defaults``. traceroute exits 0 when the trace ran (reached or not), mtr
0 after its rounds; errors are NetdiagError subclasses (exit 2) for ``cli.py``.
Option differences from traceroute(8): ``-w`` takes ``max[,here,near]`` as it does;
in mtr ``-i`` is the interval (as mtr's) and the interface is ``--interface``.
"""

from __future__ import annotations

import argparse
import socket
import sys

from netdiag.argtypes import number as _number
from netdiag.errors import UsageError
from netdiag.trace import render as render
from netdiag.trace.core import Hop, Method, TraceStart
from netdiag.trace.loop import TraceOptions, traceroute

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "cmd_traceroute", "cmd_mtr", "parse_wait", "trace_options"]


def parse_wait(text: str) -> tuple[float, float, float]:
    """``-w max[,here,near]`` (',' or '/'); with max alone, here and near are 0 (traceroute(8))."""
    try:
        parts = [float(x) for x in text.replace("/", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad wait specification: {text!r}") from None
    if not 1 <= len(parts) <= 3:
        raise argparse.ArgumentTypeError(f"bad wait specification: {text!r}")
    parts += [0.0] * (3 - len(parts))
    return parts[0], parts[1], parts[2]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="HOST", help="address or name")
    p.add_argument("length", metavar="PACKETLEN", nargs="?", type=_number(int, "packet length"),
                   help="total IP packet length (default 60 for IPv4, 80 for IPv6)")  # fmt: skip
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4)
    fam.add_argument("-6", dest="family", action="store_const", const=6)
    how = p.add_mutually_exclusive_group()
    how.add_argument("-U", dest="method", action="store_const", const=Method.UDP,
                     help="UDP to a high port (default)")  # fmt: skip
    how.add_argument("-I", dest="method", action="store_const", const=Method.ICMP,
                     help="ICMP echo")  # fmt: skip
    how.add_argument("-T", dest="method", action="store_const", const=Method.TCP,
                     help="TCP SYN (-p port, default 80)")  # fmt: skip
    p.add_argument("-p", dest="port", type=_number(int, "port"), metavar="PORT")
    p.add_argument("-q", dest="nqueries", type=_number(int, "nqueries"), metavar="NQUERIES")
    p.add_argument("-f", dest="first_ttl", type=_number(int, "first ttl"), default=1,
                   metavar="FIRST_TTL")  # fmt: skip
    p.add_argument("-m", dest="max_ttl", type=_number(int, "max ttl"), default=30,
                   metavar="MAX_TTL")  # fmt: skip
    p.add_argument("-w", dest="wait", type=parse_wait, default=(5.0, 3.0, 10.0),
                   metavar="MAX[,HERE,NEAR]", help="seconds to wait (default 5,3,10)")  # fmt: skip
    p.add_argument("-N", dest="simultaneous", type=_number(int, "simultaneous"), default=16,
                   metavar="SIMULTANEOUS")  # fmt: skip
    p.add_argument("-n", dest="numeric", action="store_true", help="no reverse name lookups")
    p.add_argument("-e", dest="extensions", action="store_true",
                   help="show ICMP extensions (RFC 4950 MPLS labels)")  # fmt: skip
    p.add_argument("-s", dest="source", metavar="SRC", help="source address")
    p.add_argument("-F", dest="dont_fragment", action="store_true", help="set DF")
    p.add_argument("--max-silent", dest="max_silent", type=_number(int, "max silent", 0),
                   default=5, metavar="N",
                   help="stop after N silent hops in a row past the last answer "
                   "(default 5; 0 probes every TTL up to -m)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object at the end")
    p.set_defaults(method=Method.UDP)


def add_parser(subparsers: Any) -> None:
    """Add ``traceroute`` and ``mtr`` to the top-level ``subparsers``."""
    t: argparse.ArgumentParser = subparsers.add_parser(
        "traceroute",
        help="print the route to a host, like traceroute(8)",
        description="Trace the path to HOST with probes of increasing TTL, many at once, "
        "Paris-style (constant flow fields). Needs root or CAP_NET_RAW.",
    )
    _common(t)
    t.add_argument("-i", dest="interface", metavar="IFACE", help="send through this interface")
    from netdiag.trace.multipath.cli import add_options as _multipath_options

    _multipath_options(t)
    t.set_defaults(func=cmd_traceroute, nqueries=3)
    m: argparse.ArgumentParser = subparsers.add_parser(
        "mtr",
        help="probe every hop in rounds and show loss and latency per hop, like mtr",
        description="Send rounds of probes to every hop of the path to HOST and show, per "
        "hop, loss and RTT statistics. Needs root or CAP_NET_RAW.",
    )
    _common(m)
    m.add_argument("-c", dest="count", type=_number(int, "count"), metavar="COUNT")
    m.add_argument("-i", dest="interval", type=_number(float, "interval"), default=1.0,
                   metavar="SECONDS", help="time between rounds (default 1)")  # fmt: skip
    m.add_argument("--interface", dest="interface", metavar="IFACE")
    m.add_argument("-r", "--report", dest="report", action="store_true",
                   help="run COUNT rounds (default 10), then print the table")  # fmt: skip
    _multipath_options(m, rounds=True)
    m.set_defaults(func=cmd_mtr, nqueries=1)


def trace_options(args: argparse.Namespace) -> TraceOptions:
    return TraceOptions(
        method=args.method,
        family=args.family,
        port=args.port,
        nqueries=args.nqueries,
        first_ttl=args.first_ttl,
        max_ttl=args.max_ttl,
        wait=args.wait,
        simultaneous=args.simultaneous,
        source=args.source,
        interface=args.interface,
        length=args.length,
        dont_fragment=args.dont_fragment,
        max_silent=args.max_silent,
    )


class _Names:
    """Reverse lookups, cached; None with -n (then addresses print bare)."""

    def __init__(self, numeric: bool) -> None:
        self.numeric = numeric
        self.cache: dict[str, str | None] = {}

    def __call__(self, address: str) -> str | None:
        if address not in self.cache:
            try:
                self.cache[address] = socket.gethostbyaddr(address)[0]
            except OSError:
                self.cache[address] = None
        return self.cache[address]

    @property
    def namer(self) -> Any:
        return None if self.numeric else self


def _line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _check_target(target: str) -> None:
    if not target or target.startswith("-"):
        raise UsageError(f"bad host: {target!r}")


def cmd_traceroute(args: argparse.Namespace) -> int:
    _check_target(args.target)
    if args.multipath or args.dot or args.svg:
        from netdiag.trace.multipath.cli import cmd_multipath

        return cmd_multipath(args, trace_options(args))
    opt = trace_options(args)
    names = _Names(args.numeric)

    def on_start(start: TraceStart) -> None:
        if not args.json:
            _line(render.header(start))

    def on_hop(hop: Hop) -> None:
        if not args.json:
            _line(render.hop_line(hop, names.namer, args.extensions))

    result = traceroute(args.target, opt, on_start, on_hop)
    if args.json:
        import json

        _line(json.dumps(render.to_json(result)))
    elif result.stopped:
        _line(render.stop_line(result))
    return 0


def cmd_mtr(args: argparse.Namespace) -> int:
    from netdiag.trace.mtr import MtrOptions, MtrReport, mtr

    _check_target(args.target)
    live = not args.report and not args.json and sys.stdout.isatty()
    count = args.count if args.count is not None else (None if live else 10)
    opt = MtrOptions(trace_options(args), count, args.interval)
    names = _Names(args.numeric)
    hostname = socket.gethostname()
    if args.multipath:
        from netdiag.trace.multipath.cli import cmd_mtr_multipath

        return cmd_mtr_multipath(args, opt, live, hostname, names.namer)

    def on_round(report: MtrReport) -> None:
        if live:
            sys.stdout.write(
                render.CLEAR_SCREEN + render.mtr_table(report, hostname, names.namer) + "\n"
            )
            sys.stdout.flush()

    report = mtr(args.target, opt, on_round)
    if args.json:
        import json

        _line(json.dumps(render.mtr_json(report)))
    elif not live:
        _line(render.mtr_table(report, hostname, names.namer))
    return 0
