"""netdiag: network diagnostics and packet inspection, built from scratch."""

from netdiag.errors import (
    CaptureError,
    DecodeError,
    MalformedError,
    NetdiagError,
    PrivilegeError,
    TruncatedError,
    UsageError,
)
from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.capture.files import read_capture
    from netdiag.packets import LinkType, Packet, decode

# The codecs and capture readers load on first use (PEP 562), so that
# `import netdiag` (and every command's start) stays cheap.
__getattr__ = lazy_attributes(
    __name__,
    {
        "decode": "netdiag.packets",
        "Packet": "netdiag.packets",
        "LinkType": "netdiag.packets",
        "read_capture": "netdiag.capture.files",
    },
)


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
