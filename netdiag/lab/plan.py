"""The plan of a namespace lab: which node gets which interfaces and addresses,
and the ``ip`` commands and sysctls that build it. Pure: no processes, no
syscalls, so it is tested without root. ``netdiag.lab.lab`` runs the plan.

The lab is a chain ``src - r1 - ... - rN - dst``. Every node is a network
namespace named ``nd-<lab>-<node>``; link ``k`` (``0..N``) joins node ``k`` and
node ``k+1`` (node 0 is ``src``, node ``N+1`` is ``dst``) with a veth pair and
carries ``198.18.k.0/24`` and ``2001:db8:k::/64`` (``k`` in hex), ``.1``/``::1``
on the left end and ``.2``/``::2`` on the right end (RFC 2544 benchmarking and
RFC 3849 documentation ranges). Inside each namespace the interface toward
``src`` is ``eth0`` and the one toward ``dst`` is ``eth1`` (``src`` has only
``eth0``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping

from netdiag.errors import UsageError
from netdiag.lab.conditions import ratelimit_sysctls
from netdiag.records import dataclass

__all__ = [
    "Interface",
    "Node",
    "plan",
    "netns_prefix",
    "link_commands",
    "node_commands",
    "sysctls",
    "MAX_ROUTERS",
    "SILENT_TABLE",
    "MIN_MTU",
    "MAX_MTU",
    "RELAY_NODE",
    "relay_commands",
    "offload_devices",
]

MAX_ROUTERS = 64
#: Routing table holding the blackhole that silences a router's own ICMP.
SILENT_TABLE = 100
#: IPv6 needs links of at least 1280 bytes (RFC 8200 §5).
MIN_MTU = 1280
MAX_MTU = 65535
NAME_RE = re.compile(r"[A-Za-z0-9_]{1,24}\Z")
#: src, dst, chain routers r1.. and the branch routers of netdiag.lab.topology (r3a, r3b2).
NODE_RE = re.compile(r"(src|dst|r[1-9][0-9]*(?:[a-z](?:[2-9]|[1-9][0-9])?)?)\Z")
#: The namespace (``nd-LAB-relay``) of the delay relay, when a link is delayed.
RELAY_NODE = "relay"


@dataclass(frozen=True)
class Interface:
    """One end of a lab link, as seen inside its node."""

    name: str
    link: int
    ipv4: str
    ipv6: str
    peer: str
    mtu: int | None = None
    prefixlen4: int = 24
    prefixlen6: int = 64


@dataclass(frozen=True)
class Node:
    """A host or router of the lab: its namespace and addresses (left link first)."""

    name: str
    netns: str
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    interfaces: tuple[Interface, ...]
    silent: bool = False

    @property
    def is_router(self) -> bool:
        return self.name not in ("src", "dst")


def netns_prefix(name: str) -> str:
    """The namespace-name prefix shared by every node of lab ``name``."""
    return f"nd-{name}-"


def _link_ipv4(link: int, end: int) -> str:
    return f"198.18.{link}.{end}"


def _link_ipv6(link: int, end: int) -> str:
    # Compressed, as ping and traceroute print it: link 0 is 2001:db8::1, not 2001:db8:0::1.
    return str(ipaddress.IPv6Address(f"2001:db8:{link:x}::{end}"))


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise UsageError(f"lab name {name!r}: use 1-24 letters, digits or '_'")


def _validate(
    name: str, routers: int, silent_router: int | None, mtu: tuple[int, int] | None
) -> None:
    check_name(name)
    if not 0 <= routers <= MAX_ROUTERS:
        raise UsageError(f"routers={routers}: must be 0..{MAX_ROUTERS}")
    if silent_router is not None and not 1 <= silent_router <= routers:
        raise UsageError(f"silent_router={silent_router}: must name a router 1..{routers}")
    if mtu is not None:
        link, size = mtu
        if not 0 <= link <= routers:
            raise UsageError(f"mtu link {link}: the links are 0..{routers}")
        if not MIN_MTU <= size <= MAX_MTU:
            raise UsageError(f"mtu {size}: must be {MIN_MTU}..{MAX_MTU} (IPv6 needs 1280)")


def plan(
    name: str,
    routers: int = 4,
    silent_router: int | None = None,
    mtu: tuple[int, int] | None = None,
) -> dict[str, Node]:
    """The nodes of a lab, in chain order ``src, r1..rN, dst``. Pure."""
    _validate(name, routers, silent_router, mtu)
    names = ["src", *(f"r{i}" for i in range(1, routers + 1)), "dst"]
    mtu_link, mtu_size = mtu if mtu is not None else (-1, None)
    nodes: dict[str, Node] = {}
    for k, node_name in enumerate(names):
        ifaces: list[Interface] = []
        if k > 0:  # left link k-1, we are its right end (.2)
            link = k - 1
            ifaces.append(
                Interface(
                    name="eth0",
                    link=link,
                    ipv4=_link_ipv4(link, 2),
                    ipv6=_link_ipv6(link, 2),
                    peer=names[k - 1],
                    mtu=mtu_size if link == mtu_link else None,
                )
            )
        if k < len(names) - 1:  # right link k, we are its left end (.1)
            ifaces.append(
                Interface(
                    name="eth1" if k > 0 else "eth0",
                    link=k,
                    ipv4=_link_ipv4(k, 1),
                    ipv6=_link_ipv6(k, 1),
                    peer=names[k + 1],
                    mtu=mtu_size if k == mtu_link else None,
                )
            )
        nodes[node_name] = Node(
            name=node_name,
            netns=netns_prefix(name) + node_name,
            ipv4=tuple(i.ipv4 for i in ifaces),
            ipv6=tuple(i.ipv6 for i in ifaces),
            interfaces=tuple(ifaces),
            silent=silent_router is not None and node_name == f"r{silent_router}",
        )
    return nodes


def _ifindex(link: int, right_end: bool) -> int:
    """Interface index, distinct for the two ends of every veth pair.

    The kernel treats a carrier change as urgent (no 1 s linkwatch batching)
    only when a device's ifindex differs from its peer's (``iflink``). Left to
    itself, every fresh namespace numbers its first veth 2, so both ends
    of a pair often share an index and each link takes ~1 s to come up.
    """
    return 10 + 2 * link + int(right_end)


def link_commands(nodes: Mapping[str, Node], delayed: Collection[int] = ()) -> list[str]:
    """``ip -batch`` lines (root namespace) creating every veth pair straight in its netns.

    A ``delayed`` link is two pairs instead: each node's end is paired with an
    interface of the relay namespace (``l<k>a`` left, ``l<k>b`` right).
    """
    chain = list(nodes.values())
    lines = []
    relay = relay_netns(chain[0].netns)
    for left, right in zip(chain, chain[1:], strict=False):
        lif, rif = left.interfaces[-1], right.interfaces[0]
        if lif.link in delayed:
            k = lif.link
            lines.append(
                f"link add {lif.name} index {_ifindex(k, False)} netns {left.netns} type veth "
                f"peer name l{k}a index {1000 + 2 * k} netns {relay}"
            )
            lines.append(
                f"link add l{k}b index {1001 + 2 * k} netns {relay} type veth "
                f"peer name {rif.name} index {_ifindex(k, True)} netns {right.netns}"
            )
            continue
        lines.append(
            f"link add {lif.name} index {_ifindex(lif.link, False)} netns {left.netns} type veth "
            f"peer name {rif.name} index {_ifindex(rif.link, True)} netns {right.netns}"
        )
    return lines


def relay_netns(node_netns: str) -> str:
    """The relay namespace of the lab that ``node_netns`` (any of its nodes) belongs to."""
    return node_netns.rpartition("-")[0] + "-" + RELAY_NODE


def relay_commands(delayed: Collection[int]) -> list[str]:
    """``ip -n RELAY -batch`` lines: the relay's interfaces up, promiscuous (it forwards
    frames addressed to the nodes' MACs)."""
    lines = ["link set lo up"]
    for k in sorted(delayed):
        for end in ("a", "b"):
            lines.append(f"link set l{k}{end} promisc on up")
    return lines


