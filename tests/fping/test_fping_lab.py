"""netdiag fping in the namespace lab, side by side with fping 5.1 on the same targets.

The lab: src - r1 - dst (link 0: 198.18.0.0/24, link 1: 198.18.1.0/24); dst gets the
even addresses 198.18.1.4 .. .254 besides its own .2, and r1 holds .1, so half of
198.18.1.0/24 answers (128 alive, 126 silent: r1's ARP for them fails). Every run is
bounded (-r 0 / -c N, timeouts of at most 500 ms, a subprocess timeout).
"""

from __future__ import annotations

import re

import pytest
from fpinglab import ALIVE, SUMMARY, both, nft, ours, parse, theirs

pytestmark = pytest.mark.root


def test_sweep_of_a_half_alive_24_finds_fpings_alive_and_unreachable_sets(half, require_tool):
    require_tool("fping")
    a, b = both(half, "-a", "-r", "0", "-t", "500", "-i", "1", "-g", "198.18.1.0/24")
    assert set(a.stdout.split()) == set(b.stdout.split()) == ALIVE
    assert a.returncode == b.returncode == 1
    a, b = both(half, "-u", "-r", "0", "-t", "300", "-i", "1", "-g", "198.18.1.0/24")
    unreachable = {f"198.18.1.{i}" for i in range(1, 255)} - ALIVE
    assert set(a.stdout.split()) == set(b.stdout.split()) == unreachable
    # fping prints the unreachable ones at the end in the order given
    assert a.stdout.split() == b.stdout.split()


def test_default_output_says_alive_and_unreachable_as_fping(half, require_tool):
    require_tool("fping")
    argv = ("-r", "1", "-t", "300", "198.18.1.2", "198.18.1.3", "198.18.1.4")
    a, b = both(half, *argv)
    assert (
        a.stdout.splitlines()
        == b.stdout.splitlines()
        == ["198.18.1.2 is alive", "198.18.1.4 is alive", "198.18.1.3 is unreachable"]
    )
    assert a.returncode == b.returncode == 1
    a, b = both(half, "-e", "198.18.1.2")
    shape = re.compile(r"^198\.18\.1\.2 is alive \([\d.]+ ms\)$")
    assert shape.match(a.stdout.strip()) and shape.match(b.stdout.strip())
    assert a.returncode == b.returncode == 0


_REPLY = re.compile(r"^(?P<name>\S+) *: \[(?P<i>\d+)\], "
                    r"(?:(?P<bytes>\d+) bytes, [\d.]+ ms|timed out)"
                    r" \((?:[\d.]+|NaN) avg, (?P<loss>\d+)% loss\)$")  # fmt: skip


def test_count_mode_lines_and_summaries_match_fpings(half, require_tool):
    require_tool("fping")
    names = ["198.18.1.2", "198.18.1.3", "198.18.0.2", "198.18.1.100"]
    a, b = both(half, "-c", "3", "-p", "20", "-t", "300", *names)
    ra, rb = parse(_REPLY, a.stdout), parse(_REPLY, b.stdout)
    key = sorted((r["name"], r["i"], r["bytes"], r["loss"]) for r in ra)
    assert key == sorted((r["name"], r["i"], r["bytes"], r["loss"]) for r in rb)
    sa, sb = parse(SUMMARY, a.stderr), parse(SUMMARY, b.stderr)
    assert [(s["name"], s["x"], s["r"], s["l"]) for s in sa] == \
        [(s["name"], s["x"], s["r"], s["l"]) for s in sb]  # fmt: skip
    # names padded to the longest, as fping pads them
    width = [ln.index(" :") for ln in a.stderr.splitlines() if " : " in ln]
    assert width == [ln.index(" :") for ln in b.stderr.splitlines() if " : " in ln]
    assert a.returncode == b.returncode == 1


def test_C_lines_parse_as_fpings(half, require_tool):
    require_tool("fping")
    names = ["198.18.1.2", "198.18.1.5", "198.18.1.10", "198.18.0.2"]
    a, b = both(half, "-q", "-C", "4", "-p", "20", "-t", "300", *names)
    line = re.compile(r"^(\S+) *: ((?:[\d.]+|-)(?: (?:[\d.]+|-))*)$")

    def cells(text: str) -> dict[str, list[str]]:
        out = {}
        for ln in text.splitlines():
            m = line.match(ln)
            assert m, ln
            out[m.group(1)] = ["-" if c == "-" else "rtt" for c in m.group(2).split()]
        return out

    assert cells(a.stderr) == cells(b.stderr)
    assert cells(a.stderr)["198.18.1.5"] == ["-"] * 4
    assert cells(a.stderr)["198.18.1.10"] == ["rtt"] * 4
    assert a.stdout == b.stdout == ""


