"""The one door to ``tabulate``: imported on first use, so commands that never
draw a table (a traceroute, a ping) start without loading it."""

from __future__ import annotations

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["tabulate"]


def tabulate(rows: Any, **options: Any) -> str:
    """``tabulate.tabulate(rows, **options)`` as a string; numbers stay as given
    unless the caller asks otherwise (``disable_numparse`` defaults to True)."""
    from tabulate import tabulate as _tabulate  # type: ignore[import-untyped]

    options.setdefault("disable_numparse", True)
    return str(_tabulate(rows, **options))