def offload_devices(nodes: Mapping[str, Node], delayed: Collection[int]) -> dict[str, list[str]]:
    """netns -> interfaces whose checksum and segmentation offloads must be off: the node
    ends of delayed links (the relay copies frames as bytes, partial checksums included)."""
    out: dict[str, list[str]] = {}
    for node in nodes.values():
        for iface in node.interfaces:
            if iface.link in delayed:
                out.setdefault(node.netns, []).append(iface.name)
    return out


def node_commands(nodes: Mapping[str, Node], node: Node, blackhole: int | None = None) -> list[str]:
    """``ip -n NS -batch`` lines configuring one node: links, addresses, routes; router
    ``blackhole`` routes dst's addresses into a blackhole (dropped at the route lookup,
    before the TTL check, so that router is silent too)."""
    lines = ["link set lo up"]
    for iface in node.interfaces:
        if iface.mtu is not None:
            lines.append(f"link set {iface.name} mtu {iface.mtu}")
        lines.append(f"address add {iface.ipv4}/{iface.prefixlen4} dev {iface.name}")
        lines.append(f"address add {iface.ipv6}/{iface.prefixlen6} dev {iface.name} nodad")
        lines.append(f"link set {iface.name} up")
    chain = list(nodes)
    k = chain.index(node.name)
    last = len(chain) - 1
    if k < last:  # default toward dst via the right neighbour
        right = nodes[chain[k + 1]].interfaces[0]
        lines.append(f"route add default via {right.ipv4}")
        lines.append(f"route add ::/0 via {right.ipv6}")
    if k > 0:
        left = nodes[chain[k - 1]].interfaces[-1]
        if k == last:
            lines.append(f"route add default via {left.ipv4}")
            lines.append(f"route add ::/0 via {left.ipv6}")
        else:  # links 0..k-2 lie behind the left neighbour
            for link in range(k - 1):
                lines.append(f"route add 198.18.{link}.0/24 via {left.ipv4}")
                lines.append(f"route add {_link_ipv6(link, 0)}/64 via {left.ipv6}")
    if blackhole is not None and node.name == f"r{blackhole}":
        dst = nodes[chain[last]]
        lines.append(f"route add blackhole {dst.ipv4[0]}/32")
        lines.append(f"route add blackhole {dst.ipv6[0]}/128")
    if node.silent:
        # Locally generated ICMP (errors and echo replies) is routed into a
        # blackhole; forwarded ICMP comes in on eth0/eth1, not lo, and passes.
        # The IPv6 rule needs `ip -6` (a batch line cannot carry it).
        lines.append(f"rule add ipproto icmp iif lo table {SILENT_TABLE}")
        lines.append(f"route add blackhole default table {SILENT_TABLE}")
        lines.append(f"route add blackhole ::/0 table {SILENT_TABLE}")
    return lines


def sysctls(node: Node, icmp_ratelimit: int | None = 0) -> dict[str, str]:
    """Per-namespace sysctls: forwarding on routers only, ICMP rate limits (``icmp_ratelimit``
    ms per token for IPv4 and IPv6; None: the kernel's defaults, 1000 and 100 ms), no DAD,
    and the kernel's own MLD reports over within milliseconds of a link coming up
    (captures that start after ``lab up`` see only the traffic a test makes)."""
    forward = "1" if node.is_router else "0"
    return {
        # IPv4 conf is inherited from the root namespace: pin everything we rely on.
        "net/ipv4/ip_forward": forward,
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/conf/default/rp_filter": "0",
        "net/ipv6/conf/all/forwarding": forward,
        "net/ipv6/conf/default/accept_dad": "0",
        "net/ipv6/conf/default/router_solicitations": "0",
        "net/ipv6/conf/default/mldv1_unsolicited_report_interval": "10",
        "net/ipv6/conf/default/mldv2_unsolicited_report_interval": "10",
        **ratelimit_sysctls(icmp_ratelimit),
        "net/ipv4/ping_group_range": "0 2147483647",
    }
