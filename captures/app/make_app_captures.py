"""Write the application-layer captures of captures/app/ (issue 15; see README.md there).

Two files:

- ``lab.pcap`` (needs root): real peers in a network namespace of our own,
  captured on its loopback by ``netdiag sniff -Q in`` (each packet once):
  ``dig`` (bind9-dnsutils) over UDP and TCP against a small DNS responder
  written here (answers built with ``netdiag.packets.dns``: A, AAAA, CNAME, MX,
  TXT, SRV, SOA, NXDOMAIN), two queries it leaves unanswered, and ``curl``
  against Python's ``http.server`` (a small page, a 20 kB body in several
  segments, a HEAD, a 404). Not byte-for-byte reproducible (ports, ids, times
  are the peers'); the tests compare it with tshark and tcpdump, not with a
  copy of itself.
- ``dns-tcp-split.pcap`` (with it): two ``dig +tcp`` queries whose replies the
  responder writes in three segments each (length prefix, 20 bytes, the rest),
  for the reassembly of DNS over TCP.
- ``scapy.pcap``: packets crafted by scapy (the reference, not our
  builders) for what has no peer here: mDNS and LLMNR queries and responses, a
  DHCP DORA with relay agent information, DHCPv6 solicit/advertise with IA_NA
  and IA_PD, NTP client/server. Deterministic: fixed times, addresses, ids.

Run from the repository root: ``.venv/bin/python captures/app/make_app_captures.py [DIR]``
(``--scapy-only`` skips the lab capture).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from netdiag.packets import dns  # noqa: E402

NETNS = f"ndapp{os.getpid()}"
ZONE = {
    ("www.example.test.", 1): [dns.Record("www.example.test.", 1, 1, 300, 4, "192.0.2.80"),
                               dns.Record("www.example.test.", 1, 1, 300, 4, "192.0.2.81")],
    ("www.example.test.", 28): [dns.Record("www.example.test.", 28, 1, 300, 16, "2001:db8::80")],
    ("alias.example.test.", 1): [
        dns.Record("alias.example.test.", 5, 1, 60, 0, "www.example.test."),
        dns.Record("www.example.test.", 1, 1, 300, 4, "192.0.2.80"),
    ],
    ("example.test.", 15): [dns.Record("example.test.", 15, 1, 300, 0, (10, "mx.example.test."))],
    ("example.test.", 16): [dns.Record("example.test.", 16, 1, 300, 0, ("v=spf1 -all", "hi"))],
    ("_http._tcp.example.test.", 33): [
        dns.Record("_http._tcp.example.test.", 33, 1, 300, 0, (1, 5, 80, "www.example.test."))
    ],
}  # fmt: skip
SOA = dns.Record(
    "example.test.", 6, 1, 300, 0,
    ("ns.example.test.", "admin.example.test.", 2024010101, 3600, 600, 86400, 300),
)  # fmt: skip


def answer(query: bytes) -> bytes | None:
    """The response to ``query``; None (no answer) for names under ``drop.``."""
    q = dns.decode(query)
    question = q.questions[0]
    if question.name.lower().endswith("drop.example.test."):
        return None
    key = (question.name.lower(), question.qtype)
    found = tuple(ZONE.get(key, ()))
    rcode = 0 if found or any(k[0] == key[0] for k in ZONE) else 3
    auth = () if found else (SOA,)
    opt = q.edns
    add = (dns.Record(".", 41, 1232, 0, 0, ()),) if opt is not None else ()
    m = dns.Message(
        q.id, 0x8400 | (q.flags & 0x0100) | rcode, 1, len(found), len(auth), len(add),
        q.questions, found, auth, add, 0,
    )  # fmt: skip
    return dns.build(m)


def serve_dns(stop: threading.Event, split: threading.Event) -> None:
    """Answer on UDP and TCP port 53 until ``stop``; with ``split`` set, a TCP reply
    goes out in three segments (the length prefix, 20 bytes, the rest)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 53))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("127.0.0.1", 53))
    t.listen(4)
    u.settimeout(0.1)
    t.settimeout(0.1)
    while not stop.is_set():
        try:
            data, peer = u.recvfrom(4096)
            reply = answer(data)
            if reply is not None:
                u.sendto(reply, peer)
        except TimeoutError:
            pass
        try:
            c, _ = t.accept()
        except TimeoutError:
            continue
        with c:
            c.settimeout(2)
            n = int.from_bytes(c.recv(2), "big")
            body = b""
            while len(body) < n:
                body += c.recv(n - len(body))
            reply = answer(body)
            if reply is None:
                continue
            wire = len(reply).to_bytes(2, "big") + reply
            if not split.is_set():
                c.sendall(wire)
                continue
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for part in (wire[:2], wire[2:22], wire[22:]):
                c.sendall(part)
                time.sleep(0.05)


