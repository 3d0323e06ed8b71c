"""Filters on Wi-Fi, serial-line and firewall-log link types select what tcpdump selects.

Link types: PPP (9), PPP in HDLC framing (50), Cisco HDLC (104), 802.11 (105), Frame
Relay (107), pflog (117), SunATM (123), radiotap (127), NFLOG (239). The packets: every
corpus record of those link types (``../shared/corpus/tcpdump-tests``) and the frames
of ``tests/packets/wanframes.py`` (scapy-built where scapy has the layer).

For each (link type, expression) of the table, tcpdump is asked once, for its program
(``tcpdump -r FILE -ddd EXPR``): where tcpdump refuses, netdiag must refuse too, and
where tcpdump says "expression rejects all packets", so must netdiag (exit status 1);
otherwise tcpdump's program and ours, both run by our interpreter, give every packet
the same verdict. Then, for a few expressions, ``tcpdump -r FILE EXPR`` itself (not
its program) selects as many packets as ``netdiag read FILE EXPR`` prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netdiag.capture import read_capture
from netdiag.capture.bpf import BpfInsn, FilterError, compile_filter, run_filter
from tests.packets.wanframes import FRAMES, write_all

LINKTYPES = (9, 50, 104, 105, 107, 117, 123, 127, 239)
MAC_A1, MAC_A2, MAC_A3, MAC_A4 = (
    "00:11:22:33:44:55", "66:77:88:99:aa:bb", "cc:dd:ee:ff:00:11", "12:34:56:78:9a:bc",
)  # fmt: skip

#: Expressions across the link types: network and transport primitives behind each
#: link header, the 802.11 primitives, and ones tcpdump refuses on some link types.
EXPRESSIONS = [
    "ip", "ip6", "arp", "tcp", "udp", "icmp", "icmp6", "not ip",
    "tcp port 80", "udp port 5678", "src port 1234", "udp portrange 1000-6000",
    "host 198.18.0.1", "dst host 198.18.0.2", "net 198.18.0.0/16", "ip6 host 2001:db8::1",
    "ip broadcast", "ip multicast", "ip6 multicast", "ip proto 17", "ip6 proto 6",
    "tcp[tcpflags] & tcp-syn != 0", "icmp[icmptype] = icmp-echo", "ip[8] > 10",
    "udp[0:2] = 1234", "link[0] = 8", "len > 100", "ether proto 0x86dd",
    f"ether host {MAC_A1}", "ether broadcast", "ether multicast",
    f"wlan addr1 {MAC_A1}", f"wlan addr2 {MAC_A2}", f"wlan addr3 {MAC_A3}",
    f"wlan addr4 {MAC_A4}", f"wlan src {MAC_A2}", f"wlan dst {MAC_A1}",
    f"wlan host {MAC_A1}", f"wlan ra {MAC_A1}", f"wlan ta {MAC_A2}",
    f"wlan addr1 {MAC_A1} or {MAC_A2}",
    "type mgt", "type ctl", "type data", "type mgt subtype beacon", "subtype probe-req",
    "subtype qos-data", "type data subtype null", "subtype ack", "wlan type data",
    "dir tods", "dir nods", "dir fromds", "dir dstods", "dir 5",
    "vlan", "vlan 10 and ip", "type data and tcp port 80",
    "ip and ip6", "tcp and udp", "ip6 and ip broadcast", "type mgt and type data",
    "type foo", "subtype bogus", "type mgt subtype ack", f"ip host {MAC_A1}",
    "wlan addr1 198.18.0.1", "llc", "llc i", "llc u", "llc ui", "llc rr", "not llc",
]  # fmt: skip


def _tcpdump_program(path: Path, expr: str) -> tuple[list[BpfInsn] | None, str, int]:
    r = subprocess.run(["tcpdump", "-r", str(path), "-ddd", expr], capture_output=True, text=True)
    if r.returncode:
        return None, r.stderr.strip().splitlines()[-1], r.returncode
    lines = r.stdout.split("\n")
    prog = [BpfInsn(*map(int, line.split())) for line in lines[1 : 1 + int(lines[0])]]
    return prog, "", 0


@pytest.fixture(scope="module")
def records(tmp_path_factory, require_corpus) -> dict[int, tuple[Path, list[tuple[bytes, int]]]]:
    """Per link type: a file of that link type (for tcpdump) and every record."""
    gen = write_all(tmp_path_factory.mktemp("linktypes"))
    out: dict[int, tuple[Path, list[tuple[bytes, int]]]] = {
        lt: (gen[lt], [(b, len(b)) for _, b in FRAMES[lt]]) for lt in LINKTYPES
    }
    corpus = require_corpus("tcpdump-tests", missing_ok=True)
    if corpus is not None:
        for path in sorted(corpus.iterdir()):
            try:
                recs = list(read_capture(path))
            except Exception:  # damaged files: what was read before the damage is lost here
                continue
            for rec in recs:
                if rec.linktype in out:
                    out[rec.linktype][1].append((bytes(rec.data), rec.wirelen))
    return out


@pytest.mark.parametrize("lt", LINKTYPES)
def test_verdicts_and_refusals_equal_tcpdumps(lt, records, require_tool):
    require_tool("tcpdump")
    path, recs = records[lt]
    failures = []
    for expr in EXPRESSIONS:
        theirs, message, status = _tcpdump_program(path, expr)
        try:
            ours = compile_filter(expr, lt)
        except FilterError as e:
            if theirs is not None:
                failures.append(f"{expr!r}: tcpdump compiles it, we refuse: {e}")
            elif ("rejects all" in message) != ("rejects all packets" in str(e)):
                failures.append(f"{expr!r}: tcpdump {message!r}, we {e}")
            elif "rejects all" in message and e.exit_status != status:
                failures.append(f"{expr!r}: exit {e.exit_status}, tcpdump {status}")
            continue
        if theirs is None:
            failures.append(f"{expr!r}: tcpdump refuses ({message}), we compile it")
            continue
        for i, (data, wirelen) in enumerate(recs):
            want = run_filter(theirs, data, wirelen) != 0
            if (run_filter(ours, data, wirelen) != 0) != want:
                failures.append(f"{expr!r}: record {i} ({len(data)} bytes): tcpdump says {want}")
                break
    assert not failures, "\n".join(failures)


def test_the_table_is_not_vacuous(records):
    """Every 802.11 primitive matches some generated frame and misses another."""
    recs = records[127][1]
    wlan = [x for x in EXPRESSIONS if x.split()[0] in ("wlan", "type", "subtype", "dir")]
    for expr in wlan:
        if expr in ("dir 5", "type mgt and type data") or "foo" in expr or "bogus" in expr:
            continue  # match nothing, or refused
        if expr in ("type mgt subtype ack", "wlan addr1 198.18.0.1"):
            continue
        prog = compile_filter(expr, 127)
        hits = sum(run_filter(prog, d, n) != 0 for d, n in recs)
        assert 0 < hits < len(recs), expr


@pytest.mark.parametrize(
    "lt, expr",
    [(127, "tcp port 80"), (105, "icmp"), (9, "tcp"), (107, "ip6"), (117, "ip"),
     (123, "tcp"), (104, "ip broadcast or ip6")],
)  # fmt: skip
def test_read_selects_what_tcpdump_r_selects(lt, expr, records, require_tool):
    require_tool("tcpdump")
    path = records[lt][0]
    theirs = subprocess.run(["tcpdump", "-n", "-r", str(path), expr], capture_output=True)
    ours = subprocess.run(
        [sys.executable, "-m", "netdiag", "read", str(path), expr], capture_output=True
    )
    assert theirs.returncode == ours.returncode == 0
    n = len(theirs.stdout.splitlines())
    assert 0 < n == len(ours.stdout.splitlines())


@pytest.mark.parametrize(
    "expr", [f"wlan src {MAC_A2}", "type mgt subtype beacon", "dir fromds", "subtype ack"]
)
def test_80211_primitives_select_what_tcpdump_r_selects(expr, records, require_tool):
    """Through the API (``netdiag read`` parses with this grammar once readcli takes
    ``compiler.parse``)."""
    require_tool("tcpdump")
    path = records[127][0]
    theirs = subprocess.run(["tcpdump", "-n", "-r", str(path), expr], capture_output=True)
    assert theirs.returncode == 0
    prog = compile_filter(expr, 127)
    ours = [rec for rec in read_capture(path) if run_filter(prog, rec.data, rec.wirelen)]
    assert 0 < len(ours) == len(theirs.stdout.splitlines())


def test_rejects_all_packets_exits_1_as_tcpdump(records, require_tool):
    require_tool("tcpdump")
    path = records[104][0]
    theirs = subprocess.run(["tcpdump", "-r", str(path), "ip and ip6"], capture_output=True)
    ours = subprocess.run(
        [sys.executable, "-m", "netdiag", "read", str(path), "ip and ip6"],
        capture_output=True,
        text=True,
    )
    assert theirs.returncode == ours.returncode == 1
    assert b"expression rejects all packets" in theirs.stderr
    assert ours.stderr.strip().endswith("expression rejects all packets")
    assert len(ours.stderr.strip().splitlines()) == 1
