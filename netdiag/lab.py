"""A reproducible lab of hosts and routers in network namespaces.

The lab is a chain ``src - r1 - ... - rN - dst``. Every node is a network
namespace named ``nd-<lab>-<node>``; link ``k`` (``0..N``) joins node ``k`` and
node ``k+1`` (node 0 is ``src``, node ``N+1`` is ``dst``) with a veth pair and
carries ``198.18.k.0/24`` and ``2001:db8:k::/64`` (``k`` in hex), ``.1``/``::1``
on the left end and ``.2``/``::2`` on the right end. Inside each namespace the
interface toward ``src`` is ``eth0`` and the one toward ``dst`` is ``eth1``
(``src`` has only ``eth0``).

Traffic stays on 198.18.0.0/15 and 2001:db8::/32 inside namespaces this module
created; nothing touches the root namespace's interfaces or routes.

The plan (which node gets which address, which ``ip`` commands build it) is
pure and testable without root; ``Lab.up`` only runs it. Every ``ip`` call
goes through :func:`run_ip`, which raises :class:`LabError` with the command
and ip's stderr on one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netdiag.errors import NetdiagError, PrivilegeError, UsageError

__all__ = [
    "Lab",
    "LabError",
    "LabRow",
    "Node",
    "Interface",
    "plan",
    "in_netns",
    "run_ip",
    "netns_prefix",
    "MAX_ROUTERS",
    "SILENT_TABLE",
]

ROOT_HINT = "netdiag lab needs root (CAP_NET_ADMIN): run with sudo"
NETNS_DIR = "/run/netns"
MAX_ROUTERS = 64
#: Routing table holding the blackhole that silences a router's own ICMP.
SILENT_TABLE = 100
#: IPv6 needs links of at least 1280 bytes (RFC 8200 §5).
MIN_MTU = 1280
MAX_MTU = 65535
READY_TIMEOUT = 5.0
_NAME_RE = re.compile(r"[A-Za-z0-9_]{1,24}\Z")
_NODE_RE = re.compile(r"(src|dst|r[1-9][0-9]*)\Z")
_CLONE_NEWNET = 0x40000000
_IFA_F_TENTATIVE = 0x40


class LabError(NetdiagError):
    """Building, inspecting or tearing down a lab failed; says which command and why."""


# --------------------------------------------------------------------------- plan (pure)


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
    return f"2001:db8:{link:x}::{end}"


def _validate(name: str, routers: int, silent_router: int | None, mtu: tuple[int, int] | None) -> None:
    if not _NAME_RE.match(name):
        raise UsageError(f"lab name {name!r}: use 1-24 letters, digits or '_'")
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


def _link_commands(nodes: Mapping[str, Node]) -> list[str]:
    """``ip -batch`` lines (root namespace) creating every veth pair straight in its netns."""
    chain = list(nodes.values())
    lines = []
    for left, right in zip(chain, chain[1:], strict=False):
        lif, rif = left.interfaces[-1], right.interfaces[0]
        lines.append(
            f"link add {lif.name} netns {left.netns} type veth peer name {rif.name} "
            f"netns {right.netns}"
        )
    return lines


def _node_commands(nodes: Mapping[str, Node], node: Node) -> list[str]:
    """``ip -n NS -batch`` lines configuring one node: links, addresses, routes."""
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
    if node.silent:
        # Locally generated ICMP (errors and echo replies) is routed into a
        # blackhole; forwarded ICMP comes in on eth0/eth1, not lo, and passes.
        # The IPv6 rule needs `ip -6` (a batch line cannot carry it).
        lines.append(f"rule add ipproto icmp iif lo table {SILENT_TABLE}")
        lines.append(f"route add blackhole default table {SILENT_TABLE}")
        lines.append(f"route add blackhole ::/0 table {SILENT_TABLE}")
    return lines


def _sysctls(node: Node) -> dict[str, str]:
    """Per-namespace sysctls: forwarding on routers only, no ICMP rate limits, no DAD."""
    forward = "1" if node.is_router else "0"
    return {
        # IPv4 conf is inherited from the root namespace: pin everything we rely on.
        "net/ipv4/ip_forward": forward,
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/conf/default/rp_filter": "0",
        "net/ipv6/conf/all/forwarding": forward,
        "net/ipv6/conf/default/accept_dad": "0",
        "net/ipv6/conf/default/router_solicitations": "0",
        "net/ipv4/icmp_ratelimit": "0",
        "net/ipv6/icmp/ratelimit": "0",
        "net/ipv4/ping_group_range": "0 2147483647",
    }


# --------------------------------------------------------------------------- runners


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def run_ip(
    args: Sequence[str], *, netns: str | None = None, batch: Sequence[str] | None = None
) -> str:
    """Run ``ip [-n NETNS] ARGS`` (or ``ip -batch -`` fed ``batch``); return stdout.

    Raises LabError naming the command (and the failing batch line) with ip's stderr.
    """
    argv = ["ip"]
    if netns is not None:
        argv += ["-n", netns]
    argv += ["-batch", "-"] if batch is not None else list(args)
    text = "\n".join(batch) + "\n" if batch is not None else None
    try:
        proc = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise LabError("iproute2 'ip' not found: install iproute2") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: timed out after 30 s") from None
    if proc.returncode != 0:
        raise LabError(_describe_failure(argv, batch, proc.stderr))
    return proc.stdout


def _describe_failure(argv: Sequence[str], batch: Sequence[str] | None, stderr: str) -> str:
    cmd = " ".join(argv)
    if batch is not None:
        m = re.search(r"Command failed -:(\d+)", stderr)
        if m and 0 < int(m.group(1)) <= len(batch):
            cmd = f"{cmd} <<< {batch[int(m.group(1)) - 1]!r}"
    return f"{cmd}: {_one_line(stderr) or 'failed'}"


_libc: Any = None


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, _CLONE_NEWNET)
        return
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def in_netns(netns: str) -> Iterator[None]:
    """Switch the calling thread (only) into network namespace ``netns`` (a name in
    /run/netns) for the ``with`` block, then back. Sockets opened inside stay there."""
    path = os.path.join(NETNS_DIR, netns)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LabError(f"network namespace {netns!r} does not exist") from None
    except PermissionError:
        raise PrivilegeError(ROOT_HINT) from None
    try:
        original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                _setns(target)
            except PermissionError:
                raise PrivilegeError(ROOT_HINT) from None
            except OSError as exc:
                raise LabError(f"setns({path}): {exc.strerror}") from None
            try:
                yield
            finally:
                _setns(original)
        finally:
            os.close(original)
    finally:
        os.close(target)


def _write_sysctls(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        try:
            with open(f"/proc/sys/{key}", "w") as f:
                f.write(value)
        except OSError as exc:
            raise LabError(f"sysctl {key.replace('/', '.')}={value}: {exc.strerror}") from None


def _pending_ipv6(expected: Sequence[str]) -> list[str]:
    """Of ``expected`` addresses, those not yet present and usable in this thread's netns."""
    ready = set()
    with open("/proc/thread-self/net/if_inet6") as f:
        for line in f:
            hexaddr, _idx, _plen, _scope, flags, _dev = line.split()
            if not int(flags, 16) & _IFA_F_TENTATIVE:
                ready.add(int(hexaddr, 16))
    return [a for a in expected if int(ipaddress.IPv6Address(a)) not in ready]


