"""Write the TLS captures of captures/tls/: real OpenSSL handshakes, captured by netdiag.

Each scenario runs Python's ``ssl`` (OpenSSL) server and client over the loopback
interface of a network namespace of its own (so nothing else on the host is
captured and port 443 is free), and ``netdiag sniff -i lo -w FILE 'tcp port 443'``
writes what crossed it. The certificate is a self-signed P-256 one for
``example.com`` made with ``openssl req`` for the run. Needs root (namespaces,
capture). Run from the repository root:

    sudo .venv/bin/python captures/make_tls_captures.py [OUTDIR]

Unlike captures/make_captures.py the files are not byte-identical from run to
run (TLS randoms, keys and timestamps differ); the tests check what they show,
with tshark as the reference, not their bytes. The scenarios:

- ``tls13.pcap``: TLS 1.3, SNI example.com, ALPN h2,http/1.1 (the server picks h2),
  one request and answer as application data, then close_notify both ways.
- ``tls12.pcap``: the same client against a server capped at TLS 1.2 that
  offers only http/1.1 and the cipher ECDHE-ECDSA-AES128-GCM-SHA256.
- ``tls13-split.pcap``: TLS 1.3 with the client's MSS set to 200 (TCP_MAXSEG; both
  sides then send segments of at most 200 bytes, segmentation offloads being off),
  so the ClientHello, the server's flight and its certificate span several segments.
- ``tls12-alert.pcap``: a TLS 1.2 client that verifies the self-signed
  certificate, fails, and sends a fatal ``unknown_ca`` alert.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETDIAG = [sys.executable, "-m", "netdiag"]
PORT = 443
ADDR = "127.0.0.1"
SNI = "example.com"
SCENARIOS = ("tls13", "tls12", "tls13-split", "tls12-alert")


def _server(sock: socket.socket, ctx: ssl.SSLContext, done: threading.Event) -> None:
    conn, _ = sock.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            data = tls.recv(1024)
            tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok" if data else b"")
            tls.unwrap()
    except (ssl.SSLError, OSError):
        pass  # the alert scenario: the client gives up during the handshake
    finally:
        conn.close()
        done.set()


def run_scenario(name: str, cert: str, key: str) -> None:
    """Inside the namespace: one handshake on loopback (the capture runs around it)."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.set_alpn_protocols(["h2", "http/1.1"])
    if name in ("tls12", "tls12-alert"):
        sctx.maximum_version = ssl.TLSVersion.TLSv1_2
        sctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
        sctx.set_alpn_protocols(["http/1.1"])
    else:
        sctx.set_alpn_protocols(["h2", "http/1.1"])
    if name == "tls12-alert":
        cctx.verify_mode = ssl.CERT_REQUIRED  # no CA loaded: the self-signed cert fails
    lsock = socket.create_server((ADDR, PORT))
    done = threading.Event()
    threading.Thread(target=_server, args=(lsock, sctx, done), daemon=True).start()
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if name == "tls13-split":
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 200)
    raw.settimeout(5)
    raw.connect((ADDR, PORT))
    try:
        with cctx.wrap_socket(raw, server_hostname=SNI) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nhost: example.com\r\n\r\n")
            tls.recv(1024)
            tls.unwrap()
    except (ssl.SSLError, OSError):
        pass
    finally:
        raw.close()
    done.wait(5)
    lsock.close()


def inside(outdir: Path, cert: str, key: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Without segmentation offloads the kernel cuts segments at the MSS itself, so
    # the capture sees them as a wire would (lo passes GSO super-segments whole).
    subprocess.run(["ethtool", "-K", "lo", "tso", "off", "gso", "off"], check=True,
                   capture_output=True)  # fmt: skip
    for name in SCENARIOS:
        out = outdir / f"{name}.pcap"
        sniff = subprocess.Popen(
            [
                *NETDIAG,
                "sniff",
                "-i",
                "lo",
                "-Q",
                "in",
                "--duration",
                "20",
                "-w",
                str(out),
                "tcp port 443",
            ]
        )
        try:
            time.sleep(1.0)  # the ring and its filter are in place well before this
            run_scenario(name, cert, key)
            time.sleep(0.3)
        finally:
            sniff.send_signal(signal.SIGTERM)
            sniff.wait(10)


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "--inside":
        inside(Path(argv[2]), argv[3], argv[4])
        return 0
    outdir = Path(argv[1]).resolve() if len(argv) > 1 else HERE / "tls"
    outdir.mkdir(parents=True, exist_ok=True)
    ns = f"nd-tlscap-{os.getpid()}"
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = f"{tmp}/cert.pem", f"{tmp}/key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", f"/CN={SNI}", "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )  # fmt: skip
        subprocess.run(["ip", "netns", "add", ns], check=True)
        try:
            env = dict(os.environ, PYTHONPATH=str(HERE.parent))
            subprocess.run(
                ["ip", "netns", "exec", ns, sys.executable, __file__, "--inside", str(outdir),
                 cert, key],
                check=True, env=env, timeout=120,
            )  # fmt: skip
        finally:
            subprocess.run(["ip", "netns", "del", ns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
