"""What several probes share, below the job packages: dropping privileges once
the sockets are open (``privileges``), the classic BPF programs that keep only
a probe's own replies (``sockfilter``), and name resolution (``resolve``).

Imports nothing from the job packages (ping, trace, udptest, ...), and loads
nothing when imported: each user imports the module it needs.
"""
