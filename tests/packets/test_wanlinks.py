"""Radiotap, 802.11, LLC/SNAP, PPP, Cisco HDLC, Frame Relay, pflog, SunATM and NFLOG.

References: scapy dissects the frames it built (``wanframes.py``) and tshark reads the
files (its fields as the oracle, ``radiotap.*``, ``wlan.*``, ``chdlc.*``, ``fr.*``,
``nflog.*``, ``atm.*``, also over every radiotap record of the corpus); tcpdump prints
the lines our text renderer must print. Each module's ``build`` gives back what its
decoder reads, and bytes equal to scapy's where scapy has the layer; every frame cut at
every offset decodes without raising, keeping the outer headers.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dot11 import Dot11, Dot11Elt, RadioTap
from scapy.layers.l2 import LLC, SNAP
from scapy.layers.pflog import PFLog
from scapy.layers.ppp import PPP as ScapyPPP

from netdiag import DecodeError, decode
from netdiag.capture import open_writer, read_capture
from netdiag.inspect.text import TextFormatter
from netdiag.packets import (
    chdlc,
    dispatch,
    framerelay,
    ieee80211,
    llc,
    nflog,
    pflog,
    ppp,
    radiotap,
    sunatm,
    wanlinks,
)
from tests.packets.wanframes import FRAMES, write_all

LINK_NAMES = wanlinks.LAYER_NAMES


def _dot11_of(p):
    link = p.link
    return link.ieee80211 if link.name == "radiotap" else link


# -- against scapy ----------------------------------------------------------------------


@pytest.mark.parametrize("name, data", FRAMES[127], ids=[n for n, _ in FRAMES[127]])
def test_radiotap_and_80211_decode_as_scapy_dissects(name, data):
    p = decode(data, 127)
    ref = RadioTap(data)
    rt = p.link
    assert rt.name == "radiotap" and rt.length == ref.len
    assert rt.present[0] == int(ref.present)
    assert rt.rate * 0.5 == ref.Rate and rt.freq == ref.ChannelFrequency  # scapy: Mb/s
    assert rt.dbm_signal == ref.dBm_AntSignal
    assert rt.antenna == getattr(ref, "Antenna", None)
    assert rt.tsft == getattr(ref, "mac_timestamp", None)
    dot, d11 = rt.ieee80211, ref[Dot11]
    assert (dot.type, dot.subtype, dot.flags) == (d11.type, d11.subtype, int(d11.FCfield))
    for i, a in enumerate(dot.addrs):
        assert a == getattr(d11, f"addr{i + 1}")
    if dot.seq is not None:
        assert dot.seq == d11.SC >> 4
    if ref.haslayer(Dot11Elt) and dot.type == 0:
        elt = ref[Dot11Elt]
        assert dot.ssid == elt.info
    if ref.haslayer(SNAP):
        assert dot.llc.pid == ref[SNAP].code and dot.llc.oui == ref[SNAP].OUI
        assert p.ip is not None and p.ip.offset == dot.llc.offset + 8
    else:
        assert p.ip is None
    assert p.error is None


def test_ppp_and_pflog_decode_as_scapy_dissects():
    for _, data in FRAMES[9][:2]:
        assert decode(data, 9).link.protocol == ScapyPPP(data).proto
    for _, data in FRAMES[117]:
        ref, p = PFLog(data), decode(data, 117)
        got = p.link
        assert (got.af, got.action, got.reason, got.rulenr, got.dir) == (
            ref.addrfamily, ref.action, ref.reason, ref.rulenumber,
            ref.getfieldval("direction"),  # scapy's Packet has a .direction of its own
        )  # fmt: skip
        assert got.ifname == ref.iface.rstrip(b"\0").decode()
        assert p.ip is not None and p.ip.offset == (ref.hdrlen + 3) // 4 * 4


# -- builders: decode(build(x)) == x, and scapy's bytes ----------------------------------------


def test_builders_give_back_what_the_decoders_read_and_scapys_bytes():
    payload = bytes(FRAMES[9][0][1][2:])
    rt = radiotap.build(b"", rate=4, freq=2437, chan_flags=0xA0, dbm_signal=-40, antenna=1)
    ref = RadioTap(present="Rate+Channel+dBm_AntSignal+Antenna", Rate=2, ChannelFrequency=2437,
                   ChannelFlags=0xA0, dBm_AntSignal=-40, Antenna=1)  # fmt: skip
    assert rt == bytes(ref)
    got = radiotap.Radiotap.decode(rt)
    assert (got.rate, got.freq, got.chan_flags, got.dbm_signal, got.antenna) == (
        4,
        2437,
        0xA0,
        -40,
        1,
    )
    a1, a2, a3 = b"\x00\x11\x22\x33\x44\x55", b"\x66\x77\x88\x99\xaa\xbb", b"\xcc" * 6
    frame = ieee80211.build(2, 0, (a1, a2, a3), llc.build(0x0800, payload), flags=1, seq=42)
    sref = Dot11(type=2, subtype=0, FCfield=1, addr1=a1, addr2=a2, addr3=a3, SC=42 << 4) / LLC(
        dsap=0xAA, ssap=0xAA, ctrl=3
    ) / SNAP(OUI=0, code=0x0800)  # fmt: skip
    assert frame == bytes(sref) + payload
    dot = ieee80211.Dot11.decode(frame)
    assert (dot.type, dot.ds, dot.seq, dot.llc.ethertype) == (2, 1, 42, 0x0800)
    assert ppp.build(0x21, payload, hdlc=False) == bytes(ScapyPPP(proto=0x21)) + payload
    assert ppp.PPP.decode(ppp.build(0x57, payload), 0, True).protocol == 0x57
    assert chdlc.CiscoHDLC.decode(chdlc.build(0x86DD, payload, 0x8F)).fields() == {
        "address": 0x8F, "control": 0, "type": 0x86DD
    }  # fmt: skip
    fr = framerelay.FrameRelay.decode(framerelay.build(302, payload))
    assert (fr.dlci, fr.nlpid, fr.header_len) == (302, 0xCC, 4)
    fr = framerelay.FrameRelay.decode(framerelay.build(17, payload, cisco_type=0x86DD))
    assert (fr.dlci, fr.cisco_type, fr.ethertype) == (17, 0x86DD, 0x86DD)
    nf = nflog.NFLog.decode(nflog.build(payload, 10, 7, b"in"))
    assert (nf.family, nf.resource_id, nf.prefix, nf.ethertype) == (10, 7, b"in", 0x86DD)
    pf = pflog.PFLog.decode(pflog.build(payload, af=24, rulenr=9, ifname="em1"))
    assert (pf.af, pf.rulenr, pf.ifname, pf.header_len) == (24, 9, "em1", 64)
    atm = sunatm.SunATM.decode(sunatm.build(1, 100, llc.build(0x0800, payload), transmitted=True))
    assert (atm.vpi, atm.vci, atm.transmitted, atm.ethertype) == (1, 100, True, 0x0800)


# -- against tshark ---------------------------------------------------------------------------


def _tshark(path: Path, fields: list[str]) -> list[list[str]]:
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for f in fields:
        args += ["-e", f]
    out = subprocess.run(
        args, capture_output=True, text=True, env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}
    )
    return [line.split("\t") for line in out.stdout.splitlines()]


def _hexint(text: str) -> int | None:
    return int(text, 0) if text else None


def test_serial_and_log_headers_equal_tsharks_fields(tmp_path, require_tool):
    require_tool("tshark")
    files = write_all(tmp_path)
    rows = _tshark(files[104], ["chdlc.address", "chdlc.protocol"])
    for (_, data), row in zip(FRAMES[104], rows, strict=True):
        h = decode(data, 104).link
        assert [h.address, h.type] == [_hexint(x) for x in row]
    rows = _tshark(files[107], ["fr.dlci", "fr.nlpid"])
    for (_, data), row in zip(FRAMES[107], rows, strict=True):
        h = decode(data, 107).link
        assert [h.dlci, h.nlpid] == [int(row[0]), _hexint(row[1])]
    rows = _tshark(files[239], ["nflog.family", "nflog.res_id", "nflog.prefix"])
    for (_, data), row in zip(FRAMES[239], rows, strict=True):
        h = decode(data, 239).link
        assert [str(h.family), str(h.resource_id), h.prefix.decode()] == row
    rows = _tshark(files[123], ["atm.vpi", "atm.vci"])
    for (_, data), row in zip(FRAMES[123], rows, strict=True):
        h = decode(data, 123).link
        assert [h.vpi, h.vci] == [int(x) for x in row]


def test_radiotap_corpus_records_equal_tsharks_fields(tmp_path, require_tool, require_corpus):
    """Every radiotap record of the corpus, merged into one file for one tshark run."""
    require_tool("tshark")
    corpus = require_corpus("tcpdump-tests")
    merged = tmp_path / "radiotap.pcap"
    datas = []
    with open_writer(merged, 127) as w:
        for path in sorted(corpus.glob("*.pcap")):
            try:
                recs = [r for r in read_capture(path) if r.linktype == 127]
            except Exception:
                continue
            for r in recs:
                w.write(bytes(r.data), 1_000_000 * len(datas), r.wirelen)
                datas.append(bytes(r.data))
    assert len(datas) > 150
    fields = ["radiotap.length", "radiotap.channel.freq", "radiotap.dbm_antsignal",
              "wlan.fc.type_subtype", "wlan.ra", "wlan.seq", "_ws.malformed"]  # fmt: skip
    rows = _tshark(merged, fields)
    assert len(rows) == len(datas)
    compared = 0
    for data, row in zip(datas, rows, strict=True):
        p = decode(data, 127)
        rt = p.link
        if rt is None or row[-1]:
            continue  # our radiotap header itself was bad, or tshark calls the frame malformed
        assert rt.length == int(row[0])
        if row[1] and rt.walk_stopped is None:
            assert rt.freq == int(row[1])
        if row[2] and rt.walk_stopped is None:
            assert rt.dbm_signal == int(row[2])
        dot = rt.ieee80211
        if dot is not None and row[3]:
            assert dot.type << 4 | dot.subtype == int(row[3], 16)
            if row[4]:
                assert dot.addrs[0] == row[4]
            if row[5] and dot.seq is not None:
                assert dot.seq == int(row[5])
            compared += 1
    assert compared > 100


# -- cut at every offset --------------------------------------------------------------------------


@pytest.mark.parametrize("lt", sorted(FRAMES))
def test_every_cut_decodes_without_raising_and_keeps_the_outer_headers(lt):
    for name, data in FRAMES[lt]:
        whole = decode(data, lt)
        assert whole.error is None, name
        for n in range(len(data)):
            p = decode(data[:n], lt)
            if p.error is not None:
                assert isinstance(p.error, DecodeError)
            if n < 4 and lt not in (127, 117):
                assert p.error is not None or p.ip is None
            if lt == 127 and n >= whole.link.length:  # radiotap whole: it is kept
                assert p.link is not None and p.link.length == whole.link.length
            if p.ip is not None:  # an IP layer found is the one of the whole frame
                assert p.ip.offset == whole.ip.offset, (name, n)


def test_radiotap_cut_short_says_where_and_why():
    data = FRAMES[127][0][1]
    rt_len = decode(data, 127).link.length
    e = decode(data[:5], 127).error
    assert (e.layer, e.offset, e.needed, e.got) == ("radiotap", 0, 8, 5)
    e = decode(data[: rt_len - 1], 127).error
    assert (e.layer, e.needed, e.got) == ("radiotap", rt_len, rt_len - 1)
    p = decode(data[: rt_len + 12], 127)
    assert (p.error.layer, p.error.offset, p.error.needed) == ("ieee80211", rt_len, 24)
    assert p.link.name == "radiotap" and p.link.ieee80211 is None


def test_protected_data_stops_cleanly_at_the_80211_header():
    p = decode(dict(FRAMES[105])["protected"], 105)
    assert p.error is None and p.ip is None and p.link.protected and p.link.llc is None


def test_the_dispatcher_and_the_renderer_know_the_same_link_types():
    from netdiag.inspect import text

    assert dispatch._WAN_LINKTYPES == wanlinks.LINKTYPES == text._WAN_LINKTYPES


# -- the text line, as tcpdump prints it --------------------------------------------------------


@pytest.mark.parametrize("lt", sorted(FRAMES))
@pytest.mark.parametrize("eflag", [False, True], ids=["n", "e"])
def test_lines_are_tcpdumps(lt, eflag, tmp_path, require_tool):
    require_tool("tcpdump")
    path = write_all(tmp_path)[lt]
    args = ["tcpdump", "-n", "-tt", "-r", str(path)] + (["-e"] if eflag else [])
    theirs = subprocess.run(args, capture_output=True, text=True).stdout.splitlines()
    fmt = TextFormatter(link=eflag, epoch=True)
    ours = [fmt.line(r.ts_ns, decode(r.data, r.linktype), r.wirelen) for r in read_capture(path)]
    assert len(ours) == len(theirs)
    for (name, _), a, b in zip(FRAMES[lt], theirs, ours, strict=True):
        if name == "lcp":  # tcpdump decodes LCP's code and id; we print the protocol and length
            assert a.split(",")[0] == b.split(",")[0] and a.endswith(b.split(",")[-1]), (a, b)
            continue
        assert b == a, name


# -- the -v tree and --json ------------------------------------------------------------------------


def test_tree_and_json_show_every_link_header(tmp_path):
    import json

    from netdiag.inspect.packetjson import packet_json
    from netdiag.inspect.tree import tree_lines

    p = decode(dict(FRAMES[127])["qos-fromds-tcp"], 127)
    titles = [line.split(":")[0].strip() for line in tree_lines(p)]
    assert titles == ["radiotap", "ieee80211", "llc", "ipv4", "tcp"]
    d = json.loads(packet_json(1, 0, p, len(p.data)))
    rt = d["layers"][0]
    assert rt["layer"] == "radiotap" and rt["freq"] == 2437 and rt["dbm_signal"] == -40
    assert rt["ieee80211"]["qos"] == 5 and rt["ieee80211"]["llc"]["pid"] == 0x0800
    assert [x["layer"] for x in d["layers"][1:]] == ["ipv4", "tcp"]


def _corpus_files(corpus: Path) -> list[Path]:
    return [
        *sorted(corpus.glob("reason_code-*.pcap")),  # radiotap + 802.11 deauth/disassoc
        *sorted(corpus.glob("status_code-*.pcap")),  # radiotap + 802.11 authentication
        corpus / "icmp-rfc5837.pcap",  # PPP
    ]


def test_corpus_lines_are_tcpdumps(require_corpus, require_tool):
    """Radiotap headers (rate, channel and mode, lock quality, antenna, dB signal), the
    802.11 management lines and PPP as tcpdump prints them, with and without -e."""
    require_tool("tcpdump")
    files = _corpus_files(require_corpus("tcpdump-tests"))
    assert len(files) > 100
    for path in files:
        recs = list(read_capture(path))
        for eflag in (False, True):
            args = ["tcpdump", "-n", "-tt", "-r", str(path)] + (["-e"] if eflag else [])
            theirs = subprocess.run(args, capture_output=True, text=True).stdout.splitlines()
            fmt = TextFormatter(link=eflag, epoch=True)
            ours = [fmt.line(r.ts_ns, decode(r.data, r.linktype), r.wirelen) for r in recs]
            assert ours == theirs, path.name


@given(
    lt=st.sampled_from(sorted(FRAMES)),
    data=st.binary(max_size=120),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=400, deadline=None)
def test_any_bytes_decode_and_render_without_raising(lt, data, seed):
    """Random bytes, and reference frames with random bytes written over them."""
    from netdiag.inspect.packetjson import packet_json
    from netdiag.inspect.tree import tree_lines

    frames = FRAMES[lt]
    base = bytearray(frames[seed % len(frames)][1])
    for i, b in enumerate(data[:16]):
        base[(seed + 7 * i) % len(base)] = b
    for blob in (data, bytes(base)):
        p = decode(blob, lt)
        assert p.error is None or isinstance(p.error, DecodeError)
        for eflag in (False, True):
            TextFormatter(link=eflag).summary(p, len(blob))
        tree_lines(p)
        packet_json(1, 0, p, len(blob))


@given(
    ftype=st.sampled_from([0, 2]),
    subtype=st.integers(0, 15),
    ds=st.integers(0, 3),
    seq=st.integers(0, 4095),
    addrs=st.lists(st.binary(min_size=6, max_size=6), min_size=4, max_size=4),
    dlci=st.integers(0, 1023),
    rate=st.integers(0, 255),
    freq=st.integers(0, 65535),
    signal=st.integers(-128, 127),
)
def test_decode_of_build_gives_the_fields_back(
    ftype, subtype, ds, seq, addrs, dlci, rate, freq, signal
):
    if ftype == 0:
        ds, subtype = 0, 8 if subtype in (5, 8) else subtype  # management bodies: see below
    n = 4 if ftype == 2 and ds == 3 else 3
    qos = 3 if ftype == 2 and subtype & 8 else None
    body = b"" if ftype == 2 else bytes(24)  # a body long enough for every fixed part
    frame = ieee80211.build(ftype, subtype, tuple(addrs[:n]), body, flags=ds, seq=seq, qos=qos)
    d = ieee80211.Dot11.decode(frame)
    assert (d.type, d.subtype, d.ds, d.seq, d.qos) == (ftype, subtype, ds, seq, qos)
    assert d.addr_raw == tuple(addrs[:n])
    fr = framerelay.FrameRelay.decode(framerelay.build(dlci, b"\x45"))
    assert fr.dlci == dlci
    rt = radiotap.Radiotap.decode(radiotap.build(rate=rate, freq=freq, dbm_signal=signal))
    assert (rt.rate, rt.freq, rt.dbm_signal) == (rate, freq, signal)


@pytest.mark.parametrize("lt", [50, 104, 105, 107, 117, 123, 127, 239])
def test_hex_dump_skips_the_link_header_as_tcpdump(lt, tmp_path, require_tool):
    require_tool("tcpdump")
    import sys

    path = write_all(tmp_path)[lt]
    theirs = subprocess.run(
        ["tcpdump", "-x", "-n", "-r", str(path)], capture_output=True, text=True
    )
    ours = subprocess.run(
        [sys.executable, "-m", "netdiag", "read", "-x", str(path)], capture_output=True, text=True
    )
    hexlines = [line for line in theirs.stdout.splitlines() if line.startswith("\t0x")]
    assert hexlines == [line for line in ours.stdout.splitlines() if line.startswith("\t0x")]
