"""Radiotap (LINKTYPE_IEEE802_11_RADIO, 127): the radio header in front of 802.11.

Layout (radiotap.org, "Radiotap header"): version (1, 0), pad (1), length (2,
little-endian: the whole radiotap header), then one or more 32-bit present
words (little-endian; bit 31 says another word follows). The fields follow in
bit order, each aligned to its natural size counted from the header's start
(radiotap.org, "Alignment in Radiotap"). Bit 29 of a present word returns the
next word to the radiotap namespace, bit 30 opens a vendor namespace (OUI (3),
sub namespace (1), skip length (2), aligned to 2) whose data is skipped whole.

Decoded fields: TSFT (0), flags (1), rate (2, in 500 kb/s), channel (3:
frequency, flags), dBm antenna signal (5) and noise (6), lock quality (7),
dBm TX power (10), antenna (11), dB antenna signal (12) and noise (13); the
others are stepped over by their size. A bit we do not know the size of stops
the walk (the fields before it are kept; ``walk_stopped`` names the bit): the
802.11 frame is still found through ``length``.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Radiotap", "build", "FIELDS", "F_FCS", "F_DATAPAD", "F_BADFCS"]

_HEAD = struct.Struct("<BBHI")
HEADER_LEN = 8
#: radiotap namespace bit -> (alignment, size), radiotap.org "Defined fields"
FIELDS: dict[int, tuple[int, int]] = {
    0: (8, 8), 1: (1, 1), 2: (1, 1), 3: (2, 4), 4: (1, 2), 5: (1, 1), 6: (1, 1),
    7: (2, 2), 8: (2, 2), 9: (2, 2), 10: (1, 1), 11: (1, 1), 12: (1, 1), 13: (1, 1),
    14: (2, 2), 15: (2, 2), 16: (1, 1), 17: (1, 1), 18: (4, 8), 19: (1, 3),
    20: (4, 8), 21: (2, 12), 22: (8, 12), 23: (2, 12), 24: (2, 12), 25: (2, 6),
    26: (1, 1), 27: (2, 4),
}  # fmt: skip
# Flags (bit 1) values
F_CFP, F_SHORTPRE, F_WEP, F_FRAG, F_FCS, F_DATAPAD, F_BADFCS, F_SHORTGI = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80,
)  # fmt: skip
_NS_RADIOTAP, _NS_VENDOR, _EXT = 29, 30, 31


class Radiotap:
    """A radiotap header. Absent fields are None. ``ieee80211`` is the frame it carries."""

    __slots__ = (
        "version", "length", "present", "offset", "tsft", "flags", "rate", "freq",
        "chan_flags", "dbm_signal", "dbm_noise", "lock_quality", "dbm_tx_power",
        "antenna", "db_signal", "db_noise", "walk_stopped", "ieee80211", "header_len",
    )  # fmt: skip
    name = "radiotap"

    version: int
    length: int
    present: tuple[int, ...]
    offset: int
    tsft: int | None
    flags: int | None
    rate: int | None
    freq: int | None
    chan_flags: int | None
    dbm_signal: int | None
    dbm_noise: int | None
    lock_quality: int | None
    dbm_tx_power: int | None
    antenna: int | None
    db_signal: int | None
    db_noise: int | None
    walk_stopped: int | None
    ieee80211: Any
    header_len: int  # where the link payload starts (set by the dispatcher)

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> Radiotap:
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("radiotap", off, HEADER_LEN, got)
        h = cls()
        h.version, _pad, h.length, word = _HEAD.unpack_from(buf, off)
        h.offset = off
        h.header_len = h.length
        h.ieee80211 = None
        for name in cls.__slots__[4:17]:
            setattr(h, name, None)
        if h.version != 0:
            raise MalformedError("radiotap", off, f"version {h.version} (only 0 is defined)")
        if h.length < HEADER_LEN:
            raise MalformedError("radiotap", off, f"length {h.length} < {HEADER_LEN}")
        if h.length > got:
            raise TruncatedError("radiotap", off, h.length, got)
        end = off + h.length
        words = [word]
        pos = off + HEADER_LEN
        while word & (1 << _EXT):
            if pos + 4 > end:
                raise MalformedError("radiotap", pos, "present words run past the header length")
            word = struct.unpack_from("<I", buf, pos)[0]
            words.append(word)
            pos += 4
        h.present = tuple(words)
        h._walk(buf, off, pos, end)
        return h

    def _walk(self, buf: bytes, base: int, pos: int, end: int) -> None:
        vendor = False
        for i, word in enumerate(self.present):
            if vendor:  # the whole vendor namespace's data was skipped at its header
                pass
            else:
                for bit in range(29):
                    if not word >> bit & 1:
                        continue
                    spec = FIELDS.get(bit)
                    if spec is None:
                        self.walk_stopped = 32 * i + bit
                        return
                    align, size = spec
                    pos = base + (pos - base + align - 1) // align * align
                    if pos + size > end:  # a field past the header: stop, keep the rest
                        self.walk_stopped = 32 * i + bit
                        return
                    if i == 0:
                        self._field(bit, buf, pos)
                    pos += size
            if word >> _NS_VENDOR & 1:
                pos = base + (pos - base + 1) // 2 * 2
                if pos + 6 > end:
                    self.walk_stopped = 32 * i + _NS_VENDOR
                    return
                pos += 6 + struct.unpack_from("<H", buf, pos + 4)[0]
                vendor = True
            elif word >> _NS_RADIOTAP & 1:
                vendor = False

    def _field(self, bit: int, b: bytes, p: int) -> None:
        if bit == 0:
            self.tsft = struct.unpack_from("<Q", b, p)[0]
        elif bit == 1:
            self.flags = b[p]
        elif bit == 2:
            self.rate = b[p]
        elif bit == 3:
            self.freq, self.chan_flags = struct.unpack_from("<HH", b, p)
        elif bit == 5:
            self.dbm_signal = b[p] - 256 if b[p] > 127 else b[p]
        elif bit == 6:
            self.dbm_noise = b[p] - 256 if b[p] > 127 else b[p]
        elif bit == 7:
            self.lock_quality = struct.unpack_from("<H", b, p)[0]
        elif bit == 10:
            self.dbm_tx_power = b[p] - 256 if b[p] > 127 else b[p]
        elif bit == 11:
            self.antenna = b[p]
        elif bit == 12:
            self.db_signal = b[p]
        elif bit == 13:
            self.db_noise = b[p]

    @property
    def has_fcs(self) -> bool:
        return bool(self.flags is not None and self.flags & F_FCS)

    @property
    def datapad(self) -> bool:
        return bool(self.flags is not None and self.flags & F_DATAPAD)

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "length": self.length}
        d["present"] = [f"0x{w:08x}" for w in self.present]
        for k in self.__slots__[4:16]:
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.walk_stopped is not None:
            d["walk_stopped"] = self.walk_stopped
        if self.ieee80211 is not None:
            d["ieee80211"] = self.ieee80211.fields()
        return d


def build(payload: bytes = b"", **fields: int) -> bytes:
    """A radiotap header with the named fields (tsft, flags, rate, freq and chan_flags,
    dbm_signal, dbm_noise, antenna, db_signal), in one present word, then ``payload``."""
    order = [
        (0, "tsft", "<Q"), (1, "flags", "<B"), (2, "rate", "<B"), (3, "freq", "<HH"),
        (5, "dbm_signal", "<b"), (6, "dbm_noise", "<b"), (7, "lock_quality", "<H"),
        (10, "dbm_tx_power", "<b"), (11, "antenna", "<B"), (12, "db_signal", "<B"),
        (13, "db_noise", "<B"),
    ]  # fmt: skip
    present = 0
    body = bytearray()
    for bit, name, fmt in order:
        if name not in fields:
            continue
        present |= 1 << bit
        align = FIELDS[bit][0]
        while (HEADER_LEN + len(body)) % align:
            body.append(0)
        if bit == 3:
            body += struct.pack(fmt, fields["freq"], fields.get("chan_flags", 0))
        else:
            body += struct.pack(fmt, fields[name])
    return _HEAD.pack(0, 0, HEADER_LEN + len(body), present) + bytes(body) + payload
