"""``netdiag read`` with tcpdump's options: -t...-ttttt, -q, -A, -X/-XX, -F; bad input.

The reference is tcpdump's text for the same file with ``TZ=UTC``. Where our
line and tcpdump's differ on purpose (application layers, malformed packets:
see ``text.py``), only the part the option changes is compared: the timestamp
prefix, the dump after the line, or, for -q, the lines whose full form agrees.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from netdiag.capture.files import open_writer
from netdiag.cli import main

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = ROOT / "captures"
UTC_ENV = {**os.environ, "TZ": "UTC"}
FILES = ["tcp-handshake.pcap", "nanosecond.pcap", "udp-dns.pcap", "mixed.pcapng", "vlan.pcap"]


def _tcpdump(*args: str) -> list[str]:
    out = subprocess.run(
        ["tcpdump", "-n", *args], capture_output=True, text=True, env=UTC_ENV, check=True
    ).stdout
    return out.splitlines()


def _ours(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["read", *args]) == 0
    return capsys.readouterr().out.splitlines()


@pytest.fixture
def jumps(tmp_path: Path) -> Path:
    """Deltas of a day and more, negative ones, and a timestamp near the epoch."""
    path = tmp_path / "jumps.pcap"
    t = 1_700_000_000 * 10**9
    stamps = [t, t + 500_000_000, t + 200_000 * 10**9 + 1000, t + 100_000 * 10**9]
    stamps += [t + 103_599_999_999_000, 5 * 10**9]
    frame = bytes.fromhex("020000000002020000000001080045000014000100004001f7c6c0000201c0000202")
    with open_writer(path, 1) as w:
        for ts in stamps:
            w.write(frame, ts)
    return path


@pytest.mark.parametrize("style", ["-t", "-tt", "-ttt", "-tttt", "-ttttt", None])
def test_timestamps_have_tcpdumps_shape(
    style: str | None, jumps: Path, capsys: pytest.CaptureFixture[str], utc: None, require_tool
) -> None:
    require_tool("tcpdump")
    for f in [*(CAPTURES / n for n in FILES), jumps]:
        opt = [style] if style else []
        theirs, bare_theirs = _tcpdump(*opt, "-r", str(f)), _tcpdump("-t", "-r", str(f))
        ours, bare_ours = _ours(capsys, *opt, str(f)), _ours(capsys, "-t", str(f))
        assert len(ours) == len(theirs) == len(bare_ours)
        prefix_theirs = [a[: len(a) - len(b)] for a, b in zip(theirs, bare_theirs, strict=True)]
        prefix_ours = [a[: len(a) - len(b)] for a, b in zip(ours, bare_ours, strict=True)]
        assert prefix_ours == prefix_theirs, f.name


def test_tt_long_form_is_still_epoch_seconds(capsys: pytest.CaptureFixture[str], utc: None) -> None:
    f = str(CAPTURES / "tcp-handshake.pcap")
    assert _ours(capsys, "--tt", f) == _ours(capsys, "-tt", f)


def test_q_prints_tcp_as_tcpdump_q(
    capsys: pytest.CaptureFixture[str], utc: None, require_tool
) -> None:
    require_tool("tcpdump")
    compared = tcp = 0
    for path in sorted(CAPTURES.glob("*.pcap*")):
        f = str(path)
        try:
            full_theirs = _tcpdump("-r", f)
        except subprocess.CalledProcessError:
            continue  # tcpdump cannot read pcapng with several link types
        full_ours = _ours(capsys, f)
        q_theirs, q_ours = _tcpdump("-q", "-r", f), _ours(capsys, "-q", f)
        if len(full_theirs) != len(full_ours):
            continue
        for a, b, qa, qb in zip(full_theirs, full_ours, q_theirs, q_ours, strict=True):
            if a == b:  # where the full lines agree, the quick ones must too
                assert qb == qa, path.name
                compared += 1
                tcp += ": tcp " in qa
    assert compared > 40 and tcp > 5


def _dumps(lines: list[str]) -> list[list[str]]:
    """The hex dump lines following each packet line."""
    out: list[list[str]] = []
    for line in lines:
        if line.startswith("\t0x"):
            out[-1].append(line)
        else:
            out.append([])
    return out


@pytest.mark.parametrize("opt", ["-X", "-XX", "-x", "-xx"])
def test_hex_dumps_equal_tcpdumps(
    opt: str, capsys: pytest.CaptureFixture[str], utc: None, require_tool
) -> None:
    require_tool("tcpdump")
    for name in [*FILES, "sll2.pcap", "arp.pcap", "ipv6-ext.pcap", "rawip.pcap"]:
        f = str(CAPTURES / name)
        assert _dumps(_ours(capsys, opt, f)) == _dumps(_tcpdump(opt, "-r", f)), name


def _ascii_parts(text: str, heads: list[str]) -> list[str]:
    """Split -A output into each packet's text, knowing each packet's line (``heads``)."""
    parts, pos = [], 0
    for i, head in enumerate(heads):
        assert text.startswith(head + "\n", pos)
        pos += len(head) + 1
        nxt = text.find("\n" + heads[i + 1] + "\n", pos) if i + 1 < len(heads) else len(text) - 1
        parts.append(text[pos:nxt])
        pos = nxt + 1
    return parts


def test_ascii_dump_equals_tcpdumps(
    capsys: pytest.CaptureFixture[str], utc: None, require_tool
) -> None:
    require_tool("tcpdump")
    for name in ["tcp-handshake.pcap", "udp-dns.pcap", "icmp-echo.pcap", "mixed.pcapng"]:
        f = str(CAPTURES / name)
        theirs = subprocess.run(
            ["tcpdump", "-n", "-A", "-r", f], capture_output=True, text=True, env=UTC_ENV
        ).stdout
        assert main(["read", "-A", f]) == 0
        ours = capsys.readouterr().out
        heads_theirs = _tcpdump("-r", f)
        heads_ours = _ours(capsys, f)
        assert _ascii_parts(ours, heads_ours) == _ascii_parts(theirs, heads_theirs), name


def test_F_reads_the_expression_from_a_file_without_its_comments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], utc: None, require_tool
) -> None:
    require_tool("tcpdump")
    expr = tmp_path / "filter.txt"
    expr.write_text("# web traffic\ntcp and\n  port 80   # the usual port\n")
    f = str(CAPTURES / "mixed.pcapng")
    ours = _ours(capsys, "-t", "-F", str(expr), f)
    assert ours == _ours(capsys, "-t", f, "tcp and port 80")
    assert len(ours) == len(_tcpdump("-t", "-F", str(expr), "-r", f)) > 0


def test_several_files_print_merged_in_time_order(
    capsys: pytest.CaptureFixture[str], utc: None, require_tool, tmp_path: Path
) -> None:
    require_tool("mergecap")
    names = [str(CAPTURES / n) for n in ("tcp-handshake.pcap", "udp-dns.pcap", "icmp-echo.pcap")]
    merged = tmp_path / "m.pcap"
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(merged), *names], check=True)
    assert _ours(capsys, "-tt", *names, "ip") == _ours(capsys, "-tt", str(merged), "ip")
    assert _ours(capsys, "-tt", "-r", names[0], "-r", names[1]) == _ours(
        capsys, "-tt", names[0], names[1]
    )


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], status: int = 2) -> str:
    assert main(argv) == status
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("netdiag: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["read", "-F", "/nonexistent/filter", "CAP"], "No such file"),
        (["read", "-F", "EXPRFILE", "CAP", "tcp"], "not both"),
        (["read", "--since", "yesterday", "CAP"], "not a time"),
        (["read", "--until", "2023-13-45T00:00:00", "CAP"], "not a time"),
        (["read", "-w", "/nonexistent/dir/out.pcap", "CAP"], "No such file"),
        (["read", "-w", "/proc/version", "CAP"], ""),
        (["read", "-w", "TMP/out.pcap", str(CAPTURES / "two-interfaces.pcapng")], "link types"),
        (["read", "CAP", "/nonexistent/b.pcap"], "No such file"),
        (["read", "-", "-"], "only once"),
        (["read", "-w", "TMP/in.pcap", "TMP/in.pcap"], "also an input"),
        (["read"], "give a capture file"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    argv: list[str], words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exprfile = tmp_path / "f.txt"
    exprfile.write_text("tcp")
    (tmp_path / "in.pcap").write_bytes((CAPTURES / "arp.pcap").read_bytes())
    cap = str(CAPTURES / "tcp-handshake.pcap")
    argv = [
        a.replace("EXPRFILE", str(exprfile)).replace("TMP", str(tmp_path)) if a != "CAP" else cap
        for a in argv
    ]
    assert words in _one_line_error(capsys, argv)
    assert (tmp_path / "in.pcap").read_bytes() == (CAPTURES / "arp.pcap").read_bytes()


def test_a_time_without_a_zone_is_local_time_as_editcap_reads_it(
    tokyo: object, tmp_path: Path, require_tool
) -> None:
    require_tool("editcap")
    from netdiag.capture.files import read_capture

    src = str(CAPTURES / "mixed.pcapng")
    ours, theirs = tmp_path / "ours.pcapng", tmp_path / "theirs.pcapng"
    since, until = "2023-11-15 07:13:21.5", "2023-11-15 07:13:29"
    assert main(["read", "-w", str(ours), "--since", since, "--until", until, src]) == 0
    env = {**os.environ, "TZ": "JST-9"}
    subprocess.run(["editcap", "-A", since, "-B", until, src, str(theirs)], check=True, env=env)
    with read_capture(ours) as a, read_capture(theirs) as b:
        got, want = [(r.ts_ns, r.data) for r in a], [(r.ts_ns, r.data) for r in b]
    assert got == want and 0 < len(got) < 46


def test_time_forms_name_the_same_instant() -> None:
    from netdiag.inspect.readcli import parse_time

    ns = 1_700_000_000_123_456_789
    assert parse_time("1700000000.123456789") == ns
    assert parse_time("2023-11-14T22:13:20.123456789Z") == ns
    assert parse_time("2023-11-15T07:13:20.123456789+09:00") == ns
    assert parse_time("2023-11-14 21:13:20,123456789-01:00") == ns
    assert parse_time("1700000000") == ns - 123_456_789
