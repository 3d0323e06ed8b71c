"""The layout's rules, read off the source (ARCHITECTURE.md, "One package per job").

Every ``import`` and ``from ... import`` in ``netdiag/`` is collected, also those
inside functions (the lazy ones), and the graph between files is checked:

- no import cycles between files;
- the shared layers import no job package;
- ``packets/`` and ``netlink/`` (sans-IO) import nothing of netdiag but ``errors``,
  the pure helpers ``records`` and ``lazy``, and themselves;
- no job imports another job's ``_private`` names;
- ``cli.py`` imports no job by name: it maps command names to modules.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "netdiag"
JOBS = {"ping", "trace", "udptest", "sockets", "lab", "inspect", "tcpanalysis", "multi",
        "fping", "api", "aio", "exporter"}  # fmt: skip
SHARED = {"packets", "netlink", "capture", "metrics", "render", "probing", "errors", "argtypes",
          "lazy", "records"}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = all_modules()


@functools.cache
def imports_of(name: str) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import statement in ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [a.name for a in node.names]
            # "from netdiag.ping import render" imports the module netdiag.ping.render
            sub = [n for n in names if f"{base}.{n}" in MODULES]
            out.extend((f"{base}.{n}", []) for n in sub)
            rest = [n for n in names if n not in sub]
            if rest:
                out.append((base, rest))
    return [(m, ns) for m, ns in out if m == "netdiag" or m.startswith("netdiag.")]


@functools.cache
def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        targets = set()
        for mod, _names in imports_of(name):
            while mod not in MODULES and "." in mod:  # netdiag.x.attr -> netdiag.x
                mod = mod.rsplit(".", 1)[0]
            if mod != name:
                targets.add(mod)
        graph[name] = targets
    return graph


def area(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_walker_sees_the_imports_it_should():
    """A check that could not fail would prove nothing: the walker must see the real
    imports of a known module, lazy ones included."""
    graph = edges()
    assert "netdiag.ping.loop" in graph["netdiag.ping.run"]
    assert "netdiag.ping.portloop" in graph["netdiag.ping.run"]  # imported inside ping()
    assert "netdiag.errors" in graph["netdiag.packets.ipv4"]
    assert len(MODULES) > 100


def test_no_import_cycles_between_files():
    graph = edges()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_shared_layers_import_no_job():
    bad = [(m, t) for m, ts in edges().items() if area(m) in SHARED for t in ts
           if area(t) in JOBS]  # fmt: skip
    assert bad == []


def test_the_codecs_are_sans_io():
    allowed = {"packets", "netlink", "errors", "records", "lazy"}  # the last two: pure helpers
    bad = [(m, t) for m, ts in edges().items() if area(m) in ("packets", "netlink")
           for t in ts if area(t) not in allowed and t != "netdiag"]  # fmt: skip
    assert bad == []


def test_no_job_takes_another_jobs_private_names():
    bad = []
    for name in MODULES:
        for mod, names in imports_of(name):
            if area(mod) in JOBS and area(mod) != area(name):
                bad += [(name, mod, n) for n in names if n.startswith("_")]
                if mod.rsplit(".", 1)[-1].startswith("_") and not mod.endswith("__init__"):
                    bad.append((name, mod, "<private module>"))
    assert bad == []


def test_cli_names_no_job_module_it_imports():
    assert not [t for t in edges()["netdiag.cli"] if area(t) in JOBS]


def test_every_module_belongs_to_a_job_or_a_shared_layer():
    others = {"", "cli", "demo", "__main__"}
    stray = sorted(m for m in MODULES if area(m) not in JOBS | SHARED | others)
    assert stray == []
