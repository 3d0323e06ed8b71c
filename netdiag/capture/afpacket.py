"""The live-capture socket: AF_PACKET with a TPACKET_V3 memory-mapped ring.

``PacketSocket(iface, ...)`` opens the socket and hands out captured packets one
ring *block* at a time (block-level wakeups: the kernel fills a block, retires
it when full or after ``RETIRE_MS``, and ``poll`` wakes us once per block):

- ``pcap_block(limit)``: the block's packets already laid out as little-endian
  nanosecond pcap records (one ``bytes`` per block, for ``-w``);
- ``records(limit)``: the block's packets as ``(ts_ns, data, wirelen)`` tuples
  (for the renderers).

Hot path (STYLE habit 9): a ``tpacket3_hdr`` holds ``tp_sec, tp_nsec, tp_snaplen,
tp_len`` at bytes 4..20 in host order, which *is* a nanosecond pcap record
header on a little-endian host, so ``pcap_block`` costs one ``unpack_from`` and
two memoryview slices per packet, joined and copied once per block.

The socket is opened with protocol 0 (it receives nothing), the filter is
attached, the ring set up and only then is it bound with ETH_P_ALL: no packet
can slip in before the filter. ``-Q`` and the snap length are part of the kernel
program too (SKF_AD_PKTTYPE, ``ret #snaplen``). Where no ring can be set up,
``recvmsg`` with SO_TIMESTAMPNS and PACKET_AUXDATA gives the same tuples.
``any`` uses cooked (SOCK_DGRAM) sockets; each packet gets a LINUX_SLL2 header
built from its ``sockaddr_ll``. Kernel counters come from PACKET_STATISTICS.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import select
import socket
import struct
import sys
from collections.abc import Callable, Sequence

from netdiag.capture.bpf.kernel import attach_filter
from netdiag.capture.kprog import cooked_program, direction_program
from netdiag.errors import CaptureError, PrivilegeError, UsageError
from netdiag.packets.linklayer import build_sll2
from netdiag.packets.numbers import LinkType

__all__ = [
    "PacketSocket",
    "KernelStats",
    "PRIVILEGE_HINT",
]

# <linux/if_ether.h>, <linux/if_packet.h>, <linux/filter.h>, <asm/socket.h>
ETH_P_ALL = 0x0003  # every protocol
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_AUXDATA = 8
PACKET_VERSION = 10
TPACKET_V3 = 2
PACKET_OUTGOING = 4  # sll_pkttype of a packet we sent
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD; the cmsg type is the same number
SIOCGIFINDEX = 0x8933
SIOCGIFHWADDR = 0x8927
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772  # lo carries (all-zero) Ethernet headers: libpcap says EN10MB
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1 << 0
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
TPACKET3_HDRLEN = 48  # TPACKET_ALIGN(sizeof(struct tpacket3_hdr)); sockaddr_ll follows
ETH_P_8021Q = 0x8100
# classic BPF (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k)

MAX_SNAPLEN = 262144
RETIRE_MS = 100  # a block not yet full is handed over after this long
DEFAULT_BUFFER = 16 << 20
# Ring block: 2 MiB measured cheaper per packet than 1 MiB or 256 KiB under a flood
# (fewer wakeups; tests/bench/bench_sniff.py); a power of two times the page size.
BLOCK_SIZE = 2 << 20
PRIVILEGE_HINT = (
    "sniff needs root or CAP_NET_RAW (AF_PACKET socket): run as root, or "
    "`setcap cap_net_raw+ep` on the interpreter"
)

_U32 = struct.Struct("=I")
_REQ3 = struct.Struct("=7I")  # tpacket_req3
_BLOCK = struct.Struct("=8xIII")  # block_status, num_pkts, offset_to_first_pkt (at 8)
_FAST = struct.Struct("=I8xI4xIH")  # tp_next_offset, tp_snaplen, tp_status, tp_mac
_HDR = struct.Struct("=IIIIIIHHIIH")  # ... tp_status, tp_mac, tp_net, rxhash, vlan tci, tpid
_SLL = struct.Struct("=H2siHBB8s")  # sockaddr_ll (protocol kept in network order)
_MREQ = struct.Struct("=iHH8s")  # packet_mreq
_AUX = struct.Struct("=IIIHHHH")  # tpacket_auxdata
_STATS = struct.Struct("=III")  # tpacket_stats_v3
_TIMESPEC = struct.Struct("=qq")
_PCAP_REC = struct.Struct("<IIII")
_VLAN = struct.Struct("!HH")
_BIG_ENDIAN = sys.byteorder != "little"  # the ring's headers are host order

Insn = tuple[int, int, int, int]


class KernelStats:
    """Running totals of PACKET_STATISTICS (the kernel resets them on every read).
    ``received`` counts every packet the filter accepted, dropped ones included."""

    __slots__ = ("received", "dropped", "freeze_q")

    def __init__(self) -> None:
        self.received = self.dropped = self.freeze_q = 0


def _bind(sock: socket.socket, ifindex: int, iface: str) -> None:
    """bind(2) to ``ifindex`` (0: every interface) for ETH_P_ALL. Python's own bind
    takes an interface name and cannot say "all"; libc's can."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    addr = _SLL.pack(socket.AF_PACKET, ETH_P_ALL.to_bytes(2, "big"), ifindex, 0, 0, 0, b"")
    if libc.bind(sock.fileno(), ctypes.c_char_p(addr), len(addr)) != 0:
        err = ctypes.get_errno()
        raise CaptureError(f"{iface}: cannot capture: {os.strerror(err)}")


