"""``netdiag traceroute --multipath``: every load-balanced path, MDA and MDA-Lite.

- :mod:`.stopping`: the stopping rule (Veitch et al. 2009), derived from its formula.
- :mod:`.core`: the pure session (MDA-Lite with fallback to MDA), fed answers and ``now``.
- :mod:`.nat`: NAT evidence from quoted datagrams. :mod:`.alias`: Mercator and IP-ID.
- :mod:`.loop`: the raw-socket loop. :mod:`.render`: text, JSON, DOT, SVG. :mod:`.cli`.
"""

__all__ = ["multipath", "MultipathResult"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from netdiag.trace.multipath import loop

        return getattr(loop, name)
    raise AttributeError(name)
