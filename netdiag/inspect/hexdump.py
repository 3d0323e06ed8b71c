"""Hex dumps in the layout of ``tcpdump -x``.

Each line is a tab, the offset as ``0x%04x:``, two spaces, then up to 16 bytes
in groups of two (``4500 0054 ...``); an odd last byte stands alone. tcpdump's
convention is followed for what is dumped: ``-x`` shows the bytes after the
link-level header (Ethernet and VLAN tags, cooked or loopback header, padding
included), ``-xx`` the whole frame; ``text.link_header_len`` says where that is.
"""

from __future__ import annotations

__all__ = ["hex_lines"]


def hex_lines(data: bytes) -> list[str]:
    """``data`` as tcpdump -x lines (no trailing newline)."""
    out = []
    hx = data.hex()
    for off in range(0, len(data), 16):
        chunk = hx[2 * off : 2 * off + 32]
        groups = " ".join(chunk[i : i + 4] for i in range(0, len(chunk), 4))
        out.append(f"\t0x{off:04x}:  {groups}")
    return out
