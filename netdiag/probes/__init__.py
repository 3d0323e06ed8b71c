"""Active probes: they own sockets and clocks; their decisions live in pure cores.

``netdiag.probes.ping`` is the module (ICMP ping's socket loop); the function is
exported here as ``ping_host`` so that the module's name is never shadowed
(``import netdiag.probes.ping`` and ``monkeypatch.setattr("netdiag.probes.ping.x")``
both reach the module).
"""

from netdiag.probes.ping import ping as ping_host
from netdiag.probes.pingcore import PingSession
from netdiag.probes.pingevents import PingError, PingReply, PingResult
from netdiag.probes.pingoptions import PingOptions
from netdiag.probes.portcore import PortReply, PortSession

__all__ = [
    "ping_host",
    "PingOptions",
    "PingResult",
    "PingReply",
    "PingError",
    "PingSession",
    "PortReply",
    "PortSession",
]
