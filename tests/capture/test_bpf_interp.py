"""Our classic-BPF interpreter on hand-made programs, and the listings of tcpdump -d/-dd/-ddd.

Semantics are those of the kernel's socket filter (Documentation/networking/
filter.rst) and libpcap's bpf_filter(): A and X are 32-bit, loads are
big-endian, a load past the captured bytes or a division by a zero X ends the
program with 0 (reject). The listings are anchored in tcpdump's own output for
its own programs.
"""

from __future__ import annotations

import subprocess

import pytest

from netdiag.capture.bpf import BpfInsn, FilterError, dump, pack_program, run_filter
from netdiag.capture.bpf import insn as I

PKT = bytes(range(0x10, 0x30))  # 32 bytes: 0x10 0x11 ... 0x2f


def ret_a(*body: BpfInsn) -> list[BpfInsn]:
    return [*body, BpfInsn(I.RET | I.RET_A, 0, 0, 0)]


def S(code: int, k: int = 0) -> BpfInsn:
    return BpfInsn(code, 0, 0, k)


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (ret_a(S(I.LD | I.ABS | I.W, 4)), 0x14151617),
        (ret_a(S(I.LD | I.ABS | I.H, 30)), 0x2E2F),
        (ret_a(S(I.LD | I.ABS | I.B, 31)), 0x2F),
        (ret_a(S(I.LDX | I.IMM, 8), S(I.LD | I.IND | I.W, 2)), 0x1A1B1C1D),
        (ret_a(S(I.LDX | I.IMM, 8), S(I.LD | I.IND | I.H, 2)), 0x1A1B),
        (ret_a(S(I.LDX | I.IMM, 8), S(I.LD | I.IND | I.B, 2)), 0x1A),
        (ret_a(S(I.LD | I.IMM, 0xDEADBEEF)), 0xDEADBEEF),
        (ret_a(S(I.LD | I.LEN)), 1500),  # the wire length, not the captured one
        (ret_a(S(I.LDX | I.LEN), S(I.MISC | I.TXA)), 1500),
        (ret_a(S(I.LDX | I.MSH | I.B, 0)), 4 * 0x0),  # 0x10 & 0xf = 0
        (ret_a(S(I.LDX | I.MSH | I.B, 5), S(I.MISC | I.TXA)), 4 * 0x5),
        (ret_a(S(I.LD | I.IMM, 7), S(I.ST, 3), S(I.LD | I.IMM, 0), S(I.LD | I.MEM, 3)), 7),
        (ret_a(S(I.LDX | I.IMM, 9), S(I.STX, 15), S(I.LDX | I.MEM, 15), S(I.MISC | I.TXA)), 9),
        (ret_a(S(I.LD | I.MEM, 5)), 0),  # scratch memory starts zeroed
        (ret_a(S(I.LD | I.IMM, 0xFFFFFFFF), S(I.ALU | I.ADD | I.K, 2)), 1),  # 32-bit wrap
        (ret_a(S(I.LD | I.IMM, 1), S(I.ALU | I.SUB | I.K, 2)), 0xFFFFFFFF),
        (ret_a(S(I.LD | I.IMM, 0x10000), S(I.ALU | I.MUL | I.K, 0x10000)), 0),
        (ret_a(S(I.LD | I.IMM, 7), S(I.ALU | I.DIV | I.K, 2)), 3),
        (ret_a(S(I.LD | I.IMM, 7), S(I.ALU | I.MOD | I.K, 4)), 3),
        (ret_a(S(I.LD | I.IMM, 0xF0), S(I.ALU | I.AND | I.K, 0x3C)), 0x30),
        (ret_a(S(I.LD | I.IMM, 0xF0), S(I.ALU | I.OR | I.K, 0x0F)), 0xFF),
        (ret_a(S(I.LD | I.IMM, 0xFF), S(I.ALU | I.XOR | I.K, 0x0F)), 0xF0),
        (ret_a(S(I.LD | I.IMM, 0x80000001), S(I.ALU | I.LSH | I.K, 1)), 2),
        (ret_a(S(I.LD | I.IMM, 0x80000000), S(I.ALU | I.RSH | I.K, 31)), 1),
        (ret_a(S(I.LD | I.IMM, 1), S(I.ALU | I.NEG)), 0xFFFFFFFF),
        (ret_a(S(I.LDX | I.IMM, 3), S(I.LD | I.IMM, 10), S(I.ALU | I.SUB | I.X)), 7),
        (ret_a(S(I.LDX | I.IMM, 3), S(I.LD | I.IMM, 10), S(I.ALU | I.DIV | I.X)), 3),
        (ret_a(S(I.LDX | I.IMM, 3), S(I.LD | I.IMM, 10), S(I.ALU | I.MOD | I.X)), 1),
        (ret_a(S(I.LDX | I.IMM, 32), S(I.LD | I.IMM, 10), S(I.ALU | I.LSH | I.X)), 0),
        (ret_a(S(I.LDX | I.IMM, 40), S(I.LD | I.IMM, 10), S(I.ALU | I.RSH | I.X)), 0),
        (ret_a(S(I.LD | I.IMM, 5), S(I.MISC | I.TAX), S(I.LD | I.IMM, 0), S(I.MISC | I.TXA)), 5),
        ([S(I.LDX | I.IMM, 77), S(I.RET | I.X)], 77),
        ([S(I.RET | I.K, 96)], 96),
    ],
)
def test_each_instruction_does_what_the_kernel_documents(program, expected):
    assert run_filter(program, PKT, 1500) == expected


