"""Tables: tabulate's ``plain`` format drawn here, every other one by ``tabulate``.

``plain_table`` draws exactly what ``tabulate(rows, headers, tablefmt="plain",
disable_numparse=True, colalign=...)`` draws (tests/test_table.py checks it
against tabulate on generated tables): cells as text with surrounding
whitespace stripped, ``None`` as empty, each column as wide as its widest cell
and at least its header plus 2, two spaces between columns, lines stripped on
the right. It is here because ``import tabulate`` costs more than three times
the bare interpreter's start (it loads ``importlib.metadata`` and
``dataclasses``), and the tables people run in loops (``sockets``, ``mtr -r``,
``lab show``) are all plain. ``tabulate()`` is the door to the library for the
rest, imported on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["tabulate", "plain_table"]

_MIN_PADDING = 2  # tabulate pads every column to its header's width plus 2
_ALIGN = {"left": "<", "right": ">", "center": "^"}


def plain_table(rows: Iterable[Sequence[Any]], headers: Sequence[str] = (),
                colalign: Sequence[str] | None = None) -> str:  # fmt: skip
    """``rows`` under ``headers`` in tabulate's ``plain`` format (see the module)."""
    body = [["" if c is None else str(c).strip() for c in row] for row in rows]
    heads = [str(h) for h in headers]  # tabulate keeps headers as given
    ncols = max(len(r) for r in body) if body else len(heads)
    for r in body:
        r.extend([""] * (ncols - len(r)))
    if heads:  # tabulate puts short headers over the last columns, drops extra ones
        heads = [""] * (ncols - len(heads)) + heads[:ncols]
    widths = [max([len(heads[i]) + _MIN_PADDING if heads else 0]
                  + [len(r[i]) for r in body]) for i in range(ncols)]  # fmt: skip
    if not body:
        colalign = None  # tabulate aligns a header-only table left, whatever was asked
    aligns = [_ALIGN[(colalign[i] if colalign and i < len(colalign) else "left")]
              for i in range(ncols)]  # fmt: skip
    lines = []
    for r in ([heads] if heads else []) + body:
        cells = [f"{cell:{a}{w}}" for cell, a, w in zip(r, aligns, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def tabulate(rows: Any, **options: Any) -> str:
    """``tabulate.tabulate(rows, **options)`` as a string; numbers stay as given
    unless the caller asks otherwise (``disable_numparse`` defaults to True)."""
    from tabulate import tabulate as _tabulate  # type: ignore[import-untyped]

    options.setdefault("disable_numparse", True)
    return str(_tabulate(rows, **options))
