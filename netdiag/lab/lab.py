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
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence

from netdiag.errors import UsageError
from netdiag.lab.conditions import (
    LOSS_TABLE,
    Conditions,
    Delay,
    Loss,
    loss_placement,
    loss_script,
    make_conditions,
    silent_script,
)
from netdiag.lab.netns import (
    LabError,
    describe_failure,
    ifname_key,
    in_netns,
    lab_namespaces,
    not_ready,
    require_root,
    run_ip,
    run_tool,
    sorted_chain,
    stop_netns_processes,
    write_sysctls,
)
from netdiag.lab.plan import (
    MAX_ROUTERS,
    RELAY_NODE,
    SILENT_TABLE,
    Interface,
    Node,
    check_name,
    link_commands,
    netns_prefix,
    node_commands,
    offload_devices,
    plan,
    relay_commands,
    relay_netns,
    sysctls,
)
from netdiag.lab.routing import (
    NAT_TABLE,
    GroundTruth,
    errsrc_script,
    graph_layout,
    graph_link_commands,
    graph_loss,
    graph_loss_placement,
    graph_node_commands,
    graph_sysctls,
    ground_truth,
    nat_script,
)
from netdiag.lab.topology import Layout, Spec, layout, make_spec
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
    "Conditions",
    "make_conditions",
    "STATE_DIR",
]

