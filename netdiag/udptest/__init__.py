"""udptest: a UDP stream test (loss, duplicates, reordering, jitter), iperf3's job.

- ``cli``: ``netdiag udp send|recv|analyze`` and ``netdiag impair``.
- ``send`` and ``recv``: the sender's and the receiver's socket loops.
- ``analyze``: the same metrics for UDP test flows found in a capture.
- ``wire``: the test datagram's header, in one place; ``report``: the stable
  JSON object of one stream, which the receiver also sends back to the sender.
- ``impair``: a UDP relay that drops, duplicates, reorders and delays.
- ``render``: reports as tables and text lines.

The statistics themselves are pure and shared: ``netdiag.metrics.udpmetrics``.
"""
