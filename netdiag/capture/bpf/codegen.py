"""AST -> classic BPF, with the meaning tcpdump (libpcap 1.10) gives each primitive.

Compilation has two steps. ``Compiler.node`` walks the AST in textual order and
turns each primitive into a *predicate*: a function ``emit(t, f)`` that writes
code jumping to label ``t`` when it holds and ``f`` when not; ``and``/``or``/
``not`` just wire labels (``a and b``: a's true exit is b's start). Walking in
textual order is what lets ``vlan`` (and ``mpls``, ``geneve``: tunnels.py) shift
the link-layer offsets for the rest of the expression, as tcpdump does. Then the
predicate is emitted, a peephole pass drops loads whose value is already in A or X
and jumps to the next instruction, and ``assemble`` lays out labels into jt/jf
offsets, inserting ``ja`` trampolines where a conditional jump is over 255
instructions long.

Where tcpdump's code looks at a header only under guards (``tcp[13]`` only on
IPv4 TCP first fragments; ports only on first fragments for IPv4 and only with
no IPv6 extension header), ours tests the same guards in the same order, so a
load past the end of a short packet rejects it in both (BPF semantics).
Difference by intent: in ``ip[0] + ip[1]`` both operands' guards are kept (libpcap
1.10 keeps only the left one's).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from netdiag.capture.bpf import insn as I
from netdiag.capture.bpf.insn import BpfInsn
from netdiag.capture.bpf.lexer import FilterError, Token
from netdiag.capture.bpf.linkvar import VAR_HDR, WLAN_FAMILIES
from netdiag.capture.bpf.parser import (
    Abbrev,
    And,
    Arith,
    BinOp,
    Len,
    Load,
    Neg,
    Node,
    Not,
    Num,
    Or,
    Prim,
    Rel,
)  # fmt: skip
from netdiag.capture.bpf.primitives import Primitives
from netdiag.capture.bpf.program import Emitter, Pred, assemble
from netdiag.capture.bpf.reach import can_accept
from netdiag.capture.bpf.wlanparse import LlcPrim, Wlan

__all__ = ["compile_ast", "RejectsAllError"]

_ALU = {"+": I.ADD, "-": I.SUB, "*": I.MUL, "/": I.DIV, "%": I.MOD, "&": I.AND, "|": I.OR}
_ALU.update({"^": I.XOR, "<<": I.LSH, ">>": I.RSH})
_FOLD: dict[str, Callable[[int, int], int]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "&": lambda a, b: a & b,
    "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b if b < 32 else 0,
    ">>": lambda a, b: a >> b if b < 32 else 0,
}
_REL = {
    "=": (I.JEQ, False), "==": (I.JEQ, False), "!=": (I.JEQ, True),
    ">": (I.JGT, False), ">=": (I.JGE, False), "<": (I.JGE, True), "<=": (I.JGT, True),
}  # fmt: skip
_TRANSPORT = {"tcp": 6, "udp": 17, "icmp": 1, "igmp": 2, "sctp": 132}


def _err(msg: str, tok: Token) -> FilterError:
    e = FilterError(f"filter: {msg} at column {tok.col}")
    e.col = tok.col  # type: ignore[attr-defined]
    return e


class _Value:
    """An arithmetic value: its guards, the code that leaves it in A, whether that code uses X."""

    def __init__(
        self,
        guards: list[Pred],
        emit: Callable[[], None] | None,
        const: int | None = None,
        uses_x: bool = False,
    ) -> None:
        self.guards = guards
        self.emit_fn = emit
        self.const = const
        self.uses_x = uses_x


class Compiler(Primitives):
    """Turns one AST into one predicate, tracking tcpdump's link-layer offsets."""

    def node(self, n: Node | Wlan | LlcPrim) -> Pred:
        if isinstance(n, And):
            return self.p_and(self.node(n.left), self.node(n.right))
        if isinstance(n, Or):
            return self.p_or(self.node(n.left), self.node(n.right))
        if isinstance(n, Not):
            return self.p_not(self.node(n.operand))
        if isinstance(n, Prim):
            return self.prim(n)
        if isinstance(n, Abbrev):
            return self.abbrev(n)
        if isinstance(n, Wlan):
            return self.wlan_fc(n.what, n.value, n.mask, n.tok)
        if isinstance(n, LlcPrim):
            return self.llc_prim(n.mask, n.value, n.tok)
        return self.relation(n)

    # -- arithmetic ------------------------------------------------------------------

    def relation(self, r: Rel) -> Pred:
        a, b = self.value(r.left), self.value(r.right)
        jop, negate = _REL[r.op]
        if a.const is not None and b.const is not None:
            x, y = a.const, b.const
            res = x == y if jop == I.JEQ else x > y if jop == I.JGT else x >= y
            return self.TRUE if res != negate else self.FALSE
        e = self.e

        def compare(t: int, f: int) -> None:
            if negate:
                t, f = f, t
            if b.const is not None:
                self.emit_value(a)
                e.jump(I.JMP | jop | I.K, b.const, t, f)
                return
            self.load_x(b, a)
            e.jump(I.JMP | jop | I.X, 0, t, f)

        return self.p_and(*a.guards, *b.guards, compare)

    def emit_value(self, v: _Value) -> None:
        if v.const is not None:
            self.e.stmt(I.LD | I.IMM, v.const)
        else:
            assert v.emit_fn is not None
            v.emit_fn()

    def load_x(self, xv: _Value, av: _Value) -> None:
        """Leave ``xv`` in X and ``av`` in A."""
        e = self.e
        if xv.const is not None:
            self.emit_value(av)
            e.stmt(I.LDX | I.IMM, xv.const)
        elif not av.uses_x:
            self.emit_value(xv)
            e.stmt(I.MISC | I.TAX)
            self.emit_value(av)
        else:
            self.emit_value(xv)
            reg = e.alloc_reg()
            e.stmt(I.ST, reg)
            self.emit_value(av)
            e.stmt(I.LDX | I.MEM, reg)
            e.free_reg(reg)

    def value(self, a: Arith) -> _Value:
        if isinstance(a, Num):
            return _Value([], None, a.value & 0xFFFFFFFF)
        if isinstance(a, Len):
            return _Value([], lambda: self.e.stmt(I.LD | I.LEN))
        if isinstance(a, Neg):
            v = self.value(a.operand)
            if v.const is not None:
                return _Value([], None, -v.const & 0xFFFFFFFF)

            def neg() -> None:
                self.emit_value(v)
                self.e.stmt(I.ALU | I.NEG)

            return _Value(v.guards, neg, None, v.uses_x)
        if isinstance(a, BinOp):
            return self.binop(a)
        return self.load(a)

    def binop(self, a: BinOp) -> _Value:
        left, right = self.value(a.left), self.value(a.right)
        if a.op in ("/", "%") and right.const == 0:
            raise _err("division by zero", a.tok)
        code = _ALU[a.op]
        if left.const is not None and right.const is not None:
            return _Value([], None, _FOLD[a.op](left.const, right.const) & 0xFFFFFFFF)

        def emit() -> None:
            if right.const is not None:
                self.emit_value(left)
                self.e.stmt(I.ALU | code | I.K, right.const)
            else:
                self.load_x(right, left)
                self.e.stmt(I.ALU | code | I.X)

        return _Value(
            left.guards + right.guards, emit, None, True if right.const is None else left.uses_x
        )

    def load(self, a: Load) -> _Value:
        e = self.e
        idx = self.value(a.index)
        size = {1: I.B, 2: I.H, 4: I.W}[a.size]
        proto = a.proto
        guards = list(idx.guards)
        if proto in ("ether", "link"):
            base = self.off_hdr  # the link header: past radiotap on 127, as libpcap
        elif proto in ("ip", "ip6", "arp", "rarp"):
            base = self.off_nl
            guards.append(self.link_pred(self.ethertype_of(proto), a.tok))
        elif proto == "icmp6":
            base = self.off_nl + 40
            guards.append(self.ip6_nexthdr(58, chase_fragment=False))
        else:
            nl = self.off_nl
            guards.append(self.p_and(self.ip_proto(_TRANSPORT[proto]), self.not_fragment()))
            self._reg(nl)

            def emit_transport() -> None:
                if idx.const is not None:
                    e.stmt(I.LD | I.IND | size, self.ldx_l4(nl) + idx.const)
                    return
                self.emit_value(idx)
                k = self.ldx_l4(nl)
                e.stmt(I.ALU | I.ADD | I.X)
                e.stmt(I.MISC | I.TAX)
                e.stmt(I.LD | I.IND | size, k)

            return _Value(guards, emit_transport, None, True)

        self._reg(base)

        def emit() -> None:
            if idx.const is not None:
                self.ld(size, base + idx.const)
                return
            self.emit_value(idx)
            self.ld_indexed(size, base)

        return _Value(guards, emit, None, idx.const is None or base >= VAR_HDR)


