"""Router aliases among the addresses found at one TTL: the Mercator test and IP-ID
series (Ally / MIDAR style). The judging half is pure; :func:`resolve_aliases`
sends the probes with the trace's sockets.

- **Mercator** (Govindan and Tangmunarunkit, INFOCOM 2000): UDP to an unused port
  of address A; a router that answers the port unreachable from another of its
  addresses, B, shows A and B are one router.
- **IP-ID series** (Ally, Spring et al. 2002; MIDAR's monotonic bounds test, Keys
  et al. 2013): probes to the candidates interleaved in rounds; where the IP IDs
  of the answers from A and B, put in the order they arrived, make one series
  that only grows (mod 2^16) by small steps, A and B share one counter, so one
  router. IPv4 only (IPv6 answers carry no IP ID), and only where the IDs move.

Linux routers defeat both: a port unreachable comes from the address probed,
and IP IDs come from counters hashed by (source, destination, protocol), one per
address. Then nothing is merged, and the result says "no alias evidence" for
those addresses: never a merge the evidence does not show.
"""

from __future__ import annotations

import select
import socket
import time

from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.trace.loop import Tracer
    from netdiag.trace.multipath.core import Discovery
    from netdiag.trace.probe import Flow

__all__ = [
    "AliasSet",
    "mercator_pairs",
    "shared_counter",
    "merge",
    "resolve_aliases",
    "mercator_test",
]

MERCATOR_PORT = 33999  # "an unused high port"; any closed port will do
ROUNDS = 2  # IPv4: a Mercator probe and two IP-ID samples per address
MAX_STEP = 1500  # the largest IP-ID step between two answers in a row, in one counter
WAIT_S = 0.25  # per round, for the answers still missing (rate limits: no evidence)


@dataclass(frozen=True)
class AliasSet:
    ttl: int
    addresses: tuple[str, ...]
    evidence: tuple[str, ...]  # empty: a single address, no alias evidence

    @property
    def merged(self) -> bool:
        return len(self.addresses) > 1


def mercator_pairs(answers: dict[str, str]) -> list[tuple[str, str, str]]:
    """``answers``: probed address -> the source of its port unreachable.
    (a, b, evidence) for every answer from another address."""
    return [(a, s, f"mercator: UDP to {a} answered from {s}") for a, s in answers.items()
            if s != a]  # fmt: skip


