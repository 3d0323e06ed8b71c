"""``ping()``: resolve the target, open and configure the socket, drop privileges, run
the loop (:mod:`loop` for ICMP, :mod:`portloop` for ``--tcp``/``--udp``), return the
result.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from netdiag.errors import NetdiagError, UsageError
from netdiag.ping.core import PingSession
from netdiag.ping.events import PingResult, PingStart
from netdiag.ping.loop import Loop
from netdiag.ping.options import PingOptions, configure
from netdiag.ping.sock import open_icmp_socket
from netdiag.probing.privileges import drop_privileges, has_net_raw
from netdiag.probing.resolve import resolve

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ping", "MIN_USER_INTERVAL"]

MIN_USER_INTERVAL = 0.2


def ping(
    target: str,
    options: PingOptions | None = None,
    on_event: Callable[[Any], None] | None = None,
    *,
    give_up_privileges: bool = False,
) -> PingResult:
    """Ping ``target`` (address or name); ``on_event`` sees each PingStart, PingSent
    (flood only), PingReply, PingError, NoAnswerYet and SendFailed as it happens.
    ``options.tcp`` / ``options.udp`` send TCP SYN / UDP probes instead (portping).

    ``give_up_privileges`` (the command line sets it): once the sockets are open and
    configured, become the sudo user, or clear file capabilities (privileges.py).

    Without ``count`` and ``deadline`` it runs until Ctrl-C, which ends it like the
    other limits (the result says ``interrupted``) instead of raising.
    """
    opt = options or PingOptions()
    emit = on_event or (lambda _event: None)
    family, address = resolve(target, opt.family)
    if (opt.flood or opt.interval_s < MIN_USER_INTERVAL) and not has_net_raw():
        raise UsageError("cannot flood; minimal interval allowed for user is 200ms")
    if opt.tcp is not None or opt.udp is not None:
        from netdiag.ping.portloop import port_ping

        return port_ping(target, family, address, opt, emit, give_up_privileges)
    sock, raw = open_icmp_socket(family)
    with sock:
        try:
            ident = configure(sock, family, raw, opt)
        except OSError as exc:
            raise NetdiagError(f"setsockopt: {exc.strerror}") from None
        if give_up_privileges:
            drop_privileges()
        session = PingSession(target, address, family, ident, os.urandom(8), opt.size)
        emit(PingStart(target, address, family, opt.size))
        elapsed, interrupted = Loop(sock, raw, session, opt, emit).run()
    return session.result(elapsed, interrupted=interrupted, count=opt.count,
                          deadline=opt.deadline)  # fmt: skip
