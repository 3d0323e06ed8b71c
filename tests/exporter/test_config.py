"""The exporter's TOML configuration: what it accepts, what it refuses (one line naming
the place), and what a reload keeps. Pure: no sockets."""

from __future__ import annotations

import tomllib

import pytest

from netdiag.exporter.config import (
    DEFAULT_BUCKETS,
    ConfigError,
    Module,
    PathConfig,
    load,
    parse,
    parse_listen,
)

GOOD = """
listen = "127.0.0.1:9500"
gap_ms = 1.0
labels = { site = "lab" }

[defaults]
interval = 2.0
size = 100

[[targets]]
hosts = ["198.18.1.2", "198.18.1.4"]
labels = { role = "dst" }

[[targets]]
host = "db.example"
method = "tcp:5432"
interval = 0.5
timeout = 0.25
path = { every = 30, rounds = 5, method = "icmp" }

[modules.syn]
method = "tcp:443"
timeout = 2
"""


def test_a_full_configuration_becomes_frozen_records_with_the_defaults_filled_in():
    c = parse(GOOD)
    assert c.listen == "127.0.0.1:9500" and c.gap_ms == 1.0
    a, b, db = c.targets
    assert (a.host, b.host, db.host) == ("198.18.1.2", "198.18.1.4", "db.example")
    assert (a.protocol, a.port, a.interval, a.timeout, a.size) == ("icmp", None, 2.0, 1.0, 100)
    assert a.labels == (("role", "dst"), ("site", "lab"))
    assert (db.method, db.interval, db.timeout, db.size) == ("tcp:5432", 0.5, 0.25, 100)
    assert db.labels == (("site", "lab"),)
    assert db.path == PathConfig(every=30, rounds=5, method="icmp", max_hops=30)
    assert a.path is None
    assert c.label_names == ("role", "site")  # every series carries both
    assert c.module("syn") == Module("syn", "tcp", 443, 2.0, 56)
    assert c.module("icmp") == Module("icmp")  # built in
    assert c.module("nope") is None
    with pytest.raises(AttributeError):
        a.host = "x"  # type: ignore[misc]


def test_the_default_buckets_are_smokeping_probers_50us_doubling_twenty_times():
    assert parse("").buckets == DEFAULT_BUCKETS
    assert len(DEFAULT_BUCKETS) == 20
    # smokeping_prober's --buckets default, as its --help prints it
    theirs = (
        "5e-05,0.0001,0.0002,0.0004,0.0008,0.0016,0.0032,0.0064,0.0128,0.0256,0.0512,"
        "0.1024,0.2048,0.4096,0.8192,1.6384,3.2768,6.5536,13.1072,26.2144"
    )
    assert [round(b, 9) for b in DEFAULT_BUCKETS] == [float(x) for x in theirs.split(",")]


def test_the_timeout_defaults_to_the_interval_up_to_one_second():
    short, long = parse(
        '[[targets]]\nhost="a"\ninterval=0.2\n[[targets]]\nhost="b"\ninterval=5\n'
    ).targets
    assert (short.timeout, long.timeout) == (0.2, 1.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("targets = 3", "exporter.toml: targets: an array of tables, [[targets]]"),
        ("nonsense = 1", "exporter.toml: unknown key 'nonsense'"),
        (
            "[[targets]]\nhost = 'a'\nmethod = 'icmp:1'",
            "exporter.toml: targets[0].method: 'icmp:1': use icmp, tcp:PORT or udp:PORT",
        ),
        (
            "[[targets]]\nhost = 'a'\nmethod = 'tcp:70000'",
            "exporter.toml: targets[0].method: 'tcp:70000': use icmp, tcp:PORT or udp:PORT",
        ),
        (
            "[[targets]]\nhost = 'a'\nhosts = ['b']",
            'exporter.toml: targets[0]: give host = "..." or hosts = [...]',
        ),
        ("[[targets]]\nhost = 'a'\ninterval = 0", "exporter.toml: targets[0].interval: 0:"),
        (
            "[[targets]]\nhost = 'a'\ninterval = 1\ntimeout = 2",
            "exporter.toml: targets[0]: timeout 2 s is longer than the interval 1 s",
        ),
        ("[[targets]]\nhost = 'a'\nsize = 'big'", "exporter.toml: targets[0].size: 'big':"),
        (
            "[[targets]]\nhost = 'a'\nlabels = { host = 'x' }",
            "exporter.toml: targets[0].labels: 'host' is set by the exporter itself",
        ),
        (
            "[[targets]]\nhost = 'a'\nlabels = { 'bad-name' = 'x' }",
            "exporter.toml: targets[0].labels: 'bad-name' is not a Prometheus label name",
        ),
        (
            "[[targets]]\nhost = 'a'\n[[targets]]\nhost = 'a'",
            "exporter.toml: targets[1]: a icmp is also targets[0]",
        ),
        (
            "[[targets]]\nhost = 'a'\npath = { every = 2, rounds = 5 }",
            "exporter.toml: targets[0].path: every = 2 s is shorter than 5 rounds of 1 s",
        ),
        (
            "[[targets]]\nhost = 'a'\npath = { method = 'sctp' }",
            "exporter.toml: targets[0].path.method: 'sctp'",
        ),
        ("buckets = [0.1, 0.01]", "exporter.toml: buckets: in increasing order"),
        ("listen = 'localhost'", "exporter.toml: listen 'localhost': use ADDR:PORT"),
        ("[modules.x]\nmethod = 'udp'", "exporter.toml: modules.x.method: 'udp'"),
        (
            "gap_ms = 10\n[[targets]]\nhosts = ['a', 'b', 'c']\ninterval = 0.02",
            "exporter.toml: gap_ms = 10 allows 100 probes a second, and the targets need 150",
        ),
        ("[[targets]\nhost = 'a'", "exporter.toml: not TOML: "),
    ],
)
def test_a_bad_configuration_is_one_line_that_names_the_place(text, message):
    with pytest.raises(ConfigError) as info:
        parse(text, "exporter.toml")
    line = str(info.value)
    assert line.startswith(message), line
    assert "\n" not in line


def test_tomllib_is_the_judge_of_the_syntax():
    text = "[[targets]\nhost = 'a'"
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        tomllib.loads(text)
    with pytest.raises(ConfigError) as ours:
        parse(text, "f")
    assert str(ours.value) == f"f: not TOML: {info.value}"


def test_an_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.toml: cannot read: No such file"):
        load(str(tmp_path / "missing.toml"))
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"bin.toml: cannot read"):
        load(str(tmp_path / "bin.toml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9427", ("127.0.0.1", 9427)),
        (":9427", ("0.0.0.0", 9427)),
        ("[::]:9427", ("::", 9427)),
        ("[::1]:0", ("::1", 0)),
    ],
)
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9427", "::1:9427", "host:port", "a:99999"])
def test_bad_listen_addresses(text):
    with pytest.raises(ConfigError, match=r"^listen "):
        parse_listen(text)


def test_a_target_keeps_its_identity_when_only_its_timing_changes():
    """The reload keeps a target's counters when host, method, size and labels stay."""
    a = parse('[[targets]]\nhost = "a"\ninterval = 1').targets[0]
    b = parse('[[targets]]\nhost = "a"\ninterval = 2').targets[0]
    c = parse('[[targets]]\nhost = "a"\nlabels = { x = "1" }').targets[0]
    assert a.key == b.key and a != b
    assert c.key != a.key
