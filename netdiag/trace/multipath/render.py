"""Output of ``traceroute --multipath``: text in the manner of scamper's ``tracelb``
(``A -> (B, C) -> D``, then per TTL each router with its aliases, loss, RTT and the
links from the previous TTL), JSON, and a Graphviz graph (one rank per TTL, links
labelled with the share of flows, NAT hops marked), rendered to SVG by ``dot``.
"""

from __future__ import annotations

import shutil
import subprocess

from netdiag.errors import NetdiagError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.trace.multipath.core import MpNode
    from netdiag.trace.multipath.loop import MultipathResult
    from netdiag.trace.multipath.mtr import MultipathMtr
    from netdiag.trace.render import Namer

__all__ = ["text", "to_json", "to_dot", "write_svg", "mtr_text", "mtr_json"]


def _aliases(result: MultipathResult) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Router address -> (its other addresses, the evidence), for merged sets."""
    return {s.addresses[0]: (s.addresses[1:], s.evidence) for s in result.aliases if s.merged}


def _algo(result: MultipathResult) -> str:
    return "MDA-Lite" if result.lite else "MDA"


def _chain(result: MultipathResult) -> str:
    name = result.routers()
    parts = []
    for h in result.discovery.hops:
        seen = list(dict.fromkeys(name[a] for a in h.addresses))
        parts.append("*" if not seen else seen[0] if len(seen) == 1 else f"({', '.join(seen)})")
    return " -> ".join(parts)


def _node_line(n: MpNode, result: MultipathResult, preds: list[str]) -> str:
    al = _aliases(result).get(n.address)
    words = [n.address]
    if al:
        kinds = dict.fromkeys(e.partition(":")[0] for e in al[1])
        words.append(f"(aliases {', '.join(al[0])}: {', '.join(kinds)})")
    words.append(f"{n.rtt_min_ms:.3f}/{n.rtt_avg_ms:.3f}/{n.rtt_max_ms:.3f} ms")
    words.append(f"loss {n.lost}/{n.sent}")
    if n.annotation:
        words.append(n.annotation)
    if n.nat:
        words.append(f"[NAT: {', '.join(n.nat)}]")
    if preds:
        words.append("<- " + ", ".join(preds))
    return "  ".join(words)


def text(result: MultipathResult) -> str:
    d = result.discovery
    name = result.routers()
    lines = [f"traceroute --multipath to {result.target} ({result.address}) from "
             f"{result.source}, {result.method}, {result.confidence:g}% confidence, "
             f"{_algo(result)}"]  # fmt: skip
    lines.append(_chain(result))
    by_addr = {n.address: n for n in d.nodes}
    for h in d.hops:
        shown = [a for a in h.addresses if name[a] == a]
        if not shown:
            lines.append(f"{h.ttl:2d}  * ({h.sent} probes)")
            continue
        for i, a in enumerate(shown):
            preds = [name[lk.src] + (f" ({lk.gap} silent)" if lk.gap else "") for lk in d.links
                     if name[lk.dst] == a and lk.ttl + lk.gap + 1 == h.ttl]  # fmt: skip
            head = f"{h.ttl:2d}  " if i == 0 else "    "
            lines.append(head + _node_line(by_addr[a], result, list(dict.fromkeys(preds))))
        if h.lost:
            lines.append(f"    * {h.lost} flow(s) unanswered")
        if h.short:
            lines.append(f"    ! {h.answered} of the {h.needed} flows the stopping rule needs "
                         f"answered: {result.confidence:g}% not reached at this TTL")  # fmt: skip
    nodes = len(set(name.values()))
    lines.append(f"{nodes} routers ({len(d.nodes)} addresses), {len(d.links)} links, "
                 f"{result.probes} probes ({d.probes} trace, {result.alias_probes} alias) "
                 f"in {result.duration_ms / 1000:.3f} s; stopped at TTL {d.stop_ttl}: "
                 f"{d.stop_reason}")  # fmt: skip
    nat = [n for n in d.nodes if n.nat]
    if nat:
        first = min(n.ttl for n in nat)
        lines.append(f"NAT: the quoted probe differs from TTL {first} on (behind a NAT)")
    elif any(n.quoted for n in d.nodes):
        lines.append("NAT: no NAT evidence (every quote matches the probe; a NAT that "
                     "restores quotes, like conntrack, would not show)")  # fmt: skip
    lines += [f"note: {x}" for x in result.notes]
    return "\n".join(lines)


def to_json(result: MultipathResult) -> dict[str, Any]:
    d = result.discovery
    name = result.routers()
    al = _aliases(result)
    return {
        "target": result.target,
        "address": result.address,
        "source": result.source,
        "family": result.family,
        "method": str(result.method),
        "algorithm": _algo(result).lower(),
        "confidence": result.confidence,
        "probes": result.probes,
        "trace_probes": d.probes,
        "alias_probes": result.alias_probes,
        "duration_ms": round(result.duration_ms, 3),
        "reached": d.reached,
        "stopped": {"ttl": d.stop_ttl, "reason": d.stop_reason},
        "nodes": [
            {
                "address": n.address,
                "router": name[n.address],
                "aliases": list(al[n.address][0]) if n.address in al else [],
                "ttl": n.ttl,
                "ttls": list(n.ttls),
                "flows": n.flows,
                "sent": n.sent,
                "lost": n.lost,
                "rtt_ms": {
                    "min": round(n.rtt_min_ms, 3),
                    "avg": round(n.rtt_avg_ms, 3),
                    "max": round(n.rtt_max_ms, 3),
                },
                "final": n.final,
                "reached": n.reached,
                "annotation": n.annotation,
                "nat": {"detected": bool(n.nat), "differences": list(n.nat), "quoted": n.quoted},
            }
            for n in d.nodes
        ],  # fmt: skip
        "links": [
            {
                "src": lk.src,
                "dst": lk.dst,
                "ttl": lk.ttl,
                "flows": lk.flows,
                "share": round(lk.share, 4),
                "gap": lk.gap,
            }
            for lk in d.links
        ],  # fmt: skip
        "routers": [
            {
                "ttl": s.ttl,
                "addresses": list(s.addresses),
                "evidence": list(s.evidence) or ["no alias evidence"],
            }
            for s in result.aliases
        ],  # fmt: skip
        "hops": [
            {
                "ttl": h.ttl,
                "addresses": list(h.addresses),
                "sent": h.sent,
                "answered": h.answered,
                "lost": h.lost,
                "needed": h.needed,
                "confidence_reached": not h.short,
            }
            for h in d.hops
        ],  # fmt: skip
        "notes": list(result.notes),
    }


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(result: MultipathResult) -> str:
    """One node per router, one rank per TTL, links labelled with their share of flows."""
    d = result.discovery
    name = result.routers()
    al = _aliases(result)
    title = (f"{result.source} to {result.address}, {_algo(result)} {result.confidence:g}%, "
             f"{d.probes} probes")  # fmt: skip
    lines = [
        "digraph multipath {",
        "  rankdir=TB;",
        "  node [shape=box, fontname=monospace];",
        f"  label={_q(title)};",
        f"  {_q('src')} [label={_q(result.source)}, shape=ellipse];",
    ]
    ranks: dict[int, list[str]] = {}
    for n in d.nodes:
        if name[n.address] != n.address:
            continue
        label = "\n".join([n.address, *al.get(n.address, ((), ()))[0]])
        attrs = [f"label={_q(label)}"]
        if n.nat:
            attrs.append('style=filled, fillcolor="#ffd27f", xlabel="NAT"')
        lines.append(f"  {_q(n.address)} [{', '.join(attrs)}];")
        ranks.setdefault(n.ttl, []).append(n.address)
    lines.append(f"  {{ rank=same; {_q('src')}; }}")
    for t in sorted(ranks):
        lines.append(f"  {{ rank=same; {' '.join(_q(a) + ';' for a in ranks[t])} }}")
    edges: dict[tuple[str, str], float] = {}
    for lk in d.links:
        a, b = name[lk.src], name[lk.dst]
        if a != b:
            edges[(a, b)] = edges.get((a, b), 0.0) + lk.share
    first = d.hops[0].addresses if d.hops else ()
    for a in dict.fromkeys(name[x] for x in first):
        lines.append(f"  {_q('src')} -> {_q(a)};")
    for (a, b), share in edges.items():
        lines.append(f"  {_q(a)} -> {_q(b)} [label={_q(f'{min(share, 1.0):.0%}')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_svg(dot_text: str, path: str) -> None:
    """``dot -Tsvg``; no ``dot`` on PATH or a failing one: NetdiagError (exit 2)."""
    exe = shutil.which("dot")
    if exe is None:
        raise NetdiagError("--svg: Graphviz `dot` not found (install graphviz); "
                           "the DOT graph was still written")  # fmt: skip
    proc = subprocess.run([exe, "-Tsvg", "-o", path], input=dot_text, text=True,
                          capture_output=True, timeout=60)  # fmt: skip
    if proc.returncode != 0:
        raise NetdiagError(f"--svg {path}: dot failed: {proc.stderr.strip().splitlines()[:1]}")


# ----------------------------------------------------------------- mtr --multipath

_BRANCH_LEGEND = ("End%: what the flows through it lose at their end; a branch whose flows "
                  "lose significantly more than its siblings' (99.9%) is named below")  # fmt: skip


def mtr_text(m: MultipathMtr, hostname: str, name_of: Namer | None = None) -> str:
    """mtr's report, one row per address at each TTL (``Flows``: the chosen flows that
    cross it, ``From``: the addresses before it on those flows); the legends; then
    the verdict on the branches."""
    from netdiag.render.table import plain_table
    from netdiag.trace.multipath.rounds import MIN_END
    from netdiag.trace.render import MTR_LEGEND, _label, _ms

    r, t = m.report, m.trace
    rows = []
    last = None
    for b in r.rows:
        where = "???" if b.address is None else _label(b.address, name_of)
        rows.append([f"{b.ttl}." if b.ttl != last else "", "|-- " + where, b.flows,
                     f"{b.loss_pct:.1f}%", f"{b.unanswered_pct:.1f}%", f"{b.end_loss_pct:.1f}%",
                     "RL" if b.rate_limited else "-", b.sent, _ms(b.last_ms), _ms(b.avg_ms),
                     _ms(b.best_ms), _ms(b.worst_ms), _ms(b.stdev_ms),
                     ", ".join(b.preds)])  # fmt: skip
        last = b.ttl
    heads = ["", f"HOST: {hostname}", "Flows", "Loss%", "Unans%", "End%", "RL", "Snt", "Last",
             "Avg", "Best", "Wrst", "StDev", "From"]  # fmt: skip
    lines = [f"mtr --multipath to {t.target} ({t.address}): {len(r.flows)} flows over "
             f"{len(t.discovery.links)} links found by "
             f"{_algo(t)} at {t.confidence:g}% ({t.probes} probes), {r.rounds} rounds"]  # fmt: skip
    lines.append(plain_table(rows, heads, colalign=("right", "left") + ("right",) * 11 +
                             ("left",)))  # fmt: skip
    lines += [MTR_LEGEND, _BRANCH_LEGEND]
    for f in r.faults:
        where = (f"after it (it answers; loss from TTL {f.starts[0]}, {f.starts[1]})"
                 if f.after and f.starts else "after it" if f.after
                 else "at it")  # fmt: skip
        lines.append(f"branch loss: the flows through {f.address} (TTL {f.ttl}) lose "
                     f"{f.loss_pct:.1f}%, its siblings' {f.siblings_pct:.1f}% (z = {f.z:.1f}); "
                     f"the loss is {where}")  # fmt: skip
    if r.thin:
        lines.append(f"branches: too few probes at the flows' ends to compare some branches "
                     f"(fewer than {MIN_END} a side; -U: the destination's ICMP limit paces "
                     "them, -T and -I answers are not limited)")  # fmt: skip
    elif not r.faults:
        lines.append("branches: no branch loses more than its siblings" if r.branched
                     else "branches: one path, nothing to compare")  # fmt: skip
    if r.moved:
        lines.append(f"note: {r.moved} answers came from another address than the flow met "
                     "there before (a route change or a rehash)")  # fmt: skip
    if not r.flows:
        lines.append("no flow was answered: nothing to watch")
    lines += [f"note: {x}" for x in t.notes]
    return "\n".join(lines)


def mtr_json(m: MultipathMtr) -> dict[str, Any]:
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v, 3)

    r = m.report
    return {
        "trace": to_json(m.trace),
        "rounds": r.rounds,
        "interval_s": m.interval,
        "flows": list(r.flows),
        "branches": [
            {
                "ttl": b.ttl,
                "address": b.address,
                "flows": b.flows,
                "sent": b.sent,
                "received": b.received,
                "loss_pct": round(b.loss_pct, 1),
                "unanswered_pct": round(b.unanswered_pct, 1),
                "end_loss_pct": round(b.end_loss_pct, 1),
                "rate_limited": b.rate_limited,
                "last_ms": ms(b.last_ms),
                "avg_ms": ms(b.avg_ms),
                "best_ms": ms(b.best_ms),
                "worst_ms": ms(b.worst_ms),
                "stdev_ms": ms(b.stdev_ms),
                "jitter_ms": ms(b.jitter_ms),
                "from": list(b.preds),
            }
            for b in r.rows
        ],  # fmt: skip
        "faults": [
            {
                "ttl": f.ttl,
                "address": f.address,
                "loss_pct": round(f.loss_pct, 1),
                "siblings_loss_pct": round(f.siblings_pct, 1),
                "z": round(f.z, 2),
                "starts": {"ttl": f.starts[0], "address": f.starts[1]} if f.starts else None,
                "after": f.after,
            }
            for f in r.faults
        ],  # fmt: skip
        "moved": r.moved,
        "thin": r.thin,
        "interrupted": m.interrupted,
    }