def compile_ast(
    tree: Node | Wlan | LlcPrim | None, linktype: int, snaplen: int, netmask: int = 0
) -> list[BpfInsn]:
    """The program for ``tree`` (None: accept everything) on ``linktype``; ``netmask``
    is what ``ip broadcast`` takes (0 for a capture file, as tcpdump -r)."""
    e = Emitter()
    if tree is None:
        return [BpfInsn(I.RET | I.K, 0, 0, snaplen)]
    comp = Compiler(e, linktype, little_endian=sys.byteorder == "little")
    comp.netmask = netmask
    pred = comp.node(tree)
    prologue = comp.prologue()  # variable link offsets (linkvar.py), first as in libpcap
    # libpcap turns its optimizer off when it computes the 802.11 payload offset; only
    # the optimizer finds that an expression rejects all packets.
    # So does ``geneve`` (its offsets code, tunnels.py).
    optimized = not (comp.family in WLAN_FAMILIES and comp.pl_reg is not None)
    optimized = optimized and not comp.no_optimize
    if prologue is not None and pred is not comp.TRUE and pred is not comp.FALSE:
        pred = comp.p_and(prologue, pred)
    prog = assemble(e, pred, comp, snaplen)
    if optimized and not can_accept(prog):
        raise RejectsAllError("filter: expression rejects all packets")
    return prog


class RejectsAllError(FilterError):
    """An expression no packet can match: tcpdump's message, and its exit status 1."""

    exit_status = 1
