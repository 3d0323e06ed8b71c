"""``netdiag filter`` and ``netdiag read FILE EXPR`` from the command line.

References: tcpdump's listings (``-d``/``-dd``) where the programs coincide,
and the packets ``tcpdump -r FILE -w OUT EXPR`` keeps.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from netdiag.capture import read_capture
from netdiag.cli import main

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("expr", ["ip", "arp", "ip6 host 2001:db8::1", "vlan 100 and ip"])
@pytest.mark.parametrize("flag", ["-d", "-dd", "-ddd"])
def test_filter_prints_the_program_as_tcpdump_does(expr, flag, capsys, require_tool):
    tcpdump = require_tool("tcpdump")
    want = subprocess.run(
        [tcpdump, flag, "-y", "EN10MB", expr], capture_output=True, text=True, check=True
    ).stdout
    status, out, _ = run(capsys, "filter", flag, *expr.split())
    assert status == 0
    assert [ln.rstrip() for ln in out.splitlines()] == [ln.rstrip() for ln in want.splitlines()]


def test_filter_for_another_link_type(capsys, require_tool):
    tcpdump = require_tool("tcpdump")
    want = subprocess.run(
        [tcpdump, "-d", "-y", "RAW", "ip"], capture_output=True, text=True, check=True
    ).stdout
    status, out, _ = run(capsys, "filter", "-y", "RAW", "ip")
    assert (status, out) == (0, want)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["filter", "tcp", "port"], "netdiag: filter: unexpected end of expression at column 9\n"),
        (["filter", "-y", "NOPE", "ip"], "netdiag: filter: unknown link type 'NOPE'\n"),
        (["filter", "-y", "113", "ether", "host", "1:2:3:4:5:6"],
         "netdiag: filter: ethernet addresses are supported only on Ethernet at column 12\n"),
        (["read", str(CAPTURES / "arp.pcap"), "host", "("],
         "netdiag: filter: unexpected '(' at column 6\n"),
        (["read", str(CAPTURES / "rawip.pcap"), "vlan"],
         "netdiag: filter: no VLAN support for link type 101 at column 1\n"),
    ],
)  # fmt: skip
def test_a_bad_expression_is_one_line_and_exit_status_2(argv, message, capsys):
    status, out, err = run(capsys, *argv)
    assert (status, out, err) == (2, "", message)


def _tcpdump_positions(tcpdump: str, path: Path, expr: str, tmp: Path) -> list[int]:
    """1-based positions in ``path`` of the records tcpdump keeps for ``expr``."""
    kept = tmp / "kept.pcap"
    subprocess.run(
        [tcpdump, "-r", str(path), "-w", str(kept), expr], capture_output=True, check=True
    )
    want = [(r.ts_ns // 1000, bytes(r.data)) for r in read_capture(kept)]
    positions, i = [], 0
    for n, r in enumerate(read_capture(path), 1):
        if i < len(want) and (r.ts_ns // 1000, bytes(r.data)) == want[i]:
            positions.append(n)
            i += 1
    assert i == len(want)
    return positions


@pytest.mark.parametrize(
    ("name", "expr"),
    [
        ("mixed.pcapng", "udp or icmp6"),
        ("mixed.pcapng", "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0"),
        ("vlan.pcap", "vlan 100 and icmp"),
        ("vlan.pcap", "vlan and vlan 42"),
        ("sll2.pcap", "tcp or icmp"),
        ("ipv4-fragments.pcap", "ip[6:2] & 0x1fff = 0"),
    ],
)
def test_read_keeps_what_tcpdump_keeps_numbered_by_position_in_the_file(
    name, expr, capsys, tmp_path, require_tool
):
    tcpdump = require_tool("tcpdump")
    want = _tcpdump_positions(tcpdump, CAPTURES / name, expr, tmp_path)
    status, out, _ = run(capsys, "read", "--json", str(CAPTURES / name), *expr.split())
    assert status == 0
    assert [json.loads(ln)["n"] for ln in out.splitlines()] == want
    assert want  # not vacuous


def test_read_compiles_per_link_type_in_a_pcapng_of_several(capsys, tmp_path, require_tool):
    # tcpdump refuses such files ("an interface has a type 101 different from the type of
    # the first interface"): split them by link type and ask tcpdump about each part.
    tcpdump = require_tool("tcpdump")
    from netdiag.capture import open_writer

    path = CAPTURES / "two-interfaces.pcapng"
    parts: dict[int, list[int]] = {}
    writers = {}
    for n, r in enumerate(read_capture(path), 1):
        if r.linktype not in writers:
            writers[r.linktype] = open_writer(tmp_path / f"lt{r.linktype}.pcap", r.linktype)
        writers[r.linktype].write(r.data, n * 1000, wirelen=r.wirelen)
        parts.setdefault(r.linktype, []).append(n)
    for w in writers.values():
        w.close()
    assert len(parts) == 2
    expr = "icmp or udp port 53"
    want = []
    for lt in parts:
        kept = tmp_path / "kept.pcap"
        part = str(tmp_path / f"lt{lt}.pcap")
        subprocess.run(
            [tcpdump, "-r", part, "-w", str(kept), expr], capture_output=True, check=True
        )
        want += [r.ts_ns // 1000 for r in read_capture(kept)]
    status, out, _ = run(capsys, "read", "--json", str(path), *expr.split())
    assert status == 0
    got = [json.loads(ln)["n"] for ln in out.splitlines()]
    assert got == sorted(want)
    assert {lt for lt in parts if set(parts[lt]) & set(got)} == set(parts)  # both link types


def test_read_count_counts_the_packets_the_filter_keeps(capsys, require_tool):
    tcpdump = require_tool("tcpdump")
    path = str(CAPTURES / "mixed.pcapng")
    want = subprocess.run(
        [tcpdump, "-n", "-c", "2", "-r", path, "icmp6"], capture_output=True, text=True
    ).stdout.splitlines()
    status, out, _ = run(capsys, "read", "-c", "2", path, "icmp6")
    assert status == 0
    assert len(out.splitlines()) == len(want) == 2
    assert [ln.split()[0] for ln in out.splitlines()] == [ln.split()[0] for ln in want]
