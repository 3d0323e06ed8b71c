"""``netdiag read --tcp-analysis``: the words at the end of each line are the
bracketed words tshark puts in its Info column for the same packet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
FILES = ["tcp/tcp-wrap.pcap", "tcp/tcp-zerowin.pcap", "tcp/tcp-keepalive.pcap",
         "tcp-handshake.pcap"]  # fmt: skip
WORDS = re.compile(r"\[(TCP [^]]*)\]")


def _norm(words: list[str]) -> set[str]:
    # tshark numbers a dup ACK with the frame it repeats: "TCP Dup ACK 14#2"
    return {re.sub(r"Dup ACK \d+#", "Dup ACK #", w) for w in words}


@pytest.mark.parametrize("name", FILES)
def test_the_words_are_tsharks(name, require_tool):
    tshark = require_tool("tshark")
    path = str(CAPTURES / name)
    info = subprocess.run(
        [tshark, "-r", path, "-n", "-o", "tcp.desegment_tcp_streams:FALSE",
         "-T", "fields", "-e", "_ws.col.Info"],
        capture_output=True, text=True, check=True, timeout=60, env={**os.environ, "TZ": "UTC"},
    ).stdout.splitlines()  # fmt: skip
    ours = subprocess.run([sys.executable, "-m", "netdiag", "read", "--tcp-analysis", path],
                          capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    lines = ours.stdout.splitlines()
    assert len(lines) == len(info)
    for n, (mine, theirs) in enumerate(zip(lines, info, strict=True), 1):
        expected = _norm([w for w in WORDS.findall(theirs) if "segment of a reassembled" not in w])
        assert _norm(WORDS.findall(mine)) == expected, (n, mine, theirs)


def test_json_gets_a_tcp_analysis_entry():
    path = str(CAPTURES / "tcp/tcp-wrap.pcap")
    r = subprocess.run([sys.executable, "-m", "netdiag", "read", "--json", "--tcp-analysis", path],
                       capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert all("tcp_analysis" in o for o in objs)
    assert objs[14]["tcp_analysis"] == {"flags": ["duplicate_ack"], "duplicate_ack_num": 1}
    assert "fast_retransmission" in objs[18]["tcp_analysis"]["flags"]
