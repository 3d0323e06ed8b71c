"""``netdiag filter [-d|-dd|-ddd] [-y LINKTYPE] EXPR...``: compile a pcap-filter expression.

Prints the classic-BPF program as ``tcpdump -d`` (the default), ``-dd`` (C
array lines, for a ``struct sock_filter``) or ``-ddd`` (decimal, count first).
A bad expression is one line naming the token and its column, exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run", "parse_linktype"]

_LINKTYPE_NAMES = {
    "EN10MB": 1,
    "ETHERNET": 1,
    "RAW": 101,
    "IPV4": 228,
    "IPV6": 229,
    "LINUX_SLL": 113,
    "LINUX_SLL2": 276,
    "NULL": 0,
    "LOOP": 108,
    "PPP": 9,
    "PPP_SERIAL": 50,
    "PPP_HDLC": 50,
    "C_HDLC": 104,
    "IEEE802_11": 105,
    "FRELAY": 107,
    "PFLOG": 117,
    "SUNATM": 123,
    "IEEE802_11_RADIO": 127,
    "NFLOG": 239,
}


def parse_linktype(text: str) -> int:
    """A link type by tcpdump name (``EN10MB``, ``LINUX_SLL2``...) or number."""
    name = text.upper().removeprefix("DLT_").removeprefix("LINKTYPE_")
    if name in _LINKTYPE_NAMES:
        return _LINKTYPE_NAMES[name]
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"filter: unknown link type {text!r}") from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "filter",
        help="compile a tcpdump filter expression to classic BPF and print it",
        description="Compile a pcap-filter expression (as tcpdump takes) to classic BPF "
        "and print the program like tcpdump -d, -dd or -ddd.",
    )
    p.add_argument(
        "-d",
        dest="style",
        action="count",
        default=0,
        help="-d: readable listing (default); -dd: C array; -ddd: decimal",
    )
    p.add_argument(
        "-y",
        dest="linktype",
        default="EN10MB",
        metavar="LINKTYPE",
        help="link type: EN10MB (default), RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL, "
        "LOOP, or a number",
    )
    p.add_argument(
        "-s", dest="snaplen", type=int, default=262144, metavar="SNAPLEN", help="snapshot length"
    )
    p.add_argument("expr", metavar="EXPR", nargs="*", help="filter expression")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from netdiag.capture.bpf import compile_filter, dump

    if not 0 < args.snaplen <= 0xFFFFFFFF:
        raise UsageError(f"filter: invalid snapshot length {args.snaplen}")
    program = compile_filter(" ".join(args.expr), parse_linktype(args.linktype), args.snaplen)
    sys.stdout.write("\n".join(dump(program, min(max(args.style, 1), 3))) + "\n")
    return 0
