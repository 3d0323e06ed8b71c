"""The exporter's configuration: TOML (``tomllib``) in, a frozen :class:`Config` out.

Pure: text in, records out, no sockets and no resolving (a name that does not resolve
is the loop's business, reported per target). Every mistake is a :class:`ConfigError`
(a ``UsageError``: one line, exit 2 at start; at a reload the old configuration stays)
that names the file and the place, ``exporter.toml: targets[2].method: ...``.

The file::

    listen = "127.0.0.1:9427"      # optional; --listen wins
    gap_ms = 0.0                   # optional: the least gap between any two sends
    buckets = [0.00005, 0.0001]    # optional: RTT histogram bounds, seconds
    labels = { site = "lab" }      # optional: on every target's series

    [defaults]                     # optional: what a target leaves out
    method = "icmp"                # icmp, tcp:PORT or udp:PORT
    interval = 1.0                 # seconds between probes to one target
    timeout = 1.0                  # seconds a probe waits (at most the interval)
    size = 56                      # payload bytes

    [[targets]]
    host = "198.18.1.2"            # or hosts = ["a", "b"], the same settings for each
    labels = { role = "dst" }
    path = { every = 60, rounds = 10, method = "udp" }   # optional: mtr every 60 s

    [modules.icmp]                 # for /probe?module=icmp (an "icmp" module is built in)
    method = "icmp"
    timeout = 5.0
"""

from __future__ import annotations

from netdiag.errors import UsageError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Config",
    "ConfigError",
    "Module",
    "PathConfig",
    "TargetConfig",
    "DEFAULT_BUCKETS",
    "DEFAULT_LISTEN",
    "load",
    "parse",
    "parse_listen",
    "parse_method",
]

DEFAULT_LISTEN = "127.0.0.1:9427"
#: 50 µs × 2^k, k = 0..19 (smokeping_prober's): 50 µs .. 26.2 s
DEFAULT_BUCKETS = tuple(50e-6 * (1 << k) for k in range(20))
#: labels the exporter sets itself, which a config may not take
RESERVED_LABELS = frozenset(
    {
        "host",
        "ip",
        "ttl",
        "address",
        "type",
        "le",
        "method",
        "module",
        "quantile",
        "instance",
        "job",
        "version",
        "python",
    }
)
_TOP = {"listen", "gap_ms", "buckets", "labels", "defaults", "targets", "modules"}
_TARGET = {"host", "hosts", "method", "interval", "timeout", "size", "labels", "path"}
_PATH = {"every", "rounds", "method", "max_hops"}
_MODULE = {"method", "timeout", "size"}


class ConfigError(UsageError):
    """A bad configuration: one line naming the file and the place."""


@dataclass(frozen=True)
class PathConfig:
    every: float = 60.0  # seconds between the starts of two mtr runs
    rounds: int = 10
    method: str = "udp"  # udp, icmp or tcp (mtr's)
    max_hops: int = 30


@dataclass(frozen=True)
class TargetConfig:
    host: str
    protocol: str = "icmp"  # icmp, tcp, udp
    port: int | None = None
    interval: float = 1.0
    timeout: float = 1.0
    size: int = 56
    labels: tuple[tuple[str, str], ...] = ()
    path: PathConfig | None = None

    @property
    def method(self) -> str:
        return self.protocol if self.port is None else f"{self.protocol}:{self.port}"

    @property
    def key(self) -> tuple[object, ...]:
        """What makes it the same target across a reload (its series and counters)."""
        return (self.host, self.protocol, self.port, self.size, self.labels)


@dataclass(frozen=True)
class Module:
    name: str
    protocol: str = "icmp"
    port: int | None = None
    timeout: float = 5.0
    size: int = 56


