"""Lab topologies beyond the chain: ECMP diamonds, per-router error sources, NATs. Pure.

Without ``ecmp``, ``topology``, ``nat`` or ``error_source`` a lab is the chain of
``netdiag.lab.plan``, built exactly as before. With any of them, this module lays
the lab out as a graph and computes every route; ``netdiag.lab.lab`` builds it.

**Positions.** ``routers=N`` still counts chain *positions* 0..N+1: 0 is ``src``,
N+1 is ``dst``, position p is router ``rp`` unless a diamond replaces it.

**Diamonds** (``--ecmp K:W``, repeatable; ``Lab.up(ecmp=["2:4", ...])``): router K
(0 = src; 0 <= K <= N-2) is the *divergence point*; position K+1 becomes W parallel
branches; router K+2 (always a router, never dst) is the *convergence point*. The
"diamond at hop K" is the one that diverges at the hop-K router; its branch routers
answer at TTL K+1. Branch routers are named ``r{K+1}a``, ``r{K+1}b``, ... (letters
a..z, W <= 26). ``--ecmp K:L1,L2,...`` gives branches of unequal length (Li routers
each): the j-th router (j >= 2) of branch x is ``r{K+1}{x}{j}`` (``r3b2``); the
routers after the diamond keep their chain names (r{K+2} ...), so through a longer
branch they answer at a higher TTL. Diamonds in series must not overlap: the next
K is at least the previous K+2 (a convergence point may diverge again). In TOML a
diamond can be ``mesh = true`` (equal lengths >= 2): router j of every branch links
to router j+1 of every branch (a meshed diamond).

**Links and addresses.** A link between two single-node positions p and p+1 is chain
link p, exactly as in the chain: ``198.18.p.0/24``, ``2001:db8:p::/64`` (p in hex).
Every other link (fan-out, fan-in, inside a branch, mesh) is branch link n,
numbered 0.. in node order: ``198.19.n.0/24`` and ``2001:db8:1nn::/64`` (n as 2 hex
digits: 2001:db8:100::/64, 2001:db8:101::/64, ...), ``Interface.link`` 100+n. The
left end (toward src) is ``.1``/``::1``, the right end ``.2``/``::2``, as in the chain.
Inside a node the interfaces toward src come first, then those toward dst, named
eth0, eth1, ... in node order (a chain router keeps eth0 left, eth1 right; a
divergence router has eth0 left and eth1..ethW to branches a..; a convergence
router eth0..eth(W-1) from branches a.. and ethW right). ``Node.ipv4[0]`` (its
eth0 address) is a node's *identity address*.

**Routes.** Every node has a route to every link, by equal-cost shortest paths (IPv4
and IPv6 ``nexthop via A nexthop via B ...``), plus a default route toward dst (dst:
toward src). Branches of unequal length are made equal-cost by the weight of their
last link, so the divergence point balances over all of them. Return routes are
the same graph, so every ICMP error gets back to src. Hashing is per flow on the
L4 5-tuple, IPv4 and IPv6: ``fib_multipath_hash_policy=3`` with
``fib_multipath_hash_fields=0x37`` (addresses, protocol, ports), which is policy 1's
hash without its short cut (policy 1 reuses a packet's cached L4 hash, and the
sending socket's hash crosses veth into every namespace: IPv6 flows then hash alike
at every router whatever the seeds). Every node has its own
``net.ipv4.fib_multipath_hash_seed`` (it serves IPv4 and IPv6), :func:`default_seed`
of its name unless the TOML sets ``[seed]``, so diamonds in series are independent
and a lab hashes the same way every time it is built. ICMP probes carry no ports:
every ICMP echo flow of one (src, dst) pair takes one branch.

**Error sources** (``--error-source NODE:iface|route|mixed``; ``[error_source]`` in
TOML). Linux itself answers a direct probe to one of its addresses (a UDP probe to
an unused port, as the Mercator alias test sends) from that same address.

- ``iface`` (default; plain Linux): time exceeded comes from the address of the
  interface the probe arrived on (IPv4 ``icmp_errors_use_inbound_ifaddr=1``; IPv6
  does so by itself), so a convergence router looks like W routers; direct probes
  are answered from the probed address, so nothing but the ground truth tells
  that those W addresses are one router (Linux draws IPv4 IDs from counters hashed
  on the address pair, so IP-ID tests may not tie them together either; not
  measured here).
- ``route``: every error from the router's identity address: ``src`` on every
  route that is not a connected one, and an nft ``output`` rule (table
  ``nd_errsrc``) that gives its ICMP unreachables that source as well.
- ``mixed``: time exceeded as ``iface``, unreachables from the identity address (as
  routers that the Mercator test resolves do): the W addresses of a convergence
  router all answer direct probes from one address.

:attr:`GroundTruth.unreachable_from` says, per node, where its answers to direct
probes come from (None: from the probed address).

**Conditions** (``netdiag.lab.conditions``) with diamonds: ``--loss A-B:PCT[:fwd|rev]``
names a link by its two nodes (``r1-r2a``; fwd is toward dst), ``--silent-tail`` takes
any router or dst, ``--silent-router K`` and ``--blackhole K`` a chain router K;
``--mtu`` and ``--delay`` are for chain labs only.

**NAT** (``--nat K[:masquerade|stateless]``, K a router number or a router name;
``[nat]`` in TOML): ``masquerade``: nftables ``masquerade`` (conntrack) on the
router's interfaces toward dst, IPv4 and IPv6; conntrack restores the quoted
datagram inside the ICMP errors coming back, so nothing shows it. ``stateless``:
no conntrack (``notrack``); packets from src leaving toward dst get the NAT
router's first address toward dst as source (the nat address), packets coming
back to it get src's address as destination; the quoted datagram inside ICMP
errors from past the NAT keeps the nat address (and the rewritten UDP/TCP
checksum): a "leaky" NAT. Both IPv4 and IPv6. The NAT router's own errors quote
the untranslated probe.

**Ground truth** (``Lab.ground_truth(family)`` -> ``netdiag.lab.routing.GroundTruth``;
``routing.ground_truth(layout(name, spec), family)`` without a live lab): per TTL,
the routers a probe toward dst's identity address can reach (``hops[t-1].nodes``)
and the addresses they answer from (``hops[t-1].addresses``, given the error
sources), router-level ``links`` and address-level ``address_links`` between
consecutive TTLs (``(ttl, a, b)``: a answers at ttl, b at ttl+1), every node's
addresses (``aliases``: the set that alias resolution should merge), and the NATs
(``nat``; ``translated_from_ttl``: the first TTL whose quoted datagram shows the
stateless NAT's address, None without one), ``unreachable_from`` (see the error
sources) and the ``silent`` routers (``--silent-router``: their hops stay ``*``).
dst answers from the probed address.

TOML (``--topology FILE``; a dict with the same keys works as ``topology=``)::

    routers = 5
    [[ecmp]]
    after = 1          # divergence router (0 = src)
    width = 2          # or: branches = [1, 2] (routers per branch); mesh = true
    [[ecmp]]
    after = 3
    width = 3
    [error_source]
    r5 = "route"       # default "iface"
    [nat]
    r4 = "stateless"   # or "masquerade"
    [seed]
    r1 = 7             # fib_multipath_hash_seed (default: default_seed(name))

Options given on the command line add to the file's (``routers`` comes from the
file when it has one).
"""

