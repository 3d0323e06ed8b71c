"""The lab's load balancers and NATs: diamonds spread flows over every branch, every
branch answers, diamonds in series are independent, and the NATs translate as meant.

References: the kernel itself (each flow is a UDP socket of its own source port; the
router that answers is the offender of the ICMP error the kernel queues on the socket,
IP_RECVERR/IPV6_RECVERR), nft counters at the branch routers, and tcpdump + tshark
for what the quoted datagram inside an ICMP error carries.
"""

from __future__ import annotations

import argparse
import ipaddress
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from netdiag.errors import UsageError
from netdiag.lab.cli import add_parser
from netdiag.lab.lab import Lab
from netdiag.lab.routing import graph_layout, ground_truth, nat_script, route_lines
from netdiag.lab.topology import layout, make_spec, parse_ecmp

DPORT = 33434
SPORT0 = 21000

# --------------------------------------------------------------------------- pure (no root)


def test_diamond_names_and_addresses():
    lay = layout("p", make_spec(4, ecmp=["2:4"]))
    assert list(lay.nodes) == ["src", "r1", "r2", "r3a", "r3b", "r3c", "r3d", "r4", "dst"]
    # the chain links keep their addresses; the branch links get 198.19.n.0/24
    assert lay.nodes["r1"].ipv4 == ("198.18.0.2", "198.18.1.1")
    assert lay.nodes["r2"].ipv4 == ("198.18.1.2", "198.19.0.1", "198.19.1.1", "198.19.2.1",
                                    "198.19.3.1")  # fmt: skip
    assert lay.nodes["r3c"].ipv4 == ("198.19.2.2", "198.19.6.1")
    assert lay.nodes["r3c"].ipv6 == ("2001:db8:102::2", "2001:db8:106::1")
    assert [i.name for i in lay.nodes["r4"].interfaces] == ["eth0", "eth1", "eth2", "eth3",
                                                            "eth4"]  # fmt: skip
    assert lay.nodes["r4"].interfaces[-1].ipv4 == "198.18.4.1"
    assert lay.nodes["dst"].ipv4 == ("198.18.4.2",)
    assert any("nexthop via 198.19.0.2 nexthop via 198.19.1.2" in line
               for line in route_lines(lay, "r2", 4))  # fmt: skip


def test_ground_truth_of_unequal_branches():
    truth = ground_truth(layout("p", make_spec(4, ecmp=["1:1,2"])), 4)
    assert [h.nodes for h in truth.hops] == [("r1",), ("r2a", "r2b"), ("r2b2", "r3"),
                                             ("r3", "r4"), ("r4", "dst"), ("dst",)]  # fmt: skip
    assert (2, "r2b", "r2b2") in truth.links and (2, "r2a", "r3") in truth.links
    assert truth.node_of("198.19.0.2") == "r2a"
    silent = graph_layout("p", make_spec(4, ecmp=["1:2"]), 3, None, ())
    assert ground_truth(silent, 6).silent == ("r3",)


