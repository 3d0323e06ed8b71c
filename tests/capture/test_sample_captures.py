"""The sample captures of captures/: reproducible, and decoded by tshark as their README
says (packet counts, protocols, no malformed packet outside malformed.pcap)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from netdiag.capture import read_capture

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
MALFORMED_OR_ERROR = "_ws.malformed or _ws.expert.severity >= 8388608"  # PI_ERROR

# file -> (format, linktypes, packets, protocols tshark must find in some frame)
SAMPLES = {
    "tcp-handshake.pcap": ("pcap", [1], 12, {"tcp", "http"}),
    "udp-dns.pcap": ("pcap", [1], 2, {"udp", "dns"}),
    "icmp-echo.pcap": ("pcap", [1], 6, {"icmp"}),
    "icmp-errors.pcap": ("pcap", [1], 6, {"icmp", "udp", "tcp"}),
    "ipv4-fragments.pcap": ("pcap", [1], 3, {"ip", "udp"}),
    "ipv6-ext.pcap": (
        "pcap",
        [1],
        5,
        {"ipv6.hopopts", "ipv6.dstopts", "ipv6.routing", "ipv6.fraghdr", "icmpv6", "udp"},
    ),
    "icmpv6-nd.pcap": ("pcap", [1], 6, {"icmpv6", "udp"}),
    "arp.pcap": ("pcap", [1], 3, {"arp"}),
    "vlan.pcap": ("pcap", [1], 3, {"vlan", "ieee8021ad", "icmp", "dns"}),
    "sll2.pcap": ("pcap", [276], 4, {"sll", "tcp", "icmpv6", "arp"}),
    "rawip.pcap": ("pcap", [101], 3, {"raw:ip", "raw:ipv6", "icmp", "udp"}),
    "nanosecond.pcap": ("pcap", [1], 4, {"udp"}),
    "malformed.pcap": ("pcap", [1], 3, {"ip", "tcp", "udp"}),
    "two-interfaces.pcapng": ("pcapng", [1, 101], 5, {"eth", "raw", "icmp", "udp"}),
    "mixed.pcapng": ("pcapng", [1], 46, {"tcp", "dns", "icmp", "icmpv6", "arp", "vlan"}),
}


def test_every_capture_in_the_folder_is_described():
    assert sorted(p.name for p in CAPTURES.glob("*.pcap*")) == sorted(SAMPLES)
    readme = (CAPTURES / "README.md").read_text()
    for name in SAMPLES:
        assert f"`{name}`" in readme, name


def test_rerunning_the_script_reproduces_the_files_byte_for_byte(tmp_path):
    spec = importlib.util.spec_from_file_location("make_captures", CAPTURES / "make_captures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in SAMPLES:
        assert (tmp_path / name).read_bytes() == (CAPTURES / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_reads_in_netdiag_and_tshark(name, require_tool):
    tshark = require_tool("tshark")
    fmt, linktypes, count, protocols = SAMPLES[name]
    path = CAPTURES / name
    with read_capture(path) as r:
        records = list(r)
        assert (r.format, r.linktypes, len(records)) == (fmt, linktypes, count)
    frames = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-e", "frame.protocols"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(frames) == count
    seen = ":".join(frames) + ":"
    for proto in protocols:
        assert f"{proto}:" in seen or f":{proto}" in seen, (name, proto, frames)
    bad = subprocess.run(
        [tshark, "-r", str(path), "-Y", MALFORMED_OR_ERROR, "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert bad == (["1", "2", "3"] if name == "malformed.pcap" else [])


def test_time_exceeded_carries_the_mpls_labels_tshark_decodes(require_tool):
    tshark = require_tool("tshark")
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(CAPTURES / "icmp-errors.pcap"),
            "-Y",
            "icmp.type==11",
            "-T",
            "fields",
            "-e",
            "icmp.mpls.label",
            "-e",
            "icmp.mpls.s",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["24001,16004", "0,1"]


def test_nanosecond_capture_keeps_nanoseconds(require_tool):
    tshark = require_tool("tshark")
    ts = [r.ts_ns % 10_000 for r in read_capture(CAPTURES / "nanosecond.pcap")]
    out = subprocess.run(
        [tshark, "-r", str(CAPTURES / "nanosecond.pcap"), "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [int(x[-4:]) for x in out] == ts
    assert ts == [6789, 6790, 7789, 8790]
