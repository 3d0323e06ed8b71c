"""Classic BPF instructions: the opcode bits, the packed form, the listings.

A program is a list of ``BpfInsn(code, jt, jf, k)``, exactly the kernel's
``struct sock_filter`` (linux/filter.h: u16 code, u8 jt, u8 jf, u32 k), so
``pack_program`` is one ``struct.pack`` per instruction. ``dump`` prints the
three listings of ``tcpdump -d``, ``-dd`` and ``-ddd``.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from collections.abc import Sequence

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import NamedTuple

__all__ = ["BpfInsn", "pack_program", "dump", "BPF_MAXINSNS"]

# Instruction classes (linux/bpf_common.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
# ld/ldx sizes and modes
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
# alu operations
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0,
)  # fmt: skip
# jumps
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
# operand source: the constant k or the X register; for ret also A
K, X = 0x00, 0x08
RET_A = 0x10
# misc
TAX, TXA = 0x00, 0x80

BPF_MAXINSNS = 4096  # the kernel's limit on a socket filter's length
BPF_MEMWORDS = 16  # scratch memory M[0..15]

_SOCK_FILTER = struct.Struct("=HBBI")


if TYPE_CHECKING:

    class BpfInsn(NamedTuple):
        """One ``struct sock_filter``."""

        code: int
        jt: int
        jf: int
        k: int

else:  # the same tuple, without loading typing at run time (the probes' filters use it)
    BpfInsn = namedtuple("BpfInsn", "code jt jf k")
    BpfInsn.__doc__ = "One ``struct sock_filter``."


def pack_program(program: Sequence[BpfInsn]) -> bytes:
    """The ``struct sock_filter`` array for ``SO_ATTACH_FILTER`` (native byte order)."""
    return b"".join(_SOCK_FILTER.pack(i.code, i.jt, i.jf, i.k & 0xFFFFFFFF) for i in program)


_ALU_NAMES = {
    ADD: "add", SUB: "sub", MUL: "mul", DIV: "div", OR: "or", AND: "and",
    LSH: "lsh", RSH: "rsh", NEG: "neg", MOD: "mod", XOR: "xor",
}  # fmt: skip
_JMP_NAMES = {JA: "ja", JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}
_SIZE_SUFFIX = {W: "", H: "h", B: "b"}


def _image(pc: int, ins: BpfInsn) -> str:
    """One line of ``tcpdump -d``: ``(007) ldb      [x + 27]``."""
    code, k = ins.code, ins.k
    cls = code & 0x07
    op, operand = "unimp", f"0x{code:x}"
    if cls in (LD, LDX):
        mode, size = code & 0xE0, code & 0x18
        op = ("ld" if cls == LD else "ldx") + _SIZE_SUFFIX.get(size, "?")
        if mode == IMM:
            operand = f"#0x{k:x}"
        elif mode == LEN:
            op, operand = ("ld" if cls == LD else "ldx"), "#pktlen"
        elif mode == MEM:
            operand = f"M[{k}]"
        elif mode == ABS:
            operand = f"[{k}]"
        elif mode == IND:
            operand = f"[x + {k}]"
        elif mode == MSH:
            op, operand = "ldxb", f"4*([{k}]&0xf)"
    elif cls in (ST, STX):
        op, operand = ("st" if cls == ST else "stx"), f"M[{k}]"
    elif cls == ALU:
        op = _ALU_NAMES.get(code & 0xF0, "unimp")
        operand = "" if code & 0xF0 == NEG else ("x" if code & X else f"#0x{k:x}")
    elif cls == JMP:
        jop = code & 0xF0
        op = _JMP_NAMES.get(jop, "unimp")
        if jop == JA:
            operand = f"{pc + 1 + k}"
        else:
            operand = "x" if code & X else f"#0x{k:x}"
            head = f"({pc:03d}) {op:<8} {operand:<16} "
            return f"{head}jt {pc + 1 + ins.jt}\tjf {pc + 1 + ins.jf}"
    elif cls == RET:
        src = code & 0x18
        op, operand = "ret", ("a" if src == RET_A else "x" if src == X else f"#{k}")
    elif cls == MISC:
        op, operand = ("txa" if code & 0xF8 == TXA else "tax"), ""
    return f"({pc:03d}) {op:<8} {operand}"


def dump(program: Sequence[BpfInsn], style: int = 1) -> list[str]:
    """The listing of ``tcpdump -d`` (style 1), ``-dd`` (2, C array) or ``-ddd`` (3, decimal)."""
    if style == 1:
        return [_image(pc, ins) for pc, ins in enumerate(program)]
    if style == 2:
        return [f"{{ 0x{i.code:x}, {i.jt}, {i.jf}, 0x{i.k & 0xFFFFFFFF:08x} }}," for i in program]
    if style == 3:
        return [str(len(program))] + [f"{i.code} {i.jt} {i.jf} {i.k}" for i in program]
    raise ValueError(f"dump style must be 1, 2 or 3, not {style}")
