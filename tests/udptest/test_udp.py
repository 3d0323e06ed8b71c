"""netdiag udp send/recv, the impairment relay and capture analysis, in the lab.

Layout: sender in src, relay (``netdiag impair``) in r1 on its src-side address,
receiver in dst. The references are what the relay's log says it did to each
datagram (drop/dup/reorder), iperf3's own JSON report, and tcpdump's capture.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from netdiag.lab.netns import in_netns
from netdiag.udptest.wire import END, build

pytestmark = pytest.mark.root

PY = [sys.executable, "-m", "netdiag"]
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))}
N = 10_000
_ports = iter(range(5401, 5499))


def _wait_udp_port(lab, node, port, proto="u"):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        out = lab.exec(
            node, ["ss", f"-Hln{proto}", f"sport = :{port}"], capture_output=True, text=True
        ).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {node} port {port}")


def _receiver(lab, port):
    proc = lab.popen(
        "dst",
        [*PY, "udp", "recv", "-p", str(port), "--once", "--json", "--deadline", "60"],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    _wait_udp_port(lab, "dst", port)
    return proc


def _relay(lab, port, log, *impair):
    # One CPU: datagrams a relay sends from two CPUs can reach dst's capture tap and
    # iperf3's socket in different orders, which makes the out-of-order counts differ.
    proc = lab.popen(
        "r1",
        [
            "taskset",
            "-c",
            "0",
            *PY,
            "impair",
            "--listen",
            f"{lab.addr('r1')}:{port}",
            "--to",
            f"{lab.addr('dst')}:{port}",
            "--log",
            str(log),
            *impair,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert "relaying" in proc.stdout.readline()
    return proc


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    return out


def _send(lab, host, port, *args):
    out = lab.exec(
        "src",
        [*PY, "udp", "send", host, "-p", str(port), "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout)


def _truth(log, first, last):
    """What the relay did to datagrams first..last (its log is the reference)."""
    acts = {}
    with open(log) as f:
        for line in f:
            rec = json.loads(line)
            acts[rec["n"]] = rec["action"]
    assert all(n in acts for n in range(first, last + 1)), "the relay missed datagrams"
    return collections.Counter(acts[n] for n in range(first, last + 1))


def test_send_recv_across_the_lab_counts_every_datagram(lab):
    port = next(_ports)
    recv = _receiver(lab, port)
    sent = _send(lab, lab.addr("dst"), port, "--rate", "5000", "-n", "5000", "-l", "64")
    report = json.loads(recv.communicate(timeout=10)[0].splitlines()[0])
    assert report["sent"] == sent["sender"]["sent"] == 5000
    assert report["received"] == 5000 and report["lost"] == 0
    assert report["duplicates"] == report["reordered"] == 0
    # the sender printed the receiver's report: the same one the receiver printed
    assert {k: sent[k] for k in ("sent", "received", "jitter_ms")} == {
        k: report[k] for k in ("sent", "received", "jitter_ms")
    }
    # pacing: the measured rate holds the asked one within 2 %
    assert abs(sent["sender"]["rate_pps"] - 5000) / 5000 < 0.02


@pytest.mark.parametrize(
    ("impair", "seed"),
    [
        (["--loss", "0.03"], 11),
        (["--dup", "0.03"], 12),
        (["--reorder", "0.03", "--gap", "3"], 13),
        (["--loss", "0.02", "--dup", "0.02", "--reorder", "0.02", "--gap", "2"], 14),
    ],
    ids=["loss", "dup", "reorder", "all-three"],
)
def test_receiver_counts_equal_what_the_relay_did(lab, tmp_path, impair, seed):
    port = next(_ports)
    log = tmp_path / "relay.jsonl"
    recv = _receiver(lab, port)
    relay = _relay(lab, port, log, "--seed", str(seed), *impair)
    try:
        sent = _send(lab, lab.addr("r1"), port, "--rate", "20000", "-n", str(N), "-l", "64")
        report = json.loads(recv.communicate(timeout=10)[0].splitlines()[0])
    finally:
        _stop(relay)
    truth = _truth(log, 0, N - 1)  # datagram n of the relay is data packet n
    assert report["sent"] == N
    assert report["lost"] == truth["drop"]
    assert report["duplicates"] == truth["dup"]
    assert report["reordered"] == truth["reorder"]
    assert report["loss_cause"] == ("path" if truth["drop"] else "none")
    if impair[0] == "--reorder":  # each held datagram was overtaken by exactly K others
        assert report["reorder_extent_max"] >= 3
    assert sent["sender"]["sent"] == N


def test_garbage_datagrams_are_counted_as_foreign_and_change_nothing_else(lab):
    port = next(_ports)
    recv = _receiver(lab, port)
    garbage = [
        b"",
        b"x",
        b"NDut",
        b"\x00" * 100,
        b"NDut\x02" + b"\x00" * 40,  # bad version
        b"NDut\x01\x07" + b"\x00" * 40,  # unknown kind
        build(END, 1, 10, 0),
    ]  # an END without its body
    garbage += [os.urandom(n) for n in range(1, 44)]
    sender = threading.Thread(
        target=lambda: results.append(
            _send(lab, lab.addr("dst"), port, "--rate", "2000", "-n", "2000", "-l", "64")
        )
    )
    results: list[dict] = []
    sender.start()
    time.sleep(0.4)
    with in_netns(lab.src.netns):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for g in garbage:
                s.sendto(g, (lab.addr("dst"), port))
    sender.join(30)
    report = json.loads(recv.communicate(timeout=10)[0].splitlines()[0])
    assert report["foreign"] == len(garbage)
    assert (report["sent"], report["received"], report["lost"]) == (2000, 2000, 0)
    assert report["duplicates"] == report["reordered"] == 0


def _tcp_forwarder(netns, listen, to, stop):
    """iperf3's control connection through r1 (the relay is UDP only): a bounded splice."""

    def pump(a, b):
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def serve():
        with in_netns(netns):
            server = socket.create_server(listen)
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                upstream = socket.create_connection(to, timeout=5)
                upstream.settimeout(None)
                threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
                threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
            server.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return t


