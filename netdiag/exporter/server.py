"""The exporter's HTTP side and its main loop: /metrics, /probe, SIGHUP, SIGTERM.

- ``/metrics``: ``prometheus_client``'s WSGI app over the exporter's collector, so
  the exposition and its content type (text 0.0.4 or OpenMetrics) are the ones the
  library negotiates with the scraper's ``Accept``.
- ``/probe?target=HOST&module=NAME``: one probe on demand, blackbox_exporter's way:
  ``probe_success``, ``probe_duration_seconds``, ``probe_dns_lookup_time_seconds``,
  ``probe_rtt_seconds``, ``probe_ip_protocol`` and for ICMP
  ``probe_icmp_duration_seconds{phase}`` and ``probe_icmp_reply_hop_limit``. The
  probe waits min(module timeout, ``X-Prometheus-Scrape-Timeout-Seconds`` - 0.5).
  An unknown module or a missing target: HTTP 400 and a one-line reason.
- The main thread waits for signals (blocked, then taken with ``sigtimedwait``, so
  no handler runs inside a probe): SIGHUP reloads the configuration (a bad one is
  logged, the old one stays and ``netdiag_config_last_reload_successful`` is 0),
  SIGTERM and SIGINT stop the probes and the server and return 0.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from netdiag.errors import NetdiagError, UsageError
from netdiag.exporter.collector import Collector, Registry
from netdiag.exporter.config import DEFAULT_LISTEN, Config, ConfigError, Module, load, parse_listen
from netdiag.exporter.loop import Prober, log

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

__all__ = ["serve", "probe_timeout", "make_app", "Exporter"]

_SIGNALS = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT}


def probe_timeout(module_timeout: float, header: str | None) -> float:
    """blackbox_exporter's rule: min(module timeout, scrape timeout - 0.5 s)."""
    if header:
        try:
            scrape = float(header)
        except ValueError:
            return module_timeout
        if scrape > 0:
            return max(0.01, min(module_timeout, scrape - 0.5))
    return module_timeout


class _ProbeResult:
    def __init__(self) -> None:
        self.success = False
        self.family = 0
        self.resolve_s = 0.0
        self.setup_s = 0.0
        self.rtt_s: float | None = None
        self.ttl: int | None = None
        self.duration_s = 0.0
        self.is_icmp = True


def run_probe(target: str, module: Module, timeout_s: float) -> _ProbeResult:
    """One probe of ``target`` as ``module`` says, within ``timeout_s``."""
    from netdiag.multi.core import Settings, Target
    from netdiag.multi.loop import Probing, run_sweep
    from netdiag.multi.results import Reply
    from netdiag.probing.resolve import resolve

    out = _ProbeResult()
    out.is_icmp = module.protocol == "icmp"
    start = time.monotonic()
    try:
        out.family, address = resolve(target)
        out.resolve_s = time.monotonic() - start
        probing = Probing(
            tcp=module.port if module.protocol == "tcp" else None,
            udp=module.port if module.protocol == "udp" else None,
            size=module.size,
        )
        left = max(0.001, timeout_s - (time.monotonic() - start))

        def on_event(event: Any, _sweep: Any) -> None:
            if isinstance(event, Reply):
                out.rtt_s, out.ttl, out.success = event.rtt_ms / 1000, event.ttl, True

        setup = time.monotonic()
        run_sweep(
            [Target(target, address, out.family)],
            Settings(timeout_ms=left * 1000, count=1, retries=0),
            probing,
            on_event,
        )
        out.setup_s = max(0.0, time.monotonic() - setup - (out.rtt_s or 0.0))
    except (NetdiagError, OSError) as exc:
        log(f"probe {target} ({module.name}): {' '.join(str(exc).split())}")
    out.duration_s = time.monotonic() - start
    return out


class _ProbeCollector:
    def __init__(self, result: _ProbeResult) -> None:
        self.result = result

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily as G

        r = self.result
        yield G("probe_success", "Whether the probe was answered.", value=int(r.success))
        yield G("probe_duration_seconds", "How long the probe took.", value=r.duration_s)
        yield G("probe_dns_lookup_time_seconds", "Resolving the target.", value=r.resolve_s)
        if r.family:
            yield G("probe_ip_protocol", "The IP version probed.", value=r.family)
        if r.rtt_s is not None:
            yield G("probe_rtt_seconds", "Round-trip time of the reply.", value=r.rtt_s)
        if r.is_icmp:
            phases = G("probe_icmp_duration_seconds", "The probe's phases.", labels=["phase"])
            for phase, value in (
                ("resolve", r.resolve_s),
                ("setup", r.setup_s),
                ("rtt", r.rtt_s or 0.0),
            ):
                phases.add_metric([phase], value)
            yield phases
            if r.ttl is not None:
                yield G("probe_icmp_reply_hop_limit", "TTL of the reply.", value=r.ttl)


