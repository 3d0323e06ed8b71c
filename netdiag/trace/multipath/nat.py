"""NAT evidence from the datagram an ICMP error quotes, as Dublin traceroute and trippy
compare it: pure.

A router that answers quotes the probe as it saw it (RFC 792; RFC 1812 §4.3.2.3;
RFC 4443 §3.3). When the quote's addresses, ports or UDP checksum differ from
what we sent, something on the way rewrote the probe: a NAT at or before that
hop. A NAT that keeps state (Linux conntrack) translates the quote back on the
way home, so it leaves no trace: the absence of a difference is "no NAT
evidence", never "no NAT". The IPv4 ID is compared where we wrote the probe's
header (raw sockets: the loop's IPPROTO_RAW socket), as Dublin traceroute does: a
middlebox that rewrites IDs (some NATs and scrubbers do) shows there.
"""

from __future__ import annotations

from netdiag.packets.packet import Packet

__all__ = ["quote_differences"]


def quote_differences(
    quoted: Packet,
    src: str,
    dst: str,
    sport: int,
    dport: int,
    checksum: int | None,
    ident: int | None = None,
) -> tuple[str, ...]:
    """Each field of ``quoted`` that is not what the probe carried, as
    ``"src: 10.0.0.1 -> 192.0.2.9"``; ``checksum`` is the UDP checksum sent (None: not UDP),
    ``ident`` the IPv4 ID sent (None: not known, the kernel chose it)."""
    out: list[str] = []
    ip = quoted.ip
    if ip is None:
        return ()
    if ip.src != src:
        out.append(f"src: {src} -> {ip.src}")
    if ip.dst != dst:
        out.append(f"dst: {dst} -> {ip.dst}")
    if ident is not None and quoted.ipv4 is not None and quoted.ipv4.id != ident:
        out.append(f"ip id: {ident} -> {quoted.ipv4.id}")
    l4 = quoted.udp if quoted.udp is not None else quoted.tcp
    if l4 is not None:
        if l4.sport != sport:
            out.append(f"sport: {sport} -> {l4.sport}")
        if l4.dport != dport:
            out.append(f"dport: {dport} -> {l4.dport}")
    if checksum is not None and quoted.udp is not None:
        got = quoted.udp.checksum
        if got != checksum:
            out.append(f"udp checksum: {checksum:#06x} -> {got:#06x}")
    return tuple(out)
