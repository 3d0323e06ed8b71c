"""The flood fast path of ``sniff -w`` (``capture.ringpcap``): a ring block of
same-shaped packets becomes pcap records in two C calls.

Blocks are laid out as the kernel lays out a TPACKET_V3 block (linux/if_packet.h:
``tpacket3_hdr`` every ``tp_next_offset`` bytes, 16-aligned, data at ``tp_mac``,
the last packet's next offset 0). The records are put behind a pcap file header
and read back by tshark, which must see the frames, lengths and timestamps the
block holds; any packet that differs from the others sends the block back to the
per-packet walk (None).
"""

from __future__ import annotations

import hashlib
import mmap
import struct
import subprocess

import pytest

from netdiag.capture.ringpcap import MIN_PACKETS, UniformBlocks

_HDR = struct.Struct("=IIIIIIHH")  # next, sec, nsec, snaplen, len, status, mac, net
BLOCK = 1 << 20
FIRST = 48  # offset_to_first_pkt after the block descriptor
MAC = 82  # SOCK_RAW: TPACKET_ALIGN(68 + 16) - 14
SEC = 1_700_000_000


Expected = list[tuple[int, int, bytes, int]]


def _block(n: int, snap: int = 106, *, odd: int | None = None, vlan: int | None = None,
           wirelen_extra: int = 0) -> tuple[mmap.mmap, Expected]:  # fmt: skip
    """A mapped block of ``n`` packets; packet ``odd`` is one byte shorter, packet
    ``vlan`` carries TP_STATUS_VLAN_VALID. Also returns (sec, nsec, data, wirelen)."""
    mm = mmap.mmap(-1, BLOCK)
    off = FIRST
    want = []
    for i in range(n):
        caplen = snap - 1 if i == odd else snap
        stride = (MAC + snap + 15) & ~15
        status = 1 | (16 if i == vlan else 0)
        data = bytes((i + k) & 0xFF for k in range(caplen))
        nxt = 0 if i == n - 1 else stride
        wire = caplen + wirelen_extra
        _HDR.pack_into(mm, off, nxt, SEC + i // 1000, i * 997, caplen, wire, status, MAC, MAC + 14)
        mm[off + MAC : off + MAC + caplen] = data
        want.append((SEC + i // 1000, i * 997, data, wire))
        off += stride
    return mm, want


def _tshark_view(tshark: str, tmp_path, records: bytes) -> str:
    path = tmp_path / "block.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1) + records)
    done = subprocess.run([tshark, "-r", str(path), "-o", "frame.generate_md5_hash:TRUE", "-T",
                           "fields", "-e", "frame.time_epoch", "-e", "frame.len",
                           "-e", "frame.cap_len", "-e", "frame.md5_hash"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_uniform_block_becomes_the_records_tshark_reads(tmp_path, require_tool):
    tshark = require_tool("tshark")
    n = 3000
    mm, want = _block(n, wirelen_extra=4)
    u = UniformBlocks()
    assert u.records(mm, FIRST, n, BLOCK) is None  # first sight: not worth compiling yet
    out = u.records(mm, FIRST, n, BLOCK)
    assert out is not None
    ref = b"".join(struct.pack("<IIII", s, ns, len(d), w) + d for s, ns, d, w in want)
    assert out == ref
    text = _tshark_view(tshark, tmp_path, out)
    seen = [ln.split("\t") for ln in text.splitlines()]
    assert seen == [[f"{s}.{ns:09d}", str(w), str(len(d)), hashlib.md5(d).hexdigest()]
                    for s, ns, d, w in want]  # fmt: skip


@pytest.mark.parametrize("case", ["one-shorter", "vlan", "last-short", "past-end", "small"])
def test_a_block_that_is_not_uniform_goes_back_to_the_walk(case):
    n = 500
    kw = {"one-shorter": {"odd": 250}, "vlan": {"vlan": 7}, "last-short": {"odd": n - 1}}
    mm, _want = _block(n, **kw.get(case, {}))
    u = UniformBlocks()
    end = FIRST + 100 * 192 if case == "past-end" else BLOCK
    count = MIN_PACKETS - 1 if case == "small" else n
    for _ in range(3):
        assert u.records(mm, FIRST, count, end) is None


def test_a_block_reuses_its_compiled_layout_and_sees_new_contents():
    mm, _ = _block(200)
    u = UniformBlocks()
    u.records(mm, FIRST, 200, BLOCK)
    first = u.records(mm, FIRST, 200, BLOCK)
    mm[FIRST + MAC : FIRST + MAC + 4] = b"\xde\xad\xbe\xef"
    again = u.records(mm, FIRST, 200, BLOCK)
    assert first is not None and again is not None
    assert again[16:20] == b"\xde\xad\xbe\xef" and first[16:20] != again[16:20]
