"""The pcap-filter grammar: tokens -> a small AST.

Precedence as tcpdump (pcap-filter(7)): ``not`` binds tightest; ``and`` and
``or`` have equal precedence and associate left to right (``a or b and c`` is
``(a or b) and c``). Arithmetic: ``|`` < ``&`` < ``<< >>`` < ``+ -`` <
``* / %`` < unary minus, all left-associative; ``^`` takes the operand just
before it and everything after it (tcpdump's grammar gives ``^`` no precedence,
so its parser always shifts on it: ``2 & 3 ^ 1`` is ``2 & (3 ^ 1)``).

Qualifiers: a primitive is ``[proto] [dir] [kind] ID``; a bare ID repeats the
qualifiers of the previous primitive (``host a or b``, ``port 80 or 443``,
``host a and not b``), as tcpdump does. ``(`` may open arithmetic or a boolean
group: arithmetic is tried first, and of two failures the one that got further
is reported.
"""

from __future__ import annotations

from netdiag.capture.bpf.lexer import KEYWORDS, FilterError, Token, tokenize
from netdiag.records import dataclass

__all__ = [
    "parse", "And", "Or", "Not", "Prim", "Abbrev", "Rel",
    "Num", "Len", "Load", "BinOp", "Neg", "Node", "Arith",
]  # fmt: skip

PROTO_QUALS = frozenset("ether link ip ip6 arp rarp tcp udp sctp icmp icmp6 igmp".split())
#: keywords of their own in libpcap's grammar, so not names after ``proto``
_NOT_PROTO_NAMES = frozenset(("mpls", "geneve", "vrrp", "pim"))
DIRS = frozenset(("src", "dst"))
KINDS = frozenset(("host", "net", "port", "portrange", "gateway"))
RELOPS = frozenset((">", "<", ">=", "<=", "=", "==", "!="))
BINARY_LEVELS: tuple[frozenset[str], ...] = (
    frozenset("|"),
    frozenset("&"),
    frozenset(("<<", ">>")),
    frozenset("+-"),
    frozenset("*/%"),
)
ARITH_OPS = frozenset().union(*BINARY_LEVELS) | {"^"}


# -- AST --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Len:
    pass


@dataclass(frozen=True)
class Load:
    proto: str
    index: Arith
    size: int
    tok: Token


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Arith
    right: Arith
    tok: Token


@dataclass(frozen=True)
class Neg:
    operand: Arith


Arith = Num | Len | Load | BinOp | Neg


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Prim:
    """``[proto] [dir] [kind] ID``: None where omitted; ``extra`` holds ``/len`` or ``mask``."""

    proto: str | None
    dir: str | None
    kind: str | None
    tok: Token
    extra: Token | None = None
    extra_kind: str | None = None  # "/", "mask" or "-" (portrange as two numbers)


@dataclass(frozen=True)
class Abbrev:
    """A primitive without an ID: ``tcp``, ``ip6``, ``vlan [N]``, ``less N``, ``broadcast``."""

    name: str
    tok: Token
    arg: int | None = None


@dataclass(frozen=True)
class Rel:
    op: str
    left: Arith
    right: Arith
    tok: Token


Node = And | Or | Not | Prim | Abbrev | Rel

_Qual = tuple[str | None, str | None, str | None]
_ERR = ("err", None, None)


