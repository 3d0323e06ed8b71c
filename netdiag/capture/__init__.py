"""Passive capture: capture files (pcap, pcapng) in and out of the system, the
AF_PACKET ring, and ``bpf/`` (the filter compiler and interpreter).

The names below load their module on first use, so that a probe importing one
leaf (``capture.bpf.insn``, say) pays for nothing else here.
"""

from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.capture.files import CaptureReader, open_writer, read_capture
    from netdiag.capture.pcap import PcapWriter
    from netdiag.capture.pcapng import PcapNgWriter
    from netdiag.capture.record import Record

__all__ = ["Record", "CaptureReader", "read_capture", "open_writer", "PcapWriter", "PcapNgWriter"]

__getattr__ = lazy_attributes(
    __name__,
    {
        "Record": "netdiag.capture.record",
        "CaptureReader": "netdiag.capture.files",
        "read_capture": "netdiag.capture.files",
        "open_writer": "netdiag.capture.files",
        "PcapWriter": "netdiag.capture.pcap",
        "PcapNgWriter": "netdiag.capture.pcapng",
    },
)
