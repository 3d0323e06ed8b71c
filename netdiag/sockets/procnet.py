"""/proc/net socket tables as records: text in, frozen records out (no I/O here).

The fallback of ``netdiag sockets`` where sock_diag is not available. The
formats are the kernel's (Documentation/networking/proc_net_tcp.rst and the
``seq_show`` functions behind each file):

- ``tcp``, ``tcp6``, ``udp``, ``udp6``, ``raw``, ``raw6``: ``sl local rem st
  tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...``. Addresses are
  the 32-bit words of the address printed in hex in the host's byte order
  (``0100007F`` is 127.0.0.1 on a little-endian machine), ports in hex, ``st``
  a TCP_* state in hex (UDP and raw: 07 unconnected, 01 connected); raw
  sockets show their protocol where the port would be.
- ``unix``: ``Num RefCount Protocol Flags Type St Inode [Path]``; Flags 0x10000
  (__SO_ACCEPTCON) marks a listener, St is the ``socket_state`` (SS_CONNECTED 3,
  SS_CONNECTING 2); abstract names are printed with ``@`` for NULs. The file
  says nothing of peers or queues.
- ``packet``: ``sk RefCnt Type Proto Iface R Rmem User Inode``; Proto is the
  ethertype in hex (0003: ETH_P_ALL), Iface the bound ifindex (0: any).

A line that does not fit its format raises ``ProcNetError`` (a ``DecodeError``
naming the file and the byte offset of the line).
"""

from __future__ import annotations

import ipaddress
import sys

from netdiag.errors import MalformedError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Literal

__all__ = [
    "ProcNetError",
    "ProcInet",
    "ProcUnix",
    "ProcPacket",
    "parse_inet",
    "parse_unix",
    "parse_packet",
    "INET_FILES",
]

#: file name -> (protocol kind, IP version)
INET_FILES: dict[str, tuple[str, int]] = {
    "tcp": ("tcp", 4),
    "tcp6": ("tcp", 6),
    "udp": ("udp", 4),
    "udp6": ("udp", 6),
    "raw": ("raw", 4),
    "raw6": ("raw", 6),
}
_ACCEPTCON = 0x10000  # __SO_ACCEPTCON (linux/net.h)
_SS_CONNECTING, _SS_CONNECTED = 2, 3  # socket_state (linux/net.h)
_TCP_ESTABLISHED, _TCP_SYN_SENT, _TCP_CLOSE, _TCP_LISTEN = 1, 2, 7, 10


class ProcNetError(MalformedError):
    """A /proc/net line that does not have the kernel's format."""


@dataclass(frozen=True, slots=True)
class ProcInet:
    kind: str  # "tcp", "udp", "raw"
    version: int  # 4 or 6
    src: str
    sport: int  # raw sockets: the IP protocol
    dst: str
    dport: int
    state: int  # TCP_* (linux/tcp_states.h)
    tx_queue: int
    rx_queue: int
    uid: int
    inode: int


@dataclass(frozen=True, slots=True)
class ProcUnix:
    type: int  # SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5
    state: int  # as unix_diag reports it: TCP_LISTEN, TCP_ESTABLISHED, TCP_SYN_SENT, TCP_CLOSE
    flags: int
    inode: int
    path: str | None  # None: unbound


@dataclass(frozen=True, slots=True)
class ProcPacket:
    type: int  # SOCK_RAW 3, SOCK_DGRAM 2
    protocol: int  # ethertype
    ifindex: int
    running: bool
    rmem: int
    uid: int
    inode: int


def _lines(text: str, name: str, min_fields: int) -> list[tuple[int, list[str], str]]:
    """(byte offset, fields, line) of each line after the header, split at white space."""
    out = []
    offset = 0
    for n, line in enumerate(text.splitlines(keepends=True)):
        if n > 0 and line.strip():
            fields = line.split()
            if len(fields) < min_fields:
                raise ProcNetError(
                    name, offset, f"{len(fields)} fields, expected at least {min_fields}"
                )
            out.append((offset, fields, line))
        offset += len(line.encode())
    return out


def _hex(text: str, name: str, offset: int) -> int:
    try:
        return int(text, 16)
    except ValueError:
        raise ProcNetError(name, offset, f"not hexadecimal: {text!r}") from None


def _int(text: str, name: str, offset: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProcNetError(name, offset, f"not a number: {text!r}") from None


def _endpoint(
    text: str, version: int, order: Literal["little", "big"], name: str, offset: int
) -> tuple[str, int]:
    addr, sep, port = text.partition(":")
    if not sep or len(addr) != (8 if version == 4 else 32):
        raise ProcNetError(name, offset, f"not an IPv{version} address:port: {text!r}")
    raw = b"".join(
        _hex(addr[i : i + 8], name, offset).to_bytes(4, order) for i in range(0, len(addr), 8)
    )
    ip = ipaddress.IPv4Address(raw) if version == 4 else ipaddress.IPv6Address(raw)
    return str(ip), _hex(port, name, offset)


def parse_inet(
    text: str, file: str, byteorder: Literal["little", "big"] | None = None
) -> list[ProcInet]:
    """The sockets of /proc/net/``file`` (one of ``INET_FILES``). ``byteorder`` is the
    byte order of the machine that wrote the text (default: this machine's)."""
    kind, version = INET_FILES[file]
    order = byteorder or sys.byteorder
    name = f"/proc/net/{file}"
    out = []
    for off, f, _ in _lines(text, name, 10):
        src, sport = _endpoint(f[1], version, order, name, off)
        dst, dport = _endpoint(f[2], version, order, name, off)
        tx, sep, rx = f[4].partition(":")
        if not sep:
            raise ProcNetError(name, off, f"not tx_queue:rx_queue: {f[4]!r}")
        out.append(
            ProcInet(
                kind,
                version,
                src,
                sport,
                dst,
                dport,
                _hex(f[3], name, off),
                _hex(tx, name, off),
                _hex(rx, name, off),
                _int(f[7], name, off),
                _int(f[9], name, off),
            )  # fmt: skip
        )
    return out


def parse_unix(text: str) -> list[ProcUnix]:
    name = "/proc/net/unix"
    out = []
    for off, f, line in _lines(text, name, 7):
        flags = _hex(f[3], name, off)
        sock_state = _hex(f[5], name, off)
        if flags & _ACCEPTCON:
            state = _TCP_LISTEN
        elif sock_state == _SS_CONNECTED:
            state = _TCP_ESTABLISHED
        elif sock_state == _SS_CONNECTING:
            state = _TCP_SYN_SENT
        else:
            state = _TCP_CLOSE
        # the path is everything after the inode (it may hold spaces)
        path = line.split(None, 7)[7].rstrip("\n") if len(f) > 7 else None
        out.append(ProcUnix(_hex(f[4], name, off), state, flags, _int(f[6], name, off), path))
    return out


def parse_packet(text: str) -> list[ProcPacket]:
    name = "/proc/net/packet"
    out = []
    for off, f, _ in _lines(text, name, 9):
        out.append(
            ProcPacket(
                _int(f[2], name, off),
                _hex(f[3], name, off),
                _int(f[4], name, off),
                f[5] == "1",
                _int(f[6], name, off),
                _int(f[7], name, off),
                _int(f[8], name, off),
            )  # fmt: skip
        )
    return out
