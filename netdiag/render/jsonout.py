"""Result objects as compact JSON, the same way for every job.

Values are made JSON-safe: bytes become hex text, tuples lists, sets sorted
lists, other objects with ``fields()`` their fields, anything else its ``str``.
Non-finite floats are refused (``allow_nan=False``), so every line is strict
JSON.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["to_json", "jsonable"]


def _default(o: Any) -> Any:
    if isinstance(o, bytes | bytearray | memoryview):
        return bytes(o).hex()
    if isinstance(o, set | frozenset):
        return sorted(o, key=str)
    fields = getattr(o, "fields", None)
    if callable(fields):
        return fields()
    return str(o)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_default)


def jsonable(o: Any) -> Any:
    """``o`` with bytes, tuples and objects turned into plain JSON values."""
    return json.loads(_ENCODER.encode(o))


def to_json(o: Any) -> str:
    return _ENCODER.encode(o)
