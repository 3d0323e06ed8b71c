"""fping 5.1's output shapes, from the engine's events and per-target state: pure text.

Every function returns the line (without the newline); the command decides where it
goes (fping: replies and alive/unreachable on stdout, summaries and ICMP errors on
stderr). Names are padded to the longest (``width``).
"""

from __future__ import annotations

from netdiag.multi.core import TargetState
from netdiag.multi.results import Duplicate, HostResult, Reply, Timeout

__all__ = ["fmt_ms", "reply_line", "timeout_line", "alive_line", "summary_line",
           "all_rtts_line", "duplicate_line", "stats_block", "Splits"]  # fmt: skip


def fmt_ms(ms: float) -> str:
    """fping's sprint_tm: 3 significant decimals below 1 ms, fewer above."""
    if ms < 0:
        return f"{ms:.2g}"
    if ms < 1.0:
        return f"{ms:.3f}"
    if ms < 10.0:
        return f"{ms:.2f}"
    if ms < 100.0:
        return f"{ms:.1f}"
    if ms < 1_000_000.0:
        return f"{ms:.0f}"
    return f"{ms:.3e}"


def _stamp(wall_ns: int | None) -> str:
    return "" if wall_ns is None else f"[{wall_ns / 1e9:.5f}] "


def _tail(state: TargetState) -> str:
    avg = state.avg_ms
    avg_text = "NaN" if avg is None else fmt_ms(avg)
    return f" ({avg_text} avg, {state.loss_pct}% loss)"


def reply_line(name: str, width: int, ev: Reply, state: TargetState,
               wall_ns: int | None = None) -> str:  # fmt: skip
    """``198.18.1.1 : [0], 64 bytes, 0.043 ms (0.043 avg, 0% loss)``."""
    return (f"{_stamp(wall_ns)}{name:<{width}} : [{ev.probe}], {ev.size} bytes, "
            f"{fmt_ms(ev.rtt_ms)} ms{_tail(state)}")  # fmt: skip


def timeout_line(name: str, width: int, ev: Timeout, state: TargetState,
                 wall_ns: int | None = None) -> str:  # fmt: skip
    """``198.18.1.3 : [0], timed out (NaN avg, 100% loss)``."""
    return f"{_stamp(wall_ns)}{name:<{width}} : [{ev.probe}], timed out{_tail(state)}"


def alive_line(name: str, verbose: bool, rtt_ms: float | None) -> str:
    """``NAME is alive`` (verbose), ``NAME`` (-a); ``-e`` adds `` (0.041 ms)``."""
    line = name + (" is alive" if verbose else "")
    if rtt_ms is not None:
        line += f" ({fmt_ms(rtt_ms)} ms)"
    return line


def duplicate_line(name: str, ev: Duplicate) -> str:
    return f"{name} : duplicate for [{ev.probe}], {ev.size} bytes, {fmt_ms(ev.rtt_ms)} ms"


def summary_line(name: str, width: int, r: HostResult) -> str:
    """``-c``: ``NAME : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.043/0.049/0.058``."""
    if r.received <= r.transmitted:
        line = f"{name:<{width}} : xmt/rcv/%loss = {r.transmitted}/{r.received}/{r.loss_pct}%"
    else:
        pct = r.received * 100 // r.transmitted
        line = f"{name:<{width}} : xmt/rcv/%return = {r.transmitted}/{r.received}/{pct}%"
    if r.received:
        line += (f", min/avg/max = {fmt_ms(r.min_rtt)}/{fmt_ms(r.avg_rtt)}/"
                 f"{fmt_ms(r.max_rtt)}")  # fmt: skip
    return line


def all_rtts_line(name: str, width: int, r: HostResult) -> str:
    """``-C``: ``NAME : 0.030 0.048 -`` (``-`` for a probe without reply)."""
    cells = ["-" if x is None else fmt_ms(x) for x in r.rtts]
    return f"{name:<{width}} :" + "".join(f" {c}" for c in cells)


def stats_block(results: list[HostResult], unknown: int, timeouts: int, sent: int,
                received: int, other_icmp: int, elapsed_s: float) -> list[str]:  # fmt: skip
    """``-s``: fping's global statistics block (the lines between blank ones)."""
    alive = sum(1 for r in results if r.received)
    replies = sum(r.received for r in results)
    if replies:
        lo = min(r.min_rtt for r in results if r.received)
        hi = max(r.max_rtt for r in results if r.received)
        avg = sum(r.sum_rtt for r in results) / replies
    else:
        lo = hi = avg = 0.0
    return [
        "",
        f" {len(results):7d} targets",
        f" {alive:7d} alive",
        f" {len(results) - alive:7d} unreachable",
        f" {unknown:7d} unknown addresses",
        "",
        f" {timeouts:7d} timeouts (waiting for response)",
        f" {sent:7d} ICMP Echos sent",
        f" {received:7d} ICMP Echo Replies received",
        f" {other_icmp:7d} other ICMP received",
        "",
        f" {fmt_ms(lo)} ms (min round trip time)",
        f" {fmt_ms(avg)} ms (avg round trip time)",
        f" {fmt_ms(hi)} ms (max round trip time)",
        f" {elapsed_s:12.3f} sec (elapsed real time)",
        "",
    ]


class Splits:
    """``-Q S``: what each target did since the last report (fping's ``_i`` counters)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.reset()

    def reset(self) -> None:
        self.sent = [0] * self.n
        self.recv = [0] * self.n
        self.lo = [0.0] * self.n
        self.hi = [0.0] * self.n
        self.total = [0.0] * self.n

    def add(self, target: int, rtt_ms: float | None) -> None:
        self.sent[target] += 1
        if rtt_ms is None:
            return
        if not self.recv[target] or rtt_ms < self.lo[target]:
            self.lo[target] = rtt_ms
        self.hi[target] = max(self.hi[target], rtt_ms)
        self.total[target] += rtt_ms
        self.recv[target] += 1

    def lines(self, names: list[str], width: int, clock: str) -> list[str]:
        """``[HH:MM:SS]`` then one line per target; resets the counters."""
        out = [f"[{clock}]"]
        for i, name in enumerate(names):
            sent, recv = self.sent[i], self.recv[i]
            pct = (sent - recv) * 100 // sent if sent else 0
            line = f"{name:<{width}} : xmt/rcv/%loss = {sent}/{recv}/{pct}%"
            if recv:
                line += (f", min/avg/max = {fmt_ms(self.lo[i])}/{fmt_ms(self.total[i] / recv)}/"
                         f"{fmt_ms(self.hi[i])}")  # fmt: skip
            out.append(line)
        self.reset()
        return out
