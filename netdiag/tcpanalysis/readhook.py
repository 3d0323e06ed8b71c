"""``netdiag read --tcp-analysis``: tshark's TCP analysis flags on each packet's line.

``read`` owns the loop; this follows the TCP connections of the packets it is
shown (those its filter selects) and says, per packet, what to add: tshark's
words (``[TCP Retransmission]``, ``[TCP Dup ACK #2]``) at the end of the text
line, or a ``tcp_analysis`` entry in the JSON object.
"""

from __future__ import annotations

from netdiag.render.jsonout import to_json
from netdiag.tcpanalysis.analyze import PacketAnalyzer
from netdiag.tcpanalysis.flags import FLAG_FIELDS
from netdiag.tcpanalysis.results import flag_words

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ReadHook"]


class ReadHook:
    __slots__ = ("_pa",)

    def __init__(self) -> None:
        self._pa = PacketAnalyzer()

    def line(self, text: str, ts_ns: int, p: Any, wirelen: int) -> str:
        """``text`` (the packet's line) with the packet's flags after it, if any."""
        af = self._pa.flags(ts_ns, p, wirelen)
        if af <= 0:
            return text
        return f"{text} {flag_words(af, self._pa.core.dupack_num)}"

    def json(self, obj: str, ts_ns: int, p: Any, wirelen: int) -> str:
        """The packet's JSON object ``obj`` with ``"tcp_analysis": {"flags": [...], ...}``
        added when it is an analysed TCP segment."""
        af = self._pa.flags(ts_ns, p, wirelen)
        if af < 0 or not obj.endswith("}"):
            return obj
        core = self._pa.core
        d: dict[str, Any] = {"flags": [key for bit, key, _, _ in FLAG_FIELDS if af & bit]}
        if core.dupack_num:
            d["duplicate_ack_num"] = core.dupack_num
        if core.ack_rtt:
            d["ack_rtt_ms"] = round(core.ack_rtt / 1e6, 6)
        if core.bif:
            d["bytes_in_flight"] = core.bif
        return f'{obj[:-1]},"tcp_analysis":{to_json(d)}}}'
