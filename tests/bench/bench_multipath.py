"""traceroute --multipath against scamper tracelb and dublin-traceroute (issue 13's table).

Each scenario builds its own lab (removed at the end; needs root); a rate-limited
scenario builds one lab per tool, so each starts with full ICMP token buckets.
netdiag runs as the in-process API call (MDA-Lite); scamper and dublin-traceroute
as processes in src. Probes: netdiag's trace probes (alias resolution's are shown
apart), scamper's ``probec``, dublin-traceroute's npaths x max TTL. "links": the
link sets are compared with each other and with the lab's ground truth.
Goals (issue 13): width 4 at hop 2, rate limits off, 95%: same links, probes <=
0.7x, wall <= 0.5x; with default rate limits: wall <= 0.3x; two diamonds in
series: probes <= 0.7x; vs dublin-traceroute: all branches, probes <= 0.2x, wall
<= 0.3x.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netdiag.lab.lab import Lab
from netdiag.lab.netns import in_netns
from netdiag.trace.loop import TraceOptions
from netdiag.trace.multipath.loop import multipath

_count = itertools.count(1)


def _lab(**options) -> Lab:
    name = f"bm{os.getpid()}x{next(_count)}"
    Lab.down_name(name)
    return Lab.up(name, **options)


def _ours(lab: Lab, confidence: int = 95):
    gt = lab.ground_truth(4)
    opt = TraceOptions(max_ttl=12, wait=(2.0, 0.0, 0.0))
    start = time.monotonic()
    with in_netns(lab.src.netns):
        r = multipath(gt.destination, opt, confidence)
    return r, {(lk.src, lk.dst) for lk in r.discovery.links}, time.monotonic() - start


def _scamper(lab: Lab, confidence: int = 95):
    dst = lab.ground_truth(4).destination
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "lb.warts")
        start = time.monotonic()
        lab.exec("src", ["scamper", "-O", "warts", "-o", out, "-c", f"tracelb -c {confidence}",
                         "-i", dst], check=True, capture_output=True, timeout=300)  # fmt: skip
        wall = time.monotonic() - start
        text = subprocess.run(["sc_warts2json", out], check=True, capture_output=True,
                              text=True).stdout  # fmt: skip
    lb = next(j for j in map(json.loads, text.splitlines()) if j.get("type") == "tracelb")
    links = set()
    for node in lb["nodes"]:
        hops = node.get("links", [])
        if len(hops) > 1:  # a "clump": branches scamper could not tell apart
            addrs = [node["addr"], *("(" + ", ".join(x["addr"] for x in h) + ")" for h in hops)]
            print(f"  (scamper clumped: {' -> '.join(addrs)})")
        for hop in hops[:1]:
            links.update((node["addr"], far["addr"]) for far in hop)
    return lb["probec"], links, wall


def _dublin(lab: Lab):
    dst = lab.ground_truth(4).destination
    with tempfile.TemporaryDirectory() as d:
        Path(d, "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        cmd = f"mount --bind {d}/resolv.conf /etc/resolv.conf && cd {d} && dublin-traceroute {dst}"
        start = time.monotonic()
        lab.exec("src", ["unshare", "-m", "sh", "-c", cmd], check=True, capture_output=True,
                 timeout=300)  # fmt: skip
        wall = time.monotonic() - start
        flows = json.loads(Path(d, "trace.json").read_text())["flows"]
    seen = set()
    for hops in flows.values():
        for h in hops:
            rx = h.get("received") or {}
            addr = (rx.get("ip") or {}).get("src")
            if addr:
                seen.add(addr)
    return 20 * 30, seen, wall


def _row(title: str, ours, theirs, truth: set, goal: str) -> None:
    r, links, wall = ours
    probes, their_links, their_wall = theirs
    print(f"{title}")
    print(f"  netdiag : {r.discovery.probes:4d} probes (+{r.alias_probes:2d} alias) {wall:7.2f} s  "
          f"links {'= truth' if links == truth else 'DIFFER from truth'}")  # fmt: skip
    print(
        f"  peer    : {probes:4d} probes             {their_wall:7.2f} s  "
        f"links {'= netdiag' if their_links == links else 'differ: ' + str(their_links ^ links)}"
    )
    print(f"  ratio   : probes {r.discovery.probes / probes:.2f}x, wall {wall / their_wall:.3f}x"
          f"   (goal: {goal})")  # fmt: skip


def main() -> int:
    modes = (("join answers from its ingress interfaces", {}),
             ("join: ingress interfaces, Mercator merges them", {"error_source": ["4:mixed"]}),
             ("join answers from one address", {"error_source": ["4:route"]}))  # fmt: skip
    for mode, extra in modes:
        lab = _lab(routers=4, ecmp=["2:4"], icmp_ratelimit="off", **extra)
        try:
            truth = {(a, b) for _t, a, b in lab.ground_truth(4).address_links}
            _row(
                f"diamond width 4 at hop 2 ({mode}), rate limits off, 95%, vs scamper tracelb",
                _ours(lab),
                _scamper(lab),
                truth,
                "same links, probes <= 0.7x, wall <= 0.5x",
            )
        finally:
            lab.down()
        sys.stdout.flush()
    for mode, extra in (("ingress interfaces", {}), ("one address", {"error_source": ["4:route"]})):
        labs = [_lab(routers=4, ecmp=["2:4"], icmp_ratelimit="default", **extra) for _ in "ab"]
        try:
            truth = {(a, b) for _t, a, b in labs[0].ground_truth(4).address_links}
            _row(
                f"the same ({mode}) with the kernel's default ICMP rate limits",
                _ours(labs[0]),
                _scamper(labs[1]),
                truth,
                "same links, wall <= 0.3x",
            )
        finally:
            for lab in labs:
                lab.down()
        sys.stdout.flush()
    lab = _lab(routers=5, ecmp=["1:2", "3:3"], icmp_ratelimit="off")
    try:
        truth = {(a, b) for _t, a, b in lab.ground_truth(4).address_links}
        _row("two diamonds in series (width 2, then 3), 95%, vs scamper tracelb", _ours(lab),
             _scamper(lab), truth, "same links, probes <= 0.7x")  # fmt: skip
    finally:
        lab.down()
    lab = _lab(routers=4, ecmp=["2:4"], icmp_ratelimit="off")
    try:
        gt = lab.ground_truth(4)
        truth = {(a, b) for _t, a, b in gt.address_links}
        ours = _ours(lab)
        probes, seen, wall = _dublin(lab)
        branches = set(gt.hops[2].addresses)
        r = ours[0]
        print("diamond width 4 at hop 2 vs dublin-traceroute defaults (20 flows, max TTL 30)")
        print(f"  netdiag : {r.discovery.probes:4d} probes {ours[2]:7.2f} s  links "
              f"{'= truth' if ours[1] == truth else 'DIFFER'}")  # fmt: skip
        print(f"  dublin  : {probes:4d} probes {wall:7.2f} s  branches seen "
              f"{len(branches & seen)}/{len(branches)}")  # fmt: skip
        print(
            f"  ratio   : probes {r.discovery.probes / probes:.2f}x, wall {ours[2] / wall:.3f}x"
            "   (goal: all branches, probes <= 0.2x, wall <= 0.3x)"
        )
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
