"""Argument types shared by the subcommands' parsers (argparse ``type=``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["number"]


def number(kind: type, what: str, low: float | None = None) -> Callable[[str], Any]:
    """A parser for an ``int`` (decimal, or 0x/0o/0b as iputils' ``-Q 0x10``) or a
    ``float`` named ``what`` in messages, refusing values below ``low``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text, 0) if kind is int else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {what}: {text!r}") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"invalid {what}: {text!r} (below {low})")
        return value

    return parse
