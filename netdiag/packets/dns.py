"""DNS messages (RFC 1035), also as mDNS (RFC 6762) and LLMNR (RFC 4795) carry them.

``decode(data)`` takes a whole message (a UDP payload); ``decode_tcp(data)``
takes a TCP payload that starts with the two-byte length prefix (RFC 1035
§4.2.2; RFC 7766). Both return a frozen ``Message``: the header, the questions,
and the answer, authority and additional records. Record data is decoded for A,
AAAA, NS, CNAME, PTR, DNAME (a name), MX ``(preference, exchange)``, TXT (a
tuple of strings), SOA ``(mname, rname, serial, refresh, retry, expire,
minimum)``, SRV ``(priority, weight, port, target)`` and OPT (EDNS0, RFC 6891:
``((code, bytes), ...)``, with the UDP size, extended rcode, version and DO bit
read off the class and TTL), URI ``(priority, weight, target)``; any other type
keeps its rdata as bytes.

Names are text in presentation form with the final dot (``www.example.com.``,
the root is ``.``); a label byte that is not printable ASCII, a dot or a
backslash is written ``\\DDD`` (RFC 1035 §5.1), and ``build`` reads that form back.

Bounded against hostile input: a compression pointer must point before the
segment of the name it is found in (so every jump goes strictly backwards and
a name cannot loop), a name is at most 255 bytes, label types 01 and 10 are
refused, and every count and length is checked against the message; each
violation is a ``MalformedError`` or ``TruncatedError`` with layer ``"dns"``
and the offset in the message. Its ``partial`` attribute is the ``Message`` with
the header and the questions and records that decoded before the damage (None
when the header itself is cut short).

``build(message)`` writes a message without compression (round trip:
``decode(build(m)) == m``); ``build_query(name, qtype)`` is the common case.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.packets.addr import ip_bytes, ip_text
from netdiag.packets.dnsnames import CLASS_NAMES, OPCODE_NAMES, RCODE_NAMES, TYPE_NAMES

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    # offset -> (name text as bytes, wire length): the names read in one message
    _Cache = dict[int, tuple[bytes, int]]

__all__ = [
    "Message",
    "Question",
    "Record",
    "decode",
    "decode_tcp",
    "build",
    "build_tcp",
    "build_query",
    "TYPE_NAMES",
    "CLASS_NAMES",
    "RCODE_NAMES",
    "OPCODE_NAMES",
    "HEADER_LEN",
]

_HDR = struct.Struct("!HHHHHH")
HEADER_LEN = _HDR.size  # 12
_RR = struct.Struct("!HHIH")
_Q = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_SOA = struct.Struct("!IIIII")
_SRV = struct.Struct("!HHH")
_L = "dns"

_A, _NS, _CNAME, _SOA_T, _PTR, _MX, _TXT, _AAAA, _SRV_T, _DNAME, _OPT = (
    1, 2, 5, 6, 12, 15, 16, 28, 33, 39, 41,
)  # fmt: skip
_URI = 256
_NAME_TYPES = frozenset((_NS, _CNAME, _PTR, _DNAME, 3, 4, 7, 8, 9))
_PLAIN = frozenset(range(0x20, 0x7F)) - {0x2E, 0x5C}  # space kept, as tcpdump and tshark show it
_PLAIN_BYTES = bytes(sorted(_PLAIN))  # for bytes.translate: what is left needs escaping


# The three records are named tuples (immutable, and about four times cheaper to
# make than a frozen record class: a busy capture holds many DNS messages, STYLE
# habit 9). mypy reads the typed form; the program makes them with collections.
if TYPE_CHECKING:
    from typing import NamedTuple

    class _Question(NamedTuple):
        name: str
        qtype: int
        qclass: int  # mDNS: bit 15 asks for a unicast response (QU)

    class _Record(NamedTuple):
        name: str
        rtype: int
        rclass: int  # OPT: the requestor's UDP payload size; mDNS: bit 15 is cache-flush
        ttl: int  # OPT: extended rcode (8), version (8), DO and Z flags (16)
        rdlength: int
        data: Any  # decoded per type (see the module docstring), bytes for other types

    class _Message(NamedTuple):
        id: int
        flags: int
        qdcount: int
        ancount: int
        nscount: int
        arcount: int
        questions: tuple[Question, ...]
        answers: tuple[Record, ...]
        authority: tuple[Record, ...]
        additional: tuple[Record, ...]
        length: int  # bytes of the message (without a TCP length prefix)
        tcp_length: int | None = None  # the TCP length prefix (RFC 1035 §4.2.2)
else:
    _Question = namedtuple("_Question", "name qtype qclass")
    _Record = namedtuple("_Record", "name rtype rclass ttl rdlength data")
    _Message = namedtuple(
        "_Message",
        "id flags qdcount ancount nscount arcount questions answers authority additional "
        "length tcp_length",
        defaults=(None,),
    )


class Question(_Question):
    __slots__ = ()

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.qtype, f"Type{self.qtype}")


class Record(_Record):
    __slots__ = ()

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.rtype, f"Type{self.rtype}")


class Message(_Message):
    """A DNS message; ``replace`` is ``_replace``."""

    __slots__ = ()

    @property
    def qr(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return self.flags >> 11 & 0xF

    @property
    def aa(self) -> bool:
        return bool(self.flags & 0x0400)

    @property
    def tc(self) -> bool:
        return bool(self.flags & 0x0200)

    @property
    def rd(self) -> bool:
        return bool(self.flags & 0x0100)

    @property
    def ra(self) -> bool:
        return bool(self.flags & 0x0080)

    @property
    def ad(self) -> bool:
        return bool(self.flags & 0x0020)

    @property
    def cd(self) -> bool:
        return bool(self.flags & 0x0010)

    @property
    def edns(self) -> Record | None:
        """The OPT pseudo-record of the additional section (RFC 6891), if any."""
        for r in self.additional:
            if r.rtype == _OPT:
                return r
        return None

    @property
    def rcode(self) -> int:
        """The response code, with EDNS's upper 8 bits when an OPT record is present."""
        opt = self.edns
        low = self.flags & 0xF
        return low if opt is None else (opt.ttl >> 24 & 0xFF) << 4 | low

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"Resp{self.rcode}")


