"""Applying a configuration (start and reload) without sending anything: the resolver is
the test's own, and every name fails or waits, so no engine starts."""

from __future__ import annotations

import threading
import time

from netdiag.errors import UsageError
from netdiag.exporter.collector import Registry
from netdiag.exporter.config import parse
from netdiag.exporter.loop import Prober


def _failing(host: str) -> tuple[int, str]:
    raise UsageError(f"{host}: Name or service not known")


def _settle(prober: Prober, until) -> None:
    end = time.monotonic() + 5
    while not until():
        assert time.monotonic() < end
        prober.tick(time.monotonic())
        time.sleep(0.01)


def test_a_reload_keeps_the_counters_of_the_targets_that_stay_and_drops_the_others():
    reg = Registry()
    prober = Prober(reg, _failing)
    try:
        prober.apply(parse('[[targets]]\nhosts = ["x.example", "y.example"]\n'))
        _settle(prober, lambda: len(prober.unresolved) == 2)
        y_stats = next(s for k, s in reg.targets.items() if k[0] == "y.example")
        assert y_stats.errors == {"resolve": 1} and not y_stats.up
        prober.apply(
            parse(
                '[[targets]]\nhosts = ["y.example", "z.example"]\n'
                '[[targets]]\nhost = "y.example"\ninterval = 2\n'
                'labels = { k = "v" }\n'
            )
        )
        _settle(prober, lambda: len(prober.unresolved) == 3)
        hosts = sorted((k[0], k[4]) for k in reg.targets)
        assert hosts == [("y.example", ()), ("y.example", (("k", "v"),)), ("z.example", ())]
        assert reg.targets[next(k for k in reg.targets if k == y_stats.config.key)] is y_stats
        assert reg.label_names == ("k",)
    finally:
        prober.stop()


def test_a_slow_resolver_delays_no_other_target():
    release = threading.Event()

    def resolver(host: str) -> tuple[int, str]:
        if host == "slow.example":
            release.wait(10)
        raise UsageError(f"{host}: Temporary failure in name resolution")

    reg = Registry()
    prober = Prober(reg, resolver)
    try:
        start = time.monotonic()
        prober.apply(parse('[[targets]]\nhosts = ["slow.example", "bad.example"]\n'))
        assert time.monotonic() - start < 0.5
        _settle(prober, lambda: "bad.example" in {k[0] for k in prober.unresolved})
        assert "slow.example" in {k[0] for k in prober.resolving}
        release.set()
        _settle(prober, lambda: len(prober.unresolved) == 2)
        assert all(s.errors == {"resolve": 1} for s in reg.targets.values())
    finally:
        release.set()
        prober.stop()
