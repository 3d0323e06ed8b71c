"""Statistics of a capture: protocol hierarchy, IP conversations, totals.

A pure accumulator in the spirit of ``tshark -z io,phs`` and ``-z conv,ip``:
feed it decoded packets with their wire length and time (``add``), then take
the frozen ``CaptureStats`` result (``result``), which ``render/stats.py``
turns into tables or JSON. No I/O, no clocks.

- **Hierarchy**: each packet counts once under the path of its layer names
  (``ethernet > vlan > ipv4 > tcp``), and under every prefix of it. A packet
  whose decoding stopped early adds a ``malformed`` leaf where it stopped; a
  frame of a link type we do not decode counts under ``linktype-N``.
- **Conversations**: per pair of addresses of the outermost IP layer
  (either version). Address A is the source of the first packet seen.
- Bytes are wire lengths (what was on the link), as tshark counts them.

Hot path: per packet one tuple of names and two dictionary updates; the
addresses are kept packed and turned into text once, in ``result``.
"""

from __future__ import annotations

from netdiag.metrics.appstats import DnsSummary, DnsSummaryAccumulator, app_name
from netdiag.packets.addr import ip_text
from netdiag.packets.numbers import LinkType
from netdiag.packets.packet import Packet
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CaptureStatsAccumulator", "CaptureStats", "ProtocolNode", "Conversation"]

_DECODED_LINKTYPES = frozenset(int(x) for x in LinkType)


@dataclass(frozen=True, slots=True)
class ProtocolNode:
    """One row of the hierarchy: ``path`` is the layer names from the outermost."""

    path: tuple[str, ...]
    packets: int
    bytes: int

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def depth(self) -> int:
        return len(self.path) - 1


@dataclass(frozen=True, slots=True)
class Conversation:
    a: str
    b: str
    packets_ab: int
    bytes_ab: int
    packets_ba: int
    bytes_ba: int
    first_ts_ns: int
    last_ts_ns: int

    @property
    def packets(self) -> int:
        return self.packets_ab + self.packets_ba

    @property
    def bytes(self) -> int:
        return self.bytes_ab + self.bytes_ba

    @property
    def duration(self) -> float:
        return (self.last_ts_ns - self.first_ts_ns) / 1e9


@dataclass(frozen=True, slots=True)
class CaptureStats:
    packets: int
    bytes: int
    captured_bytes: int
    malformed: int
    first_ts_ns: int | None
    last_ts_ns: int | None
    hierarchy: tuple[ProtocolNode, ...]  # depth-first, children by packets (most first)
    conversations: tuple[Conversation, ...]  # by bytes, most first
    dns: DnsSummary | None = None  # names queried, rcodes, unanswered queries

    @property
    def duration(self) -> float:
        if self.first_ts_ns is None or self.last_ts_ns is None:
            return 0.0
        return (self.last_ts_ns - self.first_ts_ns) / 1e9


class CaptureStatsAccumulator:
    """Feed packets with ``add``; ``result(top)`` gives the ``CaptureStats``."""

    def __init__(self) -> None:
        self.packets = 0
        self.bytes = 0
        self.captured_bytes = 0
        self.malformed = 0
        self.first_ts_ns: int | None = None
        self.last_ts_ns: int | None = None
        self._paths: dict[tuple[str, ...], list[int]] = {}
        # (low addr, high addr) -> [a, packets a->b, bytes a->b, packets b->a, bytes b->a,
        #                            first ts, last ts]
        self._conv: dict[tuple[bytes, bytes], list[Any]] = {}
        self.dns = DnsSummaryAccumulator()

    def add(self, p: Packet, wirelen: int, ts_ns: int) -> None:
        self.packets += 1
        self.bytes += wirelen
        self.captured_bytes += len(p.data)
        if self.first_ts_ns is None or ts_ns < self.first_ts_ns:
            self.first_ts_ns = ts_ns
        if self.last_ts_ns is None or ts_ns > self.last_ts_ns:
            self.last_ts_ns = ts_ns
        if p.linktype not in _DECODED_LINKTYPES:
            path: tuple[str, ...] = (f"linktype-{p.linktype}",)
        else:
            path = tuple([x.name for x in p.layers])
            if p.error is not None:
                self.malformed += 1
                path += ("malformed",)
            else:
                app = app_name(p)
                if app is not None:  # the application protocol, by port (not decoded)
                    path += (app,)
                    self.dns.add(p, ts_ns)
        c = self._paths.get(path)
        if c is None:
            self._paths[path] = [1, wirelen]
        else:
            c[0] += 1
            c[1] += wirelen
        ip = p.ip
        if ip is not None:
            s, d = ip.src_raw, ip.dst_raw
            key = (s, d) if s <= d else (d, s)
            conv = self._conv.get(key)
            if conv is None:
                conv = self._conv[key] = [s, 0, 0, 0, 0, ts_ns, ts_ns]
            if s == conv[0]:
                conv[1] += 1
                conv[2] += wirelen
            else:
                conv[3] += 1
                conv[4] += wirelen
            if ts_ns > conv[6]:
                conv[6] = ts_ns
            if ts_ns < conv[5]:
                conv[5] = ts_ns

    def result(self, top: int | None = 10) -> CaptureStats:
        return CaptureStats(
            packets=self.packets,
            bytes=self.bytes,
            captured_bytes=self.captured_bytes,
            malformed=self.malformed,
            first_ts_ns=self.first_ts_ns,
            last_ts_ns=self.last_ts_ns,
            hierarchy=self._hierarchy(),
            conversations=self._conversations(top),
            dns=self.dns.result(top),
        )

    def _hierarchy(self) -> tuple[ProtocolNode, ...]:
        totals: dict[tuple[str, ...], list[int]] = {}
        for path, (n, b) in self._paths.items():
            for i in range(1, len(path) + 1):
                t = totals.setdefault(path[:i], [0, 0])
                t[0] += n
                t[1] += b
        children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for path in totals:
            children.setdefault(path[:-1], []).append(path)
        out: list[ProtocolNode] = []

        def walk(parent: tuple[str, ...]) -> None:
            kids = sorted(children.get(parent, ()), key=lambda k: (-totals[k][0], k))
            for k in kids:
                out.append(ProtocolNode(k, totals[k][0], totals[k][1]))
                walk(k)

        walk(())
        return tuple(out)

    def _conversations(self, top: int | None) -> tuple[Conversation, ...]:
        convs = []
        for (lo, hi), (a, pab, bab, pba, bba, first, last) in self._conv.items():
            b = hi if a == lo else lo
            convs.append(Conversation(ip_text(a), ip_text(b), pab, bab, pba, bba, first, last))
        convs.sort(key=lambda c: (-c.bytes, -c.packets, c.a, c.b))
        return tuple(convs if top is None else convs[:top])
