"""The records of a multipath trace: one answer (:class:`Reply`), and what the session
found: addresses (:class:`MpNode`), links, hops (:class:`Discovery`). Pure."""

from __future__ import annotations

from netdiag.records import dataclass

__all__ = ["Reply", "MpNode", "MpLink", "MpHop", "Discovery", "Acc"]


@dataclass(frozen=True)
class Reply:
    """What the answer to one probe said."""

    address: str
    rtt_ns: int
    final: bool = False  # this flow ends here (the destination, or an unreachable)
    reached: bool = False  # the destination itself answered
    annotation: str | None = None
    nat: tuple[str, ...] = ()  # fields of the quoted datagram that differ from the probe
    quoted: bool = False  # the answer quoted our datagram (so it can show a NAT)


@dataclass(frozen=True)
class MpNode:
    address: str
    ttl: int  # the lowest TTL it answered at
    ttls: tuple[int, ...]
    flows: int  # distinct flows that met it
    sent: int  # probes sent to those flows at its TTLs (retries included)
    lost: int  # of those, the ones that got no answer
    rtt_min_ms: float
    rtt_avg_ms: float
    rtt_max_ms: float
    final: bool = False
    reached: bool = False
    annotation: str | None = None
    nat: tuple[str, ...] = ()  # quoted fields that differed (empty: no NAT evidence here)
    quoted: bool = False  # some answer quoted the probe (a NAT could have shown)

    @property
    def loss(self) -> float:
        return self.lost / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class MpLink:
    src: str
    dst: str
    ttl: int  # TTL of ``src``'s side
    flows: int  # flows seen taking it
    share: float  # of the flows through ``src`` seen at the next TTL, the part that took it
    gap: int = 0  # silent TTLs between the two ends


@dataclass(frozen=True)
class MpHop:
    ttl: int
    addresses: tuple[str, ...]
    sent: int
    answered: int  # flows answered
    lost: int  # flows never answered
    needed: int = 0  # flows the stopping rule asks for, for the routers found here

    @property
    def short(self) -> bool:
        """Answered, but by fewer flows than the stopping rule asks (rate limits, loss)."""
        return 0 < self.answered < self.needed


@dataclass(frozen=True)
class Discovery:
    """What a session found: the pure part of a multipath result."""

    nodes: tuple[MpNode, ...]
    links: tuple[MpLink, ...]
    hops: tuple[MpHop, ...]
    probes: int
    stop_reason: str
    stop_ttl: int
    reached: bool


class Acc:
    """One address's answers, gathered for its :class:`MpNode`."""

    def __init__(self) -> None:
        self.ttls: list[int] = []
        self.flows: set[int] = set()
        self.sent = 0
        self.rtts: list[int] = []
        self.final = self.reached = self.quoted = False
        self.annotation: str | None = None
        self.nat: dict[str, str] = {}  # field -> one example

    def add(self, flow: int, tries: int, r: Reply) -> None:
        self.flows.add(flow)
        self.sent += tries
        self.rtts.append(r.rtt_ns)
        self.final |= r.final
        self.reached |= r.reached
        self.quoted |= r.quoted
        self.annotation = self.annotation or r.annotation
        for x in r.nat:
            self.nat.setdefault(x.partition(":")[0], x)

    def node(self, address: str) -> MpNode:
        rs = self.rtts
        return MpNode(address, self.ttls[0], tuple(self.ttls), len(self.flows), self.sent,
                      self.sent - len(rs), min(rs) / 1e6, sum(rs) / len(rs) / 1e6,
                      max(rs) / 1e6, self.final, self.reached, self.annotation,
                      tuple(self.nat.values()), self.quoted)  # fmt: skip
