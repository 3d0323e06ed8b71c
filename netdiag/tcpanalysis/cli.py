"""``netdiag tcp analyze FILE [EXPR]``: tshark's TCP analysis of a capture.

Exit statuses: 0 the file was read (whether or not it held TCP); 1 a damaged
file was read up to the damage (the analysis of what came before is printed);
2 a missing or unreadable file, or a bad argument or filter.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: Any) -> None:
    tcp = subparsers.add_parser(
        "tcp",
        help="TCP analysis of a capture (tshark's expert flags, per-connection figures)",
        description="Follow each TCP connection of a capture.",
    )
    sub = tcp.add_subparsers(dest="tcp_command", metavar="analyze", parser_class=type(tcp))
    sub.required = True
    a = sub.add_parser(
        "analyze",
        help="per-connection figures and per-packet flags of the TCP in a capture",
        description="Retransmissions, duplicate ACKs, windows, RTTs and ends of every "
        "TCP connection in a capture, flagged as tshark's tcp.analysis does.",
    )
    a.add_argument("file", metavar="FILE", help="capture file (pcap or pcapng); - for stdin")
    a.add_argument("expr", metavar="EXPR", nargs="*", help="filter expression (pcap-filter)")
    a.add_argument("--packets", action="store_true", help="also list every flagged packet")
    a.add_argument("--json", action="store_true", help="one JSON object")
    a.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    from netdiag.tcpanalysis.analyze import analyze
    from netdiag.tcpanalysis.render import analysis_json, connections_table, packets_lines

    source: Any = sys.stdin.buffer if args.file == "-" else args.file
    a = analyze(source, " ".join(args.expr) or None)
    write = sys.stdout.write
    if args.json:
        from netdiag.render.jsonout import to_json

        write(to_json(analysis_json(a, args.packets)) + "\n")
    else:
        if args.packets and a.packets:
            write("\n".join(packets_lines(a.packets)) + "\n\n")
        if a.connections:
            write(connections_table(a.connections) + "\n")
        write(f"{a.segments} TCP segments in {len(a.connections)} connections, "
              f"{a.frames} frames\n")  # fmt: skip
    if a.damaged is not None:
        a.damaged.exit_status = 1
        raise a.damaged
    return 0
