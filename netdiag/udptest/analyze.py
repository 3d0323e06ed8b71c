"""``netdiag udp analyze``: loss, duplication, reordering and jitter of the UDP test
flows found in a capture, from the sequence numbers their payloads carry.

A flow is (src, dst, sport, dport). Its format is decided from its first
datagrams of 12 bytes or more (shorter ones, like iperf3's 4-byte stream
setup, are counted as ``foreign``):

* ``netdiag``: :mod:`netdiag.udptest.wire`'s header (its END marks the end);
* ``iperf3``: seconds (4), microseconds (4), then a sequence number, 32-bit or,
  with ``--udp-counters-64bit``, 64-bit; 64-bit when the four bytes after the
  microseconds are zero in every sample. iperf3 numbers from 1. Its seconds are
  not necessarily the epoch (3.12 sends a monotonic clock), so only the
  microseconds (< 10^6) and the counter's behaviour identify it.
* ``rtp`` (RFC 3550): version 2, one SSRC; 16-bit sequence numbers and the
  media timestamp, turned into time with the payload type's clock rate (static
  types) or the rate the flow itself shows, snapped to a usual one.

Counters that wrap (16- and 32-bit) are unwrapped to 64-bit. The receive time is
the capture timestamp, so the metrics are those of the capture point. A flow
whose lowest sequence number is above ``MID_STREAM`` is taken to have started
before the capture (its first number is then the first seen). Then the same
:class:`StreamTracker` as the live receiver computes everything.
"""

from __future__ import annotations

import struct
from array import array

from netdiag.capture.files import read_capture
from netdiag.errors import UsageError
from netdiag.metrics.udpmetrics import StreamTracker, Unwrapper
from netdiag.packets import decode
from netdiag.udptest import wire as udpwire
from netdiag.udptest.report import metrics_json

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["analyze", "classify", "MID_STREAM"]

MID_STREAM = 1000
_SAMPLE = 8
_RTP = struct.Struct("!BBHII")
_RTP_RATES = {
    0: 8000,
    3: 8000,
    4: 8000,
    5: 8000,
    6: 16000,
    7: 8000,
    8: 8000,
    9: 8000,
    10: 44100,
    11: 44100,
    12: 8000,
    13: 8000,
    14: 90000,
    15: 8000,
    16: 11025,
    17: 22050,
    18: 8000,
    25: 90000,
    26: 90000,
    28: 90000,
    31: 90000,
    32: 90000,
    33: 90000,
    34: 90000,
}
_USUAL_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 90000)


def _counter_like(values: list[int]) -> bool:
    """Mostly distinct numbers within a small window: a packet counter, not noise."""
    return len(set(values)) * 2 > len(values) and max(values) - min(values) < 1 << 16


def classify(samples: list[bytes]) -> str | None:
    """``netdiag``, ``iperf3``, ``iperf3-64``, ``rtp`` or None, from a flow's first payloads."""
    if not samples:
        return None
    if sum(udpwire.parse(s) is not None for s in samples) * 2 > len(samples):
        return "netdiag"
    if all(len(s) >= 16 for s in samples):
        fields = [struct.unpack_from("!IIII", s) for s in samples]
        if all(f[1] < 1_000_000 and f[0] < 0x80000000 for f in fields):
            if all(f[2] == 0 for f in fields) and _counter_like([f[3] for f in fields]):
                return "iperf3-64"
            if _counter_like([f[2] for f in fields]):
                return "iperf3"
    heads = [_RTP.unpack_from(s) for s in samples]
    if all(h[0] >> 6 == 2 for h in heads) and len({h[4] for h in heads}) == 1:
        return "rtp"
    return None


