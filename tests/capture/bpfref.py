"""tcpdump as the reference for filter verdicts, shared by the BPF oracle tests.

Records are written numbered by their timestamp (record i at i ms), so the records
``tcpdump -r FILE -w OUT EXPR`` keeps can be named by number.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from netdiag.capture import open_writer, read_capture
from netdiag.capture.bpf import BpfInsn, make_runner
from netdiag.errors import CaptureError

__all__ = ["file_records", "write_numbered", "tcpdump_selects", "tcpdump_program", "selected"]

_STEP_NS = 1_000_000


def file_records(path: Path) -> list[tuple[int, bytes, int]]:
    """(link type, data, wire length) of every record read (a damaged or foreign file:
    the records before the damage)."""
    out: list[tuple[int, bytes, int]] = []
    try:
        with read_capture(path) as reader:
            for rec in reader:
                out.append((rec.linktype, bytes(rec.data), rec.wirelen))
    except CaptureError:
        pass
    return out


def write_numbered(
    tmp: Path, by_lt: dict[int, list[tuple[bytes, int]]]
) -> dict[int, tuple[Path, list[tuple[bytes, int]]]]:
    """One pcap per link type, record i stamped i ms: link type -> (path, records)."""
    out = {}
    for lt, recs in by_lt.items():
        if not recs:
            continue
        path = tmp / f"lt{lt}.pcap"
        w = open_writer(path, lt)
        for i, (data, wirelen) in enumerate(recs):
            w.write(data, i * _STEP_NS, wirelen=max(wirelen, len(data)))
        w.close()
        out[lt] = (path, recs)
    return out


def tcpdump_selects(tcpdump: str, path: Path, expr: str, tmp: Path) -> set[int] | None:
    """Record numbers (0-based) ``tcpdump -r path expr`` selects; None if it rejects expr."""
    out = tmp / "sel.pcap"
    r = subprocess.run(
        [tcpdump, "-r", str(path), "-w", str(out), "--", expr],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if r.returncode != 0:
        return None
    return {rec.ts_ns // _STEP_NS for rec in read_capture(out)}


def tcpdump_program(tcpdump: str, path: Path, expr: str) -> list[BpfInsn]:
    """tcpdump's program for ``expr`` on the link type of ``path`` (``tcpdump -r FILE -ddd``)."""
    r = subprocess.run(
        [tcpdump, "-r", str(path), "-ddd", "--", expr], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    return [BpfInsn(*map(int, ln.split())) for ln in lines[1 : 1 + int(lines[0])]]


def selected(program: list[BpfInsn], recs: list[tuple[bytes, int]]) -> set[int]:
    """Record numbers a program keeps (run by our interpreter)."""
    run = make_runner(program)
    return {i for i, (data, wirelen) in enumerate(recs) if run(data, max(wirelen, len(data)))}
