"""lab: a chain of network namespaces (src, r1..rN, dst) for tests, demos and users.

- ``cli``: ``netdiag lab up|down|show|exec``.
- ``plan``: the pure plan of a lab (nodes, links, addresses) from its options.
- ``lab``: ``Lab``, which builds a plan with ``ip`` and sysctls, shows and
  removes it; ``netns``: the namespace plumbing under it.
- ``render``: the table of nodes, interfaces and addresses.
"""