class _Flow:
    __slots__ = ("key", "samples", "fmt", "tracker", "foreign", "end_seq", "wrap", "rtp", "pt")

    def __init__(self, key: tuple[str, str, int, int]) -> None:
        self.key = key
        self.samples: list[tuple[bytes, int]] = []
        self.fmt: str | None = None
        self.tracker: StreamTracker | None = None
        self.foreign = 0
        self.end_seq: int | None = None
        self.wrap = Unwrapper(32)
        self.rtp: array[int] = array("q")  # seq, timestamp, receive ns triples
        self.pt = -1

    def feed(self, payload: bytes, ts_ns: int) -> None:
        if self.fmt is None:
            if len(payload) < 12:
                self.foreign += 1
                return
            self.samples.append((payload, ts_ns))
            if len(self.samples) >= _SAMPLE:
                self.decide()
            return
        self._one(payload, ts_ns)

    def decide(self) -> None:
        samples, self.samples = self.samples, []
        self.fmt = classify([s for s, _ in samples]) or "unknown"
        if self.fmt in ("netdiag", "iperf3", "iperf3-64"):
            start = 0 if self.fmt == "netdiag" else 1
            low = min(self._seq_of(s) for s, _ in samples)
            self.wrap = Unwrapper(32)  # the probe above must not fix its start
            self.tracker = StreamTracker(first_seq=start if low < MID_STREAM else None)
        for payload, ts in samples:
            self._one(payload, ts)

    def _seq_of(self, s: bytes) -> int:
        if self.fmt == "netdiag":
            head = udpwire.parse(s)
            return head[2] if head else 1 << 62
        if len(s) < 16:
            return 1 << 62
        sec, usec, a, b = struct.unpack_from("!IIII", s)
        return int(a << 32 | b) if self.fmt == "iperf3-64" else int(a)

    def _one(self, s: bytes, ts: int) -> None:
        fmt, tracker = self.fmt, self.tracker
        if fmt == "netdiag" and tracker is not None:
            head = udpwire.parse(s)
            if head is None or head[0] == udpwire.REPORT:
                self.foreign += 1
            elif head[0] == udpwire.END:
                if self.end_seq is None:
                    self.end_seq = head[2]
                    tracker.mark_end(head[2], ts)
            else:
                tracker.arrive(head[2], head[3], ts)
        elif fmt in ("iperf3", "iperf3-64") and tracker is not None and len(s) >= 16:
            sec, usec, a, b = struct.unpack_from("!IIII", s)
            seq = (a << 32 | b) if fmt == "iperf3-64" else self.wrap(a)
            tracker.arrive(seq, sec * 1_000_000_000 + usec * 1000, ts)
        elif fmt == "rtp" and s[0] >> 6 == 2:
            _b0, b1, seq16, stamp, _ssrc = _RTP.unpack_from(s)
            self.pt = b1 & 0x7F
            self.rtp.extend((seq16, stamp, ts))
        else:
            self.foreign += 1

    def finish(self) -> dict[str, Any] | None:
        if self.fmt is None:
            self.decide()
        if self.fmt == "rtp":
            self._finish_rtp()
        if self.tracker is None or self.tracker.arrivals == 0:
            return None
        src, dst, sport, dport = self.key
        fmt = "iperf3" if self.fmt == "iperf3-64" else self.fmt
        out: dict[str, Any] = {
            "src": src,
            "dst": dst,
            "sport": sport,
            "dport": dport,
            "format": fmt,
        }
        out.update(metrics_json(self.tracker.result(self.end_seq)))
        out["counter_bits"] = {"netdiag": 64, "iperf3": 32, "iperf3-64": 64, "rtp": 16}[
            self.fmt or "rtp"
        ]
        out["foreign"] = self.foreign
        return out

    def _finish_rtp(self) -> None:
        v = self.rtp
        if not v:
            return
        seqs, stamps, times = Unwrapper(16), Unwrapper(32), v[2::3]
        unwrapped = [(seqs(v[i]), stamps(v[i + 1]), v[i + 2]) for i in range(0, len(v), 3)]
        rate = _RTP_RATES.get(self.pt)
        if rate is None:
            span_ts = max(u[1] for u in unwrapped) - min(u[1] for u in unwrapped)
            span_ns = max(times) - min(times)
            seen = span_ts * 1e9 / span_ns if span_ns > 0 else 8000
            rate = min(_USUAL_RATES, key=lambda r: abs(r - seen))
        low = min(u[0] for u in unwrapped)
        self.tracker = StreamTracker(first_seq=None)
        base = unwrapped[0][1]
        for seq, stamp, ts in unwrapped:
            if seq >= low:
                self.tracker.arrive(seq, (stamp - base) * 1_000_000_000 // rate, ts)


def analyze(path: str, filter_text: str | None = None) -> list[dict[str, Any]]:
    """Per-flow metrics of every recognised UDP test flow in the capture at ``path``."""
    keep = None
    if filter_text:
        try:
            from netdiag.capture import bpf

            compile_filter, run_filter = bpf.compile_filter, bpf.run_filter
        except (ImportError, AttributeError):
            raise UsageError("filters not supported yet") from None
        programs: dict[int, Any] = {}

        def keep(data: bytes, linktype: int, wirelen: int) -> bool:
            if linktype not in programs:  # a program depends on the link type
                programs[linktype] = compile_filter(filter_text, linktype)
            return bool(run_filter(programs[linktype], data, wirelen))

    flows: dict[tuple[str, str, int, int], _Flow] = {}
    with read_capture(path) as capture:
        for rec in capture:
            if keep is not None and not keep(rec.data, rec.linktype, rec.wirelen):
                continue
            p = decode(rec.data, rec.linktype)
            udp, ip = p.udp, p.ip
            if udp is None or ip is None:
                continue
            key = (str(ip.src), str(ip.dst), udp.sport, udp.dport)
            flow = flows.get(key)
            if flow is None:
                flow = flows[key] = _Flow(key)
            flow.feed(bytes(rec.data[udp.payload_offset : udp.end]), rec.ts_ns)
    results = [f.finish() for f in flows.values()]
    return [r for r in results if r is not None]
