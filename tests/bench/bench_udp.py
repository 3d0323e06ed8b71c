"""Highest loss-free UDP rate with 64-byte payloads: netdiag udp send/recv against
iperf3 -u -l 64, in one run, on the one veth pair of a 0-router lab (src - dst).

Each trial runs ``TRIAL_S`` seconds at an asked rate; it passes when the receiver
reports 0 lost and the sender really held the rate (measured within 2 %). The
search doubles from ``START`` until a trial fails, then bisects ``STEPS`` times;
total time is bounded by the trial count (about 60-90 s). Needs root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from netdiag.lab.lab import Lab

TRIAL_S = 2.0
START = 25_000
STEPS = 3
MAX_TRIALS = 9
PORT = 5390
PY = [sys.executable, "-m", "netdiag"]
ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def _wait_port(lab: Lab, proto: str) -> None:
    for _ in range(100):
        out = lab.exec(
            "dst", ["ss", f"-Hln{proto}", f"sport = :{PORT}"], capture_output=True, text=True
        ).stdout
        if out.strip():
            return
        time.sleep(0.05)


def netdiag_trial(lab: Lab, rate: int) -> tuple[bool, float, str]:
    recv = lab.popen(
        "dst",
        [*PY, "udp", "recv", "-p", str(PORT), "--once", "--json", "--deadline", "30"],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    _wait_port(lab, "u")
    out = lab.exec(
        "src",
        [
            *PY,
            "udp",
            "send",
            lab.addr("dst"),
            "-p",
            str(PORT),
            "-l",
            "64",
            "--rate",
            str(rate),
            "-t",
            str(TRIAL_S),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    recv.communicate(timeout=30)
    try:
        j = json.loads(out.stdout)
    except ValueError:
        return False, 0.0, out.stderr.strip()
    measured = j["sender"]["rate_pps"]
    ok = j.get("lost") == 0 and abs(measured - rate) / rate < 0.02
    return ok, measured, f"lost {j.get('lost')} ({j.get('loss_cause')}), sent {measured:.0f} pps"


def iperf3_trial(lab: Lab, rate: int) -> tuple[bool, float, str]:
    server = lab.popen(
        "dst", ["iperf3", "-s", "-1", "-J", "-p", str(PORT)], stdout=subprocess.PIPE, text=True
    )
    _wait_port(lab, "t")
    lab.exec(
        "src",
        [
            "iperf3",
            "-c",
            lab.addr("dst"),
            "-p",
            str(PORT),
            "-u",
            "-l",
            "64",
            "-b",
            str(rate * 64 * 8),
            "-t",
            str(TRIAL_S),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        udp = json.loads(server.communicate(timeout=30)[0])["end"]["streams"][0]["udp"]
    except (ValueError, KeyError, IndexError, subprocess.TimeoutExpired):
        server.kill()
        return False, 0.0, "no iperf3 report"
    measured = udp["packets"] / udp["seconds"] if udp["seconds"] else 0.0
    ok = udp["lost_packets"] == 0 and measured >= rate * 0.98
    return ok, measured, f"lost {udp['lost_packets']} of {udp['packets']}, {measured:.0f} pps"


def search(lab: Lab, trial, name: str) -> int:
    best, low, high, trials = 0, 0, None, 0
    rate = START
    while trials < MAX_TRIALS:
        ok, _measured, text = trial(lab, rate)
        trials += 1
        print(f"  {name:8s} {rate:8d} pps: {'ok  ' if ok else 'FAIL'} {text}", flush=True)
        if ok:
            best = low = rate
        else:
            high = rate
        if high is None:
            rate *= 2
        elif high - low <= max(2000, high // 2**STEPS):
            break
        else:
            rate = (low + high) // 2
    return best


def main() -> int:
    if os.geteuid() != 0:
        print("skipped: needs root to build the lab")
        return 0
    lab = Lab.up(f"bu{os.getpid()}", routers=0)
    try:
        start = time.monotonic()
        ours = search(lab, netdiag_trial, "netdiag")
        theirs = search(lab, iperf3_trial, "iperf3")
        took = time.monotonic() - start
    finally:
        lab.down()
    ratio = ours / theirs if theirs else float("nan")
    print(
        f"highest 0%-loss rate, 64-byte payload: netdiag {ours} pps, iperf3 {theirs} pps, "
        f"ratio {ratio:.2f} ({took:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
