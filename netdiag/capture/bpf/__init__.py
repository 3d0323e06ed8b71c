"""tcpdump's filter language (pcap-filter) compiled to classic BPF, and our BPF interpreter.

The public API, also used by the live sniffer::

    program = compile_filter("tcp port 80", linktype=1)   # list of BpfInsn
    sock.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, sock_fprog(pack_program(program)))
    kept = run_filter(program, frame, wirelen)            # our interpreter; 0 = reject
    print("\\n".join(dump(program, 1)))                    # like tcpdump -d

Modules: ``lexer`` (tokens, FilterError), ``parser`` (AST), ``primitives`` and
``codegen`` (AST -> predicates -> code; ``tunnels``: mpls, geneve, vrrp, pim),
``program`` (labels, peephole, layout), ``insn`` (instruction encoding, listings),
``interp`` (interpreter), ``names``, ``compiler`` (``compile_filter``). The names
below load their module on first use: the probes import ``insn`` and ``kernel`` alone.
"""

from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.capture.bpf.compiler import DEFAULT_SNAPLEN, compile_filter
    from netdiag.capture.bpf.insn import BpfInsn, dump, pack_program
    from netdiag.capture.bpf.interp import make_runner, run_filter
    from netdiag.capture.bpf.lexer import FilterError

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

__getattr__ = lazy_attributes(
    __name__,
    {
        "BpfInsn": "netdiag.capture.bpf.insn",
        "dump": "netdiag.capture.bpf.insn",
        "pack_program": "netdiag.capture.bpf.insn",
        "FilterError": "netdiag.capture.bpf.lexer",
        "compile_filter": "netdiag.capture.bpf.compiler",
        "DEFAULT_SNAPLEN": "netdiag.capture.bpf.compiler",
        "run_filter": "netdiag.capture.bpf.interp",
        "make_runner": "netdiag.capture.bpf.interp",
    },
)
