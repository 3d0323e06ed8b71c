"""The ``-v`` view: every layer of a packet and every field it decoded, as a tree.

Below the one-line summary, each layer is a line ``name: field value, ...``
indented by four spaces; its nested values (TCP and IP options, IPv6
extension headers, Neighbor Discovery options, an ICMP error's quoted datagram
and its RFC 4884 extensions with MPLS labels) are indented below it. A field
``checksum`` is shown in hex with the verdict of its ``checksum_ok`` beside it:
``[correct]``, ``[incorrect]`` or ``[unverified]`` (not judged: the segment
was not captured whole). EtherTypes and IP protocols are shown with their names.
The application layer (DNS, DHCP, NTP, HTTP...: ``inspect/apptext.py``) is the
last block, when a port names one.
"""

from __future__ import annotations

from netdiag.inspect.apptext import app_fields
from netdiag.inspect.names import ethertype_text, ipproto_name
from netdiag.packets.packet import Packet

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["tree_lines", "verdict"]

_INDENT = "    "
_VERDICTS = {True: "[correct]", False: "[incorrect]", None: "[unverified]"}
_HEX16 = frozenset(("checksum", "tpid"))
_ETHERTYPE_LAYERS = frozenset(("ethernet", "vlan", "sll", "sll2", "chdlc"))
_ITEM_NAMES = {"options": "option", "objects": "object", "ext": "extension header", "tlvs": "tlv"}


def verdict(ok: bool | None) -> str:
    return _VERDICTS.get(ok, "[unverified]")


def tree_lines(p: Packet, indent: str = _INDENT) -> list[str]:
    """The layers of ``p`` as indented lines (no summary line)."""
    out: list[str] = []
    for d in p.layer_fields():
        _block(out, d.pop("layer", "?"), d, indent)
    app = app_fields(p)  # the application layer, when a port names one (apptext.py)
    if app is not None:
        _block(out, app.pop("layer"), app, indent)
    if p.error is not None:
        out.append(f"{indent}[malformed: {p.error}]")
    return out


def _block(out: list[str], title: str, d: dict[str, Any], indent: str) -> None:
    """One line for ``title`` and the scalar fields of ``d``; nested values below."""
    flat: list[str] = []
    nested: list[tuple[str, Any]] = []
    has_verdict = "checksum_ok" in d
    for k, v in d.items():
        if k == "checksum_ok" and "checksum" in d:
            continue
        if isinstance(v, dict) or (isinstance(v, list | tuple) and v and _complex(v)):
            nested.append((k, v))
            continue
        flat.append(
            f"{k} {_value(title, k, v)}" if k != "checksum_ok" else f"checksum {verdict(v)}"
        )
        if k == "checksum" and has_verdict:
            flat[-1] += " " + verdict(d["checksum_ok"])
    out.append(f"{indent}{title}: {', '.join(flat)}" if flat else f"{indent}{title}:")
    sub = indent + _INDENT
    for k, v in nested:
        if isinstance(v, dict):
            _block(out, k, dict(v), sub)
        elif k == "quoted":
            out.append(f"{sub}quoted:")
            for q in v:
                if isinstance(q, dict):
                    q = dict(q)
                    _block(out, str(q.pop("layer", "?")), q, sub + _INDENT)
        else:
            out.append(f"{sub}{k}:")
            item = _ITEM_NAMES.get(k, k)
            for x in v:
                if isinstance(x, dict):
                    _block(
                        out,
                        str(x.get("name", item)),
                        {a: b for a, b in x.items() if a != "name"},
                        sub + _INDENT,
                    )
                else:
                    out.append(f"{sub}{_INDENT}{item}: {_value(title, k, x)}")


def _complex(v: list[Any] | tuple[Any, ...]) -> bool:
    return any(isinstance(x, dict | list) for x in v)


def _value(layer: str, key: str, v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if key in _HEX16:
            return f"0x{v:04x}"
        if (key == "type" and layer in _ETHERTYPE_LAYERS) or (
            key == "proto" and layer in ("gre", "geneve")  # tunnels name EtherTypes
        ):
            return ethertype_text(v)
        if key in ("proto", "nh") and layer in ("ipv4", "ipv6"):
            return f"{v} ({ipproto_name(v)})"
        if key == "tos":
            return f"0x{v:02x}"
        return str(v)
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(layer, key, x) for x in v) + "]"
    return str(v)
