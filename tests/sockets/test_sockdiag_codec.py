"""The sock_diag codec against messages built by hand from the kernel's UAPI layouts.

Every message here is packed field by field from linux/netlink.h (nlmsghdr,
nlmsgerr, rtattr), linux/inet_diag.h (inet_diag_req_v2, inet_diag_msg),
linux/unix_diag.h, linux/packet_diag.h, linux/sock_diag.h (SK_MEMINFO_*) and
linux/tcp.h (tcp_info), with this test's own struct formats, not the codec's.
Each reply is then cut at every offset: the error must name the structure and
the byte where it starts, and say how many bytes were needed and present.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netdiag import netlink as sd
from netdiag.errors import DecodeError, MalformedError, TruncatedError

AF_UNIX, AF_INET, AF_INET6, AF_PACKET = 1, 2, 10, 17


def nlmsg(mtype: int, payload: bytes, seq: int = 7, flags: int = 2) -> bytes:
    """nlmsghdr {u32 len; u16 type; u16 flags; u32 seq; u32 pid} + payload, padded to 4."""
    return (
        struct.pack("=IHHII", 16 + len(payload), mtype, flags, seq, 4242)
        + payload
        + bytes(-len(payload) % 4)
    )


def rta(kind: int, value: bytes) -> bytes:
    """rtattr {u16 len; u16 type} + value, padded to 4."""
    return struct.pack("=HH", 4 + len(value), kind) + value + bytes(-len(value) % 4)


def tcp_info(**values: int) -> bytes:
    """struct tcp_info (linux/tcp.h) up to tcpi_snd_wnd: 232 bytes."""
    b = bytearray(232)
    b[0], b[2] = values.get("state", 1), values.get("retransmits", 0)
    for name, off, fmt in (("rtt", 68, "I"), ("rttvar", 72, "I"), ("snd_cwnd", 80, "I"),
                           ("total_retrans", 100, "I"), ("retrans", 36, "I"),
                           ("delivery_rate", 160, "Q"), ("snd_wnd", 228, "I")):  # fmt: skip
        struct.pack_into("=" + fmt, b, off, values.get(name, 0))
    return bytes(b)


def inet_diag_msg(family: int, state: int, src: bytes, sport: int, dst: bytes, dport: int,
                  rq: int, wq: int, uid: int, inode: int) -> bytes:  # fmt: skip
    sockid = struct.pack("!HH16s16s", sport, dport, src.ljust(16, b"\0"), dst.ljust(16, b"\0"))
    sockid += struct.pack("=III", 3, 0x11, 0x22)  # idiag_if, idiag_cookie[2]
    return (
        struct.pack("=BBBB", family, state, 0, 0)
        + sockid
        + struct.pack("=IIIII", 0, rq, wq, uid, inode)
    )


# one table of hand-built replies: (name, fixed-part layer, fixed length, fixed part, attributes)
TCP_ATTRS = [
    rta(
        2,
        tcp_info(
            rtt=31250,
            rttvar=15625,
            snd_cwnd=10,
            total_retrans=3,
            retransmits=1,
            delivery_rate=125000,
            snd_wnd=65536,
        ),
    ),  # fmt: skip
    rta(4, b"cubic\0"),
    rta(7, struct.pack("=9I", 1, 2, 3, 4, 5, 6, 7, 8, 9)),
    rta(8, b"\x03"),
]
CASES = [
    ("tcp4", "inet_diag_msg", 72,
     inet_diag_msg(AF_INET, 1, bytes([198, 18, 1, 2]), 5001, bytes([198, 18, 1, 1]), 40000,
                   1234, 56, 1000, 99),
     TCP_ATTRS),
    ("udp6", "inet_diag_msg", 72,
     inet_diag_msg(AF_INET6, 7, bytes.fromhex("20010db8000400000000000000000002"), 53, bytes(16),
                   0, 0, 0, 0, 100),
     [rta(11, b"\x01")]),
    ("unix", "unix_diag_msg", 16,
     struct.pack("=BBBxIII", AF_UNIX, 5, 10, 4711, 1, 0),
     [rta(0, b"\0abstract\0x"), rta(2, struct.pack("=I", 4712)),
      rta(3, struct.pack("=3I", 1, 2, 3)), rta(4, struct.pack("=II", 777, 128)),
      rta(7, struct.pack("=I", 1000))]),
    ("unix-path", "unix_diag_msg", 16,
     struct.pack("=BBBxIII", AF_UNIX, 1, 1, 4713, 2, 0),
     [rta(0, b"/run/x.sock\0"), rta(1, struct.pack("=II", 555, 66))]),
    ("packet", "packet_diag_msg", 16,
     struct.pack("=BBHIII", AF_PACKET, 3, 0x0003, 4800, 3, 0),
     [rta(0, struct.pack("=6I", 2, 2, 0, 0, 0, 1)), rta(5, struct.pack("=I", 0)),
      rta(6, struct.pack("=9I", 4608, 212992, 0, 212992, 0, 0, 0, 0, 5))]),
]  # fmt: skip


def message(case: tuple) -> bytes:
    _, _, _, fixed, attrs = case
    return nlmsg(20, fixed + b"".join(attrs))


def test_tcp_reply_fields_and_tcp_info_are_read_where_the_kernel_puts_them():
    (m,) = sd.decode_stream(message(CASES[0]))
    assert isinstance(m, sd.InetDiag)
    assert (m.family, m.state, m.src, m.sport, m.dst, m.dport) == (
        AF_INET, 1, "198.18.1.2", 5001, "198.18.1.1", 40000)  # fmt: skip
    assert (m.rqueue, m.wqueue, m.uid, m.inode, m.ifindex) == (1234, 56, 1000, 99, 3)
    assert m.cookie == 0x22 << 32 | 0x11
    assert m.cong == "cubic" and m.shutdown == 3
    assert m.meminfo == sd.MemInfo(1, 2, 3, 4, 5, 6, 7, 8, 9)
    ti = m.tcp_info
    assert ti is not None
    assert (ti.rtt, ti.rttvar, ti.snd_cwnd, ti.total_retrans, ti.retransmits) == (
        31250, 15625, 10, 3, 1)  # fmt: skip
    assert (ti.delivery_rate, ti.snd_wnd) == (125000, 65536)


def test_ipv6_addresses_and_v6only():
    (m,) = sd.decode_stream(message(CASES[1]))
    assert isinstance(m, sd.InetDiag)
    assert (m.src, m.dst, m.sport, m.state, m.v6only) == ("2001:db8:4::2", "::", 53, 7, True)


def test_unix_abstract_name_peer_pending_connections_and_queue():
    (m,) = sd.decode_stream(message(CASES[2]))
    assert isinstance(m, sd.UnixDiag)
    assert (m.type, m.state, m.inode, m.cookie) == (5, 10, 4711, 1)
    assert m.name == "@abstract@x"  # NULs shown as @, as ss does
    assert (m.peer, m.icons, m.rqueue, m.wqueue, m.uid) == (4712, (1, 2, 3), 777, 128, 1000)
    (p,) = sd.decode_stream(message(CASES[3]))
    assert isinstance(p, sd.UnixDiag)
    assert (p.name, p.vfs, p.peer) == ("/run/x.sock", (555, 66), None)


def test_packet_socket_interface_protocol_and_memory():
    (m,) = sd.decode_stream(message(CASES[4]))
    assert isinstance(m, sd.PacketDiag)
    assert (m.type, m.protocol, m.inode, m.uid) == (3, 0x0003, 4800, 0)
    assert m.info == sd.PacketInfo(2, 2, 0, 0, 0, 1)
    assert m.meminfo is not None and (m.meminfo.rmem_alloc, m.meminfo.drops) == (4608, 5)


def test_a_stream_of_several_replies_ends_with_done_and_its_errno():
    data = message(CASES[0]) + message(CASES[2]) + nlmsg(3, struct.pack("=i", -2), flags=0x12)
    out = sd.decode_stream(data)
    assert [type(x).__name__ for x in out] == ["InetDiag", "UnixDiag", "Done"]
    assert out[-1] == sd.Done(seq=7, interrupted=True, errno=2)  # ENOENT, NLM_F_DUMP_INTR
    assert sd.decode_stream(nlmsg(3, b"")) == [sd.Done(7)]  # kernels before 4.x: no payload
    err = nlmsg(2, struct.pack("=i", -95) + struct.pack("=IHHII", 72, 20, 0x301, 7, 0))
    assert sd.decode_stream(err) == [sd.NlError(seq=7, errno=95)]
    assert sd.decode_stream(nlmsg(1, b"") + nlmsg(3, bytes(4))) == [sd.Done(7)]  # NOOP skipped


def test_requests_have_the_kernels_layouts():
    req = sd.build_inet_request(AF_INET6, 6, ext=(2, 4, 7), seq=9, states=1 << 10)
    assert req == struct.pack("=IHHII", 72, 20, 0x301, 9, 0) + struct.pack(
        "=BBBBI", AF_INET6, 6, (1 << 1) | (1 << 3) | (1 << 6), 0, 1 << 10
    ) + bytes(40) + struct.pack("=II", 0xFFFFFFFF, 0xFFFFFFFF)  # INET_DIAG_NOCOOKIE
    assert sd.build_unix_request(seq=3) == struct.pack("=IHHII", 40, 20, 0x301, 3, 0) + (
        struct.pack("=BBHIIIII", AF_UNIX, 0, 0, 0xFFFFFFFF, 0, 0x7F, 0xFFFFFFFF, 0xFFFFFFFF)
    )
    assert sd.build_packet_request(seq=4) == struct.pack("=IHHII", 36, 20, 0x301, 4, 0) + (
        struct.pack("=BBHIIII", AF_PACKET, 0, 0, 0, 0x19, 0xFFFFFFFF, 0xFFFFFFFF))  # fmt: skip
    with pytest.raises(ValueError):
        sd.build_inet_request(AF_INET, 6, ext=(9,))  # INET_DIAG_DCTCPINFO: not in idiag_ext


def _expected_cut_error(case: tuple, cut: int) -> tuple[str, int, int, int] | None:
    """(layer, offset, needed, got) for the reply's payload cut to ``cut`` bytes and
    re-wrapped in a header saying so; None when the cut is at an attribute boundary."""
    _, layer, fixed_len, _, attrs = case
    if cut == 0:  # not even the family byte that says which struct follows
        return ("sock_diag", 16, 1, 0)
    if cut < fixed_len:
        return (layer, 16, fixed_len, cut)
    start = fixed_len
    for a in attrs:
        rta_len = struct.unpack_from("=H", a)[0]
        if cut <= start:
            return None
        if cut - start < 4:
            return ("rtattr", 16 + start, 4, cut - start)
        if cut - start < rta_len:
            return ("rtattr", 16 + start, rta_len, cut - start)
        start += len(a)
    return None  # in the padding of the last attribute: decodes


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_cut_of_every_reply_gives_the_exact_error(case):
    whole = message(case)
    for cut in range(1, len(whole)):  # the stream itself cut: the header says more follows
        with pytest.raises(sd.NetlinkTruncatedError) as e:
            sd.decode_stream(whole[:cut])
        needed = 16 if cut < 16 else len(whole)
        assert (e.value.layer, e.value.offset, e.value.needed, e.value.got) == (
            "nlmsghdr", 0, needed, cut)  # fmt: skip
        assert str(e.value) == f"nlmsghdr: truncated: needed {needed} bytes, got {cut} (at byte 0)"
    payload = whole[16:]
    for cut in range(len(payload)):  # the payload cut and the header fixed up to match
        expected = _expected_cut_error(case, cut)
        data = struct.pack("=IHHII", 16 + cut, 20, 2, 7, 0) + payload[:cut]
        if expected is None:
            assert len(sd.decode_stream(data)) == 1
            continue
        with pytest.raises(sd.NetlinkTruncatedError) as e:
            sd.decode_stream(data)
        assert (e.value.layer, e.value.offset, e.value.needed, e.value.got) == expected, cut


@pytest.mark.parametrize(
    ("data", "layer", "offset", "reason"),
    [
        (struct.pack("=IHHII", 8, 20, 2, 1, 0), "nlmsghdr", 0,
         "nlmsg_len 8 below the 16-byte header"),
        (nlmsg(20, bytes([99]) + bytes(71)), "sock_diag", 16, "unknown address family 99"),
        (nlmsg(4, b""), "nlmsghdr", 0, "NLMSG_OVERRUN: the kernel lost data"),
        (nlmsg(16, bytes(4)), "nlmsghdr", 0, "unexpected nlmsg_type 16"),
        (nlmsg(20, CASES[2][3] + struct.pack("=HH", 2, 0)), "rtattr", 32,
         "rta_len 2 below the 4-byte header"),
    ],
)  # fmt: skip
def test_impossible_lengths_and_types_are_named(data, layer, offset, reason):
    with pytest.raises(sd.NetlinkMalformedError) as e:
        sd.decode_stream(data)
    assert (e.value.layer, e.value.offset, e.value.reason) == (layer, offset, reason)
    assert isinstance(e.value, MalformedError)


@pytest.mark.parametrize(
    ("attr", "layer", "needed"),
    [(rta(2, bytes(100)), "tcp_info", 104),  # older than Linux 2.6's struct
     (rta(4, b"\x00\x01"), "UNIX_DIAG_RQLEN", 8), (rta(2, b"\x01"), "UNIX_DIAG_PEER", 4)],
)  # fmt: skip
def test_attributes_shorter_than_their_struct_are_truncated(attr, layer, needed):
    fixed = CASES[0][3] if layer == "tcp_info" else CASES[2][3]
    with pytest.raises(sd.NetlinkTruncatedError) as e:
        sd.decode_stream(nlmsg(20, fixed + attr))
    assert (e.value.layer, e.value.offset, e.value.needed) == (layer, 16 + len(fixed) + 4, needed)
    assert isinstance(e.value, TruncatedError)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_only_the_codecs_error(data):
    try:
        sd.decode_stream(data)
    except sd.NetlinkDecodeError as e:
        assert isinstance(e, DecodeError) and e.layer and e.offset >= 0


@given(st.sampled_from(CASES), st.binary(min_size=1, max_size=64), st.integers(0, 200))
def test_corrupted_replies_decode_or_raise_only_the_codecs_error(case, junk, where):
    data = bytearray(message(case))
    where %= len(data)
    data[where : where + len(junk)] = junk
    try:
        sd.decode_stream(bytes(data))
    except sd.NetlinkDecodeError:
        pass
