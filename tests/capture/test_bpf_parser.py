"""The filter language's grammar: errors name the token and its column; precedence and
qualifier repetition follow pcap-filter(7).

Every expression we refuse here, tcpdump refuses too (checked with ``tcpdump -d``);
every equivalence below is what pcap-filter(7) states, checked by the verdicts
of both forms on the same packets.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netdiag.capture.bpf import FilterError, compile_filter, make_runner
from netdiag.capture.bpf.lexer import tokenize

sys.path.insert(0, str(Path(__file__).parent))
from test_bpf_oracle import generated_records  # noqa: E402

ERRORS = [
    ("tcp[", "filter: unexpected end of expression at column 5"),
    ("port 80 @", "filter: unexpected '@' at column 9"),
    ("tcp and and udp", "filter: unexpected 'and' at column 9"),
    ("tcp or 80", "filter: unexpected '80' at column 8"),
    ("(tcp or udp", "filter: unexpected end of expression at column 12"),
    ("host 1.2.3.4 or", "filter: unexpected end of expression at column 16"),
    ("not", "filter: unexpected end of expression at column 4"),
    ("ip[0] = 1 +", "filter: unexpected end of expression at column 12"),
    ("host foo.invalid", "filter: unknown host 'foo.invalid' at column 6"),
    ("ip[0:3] = 1", "filter: data size must be 1, 2, or 4, not '3' at column 6"),
    ("1 / 0 = 1", "filter: division by zero at column 3"),
    ("port 70000", "filter: illegal port number 70000 > 65535 at column 6"),
    ("net 10.1.2.3/8", 'filter: non-network bits set in "10.1.2.3" at column 5'),
    ("tcp host 1.2.3.4", "filter: 'tcp' modifier applied to host at column 10"),
    ("ip host ::1", "filter: 'ip' modifier applied to ip6 host at column 9"),
    ("port nosuchservice", "filter: unknown port 'nosuchservice' at column 6"),
    ("ip port 80", "filter: illegal qualifier of 'port': 'ip' at column 9"),
    ("vlan 5000", "filter: VLAN tag 5000 greater than maximum 4095 at column 1"),
]


@pytest.mark.parametrize(("expr", "message"), ERRORS)
def test_a_bad_expression_names_the_token_and_its_column(expr, message, require_tool):
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert str(info.value) == message
    assert info.value.exit_status == 2
    tcpdump = require_tool("tcpdump")
    ref = subprocess.run([tcpdump, "-d", "-y", "EN10MB", expr], capture_output=True, text=True)
    assert ref.returncode != 0, "tcpdump accepts it"


def test_columns_count_from_one_and_skip_spaces():
    toks = tokenize("  tcp[13]  & 2")
    assert [(t.text, t.col) for t in toks[:-1]] == [
        ("tcp", 3), ("[", 6), ("13", 7), ("]", 9), ("&", 12), ("2", 14),
    ]  # fmt: skip


def test_words_numbers_and_addresses_are_told_apart():
    kinds = [(t.kind, t.value) for t in tokenize("0x1f 010 17 tcp-syn 10.1 ::1 aa:bb:cc:dd:ee:ff")]
    assert kinds[:4] == [("num", 31), ("num", 8), ("num", 17), ("num", 2)]  # 010 is octal
    assert kinds[4] == ("ipv4", bytes([10, 1]))
    assert kinds[5] == ("ipv6", bytes(15) + b"\x01")
    assert kinds[6] == ("mac", bytes.fromhex("aabbccddeeff"))
    assert tokenize("20-21")[0].kind == "word"  # a port range, one word as in tcpdump


def test_blank_expression_accepts_everything_with_the_snapshot_length():
    assert compile_filter("   ", snaplen=96) == compile_filter("", snaplen=96)
    assert len(compile_filter("")) == 1
    assert make_runner(compile_filter("", snaplen=96))(b"", 0) == 96


EQUIVALENT = [
    # pcap-filter(7): "Alternation and concatenation have equal precedence and associate
    # left to right"; "Negation has the highest precedence".
    ("tcp or udp and port 53", "(tcp or udp) and port 53"),
    ("not tcp and udp", "(not tcp) and udp"),
    ("! tcp || ip6 && udp", "((not tcp) or ip6) and udp"),
    # "If an identifier is given without a keyword, the most recent keyword is assumed."
    ("host 192.0.2.10 or 198.51.100.53", "host 192.0.2.10 or host 198.51.100.53"),
    ("tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"),
    ("host 192.0.2.10 and not 198.51.100.80", "host 192.0.2.10 and not host 198.51.100.80"),
    ("src or dst port 53", "src port 53 or dst port 53"),
    ("src and dst port 53", "src port 53 and dst port 53"),
    ("host 192.0.2.10", "src host 192.0.2.10 or dst host 192.0.2.10"),
    ("tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0"),
    ("icmp[icmptype] = icmp-echo", "icmp[0] = 8"),
    ("less 100", "len <= 100"),
    ("greater 100", "len >= 100"),
    ("ether broadcast", "ether dst ff:ff:ff:ff:ff:ff"),
    ("net 192.0.2.0/24", "net 192.0.2.0 mask 255.255.255.0"),
]


@pytest.mark.parametrize(("short", "explicit"), EQUIVALENT)
def test_precedence_and_repeated_qualifiers_follow_pcap_filter(short, explicit):
    frames = generated_records()[1]
    a, b = make_runner(compile_filter(short)), make_runner(compile_filter(explicit))
    verdicts = [(bool(a(f, w)), bool(b(f, w))) for f, w in frames]
    assert all(x == y for x, y in verdicts)
    assert any(x for x, _ in verdicts) and not all(x for x, _ in verdicts)  # not vacuous
