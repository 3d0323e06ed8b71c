"""The ``--multipath`` options of ``netdiag traceroute`` and their command."""

from __future__ import annotations

import argparse
import sys

from netdiag.argtypes import number as _number
from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.trace.loop import TraceOptions
    from netdiag.trace.mtr import MtrOptions

__all__ = ["add_options", "cmd_multipath", "cmd_mtr_multipath"]


def add_options(p: argparse.ArgumentParser, rounds: bool = False) -> None:
    """The options; ``rounds``: mtr's (no graph files)."""
    g = p.add_argument_group("multipath (MDA)")
    g.add_argument("--multipath", action="store_true",
                   help="rounds over every load-balanced path: loss and RTT per branch"
                   if rounds else "find every load-balanced path (MDA-Lite)")  # fmt: skip
    # mtr watches what the trace found, so it pays a few probes more not to miss a branch
    conf = 99.0 if rounds else 95.0
    g.add_argument("--confidence", type=_number(float, "confidence"), default=conf,
                   metavar="PCT", help=f"stopping rule confidence (default {conf:g})")  # fmt: skip
    g.add_argument("--full-mda", dest="full_mda", action="store_true",
                   help="full MDA at every hop, not MDA-Lite")  # fmt: skip
    g.add_argument("--no-aliases", dest="no_aliases", action="store_true",
                   help="skip alias resolution")  # fmt: skip
    if rounds:
        return
    g.add_argument("--dot", metavar="FILE", help="write the graph in Graphviz DOT")
    g.add_argument("--svg", metavar="FILE", help="render the graph to SVG with Graphviz dot")


def _check_confidence(args: argparse.Namespace) -> None:
    if not 50 <= args.confidence < 100:
        raise UsageError(f"--confidence {args.confidence:g}: use a percentage in 50..99.9")


def cmd_multipath(args: argparse.Namespace, opt: TraceOptions) -> int:
    from netdiag.trace.multipath import render
    from netdiag.trace.multipath.loop import multipath

    _check_confidence(args)
    for path in (args.dot, args.svg):
        if path is not None and (not path or path.startswith("-")):
            raise UsageError(f"bad output file: {path!r}")
    result = multipath(args.target, opt, args.confidence, lite=not args.full_mda,
                       aliases=not args.no_aliases)  # fmt: skip
    if args.json:
        import json

        sys.stdout.write(json.dumps(render.to_json(result)) + "\n")
    else:
        sys.stdout.write(render.text(result) + "\n")
    sys.stdout.flush()
    dot = render.to_dot(result)
    if args.dot:
        try:
            with open(args.dot, "w") as f:
                f.write(dot)
        except OSError as exc:
            raise UsageError(f"--dot {args.dot}: {exc.strerror}") from None
    if args.svg:
        render.write_svg(dot, args.svg)
    return 0


def cmd_mtr_multipath(args: argparse.Namespace, opt: MtrOptions, live: bool,
                      hostname: str, name_of: Any) -> int:  # fmt: skip
    """``mtr --multipath``: the trace, then rounds; ``live`` redraws after each round."""
    from netdiag.trace.multipath import render
    from netdiag.trace.multipath.mtr import MultipathMtr, mtr_multipath
    from netdiag.trace.render import CLEAR_SCREEN

    _check_confidence(args)

    def on_round(m: MultipathMtr) -> None:
        if live:
            sys.stdout.write(CLEAR_SCREEN + render.mtr_text(m, hostname, name_of) + "\n")
            sys.stdout.flush()

    m = mtr_multipath(args.target, opt, args.confidence, lite=not args.full_mda,
                      aliases=not args.no_aliases, on_round=on_round)  # fmt: skip
    if args.json:
        import json

        sys.stdout.write(json.dumps(render.mtr_json(m)) + "\n")
    elif not live:
        sys.stdout.write(render.mtr_text(m, hostname, name_of) + "\n")
    sys.stdout.flush()
    return 0
