"""A client's QUIC Initial packet, decrypted to reach its ClientHello (RFC 9001 §5).

Initial packets are protected with keys anyone can derive: from a per-version
salt and the Destination Connection ID the client chose (RFC 9001 §5.2), so a
passive reader can decrypt the client's first flight and read the TLS
ClientHello inside (SNI, ALPN, JA4 with ``q``). Alone, a client's
Initial is decrypted with keys from its own DCID: its first flight, the
ClientHello (after a Retry, the first flight again, to the Retry's connection
ID). The server's Initials (its ServerHello), and the client's later ones once
the server has chosen its connection ID, are keyed by the DCID of the client's
first Initial, which a reader following the connection passes in
(inspect/appstreams.py).

Steps: ``initial_keys(dcid, version)`` (HKDF-Extract with the salt, then
HKDF-Expand-Label "client in", "quic key"/"quic iv"/"quic hp"; QUIC v2, RFC 9369
§3.3, has its own salt and "quicv2" labels); header protection removed with
AES-128-ECB over the 16-byte sample 4 bytes past the packet number's start
(RFC 9001 §5.4); the payload opened with AES-128-GCM, nonce = IV xor packet
number, the header as associated data (§5.3); then the frames (RFC 9000 §19):
PADDING, PING, ACK and CONNECTION_CLOSE are stepped over, CRYPTO frames are put
in place by their offset, and the bytes from offset 0 that are contiguous are
read as TLS handshake messages (packets/tls.py ``decode_handshake``).

The cryptography comes from the ``cryptography`` library (``pip install
netdiag[quic]``), imported on first use: without it ``decrypt_initial``
returns None, and nothing else in netdiag needs it. A packet that does not
decrypt (a server's, a damaged one, a version we have no salt for) gives None;
frames that do not parse raise ``MalformedError``/``TruncatedError`` (layer
``quic``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.quic import INITIAL, V2, LongHeader, varint
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.packets.tls import ClientHello, Handshake, ServerHello

__all__ = ["InitialKeys", "InitialContents", "initial_keys", "decrypt_initial", "available"]

_LAYER = "quic"
# RFC 9001 §5.2 (v1), RFC 9369 §3.3.1 (v2), draft-ietf-quic-tls-29 §5.2 (drafts 29-32).
_SALTS = {
    1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
_DRAFT_SALT = bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899")
_SAMPLE_LEN = 16


@dataclass(frozen=True, slots=True)
class InitialKeys:
    secret: bytes
    key: bytes
    iv: bytes
    hp: bytes


@dataclass(frozen=True, slots=True)
class InitialContents:
    packet_number: int
    frames: tuple[str, ...]  # the frame types met, by name, in order
    crypto: bytes  # the CRYPTO bytes contiguous from offset 0
    handshakes: tuple[Handshake, ...]

    @property
    def client_hello(self) -> ClientHello | None:
        from netdiag.packets.tls import ClientHello, first_hello

        return first_hello(self.handshakes, ClientHello)

    @property
    def server_hello(self) -> ServerHello | None:
        from netdiag.packets.tls import ServerHello, first_hello

        return first_hello(self.handshakes, ServerHello)


def _expand_label(secret: bytes, label: str, length: int) -> bytes:
    """HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, over SHA-256."""
    full = b"tls13 " + label.encode()
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out = b""
    block = b""
    i = 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def _salt(version: int) -> bytes | None:
    if version >> 8 == 0xFF0000 and 29 <= version & 0xFF <= 32:
        return _DRAFT_SALT
    return _SALTS.get(version)


def initial_keys(dcid: bytes, version: int = 1, *, server: bool = False) -> InitialKeys | None:
    """The Initial keys of one side, from the client's first DCID (RFC 9001 §5.2)."""
    salt = _salt(version)
    if salt is None:
        return None
    initial_secret = hmac.new(salt, dcid, hashlib.sha256).digest()  # HKDF-Extract
    secret = _expand_label(initial_secret, "server in" if server else "client in", 32)
    p = "quicv2 " if version == V2 else "quic "
    return InitialKeys(secret, _expand_label(secret, p + "key", 16),
                       _expand_label(secret, p + "iv", 12),
                       _expand_label(secret, p + "hp", 16))  # fmt: skip


