"""trace: the path to a host, traceroute(8) style, and mtr's rounds over it.

- ``cli``: the ``netdiag traceroute`` and ``netdiag mtr`` arguments and output.
- ``loop``: the thin socket loop (:func:`traceroute`, ``Tracer``): send, wait, feed.
- ``core``: the pure trace session (which probe is due, which answer matches,
  when a hop is done), given the time; ``probe``: building probes and matching
  the datagrams quoted in ICMP errors.
- ``mtr``: rounds of traces; ``hopstats``: per-hop loss and latency statistics.
- ``render``: hops and mtr reports as traceroute(8)/mtr text, tables and JSON.

The public names below load their module on first use.
"""

from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.trace.loop import TraceOptions, traceroute
    from netdiag.trace.mtr import MtrOptions, MtrReport, mtr

__all__ = ["traceroute", "TraceOptions", "mtr", "MtrOptions", "MtrReport"]

__getattr__ = lazy_attributes(
    __name__,
    {
        "traceroute": "netdiag.trace.loop",
        "TraceOptions": "netdiag.trace.loop",
        "mtr": "netdiag.trace.mtr",
        "MtrOptions": "netdiag.trace.mtr",
        "MtrReport": "netdiag.trace.mtr",
    },
)
