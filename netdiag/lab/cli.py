"""``netdiag lab ...``: build, inspect, use and remove a namespace lab from the shell.

Wire it in with ``labcli.add_parser(subparsers)``; each subcommand sets
``func(args) -> int`` (exit status) via ``set_defaults``. Errors are raised as
NetdiagError subclasses for ``cli.py`` to print.
"""

from __future__ import annotations

import argparse
import subprocess

from netdiag.errors import UsageError
from netdiag.lab.lab import Lab, LabError
from netdiag.lab.netns import node_netns
from netdiag.lab.render import format_lab

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "add_parser",
    "cmd_up",
    "cmd_down",
    "cmd_show",
    "cmd_exec",
    "parse_mtu",
    "split_exec_args",
]

DEFAULT_NAME = "lab"


def parse_mtu(text: str) -> tuple[int, int]:
    """``K:MTU`` -> ``(K, MTU)``: a smaller MTU on link K (0 is src-r1)."""
    link, sep, size = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(link), int(size)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--mtu {text!r}: expected LINK:MTU, e.g. 2:1280"
        ) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``lab`` with its subcommands to the top-level ``subparsers``."""
    lab: argparse.ArgumentParser = subparsers.add_parser(
        "lab",
        help="a lab of hosts and routers in network namespaces",
        description="Chain src - r1..rN - dst in network namespaces nd-NAME-NODE; "
        "link k uses 198.18.k.0/24 and 2001:db8:k::/64. Needs root.",
    )
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")

    def named(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--name", default=DEFAULT_NAME, help="lab name (default: %(default)s)")
        return p

    up = named(sub.add_parser("up", help="build a lab"))
    up.add_argument("--routers", type=int, default=4, metavar="N", help="default: %(default)s")
    up.add_argument(
        "--silent-router", type=int, metavar="K", help="router K forwards but sends no ICMP"
    )
    up.add_argument("--mtu", type=parse_mtu, metavar="K:MTU", help="smaller MTU on link K")
    up.add_argument("--icmp-ratelimit", metavar="MS|off", default="default",
                    help="ICMP error rate limit of every node, ms per token (default: the "
                    "kernel's, 1000 ms with a burst of 6 for IPv4, 100 ms for IPv6)")  # fmt: skip
    up.add_argument("--loss", action="append", default=[], metavar="K:PCT[:fwd|rev]",
                    help="drop PCT%% of the packets on link K (both ways unless fwd/rev); "
                    "with --ecmp, K may be NODE-NODE (r1-r2a); repeatable")  # fmt: skip
    up.add_argument("--delay", action="append", default=[], metavar="K:MS[/JITTER]",
                    help="one-way delay on link K (K may be 'all'); repeatable")  # fmt: skip
    up.add_argument("--silent-tail", metavar="NODE",
                    help="NODE (dst or rK) drops the probes silently: the path goes quiet "
                    "after it")  # fmt: skip
    up.add_argument(
        "--blackhole",
        type=int,
        metavar="K",
        help="router K routes dst into a blackhole (K itself goes silent too)",
    )
    up.add_argument("--ecmp", action="append", default=[], metavar="K:W|K:L1,L2,...",
                    help="router K (0: src) load-balances over W branch routers r{K+1}a.. "
                    "(or branches of L1, L2, ... routers) that join at r{K+2}; "
                    "repeatable")  # fmt: skip
    up.add_argument("--topology", metavar="FILE",
                    help="TOML topology (routers, [[ecmp]], [nat], [error_source], [seed]; "
                    "see netdiag.lab.topology)")  # fmt: skip
    up.add_argument("--nat", action="append", default=[], metavar="K[:masquerade|stateless]",
                    help="NAT on router K toward dst: Linux masquerade (default) or a "
                    "stateless rewrite that leaks into quoted datagrams; repeatable")  # fmt: skip
    up.add_argument("--error-source", action="append", default=[],
                    metavar="K:iface|route|mixed",
                    help="router K's ICMP errors come from the interface the probe arrived "
                    "on (iface, the default), from one address (route), or time exceeded "
                    "as iface and unreachables as route (mixed); repeatable")  # fmt: skip
    up.set_defaults(func=cmd_up)

    down = named(sub.add_parser("down", help="remove a lab (safe to repeat)"))
    down.set_defaults(func=cmd_down)

    show = named(sub.add_parser("show", help="table of nodes and addresses"))
    show.set_defaults(func=cmd_show)

    run = named(sub.add_parser("exec", help="run a command inside a node"))
    run.add_argument("node", help="src, r1..rN or dst")
    # REMAINDER: everything after NODE, so `exec NODE --name X -- CMD` works too
    # (cmd_exec takes a --name found before the `--` itself).
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    run.set_defaults(func=cmd_exec)
    return lab


def cmd_up(args: argparse.Namespace) -> int:
    lab = Lab.up(args.name, routers=args.routers, silent_router=args.silent_router,
                 mtu=args.mtu, icmp_ratelimit=args.icmp_ratelimit, loss=args.loss,
                 delay=args.delay, silent_tail=args.silent_tail,
                 blackhole=args.blackhole, ecmp=args.ecmp, topology=args.topology,
                 nat=args.nat, error_source=args.error_source)  # fmt: skip
    spec = lab.topology.spec if lab.topology is not None else None
    print(format_lab(Lab.show(lab.name), lab.conditions, spec))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    Lab.down_name(args.name)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    rows = Lab.show(args.name)
    if not rows:
        raise LabError(f"no lab {args.name!r}: run `netdiag lab up --name {args.name}`")
    print(format_lab(rows, Lab.conditions_of(args.name), Lab.topology_of(args.name)))
    return 0


def split_exec_args(name: str, rest: list[str]) -> tuple[str, list[str]]:
    """``[--name X] [--] CMD ...`` after NODE -> (lab name, CMD)."""
    while rest and rest[0] != "--":
        if rest[0] == "--name" and len(rest) > 1:
            name, rest = rest[1], rest[2:]
        elif rest[0].startswith("--name="):
            name, rest = rest[0].partition("=")[2], rest[1:]
        else:
            return name, rest  # no `--`: the command starts here
    return name, rest[1:]


def cmd_exec(args: argparse.Namespace) -> int:
    name, cmd = split_exec_args(args.name, list(args.cmd))
    if not cmd:
        raise UsageError("lab exec: no command given (netdiag lab exec NODE -- CMD ...)")
    netns = node_netns(name, args.node)
    try:
        proc = subprocess.run(["ip", "netns", "exec", netns, *cmd])
    except FileNotFoundError:
        raise LabError("iproute2 'ip' not found: install iproute2") from None
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
