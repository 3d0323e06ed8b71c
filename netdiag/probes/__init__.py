"""Active probes: they own sockets and clocks; their decisions live in pure cores."""

from netdiag.probes.ping import PingOptions, ping
from netdiag.probes.pingcore import PingError, PingReply, PingResult, PingSession

__all__ = ["ping", "PingOptions", "PingResult", "PingReply", "PingError", "PingSession"]
