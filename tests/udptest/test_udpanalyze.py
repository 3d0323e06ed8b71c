"""``netdiag udp analyze`` on RTP flows: captures written with netdiag's own builders
and writer, carrying an RTP stream with loss, duplicates and reordering put in on
purpose, so the truth is known exactly.

RTP header, RFC 3550 §5.1: V=2 (2 bits), P, X, CC (4), M, PT (7), sequence number
(16), timestamp (32), SSRC (32). Payload type 0 is PCMU at 8000 Hz (RFC 3551
§6): a 20 ms packet advances the timestamp by 160. Where tshark is installed, its
RTP stream analysis of the same file is a second reference: its "Pkts" counts
every copy and its "Lost" is expected minus that (so duplicates offset losses).
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys

from netdiag.capture.files import open_writer
from netdiag.packets import ethernet, ipv4, udp
from netdiag.udptest.analyze import analyze

PY = [sys.executable, "-m", "netdiag"]
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))}
SRC, DST, SPORT, DPORT = "198.18.0.1", "198.18.4.2", 40000, 5004
RTP = struct.Struct("!BBHII")  # RFC 3550 §5.1, without CSRCs
SSRC = 0x1234ABCD
PTIME_NS = 20_000_000  # one packet per 20 ms
TRANSIT_NS = 5_000_000
T0 = 1_700_000_000 * 10**9


def rtp_packet(seq: int, stamp: int, pt: int = 0) -> bytes:
    v2 = 2 << 6  # V=2, P=0, X=0, CC=0
    return RTP.pack(v2, pt & 0x7F, seq & 0xFFFF, stamp & 0xFFFFFFFF, SSRC) + b"\xff" * 160


def write_rtp_capture(path, arrivals, first_seq, first_stamp=0):
    """``arrivals``: (k, arrival ns) per packet in arrival order; packet k has sequence
    number first_seq + k (mod 2^16) and timestamp first_stamp + 160 k (mod 2^32)."""
    w = open_writer(str(path), 1, nanosecond=True)
    for k, at in arrivals:
        payload = rtp_packet(first_seq + k, first_stamp + 160 * k)
        dg = udp.build(SPORT, DPORT, payload, src=SRC, dst=DST)
        frame = ethernet.build(
            "02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, ipv4.build(SRC, DST, 17, dg)
        )
        w.write(frame, at)
    w.close()


def impaired(n, drop=(), dup=(), hold=None):
    """Arrival order of packets 0..n-1 sent every 20 ms with a constant transit: drop
    some, send some twice back to back, hold some back behind the next ``hold[k]``
    packets (each held one arrives 0.1 ms after the last packet that overtook it)."""
    hold = hold or {}
    sent = {k: T0 + k * PTIME_NS for k in range(n)}
    order: list[tuple[int, int]] = []
    waiting: dict[int, int] = {}  # held packet -> the packet after which it arrives
    for k in range(n):
        if k in drop:
            continue
        if k in hold:
            waiting[k] = k + hold[k]
            continue
        at = sent[k] + TRANSIT_NS
        order.append((k, at))
        if k in dup:
            order.append((k, at + 1000))
        for h, after in sorted(waiting.items()):
            if after == k:
                order.append((h, at + 100_000))
                del waiting[h]
    assert not waiting
    return order


def only_flow(path):
    flows = analyze(str(path))
    assert len(flows) == 1
    flow = flows[0]
    assert (flow["format"], flow["src"], flow["dport"]) == ("rtp", SRC, DPORT)
    return flow


def tshark_rtp_stream(path):
    """(packets, lost) from tshark's RTP stream analysis, or None without tshark."""
    try:
        out = subprocess.run(
            ["tshark", "-r", str(path), "-d", f"udp.port=={DPORT},rtp", "-q", "-z", "rtp,streams"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except FileNotFoundError:
        return None
    m = re.search(rf"0x{SSRC:08X}\s+\S+\s+(\d+)\s+(-?\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def test_rtp_flow_reports_exactly_the_loss_duplicates_and_reordering_put_in(tmp_path):
    # 200 packets: 10, 11, 12 and 100 lost (two loss periods, RFC 3357); 50 and 150
    # arrive twice (RFC 5560); 70 arrives after 71, 72, 73 and 120 after 121 (RFC 4737).
    pcap = tmp_path / "rtp.pcap"
    arrivals = impaired(200, drop={10, 11, 12, 100}, dup={50, 150}, hold={70: 3, 120: 1})
    write_rtp_capture(pcap, arrivals, first_seq=1000)
    f = only_flow(pcap)
    assert (f["sent"], f["received"], f["lost"]) == (200, 196, 4)
    assert f["loss_periods"] == {"count": 2, "mean": 2.0, "max": 3}
    assert f["duplicates"] == 2
    assert f["reordered"] == 2
    # RFC 4737 §4.2: 70 is 3 positions late, 120 one; §5: 70 is below each of the
    # three packets before it (71, 72, 73), 120 only below the one before it (121)
    assert (f["reorder_extent_max"], f["reorder_extent_mean"]) == (3, 2.0)
    assert f["n_reordering"] == {"1": 2, "2": 1, "3": 1}
    assert f["counter_bits"] == 16
    # iperf3 would call the two late and the two duplicate datagrams "out of order"
    assert f["out_of_order_iperf3"] == 4
    theirs = tshark_rtp_stream(pcap)
    if theirs is not None:
        assert theirs == (f["received"] + f["duplicates"], f["lost"] - f["duplicates"])


def _rfc3550_jitter_ms(arrivals, first_stamp):
    """RFC 3550 §6.4.1: J += (|D(i-1,i)| - J)/16, D from arrival times and RTP timestamps
    (in timestamp units, 8000 Hz), over packets in arrival order."""
    j, prev = 0.0, None
    for k, at in arrivals:
        transit = at * 8000 / 1e9 - (first_stamp + 160 * k)
        if prev is not None:
            j += (abs(transit - prev) - j) / 16
        prev = transit
    return j / 8000 * 1000


def test_rtp_16_bit_sequence_wrap_keeps_one_sequence_space(tmp_path):
    # numbers 65530 .. 65535, 0 .. 13 (20 packets); 0 is lost and 65535 arrives after 1;
    # the timestamp wraps its 32 bits as well
    pcap = tmp_path / "wrap.pcap"
    first_stamp = 0xFFFFFFFF - 160 * 8
    arrivals = impaired(20, drop={6}, hold={5: 2})
    assert [(65530 + k) & 0xFFFF for k, _ in arrivals][4:8] == [65534, 1, 65535, 2]
    write_rtp_capture(pcap, arrivals, first_seq=65530, first_stamp=first_stamp)
    f = only_flow(pcap)
    assert (f["sent"], f["received"], f["lost"], f["duplicates"]) == (20, 19, 1, 0)
    assert (f["reordered"], f["reorder_extent_max"]) == (1, 1)
    assert f["loss_periods"] == {"count": 1, "mean": 1.0, "max": 1}
    expected = _rfc3550_jitter_ms(arrivals, first_stamp)
    assert abs(f["jitter_ms"] - expected) < 1e-3  # no 2^16 or 2^32 jump anywhere
    # (tshark's RTP stream analysis is no reference here: with 65535 arriving after 1
    # it counts a second wrap and reports 65537 lost.)


def test_rtp_analysis_from_the_command_line(tmp_path):
    pcap = tmp_path / "rtp.pcap"
    write_rtp_capture(pcap, impaired(50, drop={20}), first_seq=7)
    out = subprocess.run(
        [*PY, "udp", "analyze", str(pcap)], capture_output=True, text=True, timeout=60, env=ENV
    )
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if " rtp " in line)
    assert row.split()[:9] == [SRC, str(SPORT), DST, str(DPORT), "rtp", "50", "49", "1", "2"]
