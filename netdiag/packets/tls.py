"""TLS records and handshake messages (RFC 8446, RFC 5246), as they cross TCP.

``decode(data)`` reads a run of whole TLS records (RFC 8446 §5.1: content type
(1), legacy record version (2), length (2), fragment) and returns a ``TLS``
record: the records in order, each with the handshake messages that end in it
(RFC 8446 §4: type (1), length (3), body), its alert (RFC 8446 §6: level,
description) or the bare facts of a ChangeCipherSpec or application data record.
The ClientHello (§4.1.2) and ServerHello (§4.1.3) bodies are decoded with their
extensions by packets/tlshello.py (whose names this module re-exports).

``decode_handshake(data)`` reads handshake messages without the record layer, as
QUIC carries them in CRYPTO frames (RFC 9001 §4).

Encrypted records are recognised (``encrypted=True``), not decoded:

- application data;
- a TLS 1.2 handshake record after ChangeCipherSpec, seen in the data or passed
  in as ``after_ccs`` by a caller that follows the connection. Not in TLS 1.3
  (``tls13``, or a ServerHello choosing it in the data), where ChangeCipherSpec
  is a middlebox-compatibility no-op (RFC 8446 §D.4); a whole plaintext hello
  after it is read as one (TLS 1.3's second ClientHello after a
  HelloRetryRequest, when the ServerHello was not captured);
- an alert whose length is not 2 (an encrypted TLS 1.2 alert is longer);
- a handshake record that does not read as plaintext: an unknown message type,
  or a HelloRequest followed by more bytes (as the zero explicit nonce of an
  AES-GCM Finished reads), as tshark judges it.

Bounds: every length is checked against what encloses it (message in record,
extension block in message, list in extension), and a record longer than
2^14 + 2048 bytes (RFC 5246 §6.2.3) is malformed. Errors are
``TruncatedError``/``MalformedError`` with layer ``tls`` and the byte offset in
``data``. Nothing loops on a length of its own making: each step consumes bytes.
"""

from __future__ import annotations

import struct

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.packets.tlshello import (
    HELLO_RETRY_RANDOM,
    ClientHello,
    Extension,
    ServerHello,
    decode_client_hello,
    decode_server_hello,
)
from netdiag.records import dataclass

__all__ = [
    "TLS",
    "Record",
    "Handshake",
    "Alert",
    "Extension",
    "ClientHello",
    "ServerHello",
    "RECORD_HEADER_LEN",
    "MAX_RECORD_LEN",
    "record_length",
    "first_hello",
    "decode",
    "decode_segment",
    "decode_handshake",
    "decode_client_hello",
    "decode_server_hello",
    "HELLO_RETRY_RANDOM",
]

_REC = struct.Struct("!BHH")
RECORD_HEADER_LEN = _REC.size  # 5
MAX_RECORD_LEN = 2**14 + 2048  # RFC 5246 §6.2.3 (TLSCiphertext)
_LAYER = "tls"
CCS, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CLIENT_HELLO, SERVER_HELLO, HELLO_REQUEST, CERTIFICATE = 1, 2, 0, 11
_KNOWN_HANDSHAKES = frozenset((0, 1, 2, 3, 4, 5, 8, 11, 12, 13, 14, 15, 16, 20, 22, 24, 254))
# Messages that legitimately span several records (RFC 8446 §5.1 allows any to).
_FRAGMENTING = frozenset((CLIENT_HELLO, SERVER_HELLO, CERTIFICATE))


@dataclass(frozen=True, slots=True)
class Handshake:
    """One handshake message; ``body`` is decoded for ClientHello and ServerHello.
    ``complete`` is False for a message that goes on past the data given."""

    msg_type: int
    length: int
    offset: int
    body: ClientHello | ServerHello | None = None
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Alert:
    level: int
    description: int


@dataclass(frozen=True, slots=True)
class Record:
    content_type: int
    version: int
    length: int
    offset: int
    handshakes: tuple[Handshake, ...] = ()
    alert: Alert | None = None
    encrypted: bool = False


@dataclass(frozen=True, slots=True)
class TLS:
    records: tuple[Record, ...]
    after_ccs: bool = False  # a ChangeCipherSpec was seen: later handshakes are encrypted
    tls13: bool = False  # TLS 1.3 was chosen (given, or by a ServerHello in the data)
    partial: int = 0  # decode_segment: bytes of a record that goes on past the segment
    continuation: int = 0  # decode_segment: bytes that continue an earlier record
    pending: bytes = b""  # decode(carry=...): a handshake message's start, for the next call

    @property
    def handshakes(self) -> tuple[Handshake, ...]:
        return tuple(h for r in self.records for h in r.handshakes)

    @property
    def client_hello(self) -> ClientHello | None:
        return first_hello(self.handshakes, ClientHello)

    @property
    def server_hello(self) -> ServerHello | None:
        return first_hello(self.handshakes, ServerHello)