from __future__ import annotations

import ipaddress
import re
import zlib
from collections.abc import Iterable, Mapping

from netdiag.errors import UsageError
from netdiag.lab.plan import Interface, Node, check_name, netns_prefix
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Diamond",
    "Spec",
    "Link",
    "Layout",
    "parse_ecmp",
    "parse_nat",
    "parse_error_source",
    "load_topology",
    "make_spec",
    "layout",
    "default_seed",
    "NAT_KINDS",
    "ERROR_SOURCES",
    "BRANCH_LINK_BASE",
]

NAT_KINDS = ("masquerade", "stateless")
ERROR_SOURCES = ("iface", "route", "mixed")
_NAT_WORDS = {
    "masquerade": "masquerade (conntrack restores the quoted datagrams)",
    "stateless": "stateless (the quoted datagrams keep the translation)",
}
#: ``Interface.link`` of branch link n is BRANCH_LINK_BASE + n.
BRANCH_LINK_BASE = 100
MAX_BRANCH_LINKS = 256
MAX_WIDTH = 26
MAX_BRANCH_LENGTH = 8
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
ROUTER_RE = re.compile(r"r[1-9][0-9]*(?:[a-z](?:[2-9]|[1-9][0-9])?)?\Z")


@dataclass(frozen=True)
class Diamond:
    """Position ``after + 1`` replaced by branches of ``lengths`` routers each."""

    after: int
    lengths: tuple[int, ...]
    mesh: bool = False

    def __str__(self) -> str:
        if len(set(self.lengths)) == 1 and not self.mesh:
            return f"{self.after}:{len(self.lengths)}"
        body = ",".join(str(n) for n in self.lengths)
        return f"{self.after}:{body}" + (" mesh" if self.mesh else "")


