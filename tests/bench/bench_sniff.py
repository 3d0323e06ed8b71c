"""Capture cost of ``netdiag sniff -w /dev/null`` and ``tcpdump -w /dev/null``.

Builds a two-node lab (src -- dst over one veth pair; 198.18.0.0/24), floods it
with 64-byte UDP payloads (``iperf3 -u -b 0 -l 64 -t SECONDS``, client in src,
server in dst) and captures on dst's eth0, once per contender, the same flood
each time:

- ``tcpdump``                     tcpdump -i eth0 -w /dev/null
- ``netdiag``                     netdiag sniff -i eth0 -w /dev/null
- ``netdiag, filter rejects``     the same with a filter no flood packet matches,
  so the kernel drops them before they reach the ring

For each: packets captured, received by filter and dropped by kernel (the tools'
own stderr lines), and CPU seconds per million packets, where the CPU time is
the capture process's user+system time from ``wait4`` minus what it had used
when it said "listening on" (start-up is not capture cost). Needs root.
Everything lives in namespaces this script creates and removes; the flood is
bounded by iperf3's ``-t``.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from netdiag.lab.lab import Lab

SECONDS = 3
ROUNDS = 3
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
TICK = os.sysconf("SC_CLK_TCK")
# With two or more CPUs the flood (iperf3 client and server, and the softirq work of
# the veth, done in the sender's context) keeps CPU 0 and the capture gets CPU 1, so
# that the figure is the capture's own cost and not contention with the flood.
_CPUS = sorted(os.sched_getaffinity(0))
PIN_FLOOD = ["taskset", "-c", str(_CPUS[0])] if len(_CPUS) > 1 else []
PIN_CAPTURE = ["taskset", "-c", str(_CPUS[-1])] if len(_CPUS) > 1 else []


def _cpu_now(pid: int) -> float:
    """utime + stime of ``pid`` so far, from /proc (clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _has_bpf() -> bool:
    try:
        from netdiag.capture.bpf import compile_filter  # noqa: F401
    except ImportError:
        return False
    return True


def _capture(lab: Lab, argv: list[str], flood) -> dict[str, float]:
    """Run ``argv`` in dst around one flood; its counters and CPU cost."""
    proc = subprocess.Popen(["ip", "netns", "exec", lab.dst.netns, *argv], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 0.5)[0]:
                line = proc.stderr.readline()
                if "listening on" in line or not line:
                    break
        cpu0 = _cpu_now(proc.pid)
        sent = flood()
        time.sleep(0.5)  # the last block is retired within 100 ms (tcpdump: 1 s)
        if "tcpdump" in argv:
            time.sleep(1.0)
        cpu1 = _cpu_now(proc.pid)
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    counts = {}
    for what in ("captured", "received by filter", "dropped by kernel"):
        m = re.search(rf"^(\d+) packets? {what}$", err, re.M)
        counts[what] = float(m.group(1)) if m else float("nan")
    cpu = usage.ru_utime + usage.ru_stime - cpu0
    counts["cpu"] = cpu
    counts["cpu_in"] = cpu1 - cpu0
    counts["sent"] = float(sent)
    return counts


def _per_packet(c: dict[str, float]) -> float:
    seen = c["captured"] if c["captured"] > 1000 else c["sent"]
    return c["cpu_in"] / seen * 1e6 if seen else float("nan")


def make_flood(lab: Lab, seconds: int = SECONDS):
    """A function that runs one bounded flood src -> dst and returns the number of
    datagrams iperf3 says it sent."""
    dst = lab.addr("dst")

    def flood() -> int:
        server = lab.popen("dst", [*PIN_FLOOD, "iperf3", "-s", "-1", "-B", dst],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(0.3)
        out = lab.exec("src", [*PIN_FLOOD, "iperf3", "-J", "-u", "-b", "0", "-l", "64",
                               "-t", str(seconds), "-c", dst],
                       capture_output=True, text=True, timeout=seconds + 20)  # fmt: skip
        server.wait(timeout=10)
        try:
            return int(json.loads(out.stdout)["end"]["sum"]["packets"])
        except (ValueError, KeyError, TypeError):
            return 0

    return flood


def main() -> int:
    if shutil.which("tcpdump") is None or shutil.which("iperf3") is None:
        print("skipped: needs tcpdump and iperf3")
        return 0
    lab = Lab.up(f"bs{os.getpid()}", routers=0)
    try:
        flood = make_flood(lab)
        nd = [*PIN_CAPTURE, sys.executable, "-m", "netdiag", "sniff", "-i", "eth0",
              "-w", "/dev/null"]  # fmt: skip
        reject = ["udp port 9"] if _has_bpf() else ["-Q", "out"]  # kernel-side rejection
        runs = [
            ("tcpdump", [*PIN_CAPTURE, "tcpdump", "-i", "eth0", "-w", "/dev/null"]),
            ("netdiag", nd),
            (f"netdiag, filter rejects ({' '.join(reject)})", [*nd, *reject]),
        ]
        rounds = [[_capture(lab, argv, flood) for _name, argv in runs] for _ in range(ROUNDS)]
    finally:
        lab.down()
    print(
        f"capture of a {SECONDS} s iperf3 flood of 64-byte UDP over one veth pair "
        f"(2 namespaces), capturing on the receiving end, -w /dev/null, {ROUNDS} rounds"
    )
    print("CPU: user+system seconds of the capture process from 'listening on' to the end of")
    print("the flood (before the exit); us/pkt per packet captured (rejecting filter: per")
    print("packet sent). Median over the rounds; [min..max] of us/pkt.")
    print(f"  {'':37} {'sent':>8} {'captured':>8} {'by filter':>9} {'dropped':>7}"
          f" {'CPU s':>6} {'us/pkt':>7}  range")  # fmt: skip
    for i, (name, _argv) in enumerate(runs):
        per_round = [r[i] for r in rounds]
        pers = sorted(_per_packet(c) for c in per_round)
        c = sorted(per_round, key=_per_packet)[len(per_round) // 2]
        drops = max(x["dropped by kernel"] for x in per_round)
        print(f"  {name:37} {c['sent']:8.0f} {c['captured']:8.0f}"
              f" {c['received by filter']:9.0f} {drops:7.0f} {c['cpu_in']:6.2f}"
              f" {_per_packet(c):7.3f}  [{pers[0]:.3f}..{pers[-1]:.3f}]")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