def record_length(buf: bytes | memoryview, off: int = 0) -> int | None:
    """Bytes of the record starting at ``off`` (header included), or None when fewer
    than 5 bytes are there; MalformedError when those bytes cannot start a record.
    The framer TCP reassembly uses (inspect/streams.py)."""
    if len(buf) - off < RECORD_HEADER_LEN:
        return None
    ctype, version, length = _REC.unpack_from(buf, off)
    _check_header(ctype, version, length, off)
    return RECORD_HEADER_LEN + int(length)


def _check_header(ctype: int, version: int, length: int, off: int) -> None:
    if ctype < CCS or ctype > HEARTBEAT:
        if ctype & 0x80:
            raise MalformedError(_LAYER, off, "SSLv2 record header (not decoded)")
        raise MalformedError(_LAYER, off, f"content type {ctype} is not a TLS record")
    if version >> 8 != 3 and version not in (0xFEFF, 0xFEFD, 0xFEFC):
        raise MalformedError(_LAYER, off + 1, f"record version 0x{version:04x} is not TLS")
    if length > MAX_RECORD_LEN:
        raise MalformedError(_LAYER, off + 3, f"record length {length} > {MAX_RECORD_LEN}")


def decode(
    data: bytes | memoryview,
    *,
    after_ccs: bool = False,
    tls13: bool = False,
    carry: bytes | None = None,
) -> TLS:
    """The whole records in ``data`` (it must end on a record boundary).

    A caller that follows the stream passes ``carry`` (b"" at first, then the
    ``pending`` of the previous result): a handshake message that goes on into a
    later record is then kept in ``pending`` and shown where it ends, instead of
    as an incomplete message here."""
    buf = bytes(data)
    end = len(buf)
    off = 0
    records: list[Record] = []
    following = carry is not None
    pending = carry or b""  # handshake bytes of a message that goes on into the next record
    pending_off = 0
    encrypted_hs = after_ccs
    if end == 0:
        raise TruncatedError(_LAYER, 0, RECORD_HEADER_LEN, 0)
    while off < end:
        if end - off < RECORD_HEADER_LEN:
            raise TruncatedError(_LAYER, off, RECORD_HEADER_LEN, end - off)
        ctype, version, length = _REC.unpack_from(buf, off)
        _check_header(ctype, version, length, off)
        body = off + RECORD_HEADER_LEN
        if end - body < length:
            raise TruncatedError(_LAYER, body, length, end - body)
        if ctype == APPLICATION_DATA:  # the common record: nothing to read in it
            records.append(Record(ctype, version, length, off, (), None, True))
            off = body + length
            continue
        frag = buf[body : body + length]
        hs: tuple[Handshake, ...] = ()
        alert = None
        enc = False
        if ctype == HANDSHAKE:
            hello = _plain_hello(frag, body) if encrypted_hs else None
            if hello is not None:
                # A hello after ChangeCipherSpec: TLS 1.3's second ClientHello (after a
                # HelloRetryRequest, RFC 8446 §4.1.4) when the ServerHello was not seen.
                hs = hello
            elif encrypted_hs:
                enc = True
            else:
                stream = pending + frag
                base = pending_off if pending else body
                last = body + length == end and not following
                parsed = _handshakes(stream, base, body, last=last)
                if parsed is None:
                    enc = True
                    pending = b""
                else:
                    hs, rest = parsed
                    for h in hs:
                        if isinstance(h.body, ServerHello) and h.body.version == 0x0304:
                            tls13 = True
                    pending = stream[len(stream) - rest :] if rest else b""
                    if rest:
                        pending_off = base + len(stream) - rest
        elif ctype == ALERT:
            if length == 2 and not encrypted_hs:
                alert = Alert(frag[0], frag[1])
            else:
                enc = True
        elif ctype == CCS:
            encrypted_hs = not tls13
        records.append(Record(ctype, version, length, off, hs, alert, enc))
        off = body + length
    return TLS(tuple(records), encrypted_hs, tls13, pending=pending if following else b"")


