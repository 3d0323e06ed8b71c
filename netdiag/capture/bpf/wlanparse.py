"""The pcap-filter grammar with libpcap's 802.11 parts: what ``parser.py`` parses, plus

- the link-layer synonyms ``wlan``, ``fddi``, ``tr``, ``ppp``, ``slip`` (libpcap's
  scanner returns LINK for each, as for ``ether`` and ``link``);
- the 802.11 address qualifiers ``addr1``..``addr4`` (``address1``..), ``ra``, ``ta``:
  ``wlan addr2 MAC``, ``wlan ra host MAC``;
- ``[wlan] type T [subtype S]``, ``[wlan] subtype S``, ``[wlan] dir D`` (``direction``),
  with libpcap's names (grammar.y's ieee80211_types, *_subtypes, and nods/tods/
  fromds/dstods) and numbers, and its messages for a bad one;
- ``llc`` and ``llc i|s|u|rr|rnr|rej|ui|ua|disc|dm|sabme|test|xid|frmr``.

Names are matched without regard to case, as libpcap's str2tok does.
"""

from __future__ import annotations

from netdiag.capture.bpf.lexer import KEYWORDS, FilterError, Token, tokenize
from netdiag.capture.bpf.parser import KINDS, PROTO_QUALS, Node, _Parser
from netdiag.records import dataclass

__all__ = ["parse", "Wlan", "LlcPrim", "TYPES", "SUBTYPES"]

_LINK_SYNONYMS = frozenset(("wlan", "fddi", "tr", "ppp", "slip"))
_DIR_QUALS = {"addr1": "addr1", "address1": "addr1", "addr2": "addr2", "address2": "addr2",
              "addr3": "addr3", "address3": "addr3", "addr4": "addr4", "address4": "addr4",
              "ra": "ra", "ta": "ta"}  # fmt: skip
#: FC byte 0 values (type << 2)
TYPES = {"data": 0x08, "mgt": 0x00, "management": 0x00, "ctl": 0x04, "control": 0x04}
_MGT = {"assocreq": 0x00, "assoc-req": 0x00, "assocresp": 0x10, "assoc-resp": 0x10,
        "reassocreq": 0x20, "reassoc-req": 0x20, "reassocresp": 0x30, "reassoc-resp": 0x30,
        "probereq": 0x40, "probe-req": 0x40, "proberesp": 0x50, "probe-resp": 0x50,
        "beacon": 0x80, "atim": 0x90, "disassoc": 0xA0, "disassociation": 0xA0,
        "auth": 0xB0, "authentication": 0xB0, "deauth": 0xC0, "deauthentication": 0xC0}  # fmt: skip
_CTL = {"ps-poll": 0xA0, "rts": 0xB0, "cts": 0xC0, "ack": 0xD0, "cf-end": 0xE0,
        "cf-end-ack": 0xF0}  # fmt: skip
_DATA = {"data": 0x00, "data-cf-ack": 0x10, "data-cf-poll": 0x20, "data-cf-ack-poll": 0x30,
         "null": 0x40, "cf-ack": 0x50, "cf-poll": 0x60, "cf-ack-poll": 0x70, "qos-data": 0x80,
         "qos-data-cf-ack": 0x90, "qos-data-cf-poll": 0xA0, "qos-data-cf-ack-poll": 0xB0,
         "qos": 0xC0, "qos-cf-poll": 0xE0, "qos-cf-ack-poll": 0xF0}  # fmt: skip
#: type value -> its subtype names, in libpcap's search order (mgt, ctl, data)
SUBTYPES = {0x00: _MGT, 0x04: _CTL, 0x08: _DATA}
_DIRS = {"nods": 0, "tods": 1, "fromds": 2, "dstods": 3}
TYPE_MASK, SUBTYPE_MASK = 0x0C, 0xF0


@dataclass(frozen=True)
class Wlan:
    """``type``/``subtype`` (what = "type") or ``dir`` (what = "dir"): FC byte & mask == value."""

    what: str
    value: int
    mask: int
    tok: Token


#: ``llc WORD``: (control mask, value), grammar.y's llc_s_subtypes/llc_u_subtypes (llc.h)
LLC_KINDS = {"i": (0x01, 0x00), "s": (0x03, 0x01), "u": (0x03, 0x03),
             "rr": (0x0F, 0x01), "rnr": (0x0F, 0x05), "rej": (0x0F, 0x09),
             "ui": (0xEF, 0x03), "ua": (0xEF, 0x63), "disc": (0xEF, 0x43), "dm": (0xEF, 0x0F),
             "sabme": (0xEF, 0x6F), "test": (0xEF, 0xE3), "xid": (0xEF, 0xAF),
             "frmr": (0xEF, 0x87)}  # fmt: skip