def test_iperf3_through_the_relay_analyzed_from_a_capture(lab, tmp_path, require_tool):
    iperf3 = require_tool("iperf3")
    tcpdump = require_tool("tcpdump")
    port = next(_ports)
    log, pcap = tmp_path / "relay.jsonl", tmp_path / "iperf3.pcap"
    dst_if = lab.node("dst").interfaces[0].name
    server = lab.popen(
        "dst", [iperf3, "-s", "-1", "-J", "-p", str(port)], stdout=subprocess.PIPE, text=True
    )
    cap = lab.popen(
        "dst",
        [tcpdump, "-i", dst_if, "-U", "-n", "-w", str(pcap), "udp", "port", str(port)],
        stderr=subprocess.PIPE,
    )
    _wait_udp_port(lab, "dst", port, proto="t")
    relay = _relay(
        lab,
        port,
        log,
        "--seed",
        "21",
        "--spare",
        "1",
        "--loss",
        "0.02",
        "--dup",
        "0.02",
        "--reorder",
        "0.02",
        "--gap",
        "2",
        "--hold",
        "50",
    )
    stop = threading.Event()
    _tcp_forwarder(lab.node("r1").netns, (lab.addr("r1"), port), (lab.addr("dst"), port), stop)
    time.sleep(0.5)  # tcpdump opens its capture
    try:
        client = lab.exec(
            "src",
            [
                iperf3,
                "-c",
                lab.addr("r1"),
                "-p",
                str(port),
                "-u",
                "-b",
                "3.2M",
                "-l",
                "200",
                "-k",
                str(N),
                "-J",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert client.returncode == 0, client.stdout[-500:]
        theirs = json.loads(server.communicate(timeout=20)[0])["end"]["streams"][0]["udp"]
    finally:
        stop.set()
        time.sleep(0.3)
        _stop(relay)
        cap.send_signal(signal.SIGINT)
        cap.communicate(timeout=10)
    out = subprocess.run(
        [*PY, "udp", "analyze", str(pcap), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    flows = [f for f in json.loads(out.stdout)["flows"] if f["format"] == "iperf3"]
    assert len(flows) == 1
    ours = flows[0]
    # relay datagram 0 is iperf3's 4-byte stream setup; datagram n is iperf3 sequence n
    last = ours["sent"]  # iperf3 numbers from 1: the highest number seen
    truth = _truth(log, 1, last)
    assert ours["lost"] == truth["drop"]
    assert ours["duplicates"] == truth["dup"]
    assert ours["reordered"] == truth["reorder"]

    # iperf3's own receiver, emulated, agrees with iperf3's printed counts. Those come
    # from its socket, ours from dst's capture tap: on a loaded 2-core host the two can
    # see a few datagrams in another order (the relay's CPU pinning makes it rare, not
    # impossible), so they agree within 3 % (CI once saw 376 against 385); the relay's
    # log, above and below, is held exactly.
    def near(a: int, b: int) -> bool:
        return abs(a - b) <= max(2, 0.03 * max(a, b))

    assert near(ours["out_of_order_iperf3"], theirs["out_of_order"]), (ours, theirs)
    assert near(ours["lost_iperf3"], theirs["lost_packets"]), (ours, theirs)
    # where they differ: iperf3 counts every duplicate and every late datagram as
    # "out of order" and nets them against its gap-based loss count
    assert ours["out_of_order_iperf3"] == truth["dup"] + truth["reorder"]
    assert ours["lost_iperf3"] <= ours["lost"]
