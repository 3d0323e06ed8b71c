"""``netdiag read FILE...``: print, or write a subset of, capture files, as tcpdump -r does.

``add_parser(subparsers)`` declares the arguments and sets ``func``; the
handler is the thin loop: select records (``capture.scan``: time bounds and the
filter, compiled to Python by ``bpf.pyjit``, run in place before any copy),
merge several files in time order (as mergecap), then either write the selected
records (``capture.subset``: byte for byte where the formats allow) or decode
and hand each packet to a renderer (text line, tree, hex, JSON) or to the
statistics accumulator. Only selected records are copied out and decoded.

Which positionals are files: the first always; then each one that is an
existing file or ends in ``.pcap``, ``.pcapng`` or ``.cap``; the rest is the
filter expression. ``-r FILE`` (repeatable) names the files explicitly, and then
every positional is the expression.
"""

from __future__ import annotations

import argparse
import os
import sys

from netdiag.errors import DamagedCaptureError, UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run", "parse_time"]

_FILE_SUFFIXES = (".pcap", ".pcapng", ".cap")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch for ``--since``/``--until``: epoch seconds
    (``1700000000.25``) or ISO 8601 (``2023-11-14T22:13:20.5Z``, ``2023-11-14
    22:13:20+01:00``; without a zone, local time, as editcap -A/-B read it).
    Fractions keep up to nine digits exactly."""
    import re

    t = text.strip()
    m = re.fullmatch(r"(\d+)(?:\.(\d{1,9}))?", t)
    if m:
        return int(m[1]) * 1_000_000_000 + int((m[2] or "").ljust(9, "0"))
    m = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9}))?)?"
        r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
        t,
    )
    if not m:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (epoch seconds, or ISO 8601 as 2023-11-14T22:13:20Z)"
        )
    from datetime import UTC, datetime

    zone = m[4]
    iso = m[1] + "T" + (m[2] or "00:00")
    if zone:
        iso += "+00:00" if zone == "Z" else zone
    try:
        when = datetime.fromisoformat(iso)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} ({e})") from None
    if when.tzinfo is None:
        when = when.astimezone()  # local time, as editcap
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    secs = delta.days * 86400 + delta.seconds
    return secs * 1_000_000_000 + int((m[3] or "").ljust(9, "0"))


# -- netdiag read -----------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "read",
        help="print or filter pcap and pcapng files (like tcpdump -n -r, editcap, mergecap)",
        usage="netdiag read [options] FILE [FILE ...] [EXPR ...]",
        description="Print each packet of capture files on one line, as tcpdump -n does "
        "(malformed packets are marked with the reason), or write the packets a filter "
        "selects to a new file (-w). Several files are merged in time order, as mergecap "
        "does. Positionals: the first is a file; the following ones are files while they "
        "exist or end in .pcap, .pcapng or .cap; the rest is the filter expression "
        "(with -r, every positional is the expression).",
    )
    p.add_argument("args", metavar="FILE/EXPR", nargs="*", help=argparse.SUPPRESS)
    p.add_argument(
        "-r",
        dest="read",
        action="append",
        metavar="FILE",
        help="a capture file (pcap or pcapng; - for stdin); repeat to merge several",
    )
    p.add_argument(
        "-w",
        dest="write",
        metavar="FILE",
        help="write the selected packets to FILE (- for stdout) instead of printing them; "
        "records are copied byte for byte",
    )
    p.add_argument(
        "--pcapng",
        action="store_true",
        default=None,
        help="-w writes pcapng (also chosen by a .pcapng name; pcap otherwise)",
    )
    p.add_argument("-F", dest="expr_file", metavar="FILE", help="read the expression from FILE")
    p.add_argument("-c", dest="count", type=_positive, metavar="N", help="stop after N packets")
    p.add_argument(
        "--since",
        type=parse_time,
        metavar="TIME",
        help="only packets at or after TIME (epoch seconds or ISO 8601; local time "
        "without a zone), as editcap -A",
    )
    p.add_argument(
        "--until",
        type=parse_time,
        metavar="TIME",
        help="only packets before TIME, as editcap -B",
    )
    p.add_argument("-e", dest="link", action="store_true", help="print the link-level header")
    p.add_argument(
        "-t",
        dest="stamp",
        action="count",
        default=0,
        help="-t: no timestamp; -tt: seconds since the epoch; -ttt: time since the "
        "previous packet; -tttt: date and time; -ttttt: time since the first packet",
    )
    p.add_argument("--tt", dest="epoch", action="store_true", help="the same as -tt")
    p.add_argument("-q", dest="quick", action="store_true", help="quick output: less per line")
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
        "-X",
        dest="hexascii",
        action="count",
        default=0,
        help="hex and ASCII dump after the link header; -XX: of the whole frame",
    )
    p.add_argument(
        "-A", dest="ascii", action="store_true", help="print each packet after its link header "
        "in ASCII"
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object per packet")
    p.add_argument(
        "--tcp-analysis",
        action="store_true",
        help="add tshark's TCP analysis flags ([TCP Retransmission], [TCP Dup ACK #2], ...) "
        "to each packet (with --json: a tcp_analysis entry)",
    )
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


def _split(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(files, expression words) from the positionals and -r."""
    if args.read:
        return list(args.read), list(args.args)
    if not args.args:
        raise UsageError("read: give a capture file (FILE or -r FILE)")
    files, rest = [args.args[0]], list(args.args[1:])
    while rest and (
        rest[0] == "-" or rest[0].lower().endswith(_FILE_SUFFIXES) or os.path.isfile(rest[0])
    ):
        files.append(rest.pop(0))
    return files, rest


