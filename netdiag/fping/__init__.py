"""fping: ``netdiag fping``, fping 5.1's interface on the many-target engine (:mod:`netdiag.multi`).

- ``cli``: the arguments, the events printed as fping prints them, the exit status.
- ``render``: fping's line shapes (pure text); ``targets``: ``-f`` and ``-g``.
"""
