"""``netdiag exporter`` as a process on loopback: start-up errors (one line, exit 2),
the HTTP answers (/probe's 400s, the content type prometheus_client negotiates), a
reload that fails keeping the old configuration, SIGTERM. No probes are sent: the
configurations here list no targets."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netdiag.exporter.server import probe_timeout

TIMEOUT = 20
CMD = [sys.executable, "-m", "netdiag", "exporter"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def wait_ready(proc: subprocess.Popen[str], base: str) -> None:
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"exporter exited {proc.returncode}: {proc.stderr.read()}")
        try:
            get(base + "/")
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("exporter not ready")


def value(text: str, name: str) -> float:
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                return s.value
    raise KeyError(name)


@pytest.fixture
def exporter(tmp_path):
    conf = tmp_path / "exporter.toml"
    conf.write_text('[modules.slow]\nmethod = "icmp"\ntimeout = 9\n')
    port = free_port()
    proc = subprocess.Popen(
        [*CMD, "--config", str(conf), "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(proc, base)
        yield proc, base, conf
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        proc.stderr.close()


def test_probe_without_a_target_or_with_an_unknown_module_is_a_400_with_one_line(exporter):
    _proc, base, _conf = exporter
    status, _h, body = get(base + "/probe?module=slow")
    assert (status, body) == (400, "target parameter is missing\n")
    status, _h, body = get(base + "/probe?target=127.0.0.1&module=nope")
    assert (status, body) == (400, "unknown module 'nope'\n")
    assert get(base + "/nothing")[0] == 404


def test_metrics_in_the_content_type_prometheus_client_negotiates(exporter):
    _proc, base, _conf = exporter
    status, headers, body = get(base + "/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert value(body, "netdiag_config_last_reload_successful") == 1
    status, headers, body = get(
        base + "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")


def test_a_bad_reload_keeps_the_old_configuration_and_says_so_in_the_metric(exporter):
    proc, base, conf = exporter
    conf.write_text("[[targets]]\nhost = 'a'\nmethod = 'bogus'\n")
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + TIMEOUT
    while value(get(base + "/metrics")[2], "netdiag_config_last_reload_successful") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert get(base + "/probe?module=slow")[2] == "target parameter is missing\n"  # old modules
    conf.write_text('[modules.fast]\nmethod = "udp:9"\n')
    proc.send_signal(signal.SIGHUP)
    while value(get(base + "/metrics")[2], "netdiag_config_last_reload_successful") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert get(base + "/probe?module=slow")[2] == "unknown module 'slow'\n"
    assert get(base + "/probe?module=fast")[2] == "target parameter is missing\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(TIMEOUT) == 0
    err = proc.stderr.read()
    assert "reload failed, the old configuration stays: " in err
    assert "targets[0].method: 'bogus'" in err
    assert err.rstrip().endswith("netdiag exporter: stopped")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[targets]]\nhost = 'a'\ninterval = -1\n", "targets[0].interval: -1:"),
        (None, "cannot read: No such file or directory"),
    ],
)
def test_a_bad_configuration_at_start_is_one_line_and_exit_2(tmp_path, content, message):
    conf = tmp_path / "c.toml"
    if content is not None:
        conf.write_text(content)
    done = subprocess.run(
        [*CMD, "--config", str(conf)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("netdiag: ")
    assert message in done.stderr


def test_a_listen_address_in_use_is_one_line_and_exit_2(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*CMD, "-c", str(conf), "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert done.returncode == 2
    assert (
        done.stderr == f"netdiag: exporter: cannot listen on 127.0.0.1:{port}: Address "
        "already in use\n"
    )


def test_without_prometheus_client_one_line_says_what_to_install(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("")
    code = (
        "import sys; sys.modules['prometheus_client'] = None; from netdiag.cli import main; "
        f"sys.exit(main(['exporter', '--config', {str(conf)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 2
    assert done.stderr == (
        "netdiag: exporter needs prometheus_client: pip install 'netdiag[exporter]'\n"
    )


def test_the_probe_timeout_is_blackbox_exporters():
    assert probe_timeout(5.0, None) == 5.0
    assert probe_timeout(5.0, "10") == 5.0
    assert probe_timeout(5.0, "3") == 2.5
    assert probe_timeout(5.0, "junk") == 5.0
