"""Names and addresses as the probes print them.

``resolve`` is what ping, traceroute and mtr do with their target: one
``getaddrinfo`` call, the first answer, the address in its compressed text form.
``is_address`` tells an address literal from a name (or an interface name).
Both use ``inet_pton``/``inet_ntop`` rather than :mod:`ipaddress`, which would
cost every command a few milliseconds of start-up.
"""

from __future__ import annotations

import socket

from netdiag.errors import UsageError

__all__ = ["resolve", "is_address", "compressed"]

_FAMILIES = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}


def compressed(address: str) -> str:
    """An IPv6 address text in its compressed form (a zone ``%eth0`` is dropped);
    IPv4 text is returned as it is."""
    if ":" not in address:
        return address
    plain = address.partition("%")[0]
    return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, plain))


def is_address(text: str) -> bool:
    """Is ``text`` an IPv4 or IPv6 address literal (an IPv6 one may carry a ``%zone``)?"""
    if ":" in text:
        text = text.partition("%")[0]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        return True
    return False


def _literal(target: str) -> tuple[int, str] | None:
    for version, af in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            return version, socket.inet_ntop(af, socket.inet_pton(af, target))
        except (OSError, ValueError):
            continue
    return None


def resolve(target: str, family: int | None = None) -> tuple[int, str]:
    """``target`` (address or name) -> (4 or 6, address text as ping prints it).

    An address literal of the family asked for is answered without ``getaddrinfo``
    (which would load the IDNA codec and ask the resolver's configuration first)."""
    literal = _literal(target)
    if literal is not None and family in (None, literal[0]):
        return literal
    try:
        infos = socket.getaddrinfo(target, None, _FAMILIES[family], socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UsageError(f"{target}: {exc.strerror}") from None
    except (UnicodeError, ValueError) as exc:  # a label too long, an embedded NUL
        raise UsageError(f"{target}: {exc}") from None
    fam, _t, _p, _c, sockaddr = infos[0]
    address = str(sockaddr[0])
    if fam == socket.AF_INET6:
        return 6, compressed(address)
    return 4, address
