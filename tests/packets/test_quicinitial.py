"""packets/quicinitial.py: a client's Initial decrypted to its ClientHello.

Keys against the RFCs' own test vectors (RFC 9001 Appendix A.1, RFC 9369
Appendix A.1); the whole path against tshark, which decrypts the same Initials of
the public corpus (``quic_handshake.pcap``, ``quic_retry.pcap``). Needs the
``cryptography`` library (the ``quic`` extra).
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.capture import read_capture
from netdiag.errors import DecodeError
from netdiag.inspect.tlstext import quic_summary
from netdiag.packets import decode as decode_packet
from netdiag.packets import quic, quicinitial

pytest.importorskip("cryptography")

RFC_DCID = bytes.fromhex("8394c8f03e515708")


def test_v1_keys_are_rfc9001_appendix_a1() -> None:
    c = quicinitial.initial_keys(RFC_DCID, 1)
    assert c is not None
    assert c.secret.hex() == "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
    assert (c.key.hex(), c.iv.hex(), c.hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
        "9f50449e04a0e810283a1e9933adedd2")  # fmt: skip
    s = quicinitial.initial_keys(RFC_DCID, 1, server=True)
    assert s is not None
    assert (s.key.hex(), s.iv.hex(), s.hp.hex()) == (
        "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e",
        "c206b8d9b9f0f37644430b490eeaa314")  # fmt: skip


def test_v2_keys_are_rfc9369_appendix_a1() -> None:
    c = quicinitial.initial_keys(RFC_DCID, quic.V2)
    assert c is not None
    assert (c.key.hex(), c.iv.hex(), c.hp.hex()) == (
        "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
        "45b95e15235d6f45a6b19cbcb0294ba9")  # fmt: skip


def test_unknown_versions_have_no_keys() -> None:
    assert quicinitial.initial_keys(RFC_DCID, 0x1A2A3A4A) is None


def _datagrams(path):  # noqa: ANN001, ANN202
    for r in read_capture(str(path)):
        p = decode_packet(r.data, r.linktype)
        yield p.data[p.udp.payload_offset : p.udp.end] if p.udp is not None else b""


def _tshark(path, *fields: str) -> list[list[str]]:  # noqa: ANN001
    cmd = ["tshark", "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={"TZ": "UTC", "PATH": "/usr/bin:/bin"}).stdout  # fmt: skip
    return [line.split("\t") for line in out.splitlines()]


@pytest.mark.parametrize("name", ["quic_handshake.pcap", "quic_retry.pcap"])
def test_client_hello_inside_initials_agrees_with_tshark(name, require_tool, require_corpus):  # noqa: ANN001
    require_tool("tshark")
    path = require_corpus() / name
    fields = ("tls.handshake.type", "tls.handshake.extensions_server_name",
              "tls.handshake.extensions_alpn_str", "tls.handshake.ciphersuite",
              "tls.handshake.extension.type",
              "tls.handshake.extensions.supported_version")  # fmt: skip
    theirs = _tshark(path, *fields)
    checked = 0
    for n, (data, t) in enumerate(zip(_datagrams(path), theirs, strict=True), 1):
        if t[0] != "1":
            continue
        q = quic.decode(data)
        c = quicinitial.decrypt_initial(data, q.long_headers[0])
        assert c is not None and c.client_hello is not None, f"frame {n}"
        ch = c.client_hello
        ours = ["1", ch.server_name or "", ",".join(ch.alpn_text),
                ",".join(f"0x{s:04x}" for s in ch.cipher_suites),
                ",".join(str(e) for e in ch.extension_types),
                ",".join(f"0x{v:04x}" for v in ch.supported_versions)]  # fmt: skip
        assert ours == t, f"frame {n}"
        assert "CRYPTO" in c.frames and c.packet_number == 0
        assert "ClientHello sni=localhost alpn=h3" in quic_summary(q, len(data))
        checked += 1
    assert checked >= 1


def test_a_server_initial_or_a_damaged_one_does_not_decrypt(require_corpus) -> None:
    datagrams = list(_datagrams(require_corpus() / "quic_handshake.pcap"))
    server = datagrams[1]  # keyed by the client's DCID, which the packet does not carry
    assert quicinitial.decrypt_initial(server, quic.decode(server).packets[0]) is None
    client = bytearray(datagrams[0])
    client[300] ^= 0x01  # one bit of ciphertext: the AEAD tag fails
    h = quic.decode(bytes(client)).packets[0]
    assert quicinitial.decrypt_initial(bytes(client), h) is None


def test_without_the_library_the_header_still_shows(monkeypatch, require_corpus) -> None:  # noqa: ANN001
    data = next(iter(_datagrams(require_corpus() / "quic_handshake.pcap")))
    monkeypatch.setattr(quicinitial, "available", lambda: False)
    q = quic.decode(data)
    assert quicinitial.decrypt_initial(data, q.packets[0]) is None
    assert quic_summary(q, len(data)) == (
        "QUIC Initial v1 dcid=84acac06b42ed863 token=0 len=1182, length 1200"
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_frames_of_a_decrypted_payload(data: bytes) -> None:
    try:
        quicinitial._frames(0, data)  # noqa: SLF001 (the frame walk alone, without AEAD)
    except DecodeError:
        pass


@pytest.mark.parametrize("name", ["quic_handshake.pcap", "quic_retry.pcap"])
def test_following_the_connection_decrypts_the_server_initials_as_tshark(
    name, require_tool, require_corpus
) -> None:  # noqa: ANN001
    """With the connection's Initial keys (inspect/appstreams.py: from the client's
    first DCID, or the Retry's SCID), the server's ServerHello shows, as in tshark."""
    from netdiag.inspect.appstreams import AppStreams
    from netdiag.inspect.apptext import app_layer

    require_tool("tshark")
    path = require_corpus() / name
    theirs = _tshark(path, "tls.handshake.type", "tls.handshake.ciphersuite",
                     "tls.handshake.extensions.supported_version")  # fmt: skip
    streams = AppStreams()
    servers = 0
    for n, (r, t) in enumerate(zip(read_capture(str(path)), theirs, strict=True), 1):
        p = decode_packet(r.data, r.linktype)
        _, q, err = app_layer(p, streams)
        assert err is None and isinstance(q, quic.QUIC)
        if t[0] != "2":
            continue
        h = q.long_headers[0]
        c = quicinitial.decrypt_initial(q.data, h, dcid=q.initial_dcid, server=q.from_server)
        assert c is not None and c.server_hello is not None, f"frame {n}"
        sh = c.server_hello
        assert [f"0x{sh.cipher_suite:04x}", f"0x{sh.selected_version:04x}"] == t[1:], f"frame {n}"
        assert "ServerHello TLSv1.3 cipher=TLS_AES_128_GCM_SHA256" in quic_summary(q, 0)
        servers += 1
    assert servers == 1
