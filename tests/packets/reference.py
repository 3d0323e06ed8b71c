"""Shared references for the codec tests: scapy (quiet), hypothesis strategies, helpers.

scapy is the *reference implementation* here: it crafts the bytes netdiag decodes and
parses the bytes netdiag builds. Nothing of scapy is copied into netdiag.
"""

from __future__ import annotations

import ipaddress
import logging
import warnings
from typing import Any

from hypothesis import strategies as st

logging.getLogger("scapy").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="scapy")

from scapy.config import conf  # noqa: E402

conf.verb = 0

from scapy.compat import raw  # noqa: E402
from scapy.layers.inet import TCPOptions  # noqa: E402

from netdiag import decode  # noqa: E402

# TCP option kinds neither netdiag nor scapy give a structure: kept as raw bytes.
UNKNOWN_TCP_KINDS = [k for k in range(9, 255) if k not in TCPOptions[0]]

LINKTYPES_V4 = (1, 101, 228, 113, 276, 0, 108)
LINKTYPES_V6 = (1, 101, 229, 113, 276, 0, 108)
ALL_LINKTYPES = (0, 1, 101, 108, 113, 228, 229, 276)

# ---------------------------------------------------------------- strategies
u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
ports = u16
ipv4_addr = st.ip_addresses(v=4).map(str)
ipv6_addr = st.ip_addresses(v=6).map(str)
mac_addr = st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":"))
payloads = st.binary(max_size=64)


@st.composite
def tcp_options(draw: Any) -> tuple[list[tuple[Any, Any]], list[tuple[int, Any]]]:
    """TCP options as scapy spells them, and as netdiag's ``TCP.options`` returns them.

    At most 40 bytes once padded (RFC 9293 §3.1: data offset 15 at most).
    """
    scapy_opts: list[tuple[Any, Any]] = []
    ours: list[tuple[int, Any]] = []
    size = 0
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["MSS", "WScale", "SAckOK", "SAck", "TS", "NOP", "unknown"]))
        if kind == "MSS":
            v = draw(u16)
            opt, mine, n = ("MSS", v), (2, v), 4
        elif kind == "WScale":
            v = draw(u8)
            opt, mine, n = ("WScale", v), (3, v), 3
        elif kind == "SAckOK":
            opt, mine, n = ("SAckOK", b""), (4, None), 2
        elif kind == "SAck":
            blocks = draw(st.lists(st.tuples(u32, u32), min_size=1, max_size=4))
            opt = ("SAck", tuple(x for b in blocks for x in b))
            mine, n = (5, blocks), 2 + 8 * len(blocks)
        elif kind == "TS":
            v = (draw(u32), draw(u32))
            opt, mine, n = ("Timestamp", v), (8, v), 10
        elif kind == "NOP":
            opt, mine, n = ("NOP", None), (1, None), 1
        else:
            k = draw(st.sampled_from(UNKNOWN_TCP_KINDS))
            data = draw(st.binary(max_size=8))
            opt, mine, n = (k, data), (k, data), 2 + len(data)
        if size + n + (-(size + n) % 4) > 40:
            break
        size += n
        scapy_opts.append(opt)
        ours.append(mine)
    if size % 4:
        ours.append((0, None))  # scapy pads with EOL bytes; the parser stops at the first
    return scapy_opts, ours


# ---------------------------------------------------------------- helpers
def same_ip(text: str, expected: str) -> bool:
    """Addresses compared as values: text forms of one IPv6 address may differ."""
    return ipaddress.ip_address(text) == ipaddress.ip_address(expected)


def frame(linktype: int, l3: bytes) -> bytes:
    """``l3`` (an IPv4 or IPv6 packet) framed for ``linktype`` by scapy."""
    from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether, Loopback, LoopbackOpenBSD

    v6 = l3[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        return raw(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=ethertype) / l3)
    if linktype in (101, 228, 229):
        return l3
    if linktype == 113:
        return raw(
            CookedLinux(pkttype=4, lladdrlen=6, src=b"\x02\0\0\0\0\x01", proto=ethertype) / l3
        )
    if linktype == 276:
        return raw(
            CookedLinuxV2(
                proto=ethertype, ifindex=3, pkttype=0, lladdrlen=6, src=b"\x02\0\0\0\0\x01"
            )
            / l3
        )
    if linktype == 0:  # host order; scapy writes little-endian
        return raw(Loopback(type=24 if v6 else 2) / l3)
    if linktype == 108:
        return raw(LoopbackOpenBSD(type=24 if v6 else 2) / l3)
    raise AssertionError(linktype)


def link_len(linktype: int) -> int:
    return {1: 14, 101: 0, 228: 0, 229: 0, 113: 16, 276: 20, 0: 4, 108: 4}[linktype]


def corrupt(data: bytes, at: int) -> bytes:
    """``data`` with the byte at ``at`` inverted."""
    return data[:at] + bytes((data[at] ^ 0xFF,)) + data[at + 1 :]


def decoded(data: bytes, linktype: int = 101) -> Any:
    """Decode and require success: a scapy-built packet is never an error."""
    p = decode(data, linktype)
    assert p.error is None, p.error
    return p


def scapy_recomputed(pkt: Any, cls: Any, field: str = "chksum") -> int:
    """The value scapy itself computes for ``pkt[cls].field`` (deleted, then rebuilt)."""
    clone = pkt.copy()
    delattr(clone[cls], field)
    return int(type(pkt)(raw(clone))[cls].getfieldval(field))