def _plain_hello(frag: bytes, body: int) -> tuple[Handshake, ...] | None:
    """The record's messages if it is one whole plaintext ClientHello or ServerHello."""
    if len(frag) < 4 or frag[0] not in (CLIENT_HELLO, SERVER_HELLO):
        return None
    if int.from_bytes(frag[1:4], "big") != len(frag) - 4:
        return None
    try:
        return (Handshake(frag[0], len(frag) - 4, body, _body(frag[0], frag[4:], body + 4)),)
    except DecodeError:
        return None


def decode_segment(
    data: bytes | memoryview, *, after_ccs: bool = False, tls13: bool = False
) -> TLS:
    """One TCP segment's payload without reassembly: the whole records it holds,
    with ``partial`` counting the bytes of a last record that goes on in later
    segments, and ``continuation`` the bytes of a segment that does not start
    with a record header (it continues one begun earlier)."""
    buf = bytes(data)
    end = len(buf)
    off = 0
    while end - off >= RECORD_HEADER_LEN:
        ctype, version, length = _REC.unpack_from(buf, off)
        try:
            _check_header(ctype, version, length, off)
        except MalformedError:
            if off == 0:
                return TLS((), after_ccs, tls13, 0, end)
            raise
        if end - off - RECORD_HEADER_LEN < length:
            break
        off += RECORD_HEADER_LEN + length
    if off == 0:
        if end < RECORD_HEADER_LEN and end and not CCS <= buf[0] <= HEARTBEAT:
            return TLS((), after_ccs, tls13, 0, end)
        return TLS((), after_ccs, tls13, end)
    whole = decode(buf[:off], after_ccs=after_ccs, tls13=tls13)
    return TLS(whole.records, whole.after_ccs, whole.tls13, end - off)


def _handshakes(
    stream: bytes, base: int, rec_body: int, *, last: bool
) -> tuple[tuple[Handshake, ...], int] | None:
    """Messages complete in ``stream`` (offset ``base`` in the data), and how many
    bytes are left over for the next record; None when the bytes are not plaintext."""
    out: list[Handshake] = []
    i = 0
    n = len(stream)
    while n - i >= 4:
        mtype = stream[i]
        mlen = int.from_bytes(stream[i + 1 : i + 4], "big")
        if mtype not in _KNOWN_HANDSHAKES:
            return None
        if mtype == HELLO_REQUEST and (mlen or n - i > 4):
            return None
        if n - i - 4 < mlen:
            if mtype not in _FRAGMENTING:
                return None
            if last:
                out.append(Handshake(mtype, mlen, base + i, None, False))
                return tuple(out), 0
            return tuple(out), n - i
        body = stream[i + 4 : i + 4 + mlen]
        out.append(Handshake(mtype, mlen, base + i, _body(mtype, body, base + i + 4)))
        i += 4 + mlen
    if i < n:
        if last:
            raise TruncatedError(_LAYER, base + i, 4, n - i)
        return tuple(out), n - i
    return tuple(out), 0


def decode_handshake(data: bytes | memoryview, offset: int = 0) -> tuple[Handshake, ...]:
    """Handshake messages back to back, without records (QUIC CRYPTO frames)."""
    buf = bytes(data)
    out: list[Handshake] = []
    i = 0
    n = len(buf)
    while i < n:
        if n - i < 4:
            raise TruncatedError(_LAYER, offset + i, 4, n - i)
        mtype = buf[i]
        mlen = int.from_bytes(buf[i + 1 : i + 4], "big")
        if n - i - 4 < mlen:
            out.append(Handshake(mtype, mlen, offset + i, None, False))
            break
        out.append(Handshake(mtype, mlen, offset + i, _body(mtype, buf[i + 4 : i + 4 + mlen],
                                                             offset + i + 4)))  # fmt: skip
        i += 4 + mlen
    return tuple(out)


def _body(mtype: int, body: bytes, off: int) -> ClientHello | ServerHello | None:
    if mtype == CLIENT_HELLO:
        return decode_client_hello(body, off)
    if mtype == SERVER_HELLO:
        return decode_server_hello(body, off)
    return None


TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import TypeVar

    _H = TypeVar("_H", "ClientHello", "ServerHello")


def first_hello(handshakes: tuple[Handshake, ...], kind: type[_H]) -> _H | None:
    """The body of the first handshake message of type ``kind`` (ClientHello or
    ServerHello), over TCP records or QUIC CRYPTO frames alike."""
    for h in handshakes:
        if isinstance(h.body, kind):
            return h.body
    return None
