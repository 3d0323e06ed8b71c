"""Write captures/tunnels/tunnels.pcap: tunnels and the messages a host learns its
link from, built with netdiag's own builders (see captures/tunnels/README.md).

Deterministic (fixed timestamps, addresses and fields), so a re-run writes a
byte-identical file; tests/inspect/test_tunnel_text.py checks that and compares
the file's lines with tcpdump's. Run from the repository root:

    .venv/bin/python captures/make_tunnel_captures.py [OUTDIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the netdiag of this checkout, however we are run

from netdiag.capture import PcapWriter  # noqa: E402
from netdiag.packets import (  # noqa: E402
    ethernet,
    geneve,
    gre,
    icmp,
    igmp,
    ipv4,
    ipv6,
    lldp,
    mld,
    mpls,
    tcp,
    udp,
    vrrp,
    vxlan,
)

T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14 22:13:20 UTC, in ns
MS = 1_000_000
A, B = "192.0.2.1", "192.0.2.2"  # tunnel endpoints (RFC 5737)
C, D = "198.51.100.10", "198.51.100.20"  # inside the tunnel
A6, B6 = "2001:db8::1", "2001:db8::2"
MAC_A, MAC_B, MAC_C, MAC_D = (f"02:00:00:00:00:{i:02x}" for i in (1, 2, 3, 4))


def eth(ethertype: int, payload: bytes, dst: str = MAC_B) -> bytes:
    return ethernet.build(dst, MAC_A, ethertype, payload)


def inner_echo(seq: int) -> bytes:
    return ipv4.build(C, D, 1, icmp.build_echo(0x1234, seq, b"tunnel" * 4), ident=seq)


def inner_syn() -> bytes:
    return ipv4.build(C, D, 6, tcp.build(40000, 80, seq=1000, src=C, dst=D), ident=9)


def frames() -> list[bytes]:
    out = [
        eth(0x0800, ipv4.build(A, B, 47, gre.build(0x0800, inner_echo(1)), ident=1)),
        eth(0x0800, ipv4.build(A, B, 47, gre.build(0x0800, inner_echo(2), key=42, seq=1), ident=2)),
        eth(0x0800, ipv4.build(A, B, 47, gre.build(0x0800, inner_syn(), checksum=True), ident=3)),
        eth(0x86DD, ipv6.build(A6, B6, 47, gre.build(0x0800, inner_echo(3)))),
        eth(
            0x0800,
            ipv4.build(
                A,
                B,
                47,
                gre.build(0x6558, ethernet.build(MAC_D, MAC_C, 0x0800, inner_echo(4))),
                ident=4,
            ),
        ),
    ]
    frame = ethernet.build(MAC_D, MAC_C, 0x0800, inner_echo(5))
    out.append(eth(0x0800, udp4(A, B, 40001, vxlan.PORT, vxlan.build(5001, frame), 5)))
    opt = geneve.build_option(0x0102, 0x80, b"\x00\x00\x00\x01")
    out.append(
        eth(
            0x0800,
            udp4(A, B, 40002, geneve.PORT, geneve.build(10, 0x0800, inner_syn(), options=opt), 6),
        )
    )
    out.append(eth(0x8847, mpls.build([(16004, 0, 63), (24001, 5, 63)], inner_echo(6))))
    g = "239.1.2.3"
    ra = b"\x94\x04\x00\x00"  # router alert (RFC 2113)
    out.append(
        eth(
            0x0800,
            ipv4.build(A, "224.0.0.1", 2, igmp.build_v3_query(), ttl=1, tos=0xC0, options=ra),
        )
    )
    out.append(eth(0x0800, ipv4.build(A, g, 2, igmp.build(0x16, g), ttl=1, tos=0xC0, options=ra)))
    report = igmp.build_v3_report([(4, g, ()), (1, "239.1.2.4", ("192.0.2.9",))])
    out.append(eth(0x0800, ipv4.build(A, "224.0.0.22", 2, report, ttl=1, tos=0xC0, options=ra)))
    hbh = ipv6.build_extension(58, b"\x05\x02\x00\x00")  # router alert: MLD (RFC 2711)
    body = mld.build_v2_report([(4, "ff05::1:3", ())], src="fe80::1", dst="ff02::16")
    out.append(eth(0x86DD, ipv6.build("fe80::1", "ff02::16", 0, hbh + body, hop_limit=1)))
    q = mld.build(130, "::", 10000, src="fe80::1", dst="ff02::1")
    out.append(eth(0x86DD, ipv6.build("fe80::1", "ff02::1", 0, hbh + q, hop_limit=1)))
    adv = vrrp.build(3, 7, 200, ["192.0.2.254"], interval=100, src=A, dst="224.0.0.18")
    out.append(eth(0x0800, ipv4.build(A, "224.0.0.18", 112, adv, ttl=255)))
    pdu = lldp.build(MAC_A, "eth0", 120, system_name="switch-1", port_vlan=100)
    out.append(eth(0x88CC, pdu, dst="01:80:c2:00:00:0e"))
    return out


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes, ident: int) -> bytes:
    return ipv4.build(src, dst, 17, udp.build(sport, dport, payload, src=src, dst=dst), ident=ident)


def main(outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    with PcapWriter(outdir / "tunnels.pcap", 1) as w:
        for i, frame in enumerate(frames()):
            w.write(frame.ljust(60, b"\0"), T0 + i * MS)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "tunnels")