class PacketSocket:
    """An AF_PACKET capture on ``iface`` ("any" for all interfaces, cooked).

    ``program`` is the kernel filter (classic BPF as ``(code, jt, jf, k)`` tuples),
    compiled for ``linktype``; ``ring=False`` forces the recvmsg path."""

    def __init__(
        self,
        iface: str,
        *,
        snaplen: int = MAX_SNAPLEN,
        promisc: bool = True,
        direction: str = "inout",
        program: Sequence[Insn] | Callable[[int], Sequence[Insn]] = (),
        buffer_size: int = DEFAULT_BUFFER,
        ring: bool = True,
    ) -> None:
        if direction not in ("in", "out", "inout"):
            raise UsageError(f"direction {direction!r}: use in, out or inout")
        self.iface = iface
        self.snaplen = snaplen
        self.cooked = iface == "any"
        self.stats = KernelStats()
        self._mm: mmap.mmap | None = None
        self._mv: memoryview | None = None
        self._ifnames: dict[str, int] = {}
        kind = socket.SOCK_DGRAM if self.cooked else socket.SOCK_RAW
        try:
            self.sock = socket.socket(socket.AF_PACKET, kind, 0)
        except PermissionError:
            raise PrivilegeError(PRIVILEGE_HINT) from None
        try:
            self._open(promisc, direction, program, buffer_size, ring)
        except BaseException:
            self.close()
            raise

    def _open(
        self,
        promisc: bool,
        direction: str,
        program: Sequence[Insn] | Callable[[int], Sequence[Insn]],
        size: int,
        ring: bool,
    ) -> None:
        sock = self.sock
        self.ifindex = 0 if self.cooked else self._ifindex()
        if self.cooked:
            self.linktype = int(LinkType.LINUX_SLL2)
        elif self._hatype() in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
            self.linktype = int(LinkType.ETHERNET)
        else:
            raise CaptureError(f"{self.iface}: not an Ethernet interface; capture it with -i any")
        prog = list(program(self.linktype) if callable(program) else program)
        if self.cooked and prog:
            prog = cooked_program(prog)
        attach_filter(sock, direction_program(direction, prog, self.snaplen))
        self.ring = ring and self._setup_ring(size)
        if not self.ring:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            self._buf = bytearray(self.snaplen)
        if promisc and not self.cooked:
            mreq = _MREQ.pack(self.ifindex, PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        _bind(sock, self.ifindex, self.iface)
        sock.setblocking(False)

    def _ifreq(self, request: int) -> bytes:
        name = self.iface.encode()
        if not 0 < len(name) < 16 or b"\0" in name or b"/" in name:
            raise CaptureError(f"{self.iface!r}: no such interface")
        try:
            return fcntl.ioctl(self.sock.fileno(), request, name.ljust(40, b"\0"))
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENXIO):
                raise CaptureError(f"{self.iface}: no such interface") from None
            raise CaptureError(f"{self.iface}: {e.strerror}") from None

    def _ifindex(self) -> int:
        return int(_U32.unpack_from(self._ifreq(SIOCGIFINDEX), 16)[0])

    def _hatype(self) -> int:
        return int(struct.unpack_from("=H", self._ifreq(SIOCGIFHWADDR), 16)[0])

    def _setup_ring(self, size: int) -> bool:
        """TPACKET_V3 ring of ``size`` bytes; False where the kernel will not have it."""
        page = mmap.PAGESIZE
        block = BLOCK_SIZE
        while block > 2 * MAX_SNAPLEN and 2 * block > size:  # keep a whole packet per block
            block >>= 1
        nblocks = max(2, size // block)
        frame = 2048
        req = _REQ3.pack(block, nblocks, frame, block // frame * nblocks, RETIRE_MS, 0, 0)
        assert block % page == 0
        try:
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            self._mm = mmap.mmap(self.sock.fileno(), block * nblocks, mmap.MAP_SHARED,
                                 mmap.PROT_READ | mmap.PROT_WRITE)  # fmt: skip
        except OSError:
            return False
        self._mv = memoryview(self._mm)
        self._block_size = block
        self._nblocks = nblocks
        self._cur = 0
        return True

    # -- waiting

    def fileno(self) -> int:
        return self.sock.fileno()

    def ready(self) -> bool:
        """Is a block (or, without the ring, a packet) there to read without waiting?"""
        if self.ring:
            assert self._mv is not None
            status = _U32.unpack_from(self._mv, self._cur * self._block_size + 8)[0]
            return bool(status & TP_STATUS_USER)
        r, _w, _x = select.select([self.sock], [], [], 0)
        return bool(r)

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
        _U32.pack_into(self._mv, base + 8, TP_STATUS_KERNEL)
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
                off += _U32.unpack_from(mv, off)[0]
        finally:
            self._release(base)
        return out

    def _packet(self, mv: memoryview, off: int) -> tuple[int, bytes, int]:
        (_nxt, sec, nsec, snap, wirelen, status, mac, _net, _hash, tci, tpid) = _HDR.unpack_from(
            mv, off
        )
        data = bytes(mv[off + mac : off + mac + snap])
        if self.cooked:
            _fam, proto, ifindex, hatype, pkttype, halen, addr = _SLL.unpack_from(
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

    # -- the end

    def read_stats(self) -> KernelStats:
        """Add the kernel's counters since the last read to ``stats`` and return it."""
        try:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
        except OSError:
            return self.stats
        packets, drops = _U32.unpack_from(raw, 0)[0], _U32.unpack_from(raw, 4)[0]
        self.stats.received += packets
        self.stats.dropped += drops
        if len(raw) >= _STATS.size:
            self.stats.freeze_q += _STATS.unpack(raw)[2]
        return self.stats

    def close(self) -> None:
        if self._mv is not None:
            self._mv.release()
            self._mv = None
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self.sock.close()

    def __enter__(self) -> PacketSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