@dataclass(frozen=True)
class Config:
    targets: tuple[TargetConfig, ...] = ()
    modules: tuple[Module, ...] = (Module("icmp"),)
    listen: str | None = None
    gap_ms: float = 0.0
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    label_names: tuple[str, ...] = ()  # every config label, in order: each series has all

    def module(self, name: str) -> Module | None:
        return next((m for m in self.modules if m.name == name), None)


def parse_method(text: object, where: str) -> tuple[str, int | None]:
    """``icmp``, ``tcp:PORT``, ``udp:PORT`` -> (protocol, port)."""
    if not isinstance(text, str):
        raise ConfigError(f"{where}: a string: icmp, tcp:PORT or udp:PORT")
    proto, sep, port = text.partition(":")
    if proto == "icmp" and not sep:
        return "icmp", None
    if proto in ("tcp", "udp") and port.isdigit() and 1 <= int(port) <= 65535:
        return proto, int(port)
    raise ConfigError(f"{where}: {text!r}: use icmp, tcp:PORT or udp:PORT (PORT 1..65535)")


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[V6]:PORT`` or ``:PORT`` (every address) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen {text!r}: use ADDR:PORT, [ADDR]:PORT or :PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(f"listen {text!r}: an IPv6 address goes in brackets, [::1]:9427")
    return host or "0.0.0.0", int(port)


def _number(value: object, where: str, low: float, high: float, kind: type = float) -> Any:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or not low <= value <= high:  # type: ignore[operator]
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{where}: {value!r}: {what} from {low:g} to {high:g}")
    return kind(value)


