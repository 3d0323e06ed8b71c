"""OpenBSD pflog (LINKTYPE_PFLOG, 117): packets logged by the pf firewall.

Layout (OpenBSD ``struct pfloghdr``): length (1: the header's length without
its final padding), address family (1: 2 IPv4, 24 IPv6 on OpenBSD, 28 FreeBSD,
30 Darwin), action (1), reason (1), interface name (16), ruleset (16), rule
number (4, big-endian), subrule number (4), uid (4), pid (4), rule uid (4),
rule pid (4), direction (1: 1 in, 2 out), then padding. The packet starts at
``length`` rounded up to a multiple of 4, as libpcap and tcpdump take it.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PFLog", "build", "ACTIONS", "REASONS", "MIN_LEN"]

_S = struct.Struct("!BBBB16s16sIIIiIiB")
MIN_LEN = _S.size  # 61: what OpenBSD stores in the length byte
ACTIONS = {0: "pass", 1: "block", 2: "scrub", 3: "no-scrub", 4: "nat", 5: "no-nat",
           6: "binat", 7: "no-binat", 8: "rdr", 9: "no-rdr", 10: "synproxy-drop"}  # fmt: skip
REASONS = ["match", "bad-offset", "fragment", "short", "normalize", "memory",
           "bad-timestamp", "congestion", "ip-option", "proto-cksum", "state-mismatch",
           "state-insert", "state-limit", "src-limit", "synproxy"]  # fmt: skip
DIRECTIONS = {0: "in/out", 1: "in", 2: "out", 3: "fwd"}
_ETHERTYPES = {2: 0x0800, 24: 0x86DD, 28: 0x86DD, 30: 0x86DD, 10: 0x86DD}


class PFLog:
    __slots__ = ("length", "af", "action", "reason", "ifname", "ruleset", "rulenr",
                 "subrulenr", "uid", "pid", "rule_uid", "rule_pid", "dir", "offset",
                 "header_len")  # fmt: skip
    name = "pflog"

    length: int
    af: int
    action: int
    reason: int
    ifname: str
    ruleset: str
    rulenr: int
    subrulenr: int
    uid: int
    pid: int
    rule_uid: int
    rule_pid: int
    dir: int
    offset: int
    header_len: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> PFLog:
        got = len(buf) - off
        if got < 1:
            raise TruncatedError("pflog", off, MIN_LEN, got)
        length = buf[off]
        if length < MIN_LEN:
            raise MalformedError("pflog", off, f"header length {length} < {MIN_LEN}")
        hlen = (length + 3) // 4 * 4
        if got < hlen:
            raise TruncatedError("pflog", off, hlen, got)
        h = cls()
        (h.length, h.af, h.action, h.reason, ifname, ruleset, h.rulenr, h.subrulenr, h.uid,
         h.pid, h.rule_uid, h.rule_pid, h.dir) = _S.unpack_from(buf, off)  # fmt: skip
        h.ifname = ifname.split(b"\0", 1)[0].decode("latin-1")
        h.ruleset = ruleset.split(b"\0", 1)[0].decode("latin-1")
        h.offset = off
        h.header_len = hlen
        return h

    @property
    def ethertype(self) -> int:
        return _ETHERTYPES.get(self.af, 0)

    def fields(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__[:13]}


def build(
    payload: bytes,
    af: int = 2,
    action: int = 0,
    reason: int = 0,
    ifname: str = "em0",
    rulenr: int = 0,
    subrulenr: int = 0xFFFFFFFF,
    direction: int = 1,
    ruleset: str = "",
) -> bytes:
    head = _S.pack(MIN_LEN, af, action, reason, ifname.encode(), ruleset.encode(), rulenr,
                   subrulenr, 0, 0, 0, 0, direction)  # fmt: skip
    return head + b"\0" * 3 + payload
