"""Real TCP connections for the analysis tests, between two lab namespaces.

``python tcpan_traffic.py server ADDR ADDR6`` (in dst) and ``python
tcpan_traffic.py client ADDR ADDR6`` (in src). The kernel's own TCP makes every
segment; the ports say what each connection shows:

- 5001: a bulk transfer of ``BULK`` bytes (the test drops some of its packets
  in a router: retransmissions, duplicate ACKs, SACK, out-of-order);
- 5002: a receiver that does not read for a while (zero window, probes,
  window full, window update);
- 5003: an idle connection with keep-alives every second;
- 5004: a connection the client aborts (RST);
- 5005: a smaller bulk transfer over IPv6 (the router drops some of it too).

Everything is bounded: each socket has a timeout, the server stops after its
connections or ``DEADLINE`` seconds.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

BULK = 600_000
ZW_BYTES = 300_000
DEADLINE = 25.0
BULK6 = 200_000
PORTS = (5001, 5002, 5003, 5004)


def _drain(conn: socket.socket) -> int:
    n = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return n
        n += len(chunk)


def _serve(listener: socket.socket, port: int) -> None:
    conn, _ = listener.accept()
    conn.settimeout(DEADLINE)
    with conn:
        try:
            if port == 5002:
                time.sleep(1.5)  # not reading: the window closes
            _drain(conn)
        except (ConnectionResetError, TimeoutError):
            pass


def server(addr: str, addr6: str) -> None:
    threads = []
    for port in (*PORTS, 5005):
        family = socket.AF_INET6 if port == 5005 else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if port == 5002:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.bind((addr6 if port == 5005 else addr, port))
        s.listen(1)
        s.settimeout(DEADLINE)
        t = threading.Thread(target=_serve, args=(s, port), daemon=True)
        t.start()
        threads.append(t)
    print("ready", flush=True)
    end = time.monotonic() + DEADLINE
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))


def _connect(addr: str, port: int, **opts: int) -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    if opts.get("keepalive"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
    s.connect((addr, port))
    return s


def client(addr: str, addr6: str) -> None:
    with _connect(addr, 5001) as s:
        s.sendall(b"x" * BULK)
        s.shutdown(socket.SHUT_WR)
        _drain(s)
    with _connect(addr, 5002) as s:
        s.sendall(b"z" * ZW_BYTES)
        s.shutdown(socket.SHUT_WR)
        _drain(s)
    with _connect(addr, 5003, keepalive=1) as s:
        s.sendall(b"hello")
        time.sleep(3.5)  # idle: keep-alive probes at 1 s, then every 1 s
    s = _connect(addr, 5004)
    s.sendall(b"r" * 1000)
    time.sleep(0.1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # linger 0: the connection ends with RST
    with _connect(addr6, 5005) as s:
        s.sendall(b"6" * BULK6)
        s.shutdown(socket.SHUT_WR)
        _drain(s)
    print("done", flush=True)


if __name__ == "__main__":
    {"server": server, "client": client}[sys.argv[1]](sys.argv[2], sys.argv[3])
