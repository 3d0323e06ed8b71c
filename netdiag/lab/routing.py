"""Routes and ground truth of a graph lab (``netdiag.lab.topology``), and the nft scripts
and sysctls of its routers. Pure.

- :func:`route_lines`: every node's equal-cost shortest-path routes (``ip -batch`` lines).
- :func:`ground_truth`: per TTL the routers and the addresses they answer from along
  every ECMP path src -> dst, the links between consecutive TTLs, aliases and NATs
  (what ``Lab.ground_truth(family)`` returns; see :class:`GroundTruth`).
- :func:`nat_script`: nftables for ``masquerade`` and ``stateless`` NAT.
- :func:`graph_sysctls`: multipath hashing, hash seed and error source per node.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from netdiag.errors import UsageError
from netdiag.lab.plan import plan
from netdiag.lab.topology import Layout, Link, Spec, default_seed, layout
from netdiag.records import dataclass, replace

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.lab.conditions import Loss

__all__ = [
    "Hop",
    "GroundTruth",
    "route_lines",
    "next_hops",
    "ground_truth",
    "nat_script",
    "graph_sysctls",
    "NAT_TABLE",
    "ERRSRC_TABLE",
    "errsrc_script",
    "nat_address",
    "graph_layout",
    "graph_link_commands",
    "graph_node_commands",
    "graph_loss",
    "graph_loss_placement",
]

#: nft table (family inet for masquerade, ip and ip6 for stateless) of a NAT router.
NAT_TABLE = "nd_nat"
#: fib_multipath_hash_fields: source and destination address, protocol, both ports.
FIVE_TUPLE_FIELDS = "0x0037"


@dataclass(frozen=True)
class Hop:
    ttl: int
    nodes: tuple[str, ...]
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class GroundTruth:
    """What a multipath trace from src to dst should find (see the module docstring)."""

    family: int
    destination: str
    hops: tuple[Hop, ...]
    links: tuple[tuple[int, str, str], ...]
    address_links: tuple[tuple[int, str, str], ...]
    aliases: dict[str, tuple[str, ...]]
    nat: dict[str, str]
    translated_from_ttl: int | None = None
    #: node -> the address its ICMP unreachables come from (None: the probed address)
    unreachable_from: dict[str, str | None] | None = None
    #: routers that send no ICMP at all (``silent_router``): their hops stay ``*``
    silent: tuple[str, ...] = ()

    def node_of(self, address: str) -> str | None:
        return next((n for n, addrs in self.aliases.items() if address in addrs), None)


# --------------------------------------------------------------------------- routes


def _neighbours(lay: Layout) -> dict[str, list[tuple[str, Link]]]:
    out: dict[str, list[tuple[str, Link]]] = {n: [] for n in lay.nodes}
    for x in lay.links:
        out[x.left].append((x.right, x))
        out[x.right].append((x.left, x))
    return out


def _distances(
    nbrs: Mapping[str, Sequence[tuple[str, Link]]], sources: Iterable[str]
) -> dict[str, int]:
    dist = {s: 0 for s in sources}
    heap = [(0, s) for s in dist]
    while heap:
        d, n = heapq.heappop(heap)
        if d > dist.get(n, 1 << 30):
            continue
        for m, x in nbrs[n]:
            if d + x.weight < dist.get(m, 1 << 30):
                dist[m] = d + x.weight
                heapq.heappush(heap, (d + x.weight, m))
    return dist


def next_hops(lay: Layout, node: str, targets: Iterable[str]) -> list[tuple[str, Link]]:
    """(neighbour, link) of every equal-cost shortest path from ``node`` to ``targets``."""
    nbrs = _neighbours(lay)
    dist = _distances(nbrs, targets)
    return [(m, x) for m, x in nbrs[node] if dist[m] + x.weight == dist[node]]


def _peer_address(x: Link, neighbour: str, family: int) -> str:
    return x.address(1 if x.left == neighbour else 2, family)


def route_lines(lay: Layout, node: str, family: int) -> list[str]:
    """``ip -batch`` route lines of ``node`` for ``family`` (4 or 6)."""
    src_addr = ""
    if dict(lay.spec.error_source).get(node) == "route":
        n = lay.nodes[node]
        src_addr = f" src {n.ipv4[0] if family == 4 else n.ipv6[0]}"
    nbrs = _neighbours(lay)
    connected = {x.ident for _m, x in nbrs[node]}
    lines = []
    targets: list[tuple[str, list[str]]] = [
        (x.prefix(family), [x.left, x.right]) for x in lay.links if x.ident not in connected
    ]
    default = "default" if family == 4 else "::/0"
    targets.append((default, ["src"] if node == "dst" else ["dst"]))
    for prefix, ends in targets:
        hops = next_hops(lay, node, ends)
        vias = [_peer_address(x, m, family) for m, x in hops]
        if len(vias) == 1:
            lines.append(f"route add {prefix} via {vias[0]}{src_addr}")
        else:
            nh = " ".join(f"nexthop via {v}" for v in vias)
            lines.append(f"route add {prefix}{src_addr} {nh}")
    return lines


# --------------------------------------------------------------------------- ground truth


def ground_truth(lay: Layout, family: int = 4) -> GroundTruth:
    """Per TTL the nodes and answering addresses of every ECMP path src -> dst."""
    if family not in (4, 6):
        raise UsageError(f"family {family}: use 4 or 6")
    dst = lay.nodes["dst"]
    dst_addr = dst.ipv4[0] if family == 4 else dst.ipv6[0]
    nbrs = _neighbours(lay)
    dist = _distances(nbrs, ["dst"])
    sources = dict(lay.spec.error_source)
    level: set[tuple[str, str]] = {("src", "")}  # (node, address it answers from)
    hops: list[Hop] = []
    links: set[tuple[int, str, str]] = set()
    alinks: set[tuple[int, str, str]] = set()
    ttl = 0
    while level - {(n, a) for n, a in level if n == "dst"} and ttl < 255:
        ttl += 1
        nxt: set[tuple[str, str]] = set()
        for node, addr in level:
            if node == "dst":
                continue
            for m, x in nbrs[node]:
                if dist[m] + x.weight != dist[node]:
                    continue
                if m == "dst":
                    answer = dst_addr
                elif sources.get(m) == "route":
                    answer = (lay.nodes[m].ipv4 if family == 4 else lay.nodes[m].ipv6)[0]
                else:
                    answer = _peer_address(x, m, family)
                nxt.add((m, answer))
                if node != "src":
                    links.add((ttl - 1, node, m))
                    alinks.add((ttl - 1, addr, answer))
        hops.append(Hop(ttl, tuple(sorted({n for n, _a in nxt}, key=list(lay.nodes).index)),
                        tuple(sorted({a for _n, a in nxt}))))  # fmt: skip
        level = nxt
    aliases = {n.name: (n.ipv4 if family == 4 else n.ipv6) for n in lay.nodes.values()}
    unreachable_from = {
        n: (aliases[n][0] if sources.get(n) in ("route", "mixed") else None) for n in aliases
    }
    nat = dict(lay.spec.nat)
    translated = None
    stateless = [r for r, kind in nat.items() if kind == "stateless"]
    if stateless:
        first = min(h.ttl for h in hops if set(stateless) & set(h.nodes))
        translated = first + 1
    return GroundTruth(family, dst_addr, tuple(hops), tuple(sorted(links)), tuple(sorted(alinks)),
                       aliases, nat, translated, unreachable_from,
                       tuple(n for n, x in lay.nodes.items() if x.silent))  # fmt: skip


# --------------------------------------------------------------------------- nft and sysctls


def _right_interfaces(lay: Layout, router: str) -> list[str]:
    """The router's interfaces toward dst."""
    idents = {x.ident for x in lay.links if x.left == router}
    return [i.name for i in lay.nodes[router].interfaces if i.link in idents]