@dataclass(frozen=True)
class Spec:
    """Everything that makes a lab more than a chain (sorted, hashable, JSON-able)."""

    routers: int = 4
    diamonds: tuple[Diamond, ...] = ()
    error_source: tuple[tuple[str, str], ...] = ()  # (node, "iface"|"route"|"mixed")
    nat: tuple[tuple[str, str], ...] = ()  # (router, "masquerade"|"stateless")
    seeds: tuple[tuple[str, int], ...] = ()  # (node, fib_multipath_hash_seed)

    def to_json(self) -> dict[str, object]:
        return {
            "routers": self.routers,
            "ecmp": [
                {"after": d.after, "branches": list(d.lengths), "mesh": d.mesh}
                for d in self.diamonds
            ],
            "error_source": dict(self.error_source),
            "nat": dict(self.nat),
            "seed": dict(self.seeds),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Spec:
        """The inverse of :meth:`to_json` (validated again)."""
        return make_spec(topology=data)

    def describe(self) -> list[str]:
        """One line per diamond, error source and NAT, as ``lab show`` lists them."""
        lines = []
        for d in self.diamonds:
            names = ", ".join(branch[0] for branch in _branch_names(d))
            lengths = "/".join(str(n) for n in d.lengths)
            mesh = ", meshed" if d.mesh else ""
            join = f"r{d.after + 2}"
            start = "src" if d.after == 0 else f"r{d.after}"
            lines.append(f"ecmp: {start} -> ({names}) -> {join}, branch lengths {lengths}{mesh}")
        for node, how in self.error_source:
            if how == "route":
                lines.append(f"error source: {node} answers from one address (route src)")
            elif how == "mixed":
                lines.append(f"error source: {node} time exceeded from the inbound interface, "
                             "unreachables from one address")  # fmt: skip
        for node, kind in self.nat:
            what = _NAT_WORDS[kind]
            lines.append(f"nat: {node} {what}")
        return lines


@dataclass(frozen=True)
class Link:
    """A veth link: ``left`` is the end toward src."""

    ident: int  # Interface.link: chain link p, or BRANCH_LINK_BASE + n
    left: str
    right: str
    ipv4_net: str  # e.g. "198.19.3.0"
    weight: int = 1

    def address(self, end: int, family: int) -> str:
        """``end`` 1 (left) or 2 (right)."""
        if family == 4:
            return self.ipv4_net.rpartition(".")[0] + f".{end}"
        return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address(self._v6net)) + end))

    @property
    def _v6net(self) -> str:
        if self.ident >= BRANCH_LINK_BASE:
            return f"2001:db8:1{self.ident - BRANCH_LINK_BASE:02x}::"
        return f"2001:db8:{self.ident:x}::"

    def prefix(self, family: int) -> str:
        return f"{self.ipv4_net}/24" if family == 4 else f"{ipaddress.IPv6Address(self._v6net)}/64"


@dataclass(frozen=True)
class Layout:
    """A graph lab: nodes (src first, then by position, dst last) and links."""

    spec: Spec
    nodes: dict[str, Node]
    links: tuple[Link, ...]
    positions: dict[str, int]  # node -> chain position of its branch start


# --------------------------------------------------------------------------- parsing


def parse_ecmp(text: str) -> Diamond:
    """``K:W`` (W branches of one router) or ``K:L1,L2,...`` (branch lengths)."""
    m = re.fullmatch(r"([0-9]+):([0-9]+(?:,[0-9]+)*)", text.strip())
    if m is None:
        raise UsageError(f"--ecmp {text!r}: expected K:WIDTH or K:LEN1,LEN2,..., e.g. 2:4")
    after, body = int(m.group(1)), m.group(2)
    lengths = tuple(int(x) for x in body.split(",")) if "," in body else (1,) * int(body)
    return Diamond(after, lengths)


def parse_nat(text: str) -> tuple[str, str]:
    """``K`` or ``K:masquerade|stateless`` (K a router number or name) -> (router, kind)."""
    node, _sep, kind = text.partition(":")
    kind = kind or "masquerade"
    node = f"r{node}" if node.isdigit() else node
    if kind not in NAT_KINDS or not ROUTER_RE.match(node):
        raise UsageError(f"--nat {text!r}: expected K[:masquerade|stateless], e.g. 3:stateless")
    return node, kind


def parse_error_source(text: str) -> tuple[str, str]:
    """``NODE:iface|route|mixed`` (NODE a router number or name)."""
    node, _sep, how = text.partition(":")
    node = f"r{node}" if node.isdigit() else node
    if how not in ERROR_SOURCES or not ROUTER_RE.match(node):
        raise UsageError(f"--error-source {text!r}: expected K:iface, K:route or K:mixed, "
                         "e.g. 3:route")  # fmt: skip
    return node, how


