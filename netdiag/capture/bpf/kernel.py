"""Handing a classic BPF program to the kernel: SO_ATTACH_FILTER.

The one place netdiag attaches a socket filter, for the sniffer's AF_PACKET
socket and for the probes' raw sockets alike. A program is any sequence of
``(code, jt, jf, k)`` (``BpfInsn`` is one); the kernel copies it during the call.
"""

from __future__ import annotations

import socket
import struct
from array import array
from collections.abc import Sequence

from netdiag.capture.bpf.insn import BpfInsn, pack_program
from netdiag.errors import CaptureError

__all__ = ["Insn", "attach_filter", "SO_ATTACH_FILTER"]

Insn = tuple[int, int, int, int]

SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)  # <asm-generic/socket.h>
_FPROG = struct.Struct(
    "@HP"
)  # struct sock_fprog { unsigned short len; struct sock_filter *filter; }


def attach_filter(sock: socket.socket, program: Sequence[Insn]) -> None:
    """Attach ``program`` to ``sock``; CaptureError if the kernel refuses it."""
    code = pack_program([BpfInsn(*i) for i in program])
    buf = array("B", code)  # the kernel copies it during setsockopt; ``buf`` outlives that
    fprog = _FPROG.pack(len(program), buf.buffer_info()[0])
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as e:
        raise CaptureError(f"the kernel refused the filter program: {e.strerror}") from None
