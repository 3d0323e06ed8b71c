"""``netdiag sniff``: live capture in the manner of tcpdump.

``add_parser(subparsers)`` declares tcpdump's flags and sets ``func``. The
handler opens the capture (``capture.sniff.Sniffer``), then either writes the
packets to a file (``-w``; nothing is decoded; ``-C``/``-G``/``-W`` rotate it as
tcpdump does, ``capture.rotate``) or prints them exactly as ``netdiag read``
does (same renderers). At the end, on stderr, tcpdump's three lines: ``N
packets captured``, ``M packets received by filter``, ``K packets dropped by
kernel``. Ctrl-C and SIGTERM end the capture cleanly (exit 0), after the
packets still in the ring were written. A file that cannot be written is one
line and exit 1, and what was written before stays a valid capture.
"""

from __future__ import annotations

import argparse
import sys

from netdiag.argtypes import number as _number
from netdiag.capture.afpacket import DEFAULT_BUFFER, MAX_SNAPLEN
from netdiag.capture.sniff import Sniffer, SniffOptions, SniffResult
from netdiag.packets.numbers import LinkType

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run", "trio_lines"]

_LINKTYPE_TEXT = {
    int(LinkType.ETHERNET): "EN10MB (Ethernet)",
    int(LinkType.LINUX_SLL2): "LINUX_SLL2 (Linux cooked v2)",
}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "sniff",
        help="capture live packets (like tcpdump), AF_PACKET ring",
        description="Capture packets on an interface through an AF_PACKET TPACKET_V3 ring, "
        "filtered in the kernel by a tcpdump filter expression; print them as "
        "`netdiag read` does or write them to a file. Needs root or CAP_NET_RAW.",
    )
    p.add_argument("expr", metavar="EXPR", nargs="*", help="filter expression (pcap-filter)")
    p.add_argument("-i", dest="interface", default="any", metavar="IFACE",
                   help="interface, or 'any' (cooked, LINUX_SLL2; the default)")  # fmt: skip
    p.add_argument("-c", dest="count", type=_number(int, "count", 1), metavar="COUNT",
                   help="stop after COUNT packets")  # fmt: skip
    p.add_argument("--duration", type=_number(float, "duration", 0.001), metavar="SECONDS",
                   help="stop after SECONDS")  # fmt: skip
    p.add_argument("-w", dest="write", metavar="FILE",
                   help="write the packets to FILE (- for stdout), do not print them")  # fmt: skip
    p.add_argument("--pcapng", action="store_true", help="write pcapng (also by a .pcapng name)")
    p.add_argument("-C", dest="file_size", type=_file_size, metavar="MB",
                   help="with -w: start the next file FILE1, FILE2, ... once the file holds "
                   "more than MB million bytes (or NUMBERk/m/g: KiB, MiB, GiB)")  # fmt: skip
    p.add_argument("-G", dest="rotate_seconds", type=_number(int, "rotation seconds", 1),
                   metavar="SECONDS", help="with -w: start a new file every SECONDS; FILE is "
                   "a strftime pattern (%%Y%%m%%d-%%H%%M%%S)")  # fmt: skip
    p.add_argument("-W", dest="file_count", type=_number(int, "file count", 1), metavar="N",
                   help="with -C: a ring of N files, the oldest overwritten; with -G alone: "
                   "stop after N files")  # fmt: skip
    p.add_argument("-s", dest="snaplen", type=_number(int, "snaplen", 0), default=0,
                   metavar="SNAPLEN", help=f"bytes kept per packet (0: {MAX_SNAPLEN})")  # fmt: skip
    p.add_argument("-p", dest="promisc", action="store_false",
                   help="do not put the interface into promiscuous mode")  # fmt: skip
    p.add_argument("-Q", dest="direction", choices=("in", "out", "inout"), default="inout",
                   help="only packets received (in), sent (out) or both")  # fmt: skip
    p.add_argument("-B", "--buffer-size", dest="buffer_kib", metavar="KiB",
                   type=_number(int, "buffer size", 64), default=DEFAULT_BUFFER >> 10,
                   help=f"ring size in KiB (default {DEFAULT_BUFFER >> 10})")  # fmt: skip
    p.add_argument("--no-ring", dest="ring", action="store_false",
                   help="plain recvmsg instead of the memory-mapped ring")  # fmt: skip
    p.add_argument("-e", dest="link", action="store_true", help="print the link-level header")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="print every decoded field as a tree")  # fmt: skip
    p.add_argument("-x", dest="hex", action="count", default=0,
                   help="hex dump after the link header; -xx: of the whole frame")  # fmt: skip
    p.add_argument("--tt", dest="epoch", action="store_true", help="seconds since the epoch")
    p.add_argument("--json", action="store_true", help="one JSON object per packet")
    p.add_argument("--stats", action="store_true",
                   help="protocol hierarchy and conversations at the end")  # fmt: skip
    p.add_argument("--top", type=_number(int, "top", 1), default=10, metavar="N",
                   help="conversations in the --stats table (default 10)")  # fmt: skip
    p.set_defaults(func=run)
    return p


