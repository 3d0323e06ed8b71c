"""What ``netdiag sockets`` reports, and which sockets a command line selects (pure).

``Socket`` is one socket as the kernel sees it, whichever source described it
(sock_diag or /proc/net). ``Selection`` holds the choices of ``ss``'s command
line: the kinds (``-t -u -w -x -0``), the IP versions (``-4 -6``), the states
(default: connected ones; ``-l`` listening; ``-a`` all; ``state NAME``) and the
address/port terms (``dport = :443``, ``sport > :1024``, ``dst 198.18.0.0/15``,
``src [2001:db8::1]:80``). ``parse_filter`` turns the trailing words into
states and terms; a word it does not know is a ``UsageError`` naming it.

States are the kernel's TCP_* numbers (linux/tcp_states.h) for every kind:
sock_diag reports UDP, raw and UNIX sockets with the same numbers (7, TCP_CLOSE,
for an unconnected socket, which ``ss`` prints as UNCONN).
"""

from __future__ import annotations

import ipaddress
import operator
from collections.abc import Callable, Sequence

from netdiag.errors import UsageError
from netdiag.netlink.tcpinfo import TcpInfo
from netdiag.records import dataclass, field

__all__ = [
    "Endpoint",
    "Process",
    "Socket",
    "Term",
    "Selection",
    "STATE_NAMES",
    "KINDS",
    "parse_filter",
]

# ss's words for the TCP_* states (TCP_NEW_SYN_RECV, 12, is shown as SYN-RECV)
STATE_NAMES = {
    1: "ESTAB", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2",
    6: "TIME-WAIT", 7: "UNCONN", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN",
    11: "CLOSING", 12: "SYN-RECV",
}  # fmt: skip
_ALL = frozenset(range(1, 13))
_LISTENING = frozenset({10, 7})  # ss -l: listeners, and unconnected (datagram) sockets
_STATE_WORDS: dict[str, frozenset[int]] = {
    "established": frozenset({1}),
    "syn-sent": frozenset({2}),
    "syn-recv": frozenset({3, 12}),
    "fin-wait-1": frozenset({4}),
    "fin-wait-2": frozenset({5}),
    "time-wait": frozenset({6}),
    "closed": frozenset({7}),
    "unconnected": frozenset({7}),
    "close-wait": frozenset({8}),
    "last-ack": frozenset({9}),
    "listening": frozenset({10}),  # ss's "state listening": LISTEN only (unlike -l)
    "closing": frozenset({11}),
    "all": _ALL,
    "connected": _ALL - {10, 7},  # ss(8): all except listening and closed
    "synchronized": _ALL - {10, 7, 2},
    "bucket": frozenset({3, 12, 6}),
    "big": _ALL - {3, 12, 6},
}
KINDS = ("packet", "unix", "raw", "udp", "tcp")  # the order ss lists them in


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a socket. inet: ``address`` and ``port`` (raw: the IP protocol);
    unix: ``address`` is the path or ``@abstract`` (None: unnamed) and ``inode`` the
    socket's inode (the peer's, for the peer end); packet: ``protocol`` (ethertype)
    and ``interface`` (None: any)."""

    address: str | None = None
    port: int | None = None
    inode: int | None = None
    protocol: int | None = None
    interface: str | None = None


@dataclass(frozen=True, slots=True)
class Process:
    pid: int
    comm: str
    fd: int


@dataclass(frozen=True, slots=True)
class Socket:
    kind: str  # "tcp", "udp", "raw", "unix", "packet"
    family: str  # "inet", "inet6", "unix", "packet"
    type: str  # "stream", "dgram", "seqpacket", "raw"
    state: int  # TCP_*
    local: Endpoint
    peer: Endpoint
    recv_q: int
    send_q: int
    uid: int | None
    inode: int
    source: str  # "netlink" or "proc"
    processes: tuple[Process, ...] = ()
    tcp_info: TcpInfo | None = None
    cong: str | None = None

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, f"UNKNOWN({self.state})")

    @property
    def netid(self) -> str:
        """ss's Netid column: tcp, udp, raw, u_str, u_dgr, u_seq, p_raw, p_dgr."""
        if self.kind == "unix":
            return {"stream": "u_str", "dgram": "u_dgr", "seqpacket": "u_seq"}.get(
                self.type, "u_???"
            )
        if self.kind == "packet":
            return "p_raw" if self.type == "raw" else "p_dgr"
        return self.kind

    @property
    def pid(self) -> int | None:
        return self.processes[0].pid if self.processes else None

    @property
    def comm(self) -> str | None:
        return self.processes[0].comm if self.processes else None


