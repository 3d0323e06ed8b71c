"""netdiag: network diagnostics and packet inspection, built from scratch."""

from typing import TYPE_CHECKING, Any

from netdiag.errors import (
    CaptureError,
    DecodeError,
    MalformedError,
    NetdiagError,
    PrivilegeError,
    TruncatedError,
    UsageError,
)

if TYPE_CHECKING:
    from netdiag.capture.files import read_capture
    from netdiag.packets import LinkType, Packet, decode

# The codecs and capture readers load on first use (PEP 562), so that
# `import netdiag` (and every command's start) stays cheap.
_LAZY = {
    "decode": "netdiag.packets",
    "Packet": "netdiag.packets",
    "LinkType": "netdiag.packets",
    "read_capture": "netdiag.capture.files",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'netdiag' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