def available() -> bool:
    """Whether the ``cryptography`` library is there (the ``quic`` extra)."""
    try:
        import cryptography.hazmat.primitives.ciphers.aead  # noqa: F401
    except ImportError:
        return False
    return True


def decrypt_initial(
    data: bytes | memoryview, h: LongHeader, *, dcid: bytes | None = None, server: bool = False
) -> InitialContents | None:
    """The frames of the Initial ``h`` (a header ``quic.decode`` read from ``data``),
    decrypted; None when it does not decrypt. The keys come from ``dcid`` (the
    client's first Initial's DCID, which a reader following the connection knows)
    and the side that sent it, else from the packet's own DCID as the client's."""
    if h.packet_type != INITIAL or h.payload_offset is None or h.length is None:
        return None
    keys = initial_keys(h.dcid if dcid is None else dcid, h.version, server=server)
    if keys is None or not available():
        return None
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    buf = bytes(data)
    pn_off = h.payload_offset
    end = pn_off + h.length
    if end > len(buf) or h.length < 4 + _SAMPLE_LEN:
        return None
    sample = buf[pn_off + 4 : pn_off + 4 + _SAMPLE_LEN]
    enc = Cipher(algorithms.AES(keys.hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = buf[h.offset] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(buf[pn_off : pn_off + pn_len], mask[1:], strict=False))
    pn = int.from_bytes(pn_bytes, "big")
    header = bytes([first]) + buf[h.offset + 1 : pn_off] + pn_bytes
    nonce = bytes(a ^ b for a, b in zip(keys.iv, pn.to_bytes(12, "big"), strict=True))
    try:
        plain = AESGCM(keys.key).decrypt(nonce, buf[pn_off + pn_len : end], header)
    except InvalidTag:
        return None
    return _frames(pn, plain)


_FRAME_NAMES = {0x00: "PADDING", 0x01: "PING", 0x02: "ACK", 0x03: "ACK", 0x06: "CRYPTO",
                0x1C: "CONNECTION_CLOSE", 0x1D: "CONNECTION_CLOSE"}  # fmt: skip


def _frames(pn: int, p: bytes) -> InitialContents:
    """RFC 9000 §19: the frames an Initial may carry (§17.2.2)."""
    from netdiag.packets.tls import decode_handshake

    end = len(p)
    i = 0
    names: list[str] = []
    pieces: dict[int, bytes] = {}
    while i < end:
        ftype = p[i]
        if ftype == 0x00:
            j = i
            while j < end and p[j] == 0:
                j += 1
            i = j
        elif ftype == 0x01:
            i += 1
        elif ftype in (0x02, 0x03):
            i += 1
            for _ in range(2):  # largest acknowledged, ack delay
                _, i = varint(p, i, end)
            count, i = varint(p, i, end)
            _, i = varint(p, i, end)  # first range
            if count > end:
                raise MalformedError(_LAYER, i, f"ACK range count {count} past the packet")
            for _ in range(2 * count):
                _, i = varint(p, i, end)
            if ftype == 0x03:
                for _ in range(3):  # ECN counts
                    _, i = varint(p, i, end)
        elif ftype == 0x06:
            off, i = varint(p, i + 1, end)
            n, i = varint(p, i, end)
            if end - i < n:
                raise TruncatedError(_LAYER, i, n, end - i)
            pieces[off] = p[i : i + n]
            i += n
        elif ftype in (0x1C, 0x1D):
            _, i = varint(p, i + 1, end)  # error code
            if ftype == 0x1C:
                _, i = varint(p, i, end)  # frame type
            n, i = varint(p, i, end)
            i += n
        else:
            raise MalformedError(_LAYER, i, f"frame type 0x{ftype:02x} not allowed in an Initial")
        names.append(_FRAME_NAMES[ftype])
    crypto = b""
    while len(crypto) in pieces:
        crypto += pieces.pop(len(crypto))
        if not crypto:
            break
    return InitialContents(pn, tuple(names), crypto, decode_handshake(crypto) if crypto else ())
