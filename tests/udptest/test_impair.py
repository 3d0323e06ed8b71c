"""``netdiag impair`` as a process: clean shutdown on SIGINT and SIGTERM, bounded queue.

On loopback only (the traffic rule; root only for a big receive buffer): the test
is both sender and far side. Each datagram carries its index, so what reached the
far side can be checked against the relay's own --log, datagram by datagram (the
log is the reference the other relay tests rely on; here we check that it is
complete and true after a signal).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.root  # SO_RCVBUFFORCE on the far side; loopback only, no lab

PY = [sys.executable, "-m", "netdiag"]
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.dirname(__file__)))}
LOOP = "127.0.0.1"
IDX = struct.Struct("!I")
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux socket(7); Python lacks the name


class FarSide:
    """A UDP socket on loopback that drains in a thread and keeps each datagram's index."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # the relay flushes everything it holds at once when signalled: room for all of it
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 16 << 20)
        self.sock.bind((LOOP, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.got: list[int] = []
        self.sizes: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.got.append(IDX.unpack_from(data)[0])
            self.sizes.append(len(data))

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # and nothing more than that arrives
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOP, 0))
        return int(s.getsockname()[1])


def _start_relay(far: FarSide, log, *impair: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [*PY, "impair", "--listen", f"{LOOP}:{port}", "--to", f"{LOOP}:{far.port}"]
        + ["--log", str(log), *impair],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert "relaying" in line, line + (proc.stderr.read() if proc.stderr else "")
    return proc, port


def _send(port: int, count: int, size: int = 64) -> None:
    """A bounded stream to the relay on loopback: ``count`` datagrams, index first."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for k in range(count):
            s.sendto(IDX.pack(k).ljust(size, b"\0"), (LOOP, port))
            if k % 50 == 49:
                time.sleep(0.002)  # let the relay drain: its loss must be its own choice


def _read_log(log) -> list[dict]:
    with open(log) as f:
        return [json.loads(line) for line in f]  # every line is one JSON object


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_relay_stops_cleanly_on_a_signal_with_a_complete_log(tmp_path, sig):
    # Impair everything, with a long hold and a delay, so that when the signal comes
    # datagrams are still held back (reorder) and in flight (delay): shutdown must
    # send them on and log them, not lose them.
    n = 2000
    far = FarSide()
    log = tmp_path / "relay.jsonl"
    relay, port = _start_relay(
        far,
        log,
        *("--seed", "7", "--loss", "0.05", "--dup", "0.05", "--reorder", "0.05"),
        *("--gap", "3", "--hold", "60000", "--delay", "300", "--jitter", "100"),
    )
    _send(port, n)
    time.sleep(0.1)  # the last datagrams are now held or delayed in the relay
    relay.send_signal(sig)
    out, err = relay.communicate(timeout=10)
    assert relay.returncode == 0  # the documented status of a relay stopped by a signal
    assert err == ""  # nothing on stderr, so no traceback
    records = _read_log(log)
    assert sorted(r["n"] for r in records) == list(range(n))  # one line per datagram
    assert all(r["action"] in ("forward", "drop", "dup", "reorder") for r in records)
    assert all(isinstance(r["delay_ms"], float | int) for r in records)
    acts = collections.Counter(r["action"] for r in records)
    summary = out.strip().splitlines()[-1]
    assert summary.startswith(f"impair: {n} datagrams from the sender side")
    for action, count in acts.items():
        assert f"{action} {count}" in summary
    # what reached the far side is exactly what the log says was sent on
    copies = {"drop": 0, "forward": 1, "reorder": 1, "dup": 2}
    expected = collections.Counter({r["n"]: copies[r["action"]] for r in records})
    far.wait_for(sum(expected.values()))
    assert collections.Counter(far.got) == +expected
    assert acts["drop"] > 0 and acts["dup"] > 0 and acts["reorder"] > 0


def test_relay_queue_is_bounded_in_datagrams(tmp_path):
    # Every datagram is delayed 10 s, so each one waits in the queue; with --queue 100
    # the 101st and later are dropped (and logged as such) instead of piling up.
    far = FarSide()
    log = tmp_path / "relay.jsonl"
    relay, port = _start_relay(far, log, "--delay", "10000", "--queue", "100")
    _send(port, 300)
    time.sleep(0.2)
    relay.send_signal(signal.SIGTERM)
    _out, err = relay.communicate(timeout=10)
    assert (relay.returncode, err) == (0, "")
    records = sorted(_read_log(log), key=lambda r: r["n"])
    assert [r["action"] for r in records] == ["forward"] * 100 + ["drop"] * 200
    assert all(r.get("reason") == "queue full" for r in records[100:])
    far.wait_for(100)
    assert sorted(far.got) == list(range(100))  # the queued ones were flushed at the signal


def test_relay_queue_is_bounded_in_bytes(tmp_path):
    # 1000-byte datagrams, all delayed, at most 5000 bytes queued: five wait, the rest drop
    far = FarSide()
    log = tmp_path / "relay.jsonl"
    relay, port = _start_relay(far, log, "--delay", "10000", "--queue-bytes", "5000")
    _send(port, 20, size=1000)
    time.sleep(0.2)
    relay.send_signal(signal.SIGINT)
    _out, err = relay.communicate(timeout=10)
    assert (relay.returncode, err) == (0, "")
    records = sorted(_read_log(log), key=lambda r: r["n"])
    assert [r["action"] for r in records] == ["forward"] * 5 + ["drop"] * 15
    far.wait_for(5)
    assert sorted(far.got) == list(range(5)) and set(far.sizes) == {1000}


@pytest.mark.parametrize(
    "args",
    [["--loss", "2"], ["--queue", "0"], ["--gap", "0"], ["--delay", "1", "--jitter", "5"]],
    ids=["loss>1", "queue=0", "gap=0", "jitter>delay"],
)
def test_relay_rejects_bad_options_on_one_line(args):
    out = subprocess.run(
        [*PY, "impair", "--listen", f"{LOOP}:9", "--to", f"{LOOP}:9", *args],
        capture_output=True,
        text=True,
        timeout=20,
        env=ENV,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("netdiag: ") and out.stderr.count("\n") == 1
