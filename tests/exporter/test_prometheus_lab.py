"""The exporter in the lab, scraped by a real Prometheus (Debian's 2.42), both in the
lab's src namespace (so 127.0.0.1 is theirs alone); the answers come from
Prometheus's HTTP API, and the lab's figures from the lab itself and iputils ping.

Also in the lab: a method the process has no privilege for is reported on its own
(root without CAP_NET_RAW: TCP refused, UDP and ICMP datagram sockets go on), and /probe honours
X-Prometheus-Scrape-Timeout-Seconds.
"""

from __future__ import annotations

import bisect
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest
from test_server import get, value

from netdiag.exporter.config import DEFAULT_BUCKETS

TIMEOUT = 30
CMD = [sys.executable, "-m", "netdiag", "exporter"]
CONTRIB = Path(__file__).resolve().parents[2] / "contrib"


def _free_port(lab) -> int:
    import socket

    with lab.inside("src"), socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(lab, url: str, headers=None):
    with lab.inside("src"):
        return get(url, headers)


def _wait(lab, url: str, proc) -> None:
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        assert proc.poll() is None, f"exited {proc.returncode}"
        try:
            _get(lab, url)
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{url} not ready")


def _stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Prom:
    def __init__(self, lab, port: int) -> None:
        self.lab, self.base = lab, f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list[dict]:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, _h, body = _get(self.lab, url)
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", (expr, body)
        return doc["data"]["result"]

    def until(self, expr: str, ok, what: str, timeout: float = TIMEOUT):
        end = time.monotonic() + timeout
        while True:
            got = self.query(expr)
            if got and ok(got):
                return got
            if time.monotonic() > end:
                pytest.fail(f"{what}: {expr} -> {got}")
            time.sleep(0.25)