READY_TIMEOUT = 5.0
#: Where ``Lab.up`` notes a lab's conditions for ``lab show`` and ``Lab.attach``.
STATE_DIR = "/run/netdiag/lab"


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
        conditions: Conditions | None = None,
        topology: Layout | None = None,
    ) -> None:
        self.name = name
        #: The graph of a lab built with ecmp/topology/nat/error_source; None: a plain chain.
        self.topology = topology
        self.nodes: dict[str, Node] = dict(nodes)
        self.routers = topology.spec.routers if topology is not None else len(self.nodes) - 2
        self.silent_router = silent_router
        self.mtu = mtu
        self.conditions = conditions or Conditions()
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
        icmp_ratelimit: int | str | None = None,
        loss: Iterable[Loss | str] = (),
        delay: Iterable[Delay | str] = (),
        silent_tail: str | None = None,
        blackhole: int | None = None,
        ecmp: Iterable[str] = (),
        topology: str | Mapping[str, Any] | None = None,
        nat: Iterable[str | int] = (),
        error_source: Iterable[str] = (),
    ) -> Lab:
        """Build the lab; on any failure remove what was built and raise.

        ``icmp_ratelimit``, ``loss``, ``delay``, ``silent_tail`` and ``blackhole`` are the
        conditions of ``netdiag.lab.conditions`` (see :func:`make_conditions`); ``ecmp``
        ("K:W" or "K:L1,L2,..."), ``topology`` (a TOML path or dict), ``nat``
        ("K[:masquerade|stateless]") and ``error_source`` ("K:iface|route") make it a graph
        (``netdiag.lab.topology``)."""
        graph = None
        loss, delay = tuple(loss), tuple(delay)
        if ecmp or topology is not None or nat or error_source:
            spec = make_spec(routers, ecmp, topology, nat, error_source)
            routers = spec.routers
            graph = graph_layout(name, spec, silent_router, mtu, delay)
            loss = tuple(graph_loss(graph, x) if isinstance(x, str) else x for x in loss)
        nodes = graph.nodes if graph is not None else plan(name, routers, silent_router, mtu)
        ids = [x.ident for x in graph.links] if graph is not None else None
        conditions = make_conditions(routers, icmp_ratelimit, loss, delay, silent_tail,
                                     blackhole, ids, list(nodes) if graph else None)  # fmt: skip
        if graph is not None:
            for what, node in (("--silent-tail", silent_tail), ("--blackhole", blackhole)):
                node = f"r{node}" if isinstance(node, int) else node
                if node is not None and node not in nodes:
                    raise UsageError(f"{what} {node}: no such node in this topology")
        require_root()
        if lab_namespaces(name):
            raise LabError(f"lab {name!r} already exists: run `netdiag lab down --name {name}`")
        lab = cls(name, nodes, silent_router, mtu, conditions, graph)
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
        cond = self.conditions
        delayed = cond.delayed_links
        relay = relay_netns(nodes[0].netns)
        run_ip((), batch=[f"netns add {n.netns}" for n in nodes]
               + ([f"netns add {relay}"] if delayed else []))  # fmt: skip
        graph = self.topology
        diamonds = graph is not None and bool(graph.spec.diamonds)
        for node in nodes:
            with in_netns(node.netns):
                write_sysctls(sysctls(node, cond.icmp_ratelimit))
                if graph is not None:
                    write_sysctls(graph_sysctls(graph, node.name))
        run_ip((), batch=graph_link_commands(graph) if graph is not None and diamonds
               else link_commands(self.nodes, delayed))  # fmt: skip
        procs = [
            (n, subprocess.Popen(["ip", "-n", n.netns, "-batch", "-"], **_PIPES)) for n in nodes
        ]
        failures = []
        for node, proc in procs:
            if graph is not None and diamonds:
                hole = f"r{cond.blackhole}" if cond.blackhole is not None else None
                lines = graph_node_commands(graph, node.name, hole)
            else:
                lines = node_commands(self.nodes, node, cond.blackhole)
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
        if delayed:
            self._start_relay(relay, delayed)
        self._wait_ready(nodes)
        for loss in cond.loss:
            for where, device, direction in self._loss_places(loss):
                self._nft(where, loss_script(direction, device, loss.pct))
        if cond.silent_tail is not None:
            self._nft(cond.silent_tail, silent_script(cond.silent_tail != "dst"))
        if graph is not None:
            for router, kind in graph.spec.nat:
                self._nft(router, nat_script(graph, router, kind))
            for router, _how in graph.spec.error_source:
                script = errsrc_script(graph, router)
                if script is not None:
                    self._nft(router, script)
        self._save_state()

    def _start_relay(self, relay: str, delayed: Mapping[int, Delay]) -> None:
        """Offloads off on the delayed links' node ends; the relay process started and ready."""
        run_ip((), netns=relay, batch=relay_commands(delayed))
        for netns, devices in offload_devices(self.nodes, delayed).items():
            for dev in devices:
                run_tool(["ip", "netns", "exec", netns, "ethtool", "-K", dev, "tx", "off", "tso",
                       "off", "gso", "off"], "ethtool", "ethtool")  # fmt: skip
        specs = [f"{d.link}:{d.ms}:{d.jitter_ms}" for d in delayed.values()]
        argv = ["ip", "netns", "exec", relay, sys.executable, "-m", "netdiag.lab.relay", *specs]
        # A session of its own: the relay outlives `netdiag lab up`; `down` stops it by
        # the PIDs of the relay namespace.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)  # fmt: skip
        assert proc.stdout is not None
        import select

        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
        line = proc.stdout.readline() if ready else ""
        proc.stdout.close()
        if line.strip() != "ready":
            proc.kill()
            proc.wait()
            raise LabError(f"delay relay in {relay} did not start: {line.strip() or 'timed out'}")

    def _nft(self, node: str, script: str) -> None:
        run_tool(["ip", "netns", "exec", self.nodes[node].netns, "nft", "-f", "-"], "nft",
              "nftables", script)  # fmt: skip

    def _save_state(self) -> None:
        os.makedirs(STATE_DIR, exist_ok=True)
        path = os.path.join(STATE_DIR, f"{self.name}.json")
        state = self.conditions.to_json()
        if self.topology is not None:
            state["topology"] = self.topology.spec.to_json()
        with open(path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(path + ".tmp", path)

    def loss_counters(self, link: int, direction: str = "fwd") -> tuple[int, int]:
        """(dropped, passed) IP packets of link ``link`` in ``direction``: the ground truth."""
        loss = next((x for x in self.conditions.loss if x.link == link
                     and direction in x.directions), None)  # fmt: skip
        if loss is None:
            raise UsageError(f"link {link} has no loss {direction}")
        node, _dev, _d = next(p for p in self._loss_places(loss) if p[2] == direction)
        argv = ["ip", "netns", "exec", self.nodes[node].netns, "nft", "-j", "list", "counters",
                "table", "netdev", f"{LOSS_TABLE}_{direction}"]  # fmt: skip
        found = json.loads(run_tool(argv, "nft", "nftables"))
        counts = {c["counter"]["name"]: c["counter"]["packets"]
                  for c in found["nftables"] if "counter" in c}  # fmt: skip
        return counts["dropped"], counts["passed"]

    def _loss_places(self, loss: Loss) -> list[tuple[str, str, str]]:
        if self.topology is not None and self.topology.spec.diamonds:
            return graph_loss_placement(self.topology, loss)
        return loss_placement(loss, list(self.nodes))

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
        relay = netns_prefix(name) + RELAY_NODE
        if os.path.exists(os.path.join("/run/netns", relay)):
            stop_netns_processes(relay)
            found.append(relay)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(STATE_DIR, f"{name}.json"))
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
        dst's. A silent router's hop is None (traceroute prints ``*``). A lab with
        diamonds has several paths: see :meth:`ground_truth`."""
        if self.topology is not None and self.topology.spec.diamonds:
            raise UsageError(f"lab {self.name!r} has several paths: use ground_truth()")
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
            links = json.loads(run_ip(["-j", "address", "show"], netns=netns) or "[]")
            links.sort(key=lambda x: ifname_key(str(x.get("ifname", ""))))
            for link in links:
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
        silent = next((int(r.node[1:]) for r in rows if r.role.endswith("(silent)")), None)
        spec = cls.topology_of(name)
        if spec is not None and spec.diamonds:
            graph = graph_layout(name, spec, silent, None, ())
            return cls(name, graph.nodes, silent, None, cls.conditions_of(name), graph)
        routers = len({r.node for r in rows}) - 2
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
        if spec is not None:  # a chain with NATs or error sources
            graph = graph_layout(name, spec, silent, mtu, ())
            return cls(name, graph.nodes, silent, mtu, cls.conditions_of(name), graph)
        return cls(name, plan(name, routers, silent, mtu), silent, mtu, cls.conditions_of(name))

    @staticmethod
    def topology_of(name: str) -> Spec | None:
        """The topology ``Lab.up`` built lab ``name`` with (None: a plain chain)."""
        try:
            with open(os.path.join(STATE_DIR, f"{name}.json")) as f:
                data = json.load(f).get("topology")
            return Spec.from_json(data) if data else None
        except (OSError, ValueError, TypeError, AttributeError, UsageError):
            return None

    # -- the truth of a graph lab

    def ground_truth(self, family: int = 4) -> GroundTruth:
        """Per TTL the routers and addresses of every ECMP path src -> dst, the links, the
        aliases and NATs (``netdiag.lab.routing.GroundTruth``); a chain has one path."""
        graph = self.topology or layout(self.name, Spec(self.routers))
        return ground_truth(graph, family)

    def nat_counters(self, router: str, family: int = 4) -> dict[str, int]:
        """Named nft counters of the NAT on ``router``: masquerade ``translated`` (new
        connections); stateless ``out`` and ``back`` (packets) of ``family``'s table."""
        kind = dict(self.topology.spec.nat).get(router) if self.topology else None
        if kind is None:
            raise UsageError(f"{router}: no NAT in lab {self.name!r}")
        table = "inet" if kind == "masquerade" else "ip" if family == 4 else "ip6"
        argv = ["ip", "netns", "exec", self.node(router).netns, "nft", "-j", "list",
                "counters", "table", table, NAT_TABLE]  # fmt: skip
        found = json.loads(run_tool(argv, "nft", "nftables"))
        return {c["counter"]["name"]: c["counter"]["packets"]
                for c in found["nftables"] if "counter" in c}  # fmt: skip

    @staticmethod
    def conditions_of(name: str) -> Conditions:
        """The conditions ``Lab.up`` built lab ``name`` with (none known: the defaults)."""
        try:
            with open(os.path.join(STATE_DIR, f"{name}.json")) as f:
                return Conditions.from_json(json.load(f))
        except (OSError, ValueError, TypeError, AssertionError):
            return Conditions()


_PIPES: dict[str, Any] = {
    "stdin": subprocess.PIPE,
    "stdout": subprocess.PIPE,
    "stderr": subprocess.PIPE,
    "text": True,
}