def shared_counter(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool | None:
    """``a``, ``b``: (arrival order, IP ID) of the answers from two addresses.
    True: one monotonic counter explains both; False: it cannot; None: no evidence
    (too few answers, or IDs that do not move, such as 0)."""
    if len(a) < 2 or len(b) < 2:
        return None
    ids_a = {i for _o, i in a}
    ids_b = {i for _o, i in b}
    if len(ids_a) < 2 or len(ids_b) < 2:
        return None
    merged = sorted(a + b)
    for (_o1, x), (_o2, y) in zip(merged, merged[1:], strict=False):
        step = (y - x) % 65536
        if not 0 < step <= MAX_STEP:
            return False
    return True


def merge(ttl: int, addresses: list[str], pairs: list[tuple[str, str, str]]) -> list[AliasSet]:
    """Union of the ``pairs`` (a, b, evidence) over ``addresses``: one set per router."""
    parent = {a: a for a in addresses}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    why: dict[str, list[str]] = {}
    for a, b, ev in pairs:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[rb] = ra
            why.setdefault(root(a), []).append(ev)
    groups: dict[str, list[str]] = {}
    for a in addresses:
        groups.setdefault(root(a), []).append(a)
    out = []
    for r, members in groups.items():
        evidence = [x for k, xs in why.items() if root(k) == r for x in xs]
        out.append(AliasSet(ttl, tuple(members), tuple(dict.fromkeys(evidence))))
    return out


def resolve_aliases(tracer: Tracer, base: Flow, disc: Discovery,
                    known: list[tuple[str, str, str]] | None = None,
                    tested: frozenset[str] = frozenset()
                    ) -> tuple[tuple[AliasSet, ...], int]:  # fmt: skip
    """The alias sets of every TTL with several addresses; (sets, probes sent).
    ``known``: pairs (a, b, evidence) found during the trace (:func:`mercator_pairs`)
    among the ``tested`` addresses. IPv4: ``ROUNDS`` interleaved rounds to every
    candidate (Mercator again, and the IP-ID series); IPv6 has no IP ID, so only the
    addresses not tested yet get their Mercator probe."""
    by_ttl: dict[int, list[str]] = {}
    for n in disc.nodes:
        if not n.final:
            by_ttl.setdefault(n.ttl, []).append(n.address)
    candidates = {t: a for t, a in by_ttl.items() if len(a) > 1}
    if not candidates:
        return (), 0
    everyone = [a for t in sorted(candidates) for a in candidates[t]]
    if base.family == 4:
        answers, series, sent = _probe_rounds(tracer, base, everyone, ROUNDS)
    else:
        fresh = [a for a in everyone if a not in tested]
        answers, series, sent = _probe_rounds(tracer, base, fresh, 1) if fresh else ({}, {}, 0)
    out: list[AliasSet] = []
    for t in sorted(candidates):
        addrs = candidates[t]
        pairs = list(known or ()) + mercator_pairs({a: answers[a] for a in addrs if a in answers})
        for i, a in enumerate(addrs):
            for b in addrs[i + 1 :]:
                if shared_counter(series.get(a, []), series.get(b, [])):
                    pairs.append((a, b, f"ip-id: {a} and {b} share one counter"))
        out += merge(t, addrs, pairs)
    return tuple(out), sent


def mercator_test(tracer: Tracer, base: Flow, probe: tuple[str, ...]
                  ) -> tuple[list[tuple[str, str, str]], int]:  # fmt: skip
    """One Mercator probe to each address of ``probe``: (pairs found, probes sent)."""
    answers, _series, sent = _probe_rounds(tracer, base, list(probe), 1)
    return mercator_pairs(answers), sent


def _probe_rounds(tracer: Tracer, base: Flow, everyone: list[str], rounds: int
                  ) -> tuple[dict[str, str], dict[str, list[tuple[int, int]]], int]:  # fmt: skip
    """``rounds`` of one UDP probe to an unused port of each address, interleaved:
    (address -> source of its port unreachable, source -> (order, IP ID) series, sent)."""
    af = socket.AF_INET if base.family == 4 else socket.AF_INET6
    answers: dict[str, str] = {}
    series: dict[str, list[tuple[int, int]]] = {a: [] for a in everyone}
    order = 0
    sent = 0
    with socket.socket(af, socket.SOCK_DGRAM) as udp:
        udp.bind((base.src, 0))
        udp.setblocking(False)
        for _round in range(rounds):
            waiting = set(everyone)
            for a in everyone:
                try:
                    udp.sendto(b"netdiag-alias", (a, MERCATOR_PORT))
                    sent += 1
                except OSError:
                    waiting.discard(a)
            deadline = time.monotonic() + WAIT_S
            while waiting and (left := deadline - time.monotonic()) > 0:
                select.select([tracer.icmp], [], [], left)
                for probed, source, ipid in _port_unreachables(tracer, base.family):
                    if probed in waiting:
                        waiting.discard(probed)
                        answers.setdefault(probed, source)
                        if ipid is not None:
                            series.setdefault(source, []).append((order, ipid))
                        order += 1
    return answers, series, sent


def _port_unreachables(tracer: Tracer, family: int) -> list[tuple[str, str, int | None]]:
    """(probed address, source of the answer, its IP ID) of port unreachables read now."""
    from netdiag.packets import decode

    out: list[tuple[str, str, int | None]] = []
    while True:
        try:
            data, _anc, _flags, addr = tracer.icmp.recvmsg(65536, 256)
        except (BlockingIOError, InterruptedError):
            return out
        if family == 4:
            p = decode(data, 228)
            e4, ip = p.icmp, p.ip
            if e4 is None or ip is None or e4.type != 3 or e4.code != 3:
                continue
            ipid: int | None = ip.id  # type: ignore[union-attr]
            source, q = ip.src, e4.quoted
        else:
            from netdiag.packets import ipv6 as ipv6mod

            src = str(addr[0]).partition("%")[0]
            p = decode(ipv6mod.build(src, "::", 58, data), 229)
            e6 = p.icmpv6
            if e6 is None or e6.type != 1 or e6.code != 4:
                continue
            ipid, source, q = None, src, e6.quoted
        if q is None or q.ip is None or q.udp is None or q.udp.dport != MERCATOR_PORT:
            continue
        out.append((q.ip.dst, source, ipid))
