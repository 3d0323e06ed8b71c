"""The one exception hierarchy of netdiag.

This module is a leaf: it imports nothing from netdiag, so every layer (the
pure ``packets/`` codecs included) may raise these. ``cli.py`` maps each class
to one line on stderr and an exit status; nothing else prints errors.
"""

from __future__ import annotations

__all__ = [
    "NetdiagError",
    "DecodeError",
    "TruncatedError",
    "MalformedError",
    "CaptureError",
    "DamagedCaptureError",
    "UsageError",
    "PrivilegeError",
]


class NetdiagError(Exception):
    """Base of every error netdiag raises on purpose."""

    exit_status = 2


class DecodeError(NetdiagError, ValueError):
    """A header could not be decoded. Carries the layer and the byte offset."""

    def __init__(self, layer: str, offset: int, reason: str) -> None:
        self.layer = layer
        self.offset = offset
        self.reason = reason
        super().__init__(f"{layer}: {reason} (at byte {offset})")


class TruncatedError(DecodeError):
    """The input ended before the header did."""

    def __init__(self, layer: str, offset: int, needed: int, got: int) -> None:
        self.needed = needed
        self.got = got
        super().__init__(layer, offset, f"truncated: needed {needed} bytes, got {got}")


class MalformedError(DecodeError):
    """A field holds an impossible value (``ihl < 5``, a length past the end, ...)."""


class CaptureError(NetdiagError):
    """A capture file is missing, unreadable, not a capture, or damaged."""


class DamagedCaptureError(CaptureError):
    """A capture file broke off or holds an impossible length; the records before were good.

    Carries the file name, the byte offset of the bad record or block, how many
    good records came before it, and the reason.
    """

    def __init__(self, name: str, offset: int, records: int, reason: str) -> None:
        self.name = name
        self.offset = offset
        self.records = records
        self.reason = reason
        super().__init__(f"{name}: damaged at byte {offset}, after {records} records: {reason}")


class UsageError(NetdiagError):
    """A wrong argument; the message names it."""


class PrivilegeError(NetdiagError):
    """The operation needs a privilege we do not have; the message says the fix."""