def nat_address(lay: Layout, router: str, family: int) -> str:
    """The address a NAT on ``router`` gives src's packets: its first one toward dst."""
    first = _right_interfaces(lay, router)[0]
    iface = next(i for i in lay.nodes[router].interfaces if i.name == first)
    return iface.ipv4 if family == 4 else iface.ipv6


def nat_script(lay: Layout, router: str, kind: str) -> str:
    """nft script of a NAT on ``router`` (see the module docstring of topology). Named
    counters: masquerade ``translated`` (new connections); stateless ``out`` (packets
    rewritten toward dst) and ``back`` (toward src), per family table."""
    devices = "{ " + ", ".join(f'"{d}"' for d in _right_interfaces(lay, router)) + " }"
    if kind == "masquerade":
        return (
            f"table inet {NAT_TABLE} {{\n  counter translated {{ }}\n"
            "  chain postrouting {\n"
            "    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname {devices} counter name "translated" masquerade\n  }}\n}}\n'
        )
    if kind != "stateless":
        raise UsageError(f"nat {kind!r}: use masquerade or stateless")
    src = lay.nodes["src"]
    out = []
    for family, table, proto in ((4, "ip", "ip"), (6, "ip6", "ip6")):
        inside = src.ipv4[0] if family == 4 else src.ipv6[0]
        outside = nat_address(lay, router, family)
        out.append(
            f"table {table} {NAT_TABLE} {{\n  counter out {{ }}\n  counter back {{ }}\n"
            "  chain prerouting {\n    type filter hook prerouting priority raw; policy accept;\n"
            "    notrack\n"
            # neighbour discovery for the nat address is the router's own business
            + ("    icmpv6 type { 133, 134, 135, 136, 137 } accept\n" if family == 6 else "")
            + f'    iifname {devices} {proto} daddr {outside} counter name "back" '
            f"{proto} daddr set {inside}\n  }}\n"
            "  chain output {\n    type filter hook output priority raw; policy accept;\n"
            "    notrack\n  }\n"
            "  chain postrouting {\n"
            "    type filter hook postrouting priority srcnat; policy accept;\n"
            f'    oifname {devices} {proto} saddr {inside} counter name "out" '
            f"{proto} saddr set {outside}\n  }}\n}}\n"
        )
    return "".join(out)


