"""Network-namespace plumbing for the lab: running ``ip``, moving a thread into a
namespace, writing its sysctls, reading whether its links and addresses are
usable yet, and finding which namespaces in /run/netns belong to a lab.

Nothing here knows how a lab is laid out (that is ``netdiag.lab.plan``) or how
it is built and torn down (``netdiag.lab.lab``); these are the syscalls and
subprocesses both of those stand on. Every ``ip`` call goes through
:func:`run_ip`, which raises :class:`LabError` with the command and ip's stderr
on one line.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence

from netdiag.errors import NetdiagError, PrivilegeError, UsageError
from netdiag.lab.plan import NODE_RE, Node, check_name, netns_prefix

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "LabError",
    "run_ip",
    "describe_failure",
    "in_netns",
    "write_sysctls",
    "not_ready",
    "require_root",
    "lab_namespaces",
    "sorted_chain",
    "node_netns",
    "run_tool",
    "stop_netns_processes",
    "ifname_key",
    "ROOT_HINT",
    "NETNS_DIR",
]

ROOT_HINT = "netdiag lab needs root (CAP_NET_ADMIN): run with sudo"
NETNS_DIR = "/run/netns"
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
        raise LabError(describe_failure(argv, batch, proc.stderr))
    return proc.stdout


def describe_failure(argv: Sequence[str], batch: Sequence[str] | None, stderr: str) -> str:
    """``argv`` (with the failing ``batch`` line, if ip named one) and ip's stderr, one line."""
    cmd = " ".join(argv)
    if batch is not None:
        m = re.search(r"Command failed -:(\d+)", stderr)
        if m and 0 < int(m.group(1)) <= len(batch):
            cmd = f"{cmd} <<< {batch[int(m.group(1)) - 1]!r}"
    return f"{cmd}: {_one_line(stderr) or 'failed'}"


# --------------------------------------------------------------------------- inside a namespace

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


def write_sysctls(values: Mapping[str, str]) -> None:
    """Write ``/proc/sys/KEY`` = value for each item, in this thread's netns."""
    for key, value in values.items():
        try:
            with open(f"/proc/sys/{key}", "w") as f:
                f.write(value)
        except OSError as exc:
            raise LabError(f"sysctl {key.replace('/', '.')}={value}: {exc.strerror}") from None


def not_ready(node: Node) -> list[str]:
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


# --------------------------------------------------------------------------- a lab's namespaces


def require_root() -> None:
    """PrivilegeError with the fix unless running as root."""
    if os.geteuid() != 0:
        raise PrivilegeError(ROOT_HINT)


def lab_namespaces(name: str) -> list[str]:
    """Namespaces in /run/netns that belong to lab ``name``, sorted."""
    prefix = netns_prefix(name)
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(prefix) and NODE_RE.match(e[len(prefix) :]))


def sorted_chain(namespaces: Sequence[str], name: str) -> list[str]:
    """Namespaces in chain order: src, r1, r2, ..., dst (branch routers by position,
    branch letter, then place in the branch: r2, r3a, r3a2, r3b, r4)."""

    def key(netns: str) -> tuple[int, int, str, int]:
        node = netns[len(netns_prefix(name)) :]
        if node in ("src", "dst"):
            return (0 if node == "src" else 2, 0, "", 0)
        m = re.fullmatch(r"r([0-9]+)([a-z]?)([0-9]*)", node)
        if m is None:
            return (1, 1 << 30, node, 0)
        return (1, int(m.group(1)), m.group(2), int(m.group(3) or 1))

    return sorted(namespaces, key=key)


def node_netns(name: str, node: str) -> str:
    """The namespace of ``node`` in the running lab ``name``; LabError if there is none."""
    check_name(name)
    netns = netns_prefix(name) + node
    existing = lab_namespaces(name)
    if netns not in existing:
        if not existing:
            raise LabError(f"no lab {name!r}: run `netdiag lab up --name {name}`")
        nodes = ", ".join(ns[len(netns_prefix(name)) :] for ns in sorted_chain(existing, name))
        raise UsageError(f"no node {node!r} in lab {name!r} (nodes: {nodes})")
    return netns


# --------------------------------------------------------------------------- helpers


def ifname_key(name: str) -> tuple[str, int]:
    """eth2 before eth10."""
    stem = name.rstrip("0123456789")
    return stem, int(name[len(stem) :] or -1)


def run_tool(argv: list[str], tool: str, package: str, stdin: str | None = None) -> str:
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


def stop_netns_processes(netns: str) -> None:
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
            pids = [p for p in pids if _alive(p)]
            time.sleep(0.01)
        if not pids:
            return


def _alive(pid: int) -> bool:
    """The process runs (a zombie, whose parent has not reaped it yet, has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False
