"""tshark's tcp.analysis fields and ours, per frame, in one shape for comparison."""

from __future__ import annotations

import os
import subprocess

from netdiag.tcpanalysis.analyze import analyze
from netdiag.tcpanalysis.flags import FLAG_FIELDS, RETRANSMITTED

# Each flag is a tshark field of the same name under tcp.analysis.
FLAG_KEYS = [key for _, key, _, _ in FLAG_FIELDS]
VALUE_KEYS = ["duplicate_ack_num", "ack_rtt", "bytes_in_flight"]


def tshark_analysis(tshark: str, path: str) -> dict[int, dict[str, object]]:
    """frame number -> {flag key: True, value key: value} for every TCP frame."""
    fields = ["frame.number", "tcp.stream"]
    fields += [f"tcp.analysis.{k}" for k in FLAG_KEYS]
    fields += [f"tcp.analysis.{k}" for k in VALUE_KEYS]
    cmd = [tshark, "-r", path, "-n", "-o", "tcp.desegment_tcp_streams:FALSE",
           "-Y", "tcp", "-T", "fields", "-E", "occurrence=f"]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, "TZ": "UTC"}).stdout  # fmt: skip
    result: dict[int, dict[str, object]] = {}
    for line in out.splitlines():
        cells = line.split("\t")
        if not cells[1]:  # TCP quoted in an ICMP error: no stream, no analysis
            continue
        frame, stream = int(cells[0]), int(cells[1])
        d: dict[str, object] = {"stream": stream}
        for k, v in zip(FLAG_KEYS, cells[2 : 2 + len(FLAG_KEYS)], strict=True):
            if v:
                d[k] = True
        dup, rtt, bif = cells[2 + len(FLAG_KEYS) :]
        if dup:
            d["duplicate_ack_num"] = int(dup)
        if rtt:
            d["ack_rtt"] = round(float(rtt), 6)
        if bif:
            d["bytes_in_flight"] = int(bif)
        result[frame] = d
    return result


def our_analysis(path: str) -> tuple[dict[int, dict[str, object]], object]:
    a = analyze(path, every=True)
    result: dict[int, dict[str, object]] = {}
    for p in a.packets:
        d: dict[str, object] = {"stream": p.stream}
        for bit, key, _, _ in FLAG_FIELDS:
            if p.flags & bit:
                d[key] = True
        if p.flags & RETRANSMITTED:  # tshark adds "retransmission" to fast and spurious ones
            d["retransmission"] = True
        if p.dupack_num:
            d["duplicate_ack_num"] = p.dupack_num
        if p.ack_rtt_ns:
            d["ack_rtt"] = round(p.ack_rtt_ns / 1e9, 6)
        if p.bytes_in_flight:
            d["bytes_in_flight"] = p.bytes_in_flight
        result[p.frame] = d
    return result, a


def differences(theirs: dict[int, dict[str, object]], ours: dict[int, dict[str, object]]
                ) -> list[tuple[int, object, object]]:  # fmt: skip
    return [(f, theirs.get(f), ours.get(f)) for f in sorted(set(theirs) | set(ours))
            if theirs.get(f) != ours.get(f)]  # fmt: skip