def test_topology_file_and_bad_values(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('routers = 5\n[[ecmp]]\nafter = 1\nwidth = 2\n[[ecmp]]\nafter = 3\n'
                 'branches = [1, 1, 1]\n[nat]\nr5 = "stateless"\n[error_source]\n'
                 'r3 = "route"\n[seed]\nr1 = 7\n')  # fmt: skip
    spec = make_spec(topology=str(f))
    assert [str(d) for d in spec.diamonds] == ["1:2", "3:3"]
    assert spec.nat == (("r5", "stateless"),) and spec.seeds == (("r1", 7),)
    assert make_spec(topology=spec.to_json()) == spec
    for bad in (dict(ecmp=["3:2"]), dict(ecmp=["1:1"]), dict(ecmp=["1:2", "2:2"]),
                dict(ecmp=["x"]), dict(nat=["9"]), dict(nat=["2:full"]),
                dict(error_source=["2:loopback"]), dict(topology=str(tmp_path / "none")),
                dict(topology={"router": 3})):  # fmt: skip
        with pytest.raises(UsageError):
            make_spec(4, **bad)
    f.write_text("routers = [")
    with pytest.raises(UsageError):
        make_spec(topology=str(f))
    assert str(parse_ecmp("2:1,3")) == "2:1,3"


def test_nat_scripts_name_the_outside_interfaces():
    lay = layout("p", make_spec(4, ecmp=["2:3"], nat=["2"]))
    assert 'oifname { "eth1", "eth2", "eth3" } counter name "translated" masquerade' in \
        nat_script(lay, "r2", "masquerade")  # fmt: skip
    lay = layout("p", make_spec(4, nat=["2:stateless"]))
    script = nat_script(lay, "r2", "stateless")
    assert 'oifname { "eth1" } ip saddr 198.18.0.1 counter name "out" ip saddr set 198.18.2.1' \
        in script  # fmt: skip


@pytest.mark.parametrize("argv", [["--ecmp", "1:x"], ["--nat", "2:full"],
                                  ["--error-source", "2"], ["--ecmp", "3:2"]])  # fmt: skip
def test_cli_bad_values_exit_2(argv):
    proc = subprocess.run([sys.executable, "-m", "netdiag", "lab", "up", "--name", "never",
                           *argv], capture_output=True, text=True, timeout=30)  # fmt: skip
    if proc.returncode != 2 or "Traceback" in proc.stderr:
        pytest.fail(f"{argv}: exit {proc.returncode}: {proc.stderr}")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_parses_the_options():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["lab", "up", "--ecmp", "1:2", "--ecmp", "3:3", "--nat", "2",
                              "--error-source", "3:route", "--topology", "t.toml"])  # fmt: skip
    assert args.ecmp == ["1:2", "3:3"] and args.nat == ["2"]
    assert args.error_source == ["3:route"] and args.topology == "t.toml"


# --------------------------------------------------------------------------- flows (root)


