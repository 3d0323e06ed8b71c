"""fping's target lists: arguments, ``-f FILE`` and ``-g`` (CIDR, or START END).

``-g`` works on IPv4 only, as fping's. A CIDR prefix shorter than /31 loses its
network and broadcast addresses (fping's rule); START END is inclusive. More than
:data:`MAX_GENERATE` addresses are refused unless ``force`` (fping would expand a
/8 to 16.7M targets without a word).
"""

from __future__ import annotations

import socket
import sys

from netdiag.errors import UsageError

__all__ = ["generate", "read_file", "MAX_GENERATE"]

MAX_GENERATE = 65536


def _v4(text: str) -> int:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        raise UsageError(f"-g: can't parse address {text}") from None
    raise UsageError("-g works only with IPv4 addresses")


def _text(n: int) -> str:
    return socket.inet_ntop(socket.AF_INET, n.to_bytes(4, "big"))


def generate(spec: list[str], force: bool = False) -> list[str]:
    """``["198.18.1.0/24"]`` or ``["198.18.1.1", "198.18.1.9"]`` -> address texts."""
    if len(spec) == 1 and "/" in spec[0]:
        addr, _slash, bits = spec[0].partition("/")
        base = _v4(addr)
        if not bits.isdigit() or not 1 <= int(bits) <= 32:
            raise UsageError(f"-g: netmask must be between 1 and 32 (is: {bits})")
        mask = int(bits)
        first = base & (0xFFFFFFFF << (32 - mask)) & 0xFFFFFFFF
        last = first + (1 << (32 - mask)) - 1
        if mask < 31:
            first, last = first + 1, last - 1
    elif len(spec) == 2:
        first, last = _v4(spec[0]), _v4(spec[1])
    else:
        raise UsageError("-g: give one CIDR (198.18.1.0/24) or START END")
    n = last - first + 1
    if n > MAX_GENERATE and not force:
        raise UsageError(f"-g {' '.join(spec)}: {n} addresses, more than {MAX_GENERATE}: "
                         "add --force to probe them all")  # fmt: skip
    return [_text(a) for a in range(first, last + 1)]


def read_file(path: str) -> list[str]:
    """One target per line (its first word); blank lines and ``#`` comments skipped;
    ``-`` is standard input."""
    try:
        if path == "-":
            lines = sys.stdin.read().splitlines()
        else:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
    except OSError as exc:
        raise UsageError(f"-f {path}: {exc.strerror}") from None
    out = []
    for line in lines:
        words = line.split()
        if words and not words[0].startswith("#"):
            out.append(words[0])
    return out
