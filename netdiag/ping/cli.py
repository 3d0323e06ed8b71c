"""``netdiag ping ...``: ICMP echo in the manner of iputils ping; ``--tcp PORT`` and
``--udp PORT`` probe a port instead (lines described in ``render/ping.py``).

Once its sockets are open the command gives up root when started through sudo,
or its file capabilities (``give_up_privileges``; in-process callers such as the
tests set it False, since it would change their whole process).

Wire it in with ``pingcli.add_parser(subparsers)``; it sets ``func(args) -> int``
(the exit status: 0 if any reply, 1 if none, 2 on error) via ``set_defaults``.
Errors are raised as NetdiagError subclasses for ``cli.py`` to print.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import sys

from netdiag.argtypes import number as _number
from netdiag.errors import UsageError
from netdiag.ping import render as render
from netdiag.ping.events import NoAnswerYet, PingError, PingReply, PingStart
from netdiag.ping.loop import PingSent, SendFailed
from netdiag.ping.options import PingOptions
from netdiag.ping.run import ping

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "cmd_ping", "options_from_args"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ping`` to the top-level ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "ping",
        help="ICMP echo, like iputils ping",
        description="Send ICMP (or ICMPv6) echo requests and report replies and ICMP errors "
        "as iputils ping does. Raw sockets need root or CAP_NET_RAW; otherwise ICMP "
        "datagram sockets are used where net.ipv4.ping_group_range allows.",
    )
    p.add_argument("target", metavar="HOST", help="address or name")
    p.add_argument("-c", dest="count", type=_number(int, "count", 1), metavar="COUNT")
    p.add_argument("-i", dest="interval", type=_number(float, "interval", 0), metavar="INTERVAL")
    p.add_argument("-W", dest="timeout", type=_number(float, "timeout", 0), metavar="TIMEOUT",
                   help="seconds to wait for the last reply")  # fmt: skip
    p.add_argument("-w", dest="deadline", type=_number(float, "deadline", 0), metavar="DEADLINE")
    p.add_argument("-s", dest="size", type=_number(int, "size", 0), default=56, metavar="SIZE")
    p.add_argument("-t", dest="ttl", type=_number(int, "ttl", 1), metavar="TTL")
    p.add_argument("-Q", dest="tos", type=_number(int, "TOS", 0), metavar="TOS")
    p.add_argument("-M", dest="pmtudisc", choices=("do", "dont", "want"),
                   help="do: set DF (path MTU discovery); dont: let routers fragment")  # fmt: skip
    p.add_argument("-I", dest="interface", metavar="IFACE|ADDR")
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", dest="family", action="store_const", const=4)
    fam.add_argument("-6", dest="family", action="store_const", const=6)
    p.add_argument("-n", dest="numeric", action="store_true", help="no reverse name lookups")
    p.add_argument("-q", dest="quiet", action="store_true", help="header and summary only")
    p.add_argument("-D", dest="timestamps", action="store_true", help="print receive times")
    p.add_argument("-f", dest="flood", action="store_true", help="flood (root only)")
    p.add_argument("-O", dest="outstanding", action="store_true",
                   help="report probes with no answer when the next is sent")  # fmt: skip
    port = p.add_mutually_exclusive_group()
    port.add_argument("--tcp", dest="tcp", type=_number(int, "port", 1), metavar="PORT",
                      help="TCP SYN probes: SYN-ACK back means open, RST closed "
                      "(raw socket: root or CAP_NET_RAW)")  # fmt: skip
    port.add_argument("--udp", dest="udp", type=_number(int, "port", 1), metavar="PORT",
                      help="UDP probes (-s bytes): a datagram back means open, ICMP port "
                      "unreachable closed, silence open|filtered (counted as loss)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object at the end")
    p.set_defaults(func=cmd_ping, give_up_privileges=True)
    return p


def options_from_args(args: argparse.Namespace) -> PingOptions:
    return PingOptions(
        count=args.count,
        interval=args.interval,
        timeout=args.timeout,
        deadline=args.deadline,
        size=args.size,
        ttl=args.ttl,
        tos=args.tos,
        pmtudisc=args.pmtudisc,
        interface=args.interface,
        family=args.family,
        flood=args.flood,
        report_outstanding=args.outstanding,
        tcp=args.tcp,
        udp=args.udp,
    )


def _is_numeric(target: str) -> bool:
    try:
        ipaddress.ip_address(target.partition("%")[0])
    except ValueError:
        return False
    return True


class _Printer:
    """Prints each event as it happens (flushing, so pipes see lines live)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        # iputils resolves reply sources only when the target was a name
        self.numeric = args.numeric or _is_numeric(args.target)
        self.names: dict[str, str | None] = {}
        self.out = sys.stdout
        self.label = "tcp_seq" if args.tcp else "udp_seq" if args.udp else "icmp_seq"

    def name(self, address: str) -> str | None:
        if self.numeric:
            return None
        if address not in self.names:
            try:
                self.names[address] = socket.gethostbyaddr(address)[0]
            except OSError:
                self.names[address] = None
        return self.names[address]

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, event: Any) -> None:
        a = self.args
        if a.json:
            return
        if isinstance(event, PingStart):
            self.line(render.header(event))
        elif isinstance(event, SendFailed):
            sys.stderr.write(f"ping: {event.text}\n")
        elif a.flood:
            if isinstance(event, PingSent):
                self.out.write(".")
            elif isinstance(event, PingReply):
                self.out.write("\b \b")
            elif isinstance(event, PingError):
                self.out.write("\bE")
            self.out.flush()
        elif a.quiet:
            return
        elif isinstance(event, PingReply):
            self.line(render.reply_line(event, self.name(event.source), a.timestamps))
        elif isinstance(event, PingError):
            self.line(render.error_line(event, self.name(event.source), a.timestamps,
                                        self.label))  # fmt: skip
        elif isinstance(event, NoAnswerYet):
            self.line(render.no_answer_line(event, a.timestamps, self.label))


def cmd_ping(args: argparse.Namespace) -> int:
    if not args.target:
        raise UsageError("ping: no host given")
    printer = _Printer(args)
    result = ping(args.target, options_from_args(args), printer,
                  give_up_privileges=args.give_up_privileges)  # fmt: skip
    if args.json:
        printer.line(json.dumps(render.to_json(result)))
    else:
        if args.flood:
            printer.line("")
        for text in render.summary(result):
            printer.line(text)
    return result.exit_status
