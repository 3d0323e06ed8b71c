"""``netdiag sockets ...``: every socket of the host, the way the kernel sees it (like ss).

Wire it in with ``socketscli.add_parser(subparsers)``; it sets ``func(args) -> int``
(0 when the listing was made; 2 with one line on stderr for a wrong argument).
No privilege is needed: an unprivileged user sees every socket of the namespace
(sock_diag asks none) and the owning processes it may inspect, as with ss.
"""

from __future__ import annotations

import argparse
import sys

from netdiag.sockets import render as render
from netdiag.sockets.dump import list_sockets
from netdiag.sockets.model import KINDS, Selection, default_states, parse_filter

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "cmd_sockets", "selection_from_args"]

_KIND_FLAGS = (("tcp", "-t"), ("udp", "-u"), ("raw", "-w"), ("unix", "-x"), ("packet", "-0"))


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``sockets`` to the top-level ``subparsers``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "sockets",
        help="list sockets, like ss",
        description="List sockets (TCP, UDP, raw, UNIX, packet) from the kernel's sock_diag "
        "netlink interface, or /proc/net where that is missing, in the manner of ss. "
        "By default connected sockets of every kind; FILTER words as ss takes them: "
        "'state established', 'state listening', 'dport = :443', 'sport > :1024', "
        "'dst 198.18.0.0/15', 'src [2001:db8::1]:80'.",
    )
    p.add_argument("-t", "--tcp", dest="tcp", action="store_true", help="TCP sockets")
    p.add_argument("-u", "--udp", dest="udp", action="store_true", help="UDP sockets")
    p.add_argument("-w", "--raw", dest="raw", action="store_true", help="raw IP sockets")
    p.add_argument("-x", "--unix", dest="unix", action="store_true", help="UNIX sockets")
    p.add_argument("-0", "--packet", dest="packet", action="store_true", help="packet sockets")
    p.add_argument("-l", "--listening", action="store_true", help="listening sockets only")
    p.add_argument("-a", "--all", dest="every", action="store_true", help="sockets in any state")
    p.add_argument("-n", "--numeric", action="store_true", help="ports as numbers")
    p.add_argument("-p", "--processes", action="store_true", help="owning processes")
    p.add_argument("-i", "--info", action="store_true", help="TCP internals (tcp_info)")
    fam = p.add_mutually_exclusive_group()
    fam.add_argument("-4", "--ipv4", dest="version", action="store_const", const=4)
    fam.add_argument("-6", "--ipv6", dest="version", action="store_const", const=6)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say where /proc/net stood in for sock_diag")  # fmt: skip
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per socket")
    out.add_argument("--summary", "-s", action="store_true", help="counts, like ss -s")
    p.add_argument("filter", nargs="*", metavar="FILTER", help="state/address/port filter words")
    p.set_defaults(func=cmd_sockets, use_netlink=True)
    return p


def selection_from_args(args: argparse.Namespace) -> Selection:
    kinds = frozenset(k for k, _ in _KIND_FLAGS if getattr(args, k)) or frozenset(KINDS)
    if args.version is not None:  # ss -4/-6: IP sockets only
        kinds &= {"tcp", "udp", "raw"}
    states, terms = parse_filter(args.filter)
    if args.summary:
        states = default_states(False, True)
    elif states is None:
        states = default_states(args.listening, args.every)
    versions = frozenset({args.version}) if args.version else frozenset({4, 6})
    return Selection(kinds=kinds, versions=versions, states=states, terms=terms)


def cmd_sockets(args: argparse.Namespace) -> int:
    selection = selection_from_args(args)
    report = list_sockets(
        selection,
        info=args.info,
        processes=args.processes or args.json,
        use_netlink=args.use_netlink,
    )
    if args.verbose:
        for note in report.notes:
            sys.stderr.write(f"netdiag: sockets: {note}\n")
        sys.stderr.flush()
    out = sys.stdout
    if args.json:
        for line in render.json_lines(report.sockets):
            out.write(line + "\n")
    elif args.summary:
        out.write(render.summary(report.sockets) + "\n")
    else:
        out.write(
            render.table(
                report.sockets,
                netid=not (len(selection.kinds) == 1 and selection.kinds <= {"tcp", "udp", "raw"}),
                state=len(selection.states) > 1,
                processes=args.processes,
                info=args.info,
                numeric=args.numeric,
            )
            + "\n"
        )
    return 0
