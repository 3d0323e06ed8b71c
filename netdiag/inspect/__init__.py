"""inspect: packets read from files and interfaces, shown tcpdump's way.

- ``readcli``, ``sniffcli``, ``filtercli``: ``netdiag read``, ``sniff`` and ``filter``.
- ``text``: one line per packet in the shape of ``tcpdump -n``; ``words``: what
  tcpdump prints for one header's own fields; ``names``: the words printed for
  protocol numbers, in one place.
- ``tree``: the ``-v`` per-layer tree; ``hexdump``: ``-x``; ``packetjson``: JSON
  Lines; ``stats``: ``--stats`` tables.

Capture files, the AF_PACKET ring and the filter compiler are shared layers
(``netdiag.capture``); the codecs are ``netdiag.packets``.
"""