# -- decoding -------------------------------------------------------------------------


def _name(buf: bytes, off: int, end: int, cache: _Cache) -> tuple[str, int]:
    """The (possibly compressed) name at ``off``, and the offset after it (RFC 1035 §4.1.4).

    ``cache`` maps offsets where a name (or the rest of one) starts to its text and
    wire length, so a pointer to a suffix already read (the usual ``c0 0c``) costs a
    look-up instead of a walk."""
    labels: list[bytes] = []
    total = 1
    pos = off
    stop = end  # the name's own bytes end by ``end``; after a pointer, by the message's end
    after = -1  # where the name ends in the stream: after its first pointer
    limit = off  # a pointer must go before the segment it is found in
    starts: list[tuple[int, int, int]] = [(off, 0, 1)]  # (offset, labels before, total before)
    tail = b""
    tail_len = 0
    while True:
        if pos >= stop:
            raise TruncatedError(_L, pos, 1, 0)
        c = buf[pos]
        if c == 0:
            break
        if c < 0x40:
            nxt = pos + 1 + c
            if nxt > stop:
                raise TruncatedError(_L, pos, 1 + c, stop - pos)
            total += c + 1
            if total > 255:
                raise MalformedError(_L, off, "name longer than 255 bytes")
            raw = buf[pos + 1 : nxt]
            if raw.translate(None, _PLAIN_BYTES):  # bytes to escape (RFC 1035 §5.1)
                raw = "".join(chr(b) if b in _PLAIN else f"\\{b:03d}" for b in raw).encode()
            labels.append(raw)
            pos = nxt
            continue
        if c < 0xC0:
            raise MalformedError(_L, pos, f"label type 0x{c & 0xC0:02x} not supported")
        if pos + 2 > stop:
            raise TruncatedError(_L, pos, 2, stop - pos)
        target = (c & 0x3F) << 8 | buf[pos + 1]
        if target >= limit:
            raise MalformedError(_L, pos, f"compression pointer to {target} does not point back")
        if after < 0:
            after = pos + 2
            stop = len(buf)
        hit = cache.get(target)
        if hit is not None:
            tail, tail_len = hit
            if total + tail_len - 1 > 255:
                raise MalformedError(_L, off, "name longer than 255 bytes")
            break
        starts.append((target, len(labels), total))
        pos = limit = target
    if after < 0:
        after = pos + 1
    if not labels and not tail:
        return ".", after
    wire = total + tail_len - (1 if tail_len else 0)
    for at, k, before in starts:
        if at not in cache:
            rest = b"".join(x + b"." for x in labels[k:]) + tail
            cache[at] = (rest, wire - before + 1)
    text = cache[off][0] if off in cache else b"".join(x + b"." for x in labels) + tail
    return text.decode("ascii"), after


