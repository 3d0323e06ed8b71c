"""netdiag: network diagnostics and packet inspection, built from scratch."""

from netdiag.capture.files import read_capture
from netdiag.errors import (
    CaptureError,
    DecodeError,
    MalformedError,
    NetdiagError,
    PrivilegeError,
    TruncatedError,
    UsageError,
)
from netdiag.packets import LinkType, Packet, decode

__all__ = [
    "decode",
    "read_capture",
    "Packet",
    "LinkType",
    "NetdiagError",
    "DecodeError",
    "TruncatedError",
    "MalformedError",
    "CaptureError",
    "UsageError",
    "PrivilegeError",
]
__version__ = "0.1.0"