def _offenders(
    lab: Lab, family: int, ttl: int, sports: range, wait: float = 2.0, dst: str | None = None
) -> dict[int, str | None]:
    """sport -> "ADDRESS TYPE": the node whose ICMP error answered a UDP probe of that
    flow sent with ``ttl`` toward dst, and the ICMP type (None: no answer in ``wait`` s)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    dst = dst or lab.addr("dst", family)
    socks: dict[int, socket.socket] = {}
    with lab.inside("src"):
        for sport in sports:
            s = socket.socket(af, socket.SOCK_DGRAM)
            if family == 4:
                s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR
                s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, 25, 1)  # IPV6_RECVERR
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            s.bind(("", sport))
            socks[sport] = s
    try:
        for s in socks.values():
            s.sendto(b"ecmp-probe", (dst, DPORT))
        found: dict[int, str | None] = dict.fromkeys(sports)
        pending = dict(socks)
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            poller = select.poll()
            for s in pending.values():
                poller.register(s.fileno(), select.POLLERR)
            by_fd = {s.fileno(): sport for sport, s in pending.items()}
            for fd, _ev in poller.poll(100):
                sport = by_fd[fd]
                _data, ancdata, _flags, _addr = pending[sport].recvmsg(64, 512, socket.MSG_ERRQUEUE)
                for _level, _type, blob in ancdata:
                    # struct sock_extended_err (errno, origin, ICMP type, code, ...), then
                    # the offender's sockaddr
                    icmp_type, offender = blob[5], blob[16:]
                    if family == 4:
                        addr = socket.inet_ntop(af, offender[4:8])
                    else:
                        addr = str(ipaddress.IPv6Address(offender[8:24]))
                    found[sport] = f"{addr} {icmp_type}"
                del pending[sport]
        return found
    finally:
        for s in socks.values():
            s.close()


def _check_against_ground_truth(lab: Lab, family: int, flows: int) -> dict[int, list[str]]:
    """Every flow answers at every TTL, each answer is an address the ground truth has at
    that TTL, consecutive answers are ground-truth links, and the flows together see every
    address of every TTL. Returns sport -> the addresses of its path."""
    truth = lab.ground_truth(family)
    sports = range(SPORT0, SPORT0 + flows)
    paths: dict[int, list[str]] = {p: [] for p in sports}
    for hop in truth.hops:
        live = range(SPORT0, SPORT0 + flows)
        answers = _offenders(lab, family, hop.ttl, live)
        for sport, answer in answers.items():
            if paths[sport] and paths[sport][-1] == truth.destination:
                continue  # this flow was already at dst
            assert answer is not None, f"flow {sport}: no answer at TTL {hop.ttl}"
            addr, icmp_type = answer.split()
            # time exceeded from the routers, port unreachable from dst
            unreachable, exceeded = (3, 11) if family == 4 else (1, 3)
            assert int(icmp_type) == (unreachable if addr == truth.destination else exceeded)
            assert addr in hop.addresses, f"TTL {hop.ttl}: {addr} not in {hop.addresses}"
            if paths[sport]:
                assert (hop.ttl - 1, paths[sport][-1], addr) in truth.address_links
            paths[sport].append(addr)
        seen = {p[hop.ttl - 1] for p in paths.values() if len(p) >= hop.ttl}
        assert seen == set(hop.addresses), f"TTL {hop.ttl}: saw {sorted(seen)}"
    return paths


def _count_at_branches(lab: Lab, routers: list[str], flows: int) -> dict[str, int]:
    """Send ``flows`` IPv4 and as many IPv6 flows through; nft counters at each router."""
    script = ("table inet nd_ecmptest {\n  counter seen { }\n  chain forward {\n"
              "    type filter hook forward priority 0; policy accept;\n"
              f'    udp dport {DPORT} counter name "seen"\n  }}\n}}\n')  # fmt: skip
    for r in routers:
        lab.exec(r, ["nft", "-f", "-"], input=script, text=True, check=True, timeout=10)
    for family in (4, 6):
        _offenders(lab, family, 64, range(SPORT0, SPORT0 + flows))
    counts = {}
    for r in routers:
        out = lab.exec(r, ["nft", "list", "counter", "inet", "nd_ecmptest", "seen"],
                       capture_output=True, text=True, check=True, timeout=10).stdout  # fmt: skip
        counts[r] = int(out.split("packets")[1].split()[0])
    return counts


@pytest.mark.root
@pytest.mark.parametrize("after", [0, 1, 2])
@pytest.mark.parametrize("width", [2, 4, 8])
def test_diamond_reaches_every_branch(make_lab, width, after):
    lab = make_lab(routers=max(after + 2, 2), ecmp=[f"{after}:{width}"])
    branches = [f"r{after + 1}{chr(ord('a') + b)}" for b in range(width)]
    flows = 12 * width
    counts = _count_at_branches(lab, branches, flows)
    assert sum(counts.values()) == 2 * flows  # each flow crossed exactly one branch
    assert all(n > 0 for n in counts.values()), counts
    for family in (4, 6):
        _check_against_ground_truth(lab, family, flows)
        truth = lab.ground_truth(family)
        assert set(truth.hops[after].nodes) == set(branches)
        # the convergence router answers from the interface each probe came in on
        assert len(truth.hops[after + 1].addresses) == width


def _direct(lab: Lab, family: int, node: str) -> dict[str, str]:
    """Each address of ``node`` -> the source of the port unreachable that a UDP probe
    from src to it gets (a Mercator alias probe)."""
    out = {}
    for addr in lab.node(node).ipv4 if family == 4 else lab.node(node).ipv6:
        answer = _offenders(lab, family, 64, range(SPORT0, SPORT0 + 1), dst=addr)[SPORT0]
        assert answer is not None and int(answer.split()[1]) == (3 if family == 4 else 1)
        out[addr] = answer.split()[0]
    return out


@pytest.mark.root
@pytest.mark.parametrize("mode", ["iface", "route", "mixed"])
def test_convergence_router_error_sources(make_lab, mode):
    lab = make_lab(routers=3, ecmp=["1:4"], error_source=[f"3:{mode}"])
    for family in (4, 6):
        paths = _check_against_ground_truth(lab, family, 32)
        identity = lab.addr("r3", family)
        at_r3 = {p[2] for p in paths.values()}
        assert len({p[1] for p in paths.values()}) == 4
        if mode == "route":  # one address for everything
            assert at_r3 == {identity}
        else:  # time exceeded from the interface each probe came in on
            assert len(at_r3) == 4 and lab.ground_truth(family).node_of(identity) == "r3"
        direct = _direct(lab, family, "r3")
        truth = lab.ground_truth(family).unreachable_from["r3"]  # type: ignore[index]
        if mode == "iface":  # Linux: from the probed address, so Mercator sees no alias
            assert truth is None and all(a == b for a, b in direct.items())
        else:  # one address for all of them: Mercator merges the aliases
            assert truth == identity and set(direct.values()) == {identity}


@pytest.mark.root
@pytest.mark.parametrize("seeds", ["own", "shared"])
def test_diamonds_in_series(make_lab, seeds):
    topo = {"routers": 5, "ecmp": [{"after": 1, "width": 2}, {"after": 3, "width": 3}]}
    if seeds == "shared":  # the same seed everywhere: the two diamonds hash alike
        topo["seed"] = {n: 12345 for n in ("src", "r1", "r2a", "r2b", "r3", "r4a", "r4b",
                                            "r4c", "r5", "dst")}  # fmt: skip
    lab = make_lab(topology=topo)
    for family in (4, 6):
        paths = _check_against_ground_truth(lab, family, 60)
        combos = {(p[1], p[3]) for p in paths.values()}
        if seeds == "own":
            assert len(combos) == 6, combos
        else:
            assert len(combos) < 6, combos


@pytest.mark.root
def test_unequal_branches_and_a_meshed_diamond(make_lab, tmp_path):
    lab = make_lab(routers=4, ecmp=["1:1,3"])
    for family in (4, 6):
        paths = _check_against_ground_truth(lab, family, 32)
        assert {len(p) for p in paths.values()} == {5, 7}  # via r2a: 5 hops; via r2b: 7
    f = tmp_path / "mesh.toml"
    f.write_text("routers = 4\n[[ecmp]]\nafter = 1\nbranches = [2, 2]\nmesh = true\n")
    lab = make_lab(topology=str(f))
    for family in (4, 6):
        paths = _check_against_ground_truth(lab, family, 48)
        # all four routes through the mesh: a->a2, a->b2, b->a2, b->b2
        assert (
            len(
                {
                    (lab.ground_truth(family).node_of(p[1]), lab.ground_truth(family).node_of(p[2]))
                    for p in paths.values()
                }
            )
            == 4
        )


# --------------------------------------------------------------------------- NAT (root)


def _capture(lab: Lab, node: str, iface: str, path: str) -> subprocess.Popen[str]:
    proc = lab.popen(node, ["tcpdump", "-n", "-U", "--immediate-mode", "-i", iface, "-w", path,
                            "icmp or (icmp6 and ip6[40] < 128)"],
                     stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 5)
    assert ready and "listening on" in proc.stderr.readline()
    return proc


def _quoted(tshark: str, path: str) -> list[tuple[str, str, str, str]]:
    """(outer src, outer dst, quoted src, quoted dst) of each ICMP error in ``path``."""
    rows = []
    for fields in ("ip.src", "ipv6.src"):
        dfield = fields.replace("src", "dst")
        out = subprocess.run([tshark, "-r", path, "-T", "fields", "-E", "separator=;", "-e",
                              fields, "-e", dfield, "-Y", fields.split(".")[0]],
                             capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
        for line in out.stdout.splitlines():
            srcs, dsts = (x.split(",") for x in line.split(";"))
            if len(srcs) == 2:
                rows.append((srcs[0], dsts[0], srcs[1], dsts[1]))
    return rows


def _nat_lab(make_lab, kind: str, tmp_path, require_tool) -> tuple[Lab, list, list]:
    tshark = require_tool("tshark")
    require_tool("tcpdump")
    lab = make_lab(routers=4, nat=[f"2:{kind}"])
    inside = _capture(lab, "src", "eth0", str(tmp_path / "in.pcap"))
    outside = _capture(lab, "r2", "eth1", str(tmp_path / "out.pcap"))
    for family in (4, 6):
        # expire at r3, past the NAT, then at r2, the NAT (the kernel drops an error whose
        # quoted datagram names no socket of src's, as with the stateless NAT)
        _offenders(lab, family, 3, range(SPORT0, SPORT0 + 2), wait=0.3)
        _offenders(lab, family, 2, range(SPORT0, SPORT0 + 2), wait=0.3)
        # and to dst, which checks the UDP checksum before it answers "port unreachable"
        _offenders(lab, family, 64, range(SPORT0, SPORT0 + 1), wait=0.3)
    time.sleep(0.2)
    for proc in (inside, outside):
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=5)
    return (
        lab,
        _quoted(tshark, str(tmp_path / "in.pcap")),
        _quoted(tshark, str(tmp_path / "out.pcap")),
    )


@pytest.mark.root
def test_masquerade_restores_the_quoted_datagram(make_lab, tmp_path, require_tool):
    lab, inside, outside = _nat_lab(make_lab, "masquerade", tmp_path, require_tool)
    for family in (4, 6):
        src, nat = lab.addr("src", family), lab.node("r2").interfaces[1]
        nat_addr = nat.ipv4 if family == 4 else nat.ipv6
        r3 = lab.addr("r3", family)
        # outside, r3's error goes to the NAT's address and quotes the translated probe
        assert (r3, nat_addr, nat_addr, lab.addr("dst", family)) in outside
        # inside, conntrack has put src's own address back, outer and quoted
        assert (r3, src, src, lab.addr("dst", family)) in inside
        assert not any(q[2] == nat_addr for q in inside)
        assert (lab.addr("dst", family), src, src, lab.addr("dst", family)) in inside
    assert lab.nat_counters("r2")["translated"] >= 4


@pytest.mark.root
def test_stateless_nat_leaks_into_the_quoted_datagram(make_lab, tmp_path, require_tool):
    lab, inside, _outside = _nat_lab(make_lab, "stateless", tmp_path, require_tool)
    for family in (4, 6):
        src, nat = lab.addr("src", family), lab.node("r2").interfaces[1]
        nat_addr = nat.ipv4 if family == 4 else nat.ipv6
        dst = lab.addr("dst", family)
        # past the NAT, the outer header is back at src but the quoted probe is not
        assert (lab.addr("r3", family), src, nat_addr, dst) in inside
        # the NAT's own error quotes the probe as sent
        assert (lab.addr("r2", family), src, src, dst) in inside
        # dst answered: the NAT rewrote the UDP checksum along with the address
        assert (dst, src, nat_addr, dst) in inside
        counters = lab.nat_counters("r2", family)
        assert counters == {"out": 3, "back": 3}  # the probes to r3 and to dst
    truth = lab.ground_truth(4)
    assert truth.nat == {"r2": "stateless"} and truth.translated_from_ttl == 3


@pytest.mark.root
def test_show_and_attach_know_the_topology(make_lab):
    lab = make_lab(routers=3, ecmp=["1:2"], nat=["3"], error_source=["3:route"])
    again = Lab.attach(lab.name)
    assert list(again.nodes) == list(lab.nodes)
    assert again.ground_truth(6) == lab.ground_truth(6)
    from netdiag.lab.render import format_lab

    text = format_lab(Lab.show(lab.name), Lab.conditions_of(lab.name), Lab.topology_of(lab.name))
    assert "ecmp: r1 -> (r2a, r2b) -> r3" in text and "nat: r3 masquerade" in text
    assert "r2b " in text


@pytest.mark.root
def test_a_branch_that_loses_while_its_sibling_does_not(make_lab):
    lab = make_lab(routers=3, ecmp=["1:2"], loss=["r1-r2a:100:fwd"])
    answers = _offenders(lab, 4, 2, range(SPORT0, SPORT0 + 32), wait=0.5)
    lost = [p for p, a in answers.items() if a is None]
    assert {a.split()[0] for a in answers.values() if a is not None} == {"198.19.1.2"}  # r2b
    link = next(i.link for i in lab.node("r2a").interfaces if i.peer == "r1")
    dropped, passed = lab.loss_counters(link, "fwd")
    assert dropped == len(lost) > 0 and passed == 0