def _branch(code: int, k: int, a: int, x: int = 0) -> int:
    """1 when the jump is taken (jt), 2 when not (jf)."""
    prog = [
        S(I.LDX | I.IMM, x),
        S(I.LD | I.IMM, a),
        BpfInsn(code, 0, 1, k),
        S(I.RET | I.K, 1),
        S(I.RET | I.K, 2),
    ]
    return run_filter(prog, PKT)


def test_conditional_jumps_compare_unsigned_against_k_or_x():
    assert _branch(I.JMP | I.JEQ | I.K, 5, 5) == 1
    assert _branch(I.JMP | I.JEQ | I.K, 5, 6) == 2
    assert _branch(I.JMP | I.JGT | I.K, 5, 0xFFFFFFFF) == 1  # unsigned: no negative numbers
    assert _branch(I.JMP | I.JGT | I.K, 5, 5) == 2
    assert _branch(I.JMP | I.JGE | I.K, 5, 5) == 1
    assert _branch(I.JMP | I.JGE | I.K, 5, 4) == 2
    assert _branch(I.JMP | I.JSET | I.K, 0x12, 0x02) == 1
    assert _branch(I.JMP | I.JSET | I.K, 0x12, 0x01) == 2
    assert _branch(I.JMP | I.JEQ | I.X, 0, 9, x=9) == 1
    assert _branch(I.JMP | I.JGT | I.X, 0, 9, x=9) == 2
    assert _branch(I.JMP | I.JGE | I.X, 0, 9, x=9) == 1
    assert _branch(I.JMP | I.JSET | I.X, 0, 8, x=9) == 1


def test_ja_skips_forward_by_k():
    prog = [S(I.JMP | I.JA, 1), S(I.RET | I.K, 1), S(I.RET | I.K, 2)]
    assert run_filter(prog, PKT) == 2


@pytest.mark.parametrize(
    "load",
    [
        [S(I.LD | I.ABS | I.W, 29)],
        [S(I.LD | I.ABS | I.H, 31)],
        [S(I.LD | I.ABS | I.B, 32)],
        [S(I.LD | I.ABS | I.W, 0xFFFFFFFF)],
        [S(I.LDX | I.IMM, 30), S(I.LD | I.IND | I.W, 0)],
        [S(I.LDX | I.IMM, 30), S(I.LD | I.IND | I.H, 1)],
        [S(I.LDX | I.IMM, 0xFFFFFFFF), S(I.LD | I.IND | I.B, 1)],
        [S(I.LDX | I.MSH | I.B, 32), S(I.MISC | I.TXA)],
        [S(I.LDX | I.IMM, 0), S(I.LD | I.IMM, 1), S(I.ALU | I.DIV | I.X)],
        [S(I.LDX | I.IMM, 0), S(I.LD | I.IMM, 1), S(I.ALU | I.MOD | I.X)],
    ],
)
def test_a_load_past_the_end_or_a_division_by_zero_rejects(load):
    assert run_filter([*load, S(I.RET | I.K, 0xFFFF)], PKT) == 0


@pytest.mark.parametrize(
    ("program", "why"),
    [
        ([], "0 instructions"),
        ([S(I.LD | I.IMM, 1)], "does not end with ret"),
        ([BpfInsn(I.JMP | I.JEQ | I.K, 5, 0, 0), S(I.RET | I.K, 0)], "jump past the end"),
        ([S(I.JMP | I.JA, 3), S(I.RET | I.K, 0)], "jump past the end"),
        ([S(I.ST, 16), S(I.RET | I.K, 0)], "scratch memory index 16"),
        ([S(I.ALU | I.DIV | I.K, 0), S(I.RET | I.K, 0)], "division by constant zero"),
        ([S(I.LD | I.ABS | 0x18, 0), S(I.RET | I.K, 0)], "unknown load"),
    ],
)
def test_invalid_programs_are_refused_as_the_kernel_refuses_them(program, why):
    with pytest.raises(FilterError, match=why):
        run_filter(program, PKT)


def test_pack_program_is_the_struct_sock_filter_array():
    # linux/filter.h: struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
    packed = pack_program([BpfInsn(0x15, 1, 2, 0x800)])
    assert len(packed) == 8
    assert packed[2:4] == b"\x01\x02"
    assert int.from_bytes(packed[0:2], "little") == 0x15  # native order on x86/arm64
    assert int.from_bytes(packed[4:8], "little") == 0x800


LISTED = [
    "tcp port 80 or udp",
    "ip[ip[0] & 0xf] = 1",
    "ip[0] - ip[1] = 0 or ether[0] / ether[1] = 0",
    "tcp[len] = 1 and less 100",
    "ip[0] >> ip[1] = 0 or 4 - ip[1] = 0 or ip[0] ^ 3 = 0",
    "ip6 host 2001:db8::1 and icmp6[0] = 128",
]


def _tcpdump(tcpdump: str, flag: str, expr: str) -> list[str]:
    out = subprocess.run(
        [tcpdump, flag, "-y", "EN10MB", expr], capture_output=True, text=True, check=True
    ).stdout
    return out.rstrip("\n").split("\n")


@pytest.mark.parametrize("expr", LISTED)
def test_listings_match_tcpdump_d_dd_ddd_for_tcpdumps_own_program(expr, require_tool):
    tcpdump = require_tool("tcpdump")
    ddd = _tcpdump(tcpdump, "-ddd", expr)
    program = [BpfInsn(*map(int, ln.split())) for ln in ddd[1:]]
    assert dump(program, 3) == ddd
    assert dump(program, 2) == _tcpdump(tcpdump, "-dd", expr)
    assert [ln.rstrip() for ln in dump(program, 1)] == [
        ln.rstrip() for ln in _tcpdump(tcpdump, "-d", expr)
    ]
