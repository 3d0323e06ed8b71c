"""Kernel programs around a compiled filter, for the live capture socket.

- ``direction_program``: ``-Q in|out`` and the snap length, done in the kernel
  (the packet type is an ancillary load, ``ret #snaplen`` cuts the copy);
- ``cooked_program``: a program compiled for LINUX_SLL2, rewritten for the cooked
  (SOCK_DGRAM) socket of ``-i any``, whose filter sees the packet from the network
  header on, as libpcap does.

Pure: instruction lists in, instruction lists out (opcodes from ``bpf.insn``).
"""

from __future__ import annotations

from collections.abc import Sequence

from netdiag.capture.bpf.insn import ABS, ADD, ALU, IND, JEQ, JMP, LD, LDX, LEN, MSH, RET, K, W
from netdiag.capture.bpf.kernel import Insn
from netdiag.errors import CaptureError

__all__ = ["direction_program", "cooked_program", "SLL2_HDRLEN"]

BPF_LD_W_ABS = LD | W | ABS
BPF_JEQ_K = JMP | JEQ | K
BPF_RET_K = RET | K
BPF_ALU_ADD_K = ALU | ADD | K
# <linux/filter.h>: loads at these offsets read "ancillary data", not the packet
SKF_AD_OFF = 0xFFFFF000  # -0x1000
SKF_AD_PROTOCOL = SKF_AD_OFF + 0
SKF_AD_PKTTYPE = SKF_AD_OFF + 4
SKF_AD_IFINDEX = SKF_AD_OFF + 8
SKF_AD_HATYPE = SKF_AD_OFF + 28
PACKET_OUTGOING = 4  # sll_pkttype of a packet we sent (<linux/if_packet.h>)
SLL2_HDRLEN = 20
# LINUX_SLL2 fields a cooked socket's filter reads through ancillary loads instead:
# (offset, size bits) -> SKF_AD_*
_SLL2_FIELDS = {(0, 0x08): SKF_AD_PROTOCOL, (4, 0x00): SKF_AD_IFINDEX,
                (8, 0x08): SKF_AD_HATYPE, (10, 0x10): SKF_AD_PKTTYPE}  # fmt: skip


def direction_program(direction: str, program: Sequence[Insn], snaplen: int) -> list[Insn]:
    """The kernel program: ``program`` (a compiled filter, or empty for "everything")
    with every accepting ``ret`` cut to ``snaplen``, behind a check of the packet type
    for ``-Q in`` / ``-Q out``."""
    body: list[Insn] = [
        (c, jt, jf, min(k, snaplen) if c == BPF_RET_K and k else k) for c, jt, jf, k in program
    ]
    if not body:
        body = [(BPF_RET_K, 0, 0, snaplen)]
    if direction == "inout":
        return body
    # ld pkttype; jeq #OUTGOING: skip the reject for "out", take it for "in"
    jt, jf = (1, 0) if direction == "out" else (0, 1)
    return [(BPF_LD_W_ABS, 0, 0, SKF_AD_PKTTYPE), (BPF_JEQ_K, jt, jf, PACKET_OUTGOING),
            (BPF_RET_K, 0, 0, 0), *body]  # fmt: skip


def cooked_program(program: Sequence[Insn]) -> list[Insn]:
    """A program compiled for LINUX_SLL2, rewritten for a cooked socket, whose filter
    sees the packet from the network header on (as libpcap does for ``any``): loads
    past the 20-byte header move back by 20, loads of its protocol, interface, ARPHRD
    type and packet type become ancillary loads, ``len`` gets 20 added. Indexed loads
    assume X holds a header length (as the compiler's ``4*([k]&0xf)`` does)."""
    out: list[Insn] = []
    where: list[int] = []
    for code, jt, jf, k in program:
        where.append(len(out))
        cls, mode, size = code & 0x07, code & 0xE0, code & 0x18
        if cls in (LD, LDX) and mode in (ABS, IND, MSH) and k < SKF_AD_OFF - 0x200000:
            if k >= SLL2_HDRLEN:
                k -= SLL2_HDRLEN
            elif mode == ABS and (k, size) in _SLL2_FIELDS:
                k = _SLL2_FIELDS[(k, size)]
            else:
                raise CaptureError("this filter reads the link-layer header, which a cooked "
                                   "capture (-i any) does not give the kernel")  # fmt: skip
        out.append((code, jt, jf, k))
        if cls in (LD, LDX) and mode == LEN:  # ld len / ldx len
            if cls == LDX:
                raise CaptureError("ldx len cannot be rewritten for a cooked capture")
            out.append((BPF_ALU_ADD_K, 0, 0, SLL2_HDRLEN))
    where.append(len(out))
    fixed: list[Insn] = []
    for i, (code, jt, jf, k) in enumerate(program):
        pos = where[i]
        fixed.extend(out[pos : where[i + 1]])
        if code & 0x07 != JMP:
            continue
        if code & 0xF0 == 0x00:  # ja
            fixed[pos] = (code, 0, 0, where[i + 1 + k] - pos - 1)
            continue
        njt, njf = where[i + 1 + jt] - pos - 1, where[i + 1 + jf] - pos - 1
        if njt > 255 or njf > 255:
            raise CaptureError("filter too long to rewrite for a cooked capture")
        fixed[pos] = (code, njt, njf, k)
    return fixed
