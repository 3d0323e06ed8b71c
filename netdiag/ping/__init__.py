"""ping: ICMP echo, TCP SYN and UDP probes to one host, iputils style.

- ``cli``: the ``netdiag ping`` arguments, and the events printed as iputils does.
- ``run``: :func:`ping` opens and configures the socket and runs the loop.
- ``loop``: the thin ICMP socket loop (send, wait, feed the core); ``portloop``
  the same scheduling with TCP SYN and UDP probes.
- ``core`` and ``portcore``: the pure matching and counting, given the time.
- ``events``: the frozen result and event objects; ``options``: ``PingOptions``
  and the socket set-up they ask for; ``sock``: socket plumbing both loops share.
- ``render``: events and results as iputils' lines and as JSON.

The public names below load their module on first use.
"""

import sys as _sys
from types import ModuleType as _ModuleType

from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.ping.core import PingSession
    from netdiag.ping.events import PingError, PingReply, PingResult, PortReply
    from netdiag.ping.options import PingOptions
    from netdiag.ping.portcore import PortSession
    from netdiag.ping.run import ping

__all__ = [
    "ping",
    "PingOptions",
    "PingResult",
    "PingReply",
    "PingError",
    "PingSession",
    "PortReply",
    "PortSession",
]

__getattr__ = lazy_attributes(
    __name__,
    {
        "ping": "netdiag.ping.run",
        "PingOptions": "netdiag.ping.options",
        "PingResult": "netdiag.ping.events",
        "PingReply": "netdiag.ping.events",
        "PingError": "netdiag.ping.events",
        "PingSession": "netdiag.ping.core",
        "PortReply": "netdiag.ping.events",
        "PortSession": "netdiag.ping.portcore",
    },
)


# ``netdiag.ping(host, ...)`` is the Python API's ping (netdiag/api.py), and this package
# is ``netdiag.ping`` too: importing it binds the package to that name on ``netdiag``.
# So the package is callable, and calling it is the API's ping.
class _CallablePackage(_ModuleType):
    def __call__(self, *args: "Any", **kwargs: "Any") -> "Any":
        from netdiag.api import ping as api_ping

        return api_ping(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
