"""``netdiag udp send|recv|analyze`` and ``netdiag impair``.

``add_parser(subparsers)`` adds both top-level commands; each sets
``func(args) -> int``. Exit statuses: 0 done; 1 ``send`` got no report from the
receiver, or ``analyze`` found no test flow; 2 usage or system errors (raised as
NetdiagError for ``cli.py`` to print on one line).
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from netdiag.argtypes import number as _num
from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "parse_rate"]

_SUFFIX = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_rate(text: str) -> float:
    """``100``, ``2.5k``, ``10M``, ``1G`` (iperf3's suffixes, powers of 1000)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([kKmMgG]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid rate: {text!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2).lower()]


def add_parser(subparsers: Any) -> None:
    udp = subparsers.add_parser(
        "udp",
        help="UDP loss/duplication/reordering/jitter tests",
        description="An iperf3-style UDP test with RFC metrics.",
    )
    sub = udp.add_subparsers(
        dest="udp_command", metavar="send|recv|analyze", parser_class=type(udp)
    )
    sub.required = True

    s = sub.add_parser("send", help="stream test datagrams to a receiver")
    s.add_argument("host", metavar="HOST")
    s.add_argument("-p", "--port", type=_num(int, "port"), default=5301)
    r = s.add_mutually_exclusive_group()
    r.add_argument("--rate", type=parse_rate, metavar="PPS", help="datagrams/s; 0 = flat out")
    r.add_argument(
        "--bitrate",
        "-b",
        type=parse_rate,
        metavar="BPS",
        help="payload bits/s (default 1M, as iperf3)",
    )
    s.add_argument("-l", "--length", type=_num(int, "length"), default=1400, metavar="BYTES")
    c = s.add_mutually_exclusive_group()
    c.add_argument("-n", "--count", type=_num(int, "count"), metavar="COUNT")
    c.add_argument("-t", "--time", type=_num(float, "time"), dest="duration", metavar="SECONDS")
    s.add_argument("--tos", type=lambda t: int(t, 0), metavar="TOS")
    fam = s.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4)
    fam.add_argument("-6", dest="family", action="store_const", const=6)
    s.add_argument(
        "--wait",
        type=_num(float, "wait"),
        default=5.0,
        help="seconds to wait for the receiver's report",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_send)

    v = sub.add_parser("recv", help="receive tests and report")
    v.add_argument("-B", "--bind", metavar="ADDR")
    v.add_argument("-p", "--port", type=_num(int, "port"), default=5301)
    v.add_argument("--once", action="store_true", help="exit after one test")
    v.add_argument("-i", "--interval", type=_num(float, "interval"), metavar="SECONDS")
    v.add_argument(
        "--loss-timeout",
        type=_num(float, "loss timeout"),
        default=0.5,
        help="seconds to wait for stragglers after the end (RFC 7680 Tmax)",
    )
    v.add_argument("--idle-timeout", type=_num(float, "idle timeout"), default=10.0)
    v.add_argument("--deadline", type=_num(float, "deadline"), metavar="SECONDS")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_recv)

    a = sub.add_parser("analyze", help="per-flow metrics of UDP test flows in a capture")
    a.add_argument("capture", metavar="CAPTURE")
    a.add_argument("filter", nargs="*", metavar="FILTER")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_analyze)

    i = subparsers.add_parser(
        "impair",
        help="a UDP relay that drops/duplicates/reorders/delays",
        description="Relay UDP both ways, impairing the sender side.",
    )
    i.add_argument("--listen", required=True, metavar="ADDR:PORT")
    i.add_argument("--to", required=True, metavar="ADDR:PORT")
    i.add_argument("--loss", type=_num(float, "loss"), default=0.0, metavar="P")
    i.add_argument("--dup", type=_num(float, "dup"), default=0.0, metavar="P")
    i.add_argument("--reorder", type=_num(float, "reorder"), default=0.0, metavar="P")
    i.add_argument("--gap", type=_num(int, "gap"), default=3, metavar="K")
    i.add_argument("--delay", type=_num(float, "delay"), default=0.0, metavar="MS")
    i.add_argument("--jitter", type=_num(float, "jitter"), default=0.0, metavar="MS")
    i.add_argument(
        "--hold",
        type=_num(float, "hold"),
        default=200.0,
        metavar="MS",
        help="longest a reordered datagram is held",
    )
    i.add_argument(
        "--spare",
        type=_num(int, "spare"),
        default=0,
        metavar="N",
        help="let the first N datagrams through unimpaired (a handshake)",
    )
    i.add_argument(
        "--queue",
        type=_num(int, "queue"),
        default=100_000,
        metavar="N",
        help="most datagrams held or delayed at once (more are dropped)",
    )
    i.add_argument(
        "--queue-bytes",
        type=_num(int, "queue bytes"),
        default=64 << 20,
        metavar="BYTES",
        help="most payload bytes held or delayed at once (more are dropped)",
    )
    i.add_argument("--seed", type=_num(int, "seed"))
    i.add_argument("--log", metavar="FILE")
    i.add_argument("--duration", type=_num(float, "duration"), metavar="SECONDS")
    i.set_defaults(func=cmd_impair)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def cmd_send(args: argparse.Namespace) -> int:
    from netdiag.udptest import render as render
    from netdiag.udptest.send import SendOptions, send

    opts = SendOptions(
        port=args.port,
        rate=args.rate,
        bitrate=args.bitrate,
        length=args.length,
        count=args.count,
        duration=args.duration,
        tos=args.tos,
        family=args.family,
        wait=args.wait,
    )
    result = send(args.host, opts)
    if args.json:
        _out(json.dumps(render.send_json(result)))
    else:
        _out(render.send_text(result))
    return 0 if result.report is not None else 1


