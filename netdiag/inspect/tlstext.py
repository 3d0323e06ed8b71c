"""TLS and QUIC as the line, the ``-v`` tree and JSON show them (``packets.tls``,
``packets.quic``, ``packets.ja4``).

tcpdump prints nothing for either (4.99 has no TLS printer and no QUIC one), so
the line is our own, in the issue's shape, after the TCP segment's ``length N:``::

    TLS ClientHello sni=example.com alpn=h2,http/1.1
    TLS ServerHello TLSv1.3 cipher=TLS_AES_256_GCM_SHA384, ChangeCipherSpec, Application Data
    TLS ServerHello TLSv1.2 cipher=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 alpn=http/1.1,
        Certificate, ServerKeyExchange, ServerHelloDone          (one line)
    TLS Alert fatal unknown_ca
    TLS Application Data x2

One item per record, handshake records by their messages; consecutive records
of the same kind are counted (``x2``). With reassembly (inspect/streams.py) a
record shows on the segment that completes it, as tshark shows it with
``tcp.desegment_tcp_streams`` on, and a segment that completes nothing shows
no TLS text; without it, a record that goes on past the segment adds
``[partial record, N bytes]`` and a segment that continues one gives
``TLS continuation, N bytes``.

QUIC replaces ``UDP, length N`` (one item per coalesced packet, then the UDP
payload length)::

    QUIC Initial v1 dcid=84acac06b42ed863 token=0 len=1182 ClientHello sni=localhost
        alpn=h3, length 1200                                         (one line)
    QUIC Handshake v1 scid=51d1e44dc57a579e len=1180, length 1200
    QUIC short header, length 45

A client's Initial is decrypted (packets/quicinitial.py, with the optional
``cryptography`` library; without it the hello words are left out) and its
ClientHello shown as in TLS; a reader following the connection
(inspect/appstreams.py) also decrypts the server's Initial and shows its
ServerHello (``ServerHello TLSv1.3 cipher=TLS_AES_128_GCM_SHA256``). The tree
and JSON add the packet number, the frames and the hello, a ClientHello with its
JA4 (``q``).

The tree and JSON (``tls_fields``, ``quic_fields``) give every record and
message: versions by name, cipher suites, extensions, groups and signature
algorithms as tshark's ``0x1302`` hex, SNI, ALPN, and for a ClientHello its JA4,
JA4_r and JA4_o (``packets/ja4.py``; tshark 4.0 has no JA4 field to compare).
"""

from __future__ import annotations

from netdiag.errors import DecodeError
from netdiag.packets import tlsnames as _n
from netdiag.packets.ja4 import ja4, ja4_raw
from netdiag.packets.quic import QUIC, LongHeader, version_name
from netdiag.packets.tls import TLS, ClientHello, Handshake, Record, ServerHello

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["tls_summary", "tls_fields", "quic_summary", "quic_fields"]


def _hs_text(h: Handshake) -> str:
    name = _n.HANDSHAKE_TYPES.get(h.msg_type, f"Handshake{h.msg_type}")
    b = h.body
    if isinstance(b, ClientHello):
        parts = [name]
        if b.server_name is not None:
            parts.append(f"sni={b.server_name}")
        if b.alpn:
            parts.append("alpn=" + ",".join(b.alpn_text))
        return " ".join(parts)
    if isinstance(b, ServerHello):
        parts = ["HelloRetryRequest" if b.hello_retry_request else name,
                 _n.version_name(b.version),
                 f"cipher={_n.name_of(_n.CIPHER_SUITES, b.cipher_suite)}"]  # fmt: skip
        if b.alpn is not None:
            parts.append("alpn=" + b.alpn.decode("ascii", "backslashreplace"))
        return " ".join(parts)
    if not h.complete:
        return f"{name} [partial]"
    return name