def lab_capture(out: Path) -> None:
    """Run the responder, http.server, dig and curl inside a namespace; sniff its loopback."""
    if os.geteuid() != 0:
        raise SystemExit("lab.pcap needs root (a network namespace); try --scapy-only")
    if "--inside" not in sys.argv:
        subprocess.run(["ip", "netns", "add", NETNS], check=True)
        try:
            subprocess.run(
                ["ip", "netns", "exec", NETNS, sys.executable, __file__, "--inside", str(out)],
                check=True,
                timeout=120,
            )
        finally:
            subprocess.run(["ip", "netns", "del", NETNS], check=False)
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    stop, split = threading.Event(), threading.Event()
    th = threading.Thread(target=serve_dns, args=(stop, split), daemon=True)
    th.start()
    with tempfile.TemporaryDirectory() as www:
        Path(www, "index.html").write_text("<html><body>netdiag</body></html>\n")
        Path(www, "big.bin").write_bytes(bytes(range(256)) * 80)
        httpd = subprocess.Popen(
            [sys.executable, "-m", "http.server", "80", "--bind", "127.0.0.1", "-d", www],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        netdiag = [sys.executable, "-m", "netdiag"]
        sniff = subprocess.Popen(
            [*netdiag, "sniff", "-i", "lo", "-Q", "in", "--duration", "10", "-w", str(out),
             "port 53 or port 80"],
        )  # fmt: skip
        try:
            time.sleep(1.0)
            dig = ["dig", "@127.0.0.1", "+tries=1", "+time=2"]
            for args in (
                ["www.example.test", "A"],
                ["www.example.test", "AAAA"],
                ["alias.example.test", "A"],
                ["example.test", "MX"],
                ["example.test", "TXT"],
                ["_http._tcp.example.test", "SRV"],
                ["nothere.example.test", "A"],
                ["+noedns", "www.example.test", "A"],
                ["+tcp", "www.example.test", "A"],
                ["+tcp", "example.test", "MX"],
            ):
                subprocess.run([*dig, *args], stdout=subprocess.DEVNULL, timeout=10, check=True)
            # unanswered: the responder ignores these names (dig gives up after 1 s)
            for name in ("a.drop.example.test", "b.drop.example.test"):
                subprocess.run([*dig, "+time=1", name, "A"], stdout=subprocess.DEVNULL,
                               timeout=10, check=False)  # fmt: skip
            curl = ["curl", "-s", "-o", "/dev/null", "--max-time", "5"]
            for args in (
                ["http://127.0.0.1/"],
                ["http://127.0.0.1/big.bin"],
                ["-I", "http://127.0.0.1/index.html"],
                ["-H", "X-Test: 1", "http://127.0.0.1/missing"],
            ):
                subprocess.run([*curl, *args], timeout=10, check=False)
            sniff.wait(timeout=20)
            # DNS over TCP with each reply in three segments (reassembly)
            split.set()
            sniff = subprocess.Popen(
                [*netdiag, "sniff", "-i", "lo", "-Q", "in", "--duration", "4", "-w",
                 str(out.with_name("dns-tcp-split.pcap")), "tcp port 53"],
            )  # fmt: skip
            time.sleep(1.0)
            for args in (["www.example.test", "A"], ["example.test", "TXT"]):
                subprocess.run([*dig, "+tcp", *args], stdout=subprocess.DEVNULL, timeout=10,
                               check=True)  # fmt: skip
        finally:
            sniff.wait(timeout=20)
            httpd.terminate()
            httpd.wait(timeout=5)
            stop.set()
            th.join(timeout=2)


def scapy_capture(out: Path) -> None:
    from scapy.all import (  # type: ignore[import-untyped]
        BOOTP,
        DHCP,
        DNS,
        DNSQR,
        DNSRR,
        DUID_LL,
        DUID_LLT,
        IP,
        NTP,
        UDP,
        DHCP6_Advertise,
        DHCP6_Solicit,
        DHCP6OptClientId,
        DHCP6OptElapsedTime,
        DHCP6OptIA_NA,
        DHCP6OptIA_PD,
        DHCP6OptIAAddress,
        DHCP6OptIAPrefix,
        DHCP6OptServerId,
        Ether,
        IPv6,
        wrpcap,
    )

    mac_c, mac_s = "02:00:00:00:00:0a", "02:00:00:00:00:01"
    chaddr = bytes.fromhex("02000000000a")
    e4 = Ether(src=mac_c, dst="ff:ff:ff:ff:ff:ff")
    r4 = Ether(src=mac_s, dst=mac_c)
    relay = b"\x01\x04port\x02\x06\x02\x00\x00\x00\x00\x01"
    pkts = [
        # mDNS (RFC 6762): a QU question and a cache-flush answer; LLMNR (RFC 4795)
        Ether(src=mac_c, dst="01:00:5e:00:00:fb") / IP(src="192.0.2.10", dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / DNS(id=0, rd=0, qd=DNSQR(qname="printer.local", qtype="A", unicastresponse=1)),
        Ether(src=mac_s, dst="01:00:5e:00:00:fb") / IP(src="192.0.2.20", dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / DNS(id=0, qr=1, aa=1, rd=0, an=DNSRR(rrname="printer.local", type="A", rclass=0x8001,
                                               ttl=120, rdata="192.0.2.20")),
        Ether(src=mac_c, dst="01:00:5e:00:00:fc") / IP(src="192.0.2.10", dst="224.0.0.252")
        / UDP(sport=50000, dport=5355) / DNS(id=0x2222, rd=0, qd=DNSQR(qname="nas", qtype="A")),
        Ether(src=mac_s, dst=mac_c) / IP(src="192.0.2.30", dst="192.0.2.10")
        / UDP(sport=5355, dport=50000)
        / DNS(id=0x2222, qr=1, rd=0, qd=DNSQR(qname="nas", qtype="A"),
              an=DNSRR(rrname="nas", type="A", ttl=30, rdata="192.0.2.30")),
        # DHCP DORA (RFC 2131), the request relayed with option 82
        e4 / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
        / BOOTP(chaddr=chaddr, xid=0x3903F326, flags=0x8000)
        / DHCP(options=[("message-type", "discover"), ("requested_addr", "192.0.2.10"),
                        ("hostname", b"client1"), ("param_req_list", [1, 3, 6, 15, 51]),
                        ("client_id", b"\x01" + chaddr), "end"]),
        r4 / IP(src="192.0.2.1", dst="192.0.2.10") / UDP(sport=67, dport=68)
        / BOOTP(op=2, chaddr=chaddr, xid=0x3903F326, yiaddr="192.0.2.10", siaddr="192.0.2.1")
        / DHCP(options=[("message-type", "offer"), ("server_id", "192.0.2.1"),
                        ("lease_time", 3600), ("subnet_mask", "255.255.255.0"),
                        ("router", "192.0.2.1"), ("name_server", "192.0.2.53", "192.0.2.54"),
                        "end"]),
        e4 / IP(src="192.0.2.2", dst="192.0.2.1") / UDP(sport=67, dport=67)
        / BOOTP(chaddr=chaddr, xid=0x3903F326, hops=1, giaddr="192.0.2.2")
        / DHCP(options=[("message-type", "request"), ("requested_addr", "192.0.2.10"),
                        ("server_id", "192.0.2.1"), ("relay_agent_information", relay), "end"]),
        r4 / IP(src="192.0.2.1", dst="192.0.2.10") / UDP(sport=67, dport=68)
        / BOOTP(op=2, chaddr=chaddr, xid=0x3903F326, yiaddr="192.0.2.10")
        / DHCP(options=[("message-type", "ack"), ("server_id", "192.0.2.1"),
                        ("lease_time", 3600), ("renewal_time", 1800), "end"]),
        # DHCPv6 (RFC 8415) with IA_NA and IA_PD
        Ether(src=mac_c, dst="33:33:00:01:00:02") / IPv6(src="fe80::a", dst="ff02::1:2")
        / UDP(sport=546, dport=547)
        / DHCP6_Solicit(trid=0x123456)
        / DHCP6OptClientId(duid=DUID_LL(lladdr=mac_c)) / DHCP6OptElapsedTime(elapsedtime=0)
        / DHCP6OptIA_NA(iaid=1, T1=0, T2=0) / DHCP6OptIA_PD(iaid=2, T1=0, T2=0),
        Ether(src=mac_s, dst=mac_c) / IPv6(src="fe80::1", dst="fe80::a")
        / UDP(sport=547, dport=546)
        / DHCP6_Advertise(trid=0x123456)
        / DHCP6OptIA_NA(iaid=1, T1=1800, T2=2880, ianaopts=[
            DHCP6OptIAAddress(addr="2001:db8::10", preflft=3600, validlft=7200)])
        / DHCP6OptIA_PD(iaid=2, T1=1800, T2=2880, iapdopt=[
            DHCP6OptIAPrefix(prefix="2001:db8:100::", plen=56, preflft=3600, validlft=7200)])
        / DHCP6OptClientId(duid=DUID_LL(lladdr=mac_c))
        / DHCP6OptServerId(duid=DUID_LLT(lladdr=mac_s, timeval=700000000)),
        # NTP (RFC 5905): client and server
        Ether(src=mac_c, dst=mac_s) / IP(src="192.0.2.10", dst="192.0.2.123")
        / UDP(sport=40123, dport=123) / NTP(version=4, mode=3, sent=0, orig=0, recv=0,
                                            ref=0, precision=-20),
        Ether(src=mac_s, dst=mac_c) / IP(src="192.0.2.123", dst="192.0.2.10")
        / UDP(sport=123, dport=40123)
        / NTP(version=4, mode=4, stratum=2, poll=6, precision=-23, delay=0.0155,
              dispersion=0.0012, id="192.0.2.1", ref=3900000000.5, orig=3900000010.25,
              recv=3900000010.5, sent=3900000010.75),
    ]  # fmt: skip
    t0 = 1_700_000_000
    for i, p in enumerate(pkts):
        p.time = t0 + i * 0.01
    wrpcap(str(out), pkts)


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--inside" in sys.argv:
        lab_capture(Path(args[0]))
        return
    outdir = Path(args[0]) if args else HERE
    outdir.mkdir(parents=True, exist_ok=True)
    scapy_capture(outdir / "scapy.pcap")
    if "--scapy-only" not in sys.argv:
        lab_capture((outdir / "lab.pcap").resolve())


if __name__ == "__main__":
    main()
