"""``netdiag sockets`` output: ss's table, one JSON object per socket, ss -s counts.

The table has ss's columns in ss's order (Netid, State, Recv-Q, Send-Q, Local
Address:Port, Peer Address:Port, Process) and ss's way of writing ends:
``198.18.4.2:22``, ``[2001:db8::1]:22``, ``*`` for port 0, a UNIX end as
``path inode`` (``*`` when unnamed; the peer's inode on the peer side), a
packet socket as ``protocol:interface`` (the ethertype in decimal in brackets,
``*`` for ETH_P_ALL and for any interface). Without ``-n`` ports are shown by
service name (/etc/services, as ss does); host names are never looked up.
``-i`` adds the TCP internals as columns: rtt/rttvar in ms, cwnd (segments),
retrans (current/total) and the delivery rate in bit/s, as ss -i words them.

JSON (one object per line; keys always present, null when unknown)::

    {"netid": "tcp", "family": "inet", "type": "stream", "state": "ESTAB",
     "local": {"address": "198.18.4.2", "port": 22},
     "peer": {"address": "198.18.0.1", "port": 40000},
     "recv_q": 0, "send_q": 0, "pid": 42, "comm": "sshd", "uid": 0, "inode": 1234,
     "processes": [{"pid": 42, "comm": "sshd", "fd": 3}], "tcp_info": {...} | null}

``local``/``peer`` keys by family: inet ``address``/``port`` (raw: the IP
protocol), unix ``path``/``inode``, packet ``protocol``/``interface``.
``tcp_info`` (with ``-i``, TCP only) has linux/tcp.h's field names without
``tcpi_`` and the kernel's units (``netdiag.netlink.tcpinfo``), plus ``cong``.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterable, Sequence

from netdiag.render.table import plain_table, tabulate
from netdiag.sockets.model import Endpoint, Socket

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["table", "json_lines", "socket_dict", "summary", "end_text"]

_ETH_P_ALL = 0x0003


def _service(port: int, kind: str) -> str:
    if kind not in ("tcp", "udp"):
        return str(port)
    try:
        return socket.getservbyport(port, kind)
    except OSError:
        return str(port)


def end_text(sock: Socket, end: Endpoint, *, numeric: bool = True, is_peer: bool = False) -> str:
    """One end of ``sock`` as ss writes it."""
    if sock.kind == "unix":
        return f"{end.address or '*'} {end.inode or 0}"
    if sock.kind == "packet":
        if is_peer:
            return "*"
        proto = "*" if end.protocol in (_ETH_P_ALL, None) else f"[{end.protocol}]"
        return f"{proto}:{end.interface or '*'}"
    address = end.address or "*"
    if ":" in address:
        address = f"[{address}]"
    if not end.port:
        return f"{address}:*"
    port = str(end.port) if numeric else _service(end.port, sock.kind)
    return f"{address}:{port}"


def _process_text(sock: Socket) -> str:
    if not sock.processes:
        return ""
    inner = ",".join(f'("{p.comm}",pid={p.pid},fd={p.fd})' for p in sock.processes)
    return f"users:({inner})"


def _info_cells(sock: Socket) -> list[str]:
    ti = sock.tcp_info
    if ti is None:
        return ["", "", "", ""]
    rate = "" if ti.delivery_rate is None else f"{ti.delivery_rate * 8}bps"
    return [
        f"{ti.rtt / 1000:g}/{ti.rttvar / 1000:g}",
        str(ti.snd_cwnd),
        f"{ti.retransmits}/{ti.total_retrans}",
        rate,
    ]


def table(
    sockets: Sequence[Socket],
    *,
    netid: bool = True,
    state: bool = True,
    processes: bool = False,
    info: bool = False,
    numeric: bool = True,
) -> str:
    """ss's table; like ss, leave out Netid when one of tcp/udp/raw is listed and
    State when one state is selected (``netid``/``state`` False)."""
    headers = (["Netid"] if netid else []) + (["State"] if state else [])
    headers += ["Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"]
    if processes:
        headers.append("Process")
    if info:
        headers += ["rtt/rttvar(ms)", "cwnd", "retrans", "delivery_rate"]
    rows = []
    for s in sockets:
        row = (
            ([s.netid] if netid else [])
            + ([s.state_name] if state else [])
            + [
                str(s.recv_q),
                str(s.send_q),
                end_text(s, s.local, numeric=numeric),
                end_text(s, s.peer, numeric=numeric, is_peer=True),
            ]
        )
        if processes:
            row.append(_process_text(s))
        if info:
            row += _info_cells(s)
        rows.append(row)
    return plain_table(rows, headers)


def _end_dict(sock: Socket, end: Endpoint) -> dict[str, Any]:
    if sock.kind == "unix":
        return {"path": end.address, "inode": end.inode}
    if sock.kind == "packet":
        return {"protocol": end.protocol, "interface": end.interface}
    return {"address": end.address, "port": end.port}


def socket_dict(sock: Socket) -> dict[str, Any]:
    tcp_info: dict[str, Any] | None = None
    if sock.tcp_info is not None:
        tcp_info = {**sock.tcp_info.fields(), "cong": sock.cong}
    return {
        "netid": sock.netid,
        "family": sock.family,
        "type": sock.type,
        "state": sock.state_name,
        "local": _end_dict(sock, sock.local),
        "peer": _end_dict(sock, sock.peer),
        "recv_q": sock.recv_q,
        "send_q": sock.send_q,
        "pid": sock.pid,
        "comm": sock.comm,
        "uid": sock.uid,
        "inode": sock.inode,
        "processes": [{"pid": p.pid, "comm": p.comm, "fd": p.fd} for p in sock.processes],
        "tcp_info": tcp_info,
    }


def json_lines(sockets: Iterable[Socket]) -> list[str]:
    from netdiag.render.jsonout import to_json

    return [to_json(socket_dict(s)) for s in sockets]


def summary(sockets: Sequence[Socket]) -> str:
    """Counts in the manner of ss -s: a total, the TCP states, the transports by IP
    version, then one row per Netid and state."""
    kinds = Counter((s.kind, s.family) for s in sockets)
    tcp = [s for s in sockets if s.kind == "tcp"]
    tcp_states = Counter(s.state_name for s in tcp)
    lines = [
        f"Total: {len(sockets)}",
        f"TCP:   {len(tcp)} (estab {tcp_states['ESTAB']}, closed {tcp_states['UNCONN']}, "
        f"timewait {tcp_states['TIME-WAIT']}, listen {tcp_states['LISTEN']})",
        "",
    ]
    rows: list[list[Any]] = []
    v4 = v6 = 0
    for kind in ("raw", "udp", "tcp"):
        k4, k6 = kinds[(kind, "inet")], kinds[(kind, "inet6")]
        rows.append([kind.upper(), k4 + k6, k4, k6])
        v4, v6 = v4 + k4, v6 + k6
    rows.append(["INET", v4 + v6, v4, v6])
    rows.append(["UNIX", sum(n for (k, _), n in kinds.items() if k == "unix"), "", ""])
    rows.append(["PACKET", sum(n for (k, _), n in kinds.items() if k == "packet"), "", ""])
    lines.append(tabulate(rows, headers=["Transport", "Total", "IP", "IPv6"], tablefmt="plain",
                          disable_numparse=False))  # fmt: skip
    lines.append("")
    by_state = Counter((s.netid, s.state_name) for s in sockets)
    detail = [[n, st, c] for (n, st), c in sorted(by_state.items())]
    lines.append(tabulate(detail, headers=["Netid", "State", "Count"], tablefmt="plain",
                          disable_numparse=False))  # fmt: skip
    return "\n".join(lines)
