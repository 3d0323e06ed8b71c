"""Application-layer statistics of a capture: the protocol name a packet adds to the
hierarchy, and a DNS summary (top names queried, rcodes, unanswered queries).

Pure, like ``capstats``: feed decoded packets (``add(p, ts_ns)``), take the frozen
``DnsSummary`` (``result(top)``). No I/O, no clocks.

- ``app_name(p)``: the application protocol of a UDP datagram or TCP segment with
  a payload, by its ports (``packets.app.PORTS``, named as tshark names them:
  ``dns``, ``mdns``, ``llmnr``, ``dhcp``, ``dhcpv6``, ``ntp``, ``http``, ``tls``,
  ``quic``), or None. Nothing is decoded, so the hierarchy costs a dictionary
  look-up or two per packet.
- ``DnsSummaryAccumulator``: every DNS message (UDP 53, mDNS 5353, LLMNR 5355, and
  TCP 53 when a segment holds a whole message) is decoded. Queries count per
  name (lower case, with the final dot); responses per rcode name. A query is
  answered by a response with the same id to the address and port it came from
  (LLMNR answers a multicast query from the responder's own address); mDNS
  questions are not expected to be answered one to one; queries still waiting
  at the end are ``unanswered``. At most
  ``MAX_PENDING`` queries wait at once: beyond, the oldest is counted unanswered.
  Messages that do not decode count as ``malformed``.
"""

from __future__ import annotations

from netdiag.errors import DecodeError
from netdiag.packets.app import TCP_PORTS, UDP_PORTS, dissect, protocol_for
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.packets.packet import Packet

__all__ = ["app_name", "DnsSummary", "DnsSummaryAccumulator", "MAX_PENDING", "HIERARCHY_NAMES"]

MAX_PENDING = 65536
HIERARCHY_NAMES = {"dns-tcp": "dns", "dhcp6": "dhcpv6"}  # packets.app's names -> tshark's
_DNS = frozenset(("dns", "mdns", "llmnr", "dns-tcp"))


def app_name(p: Packet) -> str | None:
    """The hierarchy's name for this packet's application payload, or None: the
    protocol its port names, as tshark names it (``dns`` over TCP too, ``dhcpv6``)."""
    name = _app(p)
    return HIERARCHY_NAMES.get(name, name) if name is not None else None


def _app(p: Packet) -> str | None:
    u = p.udp
    if u is not None:
        if u.dport not in UDP_PORTS and u.sport not in UDP_PORTS:
            return None
        return protocol_for("udp", u.sport, u.dport) if u.payload_length > 0 else None
    t = p.tcp
    if t is None or (t.dport not in TCP_PORTS and t.sport not in TCP_PORTS):
        return None
    return protocol_for("tcp", t.sport, t.dport) if t.payload_length > 0 else None


@dataclass(frozen=True, slots=True)
class DnsSummary:
    queries: int
    responses: int
    malformed: int
    unanswered: int
    top_names: tuple[tuple[str, int], ...]  # most queried first
    rcodes: tuple[tuple[str, int], ...]  # most frequent first
    unanswered_names: tuple[tuple[str, int], ...]  # names of unanswered queries


class DnsSummaryAccumulator:
    def __init__(self) -> None:
        self.queries = 0
        self.responses = 0
        self.malformed = 0
        self.evicted = 0
        self._names: dict[str, int] = {}
        self._rcodes: dict[str, int] = {}
        self._pending: dict[tuple[Any, ...], str] = {}  # insertion order: oldest first

    def add(self, p: Packet, ts_ns: int = 0) -> None:
        name = _app(p)
        if name not in _DNS or p.error is not None:
            return
        t: Any = p.udp or p.tcp
        ip = p.ip
        try:
            m = dissect(name, p.data[t.payload_offset : t.end])
        except DecodeError:
            self.malformed += 1
            return
        if m is None or ip is None:
            return
        if m.qr:
            self.responses += 1
            rc = m.rcode_name
            self._rcodes[rc] = self._rcodes.get(rc, 0) + 1
            self._pending.pop((ip.dst_raw, t.dport, m.id), None)
            return
        self.queries += 1
        qname = m.questions[0].name.lower() if m.questions else "."
        self._names[qname] = self._names.get(qname, 0) + 1
        if name == "mdns":
            return  # multicast questions are answered to the group, by anyone
        key = (ip.src_raw, t.sport, m.id)  # the server's address may differ (LLMNR)
        pending = self._pending
        pending.pop(key, None)
        pending[key] = qname
        if len(pending) > MAX_PENDING:
            del pending[next(iter(pending))]
            self.evicted += 1

    def result(self, top: int | None = 10) -> DnsSummary:
        def ranked(d: dict[str, int]) -> tuple[tuple[str, int], ...]:
            items = sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))
            return tuple(items[:top] if top is not None else items)

        lost: dict[str, int] = {}
        for qname in self._pending.values():
            lost[qname] = lost.get(qname, 0) + 1
        return DnsSummary(
            self.queries,
            self.responses,
            self.malformed,
            len(self._pending) + self.evicted,
            ranked(self._names),
            ranked(self._rcodes),
            ranked(lost),
        )
