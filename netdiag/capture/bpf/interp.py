"""Our classic-BPF interpreter: the same verdicts as the kernel's socket filter.

``make_runner(program)`` checks the program once (opcodes, jump targets,
scratch-memory indexes, a final ``ret``) and turns it into a list of plain
tuples ``(op, jt, jf, k)`` with one small integer per operation, so running it
creates no objects per instruction; ``run(packet, wirelen)`` returns what the
program returns: the number of bytes to keep, 0 to reject.

Semantics (as the kernel and libpcap's ``bpf_filter``): loads read the captured
bytes in network byte order; a load past the end of them rejects the packet
(the whole program returns 0), so does division or modulo by a zero X;
``ld #pktlen`` is the length on the wire; shifts by X of 32 or more give 0;
absolute offsets at or above 2**31 (the kernel's ancillary-data area) are
treated as out of bounds. Scratch memory starts zeroed.

Hot path written for speed: struct unpackers are looked up once, bounds are
checked by letting ``unpack_from`` fail (``struct.error``), and the dispatch
tests the most frequent operations first.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache

from netdiag.capture.bpf import insn as I
from netdiag.capture.bpf.insn import BpfInsn
from netdiag.capture.bpf.lexer import FilterError

__all__ = ["make_runner", "run_filter"]

Runner = Callable[[bytes, "int | None"], int]

# internal operation numbers, most frequent first
(
    LD_H_ABS, JEQ_K, LD_B_ABS, JSET_K, JGT_K, JGE_K, RET_K, LD_W_ABS, LDX_MSH,
    LD_H_IND, LD_B_IND, LD_W_IND, ALU_K, ALU_X, JA, JEQ_X, JGT_X, JGE_X, JSET_X,
    LD_IMM, LD_LEN, LD_MEM, LDX_IMM, LDX_LEN, LDX_MEM, ST, STX, TAX, TXA, RET_A, RET_X,
    NEG,
) = range(32)  # fmt: skip

_M32 = 0xFFFFFFFF


def _translate(pc: int, ins: BpfInsn, n: int) -> tuple[int, int, int, int]:
    code, jt, jf, k = ins.code, ins.jt, ins.jf, ins.k & _M32
    cls = code & 0x07

    def bad(why: str) -> FilterError:
        return FilterError(f"invalid BPF program: {why} at instruction {pc}")

    if cls in (I.LD, I.LDX):
        mode, size = code & 0xE0, code & 0x18
        if cls == I.LDX:
            table = {I.IMM | I.W: LDX_IMM, I.LEN | I.W: LDX_LEN, I.MEM | I.W: LDX_MEM}
            table[I.MSH | I.B] = LDX_MSH
        else:
            table = {
                I.ABS | I.W: LD_W_ABS, I.ABS | I.H: LD_H_ABS, I.ABS | I.B: LD_B_ABS,
                I.IND | I.W: LD_W_IND, I.IND | I.H: LD_H_IND, I.IND | I.B: LD_B_IND,
                I.IMM | I.W: LD_IMM, I.LEN | I.W: LD_LEN, I.MEM | I.W: LD_MEM,
            }  # fmt: skip
        op = table.get(mode | size)
        if op is None:
            raise bad(f"unknown load 0x{code:02x}")
        if op in (LD_MEM, LDX_MEM) and k >= I.BPF_MEMWORDS:
            raise bad(f"scratch memory index {k}")
        return (op, 0, 0, k)
    if cls in (I.ST, I.STX):
        if k >= I.BPF_MEMWORDS:
            raise bad(f"scratch memory index {k}")
        return (ST if cls == I.ST else STX, 0, 0, k)
    if cls == I.ALU:
        aop = code & 0xF0
        if aop == I.NEG:
            return (NEG, 0, 0, 0)
        if aop not in (I.ADD, I.SUB, I.MUL, I.DIV, I.OR, I.AND, I.LSH, I.RSH, I.MOD, I.XOR):
            raise bad(f"unknown alu operation 0x{code:02x}")
        if code & I.X:
            return (ALU_X, aop, 0, 0)
        if aop in (I.DIV, I.MOD) and k == 0:
            raise bad("division by constant zero")
        return (ALU_K, aop, 0, k)
    if cls == I.JMP:
        jop = code & 0xF0
        if jop == I.JA:
            if pc + 1 + k >= n:
                raise bad("jump past the end")
            return (JA, 0, 0, pc + 1 + k)
        if pc + 1 + max(jt, jf) >= n:
            raise bad("jump past the end")
        pairs = {I.JEQ: (JEQ_K, JEQ_X), I.JGT: (JGT_K, JGT_X), I.JGE: (JGE_K, JGE_X)}
        pairs[I.JSET] = (JSET_K, JSET_X)
        pair = pairs.get(jop)
        if pair is None:
            raise bad(f"unknown jump 0x{code:02x}")
        return (pair[1] if code & I.X else pair[0], pc + 1 + jt, pc + 1 + jf, k)
    if cls == I.RET:
        src = code & 0x18
        return ({I.K: RET_K, I.X: RET_X, I.RET_A: RET_A}.get(src, RET_K), 0, 0, k)
    # MISC
    return (TXA if code & 0xF8 == I.TXA else TAX, 0, 0, 0)


def make_runner(program: Sequence[BpfInsn]) -> Runner:
    """Check ``program`` once and return ``run(packet, wirelen=None) -> kept length``."""
    n = len(program)
    if not 0 < n <= I.BPF_MAXINSNS:
        raise FilterError(f"invalid BPF program: {n} instructions")
    last = program[-1].code & 0x07
    if last != I.RET:
        raise FilterError("invalid BPF program: does not end with ret")
    prog = [_translate(pc, BpfInsn(*ins), n) for pc, ins in enumerate(program)]
    word = struct.Struct("!I").unpack_from
    half = struct.Struct("!H").unpack_from
    error = struct.error

    def run(packet: bytes, wirelen: int | None = None) -> int:  # noqa: C901 - one dispatch loop
        size = len(packet)
        plen = size if wirelen is None else wirelen
        a = x = pc = 0
        mem = [0] * 16
        try:
            while True:
                op, jt, jf, k = prog[pc]
                pc += 1
                if op == LD_H_ABS:
                    if k >= 0x80000000:
                        return 0
                    a = half(packet, k)[0]
                elif op == JEQ_K:
                    pc = jt if a == k else jf
                elif op == LD_B_ABS:
                    if k >= size:
                        return 0
                    a = packet[k]
                elif op == JSET_K:
                    pc = jt if a & k else jf
                elif op == JGT_K:
                    pc = jt if a > k else jf
                elif op == JGE_K:
                    pc = jt if a >= k else jf
                elif op == RET_K:
                    return k
                elif op == LD_W_ABS:
                    if k >= 0x80000000:
                        return 0
                    a = word(packet, k)[0]
                elif op == LDX_MSH:
                    if k >= size:
                        return 0
                    x = (packet[k] & 0xF) << 2
                elif op == LD_H_IND:
                    a = half(packet, x + k)[0]
                elif op == LD_B_IND:
                    if x + k >= size:
                        return 0
                    a = packet[x + k]
                elif op == LD_W_IND:
                    a = word(packet, x + k)[0]
                elif op == ALU_K or op == ALU_X:
                    v = k if op == ALU_K else x
                    if jt == I.AND:
                        a &= v
                    elif jt == I.ADD:
                        a = (a + v) & _M32
                    elif jt == I.SUB:
                        a = (a - v) & _M32
                    elif jt == I.MUL:
                        a = (a * v) & _M32
                    elif jt == I.OR:
                        a |= v
                    elif jt == I.XOR:
                        a ^= v
                    elif jt == I.LSH:
                        a = (a << v) & _M32 if v < 32 else 0
                    elif jt == I.RSH:
                        a = a >> v if v < 32 else 0
                    elif jt == I.DIV:
                        if v == 0:
                            return 0
                        a //= v
                    else:  # MOD
                        if v == 0:
                            return 0
                        a %= v
                elif op == JA:
                    pc = k
                elif op == JEQ_X:
                    pc = jt if a == x else jf
                elif op == JGT_X:
                    pc = jt if a > x else jf
                elif op == JGE_X:
                    pc = jt if a >= x else jf
                elif op == JSET_X:
                    pc = jt if a & x else jf
                elif op == LD_IMM:
                    a = k
                elif op == LD_LEN:
                    a = plen
                elif op == LD_MEM:
                    a = mem[k]
                elif op == LDX_IMM:
                    x = k
                elif op == LDX_LEN:
                    x = plen
                elif op == LDX_MEM:
                    x = mem[k]
                elif op == ST:
                    mem[k] = a
                elif op == STX:
                    mem[k] = x
                elif op == TAX:
                    x = a
                elif op == TXA:
                    a = x
                elif op == RET_A:
                    return a
                elif op == RET_X:
                    return x
                else:  # NEG
                    a = -a & _M32
        except error:  # a load past the captured bytes
            return 0

    return run


@lru_cache(maxsize=64)
def _cached_runner(program: tuple[BpfInsn, ...]) -> Runner:
    return make_runner(program)


def run_filter(program: Sequence[BpfInsn], packet: bytes, wirelen: int | None = None) -> int:
    """Run ``program`` on ``packet``: the accepted length (what ``ret`` says), 0 to reject."""
    return _cached_runner(tuple(BpfInsn(*i) for i in program))(packet, wirelen)
