"""tcpdump's filter language (pcap-filter) compiled to classic BPF, and our BPF interpreter.

The public API, also used by the live sniffer::

    program = compile_filter("tcp port 80", linktype=1)   # list of BpfInsn
    sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, sock_fprog(pack_program(program)))
    kept = run_filter(program, frame, wirelen)            # our interpreter; 0 = reject
    print("\\n".join(dump(program, 1)))                    # like tcpdump -d

Modules: ``lexer`` (tokens, FilterError), ``parser`` (AST), ``primitives`` and
``codegen`` (AST -> predicates -> code), ``program`` (labels, peephole, layout),
``insn`` (instruction encoding, listings), ``interp`` (interpreter), ``names``.
"""

from __future__ import annotations

from netdiag.capture.bpf.codegen import compile_ast
from netdiag.capture.bpf.insn import BpfInsn, dump, pack_program
from netdiag.capture.bpf.interp import make_runner, run_filter
from netdiag.capture.bpf.lexer import FilterError
from netdiag.capture.bpf.parser import parse

__all__ = [
    "BpfInsn",
    "FilterError",
    "compile_filter",
    "run_filter",
    "make_runner",
    "pack_program",
    "dump",
    "DEFAULT_SNAPLEN",
]

DEFAULT_SNAPLEN = 262144  # tcpdump's default snapshot length


def compile_filter(expr: str, linktype: int = 1, snaplen: int = DEFAULT_SNAPLEN) -> list[BpfInsn]:
    """Compile a pcap-filter expression for ``linktype``; blank -> ``[ret #snaplen]``.

    Raises FilterError (a UsageError: exit status 2) naming the offending token and column.
    """
    return compile_ast(parse(expr), linktype, snaplen)
