"""Decode benchmark: netdiag vs dpkt vs scapy on one generated mixed capture.

Every packet of a 200,000-packet capture (TCP, UDP, ICMP, IPv6/TCP, IPv6/UDP,
ICMPv6, ARP over Ethernet, some with VLAN tags) is decoded down to the
transport ports with each library; the three must extract the same values
(scapy on a slice: it is two orders of magnitude slower). Decoding alone is
timed (the capture is read into memory first), best of a few interleaved
rounds, with the cyclic garbage collector paused during a round as ``timeit``
does: otherwise a round's time depends on what else is alive on the heap
(scapy's packets are cycles, and its rounds run beside the other libraries'
200,000 results).
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from netdiag.capture.files import open_writer, read_capture
from netdiag.packets import arp, ethernet, icmp, icmpv6, ipv4, ipv6, tcp, udp

N_PACKETS = 200_000
SCAPY_SLICE = 4_000
ROUNDS = 5
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"

Key = tuple[str, str, int, int, int]


def generate(path: Path, n: int = N_PACKETS, seed: int = 7) -> None:
    """A deterministic mixed capture built with netdiag's builders."""
    rnd = random.Random(seed)
    templates = []
    for i in range(512):
        a4, b4 = f"198.18.{i % 200}.{1 + i % 250}", f"198.19.{i % 100}.{2 + i % 250}"
        a6, b6 = f"2001:db8::{i + 1:x}", f"2001:db8:1::{i + 2:x}"
        sp, dp = rnd.randrange(1024, 65535), rnd.choice((80, 443, 53, 123, 5201))
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 200)))
        kind = i % 8
        if kind in (0, 1):
            seg = tcp.build(
                sp,
                dp,
                seq=i,
                ack=i * 7,
                flags=tcp.ACK | tcp.PSH,
                options=tcp.build_options([(1, None), (1, None), (8, (i, i + 1))]),
                payload=body,
                src=a4,
                dst=b4,
            )
            l3, et = ipv4.build(a4, b4, 6, seg, ident=i), 0x0800
        elif kind == 2:
            l3, et = ipv4.build(a4, b4, 17, udp.build(sp, dp, body, src=a4, dst=b4)), 0x0800
        elif kind == 3:
            l3, et = ipv4.build(a4, b4, 1, icmp.build_echo(i, i, body)), 0x0800
        elif kind == 4:
            seg = tcp.build(
                sp,
                dp,
                seq=i,
                flags=tcp.SYN,
                src=a6,
                dst=b6,
                options=tcp.build_options([(2, 1440), (4, None), (3, 7)]),
            )
            l3, et = ipv6.build(a6, b6, 6, seg), 0x86DD
        elif kind == 5:
            l3, et = ipv6.build(a6, b6, 17, udp.build(sp, dp, body, src=a6, dst=b6)), 0x86DD
        elif kind == 6:
            l3, et = ipv6.build(a6, b6, 58, icmpv6.build_echo(i, i, body, a6, b6)), 0x86DD
        else:
            l3 = arp.build(1, MAC_A, ipv4_bytes(a4), "00:00:00:00:00:00", ipv4_bytes(b4))
            et = 0x0806
        vlans = ((0x8100, 100 + i % 50),) if i % 16 == 15 else ()
        templates.append(ethernet.build(MAC_B, MAC_A, et, l3, vlans=vlans))
    with open_writer(path, 1) as w:
        t0 = 1_700_000_000 * 10**9
        for k in range(n):
            w.write(templates[rnd.randrange(len(templates))], t0 + k * 1000)


