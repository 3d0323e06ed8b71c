"""Selecting the records of capture files in place: filter and time bounds before any copy.

``Source(path, index)`` opens one capture file (pcap or pcapng, by content, as
``read_capture`` does) and ``Source.items(...)`` yields the records that pass a
time window ``[since, until)`` and a filter, as tuples::

    (ts_ns, source index, Record | None, raw bytes | None, byte order | None, number)

The filter is a classic BPF program per link type (``keep(linktype)``). It runs
on the reader's chunk where the records lie: ``pyjit.inline_source`` turns it
into the body of a loop generated here over every complete record of the chunk
(one call per chunk, no call per packet), so a rejected record costs one header
unpack and the filter's tests, and no slice and no ``Record``: only the selected
ones are copied out. Records the loop cannot take (a chunk's last, cut record; a
pcapng block that is not an EPB; interfaces of several link types) go through
the readers' logic and ``pyjit.compile_scanner``.

With ``raw=True`` each item also carries the record's bytes as the
file holds them (pcap: record header and data; pcapng: the whole block) and, for
pcapng, the byte order of its section, so a writer can copy them unchanged. With
``blocks=True`` (pcapng) the blocks that are not packets (interfaces, name
resolution, statistics, further section headers) are yielded in file order too,
as ``(None, index, None, raw, order, 0)``. ``number`` counts the file's records
from 1, selected or not (tshark's frame number).

``heapq.merge`` over several sources' items, keyed on ``(timestamp, -index)``,
is a merge in time order as mergecap does it: at equal timestamps the later
file's record comes first (wiretap's merge takes the last of the earliest).

The loops are the readers' own (``pcap.PcapReader.records`` and the EPB fast
path of ``pcapng.PcapNgReader.records``), restated here with the filter inside:
this module drives those readers' parsers and buffers, and raises the same
``DamagedCaptureError`` at the same place. Hot path (STYLE habit 9): one
``unpack_from`` and the filter's own tests per rejected record.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator

from netdiag.capture.bpf.insn import BpfInsn
from netdiag.capture.files import read_capture
from netdiag.capture.pcapng import _S as _NG_STRUCTS  # the reader's own structs
from netdiag.capture.pcapng import EPB_TYPE, IDB_TYPE, SHB_TYPE
from netdiag.capture.record import MAX_RECORD, Record
from netdiag.errors import DamagedCaptureError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, BinaryIO

    Program = Sequence[BpfInsn]
    Item = tuple[int | None, int, Record | None, bytes | None, str | None, int]

__all__ = ["Source", "NO_LIMIT"]

NO_LIMIT = 1 << 96  # "until" without a bound: after every timestamp a file can hold
_REC = {"<": struct.Struct("<IIII"), ">": struct.Struct(">IIII")}
_HDR = {"<": struct.Struct("<II"), ">": struct.Struct(">II")}


class Source:
    """One opened capture file. ``head`` is what precedes the first record as the file
    has it (pcap: the 24-byte file header; pcapng: the section header and the interface
    blocks before the first packet; None if that is more than the first read chunk);
    ``idbs[i]`` is ``(byte order, block)`` of the file's interface ``i`` (pcapng),
    filled in as the blocks are met (None: not kept)."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, index: int = 0) -> None:
        self.reader = read_capture(source)
        self.index = index
        self.name = self.reader.name
        self.format = self.reader.format
        # the reader's parser (PcapReader or PcapNgReader), driven here: see the module
        self._parser: Any = self.reader._parser
        p = self._parser
        inp = p._inp
        # None: the header blocks outgrew the first chunk (a verbatim copy is refused)
        self.head: bytes | None = bytes(inp.buf[: inp.pos]) if inp.base == 0 else None
        self.idbs: list[tuple[str, bytes] | None] = []
        if self.format == "pcapng":
            if self.head is None:
                self.idbs = [None] * len(p.linktypes)
            else:
                self._split_head()

    def _split_head(self) -> None:
        order, pos, head = "<", 0, self.head or b""
        while pos + 12 <= len(head):
            btype = int.from_bytes(head[pos : pos + 4], "little")
            if btype == SHB_TYPE:
                order = "<" if head[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = _HDR[order].unpack_from(head, pos)
            if btype == IDB_TYPE:
                self.idbs.append((order, head[pos : pos + blen]))
            pos += blen

    @property
    def linktypes(self) -> list[int]:
        return self.reader.linktypes

    @property
    def snaplen(self) -> int:
        return self.reader.snaplen

    @property
    def nanosecond(self) -> bool:
        """Timestamps finer than microseconds (pcap magic, or an interface's if_tsresol)."""
        p = self._parser
        if self.format == "pcap":
            return bool(p.nanosecond)
        return any(i.mul < 1000 or i.div > 1 for i in p._ifaces)

    def close(self) -> None:
        self.reader.close()

    def items(
        self,
        keep: Callable[[int], Program | None] | None = None,
        since: int = 0,
        until: int = NO_LIMIT,
        *,
        raw: bool = False,
        blocks: bool = False,
        batch: bool = False,
    ) -> Iterator[Item]:
        """The records with ``since <= ts_ns < until`` that the BPF program
        ``keep(linktype)`` accepts (``keep`` None, or returning None: no filter).

        ``batch=True`` (for a verbatim copy, with ``raw`` and ``blocks``): the records
        the generated loop selects in a chunk come as one item ``(None, index, None,
        their bytes, order, how many)``, the bytes ready to write."""
        if self.format == "pcap":
            return self._pcap(keep, since, until, raw, batch)
        return self._pcapng(keep, since, until, raw, blocks, batch)

    def _pcap(
        self,
        keep: Callable[[int], Program | None] | None,
        lo: int,
        hi: int,
        raw: bool,
        batch: bool,
    ) -> Iterator[Item]:
        p = self._parser
        inp = p._inp
        name = inp.name
        unpack = _REC[p._order].unpack_from
        hl = p._rec_len
        linktype = p.linktypes[0]
        mul = 1 if p.nanosecond else 1000
        program = keep(linktype) if keep is not None else None
        scan = _compile_scanner(program) if program is not None else None
        bounded = lo > 0 or hi < NO_LIMIT
        chunk = _loop("pcap", program, bounded, batch) if scan or bounded or batch else None
        fields = "IIII" if bounded else "8xII" if program is not None else "8xI"
        head = struct.Struct(p._order + fields).unpack_from
        idx = self.index
        buf, pos, size = inp.buf, inp.pos, len(inp.buf)
        n = 0
        while True:
            if chunk is not None:  # every complete record in the buffer, in one call
                sel: list[Any] = []  # (position, number); with batch, record bytes
                pos, n = chunk(buf, pos, size, hl, head, sel, n, lo, hi, mul)
                if batch:
                    if sel:
                        yield (None, idx, None, b"".join(sel), None, len(sel))
                    sel = []
                for p0, number in sel:
                    sec, frac, caplen, wirelen = unpack(buf, p0)
                    stop = p0 + hl + caplen
                    rec = Record(
                        sec * 1_000_000_000 + frac * mul, buf[p0 + hl : stop], linktype, wirelen
                    )
                    yield (rec.ts_ns, idx, rec, buf[p0:stop] if raw else None, None, number)
            # one record the loop left: past the buffer's end (refill), or impossible
            if pos + hl > size:
                inp.pos = pos
                avail = inp.ensure(hl)
                buf, pos, size = inp.buf, inp.pos, len(inp.buf)
                if avail < hl:
                    if avail == 0:
                        return
                    raise DamagedCaptureError(
                        name, inp.offset, n, f"truncated record header ({avail} of {hl} bytes)"
                    )
            sec, frac, caplen, wirelen = unpack(buf, pos)
            if caplen > MAX_RECORD:
                inp.pos = pos
                raise DamagedCaptureError(
                    name, inp.offset, n, f"impossible captured length {caplen}"
                )
            start = pos + hl
            stop = start + caplen
            if stop > size:
                inp.pos = pos
                avail = inp.ensure(hl + caplen) - hl
                buf, pos, size = inp.buf, inp.pos, len(inp.buf)
                if avail < caplen:
                    raise DamagedCaptureError(
                        name, inp.offset, n, f"truncated record data ({avail} of {caplen} bytes)"
                    )
                start = pos + hl
                stop = start + caplen
            ts = sec * 1_000_000_000 + frac * mul
            n += 1
            if lo <= ts < hi and (scan is None or scan(buf, start, caplen, wirelen)):
                rec = Record(ts, buf[start:stop], linktype, wirelen)
                yield (ts, idx, rec, buf[pos:stop] if raw else None, None, n)
            pos = stop

    def _pcapng(
        self,
        keep: Callable[[int], Program | None] | None,
        lo: int,
        hi: int,
        raw: bool,
        blocks: bool,
        batch: bool,
    ) -> Iterator[Item]:
        p = self._parser
        inp = p._inp
        idx = self.index
        bounded = lo > 0 or hi < NO_LIMIT
        while True:
            # the EPB fast path of PcapNgReader.records, with the filter inside: one
            # generated loop when the section's interfaces share a link type
            order = p._order
            s = _NG_STRUCTS[order]
            hdr, epb, u32 = s["hdr"].unpack_from, s["epb"].unpack_from, s["u32"].unpack_from
            ifaces = p._ifaces
            nif = len(ifaces)
            programs = [keep(i.linktype) if keep is not None else None for i in ifaces]
            scans = [_compile_scanner(prog) if prog is not None else None for prog in programs]
            buf, pos, size = inp.buf, inp.pos, len(inp.buf)
            n = p._n
            if nif and len({i.linktype for i in ifaces}) == 1 and (scans[0] or bounded or batch):
                chunk = _loop("pcapng", programs[0], bounded, batch)
                muls = [i.mul for i in ifaces]
                divs = [i.div for i in ifaces]
                offs = [i.offset_ns for i in ifaces]
                sel: list[Any] = []  # (position, number); with batch, record bytes
                pos, n = chunk(buf, pos, size, (hdr, epb, u32), sel, n, lo, hi, (muls, divs, offs))
                if batch:
                    if sel:
                        p._n, inp.pos = n, pos
                        yield (None, idx, None, b"".join(sel), order, len(sel))
                    sel = []
                for p0, number in sel:
                    _t, blen = hdr(buf, p0)
                    ifn, hi32, lo32, caplen, wirelen = epb(buf, p0 + 8)
                    i = ifaces[ifn]
                    ts = ((hi32 << 32) | lo32) * i.mul // i.div + i.offset_ns
                    rec = Record(ts, buf[p0 + 28 : p0 + 28 + caplen], i.linktype, wirelen, i.number)
                    p._n, inp.pos = number, p0 + blen
                    yield (ts, idx, rec, buf[p0 : p0 + blen] if raw else None, order, number)
            while pos + 32 <= size:
                btype, blen = hdr(buf, pos)
                end = pos + blen
                if btype != EPB_TYPE or end > size or blen & 3 or blen < 32:
                    break
                ifn, hi32, lo32, caplen, wirelen = epb(buf, pos + 8)
                if ifn >= nif or 32 + caplen > blen or u32(buf, end - 4)[0] != blen:
                    break
                i = ifaces[ifn]
                ts = ((hi32 << 32) | lo32) * i.mul // i.div + i.offset_ns
                scan = scans[ifn]
                n += 1
                if lo <= ts < hi and (scan is None or scan(buf, pos + 28, caplen, wirelen)):
                    rec = Record(
                        ts, buf[pos + 28 : pos + 28 + caplen], i.linktype, wirelen, i.number
                    )
                    p._n, inp.pos = n, end
                    yield (ts, idx, rec, buf[pos:end] if raw else None, order, n)
                pos = end
            inp.pos = pos
            p._n = n
            # anything else: the reader's own block parser, then the block's bytes
            start = inp.offset
            btype = None
            if inp.ensure(8) >= 8:
                btype = int(_NG_STRUCTS[p._order]["u32"].unpack_from(inp.buf, inp.pos)[0])
            try:
                rec2 = p._block()
            except EOFError:
                return
            blen = inp.offset - start
            block = inp.buf[inp.pos - blen : inp.pos]
            if btype == IDB_TYPE:
                self.idbs.append((p._order, block))
            if rec2 is None:
                if blocks:
                    yield (None, idx, None, block, p._order, 0)
                continue
            ts = rec2.ts_ns
            prog = keep(rec2.linktype) if keep is not None else None
            scan = _compile_scanner(prog) if prog is not None else None
            if lo <= ts < hi and (scan is None or scan(rec2.data, 0, rec2.caplen, rec2.wirelen)):
                yield (ts, idx, rec2, block if raw else None, p._order, p._n)


# -- the generated loops: every complete record of a buffer, the filter inlined ----------

# A record the loop leaves (past the buffer, or an impossible length, which is always
# past a buffer: chunks are far smaller than MAX_RECORD) goes to the slow path.
_PCAP_LOOP = """
def _chunk(b, pos, size, hl, rec, sel, k, lo, hi, mul):
    while pos + hl <= size:
        FIELDS = rec(b, pos)
        o = pos + hl
        if o + n > size: break
        p0 = pos
        pos = o + n
        k += 1
"""
_PCAP_BOUNDS = """
        t_ = s_ * 1000000000 + f_ * mul
        if t_ < lo or t_ >= hi: continue
"""
_PCAPNG_LOOP = """
def _chunk(b, pos, size, structs, sel, k, lo, hi, units):
    hdr, epb, u32 = structs
    muls, divs, offs = units
    nif = len(muls)
    while pos + 32 <= size:
        t_, blen = hdr(b, pos)
        end = pos + blen
        if t_ != 6 or end > size or blen & 3 or blen < 32: break
        i_, h_, l_, n, w = epb(b, pos + 8)
        if i_ >= nif or 32 + n > blen or u32(b, end - 4)[0] != blen: break
        p0 = pos
        pos = end
        k += 1
        o = p0 + 28
"""
_PCAPNG_BOUNDS = """
        t_ = ((h_ << 32) | l_) * muls[i_] // divs[i_] + offs[i_]
        if t_ < lo or t_ >= hi: continue
"""
_ACCEPT = "sel.append((p0, k))"
_ACCEPT_BYTES = "sel.append(b[p0:pos])"  # batch: the record's bytes (pos is its end)


def _loop(
    kind: str, program: Program | None, bounded: bool, batch: bool = False
) -> Callable[..., tuple[int, int]]:
    prog = tuple(BpfInsn(*i) for i in program) if program is not None else None
    key = (kind, prog, bounded, batch)
    fn = _LOOPS.get(key)
    if fn is None:
        if len(_LOOPS) > 64:
            _LOOPS.clear()
        fn = _LOOPS[key] = _build_loop(kind, prog, bounded, batch)
    return fn


_LOOPS: dict[tuple[object, ...], Callable[..., tuple[int, int]]] = {}


def _compile_scanner(program: Program) -> Callable[[bytes, int, int, int], int]:
    from netdiag.capture.bpf.pyjit import compile_scanner  # loaded with a filter only

    return compile_scanner(program)


def _build_loop(
    kind: str, program: tuple[BpfInsn, ...] | None, bounded: bool, batch: bool
) -> Callable[..., tuple[int, int]]:
    head = _PCAP_LOOP if kind == "pcap" else _PCAPNG_LOOP
    # unpack what the loop uses: the times for bounds, the wire length for a program
    fields = "s_, f_, n, w" if bounded else "n, w" if program is not None else "(n,)"
    head = head.replace("FIELDS", fields)
    if bounded:
        head += (_PCAP_BOUNDS if kind == "pcap" else _PCAPNG_BOUNDS).strip("\n") + "\n"
    accept = _ACCEPT_BYTES if batch else _ACCEPT
    from netdiag.capture.bpf.pyjit import LOOP_GLOBALS, inline_source  # with a filter only

    if program is None:
        funcs, body = "", [f"        {accept}"]
    else:
        funcs, body = inline_source(program, accept=accept, depth=2)
    src = funcs + "\n" + head.strip("\n") + "\n"
    src += "\n".join(body) + "\n    return pos, k\n"
    namespace: dict[str, object] = {**LOOP_GLOBALS, "__builtins__": {"len": len}}
    exec(compile(src, f"<bpf-pyjit {kind} loop>", "exec"), namespace)  # noqa: S102 - generated
    return namespace["_chunk"]  # type: ignore[return-value]