def graph_sysctls(lay: Layout, node: str) -> dict[str, str]:
    """Per-node sysctls of a graph lab, on top of ``plan.sysctls``: L4 multipath hashing
    (IPv4 and IPv6), the node's hash seed, and where its IPv4 errors come from."""
    seed = dict(lay.spec.seeds).get(node, default_seed(node))
    inbound = dict(lay.spec.error_source).get(node, "iface") != "route" and node not in (
        "src",
        "dst",
    )
    return {
        # 3 (custom) on the 5-tuple is policy 1's L4 hash without its short cut: policy 1
        # takes a packet's cached L4 hash when it has one, and the sender's socket hash
        # crosses veth into every namespace, so every router would hash alike.
        "net/ipv4/fib_multipath_hash_policy": "3",
        "net/ipv6/fib_multipath_hash_policy": "3",
        "net/ipv4/fib_multipath_hash_fields": FIVE_TUPLE_FIELDS,
        "net/ipv6/fib_multipath_hash_fields": FIVE_TUPLE_FIELDS,
        "net/ipv4/fib_multipath_hash_seed": str(seed),
        "net/ipv4/icmp_errors_use_inbound_ifaddr": "1" if inbound else "0",
    }


def graph_link_commands(lay: Layout) -> list[str]:
    """``ip -batch`` lines (root namespace) creating every veth pair straight in its netns,
    both ends numbered as in the chain (distinct ifindexes: fast carrier)."""
    lines = []
    for x in lay.links:
        left, right = lay.nodes[x.left], lay.nodes[x.right]
        lif = next(i for i in left.interfaces if i.link == x.ident)
        rif = next(i for i in right.interfaces if i.link == x.ident)
        lines.append(
            f"link add {lif.name} index {10 + 2 * x.ident} netns {left.netns} type veth "
            f"peer name {rif.name} index {11 + 2 * x.ident} netns {right.netns}"
        )
    return lines


