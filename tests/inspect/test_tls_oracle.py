"""TLS over TCP and QUIC long headers as netdiag reads them, against tshark.

Fixtures: the real OpenSSL handshakes of captures/tls/ (captures/make_tls_captures.py:
TLS 1.3, TLS 1.2, TLS 1.3 with every segment cut at an MSS of 200, a TLS 1.2 fatal
alert), and the QUIC captures of the public corpus. tshark reads them with its TCP
reassembly on (its default), so a record spanning segments is given on the segment
that completes it; netdiag, reading with a formatter's reassembly
(inspect/appstreams.py), must give the same fields on the same frames.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netdiag.capture import read_capture
from netdiag.inspect.appstreams import AppStreams
from netdiag.inspect.apptext import app_layer
from netdiag.packets import decode, quicinitial
from netdiag.packets.quic import QUIC, LongHeader
from netdiag.packets.tls import TLS, ClientHello, ServerHello

REPO = Path(__file__).resolve().parents[2]
TLS_CAPTURES = sorted((REPO / "captures" / "tls").glob("*.pcap"))
QUIC_FILES = ["quic_handshake.pcap", "quic_retry.pcap", "quic_handshake_truncated.pcap"]

TLS_FIELDS = [
    "tls.handshake.type",
    "tls.handshake.version",
    "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str",
    "tls.handshake.ciphersuite",
    "tls.handshake.extensions.supported_version",
    "tls.handshake.extensions_supported_group",
    "tls.handshake.extension.type",
    "tls.alert_message.level",
    "tls.alert_message.desc",
]
QUIC_FIELDS = ["quic.header_form", "quic.long.packet_type", "quic.version", "quic.dcid",
               "quic.scid", "quic.token_length", "quic.length"]  # fmt: skip


def tshark_fields(path: Path, fields: list[str], *opts: str) -> list[dict[str, str]]:
    cmd = ["tshark", "-r", str(path), *opts, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"]  # fmt: skip
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    return [dict(zip(fields, line.split("\t"), strict=True)) for line in out.splitlines()]


def _hex(values: list[int] | tuple[int, ...], width: int = 4) -> str:
    return ",".join(f"0x{v:0{width}x}" for v in values)


def ours_tls(path: Path, reassemble: bool = True) -> list[dict[str, str]]:
    """The same fields per frame, from netdiag's reassembled TLS (or per segment)."""
    streams = AppStreams() if reassemble else None
    rows = []
    for rec in read_capture(str(path)):
        p = decode(rec.data, rec.linktype)
        row = dict.fromkeys(TLS_FIELDS, "")
        name, t, err = app_layer(p, streams)
        assert err is None, err
        if isinstance(t, TLS):
            hs = [h for h in t.handshakes]
            row["tls.handshake.type"] = ",".join(str(h.msg_type) for h in hs)
            hellos = [h.body for h in hs if h.body is not None]
            row["tls.handshake.version"] = _hex([b.legacy_version for b in hellos])
            ch = [b for b in hellos if isinstance(b, ClientHello)]
            sh = [b for b in hellos if isinstance(b, ServerHello)]
            row["tls.handshake.extensions_server_name"] = ",".join(
                b.server_name for b in ch if b.server_name is not None
            )
            alpn = [a for b in ch for a in b.alpn_text]
            alpn += [b.alpn.decode() for b in sh if b.alpn is not None]
            row["tls.handshake.extensions_alpn_str"] = ",".join(alpn)
            suites = [s for b in ch for s in b.cipher_suites] + [b.cipher_suite for b in sh]
            row["tls.handshake.ciphersuite"] = _hex(suites)
            versions = [v for b in ch for v in b.supported_versions]
            versions += [b.selected_version for b in sh if b.selected_version is not None]
            row["tls.handshake.extensions.supported_version"] = _hex(versions)
            row["tls.handshake.extensions_supported_group"] = _hex([g for b in ch
                                                                    for g in b.groups])  # fmt: skip
            row["tls.handshake.extension.type"] = ",".join(
                str(e) for b in hellos for e in b.extension_types
            )
            alerts = [r.alert for r in t.records if r.alert is not None]
            row["tls.alert_message.level"] = ",".join(str(a.level) for a in alerts)
            row["tls.alert_message.desc"] = ",".join(str(a.description) for a in alerts)
        rows.append(row)
    return rows


