"""``netdiag read FILE``: print the packets of a capture, tcpdump style.

``add_parser(subparsers)`` declares the arguments and sets ``func``; the
handler is the thin loop: read records, decode, hand each packet to a renderer
(text line, tree, hex, JSON) or to the statistics accumulator.
"""

from __future__ import annotations

import argparse
import sys

from netdiag.errors import DamagedCaptureError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


# -- netdiag read -----------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "read",
        help="print the packets of a pcap or pcapng file (like tcpdump -n -r)",
        description="Print each packet of a capture file on one line, as tcpdump -n does; "
        "malformed packets are marked with the reason.",
    )
    p.add_argument("file", metavar="FILE", help="capture file (pcap or pcapng); - for stdin")
    p.add_argument("expr", metavar="EXPR", nargs="*", help="filter expression (pcap-filter)")
    p.add_argument("-c", dest="count", type=_positive, metavar="N", help="stop after N packets")
    p.add_argument("-e", dest="link", action="store_true", help="print the link-level header")
    p.add_argument(
        "-v",
        dest="verbose",
        action="count",
        default=0,
        help="print every decoded field of every layer as a tree",
    )
    p.add_argument(
        "-x",
        dest="hex",
        action="count",
        default=0,
        help="hex dump after the link header; -xx: of the whole frame",
    )
    p.add_argument(
        "--tt", dest="epoch", action="store_true", help="timestamps as seconds since the epoch"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per packet")
    p.add_argument(
        "--stats",
        action="store_true",
        help="protocol hierarchy, top IP conversations and totals (with --json: one JSON object)",
    )
    p.add_argument(
        "--top",
        type=_positive,
        default=10,
        metavar="N",
        help="conversations in the --stats table (default 10)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    keep = _packet_filter(args.expr)
    from netdiag.capture.files import read_capture
    from netdiag.packets.dispatch import decode

    source: Any = sys.stdin.buffer if args.file == "-" else args.file
    write = sys.stdout.write
    buf: list[str] = []
    count = args.count or 0
    acc = fmt = None
    if args.stats:
        from netdiag.metrics.capstats import CaptureStatsAccumulator

        acc = CaptureStatsAccumulator()
    elif not args.json:
        from netdiag.inspect.text import TextFormatter

        fmt = TextFormatter(link=args.link, epoch=args.epoch)
    if fmt is None and acc is None:
        from netdiag.inspect.packetjson import packet_json

    with read_capture(source) as reader:
        try:
            shown = 0
            for n, rec in enumerate(reader, 1):
                if keep is not None and not keep(rec):
                    continue
                shown += 1
                p = decode(rec.data, rec.linktype)
                if acc is not None:
                    acc.add(p, rec.wirelen, rec.ts_ns)
                elif fmt is None:
                    buf.append(packet_json(n, rec.ts_ns, p, rec.wirelen))
                else:
                    buf.append(fmt.line(rec.ts_ns, p, rec.wirelen))
                    if args.verbose or args.hex:
                        _details(buf, p, args)
                if len(buf) >= 256:
                    buf.append("")
                    write("\n".join(buf))
                    buf.clear()
                if shown == count:
                    break
        except DamagedCaptureError as e:
            damaged: DamagedCaptureError | None = e
        else:
            damaged = None
    if buf:
        buf.append("")
        write("\n".join(buf))
    if acc is not None:
        _print_stats(acc, args)
    if damaged is not None:
        damaged.exit_status = 1  # what was read is printed; cli.py says what broke it
        raise damaged
    return 0


def _packet_filter(words: list[str]) -> Any:
    """``keep(record) -> bool`` for a filter expression (None without one).

    The expression is parsed at once (a syntax error stops before any output)
    and compiled lazily for each link type met, since a pcapng file may hold
    interfaces of several link types; our interpreter runs the program.
    """
    if not words:
        return None
    from netdiag.capture.bpf import compile_filter, make_runner
    from netdiag.capture.bpf.parser import parse

    expr = " ".join(words)
    parse(expr)
    runners: dict[int, Any] = {}

    def keep(rec: Any) -> bool:
        run = runners.get(rec.linktype)
        if run is None:
            run = runners[rec.linktype] = make_runner(compile_filter(expr, rec.linktype))
        return bool(run(rec.data, rec.wirelen))

    return keep


def _details(buf: list[str], p: Any, args: argparse.Namespace) -> None:
    if args.verbose:
        from netdiag.inspect.tree import tree_lines

        buf.extend(tree_lines(p))
    if args.hex:
        from netdiag.inspect.hexdump import hex_lines
        from netdiag.inspect.text import link_header_len

        data = p.data if args.hex > 1 else p.data[link_header_len(p) :]
        buf.extend(hex_lines(data))


def _print_stats(acc: Any, args: argparse.Namespace) -> None:
    from netdiag.inspect.stats import stats_dict, stats_text

    result = acc.result(args.top)
    if args.json:
        from netdiag.render.jsonout import to_json

        sys.stdout.write(to_json(stats_dict(result)) + "\n")
    else:
        sys.stdout.write(stats_text(result) + "\n")
