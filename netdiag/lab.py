"""A reproducible lab of hosts and routers in network namespaces: building it,
using it, inspecting it and tearing it down.

The layout (names, addresses, routes) is the pure plan in ``netdiag.labplan``;
this module runs it. Traffic stays on 198.18.0.0/15 and 2001:db8::/32 inside
namespaces this module created; nothing touches the root namespace's
interfaces or routes. Every ``ip`` call goes through :func:`run_ip`, which
raises :class:`LabError` with the command and ip's stderr on one line.
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
from netdiag.labplan import (
    MAX_ROUTERS,
    NODE_RE,
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
    "node_netns",
    "MAX_ROUTERS",
    "SILENT_TABLE",
]

ROOT_HINT = "netdiag lab needs root (CAP_NET_ADMIN): run with sudo"
NETNS_DIR = "/run/netns"
READY_TIMEOUT = 5.0
_CLONE_NEWNET = 0x40000000
_IFA_F_TENTATIVE = 0x40  # flags column of /proc/net/if_inet6
_IFA_SCOPE_LINK = 0x20  # scope column of /proc/net/if_inet6


class LabError(NetdiagError):
    """Building, inspecting or tearing down a lab failed; says which command and why."""


# --------------------------------------------------------------------------- runners


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def run_ip(
    args: Sequence[str],
    *,
    netns: str | None = None,
    batch: Sequence[str] | None = None,
    force: bool = False,
) -> str:
    """Run ``ip [-n NETNS] ARGS`` (or ``ip -batch -`` fed ``batch``); return stdout.

    ``force`` makes a batch go on past a failing line (it still fails at the end).
    Raises LabError naming the command (and the failing batch line) with ip's stderr.
    """
    argv = ["ip"]
    if netns is not None:
        argv += ["-n", netns]
    if force:
        argv.append("-force")
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
                try:
                    _setns(original)
                except OSError as exc:  # the thread is stranded in netns: say so loudly
                    raise LabError(f"cannot return from netns {netns!r}: {exc.strerror}") from exc
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


def _not_ready(node: Node) -> list[str]:
    """What of ``node`` is not usable yet, read in this thread's netns.

    An interface is up (carrier, qdisc attached) once the kernel has given it its
    IPv6 link-local address; a global address is usable once it is not tentative.
    """
    usable: set[int] = set()
    linklocal: set[str] = set()
    with open("/proc/thread-self/net/if_inet6") as f:
        for line in f:
            hexaddr, _index, _plen, scope, flags, dev = line.split()
            if int(flags, 16) & _IFA_F_TENTATIVE:
                continue
            usable.add(int(hexaddr, 16))
            if int(scope, 16) == _IFA_SCOPE_LINK:
                linklocal.add(dev)
    pending = [f"{i.name} has no carrier" for i in node.interfaces if i.name not in linklocal]
    pending += [a for a in node.ipv6 if int(ipaddress.IPv6Address(a)) not in usable]
    return pending


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
    return sorted(e for e in entries if e.startswith(prefix) and NODE_RE.match(e[len(prefix) :]))


def node_netns(name: str, node: str) -> str:
    """The namespace of ``node`` in the running lab ``name``; LabError if there is none."""
    check_name(name)
    netns = netns_prefix(name) + node
    existing = _existing(name)
    if netns not in existing:
        if not existing:
            raise LabError(f"no lab {name!r}: run `netdiag lab up --name {name}`")
        nodes = ", ".join(ns[len(netns_prefix(name)) :] for ns in _sorted_chain(existing, name))
        raise UsageError(f"no node {node!r} in lab {name!r} (nodes: {nodes})")
    return netns


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
                _write_sysctls(sysctls(node))
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
                    _describe_failure(["ip", "-n", node.netns, "-batch", "-"], lines, err)
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
                    pending = _not_ready(node)
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
        _require_root()
        found = _existing(name)
        if found:
            try:
                run_ip((), batch=[f"netns del {ns}" for ns in found], force=True)
            except LabError:
                if _existing(name):  # else a concurrent down won the race: fine
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
