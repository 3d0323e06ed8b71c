"""sockets: every socket on the host, like ``ss``, over sock_diag netlink.

- ``cli``: the ``netdiag sockets`` arguments (ss's letters) and output.
- ``dump``: asks the kernel (netlink, with /proc/net as the fallback) and
  builds the ``Socket`` records; ``procnet``: the /proc/net parsers.
- ``model``: the records, the selection (families, states, filters) and its
  parsing, pure.
- ``render``: the ss-style table, the summary and JSON.

The netlink codec itself is shared and pure: ``netdiag.netlink``.
"""
