"""Code emission with symbolic labels, predicate wiring, a peephole pass, and layout.

Code is emitted as items ``(code, k, jt, jf)`` where jt/jf are label numbers
(``ja`` keeps its target in jt), and ``(-1, label, 0, 0)`` places a label.
A predicate is ``emit(t, f)``: it writes code that jumps to label ``t`` when it
holds and to ``f`` when it does not. Jumps only go forward, as classic BPF
requires, because a predicate's exits are always placed after it.
"""

from __future__ import annotations

from collections.abc import Callable

from netdiag.capture.bpf import insn as I
from netdiag.capture.bpf.insn import BpfInsn
from netdiag.capture.bpf.lexer import FilterError

__all__ = ["Emitter", "Pred", "PredBuilder", "assemble", "ACCEPT", "REJECT"]

Pred = Callable[[int, int], None]
Item = tuple[int, int, int, int]
ACCEPT, REJECT = 0, 1
_LABEL = -1
_JA = I.JMP | I.JA


class Emitter:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.nlabels = 2
        self.free = list(range(I.BPF_MEMWORDS - 1, -1, -1))

    def label(self) -> int:
        self.nlabels += 1
        return self.nlabels - 1

    def place(self, label: int) -> None:
        self.items.append((_LABEL, label, 0, 0))

    def stmt(self, code: int, k: int = 0) -> None:
        self.items.append((code, k, 0, 0))

    def jump(self, code: int, k: int, t: int, f: int) -> None:
        self.items.append((code, k, t, f))

    def goto(self, label: int) -> None:
        self.items.append((_JA, 0, label, label))

    def alloc_reg(self) -> int:
        if not self.free:
            raise FilterError("filter: expression too complex (out of scratch memory)")
        return self.free.pop()

    def free_reg(self, reg: int) -> None:
        self.free.append(reg)


def _true(t: int, f: int) -> None:  # pragma: no cover - folded away, never emitted
    raise AssertionError


def _false(t: int, f: int) -> None:  # pragma: no cover
    raise AssertionError


class PredBuilder:
    """``and``/``or``/``not`` over predicates, folding the constants TRUE and FALSE."""

    TRUE: Pred = staticmethod(_true)
    FALSE: Pred = staticmethod(_false)

    def __init__(self, e: Emitter) -> None:
        self.e = e

    def p_and(self, *ps: Pred) -> Pred:
        return self._chain(ps, self.TRUE, self.FALSE, conj=True)

    def p_or(self, *ps: Pred) -> Pred:
        return self._chain(ps, self.FALSE, self.TRUE, conj=False)

    def _chain(self, ps: tuple[Pred, ...], unit: Pred, zero: Pred, conj: bool) -> Pred:
        kept = [p for p in ps if p is not unit]
        if any(p is zero for p in kept):
            return zero
        if not kept:
            return unit
        if len(kept) == 1:
            return kept[0]
        e = self.e

        def emit(t: int, f: int) -> None:
            for p in kept[:-1]:
                nxt = e.label()
                if conj:
                    p(nxt, f)
                else:
                    p(t, nxt)
                e.place(nxt)
            kept[-1](t, f)

        return emit

    def p_not(self, p: Pred) -> Pred:
        if p is self.TRUE:
            return self.FALSE
        if p is self.FALSE:
            return self.TRUE
        return lambda t, f: p(f, t)

    def cmp(self, off: int, size: int, value: int, mask: int = 0xFFFFFFFF) -> Pred:
        """Load ``size`` bytes at ``off`` (``mask`` them) and compare with ``value``."""
        e = self.e
        full = {I.B: 0xFF, I.H: 0xFFFF, I.W: 0xFFFFFFFF}[size]
        if mask & full == 0:
            return self.TRUE

        def emit(t: int, f: int) -> None:
            e.stmt(I.LD | I.ABS | size, off)
            if mask & full != full:
                e.stmt(I.ALU | I.AND | I.K, mask)
            e.jump(I.JMP | I.JEQ | I.K, value & mask, t, f)

        return emit


# -- peephole ---------------------------------------------------------------------------


def _is_cond(code: int) -> bool:
    return code & 0x07 == I.JMP and code != _JA


def _thread(items: list[Item]) -> list[Item]:
    """Retarget jumps to a label that starts with ``ja L`` straight to L."""
    first: dict[int, Item] = {}
    pending: list[int] = []
    for it in items:
        if it[0] == _LABEL:
            pending.append(it[1])
        else:
            for lab in pending:
                first[lab] = it
            pending.clear()

    def final(lab: int) -> int:
        for _ in range(64):
            nxt = first.get(lab)
            if nxt is None or nxt[0] != _JA:
                return lab
            lab = nxt[2]
        return lab

    return [
        (c, k, final(t), final(f)) if (c == _JA or _is_cond(c)) else (c, k, t, f)
        for c, k, t, f in items
    ]