def _require_root() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError(ROOT_HINT)


def _existing(name: str) -> list[str]:
    """Namespaces in /run/netns that belong to lab ``name``, sorted."""
    prefix = netns_prefix(name)
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(prefix) and _NODE_RE.match(e[len(prefix) :]))


# --------------------------------------------------------------------------- the lab


@dataclass(frozen=True)
class LabRow:
    """One interface of a live lab, as ``Lab.show`` finds it."""

    node: str
    netns: str
    role: str
    interface: str
    ipv4: str
    ipv6: str
    mtu: int
    state: str


class Lab:
    """A running lab. Build with :meth:`up`; remove with :meth:`down` or ``with``."""

    def __init__(
        self,
        name: str,
        nodes: Mapping[str, Node],
        silent_router: int | None = None,
        mtu: tuple[int, int] | None = None,
    ) -> None:
        self.name = name
        self.nodes: dict[str, Node] = dict(nodes)
        self.routers = len(self.nodes) - 2
        self.silent_router = silent_router
        self.mtu = mtu
        self.build_seconds: float | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Lab({self.name!r}, routers={self.routers})"

    # -- building and tearing down

    @classmethod
    def up(
        cls,
        name: str,
        routers: int = 4,
        silent_router: int | None = None,
        mtu: tuple[int, int] | None = None,
    ) -> Lab:
        """Build the lab; on any failure remove what was built and raise."""
        nodes = plan(name, routers, silent_router, mtu)
        _require_root()
        if _existing(name):
            raise LabError(f"lab {name!r} already exists: run `netdiag lab down --name {name}`")
        lab = cls(name, nodes, silent_router, mtu)
        start = time.monotonic()
        try:
            lab._build()
        except BaseException:
            cls.down_name(name)
            raise
        lab.build_seconds = time.monotonic() - start
        return lab

    def _build(self) -> None:
        nodes = list(self.nodes.values())
        run_ip((), batch=[f"netns add {n.netns}" for n in nodes])
        for node in nodes:
            with in_netns(node.netns):
                _write_sysctls(_sysctls(node))
        run_ip((), batch=_link_commands(self.nodes))
        procs = [
            (n, subprocess.Popen(["ip", "-n", n.netns, "-batch", "-"], **_PIPES))
            for n in nodes
        ]
        failures = []
        for node, proc in procs:
            lines = _node_commands(self.nodes, node)
            try:
                _out, err = proc.communicate("\n".join(lines) + "\n", timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                err = "timed out"
            if proc.returncode != 0:
                failures.append(_describe_failure(proc.args, lines, err))
        if failures:
            raise LabError(failures[0])
        for node in nodes:
            if node.silent:
                run_ip(["-6", "rule", "add", "ipproto", "ipv6-icmp", "iif", "lo", "table",
                        str(SILENT_TABLE)], netns=node.netns)  # fmt: skip
        self._wait_ready(nodes)

    def _wait_ready(self, nodes: Sequence[Node]) -> None:
        """Wait (bounded) until every IPv6 address is usable, i.e. links have carrier."""
        deadline = time.monotonic() + READY_TIMEOUT
        for node in nodes:
            while True:
                with in_netns(node.netns):
                    pending = _pending_ipv6(node.ipv6)
                if not pending:
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"{node.name}: addresses {', '.join(pending)} still tentative")
                time.sleep(0.005)

    def down(self) -> None:
        """Stop processes started with :meth:`popen` and remove the lab. Idempotent."""
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        self.down_name(self.name)

    @staticmethod
    def down_name(name: str) -> list[str]:
        """Remove every namespace of lab ``name`` (also from a crashed run); return them."""
        if not _NAME_RE.match(name):
            raise UsageError(f"lab name {name!r}: use 1-24 letters, digits or '_'")
        _require_root()
        found = _existing(name)
        if found:
            try:
                run_ip((), batch=[f"netns del {ns}" for ns in found])
            except LabError:
                if _existing(name):  # a concurrent down may have won the race
                    raise
        return found

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- using

    def node(self, node: str | Node) -> Node:
        if isinstance(node, Node):
            return node
        try:
            return self.nodes[node]
        except KeyError:
            known = ", ".join(self.nodes)
            raise UsageError(f"no node {node!r} in lab {self.name!r} (nodes: {known})") from None

    @property
    def src(self) -> Node:
        return self.nodes["src"]

    @property
    def dst(self) -> Node:
        return self.nodes["dst"]

    def addr(self, node: str | Node, family: int = 4) -> str:
        """Primary address: the left-side one (src: its only one)."""
        n = self.node(node)
        if family not in (4, 6):
            raise UsageError(f"family {family}: use 4 or 6")
        return (n.ipv4 if family == 4 else n.ipv6)[0]

    def hops(self, family: int = 4) -> list[str | None]:
        """Expected traceroute hops from src to dst: each router's left address, then
        dst's. A silent router's hop is None (traceroute prints ``*``)."""
        return [
            None if n.silent else self.addr(n, family) for n in self.nodes.values() if n.name != "src"
        ]

    def exec(
        self, node: str | Node, argv: Sequence[str], **kwargs: Any
    ) -> subprocess.CompletedProcess[Any]:
        """``subprocess.run(["ip", "netns", "exec", NS, *argv], **kwargs)``."""
        return subprocess.run(["ip", "netns", "exec", self.node(node).netns, *argv], **kwargs)

    def popen(self, node: str | Node, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``node``; :meth:`down` kills it if still running."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.node(node).netns, *argv], **kwargs)
        with self._lock:
            self._procs.append(proc)
        return proc

    def inside(self, node: str | Node) -> contextlib.AbstractContextManager[None]:
        """``with lab.inside("src"):`` -- this thread in the node's namespace."""
        return in_netns(self.node(node).netns)

    # -- inspecting a live lab (possibly built by another process)

    @staticmethod
    def show(name: str) -> list[LabRow]:
        """One row per interface of every node of lab ``name`` as the kernel has them."""
        _require_root()
        rows = []
        for netns in _sorted_chain(_existing(name), name):
            node = netns[len(netns_prefix(name)) :]
            silent = f"lookup {SILENT_TABLE}" in run_ip(["rule", "show"], netns=netns)
            role = "host" if node in ("src", "dst") else "router (silent)" if silent else "router"
            for link in json.loads(run_ip(["-j", "address", "show"], netns=netns) or "[]"):
                if link.get("ifname") == "lo":
                    continue
                infos = link.get("addr_info", [])
                v4 = [f"{a['local']}/{a['prefixlen']}" for a in infos if a["family"] == "inet"]
                v6 = [
                    f"{a['local']}/{a['prefixlen']}"
                    for a in infos
                    if a["family"] == "inet6" and a.get("scope") == "global"
                ]
                rows.append(
                    LabRow(
                        node=node,
                        netns=netns,
                        role=role,
                        interface=link["ifname"],
                        ipv4=" ".join(v4),
                        ipv6=" ".join(v6),
                        mtu=int(link.get("mtu", 0)),
                        state=str(link.get("operstate", "")),
                    )
                )
        return rows

    @classmethod
    def attach(cls, name: str) -> Lab:
        """A Lab object for a lab that is already up (e.g. made by ``netdiag lab up``).
        Its layout, silent router and MTU are read back from the kernel."""
        rows = cls.show(name)
        if not rows:
            raise LabError(f"no lab {name!r}: run `netdiag lab up --name {name}`")
        routers = len({r.node for r in rows}) - 2
        silent = next((int(r.node[1:]) for r in rows if r.role.endswith("(silent)")), None)
        nodes = plan(name, routers, silent)
        mtu = next(
            (
                (i.link, r.mtu)
                for r in rows
                for i in nodes[r.node].interfaces
                if i.name == r.interface and r.mtu != 1500
            ),
            None,
        )
        return cls(name, plan(name, routers, silent, mtu), silent, mtu)


_PIPES: dict[str, Any] = {
    "stdin": subprocess.PIPE,
    "stdout": subprocess.PIPE,
    "stderr": subprocess.PIPE,
    "text": True,
}


def _sorted_chain(namespaces: Sequence[str], name: str) -> list[str]:
    """Namespaces in chain order: src, r1, r2, ..., dst."""

    def key(netns: str) -> tuple[int, int]:
        node = netns[len(netns_prefix(name)) :]
        return (0, 0) if node == "src" else (2, 0) if node == "dst" else (1, int(node[1:]))

    return sorted(namespaces, key=key)
