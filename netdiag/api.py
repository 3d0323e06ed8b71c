"""netdiag's Python API, in the manner of icmplib: blocking calls that return the frozen
result objects the command line renders.

- :func:`ping` and :func:`multiping` run the many-target engine (:mod:`netdiag.multi`,
  the one behind ``netdiag fping``) and return :class:`~netdiag.multi.results.HostResult`
  (``avg_rtt``, ``packet_loss``, ``is_alive``, ``jitter`` are properties);
- :func:`traceroute` and :func:`mtr` are thin wrappers over ``netdiag.trace``'s
  ``traceroute`` and ``mtr`` (``TraceResult``, ``MtrReport``).

Privileges are chosen as the command line chooses them: raw sockets where allowed,
ICMP datagram sockets where ``net.ipv4.ping_group_range`` admits the user, else
:class:`~netdiag.errors.PrivilegeError`, whose message is the fix. A name that does
not resolve raises :class:`~netdiag.errors.UsageError`. Times are seconds here
(icmplib's units); RTTs in the results are milliseconds.

The same calls as coroutines are in :mod:`netdiag.aio`.
"""

from __future__ import annotations

from collections.abc import Iterable

from netdiag.errors import PrivilegeError
from netdiag.multi.core import Settings, Target
from netdiag.multi.loop import Probing, run_sweep
from netdiag.multi.results import HostResult
from netdiag.probing.resolve import resolve

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.trace.core import TraceResult
    from netdiag.trace.mtr import MtrReport

__all__ = ["ping", "multiping", "traceroute", "mtr", "HostResult", "MIN_USER_INTERVAL"]

MIN_USER_INTERVAL = 0.2  # seconds: iputils' floor for users without CAP_NET_RAW


def _check_interval(interval: float) -> None:
    from netdiag.probing.privileges import has_net_raw

    if interval < MIN_USER_INTERVAL and not has_net_raw():
        raise PrivilegeError(
            f"an interval of {interval} s needs root or CAP_NET_RAW (users: at least "
            f"{MIN_USER_INTERVAL} s): run as root, or `setcap cap_net_raw+ep` on the interpreter"
        )


def _probing(size: int, source: str | None, interface: str | None, tcp: int | None,
             udp: int | None) -> Probing:  # fmt: skip
    return Probing(tcp=tcp, udp=udp, size=size, source=source, interface=interface)


def multiping(
    hosts: Iterable[str],
    count: int = 2,
    interval: float = 0.5,
    timeout: float = 2.0,
    *,
    gap: float = 0.01,
    size: int = 56,
    family: int | None = None,
    source: str | None = None,
    interface: str | None = None,
    tcp: int | None = None,
    udp: int | None = None,
) -> list[HostResult]:
    """Probe every host ``count`` times, ``interval`` s apart per host and at least
    ``gap`` s apart overall (fping's ``-p`` and ``-i``); each probe waits ``timeout`` s.
    Results come in the order of ``hosts``."""
    names = list(hosts)
    if count < 1 or interval < 0 or timeout <= 0 or gap < 0:
        from netdiag.errors import UsageError

        raise UsageError("count >= 1, interval >= 0, gap >= 0 and timeout > 0")
    if count > 1:
        _check_interval(interval)  # as `netdiag ping -i` (the gap is fping's -i: no floor)
    targets = []
    for name in names:
        fam, address = resolve(name, family)
        targets.append(Target(name, address, fam))
    if not targets:
        return []
    settings = Settings(interval_ms=gap * 1000, period_ms=interval * 1000,
                        timeout_ms=timeout * 1000, count=count)  # fmt: skip
    probing = _probing(size, source, interface, tcp, udp)
    sweep, _elapsed, interrupted = run_sweep(targets, settings, probing)
    if interrupted:
        raise KeyboardInterrupt
    return sweep.results(probing.protocol, probing.port)


def ping(
    host: str,
    count: int = 4,
    interval: float = 1.0,
    timeout: float = 2.0,
    *,
    size: int = 56,
    family: int | None = None,
    source: str | None = None,
    interface: str | None = None,
    tcp: int | None = None,
    udp: int | None = None,
) -> HostResult:
    """Probe ``host`` ``count`` times, ``interval`` s apart; each probe waits ``timeout``
    s for its reply. ICMP echo, or TCP SYN (``tcp=PORT``) or UDP (``udp=PORT``)."""
    return multiping([host], count, interval, timeout, size=size, family=family,
                     source=source, interface=interface, tcp=tcp, udp=udp)[0]  # fmt: skip


def traceroute(
    host: str,
    *,
    method: str = "udp",
    max_hops: int = 30,
    first_hop: int = 1,
    probes: int = 3,
    wait: float = 5.0,
    port: int | None = None,
    family: int | None = None,
    source: str | None = None,
    interface: str | None = None,
) -> TraceResult:
    """The path to ``host``, as ``netdiag traceroute`` traces it (method ``udp``,
    ``icmp`` or ``tcp``); returns ``netdiag.trace``'s ``TraceResult``."""
    from netdiag.trace.loop import TraceOptions
    from netdiag.trace.loop import traceroute as _trace
    from netdiag.trace.probe import Method

    opt = TraceOptions(method=Method(method), family=family, port=port, nqueries=probes,
                       first_ttl=first_hop, max_ttl=max_hops, wait=(wait, 3.0, 10.0),
                       source=source, interface=interface)  # fmt: skip
    return _trace(host, opt)


def mtr(
    host: str,
    rounds: int = 10,
    interval: float = 1.0,
    *,
    method: str = "udp",
    max_hops: int = 30,
    family: int | None = None,
) -> MtrReport:
    """``rounds`` rounds of probes to every hop, as ``netdiag mtr -c ROUNDS`` runs them;
    returns ``netdiag.trace``'s ``MtrReport`` (loss and latency per hop)."""
    from netdiag.trace.loop import TraceOptions
    from netdiag.trace.mtr import MtrOptions
    from netdiag.trace.mtr import mtr as _mtr
    from netdiag.trace.probe import Method

    topt = TraceOptions(method=Method(method), family=family, max_ttl=max_hops)
    return _mtr(host, MtrOptions(trace=topt, count=rounds, interval=interval))