def _table(value: object, where: str, known: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: a table")
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    return value


def _labels(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f'{where}: a table of name = "value"')
    out = []
    for name, text in value.items():
        ok = name[:1].isalpha() or name[:1] == "_"
        ok = ok and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        if not ok or name.startswith("__"):
            raise ConfigError(f"{where}: {name!r} is not a Prometheus label name")
        if name in RESERVED_LABELS:
            raise ConfigError(f"{where}: {name!r} is set by the exporter itself")
        if not isinstance(text, str):
            raise ConfigError(f"{where}.{name}: a string")
        out.append((name, text))
    return tuple(sorted(out))


def _path(value: object, where: str) -> PathConfig:
    t = _table(value, where, _PATH)
    method = t.get("method", "udp")
    if method not in ("udp", "icmp", "tcp"):
        raise ConfigError(f"{where}.method: {method!r}: udp, icmp or tcp (mtr's methods)")
    rounds = _number(t.get("rounds", 10), f"{where}.rounds", 1, 1000, int)
    every = _number(t.get("every", 60.0), f"{where}.every", 1, 86400)
    if every < rounds:
        raise ConfigError(f"{where}: every = {every:g} s is shorter than {rounds} rounds of 1 s")
    hops = _number(t.get("max_hops", 30), f"{where}.max_hops", 1, 255, int)
    return PathConfig(every, rounds, method, hops)


def _settings(t: dict[str, Any], base: dict[str, Any], where: str) -> dict[str, Any]:
    proto, port = parse_method(t.get("method", base.get("method", "icmp")), f"{where}.method")
    interval = _number(
        t.get("interval", base.get("interval", 1.0)), f"{where}.interval", 0.01, 3600
    )
    timeout = t.get("timeout", base.get("timeout", min(interval, 1.0)))
    timeout = _number(timeout, f"{where}.timeout", 0.001, 60)
    if timeout > interval:
        raise ConfigError(
            f"{where}: timeout {timeout:g} s is longer than the interval {interval:g} s"
        )
    size = _number(t.get("size", base.get("size", 56)), f"{where}.size", 0, 65000, int)
    return {"protocol": proto, "port": port, "interval": interval, "timeout": timeout, "size": size}


def _targets(
    items: object,
    base: dict[str, Any],
    common: tuple[tuple[str, str], ...],
) -> list[TargetConfig]:
    if not isinstance(items, list):
        raise ConfigError("targets: an array of tables, [[targets]]")
    out: list[TargetConfig] = []
    seen: dict[tuple[object, ...], str] = {}
    for n, item in enumerate(items):
        where = f"targets[{n}]"
        t = _table(item, where, _TARGET)
        if ("host" in t) == ("hosts" in t):
            raise ConfigError(f'{where}: give host = "..." or hosts = [...]')
        hosts = [t["host"]] if "host" in t else t["hosts"]
        if (
            not isinstance(hosts, list)
            or not hosts
            or not all(isinstance(h, str) and h.strip() and " " not in h for h in hosts)
        ):
            raise ConfigError(f"{where}: hosts are non-empty names or addresses")
        settings = _settings(t, base, where)
        labels = dict(common)
        labels.update(_labels(t.get("labels", {}), f"{where}.labels"))
        path = _path(t["path"], f"{where}.path") if "path" in t else None
        for host in hosts:
            tc = TargetConfig(host, labels=tuple(sorted(labels.items())), path=path, **settings)
            if tc.key in seen:
                raise ConfigError(f"{where}: {host} {tc.method} is also {seen[tc.key]}")
            seen[tc.key] = where
            out.append(tc)
    return out


def _modules(value: object) -> tuple[Module, ...]:
    t = _table(value, "modules", set(value) if isinstance(value, dict) else set())
    out = {"icmp": Module("icmp")}
    for name, body in t.items():
        where = f"modules.{name}"
        m = _table(body, where, _MODULE)
        proto, port = parse_method(m.get("method", "icmp"), f"{where}.method")
        timeout = _number(m.get("timeout", 5.0), f"{where}.timeout", 0.001, 120)
        size = _number(m.get("size", 56), f"{where}.size", 0, 65000, int)
        out[name] = Module(name, proto, port, timeout, size)
    return tuple(out.values())


def parse(text: str, source: str = "config") -> Config:
    """The configuration in ``text`` (TOML); ``source`` names it in the error lines."""
    import tomllib

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not TOML: {exc}") from None
    try:
        return _config(doc)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _config(doc: dict[str, Any]) -> Config:
    unknown = sorted(set(doc) - _TOP)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP))})")
    listen = doc.get("listen")
    if listen is not None:
        if not isinstance(listen, str):
            raise ConfigError("listen: a string, ADDR:PORT")
        parse_listen(listen)
    gap = _number(doc.get("gap_ms", 0.0), "gap_ms", 0, 1000)
    buckets = doc.get("buckets", list(DEFAULT_BUCKETS))
    if (
        not isinstance(buckets, list)
        or not buckets
        or not all(
            isinstance(b, int | float) and not isinstance(b, bool) and b > 0 for b in buckets
        )
    ):
        raise ConfigError("buckets: an array of positive numbers (seconds)")
    if any(b >= a for a, b in zip(buckets[1:], buckets, strict=False)):
        raise ConfigError("buckets: in increasing order")
    common = _labels(doc.get("labels", {}), "labels")
    base = _table(
        doc.get("defaults", {}), "defaults", _TARGET - {"host", "hosts", "labels", "path"}
    )
    if base:
        _settings(base, {}, "defaults")
    targets = _targets(doc.get("targets", []), base, common)
    rate = sum(1.0 / t.interval for t in targets)
    if gap > 0 and rate * gap / 1000 > 0.9:
        raise ConfigError(
            f"gap_ms = {gap:g} allows {1000 / gap:.0f} probes a second, and the "
            f"targets need {rate:.0f}: lower gap_ms or raise the intervals"
        )
    names = sorted({name for t in targets for name, _v in t.labels} | {n for n, _v in common})
    return Config(
        targets=tuple(targets),
        modules=_modules(doc.get("modules", {})),
        listen=listen,
        gap_ms=gap,
        buckets=tuple(float(b) for b in buckets),
        label_names=tuple(names),
    )


def load(path: str) -> Config:
    """Read and parse the file at ``path`` (unreadable: a ConfigError too)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read: {reason}") from None
    return parse(text, path)
