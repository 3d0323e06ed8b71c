"""The tunnel primitives of pcap-filter: ``mpls [label]``, ``geneve [vni]``, ``vrrp``, ``pim``.

As libpcap 1.10 compiles them (gencode.c ``gen_mpls``, ``gen_mpls_linktype``,
``gen_geneve*``, and the ``vrrp``/``pim`` cases of ``gen_proto_abbrev``). Like
``vlan``, the two encapsulations move the offsets for the rest of the expression,
in textual order:

- ``mpls`` is EtherType 0x8847 (unicast only; PPP: 0x0281; Cisco HDLC too) at
  the current link offset, or, inside a label stack already, the previous label's
  bottom-of-stack bit clear. ``mpls N`` compares the 20-bit label. Each ``mpls``
  moves the network header 4 bytes on. After one, ``ip``/``ip6`` (and everything
  built on them: ``tcp``, ``port``, ``host``...) mean "bottom of stack set and
  IP version 4/6 there"; any other protocol is refused ("unsupported protocol
  over mpls"), ``host`` looks for IPv4 only (no ARP/RARP), and ``vlan`` is refused.
- ``geneve`` is UDP destination port 6081 over IPv4 (first fragments) or IPv6
  (no extension header), Geneve version 0, and with ``geneve N`` the 24-bit VNI.
  When it holds, code computes the inner offsets into three scratch registers at
  run time, as libpcap does: the inner link header starts after the 8 fixed bytes
  plus the options (``(byte0 & 0x3f) * 4``); if the protocol type is 0x6558
  (Transparent Ethernet Bridging) an Ethernet header follows, whose EtherType is
  then the link type; otherwise the Geneve protocol type is the EtherType and the
  network header starts right after the options. From then on the link type is
  Ethernet whatever the capture's, and ``ether host``/``broadcast``/``multicast``
  also require that inner Ethernet header. libpcap turns its optimizer off then,
  so an expression that rejects everything is not an error after ``geneve``.
- ``vrrp`` is IPv4 protocol 112; ``pim`` is protocol 103 over IPv4 or IPv6 (one
  IPv6 fragment header looked through, as ``ip6 proto``).
"""

from __future__ import annotations

from netdiag.capture.bpf import insn as I
from netdiag.capture.bpf.lexer import Token
from netdiag.capture.bpf.linkvar import VAR_DYN, LinkVar, err
from netdiag.capture.bpf.parser import Abbrev
from netdiag.capture.bpf.program import Emitter, Pred
from netdiag.packets.numbers import EtherType

__all__ = ["Tunnels"]

ETHERTYPE_MPLS = 0x8847
PPP_MPLS_UCAST = 0x0281
ETHERTYPE_TEB = 0x6558
GENEVE_PORT = 6081
MPLS_LABEL_MAX = 0xFFFFF
GENEVE_VNI_MAX = 0xFFFFFF
IPPROTO_UDP, IPPROTO_PIM, IPPROTO_VRRP = 17, 103, 112
_DYN_STEP = 1 << 24