def _expression(args: argparse.Namespace, words: list[str]) -> str | None:
    if args.expr_file is None:
        return " ".join(words) if words else None
    if words:
        raise UsageError("read: give the filter either with -F or on the command line, not both")
    try:
        with open(args.expr_file, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"read: -F {args.expr_file}: {e.strerror or e}") from None
    # tcpdump drops comments: from '#' to the end of the line
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    expr = " ".join(" ".join(lines).split())
    return expr or None


def _keeper(expr: str | None) -> Any:
    """``keep(linktype) -> BPF program`` for a filter expression (None without one).

    The expression is parsed at once (a syntax error stops before any output) and
    compiled once for each link type met (a pcapng file may hold interfaces of
    several link types); ``capture.scan`` compiles the program on to Python."""
    if expr is None:
        return None
    from netdiag.capture.bpf import compile_filter
    from netdiag.capture.bpf.compiler import parse

    parse(expr)
    programs: dict[int, Any] = {}

    def keep(linktype: int) -> Any:
        prog = programs.get(linktype)
        if prog is None:
            prog = programs[linktype] = compile_filter(expr, linktype)
        return prog

    return keep


def run(args: argparse.Namespace) -> int:
    files, words = _split(args)
    keep = _keeper(_expression(args, words))
    since = args.since if args.since is not None else 0
    from netdiag.capture.scan import NO_LIMIT, Source

    until = args.until if args.until is not None else NO_LIMIT
    if files.count("-") > 1:
        raise UsageError("read: stdin (-) can be read only once")
    sources: list[Any] = []
    try:
        for i, name in enumerate(files):
            sources.append(Source(sys.stdin.buffer if name == "-" else name, i))
        raw = args.write is not None
        one = len(sources) == 1
        batch = raw and one and not args.count and _verbatim(args, sources[0])
        streams = [
            s.items(keep, since, until, raw=raw, blocks=raw and one, batch=batch) for s in sources
        ]
        if len(streams) == 1:
            items = streams[0]
        else:
            import heapq

            # time order; at equal timestamps the later file's record first, as mergecap
            items = heapq.merge(*streams, key=lambda item: (item[0], -item[1]))
        if raw:
            return _write(args, sources, items)
        return _print(args, items)
    finally:
        for s in sources:
            s.close()


def _verbatim(args: argparse.Namespace, source: Any) -> bool:
    """-w writes this one source's format: its records are copied in batches."""
    from netdiag.capture.subset import wants_pcapng

    dest: Any = sys.stdout.buffer if args.write == "-" else args.write
    return bool(source.format == ("pcapng" if wants_pcapng(dest, args.pcapng) else "pcap"))