@dataclass(frozen=True)
class LlcPrim:
    """``llc`` (mask None), or ``llc KIND``: the LLC control byte & mask == value."""

    mask: int | None
    value: int
    tok: Token


def _fail(msg: str, tok: Token) -> FilterError:
    e = FilterError(f"filter: {msg} at column {tok.col}")
    e.col = tok.col  # type: ignore[attr-defined]
    return e


class _WlanParser(_Parser):
    def primitive(self) -> Node:
        start, qual = self.pos, self.qual
        first = self.cur
        proto = None
        if self.is_word(*PROTO_QUALS):
            proto = self.take().text
        if proto in (None, "link", "ether") and self.is_word("type", "subtype", "dir"):
            return self.done(self.p80211(first))  # type: ignore[arg-type]
        if proto is None and self.is_word("llc"):
            self.take()
            nxt = self.cur
            if nxt.kind != "word" or nxt.escaped is False and nxt.text in KEYWORDS:
                return self.done(LlcPrim(None, 0, first))  # type: ignore[arg-type]
            self.take()
            llc = LLC_KINDS.get(nxt.text.lower())
            if llc is None:
                raise _fail(f'unknown LLC type name "{nxt.text}"', nxt)
            return self.done(LlcPrim(llc[0], llc[1], first))  # type: ignore[arg-type]
        if self.is_word(*_DIR_QUALS):
            dir_ = _DIR_QUALS[self.take().text]
            kind = self.take().text if self.is_word(*KINDS) else None
            return self.ident((proto, dir_, kind))
        self.pos, self.qual = start, qual
        return super().primitive()

    def _value(self) -> Token:
        tok = self.cur
        if tok.kind not in ("num", "word"):
            from netdiag.capture.bpf.parser import _unexpected

            raise _unexpected(tok)
        return self.take()

    def p80211(self, first: Token) -> Wlan:
        word = self.take().text
        if word == "dir":
            tok = self._value()
            if tok.kind == "num":
                return Wlan("dir", tok.value, 0x03, first)  # type: ignore[arg-type]
            d = _DIRS.get(tok.text.lower())
            if d is None:
                raise _fail("unknown 802.11 direction", tok)
            return Wlan("dir", d, 0x03, first)
        if word == "subtype":
            tok = self._value()
            for t, names in SUBTYPES.items():
                v = names.get(tok.text.lower()) if tok.kind == "word" else None
                if v is not None:
                    return Wlan("type", t | v, TYPE_MASK | SUBTYPE_MASK, first)
            raise _fail("unknown 802.11 type name", tok)
        tok = self._value()
        if tok.kind == "num":
            ftype: int = tok.value  # type: ignore[assignment]
            if ftype & ~TYPE_MASK:
                raise _fail(f"invalid 802.11 type value 0x{ftype:02x}", tok)
        else:
            got = TYPES.get(tok.text.lower())
            if got is None:
                raise _fail(f'unknown 802.11 type name "{tok.text}"', tok)
            ftype = got
        if not self.is_word("subtype"):
            return Wlan("type", ftype, TYPE_MASK, first)
        self.take()
        tok = self._value()
        if tok.kind == "num":
            sub: int = tok.value  # type: ignore[assignment]
            if sub & ~SUBTYPE_MASK:
                raise _fail(f"invalid 802.11 subtype value 0x{sub:02x}", tok)
        else:
            table = SUBTYPES.get(ftype)
            if table is None:
                raise _fail("unknown 802.11 type", tok)
            got = table.get(tok.text.lower())
            if got is None:
                raise _fail(f'unknown 802.11 subtype name "{tok.text}"', tok)
            sub = got
        return Wlan("type", ftype | sub, TYPE_MASK | SUBTYPE_MASK, first)


def _tokens(expr: str) -> list[Token]:
    out = []
    for t in tokenize(expr):
        if t.kind == "word" and not t.escaped:
            low = t.text
            if low in _LINK_SYNONYMS:
                t = t._replace(text="link")
            elif low == "direction":
                t = t._replace(text="dir")
        out.append(t)
    return out


def parse(expr: str) -> Node | Wlan | LlcPrim | None:
    """Parse ``expr`` as parser.parse does, with the 802.11 grammar; None when empty."""
    toks = _tokens(expr)
    if toks[0].kind == "end":
        return None
    p = _WlanParser(toks)
    node = p.expr()
    if p.cur.kind != "end":
        from netdiag.capture.bpf.parser import _unexpected

        raise _unexpected(p.cur)
    return node
