"""The live-capture socket: AF_PACKET with a TPACKET_V3 memory-mapped ring.

``PacketSocket(iface, ...)`` opens and configures the socket: it looks up the
interface (index and hardware type), attaches the kernel filter, sets up and maps
the ring (or, where the kernel will not have one, the ``recvmsg`` options), joins
promiscuous mode and binds. Reading the packets out of it (``ready``,
``pcap_block``, ``records``) is ``capture.afreader.PacketReader``'s, which it
inherits; this module holds what it takes to get there, and the kernel counters.

The socket is opened with protocol 0 (it receives nothing), the filter is
attached, the ring set up and only then is it bound with ETH_P_ALL: no packet
can slip in before the filter. ``-Q`` and the snap length are part of the kernel
program too (SKF_AD_PKTTYPE, ``ret #snaplen``). ``any`` uses cooked (SOCK_DGRAM)
sockets. Kernel counters come from PACKET_STATISTICS.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import socket
import struct
from collections.abc import Callable, Sequence

from netdiag.capture.afreader import (
    PACKET_AUXDATA,
    SO_TIMESTAMPNS,
    SOCKADDR_LL,
    SOL_PACKET,
    U32,
    PacketReader,
)
from netdiag.capture.bpf.kernel import attach_filter
from netdiag.capture.kprog import cooked_program, direction_program
from netdiag.errors import CaptureError, PrivilegeError, UsageError
from netdiag.packets.numbers import LinkType

__all__ = [
    "PacketSocket",
    "KernelStats",
    "PRIVILEGE_HINT",
]

# <linux/if_ether.h>, <linux/if_packet.h>, <linux/filter.h>, <asm/socket.h>
# (SOL_PACKET, PACKET_AUXDATA, SO_TIMESTAMPNS and the ring's own: afreader)
ETH_P_ALL = 0x0003  # every protocol
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
SIOCGIFINDEX = 0x8933
SIOCGIFHWADDR = 0x8927
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772  # lo carries (all-zero) Ethernet headers: libpcap says EN10MB

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

_REQ3 = struct.Struct("=7I")  # tpacket_req3
_MREQ = struct.Struct("=iHH8s")  # packet_mreq
_STATS = struct.Struct("=III")  # tpacket_stats_v3

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
    addr = SOCKADDR_LL.pack(socket.AF_PACKET, ETH_P_ALL.to_bytes(2, "big"), ifindex, 0, 0, 0, b"")
    if libc.bind(sock.fileno(), ctypes.c_char_p(addr), len(addr)) != 0:
        err = ctypes.get_errno()
        raise CaptureError(f"{iface}: cannot capture: {os.strerror(err)}")


class PacketSocket(PacketReader):
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
        return int(U32.unpack_from(self._ifreq(SIOCGIFINDEX), 16)[0])

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

    # -- the end

    def read_stats(self) -> KernelStats:
        """Add the kernel's counters since the last read to ``stats`` and return it."""
        try:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
        except OSError:
            return self.stats
        packets, drops = U32.unpack_from(raw, 0)[0], U32.unpack_from(raw, 4)[0]
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
