"""exporter: ``netdiag exporter``, a Prometheus exporter for a fleet, on the many-target
engine (:mod:`netdiag.multi`) and mtr (:mod:`netdiag.trace.mtr`).

- ``config``: the TOML configuration, parsed and checked into frozen records (pure);
- ``collector``: the per-target state fed by the engine's events and mtr's reports,
  and the ``prometheus_client`` collector over it (pure);
- ``loop``: the engine threads, the path threads, applying a (re)loaded configuration;
- ``server``: /metrics and /probe over ``prometheus_client``'s WSGI app, the signals;
- ``cli``: the arguments.

``prometheus_client`` is this command's own dependency (``pip install 'netdiag[exporter]'``).
"""
