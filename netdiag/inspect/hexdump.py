"""Hex dumps in the layouts of ``tcpdump -x``, ``-X`` and ``-A``.

Each line is a tab, the offset as ``0x%04x:``, two spaces, then up to 16 bytes
in groups of two (``4500 0054 ...``); an odd last byte stands alone. tcpdump's
convention is followed for what is dumped: ``-x`` shows the bytes after the
link-level header (Ethernet and VLAN tags, cooked or loopback header, padding
included), ``-xx`` the whole frame; ``text.link_header_len`` says where that is.
"""

from __future__ import annotations

__all__ = ["hex_lines", "hex_ascii_lines", "ascii_text"]


def hex_lines(data: bytes) -> list[str]:
    """``data`` as tcpdump -x lines (no trailing newline)."""
    out = []
    hx = data.hex()
    for off in range(0, len(data), 16):
        chunk = hx[2 * off : 2 * off + 32]
        groups = " ".join(chunk[i : i + 4] for i in range(0, len(chunk), 4))
        out.append(f"\t0x{off:04x}:  {groups}")
    return out


_PRINTABLE = bytes(c if 0x20 < c < 0x7F else 0x2E for c in range(256))  # others, space too: "."


def hex_ascii_lines(data: bytes) -> list[str]:
    """``data`` as tcpdump -X lines: the hex groups padded to a fixed width, two spaces,
    then the 16 bytes as text (visible ASCII as it is, anything else, space too, as ``.``)."""
    out = []
    hx = data.hex()
    text = data.translate(_PRINTABLE).decode("ascii")
    for off in range(0, len(data), 16):
        chunk = hx[2 * off : 2 * off + 32]
        groups = "".join(" " + chunk[i : i + 4] for i in range(0, len(chunk), 4))
        out.append(f"\t0x{off:04x}: {groups:<40}  {text[off : off + 16]}")
    return out


def ascii_text(data: bytes) -> str:
    """``data`` as tcpdump -A prints it: printable ASCII, tab, space and newline as they
    are, anything else as ``.``; a carriage return vanishes before a newline and at the
    last two bytes, and is ``.`` elsewhere (tcpdump's rule)."""
    out = []
    n = len(data)
    for i, c in enumerate(data):
        if c == 0x0D:
            if n - i - 1 > 1 and data[i + 1] != 0x0A:
                out.append(".")
        elif 0x21 <= c < 0x7F or c in (0x09, 0x20, 0x0A):
            out.append(chr(c))
        else:
            out.append(".")
    return "".join(out)
