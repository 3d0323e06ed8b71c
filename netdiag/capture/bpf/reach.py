"""Can a classic BPF program accept anything? libpcap's "expression rejects all packets".

libpcap's optimizer numbers the values a program computes and follows each
conditional jump whose outcome is already known on the path that reaches it
(``ip and ip6``: after ``ldh [12]`` was found equal to 0x800 it cannot also be
0x86dd); when no path is left to a ``ret`` of a nonzero length, pcap_compile
fails with "expression rejects all packets". ``can_accept`` walks the paths of
our program the same way: a value is known by how it was computed (loads at
fixed offsets, loads at X plus a constant where X's value is known, ALU with a
constant), and a path carries what the jumps on it established about each value
(equal to a constant, or unequal to some). Jumps only go forward, so the walk
ends; it gives up (answers True) past a budget of states.
"""

from __future__ import annotations

from netdiag.capture.bpf import insn as I

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from netdiag.capture.bpf.insn import BpfInsn

__all__ = ["can_accept"]

_BUDGET = 20000
_AND_K = I.ALU | I.AND | I.K


def can_accept(prog: Sequence[BpfInsn]) -> bool:
    """False when no path of ``prog`` can end at a ``ret`` of a nonzero value."""
    seen: set[tuple[int, object, object, frozenset[tuple[object, object]]]] = set()
    # state: pc, key of A, key of X, facts (frozenset of (key, ("eq", v) | ("ne", v)))
    stack: list[tuple[int, object, object, frozenset[tuple[object, object]]]] = [
        (0, None, None, frozenset())
    ]
    n = len(prog)
    stores: dict[int, int] = {}
    for ins in prog:
        if ins.code & 0x07 in (I.ST, I.STX):
            stores[ins.k] = stores.get(ins.k, 0) + 1
    once = frozenset(r for r, c in stores.items() if c == 1)
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        if len(seen) > _BUDGET:
            return True
        pc, a, x, facts = state
        if pc >= n:
            continue
        ins = prog[pc]
        code, k = ins.code, ins.k
        cls = code & 0x07
        if cls == I.RET:
            if code & 0x18 == I.RET_A:  # ret a: unknown unless A is known to be 0
                if (a, ("eq", 0)) not in facts:
                    return True
            elif k:
                return True
            continue
        if cls == I.JMP:
            op = code & 0xF0
            if op == I.JA:
                stack.append((pc + 1 + k, a, x, facts))
                continue
            if code & 0x08:  # compared with X: unknown outcome
                stack.append((pc + 1 + ins.jt, a, x, facts))
                stack.append((pc + 1 + ins.jf, a, x, facts))
                continue
            known = _known(facts, a)
            outcome = None
            if known is not None:
                outcome = (
                    known == k if op == I.JEQ else known > k if op == I.JGT
                    else known >= k if op == I.JGE else bool(known & k)
                )  # fmt: skip
            elif op == I.JEQ and a is not None and (a, ("ne", k)) in facts:
                outcome = False
            # libpcap turns ``and #m; jeq #0`` into ``jset #m``, which tells it nothing
            # about the value: no fact is kept for that compare.
            if op == I.JEQ and k == 0 and isinstance(a, tuple) and a[:2] == ("alu", _AND_K):
                a_fact = None
            else:
                a_fact = a
            if outcome is not False:
                add = {(a_fact, ("eq", k))} if op == I.JEQ and a_fact is not None else set()
                stack.append((pc + 1 + ins.jt, a, x, facts | add))
            if outcome is not True:
                add = {(a_fact, ("ne", k))} if op == I.JEQ and a_fact is not None else set()
                stack.append((pc + 1 + ins.jf, a, x, facts | add))
            continue
        a, x = _step(code, k, a, x, once)
        stack.append((pc + 1, a, x, facts))
    return False


def _known(facts: frozenset[tuple[object, object]], key: object) -> int | None:
    if key is None:
        return None
    if isinstance(key, tuple) and key[0] == "imm":
        return key[1]  # type: ignore[no-any-return]
    for f_key, fact in facts:
        if f_key == key and fact[0] == "eq":  # type: ignore[index]
            return fact[1]  # type: ignore[index, no-any-return]
    return None


def _step(code: int, k: int, a: object, x: object, once: frozenset[int]) -> tuple[object, object]:
    """The keys of A and X after one non-jump instruction. A register is a known value
    only when the program stores it once (the prologue's); temporaries are not."""
    cls = code & 0x07
    mode = code & 0xE0
    if cls == I.LD:
        if mode == I.ABS:
            return ("abs", code, k), x
        if mode == I.IND:
            return (None if x is None else ("ind", code, k, x)), x
        if mode == I.IMM:
            return ("imm", k), x
        if mode == I.LEN:
            return ("len",), x
        if mode == I.MEM:
            return (("mem", k) if k in once else None), x
        return None, x
    if cls == I.LDX:
        if mode == I.MEM:
            return a, (("mem", k) if k in once else None)
        if mode == I.IMM:
            return a, ("imm", k)
        if mode == I.MSH:
            return a, ("msh", k)
        return a, None
    if cls == I.ALU:
        if code & 0x08 or a is None:  # with X, or of an unknown value
            return None, x
        return ("alu", code, k, a), x
    if cls == I.MISC:
        return (a, a) if code & 0xF8 == I.TAX else (x, x)
    return a, x  # ST, STX
