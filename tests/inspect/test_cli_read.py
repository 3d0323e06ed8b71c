"""``netdiag read``: output modes, exit statuses and errors, crash-freedom over the corpus.

Most tests call ``netdiag.cli.main`` in-process; two run ``python -m netdiag``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from netdiag.capture.files import open_writer
from netdiag.cli import main
from netdiag.packets import ethernet, icmp, ipv4, tcp, udp

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000_000_000


def _frames() -> list[bytes]:
    a, b = "192.0.2.1", "192.0.2.2"

    def eth(p: bytes) -> bytes:
        return ethernet.build("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, p)

    return [
        eth(ipv4.build(a, b, 1, icmp.build_echo(1, 1, b"x" * 56))),
        eth(ipv4.build(b, a, 1, icmp.build_echo(1, 1, b"x" * 56, reply=True))),
        eth(ipv4.build(a, b, 17, udp.build(1000, 2000, b"hello", src=a, dst=b))),
        eth(ipv4.build(a, b, 6, tcp.build(3000, 80, seq=5, flags=tcp.SYN, src=a, dst=b))),
        eth(ipv4.build(a, b, 6, tcp.build(3000, 80, src=a, dst=b)))[:40],  # truncated
    ]


def _write(path: Path, frames: list[bytes]) -> Path:
    with open_writer(path, 1) as w:
        for i, f in enumerate(frames):
            w.write(f, T0 + i * 1_000_000)
    return path


@pytest.fixture
def cap(tmp_path: Path) -> Path:
    return _write(tmp_path / "small.pcap", _frames())


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], list[str]]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err.splitlines()


def _one_line_error(err: list[str]) -> str:
    assert len(err) == 1, err
    assert err[0].startswith("netdiag: ")
    assert "Traceback" not in err[0]
    return err[0]


# -- output modes -------------------------------------------------------------------------


def test_default_prints_one_line_per_packet_and_marks_the_malformed_one(
    capsys: pytest.CaptureFixture[str], cap: Path
) -> None:
    rc, out, err = _run(capsys, "read", str(cap))
    assert rc == 0 and err == []
    assert len(out) == 5
    assert out[0].endswith("IP 192.0.2.1 > 192.0.2.2: ICMP echo request, id 1, seq 1, length 64")
    assert out[2].endswith("IP 192.0.2.1.1000 > 192.0.2.2.2000: UDP, length 5")
    assert "Flags [S], seq 5, win 64240, length 0" in out[3]
    assert out[4].endswith("[malformed: tcp: truncated: needed 20 bytes, got 6 (at byte 34)]")


def test_count_link_header_and_epoch_time(capsys: pytest.CaptureFixture[str], cap: Path) -> None:
    rc, out, _ = _run(capsys, "read", "-c", "2", "-e", "--tt", str(cap))
    assert rc == 0 and len(out) == 2
    assert out[0].startswith(
        "1700000000.000000 02:00:00:00:00:01 > 02:00:00:00:00:02, "
        "ethertype IPv4 (0x0800), length 98: 192.0.2.1 > 192.0.2.2: ICMP"
    )
    assert out[1].startswith("1700000000.001000 ")


def test_verbose_and_hex_follow_each_line(capsys: pytest.CaptureFixture[str], cap: Path) -> None:
    rc, out, _ = _run(capsys, "read", "-v", "-x", "-c", "1", str(cap))
    assert rc == 0
    assert out[1].startswith("    ethernet: ")
    assert out[2].startswith("    ipv4: ") and out[3].startswith("    icmp: ")
    assert out[4] == "\t0x0000:  4500 0054 0000 0000 4001 f6a5 c000 0201"
    rc, out, _ = _run(capsys, "read", "-xx", "-c", "1", str(cap))
    assert out[1] == "\t0x0000:  0200 0000 0002 0200 0000 0001 0800 4500"


def test_json_lines(capsys: pytest.CaptureFixture[str], cap: Path) -> None:
    rc, out, _ = _run(capsys, "read", "--json", str(cap))
    assert rc == 0
    objs = [json.loads(x) for x in out]
    assert [o["n"] for o in objs] == [1, 2, 3, 4, 5]
    assert objs[0]["ts"] == 1700000000.0 and objs[0]["len"] == objs[0]["caplen"] == 98
    assert [x["layer"] for x in objs[2]["layers"]] == ["ethernet", "ipv4", "udp"]
    assert "error" not in objs[0] and objs[4]["error"].startswith("tcp: truncated")


def test_stats_tables_and_json(capsys: pytest.CaptureFixture[str], cap: Path) -> None:
    rc, out, _ = _run(capsys, "read", "--stats", str(cap))
    text = "\n".join(out)
    assert rc == 0
    assert "Protocol hierarchy" in text and "IP conversations (top by bytes)" in text
    assert "192.0.2.1" in text and "Malformed packets" in text
    rc, out, _ = _run(capsys, "read", "--stats", "--json", str(cap))
    assert len(out) == 1
    d = json.loads(out[0])
    assert d["packets"] == 5 and d["malformed"] == 1
    assert d["conversations"][0]["a"] == "192.0.2.1" and d["conversations"][0]["packets"] == 5


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [None, b"", b"not a capture file at all, just text\n"],
    ids=["missing", "empty", "text"],
)
def test_missing_or_foreign_file_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "input.pcap"
    if content is not None:
        path.write_bytes(content)
    rc, out, err = _run(capsys, "read", str(path))
    assert rc == 2 and out == []
    assert "input.pcap" in _one_line_error(err)


def test_directory_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rc, _, err = _run(capsys, "read", str(tmp_path))
    assert rc == 2
    _one_line_error(err)


@pytest.mark.parametrize("stats", [False, True])
def test_damaged_file_prints_what_was_read_then_one_line_and_status_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stats: bool
) -> None:
    path = _write(tmp_path / "damaged.pcap", _frames()[:3])
    path.write_bytes(path.read_bytes()[:-20])  # the third record breaks off
    rc, out, err = _run(capsys, "read", *(["--stats", "--json"] if stats else []), str(path))
    assert rc == 1
    assert "damaged" in _one_line_error(err)
    if stats:
        assert json.loads(out[0])["packets"] == 2
    else:
        assert len(out) == 2 and "echo reply" in out[1]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["read"],
        ["read", "-c", "0", "x"],
        ["read", "-c", "many", "x"],
        ["read", "--bogus", "x"],
    ],
    ids=["none", "unknown-command", "no-file", "count-0", "count-word", "unknown-option"],
)
def test_bad_arguments_are_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == []
    _one_line_error(err)


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "read", "--help")
    assert rc == 0 and any("FILE" in x for x in out)


# -- as a program -------------------------------------------------------------------------


def _python_m(*args: str, **kw: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "netdiag", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )  # type: ignore[call-overload]


def test_python_m_netdiag_reads_a_capture(cap: Path) -> None:
    proc = _python_m("read", str(cap))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b""
    assert len(out.splitlines()) == 5


def test_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    """Like ``netdiag read big.pcap | head -1``: no BrokenPipeError message."""
    big = _write(tmp_path / "big.pcap", _frames()[:1] * 50_000)
    proc = _python_m("read", str(big))
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b""


# -- crash-freedom over the corpus ---------------------------------------------------------


@pytest.fixture
def corpus_captures(require_corpus: Callable[[str], Path]) -> list[Path]:
    """The corpus's captures, or skip (fail if NETDIAG_REQUIRE_CORPUS=1, see conftest)."""
    corpus = require_corpus("tcpdump-tests")
    files = sorted(p for p in corpus.glob("*") if p.suffix in (".pcap", ".pcapng"))
    assert files, f"no .pcap or .pcapng file in {corpus}"
    return files


@pytest.mark.parametrize("mode", [[], ["-v"], ["--json"]], ids=["line", "tree", "json"])
def test_every_corpus_file_reads_without_an_unexpected_exception(
    capsys: pytest.CaptureFixture[str], corpus_captures: list[Path], mode: list[str]
) -> None:
    for path in corpus_captures:
        rc = main(["read", *mode, str(path)])
        out, err = capsys.readouterr()
        assert rc in (0, 1), (path.name, rc, err)
        if rc == 1:
            _one_line_error(err.splitlines())
        else:
            assert err == "", (path.name, err)
        assert "internal error" not in err, path.name
        if mode == ["--json"]:
            for line in out.splitlines():
                json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
