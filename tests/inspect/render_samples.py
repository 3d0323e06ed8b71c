"""Sample frames for the renderer tests, built with netdiag's own builders
(``conftest.sample_pcap`` writes them to a pcap file once per session).

Each sample is (name, linktype, frame). They cover the lines tcpdump -n prints for
the common protocols: a TCP connection with options, UDP, ICMP echo and errors
(with a quoted datagram and RFC 4950 MPLS extensions), ARP, ICMPv6 echo, Neighbor
Discovery and errors, VLAN tags, fragments, tunnels and a truncated segment.
"""

from __future__ import annotations

from pathlib import Path

from netdiag.capture.files import open_writer
from netdiag.packets import arp, ethernet, icmp, icmpext, icmpv6, ipv4, ipv6, tcp, udp

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
A4, B4, R4 = "198.18.0.1", "198.18.3.2", "198.18.1.2"
A6, B6, R6 = "2001:db8::1", "2001:db8::2", "2001:db8:1::9"
T0_NS = 1_700_000_000_123_456_000


def _eth(payload: bytes, ethertype: int = 0x0800, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    return ethernet.build(MAC_B, MAC_A, ethertype, payload, vlans)


def _tcp4(src: str, dst: str, sport: int, dport: int, **kw: object) -> bytes:
    seg = tcp.build(sport, dport, src=src, dst=dst, **kw)  # type: ignore[arg-type]
    return _eth(ipv4.build(src, dst, 6, seg, ident=1, df=True))


def _udp4(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return ipv4.build(src, dst, 17, udp.build(sport, dport, payload, src=src, dst=dst), ttl=1)


def _icmp4(src: str, dst: str, msg: bytes, ttl: int = 64) -> bytes:
    return _eth(ipv4.build(src, dst, 1, msg, ttl=ttl))


def _icmp6(src: str, dst: str, t: int, code: int, rest: int, body: bytes) -> bytes:
    return _eth(
        ipv6.build(src, dst, 58, icmpv6.build(t, code, rest, body, src, dst), hop_limit=255), 0x86DD
    )


def build_samples() -> list[tuple[str, int, bytes]]:
    syn_opts = tcp.build_options([(2, 1460), (4, None), (8, (1, 0)), (1, None), (3, 7)])
    ts_opts = tcp.build_options([(1, None), (1, None), (8, (5, 1))])
    probe = _udp4(A4, B4, 45000, 33434, b"\x00" * 12)
    probe6 = ipv6.build(A6, B6, 17, udp.build(45000, 33434, b"x" * 8, src=A6, dst=B6), hop_limit=1)
    mpls = icmpext.build_extensions([icmpext.build_mpls_object([(16004, 0, True, 1)])])
    big = ipv4.build(A4, B4, 17, udp.build(5000, 6000, b"z" * 1400, src=A4, dst=B4))
    frag1 = ipv4.build(A4, B4, 17, big[20:1004], ident=77, mf=True)
    frag2 = ipv4.build(A4, B4, 17, big[1004:], ident=77, frag_offset=984)
    trunc = _tcp4(A4, B4, 1000, 80, flags=tcp.SYN)[: 14 + 20 + 12]
    return [
        ("tcp syn", 1, _tcp4(A4, B4, 45678, 80, seq=1000, flags=tcp.SYN, options=syn_opts)),
        (
            "tcp syn-ack",
            1,
            _tcp4(
                B4,
                A4,
                80,
                45678,
                seq=5000,
                ack=1001,
                flags=tcp.SYN | tcp.ACK,
                options=syn_opts,
                window=65160,
            ),
        ),
        (
            "tcp ack",
            1,
            _tcp4(
                A4, B4, 45678, 80, seq=1001, ack=5001, flags=tcp.ACK, options=ts_opts, window=502
            ),
        ),
        (
            "tcp data",
            1,
            _tcp4(
                A4,
                B4,
                45678,
                80,
                seq=1001,
                ack=5001,
                flags=tcp.PSH | tcp.ACK,
                payload=b"GET / HTTP/1.0\r\n\r\n",
            ),
        ),
        (
            "tcp data back",
            1,
            _tcp4(
                B4, A4, 80, 45678, seq=5001, ack=1019, flags=tcp.PSH | tcp.ACK, payload=b"x" * 100
            ),
        ),
        ("tcp fin", 1, _tcp4(A4, B4, 45678, 80, seq=1019, ack=5101, flags=tcp.FIN | tcp.ACK)),
        ("tcp rst", 1, _tcp4(B4, A4, 80, 45678, seq=5101, flags=tcp.RST)),
        (
            "tcp urg",
            1,
            _tcp4(
                A4,
                B4,
                2000,
                23,
                seq=7,
                ack=9,
                flags=tcp.URG | tcp.ACK | tcp.PSH,
                urgent=3,
                payload=b"abc",
            ),
        ),
        ("udp", 1, _eth(_udp4(A4, B4, 40000, 5001, b"hello world"))),
        ("icmp echo request", 1, _icmp4(A4, B4, icmp.build_echo(1, 1, b"p" * 56))),
        ("icmp echo reply", 1, _icmp4(B4, A4, icmp.build_echo(1, 1, b"p" * 56, reply=True))),
        ("icmp time exceeded", 1, _icmp4(R4, A4, icmp.build_error(11, 0, probe))),
        (
            "icmp time exceeded mpls",
            1,
            _icmp4(R4, A4, icmp.build_error(11, 0, probe, extensions=mpls)),
        ),
        ("icmp port unreachable", 1, _icmp4(B4, A4, icmp.build_error(3, 3, probe))),
        ("icmp host unreachable", 1, _icmp4(R4, A4, icmp.build_error(3, 1, probe))),
        ("icmp need frag", 1, _icmp4(R4, A4, icmp.build_error(3, 4, probe, mtu=1400))),
        ("icmp admin prohibited", 1, _icmp4(R4, A4, icmp.build_error(3, 13, probe))),
        ("icmp reassembly", 1, _icmp4(R4, A4, icmp.build_error(11, 1, probe))),
        (
            "arp request",
            1,
            _eth(
                arp.build(
                    1, MAC_A, bytes([198, 18, 0, 1]), "00:00:00:00:00:00", bytes([198, 18, 3, 2])
                )
                + b"\x00" * 18,
                0x0806,
            ),
        ),
        (
            "arp reply",
            1,
            _eth(
                arp.build(2, MAC_B, bytes([198, 18, 3, 2]), MAC_A, bytes([198, 18, 0, 1])), 0x0806
            ),
        ),
        ("icmp6 echo request", 1, _icmp6(A6, B6, 128, 0, (3 << 16) | 4, b"q" * 56)),
        ("icmp6 echo reply", 1, _icmp6(B6, A6, 129, 0, (3 << 16) | 4, b"q" * 56)),
        (
            "icmp6 neighbor solicitation",
            1,
            _icmp6(
                A6,
                "ff02::1:ff00:2",
                135,
                0,
                0,
                ipv6.ip_bytes(B6) + b"\x01\x01" + bytes.fromhex("020000000001"),
            ),
        ),
        ("icmp6 neighbor advertisement", 1, _icmp6(B6, A6, 136, 0, 0x60000000, ipv6.ip_bytes(B6))),
        ("icmp6 time exceeded", 1, _icmp6(R6, A6, 3, 0, 0, probe6)),
        ("icmp6 packet too big", 1, _icmp6(R6, A6, 2, 0, 1280, probe6)),
        ("icmp6 port unreachable", 1, _icmp6(B6, A6, 1, 4, 0, probe6)),
        (
            "tcp6",
            1,
            _eth(
                ipv6.build(A6, B6, 6, tcp.build(40001, 443, seq=1, flags=tcp.SYN, src=A6, dst=B6)),
                0x86DD,
            ),
        ),
        (
            "udp6",
            1,
            _eth(
                ipv6.build(A6, B6, 17, udp.build(40002, 5353 + 1, b"abcd", src=A6, dst=B6)), 0x86DD
            ),
        ),
        (
            "vlan icmp",
            1,
            _eth(
                ipv4.build(A4, B4, 1, icmp.build_echo(7, 8, b"v" * 32)),
                0x0800,
                ((0x8100, ethernet.tci(100, 3)),),
            ),
        ),
        (
            "qinq udp",
            1,
            _eth(
                _udp4(A4, B4, 1111, 2222, b"qq"),
                0x0800,
                ((0x88A8, ethernet.tci(200)), (0x8100, ethernet.tci(300))),
            ),
        ),
        ("fragment first", 1, _eth(frag1)),
        ("fragment second", 1, _eth(frag2)),
        ("ipip", 1, _eth(ipv4.build(A4, B4, 4, _udp4("10.0.0.1", "10.0.0.2", 7, 9, b"in")))),
        # an IP protocol nobody decodes (253, RFC 3692 experimentation); GRE is decoded now
        ("unknown ip proto", 1, _eth(ipv4.build(A4, B4, 253, b"\x00\x00\x08\x00" + b"\x00" * 20))),
        ("truncated tcp", 1, trunc),
        ("unknown ethertype", 1, _eth(b"\x00" * 46, 0x88B5)),
        ("raw ip", 101, ipv4.build(A4, B4, 1, icmp.build_echo(9, 9, b"r" * 8))),
        ("unsupported link type", 147, b"\x01\x02\x03\x04"),
    ]


SAMPLES = build_samples()


def write_capture(path: Path, samples: list[tuple[str, int, bytes]]) -> Path:
    """One pcap per link type would be tcpdump's need; pcapng keeps them in one file."""
    with open_writer(path, samples[0][1]) as w:
        for i, (_name, _lt, frame) in enumerate(samples):
            w.write(frame, T0_NS + i * 1_000_000)
    return path
