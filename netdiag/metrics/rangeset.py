"""A set of integers kept as sorted, disjoint half-open ranges ``[lo, hi)``.

The habit comes from aioquic's ``rangeset.py`` and iputils' duplicate bitmap:
what arrived is tracked by the runs it forms, not by a list that grows with
every packet. A stream with no loss is one range however long it is; each loss
or reordering event adds at most one range. Adding the next number after the
last range (the in-order case) costs one comparison and one store.

Numbers are Python ints, so 64-bit sequence spaces (and beyond) need no care.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

__all__ = ["RangeSet"]


class RangeSet:
    __slots__ = ("_lo", "_hi", "members")

    def __init__(self) -> None:
        self._lo: list[int] = []
        self._hi: list[int] = []
        self.members = 0  # how many numbers the set holds

    def add(self, x: int) -> bool:
        """Add ``x``; True if it was not there yet (False: a duplicate)."""
        lo, hi = self._lo, self._hi
        if hi and x == hi[-1]:  # in order: extend the last range
            hi[-1] = x + 1
            self.members += 1
            return True
        if not hi or x > hi[-1]:
            lo.append(x)
            hi.append(x + 1)
            self.members += 1
            return True
        i = bisect_right(lo, x) - 1  # the range starting at or before x
        if i >= 0 and x < hi[i]:
            return False
        join_left = i >= 0 and hi[i] == x
        join_right = i + 1 < len(lo) and lo[i + 1] == x + 1
        if join_left and join_right:
            hi[i] = hi[i + 1]
            del lo[i + 1], hi[i + 1]
        elif join_left:
            hi[i] = x + 1
        elif join_right:
            lo[i + 1] = x
        else:
            lo.insert(i + 1, x)
            hi.insert(i + 1, x + 1)
        self.members += 1
        return True

    def __contains__(self, x: object) -> bool:
        if not isinstance(x, int):
            return False
        i = bisect_right(self._lo, x) - 1
        return i >= 0 and x < self._hi[i]

    def __len__(self) -> int:
        """The number of ranges (not of members: see ``members``)."""
        return len(self._lo)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._lo, self._hi, strict=True)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"

    @property
    def first(self) -> int | None:
        return self._lo[0] if self._lo else None

    def pop_first(self) -> tuple[int, int]:
        """Remove and return the lowest range (used to bound memory)."""
        lo, hi = self._lo.pop(0), self._hi.pop(0)
        self.members -= hi - lo
        return lo, hi

    def gaps(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """The missing runs ``[lo, hi)`` within ``[start, end)``, in order."""
        at = start
        for lo, hi in zip(self._lo, self._hi, strict=True):
            if hi <= at:
                continue
            if lo >= end:
                break
            if lo > at:
                yield at, lo
            at = hi
        if at < end:
            yield at, end