def _loads(code: int, k: int, a: object, x: object) -> tuple[object, object, bool]:
    """Effect of one instruction on what A and X are known to hold; True if it is redundant."""
    cls = code & 0x07
    if cls == I.LD:
        mode = code & 0xE0
        if mode in (I.ABS, I.IMM, I.LEN):
            d: object = (code, k)
        elif mode == I.IND and x is not None:
            d = (code, k, x)
        else:
            d = None
        return d, x, d is not None and d == a
    if cls == I.LDX:
        mode = code & 0xE0
        d = (code, k) if mode in (I.MSH, I.IMM, I.LEN) else None
        return a, d, d is not None and d == x
    if cls == I.ALU:
        return None, x, False
    if cls == I.MISC:
        return (a, a, False) if code & 0xF8 == I.TAX else (x, x, False)
    return a, x, False


def _meet(states: list[tuple[object, object]]) -> tuple[object, object]:
    a, x = states[0]
    for sa, sx in states[1:]:
        a = a if sa == a else None
        x = x if sx == x else None
    return a, x


def _simplify(items: list[Item]) -> list[Item]:
    """Drop unreachable code, redundant loads and jumps to the next instruction."""
    out: list[Item] = []
    incoming: dict[int, list[tuple[object, object]]] = {}
    state: tuple[object, object] = (None, None)
    live = True
    for c, k, t, f in items:
        if c == _LABEL:
            states = incoming.pop(k, [])
            if live:
                states.append(state)
            live = bool(states)
            if live:
                state = _meet(states)
                out.append((c, k, t, f))
            continue
        if not live:
            continue
        a, x, redundant = _loads(c, k, *state)
        state = (a, x)
        if redundant:
            continue
        out.append((c, k, t, f))
        if c == _JA or _is_cond(c):
            incoming.setdefault(t, []).append(state)
            if c != _JA:
                incoming.setdefault(f, []).append(state)
            live = False
        elif c & 0x07 == I.RET:
            live = False
    # a ja to a label that follows it directly (only labels between) is a no-op
    result: list[Item] = []
    for i, it in enumerate(out):
        if it[0] == _JA:
            j = i + 1
            while j < len(out) and out[j][0] == _LABEL and out[j][1] != it[2]:
                j += 1
            if j < len(out) and out[j][0] == _LABEL and out[j][1] == it[2]:
                continue
        result.append(it)
    return result


def _layout(items: list[Item]) -> list[BpfInsn]:
    """Labels -> jt/jf offsets (every conditional jump already fits in 8 bits)."""
    pos: dict[int, int] = {}
    n = 0
    for it in items:
        if it[0] == _LABEL:
            pos[it[1]] = n
        else:
            n += 1
    prog: list[BpfInsn] = []
    for c, k, t, f in items:
        if c == _LABEL:
            continue
        pc = len(prog)
        if c == _JA:
            prog.append(BpfInsn(c, 0, 0, pos[t] - pc - 1))
        elif _is_cond(c):
            prog.append(BpfInsn(c, pos[t] - pc - 1, pos[f] - pc - 1, k))
        else:
            prog.append(BpfInsn(c, 0, 0, k))
    return prog


def _insert_trampolines(items: list[Item]) -> list[Item]:
    """Give every conditional jump over 255 instructions a ``ja`` right after it."""
    next_label = max((it[1] for it in items if it[0] == _LABEL), default=1) + 1
    while True:
        pos: dict[int, int] = {}
        n = 0
        for it in items:
            if it[0] == _LABEL:
                pos[it[1]] = n
            else:
                n += 1
        pc = 0
        for i, (c, k, t, f) in enumerate(items):
            if c == _LABEL:
                continue
            if _is_cond(c) and (pos[t] - pc - 1 > 255 or pos[f] - pc - 1 > 255):
                far_t = pos[t] - pc - 1 > 255
                far = t if far_t else f
                hop = next_label
                next_label += 1
                new = (c, k, hop, f) if far_t else (c, k, t, hop)
                items = items[:i] + [new, (_LABEL, hop, 0, 0), (_JA, 0, far, far)] + items[i + 1 :]
                break
            pc += 1
        else:
            return items


def assemble(e: Emitter, pred: Pred, b: PredBuilder, snaplen: int) -> list[BpfInsn]:
    """Emit ``pred`` with its two exits, simplify, and lay out jump offsets."""
    if pred is b.TRUE:
        return [BpfInsn(I.RET | I.K, 0, 0, snaplen)]
    if pred is b.FALSE:
        return [BpfInsn(I.RET | I.K, 0, 0, 0)]
    pred(ACCEPT, REJECT)
    e.place(ACCEPT)
    e.stmt(I.RET | I.K, snaplen)
    e.place(REJECT)
    e.stmt(I.RET | I.K, 0)
    items = _simplify(_thread(_simplify(e.items)))
    items = _insert_trampolines(items)
    prog = _layout(items)
    if len(prog) > I.BPF_MAXINSNS:
        raise FilterError(
            f"filter: expression too complex ({len(prog)} instructions; "
            f"the kernel takes at most {I.BPF_MAXINSNS})"
        )
    return prog