class Tunnels(LinkVar):
    """MPLS and Geneve, which move the offsets; VRRP and PIM, which do not."""

    off_ll: int | None
    off_nl: int

    def __init__(self, e: Emitter) -> None:
        super().__init__(e)
        self.mpls_depth = 0  # libpcap's label_stack_depth
        self.geneve_ll: Pred | None = None  # "the Geneve payload is Ethernet", once geneve seen
        self.no_optimize = False

    # declared by Primitives
    def link_pred(self, ethertype: int, tok: Token) -> Pred:  # pragma: no cover
        raise NotImplementedError

    def ip_proto(self, proto: int) -> Pred:  # pragma: no cover
        raise NotImplementedError

    def any_proto(self, proto: int) -> Pred:  # pragma: no cover
        raise NotImplementedError

    def not_fragment(self) -> Pred:  # pragma: no cover
        raise NotImplementedError

    def tunnel_abbrev(self, a: Abbrev) -> Pred | None:
        """The predicate of a tunnel abbreviation, None if ``a`` is not one."""
        if a.name == "mpls":
            return self.mpls(a.tok, a.arg)
        if a.name == "geneve":
            return self.geneve(a.tok, a.arg)
        if a.name == "vrrp":
            return self.ip_proto(IPPROTO_VRRP)
        if a.name == "pim":
            return self.any_proto(IPPROTO_PIM)
        return None

    # -- MPLS ----------------------------------------------------------------------------

    def mpls(self, tok: Token, label: int | None) -> Pred:
        if self.mpls_depth:
            tag = self.cmp(self.off_nl - 2, I.B, 0, 0x01)  # the previous label: not bottom
        elif self.family in ("ether", "chdlc"):
            tag = self.link_pred(ETHERTYPE_MPLS, tok)
        elif self.linktype == 9:
            tag = self.cmp(2, I.H, PPP_MPLS_UCAST)
        else:
            raise err(f"no MPLS support for link type {self.linktype}", tok)
        if label is not None:
            if label > MPLS_LABEL_MAX:
                raise err(f"MPLS label {label} greater than maximum {MPLS_LABEL_MAX}", tok)
            tag = self.p_and(tag, self.cmp(self.off_nl, I.W, label << 12, 0xFFFFF000))
        self.off_nl += 4
        self.mpls_depth += 1
        return tag

    def mpls_linktype(self, ethertype: int, tok: Token) -> Pred:
        """``ip``/``ip6`` inside a label stack: bottom of stack, then the version nibble."""
        version = {EtherType.IPV4: 0x40, EtherType.IPV6: 0x60}.get(ethertype)  # type: ignore[call-overload]
        if version is None:
            raise err("unsupported protocol over mpls", tok)
        nl = self.off_nl
        return self.p_and(self.cmp(nl - 2, I.B, 0x01, 0x01), self.cmp(nl, I.B, version, 0xF0))

    # -- Geneve --------------------------------------------------------------------------

    def geneve(self, tok: Token, vni: int | None) -> Pred:
        if vni is not None and vni > GENEVE_VNI_MAX:
            raise err(f"Geneve VNI {vni} greater than maximum {GENEVE_VNI_MAX}", tok)
        nl, e = self.off_nl, self.e
        self._reg(nl)
        base = VAR_DYN + len(self.dyn_regs) * _DYN_STEP
        lt, hdr, pl = base, base + _DYN_STEP, base + 2 * _DYN_STEP
        regs = (e.alloc_reg(), e.alloc_reg(), e.alloc_reg())
        self.dyn_regs.update({lt: regs[0], hdr: regs[1], pl: regs[2]})

        def udp4(off: int, size: int, value: int, mask: int) -> Pred:
            def emit(t: int, f: int) -> None:
                e.stmt(I.LD | I.IND | size, self.ldx_l4(nl) + off)
                if mask != {I.B: 0xFF, I.H: 0xFFFF, I.W: 0xFFFFFFFF}[size]:
                    e.stmt(I.ALU | I.AND | I.K, mask)
                e.jump(I.JMP | I.JEQ | I.K, value, t, f)

            return emit

        v4 = [
            self.link_pred(EtherType.IPV4, tok),
            self.cmp(nl + 9, I.B, IPPROTO_UDP),
            self.not_fragment(),
            udp4(2, I.H, GENEVE_PORT, 0xFFFF),
            udp4(8, I.B, 0, 0xC0),
        ]
        v6 = [
            self.link_pred(EtherType.IPV6, tok),
            self.cmp(nl + 6, I.B, IPPROTO_UDP),
            self.cmp(nl + 42, I.H, GENEVE_PORT),
            self.cmp(nl + 48, I.B, 0, 0xC0),
        ]
        if vni is not None:
            v4.append(udp4(12, I.W, vni << 8, 0xFFFFFF00))
            v6.append(self.cmp(nl + 52, I.W, vni << 8, 0xFFFFFF00))
        v4.append(self._geneve_offsets(nl, False, regs))
        v6.append(self._geneve_offsets(nl, True, regs))
        pred = self.p_or(self.p_and(*v4), self.p_and(*v6))
        self.off_ll, self.off_hdr, self.off_nl = lt, hdr, pl
        self.family = "ether"
        self.no_optimize = True
        self.geneve_ll = self._differ(regs[1], regs[2])
        return pred

    def _geneve_offsets(self, nl: int, v6: bool, regs: tuple[int, int, int]) -> Pred:
        """Always true: store the inner link type, link header and payload offsets."""
        e = self.e
        lt, hdr, pl = regs

        def emit(t: int, f: int) -> None:
            if not v6:  # X: the Geneve header
                k = self.ldx_l4(nl)
                e.stmt(I.MISC | I.TXA)
                e.stmt(I.ALU | I.ADD | I.K, k + 8)
                e.stmt(I.MISC | I.TAX)
            else:
                reg, k = self._reg(nl)
                if reg is None:
                    e.stmt(I.LDX | I.IMM, k + 48)
                else:
                    e.stmt(I.LD | I.MEM, reg)
                    e.stmt(I.ALU | I.ADD | I.K, k + 48)
                    e.stmt(I.MISC | I.TAX)
            e.stmt(I.MISC | I.TXA)
            e.stmt(I.ALU | I.ADD | I.K, 2)
            e.stmt(I.ST, lt)  # no Ethernet inside: the protocol type is the EtherType
            e.stmt(I.LD | I.IND | I.B, 0)
            e.stmt(I.ALU | I.AND | I.K, 0x3F)
            e.stmt(I.ALU | I.MUL | I.K, 4)
            e.stmt(I.ALU | I.ADD | I.K, 8)
            e.stmt(I.ALU | I.ADD | I.X)
            e.stmt(I.ST, hdr)
            e.stmt(I.LD | I.IND | I.H, 2)
            e.stmt(I.LDX | I.MEM, hdr)
            teb, join = e.label(), e.label()
            e.jump(I.JMP | I.JEQ | I.K, ETHERTYPE_TEB, teb, join)
            e.place(teb)
            e.stmt(I.MISC | I.TXA)
            e.stmt(I.ALU | I.ADD | I.K, 12)
            e.stmt(I.ST, lt)
            e.stmt(I.ALU | I.ADD | I.K, 2)
            e.stmt(I.MISC | I.TAX)
            e.place(join)
            e.stmt(I.STX, pl)
            e.goto(t)

        return emit

    def _differ(self, r1: int, r2: int) -> Pred:
        """M[r1] != M[r2] (gencode.c gen_geneve_ll_check)."""
        e = self.e

        def emit(t: int, f: int) -> None:
            e.stmt(I.LD | I.MEM, r1)
            e.stmt(I.LDX | I.MEM, r2)
            e.jump(I.JMP | I.JEQ | I.X, 0, f, t)

        return emit

    def ether_ll_check(self, p: Pred) -> Pred:
        """``p`` and, after ``geneve``, an inner Ethernet header (gen_prevlinkhdr_check)."""
        return p if self.geneve_ll is None else self.p_and(self.geneve_ll, p)
