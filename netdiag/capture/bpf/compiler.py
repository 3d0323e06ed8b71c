"""``compile_filter``: a pcap-filter expression to a classic BPF program."""

from __future__ import annotations

from netdiag.capture.bpf.codegen import compile_ast
from netdiag.capture.bpf.insn import BpfInsn
from netdiag.capture.bpf.wlanparse import parse

__all__ = ["compile_filter", "parse", "DEFAULT_SNAPLEN"]  # parse: the whole grammar, 802.11 too

DEFAULT_SNAPLEN = 262144  # tcpdump's default snapshot length


def compile_filter(
    expr: str, linktype: int = 1, snaplen: int = DEFAULT_SNAPLEN, netmask: int = 0
) -> list[BpfInsn]:
    """Compile a pcap-filter expression for ``linktype``; blank -> ``[ret #snaplen]``.

    ``netmask`` is the one ``ip broadcast`` uses: 0, as tcpdump -r compiles for a file.
    Raises FilterError (a UsageError: exit status 2) naming the offending token and column.
    """
    return compile_ast(parse(expr), linktype, snaplen, netmask)