def _rdata(buf: bytes, rtype: int, off: int, end: int, cache: _Cache) -> Any:
    n = end - off
    if rtype == _A or rtype == _AAAA:
        want = 4 if rtype == _A else 16
        if n != want:
            raise MalformedError(_L, off, f"{TYPE_NAMES[rtype]} rdata of {n} bytes, not {want}")
        return ip_text(buf[off:end])
    if rtype in _NAME_TYPES:
        return _name_in(buf, off, end, cache)
    if rtype == _MX:
        _need(off, 3, n)
        return (_U16.unpack_from(buf, off)[0], _name_in(buf, off + 2, end, cache))
    if rtype == _SOA_T:
        mname, at = _name(buf, off, end, cache)
        rname, at = _name(buf, at, end, cache)
        if end - at != 20:
            raise MalformedError(_L, at, f"SOA numbers of {end - at} bytes, not 20")
        return (mname, rname, *_SOA.unpack_from(buf, at))
    if rtype == _SRV_T:
        _need(off, 7, n)
        return (*_SRV.unpack_from(buf, off), _name_in(buf, off + 6, end, cache))
    if rtype == _TXT:
        out = []
        at = off
        while at < end:
            k = buf[at]
            if at + 1 + k > end:
                raise TruncatedError(_L, at, 1 + k, end - at)
            out.append(_text(buf[at + 1 : at + 1 + k]))
            at += 1 + k
        return tuple(out)
    if rtype == _URI:
        _need(off, 4, n)
        return (*_Q.unpack_from(buf, off), _text(buf[off + 4 : end]))
    if rtype == _OPT:
        opts = []
        at = off
        while at < end:
            if end - at < 4:
                raise TruncatedError(_L, at, 4, end - at)
            code, k = _Q.unpack_from(buf, at)
            if at + 4 + k > end:
                raise TruncatedError(_L, at, 4 + k, end - at)
            opts.append((code, bytes(buf[at + 4 : at + 4 + k])))
            at += 4 + k
        return tuple(opts)
    return bytes(buf[off:end])


def _need(off: int, want: int, got: int) -> None:
    if got < want:
        raise TruncatedError(_L, off, want, got)


def _name_in(buf: bytes, off: int, end: int, cache: _Cache) -> str:
    name, at = _name(buf, off, end, cache)
    if at != end:
        raise MalformedError(_L, at, f"{end - at} bytes after the name in rdata")
    return name


