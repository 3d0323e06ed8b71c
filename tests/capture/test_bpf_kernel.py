"""Our programs run in the kernel: SO_ATTACH_FILTER accepts ``pack_program``'s bytes, and
the kernel's verdicts on loopback traffic agree with our interpreter's.

Traffic: a bounded number of UDP datagrams to 127.0.0.1 only (loopback).
"""

from __future__ import annotations

import ctypes
import socket
import time

import pytest

from netdiag.capture.bpf import compile_filter, pack_program, run_filter

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@pytest.mark.root
def test_kernel_passes_exactly_the_packets_our_interpreter_accepts():
    rx_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx_udp.bind(("127.0.0.1", 0))
    wanted = rx_udp.getsockname()[1]
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    unwanted = other.getsockname()[1]
    program = compile_filter(f"udp dst port {wanted} and greater 51")
    raw = pack_program(program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = SockFprog(len(program), ctypes.addressof(buf))
    # protocol 0 receives nothing until bound: no packet slips in before the filter
    sniffer = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        sniffer.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))
        sniffer.bind(("lo", ETH_P_ALL))  # CPython converts to network order
        sniffer.settimeout(0.5)
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for size in (1, 8, 20, 30):  # 1 and 8 bytes make 43- and 50-byte frames: below 51, rejected
            tx.sendto(bytes(size), ("127.0.0.1", wanted))
            tx.sendto(bytes(size), ("127.0.0.1", unwanted))
        tx.close()
        frames = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                frames.append(sniffer.recv(65535))
            except TimeoutError:
                break
    finally:
        sniffer.close()
        rx_udp.close()
        other.close()
    assert frames, "the kernel passed nothing"
    assert all(run_filter(program, f) for f in frames)
    sizes = sorted({len(f) - 42 for f in frames})  # Ethernet 14 + IPv4 20 + UDP 8
    assert sizes == [20, 30]
    assert {int.from_bytes(f[36:38], "big") for f in frames} == {wanted}