def graph_node_commands(lay: Layout, node: str, blackhole: str | None = None) -> list[str]:
    """``ip -n NS -batch`` lines of one node: addresses, links up, routes (both families);
    router ``blackhole`` routes dst into a blackhole; a silent node's own ICMP goes into
    the blackhole table (``plan.SILENT_TABLE``; the IPv6 rule is added apart)."""
    from netdiag.lab.plan import SILENT_TABLE

    n = lay.nodes[node]
    lines = ["link set lo up"]
    for iface in n.interfaces:
        lines.append(f"address add {iface.ipv4}/{iface.prefixlen4} dev {iface.name}")
        lines.append(f"address add {iface.ipv6}/{iface.prefixlen6} dev {iface.name} nodad")
        lines.append(f"link set {iface.name} up")
    lines += route_lines(lay, node, 4) + route_lines(lay, node, 6)
    if blackhole == node:
        dst = lay.nodes["dst"]
        lines.append(f"route add blackhole {dst.ipv4[0]}/32")
        lines.append(f"route add blackhole {dst.ipv6[0]}/128")
    if n.silent:
        lines.append(f"rule add ipproto icmp iif lo table {SILENT_TABLE}")
        lines.append(f"route add blackhole default table {SILENT_TABLE}")
        lines.append(f"route add blackhole ::/0 table {SILENT_TABLE}")
    return lines


def graph_loss(lay: Layout, text: str) -> str:
    """``A-B:PCT[:fwd|rev]`` (the link between nodes A and B) -> ``LINK:PCT[...]`` with
    the link's ``Interface.link`` number; anything else is returned as it is."""
    head, sep, rest = text.partition(":")
    a, dash, b = head.partition("-")
    if not sep or not dash:
        return text
    found = next((x for x in lay.links if {x.left, x.right} == {a, b}), None)
    if found is None:
        raise UsageError(f"--loss {text!r}: no link between {a} and {b}")
    return f"{found.ident}:{rest}"


def graph_loss_placement(lay: Layout, loss: Loss) -> list[tuple[str, str, str]]:
    """(node, device, direction) of each nft table of ``loss`` (a ``conditions.Loss``):
    the receiving end of its link (fwd: the end toward dst; rev: the end toward src)."""
    x = next(x for x in lay.links if x.ident == loss.link)
    out = []
    for d in loss.directions:
        node = x.right if d == "fwd" else x.left
        iface = next(i for i in lay.nodes[node].interfaces if i.link == x.ident)
        out.append((node, iface.name, d))
    return out


def graph_layout(name: str, spec: Spec, silent_router: int | None,
                  mtu: tuple[int, int] | None, delay: Iterable[object]) -> Layout:  # fmt: skip
    """The layout of a graph lab; the chain-only options are refused with diamonds."""
    if spec.diamonds and (mtu is not None or list(delay)):
        raise UsageError("--mtu and --delay are for chain links: not with --ecmp yet")
    graph = layout(name, spec)
    if silent_router is not None:
        node = f"r{silent_router}"
        if node not in graph.nodes:
            raise UsageError(f"--silent-router {silent_router}: no router {node} here")
        nodes = dict(graph.nodes)
        nodes[node] = replace(nodes[node], silent=True)
        graph = replace(graph, nodes=nodes)
    if not spec.diamonds:  # a chain with NATs or error sources: the chain's own plan
        graph = replace(graph, nodes=plan(name, spec.routers, silent_router, mtu))
    return graph


#: nft table (ip and ip6) that gives a router's ICMP unreachables its identity address.
ERRSRC_TABLE = "nd_errsrc"


def errsrc_script(lay: Layout, node: str) -> str | None:
    """nft script for a ``route`` or ``mixed`` router: its own ICMP unreachables (the
    answers to direct probes) leave with its identity address; None for ``iface``."""
    if dict(lay.spec.error_source).get(node, "iface") == "iface":
        return None
    n = lay.nodes[node]
    out = []
    for table, proto, icmp, addr in (("ip", "ip", "icmp", n.ipv4[0]),
                                     ("ip6", "ip6", "icmpv6", n.ipv6[0])):  # fmt: skip
        out.append(
            f"table {table} {ERRSRC_TABLE} {{\n  counter rewritten {{ }}\n  chain output {{\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    {icmp} type destination-unreachable {proto} saddr != {addr} "
            f'counter name "rewritten" {proto} saddr set {addr}\n  }}\n}}\n'
        )
    return "".join(out)
