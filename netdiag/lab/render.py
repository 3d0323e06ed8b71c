"""Text table of a lab's nodes and addresses (rows from ``netdiag.lab.lab.Lab.show``)."""

from __future__ import annotations

from collections.abc import Sequence

from netdiag import records
from netdiag.lab.conditions import Conditions
from netdiag.lab.lab import LabRow
from netdiag.lab.topology import Spec
from netdiag.render.table import plain_table

__all__ = ["format_lab"]

_HEADERS = ("node", "netns", "role", "if", "ipv4", "ipv6", "mtu", "state")


def format_lab(
    rows: Sequence[LabRow], conditions: Conditions | None = None, topology: Spec | None = None
) -> str:
    """One line per interface; the node name only on its first interface; then the
    lab's conditions (rate limits, loss, delay, silent tail), then its diamonds, error
    sources and NATs, one per line."""
    table = []
    previous = None
    for row in rows:
        cells = list(records.astuple(row))
        if row.node == previous:
            cells[0:3] = ["", "", ""]
        previous = row.node
        table.append(cells)
    text = plain_table(table, _HEADERS)
    if conditions is not None:
        text += "\n" + "\n".join(conditions.describe())
    if topology is not None and topology.describe():
        text += "\n" + "\n".join(topology.describe())
    return text
