"""A reproducible lab of hosts and routers in network namespaces: building it,
using it, inspecting it and tearing it down.

The layout (names, addresses, routes) is the pure plan in ``netdiag.lab.plan``;
this module runs it, standing on the namespace plumbing in ``netdiag.lab.netns``
(``ip`` calls, entering a namespace, readiness, finding a lab's namespaces).
Traffic stays on 198.18.0.0/15 and 2001:db8::/32 inside namespaces this module
created; nothing touches the root namespace's interfaces or routes.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence

from netdiag.errors import UsageError
from netdiag.lab.netns import (
    LabError,
    describe_failure,
    in_netns,
    lab_namespaces,
    not_ready,
    require_root,
    run_ip,
    sorted_chain,
    write_sysctls,
)
from netdiag.lab.plan import (
    MAX_ROUTERS,
    SILENT_TABLE,
    Interface,
    Node,
    check_name,
    link_commands,
    netns_prefix,
    node_commands,
    plan,
    sysctls,
)
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Lab",
    "LabError",
    "LabRow",
    "Node",
    "Interface",
    "plan",
    "netns_prefix",
    "MAX_ROUTERS",
    "SILENT_TABLE",
]

READY_TIMEOUT = 5.0


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
        require_root()
        if lab_namespaces(name):
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
                write_sysctls(sysctls(node))
        run_ip((), batch=link_commands(self.nodes))
        procs = [
            (n, subprocess.Popen(["ip", "-n", n.netns, "-batch", "-"], **_PIPES)) for n in nodes
        ]
        failures = []
        for node, proc in procs:
            lines = node_commands(self.nodes, node)
            try:
                _out, err = proc.communicate("\n".join(lines) + "\n", timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                err = "timed out"
            if proc.returncode != 0:
                failures.append(
                    describe_failure(["ip", "-n", node.netns, "-batch", "-"], lines, err)
                )
        if failures:
            raise LabError(failures[0])
        for node in nodes:
            if node.silent:
                run_ip(["-6", "rule", "add", "ipproto", "ipv6-icmp", "iif", "lo", "table",
                        str(SILENT_TABLE)], netns=node.netns)  # fmt: skip
        self._wait_ready(nodes)

    def _wait_ready(self, nodes: Sequence[Node]) -> None:
        """Wait (bounded in time) until every link has carrier and every address is usable."""
        deadline = time.monotonic() + READY_TIMEOUT
        for node in nodes:
            while True:
                with in_netns(node.netns):
                    pending = not_ready(node)
                if not pending:
                    break
                if time.monotonic() > deadline:
                    raise LabError(f"{node.netns} not ready after {READY_TIMEOUT} s: "
                                   + ", ".join(pending))  # fmt: skip
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
        check_name(name)
        require_root()
        found = lab_namespaces(name)
        if found:
            try:
                run_ip((), batch=[f"netns del {ns}" for ns in found], force=True)
            except LabError:
                if lab_namespaces(name):  # else a concurrent down won the race: fine
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
            None if n.silent else self.addr(n, family)
            for n in self.nodes.values()
            if n.name != "src"
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
        require_root()
        rows = []
        for netns in sorted_chain(lab_namespaces(name), name):
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
