"""Tokens of the pcap-filter language, each with its 1-based column.

Words follow tcpdump's lexer: a word starts with a letter or digit and may hold
``- _ .`` inside (so ``tcp-syn`` and ``20-21`` are single words, and ``len-14``
is one unknown word, as in tcpdump). A word of digits is a number (decimal,
``0x`` hex, or octal with a leading 0); digits with dots are an IPv4 address
or prefix; names of constants (``tcp-syn``, ``icmp-echo``...) are numbers.
IPv6 addresses and MAC addresses (``aa:bb:cc:dd:ee:ff``) are taken whole when
the text parses as one. A backslash makes a keyword a plain word (``\\tcp``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import namedtuple

from netdiag.capture.bpf.names import NUMBER_NAMES
from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import NamedTuple

__all__ = ["FilterError", "Token", "tokenize", "KEYWORDS"]


class FilterError(UsageError):
    """A filter expression that does not compile; the message names the token and column."""


if TYPE_CHECKING:

    class Token(NamedTuple):
        kind: str  # "word", "num", "ipv4", "ipv6", "mac", "op", "end"
        text: str
        col: int  # 1-based
        value: object = None  # int for num, bytes for addresses, None otherwise
        escaped: bool = False

else:  # the same tuple, without loading typing at run time
    Token = namedtuple("Token", "kind text col value escaped", defaults=(None, False))


KEYWORDS = frozenset(
    """
    and or not host net port portrange proto src dst mask ether link ip ip6 arp rarp
    tcp udp sctp icmp icmp6 igmp vlan less greater len broadcast multicast gateway
    mpls geneve vrrp pim
    """.split()
)

_WORD = re.compile(r"[A-Za-z0-9_](?:[-_.A-Za-z0-9]*[._A-Za-z0-9])?")
_HEXCOLON = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_MAC = re.compile(r"[0-9A-Fa-f]{1,2}([:.-])[0-9A-Fa-f]{1,2}(\1[0-9A-Fa-f]{1,2}){4}")
_MAC_DOTTED = re.compile(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}")
_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]+|[0-9]+")
_DOTTED = re.compile(r"[0-9]+(\.[0-9]+){1,3}")
_OPS: tuple[str, ...] = ("&&", "||", "<<", ">>", "<=", ">=", "==", "!=", "(", ")", "[", "]")
_OPS += (":", "+", "-", "*", "/", "%", "&", "|", "^", "<", ">", "=", "!")


def _number(text: str) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if len(text) > 1 and text[0] == "0":
        if any(c in "89" for c in text):
            return None
        return int(text, 8)
    return int(text)


def _mac(text: str) -> bytes | None:
    if _MAC.fullmatch(text):
        return bytes(int(p, 16) for p in re.split(r"[:.-]", text))
    if _MAC_DOTTED.fullmatch(text):
        return bytes.fromhex(text.replace(".", ""))
    return None


def _ipv4(text: str) -> bytes | None:
    if not _DOTTED.fullmatch(text):
        return None
    parts = [int(p) for p in text.split(".")]
    if any(p > 255 for p in parts):
        return None
    return bytes(parts)  # 2 to 4 bytes: a prefix when shorter


def tokenize(expr: str) -> list[Token]:
    """Split ``expr`` into tokens ending with an ``end`` token; FilterError on a stray character."""
    out: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
            continue
        col = i + 1
        m = _HEXCOLON.match(expr, i)
        if m and m.end() - i > 2:
            text = m.group()
            mac = _mac(text)
            if mac is not None:
                out.append(Token("mac", text, col, mac))
                i = m.end()
                continue
            try:
                addr = ipaddress.IPv6Address(text)
            except ValueError:
                pass
            else:
                out.append(Token("ipv6", text, col, addr.packed))
                i = m.end()
                continue
        if c == "\\":
            m = _WORD.match(expr, i + 1)
            if not m:
                raise FilterError(f"filter: unexpected '\\' at column {col}")
            out.append(Token("word", m.group(), col, None, True))
            i = m.end()
            continue
        m = _WORD.match(expr, i)
        if m:
            text = m.group()
            dotted_mac = _mac(text)
            num = _number(text)
            v4 = _ipv4(text)
            if num is not None:
                out.append(Token("num", text, col, num))
            elif v4 is not None:
                out.append(Token("ipv4", text, col, v4))
            elif dotted_mac is not None:
                out.append(Token("mac", text, col, dotted_mac))
            elif text in NUMBER_NAMES:
                out.append(Token("num", text, col, NUMBER_NAMES[text]))
            else:
                out.append(Token("word", text, col))
            i = m.end()
            continue
        for op in _OPS:
            if expr.startswith(op, i):
                out.append(Token("op", op, col))
                i += len(op)
                break
        else:
            raise FilterError(f"filter: unexpected '{c}' at column {col}")
    out.append(Token("end", "", n + 1))
    return out