def load_topology(source: str | Mapping[str, Any]) -> dict[str, Any]:
    """A TOML file's path (or an already parsed dict) -> the dict; UsageError if unreadable."""
    if not isinstance(source, str):
        return dict(source)
    import tomllib

    try:
        with open(source, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise UsageError(f"--topology {source}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--topology {source}: {exc}") from None


def _diamond_from_toml(entry: object) -> Diamond:
    if not isinstance(entry, dict) or not isinstance(entry.get("after"), int):
        raise UsageError("topology: every [[ecmp]] needs an integer 'after'")
    if "branches" in entry:
        lengths = entry["branches"]
        if not isinstance(lengths, list) or not all(isinstance(x, int) for x in lengths):
            raise UsageError("topology: [[ecmp]] branches must be a list of integers")
    elif isinstance(entry.get("width"), int):
        lengths = [1] * entry["width"]
    else:
        raise UsageError("topology: every [[ecmp]] needs 'width' or 'branches'")
    unknown = set(entry) - {"after", "width", "branches", "mesh"}
    if unknown:
        raise UsageError(f"topology: unknown [[ecmp]] key {sorted(unknown)[0]!r}")
    return Diamond(entry["after"], tuple(lengths), bool(entry.get("mesh", False)))


def make_spec(
    routers: int = 4,
    ecmp: Iterable[Diamond | str] = (),
    topology: str | Mapping[str, Any] | None = None,
    nat: Iterable[tuple[str, str] | str | int] = (),
    error_source: Iterable[tuple[str, str] | str] = (),
) -> Spec:
    """A validated :class:`Spec` from friendly values (strings as on the command line)."""
    diamonds = [d if isinstance(d, Diamond) else parse_ecmp(d) for d in ecmp]
    nats: list[tuple[str, str]] = [
        parse_nat(str(x)) if isinstance(x, str | int) else (x[0], x[1]) for x in nat
    ]
    sources: list[tuple[str, str]] = [
        parse_error_source(x) if isinstance(x, str) else (x[0], x[1]) for x in error_source
    ]
    seeds: list[tuple[str, int]] = []
    if topology is not None:
        data = load_topology(topology)
        unknown = set(data) - {"routers", "ecmp", "error_source", "nat", "seed"}
        if unknown:
            raise UsageError(f"topology: unknown key {sorted(unknown)[0]!r}")
        if "routers" in data:
            if not isinstance(data["routers"], int):
                raise UsageError("topology: 'routers' must be an integer")
            routers = data["routers"]
        entries = data.get("ecmp", [])
        if not isinstance(entries, list):
            raise UsageError("topology: use [[ecmp]] tables")
        diamonds = [_diamond_from_toml(e) for e in entries] + diamonds
        for key, parse in (("nat", parse_nat), ("error_source", parse_error_source)):
            table = data.get(key, {})
            if not isinstance(table, dict):
                raise UsageError(f"topology: [{key}] must be a table")
            found = [parse(f"{k}:{v}") for k, v in table.items()]
            (nats if key == "nat" else sources)[:0] = found
        seed_table = data.get("seed", {})
        if not isinstance(seed_table, dict) or not all(
            isinstance(v, int) and 0 <= v < 2**32 for v in seed_table.values()
        ):
            raise UsageError("topology: [seed] values must be integers 0..4294967295")
        seeds = sorted(seed_table.items())
    spec = Spec(routers, tuple(sorted(diamonds, key=lambda d: d.after)),
                tuple(sorted(dict(sources).items())), tuple(sorted(dict(nats).items())),
                tuple(seeds))  # fmt: skip
    _validate(spec)
    return spec


def _validate(spec: Spec) -> None:
    from netdiag.lab.plan import MAX_ROUTERS

    n = spec.routers
    if not 0 <= n <= MAX_ROUTERS:
        raise UsageError(f"routers={n}: must be 0..{MAX_ROUTERS}")
    previous = -2
    for d in spec.diamonds:
        if not 0 <= d.after <= n - 2:
            raise UsageError(f"--ecmp {d}: K must be 0..{n - 2} (router K+2 joins the "
                             f"branches; there are {n} routers)")  # fmt: skip
        if d.after < previous + 2:
            raise UsageError(f"--ecmp {d}: overlaps the diamond after {previous}")
        if not 2 <= len(d.lengths) <= MAX_WIDTH:
            raise UsageError(f"--ecmp {d}: the width must be 2..{MAX_WIDTH}")
        if not all(1 <= x <= MAX_BRANCH_LENGTH for x in d.lengths):
            raise UsageError(f"--ecmp {d}: a branch has 1..{MAX_BRANCH_LENGTH} routers")
        if d.mesh and (len(set(d.lengths)) != 1 or d.lengths[0] < 2):
            raise UsageError(f"--ecmp {d}: a meshed diamond needs equal branches of 2+ routers")
        previous = d.after
    names = set(_node_names(spec))
    for what, pairs in (("--nat", spec.nat), ("--error-source", spec.error_source)):
        for node, _value in pairs:
            if node not in names or node in ("src", "dst"):
                raise UsageError(f"{what} {node}: no such router")
    for node, _seed in spec.seeds:
        if node not in names:
            raise UsageError(f"topology: [seed] {node}: no such node")


# --------------------------------------------------------------------------- layout


def _branch_names(d: Diamond) -> list[list[str]]:
    p = d.after + 1
    return [[f"r{p}{_LETTERS[b]}" + (f"{j}" if j > 1 else "") for j in range(1, length + 1)]
            for b, length in enumerate(d.lengths)]  # fmt: skip


def _positions(spec: Spec) -> list[list[list[str]]]:
    """Per position 0..N+1: its branches (a chain position: one branch of one node)."""
    by_pos = {d.after + 1: d for d in spec.diamonds}
    out: list[list[list[str]]] = [[["src"]]]
    for p in range(1, spec.routers + 1):
        out.append(_branch_names(by_pos[p]) if p in by_pos else [[f"r{p}"]])
    out.append([["dst"]])
    return out


def _node_names(spec: Spec) -> list[str]:
    return [n for pos in _positions(spec) for branch in pos for n in branch]


def layout(name: str, spec: Spec) -> Layout:
    """Nodes, interfaces, addresses and links of a graph lab. Pure."""
    check_name(name)
    by_pos = {d.after + 1: d for d in spec.diamonds}
    positions = _positions(spec)
    pairs: list[tuple[str, str, int | None, int]] = []  # left, right, chain link or None, weight
    for p in range(len(positions) - 1):
        here, there = positions[p], positions[p + 1]
        d = by_pos.get(p)
        longest = max(len(b) for b in here)
        for branch in here:  # inside a branch, then mesh links
            pairs += [(a, b, None, 1) for a, b in zip(branch, branch[1:], strict=False)]
        if d is not None and d.mesh:
            for j in range(longest - 1):
                pairs += [(x[j], y[j + 1], None, 1) for x in here for y in here if x is not y]
        chain = len(here) == 1 and len(there) == 1
        for branch in here:
            weight = longest - len(branch) + 1
            for nxt in there:
                pairs.append((branch[-1], nxt[0], p if chain else None, weight))
    links: list[Link] = []
    n_branch = 0
    for left, right, chain_link, weight in pairs:
        if chain_link is not None:
            links.append(Link(chain_link, left, right, f"198.18.{chain_link}.0", weight))
            continue
        if n_branch >= MAX_BRANCH_LINKS:
            raise UsageError(f"topology: more than {MAX_BRANCH_LINKS} branch links")
        links.append(Link(BRANCH_LINK_BASE + n_branch, left, right, f"198.19.{n_branch}.0",
                          weight))  # fmt: skip
        n_branch += 1
    order = [n for pos in positions for branch in pos for n in branch]
    rank = {n: i for i, n in enumerate(order)}
    nodes: dict[str, Node] = {}
    for node in order:
        lefts = sorted((x for x in links if x.right == node), key=lambda x: rank[x.left])
        rights = sorted((x for x in links if x.left == node), key=lambda x: rank[x.right])
        ifaces = [Interface(f"eth{i}", x.ident, x.address(end, 4), x.address(end, 6),
                            x.left if end == 2 else x.right)
                  for i, (x, end) in enumerate([(x, 2) for x in lefts]
                                               + [(x, 1) for x in rights])]  # fmt: skip
        nodes[node] = Node(node, netns_prefix(name) + node, tuple(i.ipv4 for i in ifaces),
                           tuple(i.ipv6 for i in ifaces), tuple(ifaces))  # fmt: skip
    where = {n: p for p, pos in enumerate(positions) for branch in pos for n in branch}
    return Layout(spec, nodes, tuple(links), where)


def default_seed(node: str) -> int:
    """A node's ``fib_multipath_hash_seed`` unless the topology sets one: CRC-32 of its
    name (never 0, which would mean the kernel's shared random seed)."""
    return zlib.crc32(node.encode()) or 1
