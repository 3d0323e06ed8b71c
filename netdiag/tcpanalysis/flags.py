"""tshark's TCP analysis flags: one bit each, with the JSON key, the tshark field
(under ``tcp.analysis.``) and the words tshark puts in its Info column."""

from __future__ import annotations

__all__ = [
    "FLAG_FIELDS", "FLAG_NAMES", "NFLAGS", "RETRANSMITTED", "RETRANSMISSION",
    "FAST_RETRANSMISSION", "SPURIOUS_RETRANSMISSION", "OUT_OF_ORDER", "LOST_SEGMENT",
    "ACK_LOST_SEGMENT", "DUPLICATE_ACK", "ZERO_WINDOW", "ZERO_WINDOW_PROBE",
    "ZERO_WINDOW_PROBE_ACK", "WINDOW_FULL", "WINDOW_UPDATE", "KEEP_ALIVE", "KEEP_ALIVE_ACK",
    "REUSED_PORTS",
]  # fmt: skip

# Flag bits, in the order they are listed; names as tshark's fields and words.
RETRANSMISSION = 1 << 0
FAST_RETRANSMISSION = 1 << 1
SPURIOUS_RETRANSMISSION = 1 << 2
OUT_OF_ORDER = 1 << 3
LOST_SEGMENT = 1 << 4
ACK_LOST_SEGMENT = 1 << 5
DUPLICATE_ACK = 1 << 6
ZERO_WINDOW = 1 << 7
ZERO_WINDOW_PROBE = 1 << 8
ZERO_WINDOW_PROBE_ACK = 1 << 9
WINDOW_FULL = 1 << 10
WINDOW_UPDATE = 1 << 11
KEEP_ALIVE = 1 << 12
KEEP_ALIVE_ACK = 1 << 13
REUSED_PORTS = 1 << 14
RETRANSMITTED = RETRANSMISSION | FAST_RETRANSMISSION | SPURIOUS_RETRANSMISSION

#: (bit, JSON key, tshark field under ``tcp.analysis.``, tshark's words)
FLAG_FIELDS: tuple[tuple[int, str, str, str], ...] = (
    (RETRANSMISSION, "retransmission", "retransmission", "TCP Retransmission"),
    (FAST_RETRANSMISSION, "fast_retransmission", "fast_retransmission",
     "TCP Fast Retransmission"),
    (SPURIOUS_RETRANSMISSION, "spurious_retransmission", "spurious_retransmission",
     "TCP Spurious Retransmission"),
    (OUT_OF_ORDER, "out_of_order", "out_of_order", "TCP Out-Of-Order"),
    (LOST_SEGMENT, "lost_segment", "lost_segment", "TCP Previous segment not captured"),
    (ACK_LOST_SEGMENT, "ack_lost_segment", "ack_lost_segment", "TCP ACKed unseen segment"),
    (DUPLICATE_ACK, "duplicate_ack", "duplicate_ack", "TCP Dup ACK"),
    (ZERO_WINDOW, "zero_window", "zero_window", "TCP ZeroWindow"),
    (ZERO_WINDOW_PROBE, "zero_window_probe", "zero_window_probe", "TCP ZeroWindowProbe"),
    (ZERO_WINDOW_PROBE_ACK, "zero_window_probe_ack", "zero_window_probe_ack",
     "TCP ZeroWindowProbeAck"),
    (WINDOW_FULL, "window_full", "window_full", "TCP Window Full"),
    (WINDOW_UPDATE, "window_update", "window_update", "TCP Window Update"),
    (KEEP_ALIVE, "keep_alive", "keep_alive", "TCP Keep-Alive"),
    (KEEP_ALIVE_ACK, "keep_alive_ack", "keep_alive_ack", "TCP Keep-Alive ACK"),
    (REUSED_PORTS, "reused_ports", "reused_ports", "TCP Port numbers reused"),
)  # fmt: skip
FLAG_NAMES = {bit: key for bit, key, _, _ in FLAG_FIELDS}
NFLAGS = len(FLAG_FIELDS)
