"""Time in netdiag udp send/recv, in the lab: the receiver's interim lines (``-i``) and
the smoothness of the sender's pacing, seen by the kernel.

Layout: sender in src, receiver in dst. The references are the final report (the
interim lines must add up to it) and tcpdump's capture of the stream on src's
own interface, timestamped by the kernel as the datagrams leave.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from netdiag.capture.files import read_capture
from netdiag.packets import decode
from netdiag.udptest.wire import DATA, parse

pytestmark = pytest.mark.root

PY = [sys.executable, "-m", "netdiag"]
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))}
_ports = iter(range(5501, 5599))
INTERIM = re.compile(
    r"\[(?P<tid>[0-9a-f]{8})\]\s+(?P<start>[\d.]+)-\s*(?P<end>[\d.]+) s\s+(?P<pps>[\d.]+) pps\s+"
    r"received (?P<total>\d+) \(\+(?P<fresh>\d+)\)\s+lost (?P<lost>\d+)\s+dup (?P<dup>\d+)\s+"
    r"reordered (?P<reordered>\d+)"
)


def _wait_udp_port(lab, node, port):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = lab.exec(node, ["ss", "-Hlnu", f"sport = :{port}"], capture_output=True, text=True)
        if out.stdout.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {node} port {port}")


def _send(lab, port, *args):
    out = lab.exec(
        "src",
        [*PY, "udp", "send", lab.addr("dst"), "-p", str(port), "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout)


def test_interim_lines_add_up_to_the_final_report(lab):
    # 2000 datagrams/s for 2.5 s, interim lines every 0.5 s
    port = next(_ports)
    recv = lab.popen(
        "dst",
        [*PY, "udp", "recv", "-p", str(port), "--once", "-i", "0.5", "--deadline", "60"],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    _wait_udp_port(lab, "dst", port)
    sent = _send(lab, port, "--rate", "2000", "-t", "2.5", "-l", "64")
    out = recv.communicate(timeout=10)[0]
    lines = [m.groupdict() for m in map(INTERIM.search, out.splitlines()) if m]
    final = sent["received"]  # the receiver's final report, as the sender printed it
    assert sent["sender"]["sent"] == final == 5000
    assert len(lines) >= 5  # five full intervals, then the last partial one
    assert {line["tid"] for line in lines} == {f"{sent['test_id']:08x}"}
    # the intervals follow each other and their datagrams add up to the final report
    for before, after in zip(lines, lines[1:], strict=False):
        assert after["start"] == before["end"]
    assert sum(int(line["fresh"]) for line in lines) == final
    running = 0
    for line in lines:
        running += int(line["fresh"])
        assert int(line["total"]) == running
        assert line["lost"] == line["dup"] == line["reordered"] == "0"
    # plausible: a full interval inside the stream holds about 2000/s x 0.5 s datagrams
    # (generous +-25 %: interval edges are checked between socket reads, every <= 50 ms)
    full = [x for x in lines[:-1] if float(x["end"]) <= 2.4]
    assert len(full) >= 3
    for line in full:
        span = float(line["end"]) - float(line["start"])
        assert abs(int(line["fresh"]) - 2000 * span) <= 0.25 * 2000 * span, line


def _most_within(ts_ns, window_ns):
    """The largest number of timestamps in any half-open window of ``window_ns``."""
    most, lo = 0, 0
    for hi, t in enumerate(ts_ns):
        while t - ts_ns[lo] >= window_ns:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


# At 5000 datagrams/s a datagram is due every 200 us, so an evenly paced stream has
# exactly 5 in any 1 ms window. The sender keeps an absolute schedule; when it is
# late (descheduled: stalls of 1-5 ms happen on a busy 2-CPU machine) it catches up
# at no more than twice the rate (datagrams at least 100 us apart), never back to
# back. So no 1 ms holds more than 1 + 1000/100 = 11 datagrams; the bound is 12
# because the kernel's timestamps jitter by a few us around the sender's schedule
# (gaps of 98 us are seen). Before this rule, bursts of 16-27 within 1 ms were
# measured after stalls; a timer-tick sender like iperf3's (1 ms pacing timer by
# default) puts every millisecond's datagrams back to back.
RATE, PER_MS_BOUND = 5000, 12


def test_pacing_at_5000_pps_has_no_bursts_larger_than_needed(lab, tmp_path, require_tool):
    tcpdump = require_tool("tcpdump")
    port = next(_ports)
    pcap = tmp_path / "send.pcap"
    src_if = lab.node("src").interfaces[0].name
    recv = lab.popen(
        "dst",
        [*PY, "udp", "recv", "-p", str(port), "--once", "--json", "--deadline", "60"],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    _wait_udp_port(lab, "dst", port)
    cap = lab.popen(
        "src",
        [tcpdump, "-i", src_if, "-U", "-n", "--time-stamp-precision", "nano", "-w", str(pcap)]
        + ["udp", "and", "dst", "port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "listening on" in cap.stderr.readline()
    try:
        sent = _send(lab, port, "--rate", str(RATE), "-n", "5000", "-l", "64")
        recv.communicate(timeout=10)
    finally:
        time.sleep(0.2)
        cap.send_signal(signal.SIGINT)
        cap.communicate(timeout=10)
    assert sent["lost"] == 0
    stamps = []
    with read_capture(pcap) as capture:
        for rec in capture:
            p = decode(rec.data, rec.linktype)
            assert p.udp is not None
            head = parse(rec.data[p.udp.payload_offset : p.udp.end])
            if head is not None and head[0] == DATA:
                stamps.append(rec.ts_ns)
    assert len(stamps) == 5000
    # the rate the kernel saw: within 2 % of the asked one (the bound)
    rate = (len(stamps) - 1) * 1e9 / (stamps[-1] - stamps[0])
    assert abs(rate - RATE) / RATE < 0.02
    most = _most_within(stamps, 1_000_000)
    print(f"pacing at {RATE} pps: at most {most} datagrams in any 1 ms (ideal 5)")
    assert most <= PER_MS_BOUND
