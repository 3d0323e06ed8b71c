"""tcpanalysis: tshark's TCP analysis of a capture, ``netdiag tcp analyze``.

- ``core``: the pure state machine, fed with header fields and capture
  timestamps; tshark's expert flags per segment. ``state``: what it keeps per
  direction and connection; ``flags``: the flag bits and their names.
- ``results``: the frozen per-connection and per-packet records.
- ``analyze``: the thin loop (read, decode, feed); ``PacketAnalyzer`` also
  serves ``read --tcp-analysis``.
- ``render``: the table, the flagged packets and the JSON; ``cli``: the command.
"""
