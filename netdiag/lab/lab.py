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
import signal
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
    parse_delay,
    parse_loss,
    parse_ratelimit,
    silent_script,
)
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


def make_conditions(
    routers: int,
    icmp_ratelimit: int | str | None = None,
    loss: Iterable[Loss | str] = (),
    delay: Iterable[Delay | str] = (),
    silent_tail: str | None = None,
    blackhole: int | None = None,
) -> Conditions:
    """Conditions from friendly values: ``icmp_ratelimit`` ms, "off", "default" or None
    (the kernel's); loss as ``Loss`` or "K:PCT[:fwd|rev]"; delay as ``Delay`` or
    "K:MS[/JITTER]" (K may be "all")."""
    if isinstance(icmp_ratelimit, str):
        icmp_ratelimit = parse_ratelimit(icmp_ratelimit)
    losses = tuple(x if isinstance(x, Loss) else parse_loss(x) for x in loss)
    delays: list[Delay] = []
    for d in delay:
        delays.extend([d] if isinstance(d, Delay) else parse_delay(d, routers))
    found = Conditions(icmp_ratelimit, losses, tuple(delays), silent_tail, blackhole)
    found.validate(routers)
    return found


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
    ) -> None:
        self.name = name
        self.nodes: dict[str, Node] = dict(nodes)
        self.routers = len(self.nodes) - 2
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
    ) -> Lab:
        """Build the lab; on any failure remove what was built and raise.

        ``icmp_ratelimit``, ``loss``, ``delay``, ``silent_tail`` and ``blackhole`` are the
        conditions of ``netdiag.lab.conditions`` (see :func:`make_conditions`)."""
        nodes = plan(name, routers, silent_router, mtu)
        conditions = make_conditions(routers, icmp_ratelimit, loss, delay, silent_tail,
                                     blackhole)  # fmt: skip
        require_root()
        if lab_namespaces(name):
            raise LabError(f"lab {name!r} already exists: run `netdiag lab down --name {name}`")
        lab = cls(name, nodes, silent_router, mtu, conditions)
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
        for node in nodes:
            with in_netns(node.netns):
                write_sysctls(sysctls(node, cond.icmp_ratelimit))
        run_ip((), batch=link_commands(self.nodes, delayed))
        procs = [
            (n, subprocess.Popen(["ip", "-n", n.netns, "-batch", "-"], **_PIPES)) for n in nodes
        ]
        failures = []
        for node, proc in procs:
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
            for node, device, direction in loss_placement(loss, list(self.nodes)):
                self._nft(node, loss_script(direction, device, loss.pct))
        if cond.silent_tail is not None:
            self._nft(cond.silent_tail, silent_script(cond.silent_tail != "dst"))
        self._save_state()

    def _start_relay(self, relay: str, delayed: Mapping[int, Delay]) -> None:
        """Offloads off on the delayed links' node ends; the relay process started and ready."""
        run_ip((), netns=relay, batch=relay_commands(delayed))
        for netns, devices in offload_devices(self.nodes, delayed).items():
            for dev in devices:
                _tool(["ip", "netns", "exec", netns, "ethtool", "-K", dev, "tx", "off", "tso",
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
        _tool(["ip", "netns", "exec", self.nodes[node].netns, "nft", "-f", "-"], "nft",
              "nftables", script)  # fmt: skip

    def _save_state(self) -> None:
        os.makedirs(STATE_DIR, exist_ok=True)
        path = os.path.join(STATE_DIR, f"{self.name}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.conditions.to_json(), f)
        os.replace(path + ".tmp", path)

    def loss_counters(self, link: int, direction: str = "fwd") -> tuple[int, int]:
        """(dropped, passed) IP packets of link ``link`` in ``direction``: the ground truth."""
        loss = next((x for x in self.conditions.loss if x.link == link
                     and direction in x.directions), None)  # fmt: skip
        if loss is None:
            raise UsageError(f"link {link} has no loss {direction}")
        node, _dev, _d = next(p for p in loss_placement(loss, list(self.nodes))
                              if p[2] == direction)  # fmt: skip
        argv = ["ip", "netns", "exec", self.nodes[node].netns, "nft", "-j", "list", "counters",
                "table", "netdev", f"{LOSS_TABLE}_{direction}"]  # fmt: skip
        found = json.loads(_tool(argv, "nft", "nftables"))
        counts = {c["counter"]["name"]: c["counter"]["packets"]
                  for c in found["nftables"] if "counter" in c}  # fmt: skip
        return counts["dropped"], counts["passed"]

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
            _stop_netns_processes(relay)
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
        return cls(name, plan(name, routers, silent, mtu), silent, mtu, cls.conditions_of(name))

    @staticmethod
    def conditions_of(name: str) -> Conditions:
        """The conditions ``Lab.up`` built lab ``name`` with (none known: the defaults)."""
        try:
            with open(os.path.join(STATE_DIR, f"{name}.json")) as f:
                return Conditions.from_json(json.load(f))
        except (OSError, ValueError, TypeError, AssertionError):
            return Conditions()


def _tool(argv: list[str], tool: str, package: str, stdin: str | None = None) -> str:
    """Run a helper command; LabError naming it (and the package that has it) on failure."""
    import shutil

    if shutil.which(tool) is None:
        raise LabError(f"{tool} not found: install {package}")
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise LabError(f"{argv[0]} not found: install {package}") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{' '.join(argv)}: timed out after 30 s") from None
    if proc.returncode != 0:
        err = " ".join(proc.stderr.split()) or f"exit status {proc.returncode}"
        raise LabError(f"{' '.join(argv)}: {err}")
    return proc.stdout


def _stop_netns_processes(netns: str) -> None:
    """SIGTERM every process of ``netns`` (the relay), SIGKILL what is left after 2 s."""
    try:
        out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                             timeout=10).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return
    pids = [int(p) for p in out.split() if p.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 2.0
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists(f"/proc/{p}")]
            time.sleep(0.01)
        if not pids:
            return


_PIPES: dict[str, Any] = {
    "stdin": subprocess.PIPE,
    "stdout": subprocess.PIPE,
    "stderr": subprocess.PIPE,
    "text": True,
}
