"""Passive capture: capture files (pcap, pcapng) in and out of the system."""

from netdiag.capture.files import CaptureReader, open_writer, read_capture
from netdiag.capture.pcap import PcapWriter
from netdiag.capture.pcapng import PcapNgWriter
from netdiag.capture.record import Record

__all__ = ["Record", "CaptureReader", "read_capture", "open_writer", "PcapWriter", "PcapNgWriter"]