def _record_items(r: Record) -> list[str]:
    if r.content_type == 22:
        if r.encrypted:
            return ["Encrypted Handshake Message"]
        return [_hs_text(h) for h in r.handshakes] or ["Handshake fragment"]
    if r.content_type == 21:
        a = r.alert
        if a is None:
            return ["Encrypted Alert"]
        level = _n.ALERT_LEVELS.get(a.level, str(a.level))
        return [f"Alert {level} {_n.ALERT_DESCRIPTIONS.get(a.description, a.description)}"]
    return [_n.CONTENT_TYPES.get(r.content_type, str(r.content_type))]


def tls_summary(t: TLS, length: int = 0) -> str:
    if not t.records and t.continuation:
        return f"TLS continuation, {t.continuation} bytes"
    items: list[str] = []
    counts: list[int] = []
    for r in t.records:
        for item in _record_items(r):
            if items and items[-1] == item and not item.startswith("Client"):
                counts[-1] += 1
            else:
                items.append(item)
                counts.append(1)
    text = ", ".join(f"{i} x{c}" if c > 1 else i for i, c in zip(items, counts, strict=True))
    if t.partial:
        text = f"{text} [partial record, {t.partial} bytes]" if text else (
            f"[partial record, {t.partial} bytes]")  # fmt: skip
    return f"TLS {text}" if text else ""


def _hex(values: tuple[int, ...]) -> list[str]:
    return [f"0x{v:04x}" for v in values]


def _client_hello(b: ClientHello, transport: str = "t") -> dict[str, Any]:
    return {
        "version": _n.version_name(b.legacy_version),
        "session_id_length": len(b.session_id),
        "sni": b.server_name,
        "alpn": list(b.alpn_text),
        "supported_versions": [_n.version_name(v) for v in b.supported_versions],
        "cipher_suites": _hex(b.cipher_suites),
        "extensions": _hex(b.extension_types),
        "groups": _hex(b.groups),
        "key_share_groups": _hex(b.key_share_groups),
        "signature_algorithms": _hex(b.signature_algorithms),
        "ec_point_formats": list(b.ec_point_formats),
        "ja4": ja4(b, transport),
        "ja4_r": ja4_raw(b, transport),
        "ja4_o": ja4(b, transport, original=True),
    }


def _server_hello(b: ServerHello) -> dict[str, Any]:
    return {
        "version": _n.version_name(b.legacy_version),
        "selected_version": None
        if b.selected_version is None
        else _n.version_name(b.selected_version),  # fmt: skip
        "hello_retry_request": b.hello_retry_request,
        "session_id_length": len(b.session_id),
        "cipher_suite": f"0x{b.cipher_suite:04x}",
        "cipher": _n.name_of(_n.CIPHER_SUITES, b.cipher_suite),
        "compression_method": b.compression_method,
        "alpn": None if b.alpn is None else b.alpn.decode("ascii", "backslashreplace"),
        "key_share_group": None if b.key_share_group is None else f"0x{b.key_share_group:04x}",
        "extensions": _hex(b.extension_types),
    }


def _handshake(h: Handshake) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": _n.HANDSHAKE_TYPES.get(h.msg_type, f"Handshake{h.msg_type}"),
        "msg_type": h.msg_type,
        "length": h.length,
    }
    if not h.complete:
        d["complete"] = False
    if isinstance(h.body, ClientHello):
        d.update(_client_hello(h.body))
    elif isinstance(h.body, ServerHello):
        d.update(_server_hello(h.body))
    return d


def _record(r: Record) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "record",
        "content_type": r.content_type,
        "type": _n.CONTENT_TYPES.get(r.content_type, str(r.content_type)),
        "version": _n.version_name(r.version),
        "length": r.length,
        "encrypted": r.encrypted,
    }
    if r.alert is not None:
        d["alert_level"] = _n.ALERT_LEVELS.get(r.alert.level, r.alert.level)
        d["alert"] = _n.ALERT_DESCRIPTIONS.get(r.alert.description, r.alert.description)
        d["alert_code"] = r.alert.description
    if r.handshakes:
        d["handshakes"] = [_handshake(h) for h in r.handshakes]
    return d