def _write(args: argparse.Namespace, sources: list[Any], items: Any) -> int:
    from netdiag.capture.subset import SubsetWriter

    dest: Any = sys.stdout.buffer if args.write == "-" else args.write
    if dest is args.write and os.path.exists(dest):
        for s in sources:
            if os.path.exists(s.name) and os.path.samefile(dest, s.name):
                raise UsageError(f"read: -w {dest} is also an input (it would be emptied)")
    count = args.count or 0
    damaged: DamagedCaptureError | None = None
    with SubsetWriter(dest, sources, pcapng=args.pcapng) as w:
        write = w.write_item
        try:
            for item in items:
                write(item)
                if w.count == count and item[2] is not None:
                    break
        except DamagedCaptureError as e:
            damaged = e
    if damaged is not None:
        damaged.exit_status = 1  # what was read is written; cli.py says what broke it
        raise damaged
    return 0


def _print(args: argparse.Namespace, items: Any) -> int:
    from netdiag.packets.dispatch import decode

    write = sys.stdout.write
    buf: list[str] = []
    count = args.count or 0
    acc = fmt = None
    if args.stats:
        from netdiag.metrics.capstats import CaptureStatsAccumulator

        acc = CaptureStatsAccumulator()
    elif not args.json:
        from netdiag.inspect.text import TextFormatter

        fmt = TextFormatter(
            link=args.link, epoch=args.epoch, stamp=min(args.stamp, 5), quick=args.quick
        )
    streams = None
    if fmt is None and acc is None:
        from netdiag.inspect.appstreams import AppStreams
        from netdiag.inspect.packetjson import packet_json

        streams = AppStreams()  # TLS records and DNS messages across segments
    details = args.verbose or args.hex or args.hexascii or args.ascii
    tcpan = None
    if getattr(args, "tcp_analysis", False) and acc is None:
        from netdiag.tcpanalysis.readhook import ReadHook

        tcpan = ReadHook()
    shown = 0
    damaged: DamagedCaptureError | None = None
    try:
        for item in items:
            rec = item[2]
            shown += 1
            p = decode(rec.data, rec.linktype)
            if acc is not None:
                acc.add(p, rec.wirelen, rec.ts_ns)
            elif fmt is None:
                buf.append(packet_json(item[5], rec.ts_ns, p, rec.wirelen, streams))
                if tcpan is not None:
                    buf[-1] = tcpan.json(buf[-1], rec.ts_ns, p, rec.wirelen)
            else:
                buf.append(fmt.line(rec.ts_ns, p, rec.wirelen))
                if tcpan is not None:
                    buf[-1] = tcpan.line(buf[-1], rec.ts_ns, p, rec.wirelen)
                if details:
                    _details(buf, p, args)
            if len(buf) >= 256:
                buf.append("")
                write("\n".join(buf))
                buf.clear()
            if shown == count:
                break
    except DamagedCaptureError as e:
        damaged = e
    if buf:
        buf.append("")
        write("\n".join(buf))
    if acc is not None:
        _print_stats(acc, args)
    if damaged is not None:
        damaged.exit_status = 1  # what was read is printed; cli.py says what broke it
        raise damaged
    return 0


def _details(buf: list[str], p: Any, args: argparse.Namespace) -> None:
    if args.verbose:
        from netdiag.inspect.tree import tree_lines

        buf.extend(tree_lines(p))
    if args.hex or args.hexascii or args.ascii:
        from netdiag.inspect import hexdump
        from netdiag.inspect.text import link_header_len

        whole = args.hexascii > 1 if args.hexascii else args.hex > 1
        data = p.data if whole else p.data[link_header_len(p) :]
        if args.hexascii:
            buf.extend(hexdump.hex_ascii_lines(data))
        elif args.hex:
            buf.extend(hexdump.hex_lines(data))
        else:
            buf.append(hexdump.ascii_text(data))


def _print_stats(acc: Any, args: argparse.Namespace) -> None:
    from netdiag.inspect.stats import stats_dict, stats_text

    result = acc.result(args.top)
    if args.json:
        from netdiag.render.jsonout import to_json

        sys.stdout.write(to_json(stats_dict(result)) + "\n")
    else:
        sys.stdout.write(stats_text(result) + "\n")