def _dropped(lab) -> int:
    text = nft(lab, "r1", "list", "chain", "inet", "ndtest", "probe")
    return int(re.search(r"counter packets (\d+)", text).group(1))


def test_loss_on_a_link_is_what_the_nft_rule_dropped(half, require_tool):
    require_tool("fping")
    nft(half, "r1", "add", "table", "inet", "ndtest")
    nft(half, "r1", "add chain inet ndtest probe { type filter hook forward priority 0 ; }")
    nft(half, "r1", "add rule inet ndtest probe ip daddr { 198.18.1.2, 198.18.1.4 } "
         "icmp type echo-request numgen random mod 100 < 25 counter drop")  # fmt: skip
    for run in (ours, theirs):
        before = _dropped(half)
        done = run(half, "-q", "-c", "40", "-p", "10", "-i", "1", "-t", "300", "198.18.1.2",
                   "198.18.1.4")  # fmt: skip
        dropped = _dropped(half) - before
        rows = parse(SUMMARY, done.stderr)
        lost = sum(int(r["x"]) - int(r["r"]) for r in rows)
        assert [int(r["x"]) for r in rows] == [40, 40]
        assert lost == dropped, (run.__name__, done.stderr)
        assert 0 < dropped < 80


def test_icmp_errors_from_a_router_in_fpings_words(half, require_tool):
    require_tool("fping")
    nft(half, "r1", "add", "table", "inet", "ndtest")
    nft(half, "r1", "add chain inet ndtest probe { type filter hook forward priority 0 ; }")
    nft(half, "r1", "add rule inet ndtest probe ip daddr 198.18.1.77 reject with icmp type "
         "host-prohibited")  # fmt: skip
    a, b = both(half, "-r", "1", "-t", "300", "198.18.1.77", "198.18.1.2")
    assert a.stderr.splitlines() == b.stderr.splitlines()
    assert a.stderr.splitlines()[0] == (
        "ICMP Unreachable (Communication with Host Prohibited)"
        " from 198.18.0.2 for ICMP Echo sent to 198.18.1.77"
    )
    assert a.stdout == b.stdout
    assert a.returncode == b.returncode == 1


def test_statistics_block_has_fpings_lines(half, require_tool):
    require_tool("fping")
    a, b = both(half, "-s", "-r", "0", "-t", "300", "198.18.1.2", "198.18.1.3")

    def labels(text: str) -> list[str]:
        return [re.sub(r"[\d.]+", "N", ln).strip() for ln in text.splitlines()
                if ln.strip() and "ICMP Host" not in ln]  # fmt: skip

    assert labels(a.stderr) == labels(b.stderr)
    counts = re.compile(r"^ +(\d+) (targets|alive|unreachable|unknown addresses|ICMP Echos sent)$")

    def numbers(text: str) -> dict[str, str]:
        return {m.group(2): m.group(1) for ln in text.splitlines() if (m := counts.match(ln))}

    assert numbers(a.stderr) == numbers(b.stderr)


def test_exit_statuses_as_fpings(half, require_tool):
    require_tool("fping")
    a, b = both(half, "-c", "1", "-t", "300", "198.18.1.2", "bad..name")
    assert a.returncode == b.returncode == 2  # a name not found
    assert a.stderr.startswith("bad..name: ")
    a, b = both(half, "-S", "198.18.99.1", "198.18.1.2")
    assert a.returncode == b.returncode == 4  # a system call failed (bind)
    assert "cannot bind source address" in a.stderr
    a, b = both(half, "-x", "2", "-r", "0", "-t", "300", "198.18.1.2", "198.18.1.3",
                "198.18.1.4")  # fmt: skip
    assert a.stdout == b.stdout == "Enough hosts reachable (required: 2, reachable: 2)\n"
    assert a.returncode == b.returncode == 0
    bad = ours(half, "-B", "9", "198.18.1.2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1  # netdiag's usage status


def test_tcp_and_udp_probes_answer_for_a_closed_port(half):
    tcp = ours(half, "--tcp", "9", "-c", "2", "-p", "20", "-t", "300", "198.18.1.2",
               "198.18.1.3")  # fmt: skip
    rows = {r["name"]: r for r in parse(SUMMARY, tcp.stderr)}
    assert (rows["198.18.1.2"]["r"], rows["198.18.1.3"]["r"]) == ("2", "0")  # RST / silence
    udp = ours(half, "--udp", "9", "-c", "2", "-p", "20", "-t", "300", "198.18.1.2")
    assert parse(SUMMARY, udp.stderr)[0]["r"] == "2"  # port unreachable from the host