def _plain(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode() + b"\n"]


def make_app(registry: Any, config_of: Callable[[], Config]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: ``/metrics`` (``registry``), ``/probe`` (modules of ``config_of()``)."""
    from prometheus_client import CollectorRegistry, make_wsgi_app

    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/probe":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            target = (query.get("target") or [""])[0].strip()
            name = (query.get("module") or ["icmp"])[0]
            module = config_of().module(name)
            if module is None:
                return _plain(start_response, "400 Bad Request", f"unknown module {name!r}")
            if not target:
                return _plain(start_response, "400 Bad Request", "target parameter is missing")
            header = environ.get("HTTP_X_PROMETHEUS_SCRAPE_TIMEOUT_SECONDS")
            result = run_probe(target, module, probe_timeout(module.timeout, header))
            one = CollectorRegistry(auto_describe=False)
            one.register(_ProbeCollector(result))
            return make_wsgi_app(one)(environ, start_response)  # type: ignore[no-any-return]
        if path == "/":
            return _plain(
                start_response,
                "200 OK",
                "netdiag exporter: /metrics, /probe?target=HOST&module=NAME",
            )
        return _plain(start_response, "404 Not Found", f"no page {path}")

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- the base's name
        pass


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class Exporter:
    """The running exporter: prober, collector, HTTP server."""

    def __init__(self, path: str, config: Config, listen: str) -> None:
        from prometheus_client import CollectorRegistry

        from netdiag import __version__

        self.path = path
        self.config = config
        self.listen = listen
        self.registry = Registry(config.label_names)
        self.registry.reload_time = time.time()
        self.prober = Prober(self.registry)
        self.metrics = CollectorRegistry(auto_describe=False)
        python = ".".join(map(str, sys.version_info[:3]))
        self.metrics.register(Collector(self.registry, __version__, python))
        host, port = parse_listen(listen)
        cls = _Server6 if ":" in host else _Server
        try:
            self.server = make_server(
                host,
                port,
                make_app(self.metrics, lambda: self.config),
                server_class=cls,
                handler_class=_Quiet,
            )
        except OSError as exc:
            raise UsageError(f"exporter: cannot listen on {listen}: {exc.strerror}") from None

    def reload(self) -> bool:
        try:
            config = load(self.path)
        except ConfigError as exc:
            with self.registry.lock:
                self.registry.reload_ok = False
            log(f"reload failed, the old configuration stays: {exc}")
            return False
        self.prober.apply(config)
        self.config = config
        with self.registry.lock:
            self.registry.reload_ok = True
            self.registry.reload_time = time.time()
        if config.listen is not None and config.listen != self.listen:
            log(f"listen = {config.listen!r} takes effect at the next start")
        log(f"reloaded {self.path}: {len(config.targets)} targets")
        return True

    def run(self) -> int:
        thread = threading.Thread(
            target=self.server.serve_forever, args=(0.5,), name="http", daemon=True
        )
        thread.start()
        host, port = (str(x) for x in self.server.server_address[:2])
        shown = f"[{host}]" if ":" in host else host
        self.prober.apply(self.config)
        log(f"{len(self.config.targets)} targets; metrics on http://{shown}:{port}/metrics")
        try:
            while True:
                got = signal.sigtimedwait(_SIGNALS, 0.25)
                if got is None:
                    self.prober.tick(time.monotonic())
                elif got.si_signo == signal.SIGHUP:
                    self.reload()
                else:
                    break
        finally:
            self.prober.stop()
            self.server.shutdown()
            self.server.server_close()
            self.prober.join(2.0)
        log("stopped")
        return 0


def serve(path: str, listen: str | None) -> int:
    """``netdiag exporter --config PATH [--listen ADDR:PORT]``: runs until SIGTERM."""
    config = load(path)
    where = listen or config.listen or DEFAULT_LISTEN
    parse_listen(where)
    # before any thread starts, so that every thread inherits the mask
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        return Exporter(path, config, where).run()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
