"""The ``netdiag`` command line: parse, dispatch, map errors to exit statuses.

Each subcommand lives in its job's package (``netdiag/ping/cli.py``,
``netdiag/trace/cli.py``, ...), in a module whose ``add_parser(subparsers)``
declares its arguments and sets ``func`` (a function ``(args) -> int``);
``COMMAND_MODULES`` maps command names to those modules.

Errors: a ``NetdiagError`` becomes one line ``netdiag: <message>`` on stderr
and its ``exit_status`` (2 for usage errors and unreadable or foreign files; 1
for a damaged capture, after printing what was read). Ctrl-C exits 130 and a
closed pipe (``| head``) exits 0, both silently. No input gives a traceback:
anything unexpected is one ``netdiag: internal error: ...`` line, status 70.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from netdiag.errors import NetdiagError, UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = ["main", "build_parser"]

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h)


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it (``COLUMNS``, then
    the terminal on stdout, then 80), without importing shutil (and bz2, lzma)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    """Argument errors become a ``UsageError`` (one line, exit 2) instead of usage + exit."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument; given the width, it does
        # not import shutil to ask for it (the same width: HelpFormatter's own less 2).
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("netdiag").strip()
        raise UsageError(f"{where}: {message}" if where else message)


# -- dispatch ---------------------------------------------------------------------------


#: One entry per subcommand; each adds its parser and sets ``func``.
#: Which module defines each subcommand (``add_parser(subparsers)``, ``func``).
#: Only the module of the command being run is imported, so a command starts
#: without loading the others; ``--help`` and mistakes load them all.
COMMAND_MODULES: dict[str, str] = {
    "read": "inspect.readcli",
    "ping": "ping.cli",
    "traceroute": "trace.cli",
    "mtr": "trace.cli",
    "sniff": "inspect.sniffcli",
    "filter": "inspect.filtercli",
    "udp": "udptest.cli",
    "impair": "udptest.cli",
    "lab": "lab.cli",
    "sockets": "sockets.cli",
    "tcp": "tcpanalysis.cli",
    "fping": "fping.cli",
    "exporter": "exporter.cli",
}


def _subcommands(argv: Sequence[str]) -> list[Callable[[Any], Any]]:
    import importlib

    command = next((a for a in argv if not a.startswith("-")), None)
    if command in COMMAND_MODULES:
        names = [COMMAND_MODULES[command]]
    else:
        names = list(dict.fromkeys(COMMAND_MODULES.values()))
    return [importlib.import_module(f"netdiag.{n}").add_parser for n in names]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    from netdiag import __version__

    parser = _Parser(prog="netdiag", description="Network diagnostics and packet inspection.")
    parser.add_argument("--version", action="version", version=f"netdiag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in _subcommands(argv):
        add(sub)
    return parser


def _complain(e: object) -> None:
    msg = " ".join(str(e).split()) or type(e).__name__
    try:
        sys.stdout.flush()  # what was printed comes before the complaint
    except (OSError, ValueError):
        pass
    sys.stderr.write(f"netdiag: {msg}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the final flush cannot complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        if argv is None:
            argv = sys.argv[1:]
        args = build_parser(argv).parse_args(argv)
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except NetdiagError as e:
        _complain(e)
        return e.exit_status
    except Exception as e:  # a bug: still one line, never a traceback
        _complain(f"internal error: {type(e).__name__}: {e}")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
