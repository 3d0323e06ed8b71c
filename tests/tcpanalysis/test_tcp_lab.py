"""``tcp analyze`` on real connections, side by side with tshark.

A one-router lab; the router drops some of one connection's packets with an nft
rule of this test's own (random, 8% of the data, 4% of the ACKs), so the
kernel's TCP really retransmits. The other connections of ``tcpan_traffic.py``
show a receiver that stops reading (zero window), keep-alives, an abort (RST)
and a transfer over IPv6. tcpdump captures on src; every segment's flags and
every connection's counts must be tshark's on the same file.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from netdiag.tcpanalysis.analyze import analyze

sys.path.insert(0, str(Path(__file__).parent))
from test_tcp_captures import assert_like_tshark  # noqa: E402

HERE = Path(__file__).parent
TABLE = "ndtcpan"
DROPS = f"""table inet {TABLE} {{
  chain drops {{
    type filter hook forward priority 0;
    tcp dport 5001 numgen random mod 100 < 8 drop
    tcp sport 5001 numgen random mod 100 < 4 drop
    tcp dport 5005 numgen random mod 100 < 8 drop
  }}
}}
"""


@pytest.mark.root
def test_real_connections_are_analysed_as_tshark_does(make_lab, require_tool, tmp_path):
    tshark = require_tool("tshark")
    tcpdump = require_tool("tcpdump")
    lab = make_lab(routers=1)
    dst, dst6 = lab.addr("dst"), lab.addr("dst", 6)
    lab.exec("r1", ["nft", "-f", "-"], input=DROPS, text=True, check=True, timeout=10)
    try:
        for node in ("src", "dst"):  # segments as sent, not merged by offloads
            lab.exec(node, ["ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off"],
                     capture_output=True, timeout=10)  # fmt: skip
        pcap = tmp_path / "lab.pcap"
        cap = lab.popen("src", [tcpdump, "-i", "eth0", "-U", "--immediate-mode", "-n", "-w",
                                  str(pcap), "tcp"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            assert b"listening" in cap.stderr.readline()  # type: ignore[union-attr]
            traffic = str(HERE / "tcpan_traffic.py")
            server = lab.popen("dst", [sys.executable, traffic, "server", dst, dst6],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            lab.exec("src", [sys.executable, traffic, "client", dst, dst6],
                     check=True, timeout=60, capture_output=True)  # fmt: skip
            server.wait(timeout=30)
            time.sleep(0.3)  # the last packets reach tcpdump
        finally:
            cap.terminate()
            cap.wait(timeout=10)
    finally:
        lab.exec("r1", ["nft", "delete", "table", "inet", TABLE], timeout=10)

    assert_like_tshark(tshark, pcap)
    a = analyze(str(pcap))
    by_port = {c.b.port: c for c in a.connections}
    assert sorted(by_port) == [5001, 5002, 5003, 5004, 5005]
    bulk = by_port[5001]
    assert bulk.a.payload_bytes >= 600_000 and bulk.a.retransmitted > 0
    assert bulk.counts["duplicate_ack"] > 0 and bulk.b.sack_blocks > 0
    assert bulk.a.goodput_bps and bulk.initial_rtt_ms and bulk.a.ack_rtt_count > 0
    assert bulk.end == "FIN"
    zw = by_port[5002]
    assert zw.counts["zero_window"] > 0 and zw.b.zero_window_s > 0.5
    assert by_port[5003].counts["keep_alive"] >= 2 and by_port[5003].counts["keep_alive_ack"] >= 2
    assert by_port[5004].end == "RST"
    v6 = by_port[5005]
    assert ":" in v6.a.address and v6.a.payload_bytes >= 200_000 and v6.a.retransmitted > 0
