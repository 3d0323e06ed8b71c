"""What every job renders the same way: tables (``table``, over tabulate) and JSON
(``jsonout``). Each job renders its own results in its own package
(``netdiag.ping.render``, ``netdiag.trace.render``, ...); packets are rendered
by ``netdiag.inspect``. Nothing is imported here, so that a command loads only
the renderer it uses.
"""
