"""The namespace lab: layout, teardown, and that packets cross it as a real network would.

References: iputils ``ping`` and Debian ``traceroute`` output, run inside the lab's
namespaces; ``ip netns list`` for what exists.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import socket
import subprocess

import pytest

from netdiag.errors import NetdiagError, PrivilegeError, UsageError
from netdiag.lab import lab as labmod
from netdiag.lab.cli import add_parser, parse_mtu, split_exec_args
from netdiag.lab.lab import Lab, LabError, LabRow, plan
from netdiag.lab.netns import in_netns, run_ip
from netdiag.lab.render import format_lab

TIMEOUT = 10


def netns_names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.strip()]


def lab_namespaces(name: str) -> list[str]:
    return [ns for ns in netns_names() if ns.startswith(f"nd-{name}-")]


def run_in(lab: Lab, node: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return lab.exec(node, argv, capture_output=True, text=True, timeout=TIMEOUT)


def traceroute_hops(lab: Lab, family: int) -> list[str | None]:
    """Hop addresses as Debian traceroute prints them with -n -q 1; ``*`` is None."""
    argv = ["traceroute", f"-{family}", "-n", "-q", "1", "-w", "0.5", "-m", "10"]
    out = run_in(lab, "src", [*argv, lab.addr("dst", family)])
    assert out.returncode == 0, out.stderr
    hops = []
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        hops.append(None if fields[1] == "*" else fields[1])
    return hops


needs_traceroute = pytest.mark.skipif(
    shutil.which("traceroute") is None,
    reason="traceroute not installed (apt-get install traceroute)",
)


# --------------------------------------------------------------------------- layout (no root)


def test_plan_numbers_links_left_to_right():
    nodes = plan("p", routers=4)
    assert list(nodes) == ["src", "r1", "r2", "r3", "r4", "dst"]
    assert nodes["src"].ipv4 == ("198.18.0.1",)
    assert nodes["r1"].ipv4 == ("198.18.0.2", "198.18.1.1")
    assert nodes["r4"].ipv4 == ("198.18.3.2", "198.18.4.1")
    assert nodes["dst"].ipv4 == ("198.18.4.2",)
    # compressed, as ping and traceroute print them
    assert nodes["src"].ipv6 == ("2001:db8::1",)
    assert nodes["r2"].ipv6 == ("2001:db8:1::2", "2001:db8:2::1")
    assert nodes["r3"].netns == "nd-p-r3"
    assert [i.name for i in nodes["r3"].interfaces] == ["eth0", "eth1"]
    assert [i.peer for i in nodes["r3"].interfaces] == ["r2", "r4"]


def test_addr_and_hops_follow_the_chain():
    chain = Lab("p", plan("p", routers=4))
    assert chain.addr("dst") == "198.18.4.2"
    assert chain.addr("src", 6) == "2001:db8::1"
    assert chain.addr("r2") == "198.18.1.2"  # a router's left-side address
    assert chain.hops() == ["198.18.0.2", "198.18.1.2", "198.18.2.2", "198.18.3.2", "198.18.4.2"]
    assert chain.hops(6)[0] == "2001:db8::2"
    silent = Lab("p", plan("p", routers=3, silent_router=2), silent_router=2)
    assert silent.hops() == ["198.18.0.2", None, "198.18.2.2", "198.18.3.2"]


def test_mtu_option_applies_to_both_ends_of_its_link():
    nodes = plan("p", routers=3, mtu=(2, 1280))
    assert [i.mtu for i in nodes["r2"].interfaces] == [None, 1280]
    assert [i.mtu for i in nodes["r3"].interfaces] == [1280, None]


@pytest.mark.parametrize(
    "options, word",
    [
        ({"routers": -1}, "routers"),
        ({"routers": labmod.MAX_ROUTERS + 1}, "routers"),
        ({"silent_router": 5}, "silent_router"),
        ({"silent_router": 0}, "silent_router"),
        ({"mtu": (5, 1400)}, "mtu link"),
        ({"mtu": (1, 1000)}, "IPv6 needs 1280"),
    ],
)
def test_bad_options_are_usage_errors(options, word):
    with pytest.raises(UsageError, match=word):
        plan("p", **options)


@pytest.mark.parametrize("name", ["", "a-b", "x/y", "a" * 25, "a b"])
def test_bad_lab_names_are_usage_errors(name):
    # '-' is refused so that down("a") can never match lab "a-b"'s namespaces
    with pytest.raises(UsageError, match="lab name"):
        plan(name)


def test_not_root_is_a_privilege_error_with_the_fix(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrivilegeError, match=r"needs root \(CAP_NET_ADMIN\): run with sudo"):
        Lab.up("nr")
    with pytest.raises(PrivilegeError):
        Lab.down_name("nr")
    with pytest.raises(PrivilegeError):
        Lab.show("nr")


def test_ip_failure_is_one_line_naming_the_command():
    with pytest.raises(LabError) as info:
        run_ip(["link", "show", "dev", "ndnosuch0"])
    message = str(info.value)
    assert isinstance(info.value, NetdiagError)
    assert "\n" not in message
    assert message.startswith("ip link show dev ndnosuch0: ")
    assert "ndnosuch0" in message.partition(": ")[2]  # ip's own complaint


def test_ip_batch_failure_names_the_failing_line():
    with pytest.raises(LabError, match="'link show dev ndnosuch1'") as info:
        run_ip((), batch=["link show dev lo", "link show dev ndnosuch1"])
    assert "\n" not in str(info.value)


def test_format_lab_prints_each_node_once():
    rows = [
        LabRow("r1", "nd-x-r1", "router", "eth0", "198.18.0.2/24", "2001:db8::2/64", 1500, "UP"),
        LabRow("r1", "nd-x-r1", "router", "eth1", "198.18.1.1/24", "2001:db8:1::1/64", 1280, "UP"),
    ]
    lines = format_lab(rows).splitlines()
    assert lines[0].split() == ["node", "netns", "role", "if", "ipv4", "ipv6", "mtu", "state"]
    assert lines[1].split()[:4] == ["r1", "nd-x-r1", "router", "eth0"]
    assert lines[2].split() == ["eth1", "198.18.1.1/24", "2001:db8:1::1/64", "1280", "UP"]


def test_cli_arguments():
    assert parse_mtu("2:1280") == (2, 1280)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_mtu("1280")
    assert split_exec_args("lab", ["--name", "x", "--", "ping", "-c1"]) == ("x", ["ping", "-c1"])
    assert split_exec_args("lab", ["--name=y", "--", "true"]) == ("y", ["true"])
    assert split_exec_args("lab", ["--", "ls", "--name"]) == ("lab", ["ls", "--name"])
    assert split_exec_args("lab", ["ip", "-br", "a"]) == ("lab", ["ip", "-br", "a"])


# --------------------------------------------------------------------------- the shared lab


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_ping_crosses_four_routers(lab, family):
    out = run_in(lab, "src", ["ping", f"-{family}", "-c", "1", "-W", "1", lab.addr("dst", family)])
    assert out.returncode == 0, out.stdout + out.stderr
    # each of the 4 routers decrements the TTL / hop limit once
    assert f"from {lab.addr('dst', family)}: icmp_seq=1 ttl=60 " in out.stdout


@pytest.mark.root
def test_ping_back_from_dst_uses_the_return_routes(lab):
    for target in (lab.addr("src"), lab.addr("r1"), "198.18.1.1", lab.addr("src", 6)):
        out = run_in(lab, "dst", ["ping", "-c", "1", "-W", "1", target])
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.root
@pytest.mark.parametrize(
    "family, text", [(4, "Time to live exceeded"), (6, "Time exceeded: Hop limit")]
)
def test_ttl_2_expires_at_r2(lab, family, text):
    out = run_in(lab, "src", ["ping", f"-{family}", "-c1", "-W1", "-t2", lab.addr("dst", family)])
    assert out.returncode == 1
    assert f"From {lab.addr('r2', family)} icmp_seq=1 {text}" in out.stdout


@pytest.mark.root
@needs_traceroute
@pytest.mark.parametrize("family", [4, 6])
def test_hops_match_traceroute(lab, family):
    assert traceroute_hops(lab, family) == lab.hops(family)


@pytest.mark.root
def test_in_netns_switches_only_the_block(lab):
    def netns_inode() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    before = netns_inode()
    with lab.inside("src"):
        assert netns_inode() != before
        assert (10, "eth0") in socket.if_nameindex()
        inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        inside.bind((lab.addr("src"), 0))  # only exists inside src
    assert netns_inode() == before
    with inside:
        # the socket stays in src: it can reach dst across the chain
        inside.sendto(b"x", (lab.addr("dst"), 9))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as outside:
            with pytest.raises(OSError) as info:
                outside.bind((lab.addr("src"), 0))
            assert info.value.errno == errno.EADDRNOTAVAIL


@pytest.mark.root
def test_in_netns_of_a_missing_namespace_is_a_lab_error():
    with pytest.raises(LabError, match="does not exist"):
        with in_netns("nd-nosuchlab-src"):
            pass


@pytest.mark.root
def test_show_reads_the_live_lab(lab):
    rows = Lab.show(lab.name)
    assert [(r.node, r.interface) for r in rows][:3] == [
        ("src", "eth0"),
        ("r1", "eth0"),
        ("r1", "eth1"),
    ]
    by_if = {(r.node, r.interface): r for r in rows}
    assert by_if[("dst", "eth0")].ipv4 == "198.18.4.2/24"
    assert by_if[("dst", "eth0")].ipv6 == "2001:db8:4::2/64"
    assert {r.state for r in rows} == {"UP"}
    assert {r.role for r in rows} == {"host", "router"}


@pytest.mark.root
def test_up_refuses_an_existing_lab(lab):
    with pytest.raises(LabError, match="already exists"):
        Lab.up(lab.name)


# --------------------------------------------------------------------------- special labs


@pytest.mark.root
@needs_traceroute
@pytest.mark.parametrize("family", [4, 6])
def test_silent_router_shows_as_a_star(make_lab, family):
    quiet = make_lab(routers=3, silent_router=2)
    hops = traceroute_hops(quiet, family)
    assert hops == [
        quiet.addr("r1", family),
        None,
        quiet.addr("r3", family),
        quiet.addr("dst", family),
    ]
    assert hops == quiet.hops(family)
    # it still forwards ICMP that others send
    out = run_in(quiet, "src", ["ping", f"-{family}", "-c1", "-W1", quiet.addr("dst", family)])
    assert out.returncode == 0, out.stdout


@pytest.mark.root
def test_small_mtu_link_sends_frag_needed(make_lab):
    narrow = make_lab(routers=3, mtu=(2, 1280))
    big = ["-c1", "-W1", "-M", "do", "-s", "1400"]
    out = run_in(narrow, "src", ["ping", "-4", *big, narrow.addr("dst")])
    assert out.returncode == 1
    assert f"From {narrow.addr('r2')} icmp_seq=1 Frag needed and DF set (mtu = 1280)" in out.stdout
    out = run_in(narrow, "src", ["ping", "-6", *big, narrow.addr("dst", 6)])
    assert out.returncode == 1
    assert f"From {narrow.addr('r2', 6)} icmp_seq=1 Packet too big: mtu=1280" in out.stdout
    # a packet that fits still goes through
    fits = ["-c1", "-W1", "-M", "do", "-s", str(1280 - 28)]
    assert run_in(narrow, "src", ["ping", "-4", *fits, narrow.addr("dst")]).returncode == 0


@pytest.mark.root
def test_eight_routers(make_lab):
    long_chain = make_lab(routers=8)
    assert long_chain.build_seconds < 5
    out = run_in(long_chain, "src", ["ping", "-c1", "-W1", long_chain.addr("dst")])
    assert "from 198.18.8.2: icmp_seq=1 ttl=56 " in out.stdout


@pytest.mark.root
def test_attach_reads_back_options(make_lab):
    built = make_lab(routers=2, silent_router=1, mtu=(1, 1400))
    again = Lab.attach(built.name)
    assert (again.routers, again.silent_router, again.mtu) == (2, 1, (1, 1400))
    assert again.nodes == built.nodes


# --------------------------------------------------------------------------- teardown


@pytest.mark.root
def test_down_is_idempotent_and_leaves_nothing(make_lab):
    gone = make_lab(routers=1)
    assert len(lab_namespaces(gone.name)) == 3
    gone.down()
    gone.down()
    assert Lab.down_name(gone.name) == []
    assert lab_namespaces(gone.name) == []


@pytest.mark.root
def test_failing_command_inside_with_still_removes_the_lab():
    name = f"t{os.getpid()}f"
    with pytest.raises(subprocess.CalledProcessError):
        with Lab.up(name, routers=1) as doomed:
            assert len(lab_namespaces(name)) == 3
            doomed.exec("src", ["false"], check=True, timeout=TIMEOUT)
    assert lab_namespaces(name) == []


@pytest.mark.root
def test_failed_build_removes_what_it_built(monkeypatch):
    name = f"t{os.getpid()}b"
    real = labmod.node_commands

    def broken(nodes, node, *rest):
        lines = real(nodes, node, *rest)
        return [*lines, "route add 203.0.113.0/24 via 198.18.99.1"] if node.name == "r1" else lines

    monkeypatch.setattr(labmod, "node_commands", broken)
    with pytest.raises(LabError, match=r"nd-t\d+b-r1 -batch - <<< 'route add 203.0.113.0/24"):
        Lab.up(name, routers=2)
    assert lab_namespaces(name) == []


@pytest.mark.root
def test_down_removes_namespaces_of_a_crashed_run():
    name = f"t{os.getpid()}c"
    subprocess.run(["ip", "netns", "add", f"nd-{name}-r7"], check=True)
    subprocess.run(["ip", "netns", "add", f"nd-{name}x-src"], check=True)  # another lab
    try:
        assert Lab.down_name(name) == [f"nd-{name}-r7"]
        assert lab_namespaces(name) == []
        assert f"nd-{name}x-src" in netns_names()
    finally:
        subprocess.run(["ip", "netns", "del", f"nd-{name}-r7"], capture_output=True)
        subprocess.run(["ip", "netns", "del", f"nd-{name}x-src"], capture_output=True)


@pytest.mark.root
def test_down_stops_processes_started_with_popen(make_lab):
    busy = make_lab(routers=1)
    sleeper = busy.popen("dst", ["sleep", "30"])
    busy.down()
    assert sleeper.wait(timeout=TIMEOUT) != 0


@pytest.mark.root
def test_cli_up_exec_show_down(capsys):
    name = f"t{os.getpid()}cli"
    parser = argparse.ArgumentParser(prog="netdiag")
    add_parser(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.func(args)

    try:
        assert run("lab", "up", "--name", name, "--routers", "1", "--mtu", "0:1400") == 0
        assert re.search(
            r"^src\s+nd-\S+-src\s+host\s+eth0\s+198\.18\.0\.1/24", capsys.readouterr().out, re.M
        )
        assert run("lab", "exec", "dst", "--name", name, "--", "sh", "-c", "exit 3") == 3
        assert run("lab", "show", "--name", name) == 0
        assert "1400" in capsys.readouterr().out
        with pytest.raises(UsageError, match="no node 'r5'"):
            run("lab", "exec", "r5", "--name", name, "--", "true")
    finally:
        assert run("lab", "down", "--name", name) == 0
        assert run("lab", "down", "--name", name) == 0
    assert lab_namespaces(name) == []
    with pytest.raises(LabError, match="no lab"):
        run("lab", "show", "--name", name)