@dataclass(frozen=True, slots=True)
class Term:
    """``sport``/``dport`` compared with a port, or ``src``/``dst`` within a network
    (and, when ``port`` is given, on that port)."""

    what: str  # "sport", "dport", "src", "dst"
    op: str = "="
    port: int | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None

    def matches(self, sock: Socket) -> bool:
        end = sock.local if self.what in ("sport", "src") else sock.peer
        if self.network is not None:
            if end.address is None or sock.kind in ("unix", "packet"):
                return False
            try:
                ip = ipaddress.ip_address(end.address)
            except ValueError:
                return False
            if ip.version != self.network.version or ip not in self.network:
                return False
        if self.port is not None:
            if end.port is None or sock.kind in ("unix", "packet"):
                return False
            return _OPS[self.op](end.port, self.port)
        return True


_OPS: dict[str, Callable[[int, int], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt,
    "<=": operator.le, ">=": operator.ge,
}  # fmt: skip
_OP_WORDS = {"==": "=", "eq": "=", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}


@dataclass(frozen=True, slots=True)
class Selection:
    kinds: frozenset[str] = frozenset(KINDS)
    versions: frozenset[int] = frozenset({4, 6})
    states: frozenset[int] = _STATE_WORDS["connected"]
    terms: tuple[Term, ...] = field(default=())

    def matches(self, sock: Socket) -> bool:
        if sock.kind not in self.kinds or sock.state not in self.states:
            return False
        if sock.family in ("inet", "inet6"):
            if (4 if sock.family == "inet" else 6) not in self.versions:
                return False
        return all(t.matches(sock) for t in self.terms)


def _port(text: str, word: str) -> int:
    digits = text.removeprefix(":")
    if not digits.isdigit() or int(digits) > 65535:
        raise UsageError(f"sockets: bad port in {word!r}: {text!r} (expected :PORT)")
    return int(digits)


def _address(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, int | None]:
    port: int | None = None
    addr = text
    if text.startswith("["):  # [v6]:port or [v6]
        addr, _, rest = text[1:].partition("]")
        if rest:
            port = _port(rest, text)
    elif text.count(":") == 1:  # v4:port
        addr, _, rest = text.partition(":")
        port = _port(rest, text) if rest != "*" else None
    if addr in ("*", ""):
        addr = "0.0.0.0/0"
    try:
        return ipaddress.ip_network(addr, strict=False), port
    except ValueError:
        raise UsageError(f"sockets: not an address or network: {text!r}") from None


def parse_filter(words: Sequence[str]) -> tuple[frozenset[int] | None, tuple[Term, ...]]:
    """``state established dport = :443 ...`` -> (states or None when none named, terms).
    The words ``and`` are accepted and ignored: all terms must hold."""
    states: set[int] = set()
    named = False
    terms: list[Term] = []
    i = 0
    while i < len(words):
        word = words[i].lower()
        i += 1
        if word in ("and", "&&"):
            continue
        if word in ("state", "exclude"):
            if i >= len(words) or words[i].lower() not in _STATE_WORDS:
                got = repr(words[i]) if i < len(words) else "nothing"
                raise UsageError(f"sockets: {word} needs a state name, got {got}")
            chosen = _STATE_WORDS[words[i].lower()]
            if word == "state":
                states |= chosen
                named = True
            else:
                states = (states if named else set(_ALL)) - chosen
                named = True
            i += 1
        elif word in ("sport", "dport", "src", "dst"):
            op = "="
            if i < len(words) and (words[i] in _OPS or words[i].lower() in _OP_WORDS):
                op = _OP_WORDS.get(words[i].lower(), words[i])
                i += 1
            if i >= len(words):
                raise UsageError(f"sockets: {word} needs a value")
            value = words[i]
            i += 1
            if word in ("sport", "dport"):
                terms.append(Term(word, op, port=_port(value, word)))
            else:
                if op != "=":
                    raise UsageError(f"sockets: {word} takes no operator {op!r}")
                network, port = _address(value)
                terms.append(Term(word, "=", port=port, network=network))
        else:
            raise UsageError(f"sockets: unknown filter word {words[i - 1]!r}")
    return (frozenset(states) if named else None), tuple(terms)


def default_states(listening: bool, every: bool) -> frozenset[int]:
    """ss's defaults: connected sockets; ``-l`` listening ones; ``-a`` all."""
    if every:
        return _ALL
    return _LISTENING if listening else _STATE_WORDS["connected"]
