"""Reading captured packets out of an AF_PACKET socket: the TPACKET_V3 ring walk and
the ``recvmsg`` fallback, with the kernel layouts they read.

``PacketReader`` is the reading half of ``capture.afpacket.PacketSocket``, which
opens and configures the socket (interface, filter, ring, promiscuous mode,
statistics) and inherits these methods. It hands out captured packets one ring
*block* at a time (the kernel fills a block, retires it when full or after
``RETIRE_MS``, and ``poll`` wakes us once per block):

- ``pcap_block(limit)``: the block's packets already laid out as little-endian
  nanosecond pcap records (one ``bytes`` per block, for ``-w``);
- ``records(limit)``: the block's packets as ``(ts_ns, data, wirelen)`` tuples
  (for the renderers).

Hot path (STYLE habit 9): a ``tpacket3_hdr`` holds ``tp_sec, tp_nsec, tp_snaplen,
tp_len`` at bytes 4..20 in host order, which *is* a nanosecond pcap record
header on a little-endian host, so ``pcap_block`` costs one ``unpack_from`` and
two memoryview slices per packet, joined and copied once per block; a block
whose packets all share one layout (a flood) takes a few C calls instead
(``capture.ringpcap``).

A VLAN tag the kernel took off (TP_STATUS_VLAN_VALID) is put back in place.
Where no ring could be set up, ``recvmsg`` with SO_TIMESTAMPNS and PACKET_AUXDATA
gives the same tuples. ``any`` uses cooked (SOCK_DGRAM) sockets; each packet gets
a LINUX_SLL2 header built from its ``sockaddr_ll``. This module opens nothing: the
socket and the ring it reads are ``PacketSocket``'s.
"""

from __future__ import annotations

import mmap
import select
import socket
import struct
import sys

from netdiag.packets.linklayer import build_sll2

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.capture.ringpcap import UniformBlocks

__all__ = ["PacketReader"]

# <linux/if_packet.h>, <linux/if_ether.h>, <asm/socket.h>
SOL_PACKET = 263
PACKET_AUXDATA = 8
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD; the cmsg type is the same number
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1 << 0
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
TPACKET3_HDRLEN = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)); sockaddr_ll follows
ETH_P_8021Q = 0x8100

U32 = struct.Struct("=I")
_BLOCK = struct.Struct("=8xIII")  # block_status, num_pkts, offset_to_first_pkt (at 8)
_FAST = struct.Struct("=I8xI4xIH")  # tp_next_offset, tp_snaplen, tp_status, tp_mac
_HDR = struct.Struct("=IIIIIIHHIIH")  # ... tp_status, tp_mac, tp_net, rxhash, vlan tci, tpid
SOCKADDR_LL = struct.Struct("=H2siHBB8s")  # sockaddr_ll (protocol kept in network order)
_AUX = struct.Struct("=IIIHHHH")  # tpacket_auxdata
_TIMESPEC = struct.Struct("=qq")
_PCAP_REC = struct.Struct("<IIII")
_VLAN = struct.Struct("!HH")
_BIG_ENDIAN = sys.byteorder != "little"  # the ring's headers are host order