def _iputils(lab, address: str) -> tuple[float, float, int]:
    """(min, max RTT in s, TTL) of 10 probes from src, as iputils ping measures them."""
    done = lab.exec(
        "src",
        ["ping", "-n", "-c", "10", "-i", "0.05", address],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rtts = [float(x) / 1000 for x in re.findall(r"time=([\d.]+) ms", done.stdout)]
    ttls = set(re.findall(r"ttl=(\d+)", done.stdout))
    assert len(ttls) == 1
    return min(rtts), max(rtts), int(ttls.pop())


@pytest.mark.root
def test_prometheus_scrapes_success_rtt_ttl_path_and_a_reloaded_target(lab, require_tool):
    prometheus = require_tool("prometheus")
    dst, silent, added = lab.addr("dst"), "198.18.4.77", lab.addr("r2")
    work = Path(tempfile.mkdtemp(prefix="netdiag-exp-"))
    exp_port, prom_port = _free_port(lab), _free_port(lab)
    while prom_port == exp_port:
        prom_port = _free_port(lab)
    conf = work / "exporter.toml"
    targets = (
        f'[[targets]]\nhost = "{dst}"\ninterval = 0.2\n'
        'path = { every = 4, rounds = 2, method = "icmp" }\n'
        f'[[targets]]\nhost = "{silent}"\ninterval = 0.2\n'
    )
    conf.write_text(targets)
    # contrib/prometheus.yml's two jobs, pointed at this exporter, scraped every second
    prom_conf = (CONTRIB / "prometheus.yml").read_text()
    prom_conf = prom_conf.replace("scrape_interval: 15s", "scrape_interval: 1s")
    prom_conf = prom_conf.replace("scrape_timeout: 10s", "scrape_timeout: 1s")
    prom_conf = prom_conf.replace("127.0.0.1:9427", f"127.0.0.1:{exp_port}")
    prom_conf = prom_conf.replace('["192.0.2.1", "gateway.example.net"]', f'["{dst}"]')
    (work / "prometheus.yml").write_text(prom_conf)
    exp = prom = None
    try:
        exp = lab.popen(
            "src",
            [*CMD, "--config", str(conf), "--listen", f"127.0.0.1:{exp_port}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        prom = lab.popen(
            "src",
            [
                prometheus,
                f"--config.file={work / 'prometheus.yml'}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lab, f"http://127.0.0.1:{exp_port}/", exp)
        _wait(lab, f"http://127.0.0.1:{prom_port}/-/ready", prom)
        low, high, ttl = _iputils(lab, dst)
        p = Prom(lab, prom_port)
        ratio = (
            "sum by (host) (increase(netdiag_ping_response_duration_seconds_count[4s])) / "
            "sum by (host) (increase(netdiag_ping_requests_total[4s]))"
        )
        got = p.until(ratio, lambda r: len(r) == 2, "success ratios of both targets")
        by_host = {r["metric"]["host"]: float(r["value"][1]) for r in got}
        assert by_host == {dst: 1.0, silent: 0.0}
        q50 = p.query(
            "histogram_quantile(0.5, sum by (le) (rate("
            f'netdiag_ping_response_duration_seconds_bucket{{host="{dst}"}}[4s])))'
        )
        median = float(q50[0]["value"][1])
        # the histogram knows the bucket, not the value: the bounds around iputils' range,
        # and one bucket (a doubling) above it, since the two are measured moments apart
        # on a shared 2-core host, where a sub-0.1 ms RTT moves that much under load
        bounds = (0.0, *DEFAULT_BUCKETS)
        lower = bounds[max(0, bisect.bisect_left(bounds, low) - 1)]
        upper = bounds[min(len(bounds) - 1, bisect.bisect_left(bounds, high) + 1)]
        assert lower <= median <= upper, (median, low, high)
        got = p.query(f'netdiag_ping_response_ttl{{host="{dst}"}}')
        assert float(got[0]["value"][1]) == ttl == 64 - lab.routers
        hops = p.until(f'netdiag_path_hops{{host="{dst}"}}', lambda r: True, "path hops")
        assert float(hops[0]["value"][1]) == len(lab.hops())
        loss = p.query(f'netdiag_path_hop_loss_ratio{{host="{dst}"}}')
        assert sorted(int(r["metric"]["ttl"]) for r in loss) == list(range(1, len(lab.hops()) + 1))
        rtt = p.query(f'netdiag_path_hop_rtt_seconds{{host="{dst}"}}')
        assert {r["metric"]["address"] for r in rtt} == set(lab.hops())
        probe = p.until('probe_success{job="netdiag_probe"}', lambda r: True, "/probe scrape")
        assert probe[0]["metric"]["instance"] == dst and float(probe[0]["value"][1]) == 1
        # every query of the Grafana dashboard is one Prometheus accepts
        dash = json.loads((CONTRIB / "grafana-netdiag.json").read_text())
        for panel in dash["panels"]:
            for t in panel["targets"]:
                p.query(t["expr"].replace("$__rate_interval", "4s").replace("$host", ".*"))
        # a SIGHUP that adds a target: its series appear
        conf.write_text(targets + f'[[targets]]\nhost = "{added}"\ninterval = 0.2\n')
        exp.send_signal(signal.SIGHUP)
        got = p.until(
            f'netdiag_ping_response_duration_seconds_count{{host="{added}"}} > 0',
            lambda r: True,
            "the added target's series",
        )
        assert got[0]["metric"]["ip"] == added
        assert float(p.query("netdiag_config_last_reload_successful")[0]["value"][1]) == 1
        exp.send_signal(signal.SIGTERM)
        assert exp.wait(10) == 0
    finally:
        for proc in (exp, prom):
            if proc is not None:
                _stop(proc)
        if exp is not None and exp.stderr:
            exp.stderr.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.root
def test_a_method_without_its_privilege_is_reported_alone_and_the_others_go_on(lab, tmp_path):
    """Root without CAP_NET_RAW (its bounding set): TCP SYNs cannot open their raw
    socket; UDP needs no privilege; ICMP goes on datagram sockets where the namespace's
    ping_group_range admits gid 0, else it is refused too."""
    dst = lab.addr("dst")
    conf = tmp_path / "e.toml"
    conf.write_text(
        f'[[targets]]\nhost = "{dst}"\ninterval = 0.2\n'
        f'[[targets]]\nhost = "{dst}"\nmethod = "tcp:80"\ninterval = 0.2\n'
        f'[[targets]]\nhost = "{dst}"\nmethod = "udp:33434"\ninterval = 0.2\n'
        '[[targets]]\nhost = "no..such.host"\n'
    )
    port = _free_port(lab)
    with lab.inside("src"):
        groups = Path("/proc/sys/net/ipv4/ping_group_range").read_text().split()
    refused = ["tcp:80"] if int(groups[0]) <= 0 <= int(groups[1]) else ["icmp", "tcp:80"]
    proc = lab.popen(
        "src",
        [
            "setpriv",
            "--bounding-set=-net_raw",
            *CMD,
            "-c",
            str(conf),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(lab, base + "/", proc)
        end = time.monotonic() + TIMEOUT
        while True:
            body = _get(lab, base + "/metrics")[2]
            udp = (
                f'netdiag_ping_response_duration_seconds_count{{host="{dst}",ip="{dst}",'
                'method="udp:33434"}'
            )
            n = re.search(re.escape(udp) + r" (\S+)", body)
            if n and float(n.group(1)) >= 3 and body.count('type="privilege"') == len(refused):
                break
            assert time.monotonic() < end, body
            time.sleep(0.2)
        for method in refused:
            labels = f'host="{dst}",ip="{dst}",method="{method}"'
            assert f"netdiag_target_up{{{labels}}} 0.0" in body
            assert f'netdiag_ping_errors_total{{{labels},type="privilege"}} 1.0' in body
        for method in {"icmp", "udp:33434"} - set(refused):
            assert f'netdiag_target_up{{host="{dst}",ip="{dst}",method="{method}"}} 1.0' in body
        unresolved = 'host="no..such.host",ip="",method="icmp"'
        assert f'netdiag_ping_errors_total{{{unresolved},type="resolve"}} 1.0' in body
        assert f"netdiag_target_up{{{unresolved}}} 0.0" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        log = proc.stderr.read()
        for method in refused:
            why = rf"{method.partition(':')[0]} probes cannot run \(198\.18\.4\.2\): .*CAP_NET_RAW"
            assert re.search(why, log), log
        assert "target no..such.host: " in log
    finally:
        _stop(proc)
        proc.stderr.close()


@pytest.mark.root
def test_probe_honours_the_scrape_timeout_header(lab):
    conf_dir = Path(tempfile.mkdtemp(prefix="netdiag-exp-"))
    try:
        conf = conf_dir / "e.toml"
        conf.write_text("[modules.icmp]\ntimeout = 5\n")
        port = _free_port(lab)
        proc = lab.popen(
            "src",
            [*CMD, "-c", str(conf), "--listen", f"127.0.0.1:{port}"],
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(lab, base + "/", proc)
            start = time.monotonic()
            _s, _h, body = _get(
                lab,
                base + "/probe?target=198.18.4.77&module=icmp",
                {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"},
            )
            took = time.monotonic() - start
            assert value(body, "probe_success") == 0
            assert 0.9 <= value(body, "probe_duration_seconds") <= 1.2 and took < 2.5
            _s, _h, body = _get(lab, base + f"/probe?target={lab.addr('dst')}")
            assert value(body, "probe_success") == 1
            assert value(body, "probe_icmp_reply_hop_limit") == 64 - lab.routers
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)