def ipv4_bytes(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def netdiag_keys(frames: list[bytes]) -> list[Key | None]:
    from netdiag import decode

    out: list[Key | None] = []
    append = out.append
    for b in frames:
        p = decode(b)
        ip = p.ip
        if ip is None:
            append(None)
            continue
        t = p.tcp or p.udp
        if t is not None:
            append((ip.src, ip.dst, ip.proto, t.sport, t.dport))
        else:
            append((ip.src, ip.dst, ip.proto, 0, 0))
    return out


def dpkt_keys(frames: list[bytes]) -> list[Key | None]:
    import socket

    import dpkt

    out: list[Key | None] = []
    append = out.append
    ntop = socket.inet_ntop
    for b in frames:
        e = dpkt.ethernet.Ethernet(b)
        ip = e.data
        if isinstance(ip, dpkt.ip.IP):
            fam, proto = socket.AF_INET, ip.p
        elif isinstance(ip, dpkt.ip6.IP6):
            fam, proto = socket.AF_INET6, ip.nxt
        else:
            append(None)
            continue
        t = ip.data
        if isinstance(t, dpkt.tcp.TCP | dpkt.udp.UDP):
            append((ntop(fam, ip.src), ntop(fam, ip.dst), proto, t.sport, t.dport))
        else:
            append((ntop(fam, ip.src), ntop(fam, ip.dst), proto, 0, 0))
    return out


def scapy_keys(frames: list[bytes]) -> list[Key | None]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    out: list[Key | None] = []
    for b in frames:
        e = Ether(b)
        if IP in e:
            ip = e[IP]
            proto = ip.proto
        elif IPv6 in e:
            ip = e[IPv6]
            proto = ip.nh
        else:
            out.append(None)
            continue
        t = e[TCP] if TCP in e else (e[UDP] if UDP in e else None)
        if t is not None:
            out.append((ip.src, ip.dst, proto, t.sport, t.dport))
        else:
            out.append((ip.src, ip.dst, proto, 0, 0))
    return out


Decoder = Callable[[list[bytes]], list[Key | None]]


def best_rates(
    runs: list[tuple[Decoder, list[bytes]]], rounds: int = ROUNDS
) -> list[tuple[float, list[Key | None]]]:
    """Packets/s of each ``(decoder, frames)``, best of ``rounds``, and its keys.

    The rounds are interleaved (each decoder once per round), so a slow spell of
    the machine falls on all of them rather than on one, and the ratios hold."""
    best = [float("inf")] * len(runs)
    results: list[list[Key | None]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, (fn, frames) in enumerate(runs):
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                results[i] = fn(frames)
                best[i] = min(best[i], time.perf_counter() - t0)
            finally:
                gc.enable()
    return [(len(frames) / b, r) for (_, frames), b, r in zip(runs, best, results, strict=True)]


def main() -> dict[str, float]:
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "mixed.pcap"
        generate(path)
        with read_capture(path) as r:
            frames = [rec.data for rec in r]
    assert len(frames) == N_PACKETS, len(frames)
    (nd_rate, nd), (dp_rate, dp), (sc_rate, sc) = best_rates(
        [(netdiag_keys, frames), (dpkt_keys, frames), (scapy_keys, frames[:SCAPY_SLICE])]
    )
    if nd != dp:
        bad = next(i for i, (a, b) in enumerate(zip(nd, dp, strict=True)) if a != b)
        raise SystemExit(f"netdiag and dpkt disagree at packet {bad + 1}: {nd[bad]} != {dp[bad]}")
    if nd[:SCAPY_SLICE] != sc:
        bad = next(i for i, (a, b) in enumerate(zip(nd, sc, strict=False)) if a != b)
        raise SystemExit(f"netdiag and scapy disagree at packet {bad + 1}: {nd[bad]} != {sc[bad]}")
    print(
        f"decode to transport ports, {N_PACKETS} packets (scapy: first {SCAPY_SLICE}); "
        "all three agree on every packet"
    )
    print(f"  netdiag {nd_rate:12,.0f} packets/s")
    print(
        f"  dpkt    {dp_rate:12,.0f} packets/s   netdiag/dpkt  = {nd_rate / dp_rate:6.2f}x "
        "(target >= 3)"
    )
    print(
        f"  scapy   {sc_rate:12,.0f} packets/s   netdiag/scapy = {nd_rate / sc_rate:6.1f}x "
        "(target >= 100)"
    )
    return {"netdiag_pps": nd_rate, "dpkt_pps": dp_rate, "scapy_pps": sc_rate}


if __name__ == "__main__":
    main()
