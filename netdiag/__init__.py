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
    from netdiag.api import mtr, multiping, ping, traceroute
    from netdiag.capture.files import read_capture
    from netdiag.multi.results import HostResult
    from netdiag.packets import LinkType, Packet, decode

# The codecs and capture readers load on first use (PEP 562), so that
# `import netdiag` (and every command's start) stays cheap.
_lazy = lazy_attributes(
    __name__,
    {
        "decode": "netdiag.packets",
        "Packet": "netdiag.packets",
        "LinkType": "netdiag.packets",
        "read_capture": "netdiag.capture.files",
        "multiping": "netdiag.api",
        "traceroute": "netdiag.api",
        "mtr": "netdiag.api",
        "HostResult": "netdiag.multi.results",
    },
)


def __getattr__(name: str) -> object:
    # netdiag.ping is the package netdiag/ping/ (importing it binds that name here), and
    # the package is callable: calling it is netdiag.api.ping (netdiag/ping/__init__.py).
    if name == "ping":
        import importlib

        return importlib.import_module("netdiag.ping")
    return _lazy(name)


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
    "ping",
    "multiping",
    "traceroute",
    "mtr",
    "HostResult",
]
__version__ = "0.1.0"