def _text(raw: bytes) -> str:
    """A character-string as text: printable ASCII kept, others as ``\\DDD``."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\{b:03d}" for b in raw)


def _records(buf: bytes, at: int, count: int, end: int, out: list[Record], cache: _Cache) -> int:
    """Append ``count`` records from ``at`` to ``out``; the offset after them."""
    for _ in range(count):
        name, at = _name(buf, at, end, cache)
        if end - at < _RR.size:
            raise TruncatedError(_L, at, _RR.size, end - at)
        rtype, rclass, ttl, rdlen = _RR.unpack_from(buf, at)
        at += _RR.size
        if at + rdlen > end:
            raise TruncatedError(_L, at, rdlen, end - at)
        out.append(
            Record(name, rtype, rclass, ttl, rdlen, _rdata(buf, rtype, at, at + rdlen, cache))
        )
        at += rdlen
    return at


def decode(data: bytes | memoryview, *, tcp_length: int | None = None) -> Message:
    """The DNS message ``data`` (a UDP payload)."""
    buf = bytes(data)
    end = len(buf)
    if end < HEADER_LEN:
        raise TruncatedError(_L, 0, HEADER_LEN, end)
    ident, flags, qd, an, ns, ar = _HDR.unpack_from(buf)
    at = HEADER_LEN
    qs: list[Question] = []
    secs: tuple[list[Record], list[Record], list[Record]] = ([], [], [])
    cache: _Cache = {}
    try:
        for _ in range(qd):
            name, at = _name(buf, at, end, cache)
            if end - at < 4:
                raise TruncatedError(_L, at, 4, end - at)
            qtype, qclass = _Q.unpack_from(buf, at)
            at += 4
            qs.append(Question(name, qtype, qclass))
        at = _records(buf, at, an, end, secs[0], cache)
        at = _records(buf, at, ns, end, secs[1], cache)
        _records(buf, at, ar, end, secs[2], cache)
    except DecodeError as e:
        # What decoded before the damage, for a reader that shows it (``partial``).
        part = Message(ident, flags, qd, an, ns, ar, tuple(qs), tuple(secs[0]), tuple(secs[1]),
                       tuple(secs[2]), end, tcp_length)  # fmt: skip
        setattr(e, "partial", part)  # noqa: B010 (DecodeError declares no such field)
        raise
    return Message(
        ident, flags, qd, an, ns, ar, tuple(qs), tuple(secs[0]), tuple(secs[1]),
        tuple(secs[2]), end, tcp_length,
    )  # fmt: skip


def decode_tcp(data: bytes | memoryview) -> Message:
    """The first DNS message of a TCP payload: a two-byte length, then the message."""
    buf = bytes(data)
    if len(buf) < 2:
        raise TruncatedError(_L, 0, 2, len(buf))
    n = _U16.unpack_from(buf)[0]
    if len(buf) - 2 < n:
        raise TruncatedError(_L, 2, n, len(buf) - 2)
    try:
        return decode(buf[2 : 2 + n], tcp_length=n)
    except DecodeError as e:  # offsets in the TCP payload, prefix included
        moved: DecodeError = (
            TruncatedError(_L, e.offset + 2, e.needed, e.got)
            if isinstance(e, TruncatedError)
            else MalformedError(_L, e.offset + 2, e.reason)
        )
        setattr(moved, "partial", getattr(e, "partial", None))  # noqa: B010
        raise moved from None


# -- building -------------------------------------------------------------------------


def _name_bytes(name: str) -> bytes:
    """Presentation form (``\\DDD`` and ``\\.`` escapes) to wire form, uncompressed."""
    if name in ("", "."):
        return b"\x00"
    out = bytearray()
    label = bytearray()
    i = 0
    text = name if name.endswith(".") else name + "."
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1 : i + 4].isdigit():
            label.append(int(text[i + 1 : i + 4]))
            i += 4
            continue
        if ch == "\\":
            label.extend(text[i + 1].encode("latin-1"))
            i += 2
            continue
        if ch == ".":
            if not label or len(label) > 63:
                raise ValueError(f"bad label in {name!r}")
            out.append(len(label))
            out += label
            label.clear()
        else:
            label.extend(ch.encode("latin-1"))
        i += 1
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"name longer than 255 bytes: {name!r}")
    return bytes(out)


def _text_bytes(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "\\":
            out.append(int(text[i + 1 : i + 4]))
            i += 4
        else:
            out.extend(text[i].encode("latin-1"))
            i += 1
    return bytes(out)


def _rdata_bytes(r: Record) -> bytes:
    t, d = r.rtype, r.data
    if isinstance(d, bytes | bytearray):
        return bytes(d)
    if t == _A or t == _AAAA:
        return ip_bytes(d)
    if t in _NAME_TYPES:
        return _name_bytes(d)
    if t == _MX:
        return _U16.pack(d[0]) + _name_bytes(d[1])
    if t == _SOA_T:
        return _name_bytes(d[0]) + _name_bytes(d[1]) + _SOA.pack(*d[2:])
    if t == _SRV_T:
        return _SRV.pack(*d[:3]) + _name_bytes(d[3])
    if t == _TXT:
        parts = [_text_bytes(s) for s in d]
        return b"".join(bytes([len(p)]) + p for p in parts)
    if t == _URI:
        return _Q.pack(d[0], d[1]) + _text_bytes(d[2])
    if t == _OPT:
        return b"".join(_Q.pack(code, len(v)) + v for code, v in d)
    raise ValueError(f"no rdata encoding for type {t} data {d!r}")


def build(m: Message) -> bytes:
    """The message on the wire (no compression); counts are those of ``m``'s sections."""
    out = bytearray(
        _HDR.pack(
            m.id,
            m.flags,
            len(m.questions),
            len(m.answers),
            len(m.authority),
            len(m.additional),
        )
    )
    for q in m.questions:
        out += _name_bytes(q.name) + _Q.pack(q.qtype, q.qclass)
    for r in (*m.answers, *m.authority, *m.additional):
        rd = _rdata_bytes(r)
        out += _name_bytes(r.name) + _RR.pack(r.rtype, r.rclass, r.ttl, len(rd)) + rd
    return bytes(out)


def build_tcp(m: Message) -> bytes:
    """The message with its TCP length prefix."""
    body = build(m)
    return _U16.pack(len(body)) + body


def build_query(
    name: str, qtype: int = _A, *, ident: int = 0, rd: bool = True, udp_size: int | None = None
) -> bytes:
    """A query for ``name``; ``udp_size`` adds an EDNS0 OPT record (RFC 6891)."""
    add: tuple[Record, ...] = ()
    if udp_size is not None:
        add = (Record(".", _OPT, udp_size, 0, 0, ()),)
    q = Question(name, qtype, 1)
    return build(Message(ident, 0x0100 if rd else 0, 1, 0, 0, len(add), (q,), (), (), add, 0))
