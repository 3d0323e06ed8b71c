"""Variable link-layer offsets, LLC, and the IEEE 802.11 primitives, as libpcap 1.10 compiles them.

Link types whose headers vary in length keep the variable part of an offset in a
scratch register, computed once by a *prologue* at the start of the program, as
libpcap does (gencode.c ``insert_compute_vloffsets``):

- radiotap (127): the radiotap length (``ldb [3]; lsh #8; tax; ldb [2]; or x``) is
  where the 802.11 header starts (``link[...]``, ``wlan addr1 ...``);
- 802.11 (105, 127): the link payload (LLC) starts 24 bytes after the 802.11
  header, 26 for a QoS data frame, rounded up to a multiple of 4 when radiotap's
  flags say DATAPAD (libpcap looks at the flags field only at byte 8, or 16 with
  TSFT, and only with one present word); libpcap does not add address 4;
- pflog (117): the packet starts at the header's length byte rounded up to 4.

An offset here is an int: below ``VAR_HDR`` it is absolute; ``VAR_HDR + k`` is k
bytes after the variable link header, ``VAR_PL + k`` k bytes after the variable
link payload (``ldx M[r]; ld [x + k]``); ``VAR_DYN`` and up are past registers
that code in mid-program sets (``geneve``, tunnels.py). The prologue runs only when some
primitive used the register, and its loads can reject a short packet before the
expression is looked at, as libpcap's do (libpcap turns its optimizer off then).

The 802.11 primitives follow gencode.c's ``gen_wlanhostop``, ``gen_p80211_type``,
``gen_p80211_fcdir`` and the 802.11 cases of ``gen_broadcast``/``gen_multicast``,
testing the same bits in the same order.
"""

from __future__ import annotations

from netdiag.capture.bpf import insn as I
from netdiag.capture.bpf.lexer import FilterError, Token
from netdiag.capture.bpf.program import Emitter, Pred, PredBuilder

__all__ = ["LinkVar", "VAR_HDR", "VAR_PL", "VAR_DYN", "WLAN_FAMILIES", "WAN_FAMILIES", "WLAN_DIRS"]

VAR_HDR = 1 << 24
VAR_PL = 1 << 25
VAR_DYN = 1 << 26  # each dynamic base is VAR_DYN + n << 24 (dyn_regs)
WLAN_FAMILIES = frozenset(("wlan", "radiotap"))
#: the families (primitives.LINKS) whose link-type test ``wan_link_pred`` makes
WAN_FAMILIES = WLAN_FAMILIES | {"ppp", "chdlc", "sunatm", "frelay", "pflog", "nflog"}
#: gencode.c ethertype_to_ppptype
PPP_TYPES = {0x0800: 0x0021, 0x86DD: 0x0057, 0x6003: 0x0027, 0x809B: 0x0029, 0x0600: 0x003F,
             0xFE: 0x0023, 0x42: 0x0031, 0xE0: 0x002B}  # fmt: skip
#: Frame Relay NLPIDs after a UI control byte, per EtherType (0xFE: the OSI protocols)
_FR_NLPIDS = {0x0800: (0xCC,), 0x86DD: (0x8E,), 0xFE: (0x81, 0x82, 0x83)}
#: pflog's address family: AF_INET, and AF_INET6 of the host libpcap was built on (Linux)
_PFLOG_AF = {0x0800: 2, 0x86DD: 10}
#: the 802.11 address qualifiers, as libpcap's message names them
WLAN_DIRS = {"addr1": "'addr1' and 'address1' are", "addr2": "'addr2' and 'address2' are",
             "addr3": "'addr3' and 'address3' are", "addr4": "'addr4' and 'address4' are",
             "ra": "'ra' is", "ta": "'ta' is"}  # fmt: skip
ETHERMTU = 1500
# 802.11 frame control, first byte (IEEE 802.11-2020 §9.2.4.1)
FC0_TYPE_MASK, FC0_SUBTYPE_MASK = 0x0C, 0xF0
FC0_TYPE_CTL, FC0_SUBTYPE_CTS, FC0_SUBTYPE_ACK = 0x04, 0xC0, 0xD0
FC1_DIR_MASK, FC1_DIR_DSTODS = 0x03, 0x03
# LLC SAPs libpcap matches on both DSAP and SSAP
_SAP_PAIRS = frozenset((0x06, 0xFE, 0xF0))


