"""/proc/net socket tables parsed as the kernel documents and prints them.

The TCP line is the worked example of the kernel's
Documentation/networking/proc_net_tcp.rst (written on a little-endian
machine); the other lines follow the format strings of the kernel's seq_show
functions (tcp6_seq_show, unix_seq_show, packet_seq_show). The live
comparison with ss is in test_sockets.py (the /proc fallback).
"""

from __future__ import annotations

import pytest

from netdiag.sockets import procnet
from netdiag.sockets.procnet import ProcInet, ProcNetError, ProcPacket, ProcUnix

TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
)
# proc_net_tcp.rst: "46: 010310AC:9C4C 030310AC:1770 01" ... "00000150:00000000 01:00000019
# 00000000" ... "1000 0 54165785 4 cd1e6040 25 4 27 3 -1"
DOC_LINE = (
    "  46: 010310AC:9C4C 030310AC:1770 01 00000150:00000000 01:00000019 00000000"
    "  1000        0 54165785 4 cd1e6040 25 4 27 3 -1\n"
)


def test_the_kernel_documentations_tcp_example():
    (r,) = procnet.parse_inet(TCP_HEADER + DOC_LINE, "tcp", byteorder="little")
    # the document: 172.16.3.1:40012 -> 172.16.3.3:6000, established, 0x150 bytes to send
    assert r == ProcInet("tcp", 4, "172.16.3.1", 40012, "172.16.3.3", 6000, 1, 0x150, 0,
                         1000, 54165785)  # fmt: skip


def test_the_same_words_from_a_big_endian_machine_are_another_address():
    (r,) = procnet.parse_inet(TCP_HEADER + DOC_LINE, "tcp", byteorder="big")
    assert (r.src, r.dst) == ("1.3.16.172", "3.3.16.172")


def test_tcp6_words_are_host_order_32_bit_groups():
    # ::1 port 22 listening, as x86 prints it (s6_addr32[3] = 0x01000000 read as 00000001)
    line = ("   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000"
            " 0A 00000000:00000003 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0"
            "\n")  # fmt: skip
    (r,) = procnet.parse_inet(TCP_HEADER + line, "tcp6", byteorder="little")
    assert (r.version, r.src, r.sport, r.dst, r.dport, r.state, r.rx_queue, r.inode) == (
        6, "::1", 22, "::", 0, 10, 3, 4242)  # fmt: skip


def test_raw_sockets_show_their_protocol_as_the_port():
    line = ("   1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000"
            "     0        0 777 2 0000000000000000 0\n")  # fmt: skip
    (r,) = procnet.parse_inet(TCP_HEADER + line, "raw", byteorder="little")
    assert (r.kind, r.sport, r.state, r.inode) == ("raw", 1, 7, 777)


def test_unix_listeners_connected_unbound_and_paths_with_spaces():
    text = (
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/a b.sock\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03  1069\n"
        "0000000000000000: 00000002 00000000 00000000 0002 01 12346 @netdiag@x\n"
        "0000000000000000: 00000002 00000000 00000000 0005 02 12347\n"
    )
    assert procnet.parse_unix(text) == [
        ProcUnix(1, 10, 0x10000, 12345, "/run/a b.sock"),  # __SO_ACCEPTCON: LISTEN
        ProcUnix(1, 1, 0, 1069, None),  # SS_CONNECTED: ESTABLISHED
        ProcUnix(2, 7, 0, 12346, "@netdiag@x"),  # SS_UNCONNECTED: CLOSE (ss: UNCONN)
        ProcUnix(5, 2, 0, 12347, None),  # SS_CONNECTING: SYN_SENT
    ]


def test_packet_sockets():
    text = (
        "sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n"
        "0000000000000000 3      3    0003   2     1 4608   0      4800  \n"
        "0000000000000000 3      2    0800   0     1 0      65534  4801  \n"
    )
    assert procnet.parse_packet(text) == [
        ProcPacket(3, 0x0003, 2, True, 4608, 0, 4800),
        ProcPacket(2, 0x0800, 0, True, 0, 65534, 4801),
    ]


def test_empty_tables_hold_no_sockets():
    assert procnet.parse_inet(TCP_HEADER, "udp6") == []
    assert procnet.parse_inet("", "tcp") == []
    assert procnet.parse_unix("Num RefCount Protocol Flags Type St Inode Path\n") == []


@pytest.mark.parametrize(
    ("file", "line", "reason"),
    [
        ("tcp", "  0: 0100007F:0016 00000000:0000 0A\n", "4 fields, expected at least 10"),
        ("tcp", DOC_LINE.replace("010310AC:9C4C", "010310AC9C4C"),
         "not an IPv4 address:port: '010310AC9C4C'"),
        ("tcp6", DOC_LINE, "not an IPv6 address:port: '010310AC:9C4C'"),
        ("tcp", DOC_LINE.replace(" 01 ", " 0G "), "not hexadecimal: '0G'"),
        ("tcp", DOC_LINE.replace("00000150:00000000", "0000015000000000"),
         "not tx_queue:rx_queue: '0000015000000000'"),
        ("tcp", DOC_LINE.replace("54165785", "5416578x"), "not a number: '5416578x'"),
    ],
)  # fmt: skip
def test_lines_out_of_format_name_the_file_and_the_line_offset(file, line, reason):
    with pytest.raises(ProcNetError) as e:
        procnet.parse_inet(TCP_HEADER + line, file, byteorder="little")
    assert (e.value.layer, e.value.offset, e.value.reason) == (
        f"/proc/net/{file}", len(TCP_HEADER), reason)  # fmt: skip
