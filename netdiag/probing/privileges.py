"""Who may do what: CAP_NET_RAW checks, the "how to fix it" line, giving up root.

``has_net_raw()`` reads the effective capability set (``CapEff`` in
/proc/self/status, bit 13 = CAP_NET_RAW, linux/capability.h), so a process
given the capability with ``setcap cap_net_raw+ep`` counts as privileged for
``-f`` and ``-i`` below 0.2 s, as root does.

``drop_privileges()`` is called once the sockets are open and configured, as
iputils does: started through sudo (euid 0 and ``SUDO_UID`` set), we become the
invoking user; holding capabilities without being root (file capabilities), we
clear them all. A root shell that is not sudo keeps its identity: there is no
one to become.
"""

from __future__ import annotations

import os

from netdiag.errors import PrivilegeError

__all__ = ["has_net_raw", "drop_privileges", "capabilities", "CAP_NET_RAW"]

CAP_NET_RAW = 13
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capabilities(status_path: str = "/proc/self/status") -> int:
    """The effective capability set as an integer (0 when it cannot be read)."""
    try:
        with open(status_path) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def has_net_raw() -> bool:
    """Root, or CAP_NET_RAW in the effective set."""
    return os.geteuid() == 0 or bool(capabilities() >> CAP_NET_RAW & 1)


def _clear_capabilities() -> None:
    """capset(2) with every set empty. ctypes is loaded here, not at import: only a
    program running with file capabilities comes this way."""
    import ctypes

    class _CapHeader(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class _CapData(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()  # all zero
    if libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise PrivilegeError(f"cannot drop capabilities: {os.strerror(err)}")


def drop_privileges(environ: dict[str, str] | None = None) -> str:
    """Give up root (sudo) or capabilities; returns what was done ("" when nothing)."""
    env = os.environ if environ is None else environ
    if os.geteuid() == 0:
        uid, gid = env.get("SUDO_UID", ""), env.get("SUDO_GID", "")
        if not uid.isdigit() or int(uid) == 0:
            return ""
        try:
            os.setgroups([])
            os.setgid(int(gid) if gid.isdigit() else int(uid))
            os.setuid(int(uid))  # also clears every capability (no keep-caps)
        except OSError as exc:
            raise PrivilegeError(f"cannot give up root: {exc.strerror}") from None
        return f"uid {uid}"
    if capabilities():
        _clear_capabilities()
        return "capabilities"
    return ""