def cmd_recv(args: argparse.Namespace) -> int:
    from netdiag.udptest import render as render
    from netdiag.udptest.recv import Interim, RecvOptions, TestReport, receive

    opts = RecvOptions(
        bind=args.bind,
        port=args.port,
        once=args.once,
        interval=args.interval,
        loss_timeout=args.loss_timeout,
        idle_timeout=args.idle_timeout,
        deadline=args.deadline,
    )

    def show(event: Any) -> None:
        if isinstance(event, TestReport):
            _out(json.dumps(event.report) if args.json else render.recv_text(event.report))
        elif isinstance(event, Interim) and not args.json:
            _out(render.interim_line(event))

    receive(opts, show)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from netdiag.udptest import render as render
    from netdiag.udptest.analyze import analyze

    flows = analyze(args.capture, " ".join(args.filter) or None)
    if args.json:
        _out(json.dumps({"flows": flows}))
    else:
        _out(render.flows_table(flows) if flows else "no UDP test flows found")
    return 0 if flows else 1


def cmd_impair(args: argparse.Namespace) -> int:
    from netdiag.udptest.impair import ImpairOptions, parse_hostport, relay

    if args.duration is not None and args.duration <= 0:
        raise UsageError(f"--duration {args.duration}: must be > 0")
    opts = ImpairOptions(
        listen=parse_hostport(args.listen),
        to=parse_hostport(args.to),
        loss=args.loss,
        dup=args.dup,
        reorder=args.reorder,
        gap=args.gap,
        delay_ms=args.delay,
        jitter_ms=args.jitter,
        seed=args.seed,
        log=args.log,
        hold_ms=args.hold,
        duration=args.duration,
        spare=args.spare,
        max_queue=args.queue,
        max_bytes=args.queue_bytes,
    )
    result = relay(opts, ready=lambda: _out(f"impair: relaying {args.listen} -> {args.to}"))
    acts = ", ".join(f"{k} {v}" for k, v in sorted(result.actions.items())) or "nothing"
    _out(
        f"impair: {result.received} datagrams from the sender side: {acts}; "
        f"{result.replies} replies returned"
    )
    return 0
