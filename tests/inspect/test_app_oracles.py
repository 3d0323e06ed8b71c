"""The application layer against tshark (fields) and tcpdump (the line), per packet.

Files: the captures made from real peers and from scapy (``captures/app/*.pcap``,
see ``captures/app/make_app_captures.py``) and the public corpus fixtures that
``shared/notes/oracles.md`` names for DNS, DHCP, DHCPv6, NTP and HTTP. tshark runs
with ``TZ=UTC``, without TCP reassembly and without its heuristic dissectors, so
that it judges each packet alone by its ports, as netdiag does.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from netdiag.capture.files import read_capture
from netdiag.inspect.apptext import app_layer
from netdiag.inspect.text import TextFormatter
from netdiag.packets.dispatch import decode

CAPTURES = Path(__file__).resolve().parents[2] / "captures" / "app"
# Files whose tcpdump output is one line per packet (others print SOME/IP, DCB... on
# several lines), for the comparison of lines.
LINE_FILES = (
    "dns_udp.pcap", "dns_tcp.pcap", "dnssec.pcap", "edns-opts.pcap", "dns-badcookie.pcap",
    "dns-uri.pcap", "dhcp-rfc3004.pcap", "dhcp-mud.pcap", "dhcp-rfc4388.pcap",
    "dhcp-option-33.pcap", "dhcpv6-ia-na.pcap", "dhcpv6-ia-pd.pcap", "dhcpv6-ia-ta.pcap",
    "dhcpv4v6-rfc5970-rfc8572.pcap", "dhcpv6-vendor-specific-information.pcap", "ntp.pcap",
    "ntp-control.pcap", "print-flags.pcap", "ipv4_tcp_http_xml.pcap",
)  # fmt: skip
# Every corpus file where tshark finds DNS, mDNS, LLMNR, DHCP, DHCPv6, NTP or HTTP.
CORPUS_FILES = (
    "LINKTYPE_IPV4_invalid.pcap", "LINKTYPE_IPV6.pcap", "LINKTYPE_PKTAP.pcap",
    "LINKTYPE_RAW_ipv4.pcap", "LINKTYPE_USER2_PKTAP.pcap", "accecn_handshake.pcap",
    "arcnet-rfc1051-arp-icmp-http.pcap", "arcnet-rfc1201-arp-icmp-http.pcap", "bootp_asan-2.pcap",
    "dcb_ets.pcap", "dcb_qcn.pcap", "dhcp-mud.pcap", "dhcp-option-108.pcapng",
    "dhcp-option-33.pcap", "dhcp-rfc3004.pcap", "dhcp-rfc4388.pcap", "dhcp-rfc5859.pcap",
    "dhcpv4v6-rfc5970-rfc8572.pcap", "dhcpv6-AFTR-Name-RFC6334.pcap", "dhcpv6-domain-list.pcap",
    "dhcpv6-ia-na.pcap", "dhcpv6-ia-pd.pcap", "dhcpv6-ia-ta.pcap", "dhcpv6-ntp-server.pcap",
    "dhcpv6-vendor-specific-information.pcap", "dns-badcookie.pcap", "dns-badlabel.pcap",
    "dns-uri.pcap", "dns_fwdptr.pcap", "dns_tcp.pcap", "dns_udp.pcap", "dns_udp_2.pcap",
    "dns_udp_8053.pcap", "dnssec.pcap", "eapon1.pcap", "edns-opts.pcap", "ieee802.11_htc.pcap",
    "ip6-snmp-oid-unsigned.pcap", "ipv4_tcp_http_xml.pcap", "mptcp-aa-v1.pcap", "nflog.pcap",
    "ntp-control.pcap", "ntp.pcap", "print-flags.pcap", "rx_serviceid_oobr.pcap", "someip1.pcap",
    "time_2038_overflow.pcap", "time_2039.pcap", "time_2106.pcap", "time_2106_max.pcap",
    "time_2106_overflow.pcapng", "time_2107.pcapng",
)  # fmt: skip
FIELDS = (
    "dns.id", "dns.qry.name", "dns.qry.type", "dns.qry.class", "dns.flags.opcode",
    "dns.flags.rcode", "dns.flags.authoritative", "dns.count.answers", "dns.count.auth_rr",
    "dns.count.add_rr", "dns.resp.name", "dns.resp.type", "dns.resp.ttl", "dns.a", "dns.aaaa",
    "dns.cname", "dns.ns", "dns.ptr.domain_name", "dns.mx.mail_exchange", "dns.mx.preference",
    "dns.srv.port", "dns.srv.target", "dns.soa.mname", "dns.rr.udp_payload_size", "dns.opt.code",
    "dhcp.option.dhcp", "dhcp.hw.mac_addr", "dhcp.ip.your", "dhcp.ip.relay", "dhcp.id",
    "dhcp.flags.bc", "dhcp.option.requested_ip_address", "dhcp.option.dhcp_server_id",
    "dhcp.option.ip_address_lease_time", "dhcp.option.router", "dhcp.option.domain_name_server",
    "dhcp.option.hostname", "dhcp.option.request_list_item",
    "dhcpv6.msgtype", "dhcpv6.xid", "dhcpv6.duid.type", "dhcpv6.iaid", "dhcpv6.iaaddr.ip",
    "dhcpv6.iaprefix.pref_addr", "dhcpv6.iaprefix.pref_len", "dhcpv6.linkaddr",
    "dhcpv6.peeraddr",
    "ntp.flags.vn", "ntp.flags.mode", "ntp.stratum", "ntp.ppoll", "ntp.precision",
    "ntp.rootdelay", "ntp.rootdispersion", "ntp.refid",
    "http.request.method", "http.request.uri", "http.request.version", "http.response.code",
    "http.response.phrase", "http.host", "http.content_type", "http.content_length",
)  # fmt: skip


def _files(require_corpus: object, names: tuple[str, ...] = CORPUS_FILES) -> list[Path]:
    corpus = require_corpus()  # type: ignore[operator]
    return [CAPTURES / "lab.pcap", CAPTURES / "scapy.pcap"] + [corpus / f for f in names]


def tshark_rows(tshark: str, path: Path) -> list[dict[str, str]]:
    cmd = [tshark, "-n", "-r", str(path), "-o", "tcp.desegment_tcp_streams:FALSE",
           "--disable-heuristic", "dns_udp", "--disable-heuristic", "http_tcp",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]  # fmt: skip
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "UTC"}).stdout  # fmt: skip
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def _name(n: str) -> str:
    return "<Root>" if n == "." else n[:-1]


def _j(values: object) -> str:
    return ",".join(str(v) for v in values)  # type: ignore[attr-defined]


def _dns(rec: Any, name: str) -> dict[str, str]:
    mdns = name == "mdns"
    every = (*rec.answers, *rec.authority, *rec.additional)
    rrs = [r for r in every if r.rtype != 41]

    def data(t: int, k: int | None = None) -> str:
        return _j((r.data if k is None else r.data[k]) for r in every if r.rtype == t)

    def names(t: int, k: int | None = None) -> str:
        return _j(_name(r.data if k is None else r.data[k]) for r in every if r.rtype == t)

    return {
        "dns.id": f"0x{rec.id:04x}",
        "dns.qry.name": _j(_name(q.name) for q in rec.questions),
        "dns.qry.type": _j(q.qtype for q in rec.questions),
        "dns.qry.class": _j(f"0x{q.qclass & (0x7FFF if mdns else 0xFFFF):04x}"
                            for q in rec.questions),
        "dns.flags.opcode": str(rec.opcode),
        "dns.flags.rcode": str(rec.flags & 0xF) if rec.qr else "",  # tshark: responses only
        # LLMNR's bit there is C, conflict (RFC 4795 §2.1.1): tshark names it so
        "dns.flags.authoritative": str(int(rec.aa)) if rec.qr and name != "llmnr" else "",
        "dns.count.answers": str(rec.ancount),
        "dns.count.auth_rr": str(rec.nscount),
        "dns.count.add_rr": str(rec.arcount),
        # tshark files an SRV record's owner under dns.srv.name, not dns.resp.name
        "dns.resp.name": _j(_name(r.name) for r in every if r.rtype != 33),
        "dns.resp.type": _j(r.rtype for r in every),
        "dns.resp.ttl": _j(r.ttl for r in rrs),
        "dns.a": data(1),
        "dns.aaaa": data(28),
        "dns.cname": names(5),
        "dns.ns": names(2),
        "dns.ptr.domain_name": names(12),
        "dns.mx.mail_exchange": names(15, 1),
        "dns.mx.preference": data(15, 0),
        "dns.srv.port": data(33, 2),
        "dns.srv.target": names(33, 3),
        "dns.soa.mname": names(6, 0),
        "dns.rr.udp_payload_size": _j(r.rclass for r in every if r.rtype == 41),
        "dns.opt.code": _j(c for r in every if r.rtype == 41 for c, _ in r.data),
    }  # fmt: skip


def _dhcp(rec: Any) -> dict[str, str]:
    def ip(code: int) -> str:
        v = rec.option(code)
        return (
            "" if v is None else _j(".".join(map(str, v[i : i + 4])) for i in range(0, len(v), 4))
        )

    t = rec.message_type
    lease = rec.option(51)
    host = rec.option(12)
    plist = rec.option(55)
    return {
        "dhcp.option.dhcp": "" if t is None else str(t),
        "dhcp.hw.mac_addr": rec.client_mac or "",
        "dhcp.ip.your": rec.yiaddr,
        "dhcp.ip.relay": rec.giaddr,
        "dhcp.id": f"0x{rec.xid:08x}",
        "dhcp.flags.bc": str(int(rec.broadcast)),
        "dhcp.option.requested_ip_address": ip(50),
        "dhcp.option.dhcp_server_id": ip(54),
        "dhcp.option.ip_address_lease_time": "" if lease is None else str(int.from_bytes(lease)),
        "dhcp.option.router": ip(3),
        "dhcp.option.domain_name_server": ip(6),
        "dhcp.option.hostname": "" if host is None else host.decode("latin-1"),
        "dhcp.option.request_list_item": "" if plist is None else _j(plist),
    }


def _dhcp6(rec: Any) -> dict[str, str]:
    out: dict[str, list[str]] = {f: [] for f in FIELDS if f.startswith("dhcpv6.")}

    def walk_options(opts: Any) -> None:
        for o in opts:
            if o.code in (1, 2):
                out["dhcpv6.duid.type"].append(str(o.value.type))
            elif o.code in (3, 25):  # (tshark files IA_TA's IAID elsewhere)
                out["dhcpv6.iaid"].append(f"{o.value[0]:08x}")
            elif o.code == 5:
                out["dhcpv6.iaaddr.ip"].append(o.value[0])
            elif o.code == 26:
                out["dhcpv6.iaprefix.pref_addr"].append(o.value[3])
                out["dhcpv6.iaprefix.pref_len"].append(str(o.value[2]))
            elif o.code == 9:
                walk(o.value)
            walk_options(o.options)

    def walk(m: Any) -> None:
        out["dhcpv6.msgtype"].append(str(m.msg_type))
        if m.xid is not None:
            out["dhcpv6.xid"].append(f"0x{m.xid:06x}")
        else:
            out["dhcpv6.linkaddr"].append(m.link_address)
            out["dhcpv6.peeraddr"].append(m.peer_address)
        walk_options(m.options)

    walk(rec)
    return {k: _j(v) for k, v in out.items()}


def _ours(p: object) -> dict[str, str]:
    name, rec, err = app_layer(p)  # type: ignore[arg-type]
    if rec is None:
        return {}
    if name in ("dns", "mdns", "llmnr", "dns-tcp"):
        return _dns(rec, name)
    if name == "dhcp":
        return _dhcp(rec)
    if name == "dhcp6":
        return _dhcp6(rec)
    if name == "ntp":
        d = {"ntp.flags.vn": str(rec.version), "ntp.flags.mode": str(rec.mode)}
        if rec.control is None:
            d.update({"ntp.stratum": str(rec.stratum), "ntp.ppoll": str(rec.poll),
                      "ntp.precision": str(rec.precision & 0xFF),
                      "ntp.rootdelay": str(rec.root_delay),
                      "ntp.rootdispersion": str(rec.root_dispersion),
                      "ntp.refid": rec.reference_id.hex()})  # fmt: skip
        return d
    if name == "http":
        if rec.kind == "data":
            return {"http.request.method": "", "http.response.code": ""}
        cl = rec.content_length
        return {
            "http.request.method": rec.method or "",
            "http.request.uri": rec.uri or "",
            "http.request.version": rec.version if rec.kind == "request" else "",
            "http.response.code": "" if rec.status is None else str(rec.status),
            "http.response.phrase": rec.reason or "",
            "http.host": rec.host or "",
            "http.content_type": rec.content_type or "",
            "http.content_length": "" if cl is None else str(cl),
        }
    return {}


def test_fields_agree_with_tshark(require_tool: object, require_corpus: object) -> None:
    tshark = require_tool("tshark")  # type: ignore[operator]
    compared: dict[str, list[int]] = {}
    wrong: list[str] = []
    for path in _files(require_corpus):
        rows = tshark_rows(tshark, path)
        with read_capture(str(path)) as reader:
            packets = [decode(r.data, r.linktype) for r in reader]
        assert len(rows) == len(packets), path.name
        for n, (p, row) in enumerate(zip(packets, rows, strict=True), 1):
            ours = _ours(p)
            if ours:
                proto = next(iter(ours)).split(".")[0]
                compared.setdefault(proto, [0, 0, 0])[0] += 1
            for field, value in ours.items():
                theirs = row[field]
                if field == "dhcpv6.xid" and theirs:
                    theirs = f"0x{int(theirs, 16):06x}"
                if field == "dhcp.hw.mac_addr":  # also the client id option's address
                    theirs = theirs.split(",")[0]
                if field == "dns.id" and theirs:
                    theirs = f"0x{int(theirs, 16):04x}"
                c = compared[field.split(".")[0]]
                c[1] += bool(value or theirs)  # a value on either side
                if value == theirs:
                    c[2] += bool(value or theirs)
                else:
                    wrong.append(f"{path.name}#{n} {field}: ours {value!r}, tshark {theirs!r}")
    print("packets / values compared / agreeing per protocol:", compared)
    assert not wrong, "\n".join(wrong[:30])
    assert {"dns", "dhcp", "dhcpv6", "ntp", "http"} <= set(compared)


def test_lines_agree_with_tcpdump(require_tool: object, require_corpus: object, utc: None) -> None:
    """Every packet whose application payload decodes, where tcpdump too read it as IP:
    the same line after the timestamp (tcpdump's time conversion has its own limits).
    A payload that does not decode is marked with the reason instead of tcpdump's
    ``[|domain]`` (see apptext), so it is counted, not compared."""
    tcpdump = require_tool("tcpdump")  # type: ignore[operator]
    compared = malformed = 0
    wrong = []
    ip_line = re.compile(r"^\S+ IP6? ")
    for path in _files(require_corpus):
        out = subprocess.run([tcpdump, "-n", "-r", str(path)], capture_output=True, text=True,
                             env={**os.environ, "TZ": "UTC"}).stdout.splitlines()  # fmt: skip
        fmt = TextFormatter()
        with read_capture(str(path)) as reader:
            ours = [(fmt.line(r.ts_ns, p, r.wirelen), p)
                    for r in reader for p in [decode(r.data, r.linktype)]]  # fmt: skip
        if len(out) != len(ours):  # a printer of several lines per packet (SOME/IP, DCB)
            assert path.name not in LINE_FILES, path.name
            continue
        for theirs, (line, p) in zip(out, ours, strict=True):
            name, _, err = app_layer(p)
            if name is None or name == "llmnr" or not ip_line.match(theirs):
                continue  # (tcpdump has no LLMNR printer)
            if err is not None:
                malformed += 1
                continue
            compared += 1
            if theirs.split(" ", 1)[1] != line.split(" ", 1)[1]:
                wrong.append(f"{path.name}:\n  tcpdump {theirs}\n  netdiag {line}")
    print("application lines compared:", compared, "differing:", len(wrong),
          "not decoded (malformed):", malformed)  # fmt: skip
    assert compared >= 250
    assert not wrong, "\n".join(wrong[:10])


def test_the_whole_corpus_renders_its_application_layers_without_raising(
    require_corpus: object,
) -> None:
    """Every packet of the corpus through the line, the ``-v`` tree and JSON, in-process
    (what ``read``, ``read -v`` and ``read --json`` call): nothing raises."""
    from netdiag.errors import DamagedCaptureError
    from netdiag.inspect.packetjson import packet_json
    from netdiag.inspect.tree import tree_lines

    corpus = require_corpus()  # type: ignore[operator]
    shown = 0
    for path in sorted(corpus.iterdir()):
        if path.suffix not in (".pcap", ".pcapng", ".cap"):
            continue
        fmt = TextFormatter()
        try:
            with read_capture(str(path)) as reader:
                for n, r in enumerate(reader, 1):
                    p = decode(r.data, r.linktype)
                    fmt.line(r.ts_ns, p, r.wirelen)
                    tree_lines(p)
                    packet_json(n, r.ts_ns, p, r.wirelen)
                    shown += app_layer(p)[0] is not None
        except DamagedCaptureError:
            continue
        except Exception as e:  # a capture file netdiag refuses is not this test's concern
            if type(e).__name__ == "CaptureError":
                continue
            raise
    assert shown > 250, shown  # packets with an application layer


def test_a_damaged_dns_message_shows_what_decoded_then_why(
    require_tool: object, require_corpus: object, utc: None
) -> None:
    """tcpdump prints the answers it could read; so do we, then the reason it stopped."""
    tcpdump = require_tool("tcpdump")  # type: ignore[operator]
    path = require_corpus() / "dns_udp_2.pcap"  # type: ignore[operator]
    theirs = subprocess.run([tcpdump, "-n", "-r", str(path)], capture_output=True, text=True,
                            env={**os.environ, "TZ": "UTC"}).stdout.splitlines()[1]  # fmt: skip
    with read_capture(str(path)) as reader:
        r = list(reader)[1]
    ours = TextFormatter().line(r.ts_ns, decode(r.data, r.linktype), r.wirelen)
    assert theirs.endswith("2/2/5 A 192.139.46.66, (224)")
    assert ours == theirs[: -len(", (224)")] + (
        " [malformed: dns: truncated: needed 10 bytes, got 5 (at byte 51)]"
    )


def test_dns_over_tcp_spanning_segments_is_shown_where_tshark_reassembles_it(
    require_tool: object,
) -> None:
    """Replies written as length prefix, 20 bytes, rest (``dns-tcp-split.pcap``): the
    line shows each message on the segment that completes it, as tshark's reassembly
    (``tcp.desegment_tcp_streams`` on) places it; the fields are tshark's."""
    tshark = require_tool("tshark")  # type: ignore[operator]
    path = CAPTURES / "dns-tcp-split.pcap"
    cmd = [tshark, "-n", "-r", str(path), "-Y", "dns", "-T", "fields", "-e", "frame.number",
           "-e", "dns.id", "-e", "dns.qry.name", "-e", "dns.a", "-e", "dns.txt",
           "-e", "dns.length"]  # fmt: skip
    rows = subprocess.run(cmd, capture_output=True, text=True, check=True,
                          env={**os.environ, "TZ": "UTC"}).stdout.splitlines()  # fmt: skip
    theirs = [r.split("\t") for r in rows]
    fmt = TextFormatter()
    ours = []
    with read_capture(str(path)) as reader:
        for n, r in enumerate(reader, 1):
            p = decode(r.data, r.linktype)
            fmt.line(r.ts_ns, p, r.wirelen)  # feeds the capture's reassembly
            name, rec, err = app_layer(p)
            assert err is None
            if rec is not None:
                every = (*rec.answers, *rec.additional)
                ours.append([str(n), f"0x{rec.id:04x}", _name(rec.questions[0].name),
                             _j(x.data for x in every if x.rtype == 1),
                             _j(s for x in every if x.rtype == 16 for s in x.data),
                             str(rec.tcp_length)])  # fmt: skip
    assert len(theirs) == 4
    assert ours == theirs