@pytest.mark.parametrize("path", TLS_CAPTURES, ids=[p.name for p in TLS_CAPTURES])
def test_tls_fields_agree_with_tshark_per_frame(path: Path, require_tool) -> None:
    require_tool("tshark")
    theirs = tshark_fields(path, TLS_FIELDS)
    ours = ours_tls(path)
    assert len(ours) == len(theirs)
    for n, (o, t) in enumerate(zip(ours, theirs, strict=True), 1):
        assert o == t, f"{path.name} frame {n}"
    # Each fixture holds what it was made for.
    assert any(r["tls.handshake.extensions_server_name"] == "example.com" for r in ours)


@pytest.mark.parametrize("path", TLS_CAPTURES, ids=[p.name for p in TLS_CAPTURES])
def test_per_segment_fields_agree_with_tshark_without_reassembly(path: Path, require_tool) -> None:
    """Without reassembly (``read --json`` today, and tshark with
    ``tcp.desegment_tcp_streams:FALSE``) only records whole in their segment show."""
    require_tool("tshark")
    theirs = tshark_fields(path, TLS_FIELDS, "-o", "tcp.desegment_tcp_streams:FALSE")
    ours = ours_tls(path, reassemble=False)
    assert len(ours) == len(theirs)
    for n, (o, t) in enumerate(zip(ours, theirs, strict=True), 1):
        assert o == t, f"{path.name} frame {n}"


def test_the_captures_hold_what_their_generator_says() -> None:
    assert {p.name for p in TLS_CAPTURES} == {"tls13.pcap", "tls12.pcap", "tls13-split.pcap",
                                              "tls12-alert.pcap"}  # fmt: skip
    rows = {p.name: ours_tls(p) for p in TLS_CAPTURES}
    # The split ClientHello completes on a segment that is not the first with data.
    split = rows["tls13-split.pcap"]
    hello = next(i for i, r in enumerate(split) if r["tls.handshake.type"].startswith("1"))
    assert not split[hello - 1]["tls.handshake.type"]
    assert any(r["tls.alert_message.desc"] == "48" for r in rows["tls12-alert.pcap"])
    assert any(r["tls.handshake.extensions.supported_version"] == "0x0304"
               for r in rows["tls13.pcap"])  # fmt: skip


def _read(*args: str) -> str:
    env = {**os.environ, "TZ": "UTC"}
    out = subprocess.run([sys.executable, "-m", "netdiag", "read", *args], capture_output=True,
                         text=True, env=env)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out.stdout


def test_the_line_names_the_hello_its_sni_and_alpn() -> None:
    text = _read(str(REPO / "captures" / "tls" / "tls13-split.pcap"))
    assert "length 141: TLS ClientHello sni=example.com alpn=h2,http/1.1\n" in text
    assert ": TLS ServerHello TLSv1.3 cipher=TLS_AES_256_GCM_SHA384, ChangeCipherSpec" in text
    text = _read(str(REPO / "captures" / "tls" / "tls12-alert.pcap"))
    assert "TLS ServerHello TLSv1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 " \
           "alpn=http/1.1, Certificate, ServerKeyExchange, ServerHelloDone" in text  # fmt: skip
    assert ": TLS Alert fatal unknown_ca\n" in text


def test_tree_and_json_carry_the_hello_and_its_ja4() -> None:
    path = str(REPO / "captures" / "tls" / "tls13.pcap")
    tree = _read("-v", path)
    assert "    tls:" in tree and "ClientHello: msg_type 1" in tree and "ja4 t13d" in tree
    layers = [json.loads(line)["layers"] for line in _read("--json", path).splitlines()]
    tls = [x for ls in layers for x in ls if x["layer"] == "tls"]
    hello = tls[0]["records"][0]["handshakes"][0]
    assert hello["name"] == "ClientHello" and hello["sni"] == "example.com"
    assert hello["alpn"] == ["h2", "http/1.1"]
    assert hello["ja4"].startswith("t13d") and len(hello["ja4"]) == 36


