"""netdiag fping's other modes, side by side with fping 5.1 in the lab (fpinglab.py):
IPv6, -l with -Q (ended by SIGINT, as a user ends it), -D, -f, -g START END, --json,
and a user without privileges (ICMP datagram sockets, ping_group_range admits all in
the lab's namespaces; fping has cap_net_raw here)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import pytest
from fpinglab import SUMMARY, TIMEOUT, both, ours, parse

pytestmark = pytest.mark.root


def test_ipv6_targets_as_fping(half, require_tool):
    require_tool("fping")
    names = ["2001:db8:1::2", "2001:db8:1::99", "2001:db8::2"]
    a, b = both(half, "-6", "-q", "-c", "3", "-p", "20", "-t", "300", *names)
    rows = [(r["name"], r["x"], r["r"]) for r in parse(SUMMARY, a.stderr)]
    assert rows == [(r["name"], r["x"], r["r"]) for r in parse(SUMMARY, b.stderr)]
    assert rows == [("2001:db8:1::2", "3", "3"), ("2001:db8:1::99", "3", "0"),
                    ("2001:db8::2", "3", "3")]  # fmt: skip
    assert a.returncode == b.returncode == 1


def _interrupted(half, argv: list[str], after: float) -> subprocess.CompletedProcess[str]:
    proc = half.popen("src", argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # `ip netns exec` execs the command: this is it
        out, err = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_loop_with_periodic_summaries_until_ctrl_c(half, require_tool):
    require_tool("fping")
    args = ["-l", "-Q", "1", "-p", "100", "-t", "50", "198.18.1.2", "198.18.1.3"]
    runs = [_interrupted(half, [*cmd, *args], 2.5)
            for cmd in ([sys.executable, "-m", "netdiag", "fping"], ["fping"])]  # fmt: skip
    shapes = []
    for run in runs:
        assert run.stdout == ""
        blocks = re.split(r"^\[\d\d:\d\d:\d\d\]\n", run.stderr, flags=re.M)
        assert len(blocks) == 3, run.stderr  # two reports, each after a clock line
        rows = [(r["name"], int(r["x"]), r["r"] == r["x"]) for r in parse(SUMMARY, blocks[1])]
        shapes.append([(name, 8 <= x <= 12, ok) for name, x, ok in rows])
        # after Ctrl-C, the whole run's summary (as fping prints it)
        assert parse(SUMMARY, blocks[2].split("\n\n")[-1])
    assert shapes[0] == shapes[1] == [("198.18.1.2", True, True), ("198.18.1.3", True, False)]


def test_timestamps_file_and_range_targets(half, require_tool, tmp_path):
    require_tool("fping")
    a, b = both(half, "-D", "-c", "1", "198.18.1.2")
    stamp = re.compile(r"^\[\d{10}\.\d{5}\] 198\.18\.1\.2 : \[0\], 64 bytes, [\d.]+ ms ")
    assert stamp.match(a.stdout) and stamp.match(b.stdout)
    wall_a, wall_b = float(a.stdout[1:17]), float(b.stdout[1:17])
    assert abs(wall_a - wall_b) < 10  # both are the wall clock (CLOCK_REALTIME) at receipt
    listing = tmp_path / "targets"
    listing.write_text("# lab hosts\n198.18.1.2\n\n198.18.1.3 silent\n198.18.1.4\n")
    listing.chmod(0o644)
    a, b = both(half, "-r", "0", "-t", "300", "-f", str(listing))
    assert a.stdout == b.stdout
    assert a.stdout.splitlines() == ["198.18.1.2 is alive", "198.18.1.4 is alive",
                                     "198.18.1.3 is unreachable"]  # fmt: skip
    a, b = both(half, "-a", "-r", "0", "-t", "300", "-g", "198.18.1.250", "198.18.1.254")
    assert a.stdout == b.stdout == "198.18.1.250\n198.18.1.252\n198.18.1.254\n"


def test_json_has_one_object_per_target(half):
    done = ours(half, "--json", "-C", "2", "-p", "20", "-t", "300", "198.18.1.2", "198.18.1.3")
    objs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(o["target"], o["sent"], o["received"], o["loss"]) for o in objs] == [
        ("198.18.1.2", 2, 2, 0.0), ("198.18.1.3", 2, 0, 1.0)]  # fmt: skip
    assert len(objs[0]["rtts"]) == 2 and objs[1]["rtts"] == [None, None]
    assert objs[0]["rtt"]["min"] <= objs[0]["rtt"]["avg"] <= objs[0]["rtt"]["max"]
    assert objs[1]["rtt"] is None
    assert done.returncode == 1


def test_a_user_without_privileges_sweeps_on_datagram_sockets(half, nobody_netdiag,
                                                              require_tool):  # fmt: skip
    require_tool("fping")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from netdiag.cli import main; "
            "sys.exit(main(sys.argv[2:]))")  # fmt: skip
    argv = ["-a", "-r", "0", "-t", "300", "-i", "1", "-g", "198.18.1.0/28"]
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    a = half.exec("src", [*as_nobody, nobody_netdiag.python, "-c", code, nobody_netdiag.path,
                          "fping", *argv], capture_output=True, text=True,
                  timeout=TIMEOUT)  # fmt: skip
    b = half.exec("src", [*as_nobody, "fping", *argv], capture_output=True, text=True,
                  timeout=TIMEOUT)  # fmt: skip
    assert a.stdout == b.stdout != ""
    assert a.returncode == b.returncode == 1


def test_source_address_and_interface_as_fping(half, require_tool):
    require_tool("fping")
    argv = ("-I", "eth0", "-S", "198.18.0.1", "-r", "0", "-t", "300", "198.18.1.2", "198.18.1.3")
    a, b = both(half, *argv)
    assert a.stdout == b.stdout == "198.18.1.2 is alive\n198.18.1.3 is unreachable\n"
    a, b = both(half, "-I", "lo", "-r", "0", "-t", "300", "198.18.1.2")  # no route out of lo
    assert a.stdout == b.stdout == "198.18.1.2 is unreachable\n"
    assert a.returncode == b.returncode == 1
