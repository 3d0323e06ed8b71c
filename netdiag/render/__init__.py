"""Rendering: result objects and decoded packets as text lines, trees, hex, tables, JSON.

Pure functions and small formatter objects; nothing here reads files or
sockets, and nothing prints: callers write the strings returned.

- ``text``: one line per packet in the shape of ``tcpdump -n`` (``TextFormatter``).
- ``words``: what tcpdump prints for one header's own fields, used by ``text``.
- ``tree``: the ``-v`` per-layer tree of every decoded field.
- ``hexdump``: ``tcpdump -x`` style hex lines.
- ``jsonout``: one JSON object per packet (JSON Lines), JSON-safe values.
- ``stats``: capture statistics tables (imports tabulate, so not imported here).
- ``names``: the words printed for protocol numbers, in one place.
"""

from netdiag.render.hexdump import hex_lines
from netdiag.render.jsonout import packet_json, to_json
from netdiag.render.text import TextFormatter, link_header_len
from netdiag.render.tree import tree_lines

__all__ = ["TextFormatter", "link_header_len", "tree_lines", "hex_lines", "packet_json", "to_json"]
