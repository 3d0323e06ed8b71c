"""Fixtures of the renderer tests: the sample frames written to a pcap, and local time = UTC."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from render_samples import SAMPLES, write_capture


@pytest.fixture(scope="session")
def sample_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Ethernet samples in one classic pcap file (tcpdump reads it too)."""
    eth = [s for s in SAMPLES if s[1] == 1]
    return write_capture(tmp_path_factory.mktemp("render") / "samples.pcap", eth)


def _local_time(tz: str) -> Iterator[None]:
    """Local time is ``tz`` (a POSIX TZ string) while the test runs, then as it was."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC for the test (timestamps are printed in local time)."""
    yield from _local_time("UTC")


@pytest.fixture
def tokyo() -> Iterator[None]:
    """Local time 9 hours ahead of UTC (a POSIX TZ string: no time zone database needed)."""
    yield from _local_time("JST-9")
