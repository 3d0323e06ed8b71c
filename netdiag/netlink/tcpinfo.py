"""``struct tcp_info`` (linux/tcp.h), the value of INET_DIAG_INFO for TCP sockets.

The struct has grown over the kernel's history; an older kernel sends fewer
bytes and a newer one more. Fields are declared once here as (name, offset,
format) and a field the kernel did not send is None. The first 104 bytes (up to
``total_retrans``) have been there since Linux 2.6; anything shorter is
truncated. Times are in microseconds (``rtt``, ``rttvar``, ``rto``, ``min_rtt``,
``busy_time``...) or milliseconds (``last_data_sent`` and the other ``last_*``),
rates in bytes per second (``pacing_rate``, ``delivery_rate``), windows in
segments (``snd_cwnd``, ``snd_ssthresh``) or bytes (``snd_wnd``), as the kernel
reports them. Host byte order, like all netlink integers.
"""

from __future__ import annotations

import struct

from netdiag.records import dataclass, fields

__all__ = ["TcpInfo", "decode_tcp_info", "TCP_INFO_MIN_LEN", "TCP_INFO_LAYOUT"]

#: (field, byte offset, struct format) in kernel order; the 8 leading bytes are u8s.
TCP_INFO_LAYOUT: tuple[tuple[str, int, str], ...] = (
    ("state", 0, "B"), ("ca_state", 1, "B"), ("retransmits", 2, "B"), ("probes", 3, "B"),
    ("backoff", 4, "B"), ("options", 5, "B"), ("wscale", 6, "B"), ("flags", 7, "B"),
    ("rto", 8, "I"), ("ato", 12, "I"), ("snd_mss", 16, "I"), ("rcv_mss", 20, "I"),
    ("unacked", 24, "I"), ("sacked", 28, "I"), ("lost", 32, "I"), ("retrans", 36, "I"),
    ("fackets", 40, "I"), ("last_data_sent", 44, "I"), ("last_ack_sent", 48, "I"),
    ("last_data_recv", 52, "I"), ("last_ack_recv", 56, "I"), ("pmtu", 60, "I"),
    ("rcv_ssthresh", 64, "I"), ("rtt", 68, "I"), ("rttvar", 72, "I"),
    ("snd_ssthresh", 76, "I"), ("snd_cwnd", 80, "I"), ("advmss", 84, "I"),
    ("reordering", 88, "I"), ("rcv_rtt", 92, "I"), ("rcv_space", 96, "I"),
    ("total_retrans", 100, "I"), ("pacing_rate", 104, "Q"), ("max_pacing_rate", 112, "Q"),
    ("bytes_acked", 120, "Q"), ("bytes_received", 128, "Q"), ("segs_out", 136, "I"),
    ("segs_in", 140, "I"), ("notsent_bytes", 144, "I"), ("min_rtt", 148, "I"),
    ("data_segs_in", 152, "I"), ("data_segs_out", 156, "I"), ("delivery_rate", 160, "Q"),
    ("busy_time", 168, "Q"), ("rwnd_limited", 176, "Q"), ("sndbuf_limited", 184, "Q"),
    ("delivered", 192, "I"), ("delivered_ce", 196, "I"), ("bytes_sent", 200, "Q"),
    ("bytes_retrans", 208, "Q"), ("dsack_dups", 216, "I"), ("reord_seen", 220, "I"),
    ("rcv_ooopack", 224, "I"), ("snd_wnd", 228, "I"),
)  # fmt: skip
TCP_INFO_MIN_LEN = 104
_FIELDS = tuple((name, off, struct.Struct("=" + fmt)) for name, off, fmt in TCP_INFO_LAYOUT)


@dataclass(frozen=True, slots=True)
class TcpInfo:
    state: int
    ca_state: int
    retransmits: int
    probes: int
    backoff: int
    options: int
    wscale: int  # snd_wscale in the low 4 bits, rcv_wscale in the high 4
    flags: int  # delivery_rate_app_limited (bit 0), fastopen_client_fail (bits 1-2)
    rto: int
    ato: int
    snd_mss: int
    rcv_mss: int
    unacked: int
    sacked: int
    lost: int
    retrans: int
    fackets: int
    last_data_sent: int
    last_ack_sent: int
    last_data_recv: int
    last_ack_recv: int
    pmtu: int
    rcv_ssthresh: int
    rtt: int
    rttvar: int
    snd_ssthresh: int
    snd_cwnd: int
    advmss: int
    reordering: int
    rcv_rtt: int
    rcv_space: int
    total_retrans: int
    pacing_rate: int | None = None
    max_pacing_rate: int | None = None
    bytes_acked: int | None = None
    bytes_received: int | None = None
    segs_out: int | None = None
    segs_in: int | None = None
    notsent_bytes: int | None = None
    min_rtt: int | None = None
    data_segs_in: int | None = None
    data_segs_out: int | None = None
    delivery_rate: int | None = None
    busy_time: int | None = None
    rwnd_limited: int | None = None
    sndbuf_limited: int | None = None
    delivered: int | None = None
    delivered_ce: int | None = None
    bytes_sent: int | None = None
    bytes_retrans: int | None = None
    dsack_dups: int | None = None
    reord_seen: int | None = None
    rcv_ooopack: int | None = None
    snd_wnd: int | None = None

    @property
    def snd_wscale(self) -> int:
        return self.wscale & 0x0F

    @property
    def rcv_wscale(self) -> int:
        return self.wscale >> 4

    def fields(self) -> dict[str, int | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def decode_tcp_info(buf: bytes, off: int, length: int) -> TcpInfo:
    """The tcp_info in ``buf[off:off+length]``; fields past ``length`` are None.
    The caller checks ``length >= TCP_INFO_MIN_LEN`` (and raises its codec's error)."""
    values = {
        name: s.unpack_from(buf, off + at)[0] for name, at, s in _FIELDS if at + s.size <= length
    }
    return TcpInfo(**values)