def _file_size(text: str) -> int:
    from netdiag.capture.rotation import parse_size
    from netdiag.errors import UsageError

    try:
        return parse_size(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _open_writer(args: argparse.Namespace, linktype: int, snaplen: int) -> Any:
    """``-w``'s writer: a RotatingWriter (which rotates only when -C or -G say so)."""
    from netdiag.capture.rotate import RotatingWriter, RotationPlan

    plan = RotationPlan(args.write, args.file_size, args.rotate_seconds, args.file_count)
    fd = None
    if args.write == "-":
        sys.stdout.flush()
        fd = sys.stdout.fileno()
    pcapng = bool(args.pcapng or args.write.lower().endswith(".pcapng"))
    return RotatingWriter(plan, linktype, snaplen=snaplen, pcapng=pcapng, fd=fd)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def trio_lines(r: SniffResult) -> list[str]:
    """tcpdump's closing statistics, word for word (tcpdump.c, ``info()``)."""
    return [
        f"{_plural(r.captured, 'packet')} captured",
        f"{_plural(r.received, 'packet')} received by filter",
        f"{_plural(r.dropped, 'packet')} dropped by kernel",
    ]


def options_from_args(args: argparse.Namespace) -> SniffOptions:
    return SniffOptions(
        interface=args.interface,
        count=args.count,
        duration=args.duration,
        snaplen=args.snaplen or MAX_SNAPLEN,
        promisc=args.promisc,
        direction=args.direction,
        expression=" ".join(args.expr),
        buffer_size=args.buffer_kib << 10,
        ring=args.ring,
    )


def _check_rotation_args(args: argparse.Namespace) -> None:
    from netdiag.errors import UsageError

    for flag, value in (("-C", args.file_size), ("-G", args.rotate_seconds),
                        ("-W", args.file_count)):  # fmt: skip
        if value is not None and args.write is None:
            raise UsageError(f"{flag} needs -w FILE")
    if args.file_count is not None and args.file_size is None and args.rotate_seconds is None:
        raise UsageError("-W needs -C or -G")
    if args.write == "-" and (args.file_size is not None or args.rotate_seconds is not None):
        raise UsageError("-C and -G need a file name for -w, not standard output")


def run(args: argparse.Namespace) -> int:
    _check_rotation_args(args)
    opts = options_from_args(args)
    err = sys.stderr
    with Sniffer(opts) as sniffer:
        writer = None
        if args.write is not None:
            writer = _open_writer(args, sniffer.linktype, opts.snaplen)
        printer = None if writer is not None and not args.stats else _Printer(args)
        lt = _LINKTYPE_TEXT.get(sniffer.linktype, str(sniffer.linktype))
        err.write(f"netdiag: listening on {opts.interface}, link-type {lt}, "
                  f"snapshot length {opts.snaplen} bytes\n")  # fmt: skip
        err.flush()
        try:
            if printer is None:
                result = sniffer.run(writer)
            else:
                result = sniffer.run(writer, printer.add, printer.flush)
        finally:
            if writer is not None:
                writer.close()
            if printer is not None:
                printer.flush()
    if printer is not None:
        printer.finish()
    sys.stdout.flush()
    if result.stopped_by == "signal":
        err.write("\n")  # after the ^C, as tcpdump does
    elif result.stopped_by == "files":
        err.write(f"Maximum file limit reached: {args.file_count}\n")  # tcpdump's words
    err.write("\n".join(trio_lines(result)) + "\n")
    err.flush()
    return 0


class _Printer:
    """The packets as ``netdiag read`` prints them: text, tree, hex, JSON or statistics."""

    def __init__(self, args: argparse.Namespace) -> None:
        from netdiag.inspect.packetjson import packet_json
        from netdiag.packets.dispatch import decode

        self.args = args
        self.decode = decode
        self.packet_json = packet_json
        self.streams: Any = None
        if args.json:
            from netdiag.inspect.appstreams import AppStreams

            self.streams = AppStreams()  # TLS records and DNS messages across segments
        self.n = 0
        self.buf: list[str] = []
        self.acc: Any = None
        self.fmt: Any = None
        if args.stats:
            from netdiag.metrics.capstats import CaptureStatsAccumulator

            self.acc = CaptureStatsAccumulator()
        elif not args.json:
            from netdiag.inspect.text import TextFormatter

            self.fmt = TextFormatter(link=args.link, epoch=args.epoch)

    def add(self, rec: Any) -> None:
        p = self.decode(rec.data, rec.linktype)
        self.n += 1
        if self.acc is not None:
            self.acc.add(p, rec.wirelen, rec.ts_ns)
            return
        if self.fmt is None:
            self.buf.append(self.packet_json(self.n, rec.ts_ns, p, rec.wirelen, self.streams))
        else:
            self.buf.append(self.fmt.line(rec.ts_ns, p, rec.wirelen))
            if self.args.verbose:
                from netdiag.inspect.tree import tree_lines

                self.buf.extend(tree_lines(p))
            if self.args.hex:
                from netdiag.inspect.hexdump import hex_lines
                from netdiag.inspect.text import link_header_len

                data = p.data if self.args.hex > 1 else p.data[link_header_len(p) :]
                self.buf.extend(hex_lines(data))
        if len(self.buf) >= 64:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.buf.append("")
            sys.stdout.write("\n".join(self.buf))
            self.buf.clear()
        sys.stdout.flush()

    def finish(self) -> None:
        if self.acc is None:
            return
        from netdiag.inspect.stats import stats_dict, stats_text

        result = self.acc.result(self.args.top)
        if self.args.json:
            from netdiag.render.jsonout import to_json

            sys.stdout.write(to_json(stats_dict(result)) + "\n")
        else:
            sys.stdout.write(stats_text(result) + "\n")
