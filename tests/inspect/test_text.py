"""The one-line view agrees with tcpdump -n on the common protocols.

Reference: the installed tcpdump reading the same pcap (skipped without tcpdump,
failed instead when NETDIAG_REQUIRE_TOOLS=1). Where we differ on purpose (the
module docstring of ``netdiag.inspect.text`` lists why), the line is asserted
against our own documented form instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from render_samples import A4, B4, SAMPLES, T0_NS

from netdiag.cli import main
from netdiag.inspect.text import TextFormatter
from netdiag.packets import decode

REPO = Path(__file__).resolve().parents[2]
# Samples asserted separately below: an IP protocol left undecoded, a TCP header cut
# short (tcpdump prints [|tcp] without a reason), and an unknown EtherType (tcpdump
# dumps its payload).
OWN_FORM = {"unknown ip proto", "truncated tcp", "unknown ethertype"}


def _tcpdump(*args: str, check: bool = True) -> list[str]:
    if shutil.which("tcpdump") is None:
        if os.environ.get("NETDIAG_REQUIRE_TOOLS") == "1":
            pytest.fail("tcpdump is required (NETDIAG_REQUIRE_TOOLS=1) but not installed")
        pytest.skip("tcpdump not installed")
    run = subprocess.run(
        ["tcpdump", "-n", *args],
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, "TZ": "UTC"},
    )
    return run.stdout.splitlines()


def _ours(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["read", *args]) == 0
    return capsys.readouterr().out.splitlines()


def _records(lines: list[str]) -> list[list[str]]:
    """Group a packet's line with the hex lines below it."""
    out: list[list[str]] = []
    for line in lines:
        if line.startswith("\t") and out:
            out[-1].append(line)
        else:
            out.append([line])
    return out


def _strip_app(line: str) -> str:
    """tcpdump's line as is: netdiag prints the application layers tcpdump prints
    (DNS, HTTP...: inspect/apptext.py); ``OWN_FORM`` holds the other cases."""
    return line


@pytest.mark.parametrize("opts", [(), ("-e",), ("-x",), ("-xx",)], ids=["n", "e", "x", "xx"])
def test_lines_agree_with_tcpdump(
    sample_pcap: Path, capsys: pytest.CaptureFixture[str], utc: None, opts: tuple[str, ...]
) -> None:
    theirs = _records(_tcpdump(*opts, "-r", str(sample_pcap)))
    ours = _records(_ours(capsys, *opts, str(sample_pcap)))
    names = [name for name, lt, _ in SAMPLES if lt == 1]
    assert len(ours) == len(theirs) == len(names)
    for name, t, o in zip(names, theirs, ours, strict=True):
        if name in OWN_FORM:
            continue
        assert o[0] == _strip_app(t[0]), name
        assert o[1:] == t[1:], name  # hex dump lines


def test_sample_captures_agree_with_tcpdump(capsys: pytest.CaptureFixture[str], utc: None) -> None:
    """The project's sample captures: TCP/UDP/ICMP/ARP/IPv6 lines match tcpdump's."""
    files = sorted(p for p in (REPO / "captures").glob("*.pcap*") if p.is_file())
    if not files:
        pytest.skip("no sample captures in captures/")
    common = re.compile(
        r"^\S+ (IP6? .*(: Flags \[|: UDP, length|: ICMP6?[ ,])|ARP, (Request|Reply))"
    )
    # Linux cooked v2: tcpdump names the interface as the reading host knows its index;
    # we print the index. Both are dropped before comparing.
    sll2 = re.compile(r"^(\S+) (?:ifindex \d+|\S+) +(?:In|Out|B|M|P) +")
    checked = 0
    for f in files:
        # tcpdump stops at a pcapng interface of another link type: compare what it printed.
        theirs = [
            sll2.sub(r"\1 ", x)
            for x in _tcpdump("-r", str(f), check=False)
            if not x.startswith("\t")
        ]
        ours = [sll2.sub(r"\1 ", x) for x in _ours(capsys, str(f))]
        assert len(ours) >= len(theirs), f.name
        for t, o in zip(theirs, ours, strict=False):
            if common.match(t) and "[malformed" not in o:
                assert o == _strip_app(t), f.name
                checked += 1
    assert checked


def _line(name: str, fmt: TextFormatter | None = None) -> str:
    lt, frame = next((lt, f) for n, lt, f in SAMPLES if n == name)
    fmt = fmt or TextFormatter()
    return fmt.summary(decode(frame, lt), len(frame))


def test_truncated_segment_keeps_outer_layers_and_says_why() -> None:
    assert _line("truncated tcp") == (
        f"IP truncated-ip - 8 bytes missing! {A4} > {B4} "
        "[malformed: tcp: truncated: needed 20 bytes, got 12 (at byte 34)]"
    )


def test_unknown_protocol_and_ethertype_print_as_tcpdump_does_without_decoding() -> None:
    assert _line("unknown ip proto") == f"IP {A4} > {B4}:  ip-proto-253 24"
    assert _line("unknown ethertype") == (
        "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype Unknown (0x88b5), length 60"
    )


def test_unsupported_link_type_is_one_line_with_the_length() -> None:
    assert _line("unsupported link type") == "[unsupported link type 147], length 4"


def test_raw_ip_link_type() -> None:
    assert _line("raw ip") == f"IP {A4} > {B4}: ICMP echo request, id 9, seq 9, length 16"


def test_epoch_timestamps_and_microseconds() -> None:
    fmt = TextFormatter(epoch=True)
    assert fmt.timestamp(T0_NS) == "1700000000.123456"
    assert fmt.timestamp(1_999_999) == "0.001999"  # truncated, as libpcap does


def test_tcp_sequence_numbers_become_relative_after_the_handshake() -> None:
    fmt = TextFormatter()
    lines = [
        _line(n, fmt)
        for n in ("tcp syn", "tcp syn-ack", "tcp ack", "tcp data", "tcp data back", "tcp fin")
    ]
    assert ", seq 1000, win" in lines[0]  # absolute before any ACK
    assert "seq 5000, ack 1001," in lines[1]  # the first ACK-bearing segment: absolute
    assert ", ack 1, win 502" in lines[2]
    assert "seq 1:19, ack 1," in lines[3]
    assert "seq 1:101, ack 19," in lines[4]
    assert "seq 19, ack 101," in lines[5]


def test_every_sample_renders_in_every_mode(
    capsys: pytest.CaptureFixture[str], sample_pcap: Path
) -> None:
    for opts in ((), ("-e",), ("-v",), ("-v", "-e", "-xx"), ("--tt",)):
        assert main(["read", *opts, str(sample_pcap)]) == 0
        out = capsys.readouterr().out
        assert "internal error" not in out
