"""``mpls [label]``, ``geneve [vni]``, ``vrrp`` and ``pim`` select what tcpdump selects.

The packets: the tunnel files of ``../shared/corpus/tcpdump-tests/`` (MPLS, Geneve,
VRRP, PIM, and VXLAN/LDP/LLDP as near misses), ``captures/tunnels/tunnels.pcap``,
and frames built here with scapy (label stacks with and without the bottom-of-stack
bit, MPLS after a VLAN tag, Geneve with and without options, over IPv4 and IPv6,
carrying Ethernet or bare IP, version 1, the wrong VNI, source port only, a
fragment; VRRP over IPv4 and IPv6; PIM over IPv4, IPv6 and through a fragment
header). They are merged into one pcap per link type (Ethernet, Linux cooked,
PPP, and the corpus's NULL and Frame Relay records), record i stamped i ms.
For each expression and link type the reference is the set of records
``tcpdump -r FILE -w OUT EXPR`` keeps; our program must keep
the same set, and so must tcpdump's own program (``-ddd``) run through our
interpreter. Where tcpdump refuses the expression for a link type, we refuse it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bpfref import file_records, selected, tcpdump_program, tcpdump_selects, write_numbered

from netdiag.capture.bpf import FilterError, compile_filter
from netdiag.cli import main

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
CORPUS_WORDS = ("mpls", "geneve", "vrrp", "pim", "vxlan", "ldp")

EXPRESSIONS = [
    "mpls",
    "mpls 100",
    "mpls 16004",
    "mpls and ip",
    "mpls and ip6",
    "mpls 100 and udp port 53",
    "mpls and host 198.18.0.1",
    "mpls and mpls",
    "mpls and mpls and ip",
    "mpls 100 and mpls 200 and tcp",
    "mpls or ip",
    "not mpls",
    "vlan and mpls",
    "vlan 10 and mpls 100 and icmp",
    "mpls and arp",
    "mpls and vlan",
    "mpls and ether proto 0x800",
    "mpls 1048576",
    "geneve",
    "geneve 42",
    "geneve 10",
    "geneve and ip",
    "geneve and ip6",
    "geneve and tcp port 80",
    "geneve 42 and udp",
    "geneve and ether host 02:00:00:00:00:02",
    "geneve and ether broadcast",
    "geneve and vlan",
    "geneve and mpls and ip",
    "geneve and tcp[13] & 2 != 0",
    "geneve and ether[12:2] = 0x800",
    "not geneve",
    "vlan and geneve",
    "geneve and geneve",
    "geneve and geneve and ip",
    "geneve 16777216",
    "vrrp",
    "pim",
    "not vrrp",
    "vrrp or pim",
    "ip and pim",
    "ip6 and pim",
    "ip proto pim",
    "host pim",
]


# -- the packets -------------------------------------------------------------------------


def _scapy_frames() -> list[bytes]:
    from scapy.contrib.geneve import GENEVE
    from scapy.contrib.mpls import MPLS
    from scapy.contrib.pim import PIMv2Hdr
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.layers.vrrp import VRRP, VRRPv3
    from scapy.packet import Raw

    a, b = "198.18.0.1", "198.18.0.2"
    a6, b6 = "2001:db8::1", "2001:db8::2"
    m1, m2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
    eth = Ether(src=m1, dst=m2)
    inner = Ether(src=m2, dst=m1) / IP(src=b, dst=a) / TCP(dport=80, flags="S")
    inner_bcast = Ether(src=m2, dst="ff:ff:ff:ff:ff:ff") / IP(src=b, dst=a) / UDP(dport=9)
    pkts = [
        eth / MPLS(label=100, s=1) / IP(src=a, dst=b) / UDP(dport=53),
        eth / MPLS(label=100, s=1) / IP(src=b, dst=a) / UDP(sport=53, dport=4000),
        eth / MPLS(label=101, s=1) / IP(src=a, dst=b) / UDP(dport=53),
        eth / MPLS(label=100, s=0) / MPLS(label=200, s=1) / IP(src=a, dst=b) / TCP(),
        eth / MPLS(label=100, s=0) / MPLS(label=201, s=1) / IP(src=a, dst=b) / TCP(),
        eth / MPLS(label=100, s=0) / IP(src=a, dst=b) / UDP(dport=53),  # no bottom
        eth / MPLS(label=5, s=1) / IPv6(src=a6, dst=b6) / UDP(dport=53),
        eth / MPLS(label=5, s=1) / Raw(b"\x00" * 40),
        eth / Dot1Q(vlan=10) / MPLS(label=100, s=1) / IP(src=a, dst=b) / ICMP(),
        eth / Dot1Q(vlan=11) / MPLS(label=100, s=1) / IP(src=a, dst=b) / ICMP(),
        Ether(src=m1, dst=m2, type=0x8848) / MPLS(label=100, s=1) / IP(src=a, dst=b),
        eth / IP(src=a, dst=b) / UDP(sport=1234, dport=6081) / GENEVE(vni=42, proto=0x6558) / inner,
        eth / IP(src=a, dst=b) / UDP(dport=6081) / GENEVE(vni=43, proto=0x6558) / inner,
        eth / IP(src=a, dst=b) / UDP(dport=6081) / GENEVE(vni=42, proto=0x6558) / inner_bcast,
        eth
        / IP(src=a, dst=b)
        / UDP(dport=6081)
        / GENEVE(vni=42, proto=0x6558, optionlen=2, options=b"\x01\x02\x03\x01\xaa\xbb\xcc\xdd")
        / inner,
        eth / IP(src=a, dst=b) / UDP(dport=6081) / GENEVE(vni=42, proto=0x0800) / inner.payload,
        eth
        / IP(src=a, dst=b)
        / UDP(dport=6081)
        / GENEVE(vni=7, proto=0x86DD)
        / IPv6(dst=b6)
        / TCP(dport=80),
        eth / IPv6(src=a6, dst=b6) / UDP(dport=6081) / GENEVE(vni=42, proto=0x6558) / inner,
        eth / IP(src=a, dst=b) / UDP(dport=6081) / GENEVE(version=1, vni=42, proto=0x6558) / inner,
        eth / IP(src=a, dst=b) / UDP(sport=6081, dport=999) / GENEVE(vni=42, proto=0x6558) / inner,
        eth / IP(src=a, dst=b, frag=5) / UDP(dport=6081) / GENEVE(vni=42, proto=0x6558) / inner,
        eth
        / IP(src=a, dst=b)
        / UDP(dport=6081)
        / GENEVE(vni=42, proto=0x6558)
        / Ether(src=m2, dst=m1)
        / Dot1Q(vlan=3)
        / IP(dst=a)
        / TCP(dport=80),
        eth
        / IP(src=a, dst=b)
        / UDP(dport=6081)
        / GENEVE(vni=42, proto=0x8847)
        / MPLS(label=9, s=1)
        / IP(dst=a),
        eth / IP(src=a, dst="224.0.0.18", ttl=255) / VRRP(vrid=7, priority=200, addrlist=[a]),
        eth / IPv6(src=a6, dst="ff02::12") / VRRPv3(vrid=7, priority=200, addrlist=[a6]),
        eth / IP(src=a, dst="224.0.0.13") / PIMv2Hdr(),
        eth / IPv6(src=a6, dst="ff02::d") / PIMv2Hdr(),
        eth / IPv6(src=a6, dst="ff02::d") / IPv6ExtHdrFragment(nh=103) / PIMv2Hdr(),
        eth / IP(src=a, dst=b) / UDP(dport=53),
        eth / ARP(psrc=a, pdst=b),
    ]
    return [bytes(p) for p in pkts]


@pytest.fixture(scope="module")
def merged(tmp_path_factory, require_corpus) -> dict[int, tuple[Path, list[tuple[bytes, int]]]]:
    by_lt: dict[int, list[tuple[bytes, int]]] = {lt: [] for lt in (1, 113, 9, 0, 107)}
    files = [CAPTURES / "tunnels" / "tunnels.pcap"]
    corpus = require_corpus("tcpdump-tests", missing_ok=True)
    if corpus is not None:
        files += sorted(
            p for p in corpus.iterdir() if any(w in p.name.lower() for w in CORPUS_WORDS)
        )
    for path in files:
        for lt, data, wirelen in file_records(path):
            if lt in by_lt:
                by_lt[lt].append((data, wirelen))
    for frame in _scapy_frames():
        by_lt[1].append((frame, len(frame)))
        if frame[12:14] in (b"\x08\x00", b"\x86\xdd"):  # the same IP packet, cooked
            sll = b"\x00\x00\x00\x01\x00\x06" + frame[6:12] + b"\x00\x00" + frame[12:14]
            by_lt[113].append((sll + frame[14:], len(frame) + 2))
        if frame[12:14] == b"\x88\x47":  # MPLS over PPP
            ppp = b"\xff\x03\x02\x81" + frame[14:]
            by_lt[9].append((ppp, len(ppp)))
    return write_numbered(tmp_path_factory.mktemp("tunnels"), by_lt)


# -- the reference -----------------------------------------------------------------------


def test_the_packets_hold_every_tunnel(merged, require_tool, tmp_path):
    tcpdump = require_tool("tcpdump")
    path, recs = merged[1]
    for expr in ("mpls", "mpls and mpls", "geneve", "vrrp", "pim", "not mpls"):
        assert tcpdump_selects(tcpdump, path, expr, tmp_path), expr


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_filter_selects_what_tcpdump_selects(expr, merged, require_tool, tmp_path):
    tcpdump = require_tool("tcpdump")
    for lt, (path, recs) in merged.items():
        want = tcpdump_selects(tcpdump, path, expr, tmp_path)
        if want is None:
            with pytest.raises(FilterError):
                compile_filter(expr, lt)
            continue
        try:
            ours = compile_filter(expr, lt)
        except FilterError as e:
            pytest.fail(f"tcpdump compiles {expr!r} for link type {lt}, we say: {e}")
        assert selected(ours, recs) == want, (expr, lt)
        assert selected(tcpdump_program(tcpdump, path, expr), recs) == want, (expr, lt)


@pytest.mark.root
def test_the_kernel_accepts_the_programs():
    """Linux checks that scratch memory is written before it is read: Geneve's is."""
    import socket

    from netdiag.capture.bpf.kernel import attach_filter

    for expr in ("geneve and tcp port 80", "geneve and geneve and ip", "mpls and mpls and ip"):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # never bound: sees nothing
        try:
            attach_filter(s, compile_filter(expr, 1))
        finally:
            s.close()


@pytest.mark.parametrize("expr", ["mpls 100 and udp", "geneve 42 and tcp port 80", "vrrp", "pim"])
def test_filter_command_prints_the_program(expr, capsys):
    assert main(["filter", "-d", expr]) == 0
    out = capsys.readouterr().out
    assert out.startswith("(000) ") and "ret" in out


def test_filter_command_refuses_what_tcpdump_refuses(capsys):
    assert main(["filter", "-d", "mpls and vlan"]) == 2
    err = capsys.readouterr().err
    assert "no VLAN match after MPLS" in err and "Traceback" not in err