def tls_fields(t: TLS) -> dict[str, Any]:
    d: dict[str, Any] = {"records": [_record(r) for r in t.records]}
    if t.partial:
        d["partial"] = t.partial
    if t.continuation:
        d["continuation"] = t.continuation
    return d


# -- QUIC ---------------------------------------------------------------------------------


def _quic_item(h: LongHeader) -> str:
    if h.packet_type is None:
        return f"QUIC version {version_name(h.version)} dcid={h.dcid.hex()}"
    parts = [h.packet_type]
    if h.version:
        parts.append(f"v{version_name(h.version)}")
    if h.dcid:
        parts.append(f"dcid={h.dcid.hex()}")
    if h.scid:
        parts.append(f"scid={h.scid.hex()}")
    if h.token_length is not None:
        parts.append(f"token={h.token_length}")
    elif h.packet_type == "Retry" and h.token is not None:
        parts.append(f"token={len(h.token)}")
    if h.length is not None:
        parts.append(f"len={h.length}")
    if h.supported_versions:
        parts.append("versions=" + ",".join(version_name(v) for v in h.supported_versions))
    return " ".join(parts)


def _initial(q: QUIC, h: LongHeader) -> Any:
    """A client Initial's decrypted contents (packets/quicinitial.py), or None."""
    if h.packet_type != "Initial" or not q.data:
        return None
    from netdiag.packets.quicinitial import decrypt_initial

    try:
        return decrypt_initial(q.data, h, dcid=q.initial_dcid, server=q.from_server)
    except DecodeError:
        return None


def _hello_words(c: Any) -> str:
    if c is None:
        return ""
    sh = c.server_hello
    if sh is not None:
        return " " + _hs_text(Handshake(2, 0, 0, sh))
    ch = c.client_hello
    if ch is None:
        return ""
    words = " ClientHello"
    if ch.server_name is not None:
        words += f" sni={ch.server_name}"
    if ch.alpn:
        words += " alpn=" + ",".join(ch.alpn_text)
    return words


def quic_summary(q: QUIC, length: int = 0) -> str:
    items = [
        _quic_item(h) + _hello_words(_initial(q, h)) if isinstance(h, LongHeader)
        else "short header"
        for h in q.packets
    ]  # fmt: skip
    if q.padding:
        items.append(f"padding {q.padding}")
    if q.truncated:
        items[-1] += f" [{q.truncated} bytes missing]"
    return f"QUIC {', '.join(items)}, length {length}"


def quic_fields(q: QUIC) -> dict[str, Any]:
    packets: list[dict[str, Any]] = []
    for h in q.packets:
        if isinstance(h, LongHeader):
            d: dict[str, Any] = {
                "name": h.packet_type or "long header",
                "header_form": 1,
                "long_packet_type": h.long_packet_type,
                "version": f"0x{h.version:08x}",
                "version_name": version_name(h.version),
                "dcid": h.dcid.hex(),
                "scid": h.scid.hex(),
            }
            if h.token_length is not None:
                d["token_length"] = h.token_length
            if h.length is not None:
                d["length"] = h.length
            if h.supported_versions:
                d["supported_versions"] = [f"0x{v:08x}" for v in h.supported_versions]
            if h.integrity_tag is not None:
                d["retry_token_length"] = len(h.token or b"")
                d["retry_integrity_tag"] = h.integrity_tag.hex()
            c = _initial(q, h)
            if c is not None:
                d["decrypted"] = True
                d["packet_number"] = c.packet_number
                d["frames"] = list(c.frames)
                d["crypto_length"] = len(c.crypto)
                if c.client_hello is not None:
                    d["client_hello"] = _client_hello(c.client_hello, "q")
                if c.server_hello is not None:
                    d["server_hello"] = _server_hello(c.server_hello)
        else:
            d = {"name": "short header", "header_form": 0, "spin_bit": h.spin_bit,
                 "size": h.size}  # fmt: skip
        packets.append(d)
    out: dict[str, Any] = {"packets": packets}
    if q.padding:
        out["padding"] = q.padding
    if q.truncated:
        out["truncated"] = q.truncated
    return out
