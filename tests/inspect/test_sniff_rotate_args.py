"""``sniff``'s rotation options refused as tcpdump refuses them, in netdiag's way:
one line on stderr and exit 2, before any socket is opened (so no root needed).

tcpdump says ``-C without -w`` style errors for these too (exit 1 there); the
words are ours, the refusals are its: a size that is not a whole number of MB (or
of k/m/g units, tcpdump 4.99.4+), rotation without a file, rotation to standard
output. ``-W`` alone, which tcpdump ignores, is refused here rather than ignored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}

CASES = [
    (["-C", "1.5", "-w", "x.pcap"], "invalid file size"),
    (["-C", "10x", "-w", "x.pcap"], "invalid file size"),
    (["-C", "0", "-w", "x.pcap"], "invalid file size"),
    (["-C", "10"], "-C needs -w FILE"),
    (["-G", "60"], "-G needs -w FILE"),
    (["-W", "3", "-w", "x.pcap"], "-W needs -C or -G"),
    (["-G", "0", "-w", "x.pcap"], "invalid rotation seconds"),
    (["-C", "10", "-w", "-"], "not standard output"),
]


@pytest.mark.parametrize(("argv", "words"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_rotation_arguments_refused_in_one_line_with_status_2(tmp_path, argv, words):
    done = subprocess.run([sys.executable, "-m", "netdiag", "sniff", "-i", "lo", *argv],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path,
                          timeout=30)  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert not list(tmp_path.iterdir())  # nothing was created
