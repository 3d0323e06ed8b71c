"""The MDA stopping rule (Veitch, Augustin, Friedman, Teixeira, "Failure Control in
Multipath Route Tracing", INFOCOM 2009): pure arithmetic.

A vertex has ``k`` next hops found so far. If it had ``k + 1``, each taken by a
flow with probability ``1 / (k + 1)`` (per-flow hashing, uniform), ``n`` flows all
missing one given next hop has probability ``(k / (k + 1)) ** n``; by the union
bound over which of the ``k + 1`` is missed, the chance of seeing only ``k`` is at
most ``(k + 1) * (k / (k + 1)) ** n``. ``n_k`` is the least ``n`` that makes that at
most ``alpha = 1 - confidence``:

    n_k = ceil( ln(alpha / (k + 1)) / ln(k / (k + 1)) )

which gives 6, 11, 16, 21, 27 at 95% and 8, 15, 21, 28, 36 at 99% (scamper's
``tracelb`` table, shared/notes/peers.md).
"""

from __future__ import annotations

import math

__all__ = ["probes_needed", "stopping_table"]


def probes_needed(k: int, confidence: float) -> int:
    """Probes (flows) through a vertex, ``k`` next hops found, to rule out a ``k+1``-th
    at ``confidence`` percent (0 < confidence < 100). ``k < 1`` counts as 1."""
    if not 0 < confidence < 100:
        raise ValueError(f"confidence {confidence}: use a percentage between 0 and 100")
    k = max(1, k)
    alpha = 1 - confidence / 100
    n = math.log(alpha / (k + 1)) / math.log(k / (k + 1))
    return math.ceil(n - 1e-9)


def stopping_table(confidence: float, count: int = 5) -> tuple[int, ...]:
    """``n_1 .. n_count``: probes to rule out a 2nd .. (count+1)-th next hop."""
    return tuple(probes_needed(k, confidence) for k in range(1, count + 1))