# -- QUIC -----------------------------------------------------------------------------


def ours_quic(path: Path) -> list[dict[str, str]]:
    rows = []
    for rec in read_capture(str(path)):
        p = decode(rec.data, rec.linktype)
        row = dict.fromkeys(QUIC_FIELDS, "")
        _, q, err = app_layer(p)
        assert err is None, err
        if isinstance(q, QUIC):
            longs = [h for h in q.packets if isinstance(h, LongHeader)]
            row["quic.header_form"] = ",".join(
                "1" if isinstance(h, LongHeader) else "0" for h in q.packets
            )
            row["quic.long.packet_type"] = ",".join(str(h.long_packet_type) for h in longs)
            row["quic.version"] = _hex([h.version for h in longs], 8)
            row["quic.dcid"] = ",".join(h.dcid.hex() for h in longs if h.dcid)
            row["quic.scid"] = ",".join(h.scid.hex() for h in longs if h.scid)
            row["quic.token_length"] = ",".join(str(h.token_length) for h in longs
                                                if h.token_length is not None)  # fmt: skip
            row["quic.length"] = ",".join(str(h.length) for h in longs if h.length is not None)
        rows.append(row)
    return rows


@pytest.mark.parametrize("name", QUIC_FILES)
def test_quic_long_headers_agree_with_tshark(name: str, require_tool, require_corpus) -> None:
    require_tool("tshark")
    path = require_corpus() / name
    theirs = tshark_fields(path, QUIC_FIELDS)
    ours = ours_quic(path)
    assert len(ours) == len(theirs)
    checked = 0
    for n, (o, t) in enumerate(zip(ours, theirs, strict=True), 1):
        if t["quic.header_form"] == "0":
            # tshark takes a short header's connection ID from the handshake it followed.
            assert o["quic.header_form"] == "0", f"{name} frame {n}"
            continue
        assert o == t, f"{name} frame {n}"
        checked += 1
    assert checked >= 8


def test_quic_lines_read_without_error(require_corpus) -> None:
    root = require_corpus()
    for name in [*QUIC_FILES, "gquic.pcap", "quic_32_bit_pointer_overflow.pcap"]:
        text = _read(str(root / name))
        assert text
    text = _read(str(root / "quic_retry.pcap"))
    # The hellos inside Initials show when the quic extra (cryptography) is there.
    hellos = quicinitial.available()
    client = " ClientHello sni=localhost alpn=h3" if hellos else ""
    server = " ServerHello TLSv1.3 cipher=TLS_AES_128_GCM_SHA256" if hellos else ""
    assert f"QUIC Initial v1 dcid=1bafab9fd70531bb token=0 len=1182{client}, length 1200\n" in text
    assert f"QUIC Initial v1 scid=1bafab9fd70531bb token=0 len=116{server}, length 134\n" in text
    assert "QUIC Retry v1 scid=e1051eaa7adfb230 token=128, length 159\n" in text


@pytest.mark.root
def test_the_generator_captures_fresh_handshakes_that_agree_with_tshark(
    tmp_path: Path, require_tool
) -> None:
    """captures/make_tls_captures.py, run again: OpenSSL over a namespace's loopback,
    captured live by ``netdiag sniff``; the new files read as the committed ones do."""
    require_tool("tshark")
    require_tool("openssl")
    require_tool("ethtool")
    script = str(REPO / "captures" / "make_tls_captures.py")
    subprocess.run([sys.executable, script, str(tmp_path)], check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    made = sorted(tmp_path.glob("*.pcap"))
    assert [p.name for p in made] == [p.name for p in TLS_CAPTURES]
    for path in made:
        theirs = tshark_fields(path, TLS_FIELDS)
        ours = ours_tls(path)
        assert ours == theirs, path.name
        assert any(r["tls.handshake.extensions_server_name"] == "example.com" for r in ours)