class PacketReader:
    """Captured packets from an open AF_PACKET socket, by ring block or by recvmsg.

    Not used alone: ``PacketSocket`` opens the socket, maps the ring and sets the
    attributes declared here before anything is read."""

    sock: socket.socket
    cooked: bool  # "any": SOCK_DGRAM, packets get a LINUX_SLL2 header
    ring: bool  # False: the recvmsg path
    _mm: mmap.mmap | None  # the ring (when ``ring``)
    _mv: memoryview | None
    _block_size: int
    _nblocks: int
    _cur: int  # index of the next block to read
    _buf: bytearray  # recvmsg buffer, snaplen bytes (when not ``ring``)
    _ifnames: dict[str, int]  # cooked recvmsg: interface name -> index
    _uniform: UniformBlocks | None = None  # compiled layouts of same-shaped blocks

    # -- waiting

    def ready(self) -> bool:
        """Is a block (or, without the ring, a packet) there to read without waiting?"""
        if self.ring:
            assert self._mv is not None
            status = U32.unpack_from(self._mv, self._cur * self._block_size + 8)[0]
            return bool(status & TP_STATUS_USER)
        r, _w, _x = select.select([self.sock], [], [], 0)
        return bool(r)

    def pending(self) -> bool:
        """Does the kernel hold packets we cannot read yet (the ring's block being
        filled has some; it is handed over within RETIRE_MS)? For the drain at the
        end of a capture. Without the ring, the same as ``ready``."""
        if not self.ring:
            return self.ready()
        assert self._mv is not None
        return bool(U32.unpack_from(self._mv, self._cur * self._block_size + 12)[0])

    # -- reading one block

    def _take_block(self) -> tuple[memoryview, int, int, int] | None:
        """(mapping, block start, packets, offset of the first) of the next user block."""
        mv = self._mv
        assert mv is not None
        base = self._cur * self._block_size
        status, num, first = _BLOCK.unpack_from(mv, base)
        if not status & TP_STATUS_USER:
            return None
        return mv, base, num, base + first

    def _release(self, base: int) -> None:
        assert self._mv is not None
        U32.pack_into(self._mv, base + 8, TP_STATUS_KERNEL)
        self._cur = (self._cur + 1) % self._nblocks

    def pcap_block(self, limit: int) -> tuple[bytes, int]:
        """At most ``limit`` packets of the next block as nanosecond pcap records (the
        rest of the block is released unread); (b"", 0) when none is ready."""
        if not self.ring or self.cooked or _BIG_ENDIAN:
            recs = self.records(limit)
            pack = _PCAP_REC.pack
            out = []
            for ts, data, wirelen in recs:
                sec, nsec = divmod(ts, 1_000_000_000)
                out.append(pack(sec, nsec, len(data), wirelen) + data)
            return b"".join(out), len(recs)
        got = self._take_block()
        if got is None:
            return b"", 0
        _mv, base, num, off = got
        mm = self._mm
        assert mm is not None
        n = min(num, limit)
        if n == num:  # a flood's block of same-shaped packets: a few C calls (ringpcap)
            if self._uniform is None:
                from netdiag.capture.ringpcap import UniformBlocks

                self._uniform = UniformBlocks()
            chunk = self._uniform.records(mm, off, num, base + self._block_size)
            if chunk is not None:
                self._release(base)
                return chunk, num
        parts: list[bytes] = []
        app = parts.append
        unpack = _FAST.unpack_from
        try:
            for _ in range(n):
                nxt, snap, status, mac = unpack(mm, off)
                if status & TP_STATUS_VLAN_VALID:
                    ts, data, wirelen = self._packet(_mv, off)
                    sec, nsec = divmod(ts, 1_000_000_000)
                    app(_PCAP_REC.pack(sec, nsec, len(data), wirelen) + data)
                else:  # tp_sec, tp_nsec, tp_snaplen, tp_len are the pcap record header
                    mac += off
                    app(mm[off + 4 : off + 20] + mm[mac : mac + snap])
                off += nxt
        finally:
            self._release(base)
        return b"".join(parts), n

    def records(self, limit: int) -> list[tuple[int, bytes, int]]:
        """At most ``limit`` packets of the next block as (ts_ns, data, wirelen)."""
        if not self.ring:
            return self._recv_some(limit)
        got = self._take_block()
        if got is None:
            return []
        mv, base, num, off = got
        out = []
        try:
            for _ in range(min(num, limit)):
                out.append(self._packet(mv, off))
                off += U32.unpack_from(mv, off)[0]
        finally:
            self._release(base)
        return out

    def _packet(self, mv: memoryview, off: int) -> tuple[int, bytes, int]:
        (_nxt, sec, nsec, snap, wirelen, status, mac, _net, _hash, tci, tpid) = _HDR.unpack_from(
            mv, off
        )
        data = bytes(mv[off + mac : off + mac + snap])
        if self.cooked:
            _fam, proto, ifindex, hatype, pkttype, halen, addr = SOCKADDR_LL.unpack_from(
                mv, off + TPACKET3_HDRLEN
            )
            return sec * 1_000_000_000 + nsec, *self._cook(
                data, wirelen, status, tci, tpid, proto, ifindex, hatype, pkttype, addr[:halen]
            )
        if status & TP_STATUS_VLAN_VALID:
            if not status & TP_STATUS_VLAN_TPID_VALID:
                tpid = ETH_P_8021Q
            data = data[:12] + _VLAN.pack(tpid, tci) + data[12:]
            wirelen += 4
        return sec * 1_000_000_000 + nsec, data, wirelen

    @staticmethod
    def _cook(
        data: bytes,
        wirelen: int,
        status: int,
        tci: int,
        tpid: int,
        proto: bytes,
        ifindex: int,
        hatype: int,
        pkttype: int,
        addr: bytes,
    ) -> tuple[bytes, int]:
        """LINUX_SLL2 header + data; a VLAN tag the kernel took off goes back between
        them, with the header's protocol saying 802.1Q (as libpcap does)."""
        if status & TP_STATUS_VLAN_VALID:
            if not status & TP_STATUS_VLAN_TPID_VALID:
                tpid = ETH_P_8021Q
            data = tci.to_bytes(2, "big") + proto + data
            wirelen += 4
            proto = tpid.to_bytes(2, "big")
        hdr = build_sll2(int.from_bytes(proto, "big"), b"", ifindex, pkttype, addr, hatype)
        return hdr + data, wirelen + len(hdr)

    # -- the recvmsg path

    def _recv_some(self, limit: int) -> list[tuple[int, bytes, int]]:
        out = []
        buf = self._buf
        anc = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_AUX.size)
        for _ in range(min(limit, 1024)):
            try:
                nbytes, ancdata, _flags, addr = self.sock.recvmsg_into([buf], anc)
            except BlockingIOError:
                break
            ts = 0
            wirelen = nbytes
            status = tci = tpid = 0
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(value)
                    ts = sec * 1_000_000_000 + nsec
                elif level == SOL_PACKET and kind == PACKET_AUXDATA:
                    status, wirelen, _snap, _mac, _net, tci, tpid = _AUX.unpack_from(value)
            data = bytes(buf[: min(nbytes, len(buf))])
            if self.cooked:
                ifname, proto, pkttype, hatype, haddr = addr
                index = self._ifnames.get(ifname) or self._remember(ifname)
                data, wirelen = self._cook(data, wirelen, status, tci, tpid,
                                           proto.to_bytes(2, "big"), index, hatype, pkttype,
                                           haddr)  # fmt: skip
            elif status & TP_STATUS_VLAN_VALID:
                if not status & TP_STATUS_VLAN_TPID_VALID:
                    tpid = ETH_P_8021Q
                data = data[:12] + _VLAN.pack(tpid, tci) + data[12:]
                wirelen += 4
            out.append((ts, data, wirelen))
        return out

    def _remember(self, ifname: str) -> int:
        try:
            index = socket.if_nametoindex(ifname)
        except OSError:
            index = 0
        self._ifnames[ifname] = index
        return index
