"""Classic BPF programs attached to the probes' raw sockets (SO_ATTACH_FILTER).

On a raw socket every socket of the protocol sees every packet; the kernel filter
keeps other pings' replies (and other connections' segments) out of our queue,
as iputils does for its identifier. User space checks again (pingcore,
portcore): the filter is an optimisation, never the decision.

What the program sees: an IPv4 raw socket hands the filter the IP header first
(the header length is taken with ``ldx 4*([0]&0xf)``); an IPv6 raw socket hands
it the transport header (no IPv6 header). Instructions are ``struct
sock_filter {u16 code; u8 jt; u8 jf; u32 k}`` (linux/filter.h).
"""

from __future__ import annotations

from netdiag.capture.bpf.insn import ABS, IND, JEQ, JMP, LD, LDX, MSH, RET, B, H, K
from netdiag.capture.bpf.kernel import Insn, attach_filter

__all__ = ["attach_filter", "echo_reply_filter", "tcp_ports_filter"]

_LD_H_ABS, _LD_B_ABS = LD | H | ABS, LD | B | ABS
_LD_H_IND, _LD_B_IND = LD | H | IND, LD | B | IND
_LDX_B_MSH = LDX | B | MSH
_JEQ_K = JMP | JEQ | K
_RET_K = RET | K
_ACCEPT, _DROP = 0xFFFFFFFF, 0


def echo_reply_filter(family: int, ident: int) -> list[Insn]:
    """Accept every ICMP message except echo replies with another identifier."""
    if family == 4:
        return [
            (_LDX_B_MSH, 0, 0, 0),  # x = IP header length
            (_LD_B_IND, 0, 0, 0),  # ICMP type
            (_JEQ_K, 0, 3, 0),  # echo reply? else accept
            (_LD_H_IND, 0, 0, 4),  # identifier
            (_JEQ_K, 1, 0, ident),
            (_RET_K, 0, 0, _DROP),
            (_RET_K, 0, 0, _ACCEPT),
        ]  # fmt: skip
    return [
        (_LD_B_ABS, 0, 0, 0),  # ICMPv6 type
        (_JEQ_K, 0, 3, 129),  # echo reply? else accept
        (_LD_H_ABS, 0, 0, 4),
        (_JEQ_K, 1, 0, ident),
        (_RET_K, 0, 0, _DROP),
        (_RET_K, 0, 0, _ACCEPT),
    ]  # fmt: skip


def tcp_ports_filter(family: int, remote_port: int, local_port: int) -> list[Insn]:
    """Accept TCP segments from ``remote_port`` to ``local_port`` only."""
    head = [(_LDX_B_MSH, 0, 0, 0)] if family == 4 else []
    ld = _LD_H_IND if family == 4 else _LD_H_ABS
    return [
        *head,
        (ld, 0, 0, 0),  # source port
        (_JEQ_K, 0, 3, remote_port),
        (ld, 0, 0, 2),  # destination port
        (_JEQ_K, 0, 1, local_port),
        (_RET_K, 0, 0, _ACCEPT),
        (_RET_K, 0, 0, _DROP),
    ]  # fmt: skip