def _unexpected(tok: Token) -> FilterError:
    if tok.kind == "end":
        e = FilterError(f"filter: unexpected end of expression at column {tok.col}")
    else:
        e = FilterError(f"filter: unexpected '{tok.text}' at column {tok.col}")
    e.col = tok.col  # type: ignore[attr-defined]
    return e


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.pos = 0
        self.qual: _Qual | None = None  # qualifiers a bare ID repeats

    @property
    def cur(self) -> Token:
        return self.toks[self.pos]

    def peek(self, n: int = 1) -> Token:
        return self.toks[min(self.pos + n, len(self.toks) - 1)]

    def is_op(self, *ops: str, tok: Token | None = None) -> bool:
        t = self.cur if tok is None else tok
        return t.kind == "op" and t.text in ops

    def is_word(self, *words: str, tok: Token | None = None) -> bool:
        t = self.cur if tok is None else tok
        return t.kind == "word" and not t.escaped and t.text in words

    def take(self) -> Token:
        t = self.cur
        self.pos += 1
        return t

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise _unexpected(self.cur)
        return self.take()

    # -- boolean ---------------------------------------------------------------------

    def expr(self) -> Node:
        left = self.unary()
        while self.is_word("and", "or") or self.is_op("&&", "||"):
            op = self.take().text
            right = self.unary()
            left = And(left, right) if op in ("and", "&&") else Or(left, right)
        return left

    def unary(self) -> Node:
        if self.is_word("not") or self.is_op("!"):
            self.take()
            return Not(self.unary())
        if self.is_op("("):
            start, qual = self.pos, self.qual
            try:
                return self.relation()
            except FilterError as e:
                arith_err = e
            self.pos, self.qual = start, qual
            self.take()
            try:
                node = self.expr()
                self.expect_op(")")
            except FilterError as e:
                if getattr(arith_err, "col", 0) > getattr(e, "col", 0):
                    raise arith_err from None
                raise
            return node
        if self.starts_relation():
            return self.relation()
        return self.primitive()

    def starts_relation(self) -> bool:
        t, nxt = self.cur, self.peek()
        if t.kind == "num":
            return nxt.kind == "op" and (nxt.text in RELOPS or nxt.text in ARITH_OPS)
        if self.is_op("-") or self.is_word("len"):
            return True
        return self.is_word(*PROTO_QUALS) and self.is_op("[", tok=nxt)

    # -- primitives ------------------------------------------------------------------

    def primitive(self) -> Node:
        first = self.cur
        proto = dir_ = kind = None
        if self.is_word(*PROTO_QUALS):
            proto = self.take().text
        if self.is_word(*DIRS):
            dir_ = self.take().text
            if self.is_word("and", "or") and self.is_word(*DIRS, tok=self.peek()):
                dir_ = f"{dir_} {self.take().text} {self.take().text}"
        if self.is_word(*KINDS) or (self.is_word("proto") and dir_ is None):
            kind = self.take().text
        if proto is not None and dir_ is None and kind is None:
            if self.is_word("broadcast", "multicast"):
                return self.done(Abbrev(f"{proto} {self.take().text}", first))
            if proto in ("ether", "link"):
                raise _unexpected(self.cur)
            return self.done(Abbrev(proto, first))
        if proto is None and dir_ is None and kind is None:
            if self.is_word("vlan", "mpls", "geneve"):
                self.take()
                arg = self.take().value if self.cur.kind == "num" else None
                return self.done(Abbrev(first.text, first, arg))  # type: ignore[arg-type]
            if self.is_word("vrrp", "pim"):
                return self.done(Abbrev(self.take().text, first))
            if self.is_word("less", "greater"):
                self.take()
                if self.cur.kind != "num":
                    raise _unexpected(self.cur)
                return self.done(Abbrev(first.text, first, self.take().value))  # type: ignore[arg-type]
            if self.is_word("broadcast", "multicast"):
                return self.done(Abbrev(f"ether {self.take().text}", first))
            if self.qual == _ERR or self.cur.kind in ("op", "end") or self.is_keyword(self.cur):
                raise _unexpected(self.cur)
            proto, dir_, kind = self.qual or (None, None, None)
        qual: _Qual = (proto, dir_, kind)
        return self.ident(qual)

    def is_keyword(self, tok: Token) -> bool:
        return tok.kind == "word" and not tok.escaped and tok.text in KEYWORDS

    def done(self, node: Node) -> Node:
        self.qual = _ERR
        return node

    def ident(self, qual: _Qual) -> Node:
        proto, dir_, kind = qual
        tok = self.cur
        if tok.kind in ("op", "end"):
            raise _unexpected(tok)
        if self.is_keyword(tok) and (kind != "proto" or tok.text in _NOT_PROTO_NAMES):
            raise _unexpected(tok)
        self.take()
        extra = extra_kind = None
        if kind == "net" and self.is_op("/"):
            self.take()
            extra, extra_kind = self.cur, "/"
            if extra.kind != "num":
                raise _unexpected(extra)
            self.take()
        elif kind == "net" and self.is_word("mask"):
            self.take()
            extra, extra_kind = self.cur, "mask"
            if extra.kind != "ipv4":
                raise _unexpected(extra)
            self.take()
        elif kind == "portrange" and tok.kind == "num" and self.is_op("-"):
            self.take()
            extra, extra_kind = self.cur, "-"
            if extra.kind != "num":
                raise _unexpected(extra)
            self.take()
        self.qual = qual
        return Prim(proto, dir_, kind, tok, extra, extra_kind)

    # -- arithmetic ------------------------------------------------------------------

    def relation(self) -> Node:
        left = self.arith()
        tok = self.cur
        if not (tok.kind == "op" and tok.text in RELOPS):
            raise _unexpected(tok)
        self.take()
        right = self.arith()
        self.qual = _ERR
        return Rel(tok.text, left, right, tok)

    def arith(self, level: int = 0) -> Arith:
        if level == len(BINARY_LEVELS):
            return self.operand()
        left = self.arith(level + 1)
        while self.cur.kind == "op" and self.cur.text in BINARY_LEVELS[level]:
            tok = self.take()
            left = BinOp(tok.text, left, self.arith(level + 1), tok)
        return left

    def operand(self) -> Arith:
        if self.is_op("-"):
            self.take()
            return Neg(self.operand())
        value = self.atom()
        if self.is_op("^"):
            tok = self.take()
            value = BinOp("^", value, self.arith(), tok)
        return value

    def atom(self) -> Arith:
        tok = self.cur
        if tok.kind == "num":
            self.take()
            return Num(tok.value)  # type: ignore[arg-type]
        if self.is_word("len"):
            self.take()
            return Len()
        if self.is_op("("):
            self.take()
            inner = self.arith()
            self.expect_op(")")
            return inner
        if self.is_word(*PROTO_QUALS) and self.is_op("[", tok=self.peek()):
            self.take()
            self.take()
            index = self.arith()
            size = 1
            if self.is_op(":"):
                self.take()
                size_tok = self.cur
                if size_tok.kind != "num":
                    raise _unexpected(size_tok)
                self.take()
                size = size_tok.value  # type: ignore[assignment]
                if size not in (1, 2, 4):
                    e = FilterError(
                        f"filter: data size must be 1, 2, or 4, not '{size_tok.text}' "
                        f"at column {size_tok.col}"
                    )
                    e.col = size_tok.col  # type: ignore[attr-defined]
                    raise e
            self.expect_op("]")
            return Load(tok.text, index, size, tok)
        raise _unexpected(tok)


def parse(expr: str) -> Node | None:
    """Parse ``expr``; None for an empty expression (accept everything)."""
    toks = tokenize(expr)
    if toks[0].kind == "end":
        return None
    p = _Parser(toks)
    node = p.expr()
    if p.cur.kind != "end":
        raise _unexpected(p.cur)
    return node
