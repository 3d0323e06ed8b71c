"""NTP as the line, the tree and JSON show it (``packets.ntp``).

The line is tcpdump's (``print-ntp.c`` without ``-v``): ``NTPv4, Client, length
48``, the mode named as tcpdump names it (``unspecified``, ``symmetric
active``, ``symmetric passive``, ``Client``, ``Server``, ``Broadcast``,
``Control Message``, ``Reserved``) and the UDP payload length. A datagram too
short for its header is shown by apptext with the reason (tcpdump prints the
line from the first byte alone).

The tree and JSON give the leap indicator, version, mode, stratum, poll and
precision (log2 seconds, signed), root delay and dispersion in seconds (and
raw 16.16, as tshark's ``ntp.rootdelay``), the reference id (text for stratum
0-1, else an address; and hex, as tshark's ``ntp.refid``) and the four
timestamps as seconds since 1900 (32.32 fixed point divided out), or the
control header of mode 6.
"""

from __future__ import annotations

from netdiag.packets.ntp import MODE_NAMES, Ntp

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ntp_summary", "ntp_fields"]

_TCPDUMP_MODES = ("unspecified", "symmetric active", "symmetric passive", "Client", "Server",
                  "Broadcast", "Control Message", "Reserved")  # fmt: skip
_LEAP = ("none", "+1s", "-1s", "clock unsynchronized")


def ntp_summary(m: Ntp, length: int) -> str:
    return f"NTPv{m.version}, {_TCPDUMP_MODES[m.mode]}, length {length}"


def _ts(raw: int | None) -> float | None:
    return None if raw is None else round(raw / 2**32, 9)


def ntp_fields(m: Ntp) -> dict[str, Any]:
    d: dict[str, Any] = {
        "leap": f"{_LEAP[m.leap]} ({m.leap})",
        "version": m.version,
        "mode": f"{MODE_NAMES[m.mode]} ({m.mode})",
        "length": m.length,
    }
    c = m.control
    if c is not None:
        d.update(
            response=c.response, error=c.error, more=c.more, opcode=c.opcode,
            sequence=c.sequence, status=f"0x{c.status:04x}", association_id=c.association_id,
            offset=c.offset, count=c.count,
        )  # fmt: skip
        return d
    assert m.root_delay is not None and m.root_dispersion is not None
    d.update(
        stratum=m.stratum, poll=m.poll, precision=m.precision,
        root_delay=round(m.root_delay / 65536, 6), root_delay_raw=m.root_delay,
        root_dispersion=round(m.root_dispersion / 65536, 6),
        root_dispersion_raw=m.root_dispersion,
        reference_id=m.reference_id_text,
        reference_id_hex=m.reference_id.hex() if m.reference_id is not None else None,
        reference_ts=_ts(m.reference_ts), origin_ts=_ts(m.origin_ts),
        receive_ts=_ts(m.receive_ts), transmit_ts=_ts(m.transmit_ts),
    )  # fmt: skip
    if m.trailer:
        d["trailer"] = m.trailer
    return d
