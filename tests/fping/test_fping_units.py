"""The pure parts of netdiag fping: -g expansion (against the stdlib's ipaddress), the
target file, the time format (fping 5.1's sprint_tm precision steps: 3 decimals below
1 ms, 2 below 10, 1 below 100, none below 10^6 ms; the lab has no netem to make fping
print such times itself), and argument errors (exit 2, one line)."""

from __future__ import annotations

import ipaddress

import pytest

from netdiag.cli import main
from netdiag.errors import UsageError
from netdiag.fping.render import fmt_ms
from netdiag.fping.targets import MAX_GENERATE, generate, read_file


@pytest.mark.parametrize("cidr", ["198.18.1.0/24", "198.18.1.77/29", "198.18.1.5/30",
                                  "198.18.1.4/31", "198.18.1.9/32", "198.18.0.0/20"])  # fmt: skip
def test_cidr_expansion_skips_network_and_broadcast_as_ipaddress_hosts(cidr):
    expected = [str(a) for a in ipaddress.ip_network(cidr, strict=False).hosts()]
    assert generate([cidr]) == expected


def test_range_expansion_is_inclusive():
    assert generate(["198.18.1.254", "198.18.2.1"]) == [
        "198.18.1.254", "198.18.1.255", "198.18.2.0", "198.18.2.1"]  # fmt: skip


def test_more_than_65536_addresses_need_force():
    with pytest.raises(UsageError, match="16777214 addresses, more than 65536: add --force"):
        generate(["10.0.0.0/8"])
    assert len(generate(["198.18.0.0/16"])) == MAX_GENERATE - 2
    with pytest.raises(UsageError, match="works only with IPv4"):
        generate(["2001:db8::/120"])


def test_target_file_skips_comments_and_blank_lines(tmp_path):
    f = tmp_path / "t"
    f.write_text("# a comment\n\n  198.18.1.2  trailing words\n198.18.1.3\n")
    assert read_file(str(f)) == ["198.18.1.2", "198.18.1.3"]
    with pytest.raises(UsageError, match="No such file"):
        read_file(str(tmp_path / "missing"))


def test_time_format_steps_as_fpings_sprint_tm():
    assert [fmt_ms(x) for x in (0.0431, 0.999, 1.234, 9.99, 12.34, 99.94, 123.4, 2e6)] == [
        "0.043", "0.999", "1.23", "9.99", "12.3", "99.9", "123", "2.000e+06"]  # fmt: skip


@pytest.mark.parametrize("argv, words", [
    (["fping", "-B", "9", "198.18.1.2"], "backoff factor 9.0 not valid"),
    (["fping", "-c", "0", "198.18.1.2"], "invalid count"),
    (["fping", "-c", "2", "-l", "198.18.1.2"], "not allowed with argument"),
    (["fping", "-g", "10.0.0.0/8"], "add --force"),
    (["fping"], "no targets"),
])  # fmt: skip
def test_bad_arguments_are_one_line_and_status_2(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
