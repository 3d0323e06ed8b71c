"""``netdiag ping --tcp PORT`` and ``--udp PORT`` in the namespace lab.

References: tcpdump at the far end (what really went over the wire: our SYN, the
target's SYN-ACK or RST), the responders the tests start in ``dst`` (they count
what they answered), and iputils ping for which router a small TTL expires at.
Every run is bounded (-c and -W/-w); responders and captures die on their own.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.ping.test_ping import iputils_ping, netdiag_ping

TIMEOUT = 20
OPEN, CLOSED = 8080, 8081

# Responders with a bounded lifetime: they print "ready", serve, and exit.
TCP_LISTENER = """
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(16)
print("ready", flush=True)
time.sleep(15)
"""
UDP_ECHO = """
import socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port)); s.settimeout(0.5)
print("ready", flush=True)
echoed, end = 0, time.monotonic() + 15
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(65535)
    except TimeoutError:
        if echoed:
            break
        continue
    s.sendto(data, peer); echoed += 1
print("echoed", echoed, flush=True)
"""


def start(lab, node: str, code: str, *argv: str) -> subprocess.Popen[str]:
    proc = lab.popen(node, [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


class Tcpdump:
    """tcpdump -n in ``node`` for at most 15 s; ``stop()`` returns its lines."""

    def __init__(self, lab, node: str, expr: str) -> None:
        self.proc = lab.popen(
            node,
            [
                "timeout",
                "15",
                "tcpdump",
                "-n",
                "-l",
                "-i",
                "any",
                "--immediate-mode",
                expr,
            ],  # fmt: skip
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # wait until it listens
            if "listening on" in line:
                break

    def stop(self) -> list[str]:
        time.sleep(0.5)  # let it read the last packets: on SIGINT it stops at once
        self.proc.send_signal(signal.SIGINT)
        out, _err = self.proc.communicate(timeout=TIMEOUT)
        return out.splitlines()


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_tcp_ping_says_open_for_a_listener_and_closed_for_a_closed_port(lab, family, require_tool):
    require_tool("tcpdump")
    dst = lab.addr("dst", family)
    listener = start(lab, "dst", TCP_LISTENER, dst, str(OPEN))
    wire = Tcpdump(lab, "dst", f"tcp and (port {OPEN} or port {CLOSED})")
    try:
        status, out = netdiag_ping(lab, f"-{family}", "--tcp", str(OPEN), "-c", "3", "-i", "0.05",
                                   "-w", "5", dst)  # fmt: skip
        closed_status, closed = netdiag_ping(lab, f"-{family}", "--tcp", str(CLOSED), "-c", "2",
                                             "-i", "0.05", "-w", "5", dst)  # fmt: skip
    finally:
        seen = wire.stop()
        listener.kill()
    # tcpdump's verdict at the target: 3 SYNs answered by SYN-ACK, 2 by RST
    to_open = [x for x in seen if f".{OPEN}: Flags [S]," in x]
    from_open = [x for x in seen if re.search(rf"\.{OPEN} > .*: Flags \[S\.\],", x)]
    rst_closed = [x for x in seen if re.search(rf"\.{CLOSED} > .*: Flags \[R\.\],", x)]
    assert (len(to_open), len(from_open), len(rst_closed)) == (3, 3, 2), seen
    assert status == 0, out
    who = dst if family == 4 else f"[{dst}]"
    for seq in (1, 2, 3):
        assert re.search(rf"^\d+ bytes from {re.escape(who)}:{OPEN}: tcp_seq={seq} open "
                         r"\(SYN-ACK\) ttl=60 time=[\d.]+ ms$", out, re.M), out  # fmt: skip
    assert "3 packets transmitted, 3 received, 0% packet loss" in out
    assert closed_status == 0, closed  # an RST is an answer: the host is up
    for seq in (1, 2):
        assert f"{who}:{CLOSED}: tcp_seq={seq} closed (RST) ttl=60 time=" in closed
    assert "2 packets transmitted, 2 received, 0% packet loss" in closed


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_udp_ping_to_a_closed_port_is_answered_by_port_unreachable(lab, family, require_tool):
    require_tool("tcpdump")
    dst = lab.addr("dst", family)
    wire = Tcpdump(lab, "src", "icmp or icmp6")
    try:
        status, out = netdiag_ping(lab, f"-{family}", "--udp", "9", "-c", "2", "-i", "0.05",
                                   "-w", "5", dst)  # fmt: skip
    finally:
        seen = wire.stop()
    # tcpdump's words for the target's answer
    said = f"{dst} udp port 9 unreachable" if family == 4 else "unreachable port"
    assert len([x for x in seen if said in x]) == 2, seen
    assert status == 0, out
    who = dst if family == 4 else f"[{dst}]"
    for seq in (1, 2):
        assert f"from {who}:9: udp_seq={seq} closed (port unreachable) ttl=60 time=" in out
    assert "2 packets transmitted, 2 received, 0% packet loss" in out


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_udp_ping_to_an_echo_responder_is_open_once_per_datagram_echoed(lab, family):
    dst = lab.addr("dst", family)
    echo = start(lab, "dst", UDP_ECHO, dst, "7007")
    status, out = netdiag_ping(lab, f"-{family}", "--udp", "7007", "-c", "3", "-i", "0.05",
                               "-s", "32", "-w", "5", dst)  # fmt: skip
    rest, _ = echo.communicate(timeout=TIMEOUT)
    assert rest.split() == ["echoed", "3"]  # the responder's own count
    assert status == 0, out
    who = dst if family == 4 else f"[{dst}]"
    for seq in (1, 2, 3):
        assert f"40 bytes from {who}:7007: udp_seq={seq} open (data) ttl=60 time=" in out
    assert "3 packets transmitted, 3 received, 0% packet loss" in out


@pytest.mark.root
@pytest.mark.parametrize("family, text", [(4, "Time to live exceeded"),
                                          (6, "Time exceeded: Hop limit")])  # fmt: skip
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_small_ttl_on_tcp_and_udp_probes_reports_time_exceeded_from_r2(lab, family, text, proto):
    dst = lab.addr("dst", family)
    ref_status, ref = iputils_ping(lab, f"-{family}", "-c", "1", "-W", "1", "-t", "2", dst)
    router = lab.addr("r2", family)
    assert f"From {router} icmp_seq=1 {text}" in ref  # where iputils' probe expires
    status, out = netdiag_ping(lab, f"-{family}", f"--{proto}", "8080", "-c", "2", "-i", "0.05",
                               "-W", "1", "-t", "2", dst)  # fmt: skip
    assert status == ref_status == 1, out
    for seq in (1, 2):
        assert f"From {router} {proto}_seq={seq} {text}" in out.splitlines()
    assert "2 packets transmitted, 0 received, +2 errors, 100% packet loss" in out


@pytest.mark.root
def test_json_replies_carry_the_port_state(lab):
    import json

    status, out = netdiag_ping(lab, "--json", "--tcp", str(CLOSED), "-c", "1", "-w", "5",
                               lab.addr("dst"))  # fmt: skip
    doc = json.loads(out)
    assert status == 0
    assert (doc["protocol"], doc["port"], doc["transmitted"], doc["received"]) == (
        "tcp", CLOSED, 1, 1)  # fmt: skip
    [reply] = doc["replies"]
    assert set(reply) == {"seq", "from", "ttl", "rtt_ms", "dup", "state"}
    assert (reply["seq"], reply["from"], reply["state"]) == (1, lab.addr("dst"), "closed")


def test_bad_ports_are_one_line_and_exit_2():
    from netdiag.cli import main

    for argv in (["--tcp", "0"], ["--udp", "70000"], ["--tcp", "80", "--udp", "53"]):
        assert main(["ping", *argv, "198.18.4.2"]) == 2