def err(msg: str, tok: Token) -> FilterError:
    e = FilterError(f"filter: {msg} at column {tok.col}")
    e.col = tok.col  # type: ignore[attr-defined]
    return e


class LinkVar(PredBuilder):
    """Loads at fixed or variable offsets, and the predicates of 802.11 and LLC."""

    family: str
    linktype: int

    def __init__(self, e: Emitter) -> None:
        super().__init__(e)
        self.hdr_reg: int | None = None  # register of the variable link header offset
        self.pl_reg: int | None = None  # register of the variable link payload offset
        self.off_hdr = VAR_HDR if self.linktype == 127 else 0
        self.off_llc = VAR_PL  # where LLC starts; ``vlan`` moves it (and off_nl) by 4
        self.dyn_regs: dict[int, int] = {}  # dynamic base -> its register

    # -- loads -------------------------------------------------------------------------

    def _reg(self, off: int) -> tuple[int | None, int]:
        """(register or None, constant part) of offset ``off``."""
        if off >= VAR_DYN:
            base = off & ~0xFFFFFF
            return self.dyn_regs[base], off - base
        if off >= VAR_PL:
            if self.pl_reg is None:
                self.pl_reg = self.e.alloc_reg()
                if self.linktype == 127 and self.hdr_reg is None:
                    self.hdr_reg = self.e.alloc_reg()
            return self.pl_reg, off - VAR_PL
        if off >= VAR_HDR:
            if self.hdr_reg is None:
                self.hdr_reg = self.e.alloc_reg()
            return self.hdr_reg, off - VAR_HDR
        return None, off

    def ld(self, size: int, off: int) -> None:
        """Emit a load of ``size`` at ``off`` (absolute, or past a variable offset)."""
        reg, k = self._reg(off)
        if reg is None:
            self.e.stmt(I.LD | I.ABS | size, k)
        else:
            self.e.stmt(I.LDX | I.MEM, reg)
            self.e.stmt(I.LD | I.IND | size, k)

    def ld_indexed(self, size: int, base: int) -> None:
        """A holds an index: load ``size`` at ``base`` + A."""
        reg, k = self._reg(base)
        if reg is not None:
            self.e.stmt(I.LDX | I.MEM, reg)
            self.e.stmt(I.ALU | I.ADD | I.X)
        self.e.stmt(I.MISC | I.TAX)
        self.e.stmt(I.LD | I.IND | size, k)

    def ldx_l4(self, nl: int) -> int:
        """Leave in X the IPv4 header length (plus the variable part of ``nl``); return
        the constant to add to X for the transport header."""
        reg, k = self._reg(nl)
        e = self.e
        if reg is None:
            e.stmt(I.LDX | I.MSH | I.B, k)
            return k
        e.stmt(I.LDX | I.MEM, reg)
        e.stmt(I.LD | I.IND | I.B, k)
        e.stmt(I.ALU | I.AND | I.K, 0x0F)
        e.stmt(I.ALU | I.LSH | I.K, 2)
        e.stmt(I.ALU | I.ADD | I.X)
        e.stmt(I.MISC | I.TAX)
        return k

    def cmp(self, off: int, size: int, value: int, mask: int = 0xFFFFFFFF) -> Pred:
        if off < VAR_HDR:
            return super().cmp(off, size, value, mask)
        e = self.e
        full = {I.B: 0xFF, I.H: 0xFFFF, I.W: 0xFFFFFFFF}[size]
        self._reg(off)  # allocate now: the prologue is decided before emission

        def emit(t: int, f: int) -> None:
            self.ld(size, off)
            if mask & full != full:
                e.stmt(I.ALU | I.AND | I.K, mask)
            e.jump(I.JMP | I.JEQ | I.K, value & mask, t, f)

        return emit

    def jset(self, off: int, bits: int) -> Pred:
        """Does the byte at ``off`` have any of ``bits`` set?"""
        e = self.e
        self._reg(off)

        def emit(t: int, f: int) -> None:
            self.ld(I.B, off)
            e.jump(I.JMP | I.JSET | I.K, bits, t, f)

        return emit

    def bytes_eq(self, off: int, data: bytes) -> Pred:
        """libpcap's gen_bcmp: words from the end, then a halfword, then a byte."""
        parts = []
        n = len(data)
        while n >= 4:
            parts.append(self.cmp(off + n - 4, I.W, int.from_bytes(data[n - 4 : n], "big")))
            n -= 4
        while n >= 2:
            parts.append(self.cmp(off + n - 2, I.H, int.from_bytes(data[n - 2 : n], "big")))
            n -= 2
        if n:
            parts.append(self.cmp(off, I.B, data[0]))
        return self.p_and(*parts)

    # -- the prologue ---------------------------------------------------------------------

    def prologue(self) -> Pred | None:
        """The code computing the variable offsets, or None when nothing uses them."""
        if self.hdr_reg is None and self.pl_reg is None:
            return None
        e, lt, hdr = self.e, self.linktype, self.hdr_reg
        pl = -1 if self.pl_reg is None else self.pl_reg

        def emit(t: int, f: int) -> None:
            if lt == 117:  # pflog: the length byte, rounded up to 4
                e.stmt(I.LD | I.ABS | I.B, 0)
                e.stmt(I.ALU | I.ADD | I.K, 3)
                e.stmt(I.ALU | I.AND | I.K, 0xFFFFFFFC)
                e.stmt(I.ST, pl)
                e.goto(t)
                return
            if hdr is not None:  # radiotap: its little-endian length
                e.stmt(I.LD | I.ABS | I.B, 3)
                e.stmt(I.ALU | I.LSH | I.K, 8)
                e.stmt(I.MISC | I.TAX)
                e.stmt(I.LD | I.ABS | I.B, 2)
                e.stmt(I.ALU | I.OR | I.X)
                e.stmt(I.ST, hdr)
                e.stmt(I.MISC | I.TAX)
            if pl < 0:
                e.goto(t)
                return
            if hdr is None:
                e.stmt(I.LDX | I.IMM, 0)
            e.stmt(I.MISC | I.TXA)
            e.stmt(I.ALU | I.ADD | I.K, 24)
            e.stmt(I.ST, pl)
            e.stmt(I.LD | I.IND | I.B, 0)
            b2, qos, add, pad = e.label(), e.label(), e.label(), e.label()
            e.jump(I.JMP | I.JSET | I.K, 0x08, b2, t)
            e.place(b2)
            e.jump(I.JMP | I.JSET | I.K, 0x04, t, qos)
            e.place(qos)
            e.jump(I.JMP | I.JSET | I.K, 0x80, add, pad)
            e.place(add)
            e.stmt(I.LD | I.MEM, pl)
            e.stmt(I.ALU | I.ADD | I.K, 2)
            e.stmt(I.ST, pl)
            e.place(pad)
            if lt != 127:
                e.goto(t)
                return
            ext, tsft, no_tsft, roundup = e.label(), e.label(), e.label(), e.label()
            e.stmt(I.LD | I.ABS | I.W, 4)
            e.jump(I.JMP | I.JSET | I.K, 0x02000000, ext, t)  # flags present (LE bit 1)
            e.place(ext)
            e.jump(I.JMP | I.JSET | I.K, 0x80, t, tsft)  # another present word (LE bit 31)
            e.place(tsft)
            at16 = e.label()
            e.jump(I.JMP | I.JSET | I.K, 0x01000000, at16, no_tsft)  # TSFT present
            e.place(at16)
            e.stmt(I.LD | I.ABS | I.B, 16)
            e.jump(I.JMP | I.JSET | I.K, 0x20, roundup, t)
            e.place(no_tsft)
            e.stmt(I.LD | I.ABS | I.B, 8)
            e.jump(I.JMP | I.JSET | I.K, 0x20, roundup, t)
            e.place(roundup)
            e.stmt(I.LD | I.MEM, pl)
            e.stmt(I.ALU | I.ADD | I.K, 3)
            e.stmt(I.ALU | I.AND | I.K, 0xFFFFFFFC)
            e.stmt(I.ST, pl)
            e.goto(t)

        return emit

    # -- link-type tests (gencode.c gen_linktype) ------------------------------------------

    def wan_link_pred(self, ethertype: int, tok: Token) -> Pred:
        """Does the frame carry ``ethertype`` (an EtherType, or an LLC SAP <= 1500)?"""
        fam = self.family
        if fam == "ppp":
            return self.cmp(2, I.H, PPP_TYPES.get(ethertype, ethertype))
        if fam == "chdlc":
            return self.cmp(2, I.H, 0xFEFE if ethertype == 0xFE else ethertype)
        if fam in WLAN_FAMILIES:
            return self.p_and(self.wlan_data_frame(), self.llc_linktype(ethertype, self.off_llc))
        if fam == "sunatm":  # traffic type LLC, then the LLC header after the pseudo-header
            return self.p_and(self.cmp(0, I.B, 0x02, 0x0F), self.llc_linktype(ethertype, 4))
        if fam == "frelay":
            ids = _FR_NLPIDS.get(ethertype)
            if ids is None:
                return self.FALSE
            return self.p_or(*(self.cmp(2, I.H, 0x0300 | v) for v in ids))
        if fam == "pflog":
            af = _PFLOG_AF.get(ethertype)
            return self.FALSE if af is None else self.cmp(1, I.B, af)
        raise err("NFLOG link-layer type filtering not implemented", tok)

    # -- LLC ---------------------------------------------------------------------------------

    def llc_prim(self, mask: int | None, value: int, tok: Token) -> Pred:
        """gencode.c gen_llc and gen_llc_{i,s,u,s_subtype,u_subtype}: an LLC frame, and its
        control byte (LLC + 2) & mask == value (``llc i``: bit 0 clear)."""
        fam = self.family
        if fam == "ether":  # an 802.3 length, and not NetWare's raw 802.3 (DSAP/SSAP 0xFF)
            off_ll: int = self.off_ll  # type: ignore[attr-defined]
            e = self.e

            def length(t: int, f: int) -> None:
                e.stmt(I.LD | I.ABS | I.H, off_ll)
                e.jump(I.JMP | I.JGT | I.K, ETHERMTU, f, t)

            llc = self.off_nl  # type: ignore[attr-defined]
            base = self.p_and(length, self.p_not(self.cmp(llc, I.H, 0xFFFF)))
        elif fam == "sunatm":
            llc, base = 4, self.cmp(0, I.B, 0x02, 0x0F)
        elif fam in WLAN_FAMILIES:
            llc, base = self.off_llc, self.wlan_data_frame()
        else:
            raise err(f"'llc' not supported for link type {self.linktype}", tok)
        if mask is None:
            return base
        if mask == 0x01:  # I frames
            return self.p_and(base, self.p_not(self.jset(llc + 2, 0x01)))
        return self.p_and(base, self.cmp(llc + 2, I.B, value, mask))

    def llc_linktype(self, proto: int, llc: int) -> Pred:
        """gencode.c gen_llc_linktype: the LLC header at ``llc`` carries ``proto``."""
        if proto in _SAP_PAIRS:
            return self.cmp(llc, I.H, proto << 8 | proto)
        if proto == 0xE0:  # IPX
            return self.cmp(llc, I.B, proto)
        if proto == 0x809B:  # AppleTalk: SNAP with Apple's OUI
            return self.p_and(
                self.cmp(llc, I.W, 0xAAAA0308),
                self.cmp(llc + 4, I.H, 0x0007),
                self.cmp(llc + 6, I.H, proto),
            )
        if proto <= ETHERMTU:
            return self.cmp(llc, I.B, proto)
        return self.cmp(llc + 6, I.H, proto)

    def wlan_data_frame(self) -> Pred:
        """gen_check_802_11_data_frame: FC type bit 0x04 clear, then 0x08 set."""
        h = self.off_hdr
        return self.p_and(self.p_not(self.jset(h, 0x04)), self.jset(h, 0x08))

    # -- 802.11 addresses --------------------------------------------------------------------

    def wlan_host(self, mac: bytes, dir_: str | None, tok: Token) -> Pred:
        h = self.off_hdr
        b = self.bytes_eq
        to_ds, from_ds = self.jset(h + 1, 0x01), self.jset(h + 1, 0x02)
        data, ctl_bit = self.jset(h, 0x08), self.jset(h, 0x04)
        if dir_ in (None, "src or dst", "dst or src"):
            return self.p_or(self.wlan_host(mac, "src", tok), self.wlan_host(mac, "dst", tok))
        if dir_ in ("src and dst", "dst and src"):
            return self.p_and(self.wlan_host(mac, "src", tok), self.wlan_host(mac, "dst", tok))
        if dir_ == "src":
            from_set = self.p_or(
                self.p_and(self.p_not(to_ds), b(h + 16, mac)), self.p_and(to_ds, b(h + 24, mac))
            )
            data_sa = self.p_or(
                self.p_and(self.p_not(from_ds), b(h + 10, mac)), self.p_and(from_ds, from_set)
            )
            mgt_sa = self.p_and(self.p_not(data), b(h + 10, mac))
            return self.p_and(self.p_not(ctl_bit), self.p_or(mgt_sa, self.p_and(data, data_sa)))
        if dir_ == "dst":
            data_da = self.p_or(
                self.p_and(self.p_not(to_ds), b(h + 4, mac)), self.p_and(to_ds, b(h + 16, mac))
            )
            mgt_da = self.p_and(self.p_not(data), b(h + 4, mac))
            return self.p_and(self.p_not(ctl_bit), self.p_or(mgt_da, self.p_and(data, data_da)))
        not_ctl = self.p_not(self.cmp(h, I.B, FC0_TYPE_CTL, FC0_TYPE_MASK))
        not_cts_ack = self.p_and(
            self.p_not(self.cmp(h, I.B, FC0_SUBTYPE_CTS, FC0_SUBTYPE_MASK)),
            self.p_not(self.cmp(h, I.B, FC0_SUBTYPE_ACK, FC0_SUBTYPE_MASK)),
        )
        if dir_ == "addr1":
            return b(h + 4, mac)
        if dir_ == "addr2":
            return self.p_and(self.p_or(not_ctl, not_cts_ack), b(h + 10, mac))
        if dir_ == "addr3":
            return self.p_and(not_ctl, b(h + 16, mac))
        if dir_ == "addr4":
            return self.p_and(self.cmp(h + 1, I.B, FC1_DIR_DSTODS, FC1_DIR_MASK), b(h + 24, mac))
        if dir_ == "ra":
            return self.p_and(data, b(h + 4, mac))
        if dir_ == "ta":
            return self.p_and(data, self.p_or(not_ctl, not_cts_ack), b(h + 10, mac))
        raise err(f"'{dir_}' is not a direction", tok)

    def wlan_multicast(self) -> Pred:
        """The destination address has its group bit set (gen_multicast, 802.11)."""
        h = self.off_hdr
        to_ds, data, ctl_bit = self.jset(h + 1, 0x01), self.jset(h, 0x08), self.jset(h, 0x04)
        data_da = self.p_or(
            self.p_and(self.p_not(to_ds), self.jset(h + 4, 0x01)),
            self.p_and(to_ds, self.jset(h + 16, 0x01)),
        )
        mgt_da = self.p_and(self.p_not(data), self.jset(h + 4, 0x01))
        return self.p_and(self.p_not(ctl_bit), self.p_or(mgt_da, self.p_and(data, data_da)))

    # -- type, subtype, dir ----------------------------------------------------------------------

    def wlan_fc(self, what: str, value: int, mask: int, tok: Token) -> Pred:
        if self.family not in WLAN_FAMILIES:
            if what == "dir":
                raise err("frame direction supported only with 802.11 headers", tok)
            raise err("802.11 link-layer types supported only on 802.11", tok)
        off = self.off_hdr + (1 if what == "dir" else 0)
        e = self.e
        self._reg(off)

        def emit(t: int, f: int) -> None:  # not folded: libpcap compares value, not value & mask
            self.ld(I.B, off)
            e.stmt(I.ALU | I.AND | I.K, mask)
            e.jump(I.JMP | I.JEQ | I.K, value & 0xFFFFFFFF, t, f)

        return emit
