"""``netdiag exporter --config FILE [--listen ADDR:PORT]``: the arguments, and the one
line (exit 2) when ``prometheus_client`` is missing or the configuration is bad."""

from __future__ import annotations

import argparse

from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "cmd_exporter"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "exporter",
        help="a Prometheus exporter: many targets probed continuously, /metrics and /probe",
        description="Probe the targets of a TOML configuration continuously (ICMP echo, "
        "tcp:PORT, udp:PORT; optional mtr path runs) and serve Prometheus metrics on "
        "/metrics, and blackbox-style probes on /probe?target=HOST&module=NAME. SIGHUP "
        "reloads the configuration; SIGTERM stops. Exit status 2 for a bad configuration "
        "or address. ICMP needs root or CAP_NET_RAW, or net.ipv4.ping_group_range "
        "admitting the user; tcp: root or CAP_NET_RAW.",
    )
    p.add_argument("--config", "-c", required=True, metavar="FILE", help="the TOML file")
    p.add_argument(
        "--listen",
        "-l",
        metavar="ADDR:PORT",
        help="where to serve (default: the file's listen, else 127.0.0.1:9427; "
        ":9427 or [::]:9427 for every address)",
    )
    p.set_defaults(func=cmd_exporter)
    return p


def cmd_exporter(args: argparse.Namespace) -> int:
    try:
        import prometheus_client  # noqa: F401 -- only to tell the user what to install
    except ImportError:
        raise UsageError(
            "exporter needs prometheus_client: pip install 'netdiag[exporter]'"
        ) from None
    from netdiag.exporter.server import serve

    return serve(args.config, args.listen)
