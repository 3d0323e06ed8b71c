"""multi: many targets probed at once, on one socket per family and method.

- ``core``: the pure engine (which probe is due, which reply matches, what timed
  out, fping's retries with backoff), given the time; bounded state per target.
- ``results``: the frozen :class:`HostResult` (derived numbers as properties) and the
  events the engine hands back.
- ``loop``: the thin socket loop (:func:`run_sweep`): open the sockets, send,
  wait, feed the core.

The ``fping`` command, ``netdiag.api`` and ``netdiag.aio`` stand on it.
The public names below load their module on first use.
"""

from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.multi.core import Settings, Sweep, Target
    from netdiag.multi.loop import run_sweep
    from netdiag.multi.results import HostResult

__all__ = ["Settings", "Sweep", "Target", "HostResult", "run_sweep"]

__getattr__ = lazy_attributes(
    __name__,
    {
        "Settings": "netdiag.multi.core",
        "Sweep": "netdiag.multi.core",
        "Target": "netdiag.multi.core",
        "HostResult": "netdiag.multi.results",
        "run_sweep": "netdiag.multi.loop",
    },
)
