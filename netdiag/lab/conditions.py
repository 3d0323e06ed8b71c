"""What makes a lab a real network: ICMP rate limits, loss, delay, silent tails. Pure.

The plan (``netdiag.lab.plan``) says where the nodes and links are; this module
says how the links and nodes misbehave, as data (:class:`Conditions`) and as the
nft scripts, sysctls and ``ip`` lines that make them so. ``netdiag.lab.lab``
applies them; nothing here runs a process.

- **ICMP rate limits** (``--icmp-ratelimit MS|off``): by default every node
  keeps the kernel's own, as real routers do: ``net.ipv4.icmp_ratelimit`` 1000
  ms per token (a burst of 6 per peer) and ``net.ipv6.icmp.ratelimit`` 100 ms.
  ``MS`` sets both; ``off`` (0) lets every error out.
- **Loss** (``--loss K:PCT[:fwd|rev]``): an nft ``netdev`` ingress table on the
  receiving end of link K drops PCT% of the IP packets (``numgen random``);
  ARP, neighbour discovery and MLD always pass, so loss never becomes a broken
  link (and the counters count only the traffic a test makes).
  ``fwd`` is the direction away from src, ``rev`` toward it, and both by
  default. The table's two named counters, ``dropped`` and ``passed``, are the
  ground truth of what the link did.
- **Delay** (``--delay K:MS[/JITTER]``, K may be ``all``): this kernel has no
  netem, so a delayed link is cut in two and joined by a transparent relay in a
  namespace of its own (``nd-LAB-relay``; ``netdiag.lab.relay``), which sends
  every frame on after MS milliseconds (± JITTER, uniform, order kept).
- **Silent tail** (``--silent-tail NODE``): NODE drops the probes silently with
  nft: the destination drops what is addressed to it, a router what it would
  forward. A router still answers probes that expire at it (the TTL check comes
  before the forward hook), so the path goes quiet *after* it.
- **Blackhole** (``--blackhole K``): router K routes dst's link into a
  blackhole. The drop happens at the route lookup, before the TTL check, so
  router K is silent too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from netdiag.errors import UsageError
from netdiag.records import dataclass

__all__ = [
    "Conditions",
    "Loss",
    "Delay",
    "make_conditions",
    "parse_ratelimit",
    "parse_loss",
    "parse_delay",
    "ratelimit_sysctls",
    "loss_script",
    "silent_script",
    "LOSS_TABLE",
    "SILENT_TABLE_NFT",
    "KERNEL_RATELIMIT_V4",
    "KERNEL_RATELIMIT_V6",
    "MAX_DELAY_MS",
]

KERNEL_RATELIMIT_V4 = 1000  # ms per token, net.ipv4.icmp_ratelimit's default
KERNEL_RATELIMIT_V6 = 100  # ms, net.ipv6.icmp.ratelimit's default
MAX_DELAY_MS = 10_000.0
#: nft table names (per node); loss tables add the direction: nd_loss_fwd, nd_loss_rev
LOSS_TABLE = "nd_loss"
SILENT_TABLE_NFT = "nd_silent"
_SCALE = 10_000  # numgen modulus: loss in steps of 0.01 %
_DIRECTIONS = ("both", "fwd", "rev")
_NUM = r"[0-9]+(?:\.[0-9]*)?"


@dataclass(frozen=True)
class Loss:
    """PCT% of the IP packets crossing link ``link`` in ``direction`` are dropped."""

    link: int
    pct: float
    direction: str = "both"  # "fwd" (away from src), "rev" (toward src) or "both"

    @property
    def directions(self) -> tuple[str, ...]:
        return ("fwd", "rev") if self.direction == "both" else (self.direction,)

    def __str__(self) -> str:
        tail = "" if self.direction == "both" else f":{self.direction}"
        return f"{self.link}:{self.pct:g}{tail}"


@dataclass(frozen=True)
class Delay:
    """Frames crossing link ``link`` (both ways) wait ``ms`` ± ``jitter_ms``."""

    link: int
    ms: float
    jitter_ms: float = 0.0

    def __str__(self) -> str:
        tail = f"/{self.jitter_ms:g}" if self.jitter_ms else ""
        return f"{self.link}:{self.ms:g}{tail}"


@dataclass(frozen=True)
class Conditions:
    """Everything beyond the layout. ``icmp_ratelimit`` None: the kernel's defaults."""

    icmp_ratelimit: int | None = None
    loss: tuple[Loss, ...] = ()
    delay: tuple[Delay, ...] = ()
    silent_tail: str | None = None  # "dst" or "rK"
    blackhole: int | None = None  # router number

    def validate(
        self,
        routers: int,
        link_ids: Collection[int] | None = None,
        node_names: Collection[str] | None = None,
    ) -> None:
        """``link_ids`` and ``node_names``: those of a graph lab (default: the chain's)."""
        links = routers  # links 0..routers
        if self.icmp_ratelimit is not None and not 0 <= self.icmp_ratelimit <= 3_600_000:
            raise UsageError(f"--icmp-ratelimit {self.icmp_ratelimit}: use 0..3600000 ms or off")
        for loss in self.loss:
            if link_ids is not None and loss.link not in link_ids:
                raise UsageError(f"--loss {loss}: no link {loss.link} (name it NODE-NODE:PCT)")
            if link_ids is None and not 0 <= loss.link <= links:
                raise UsageError(f"--loss {loss}: the links are 0..{links}")
        seen = [(loss.link, d) for loss in self.loss for d in loss.directions]
        if len(seen) != len(set(seen)):
            raise UsageError("--loss: a link and direction given twice")
        delayed = [d.link for d in self.delay]
        for delay in self.delay:
            if not 0 <= delay.link <= links:
                raise UsageError(f"--delay {delay}: the links are 0..{links}")
        if len(delayed) != len(set(delayed)):
            raise UsageError("--delay: a link given twice")
        if self.silent_tail is not None and node_names is not None:
            if self.silent_tail not in node_names or self.silent_tail == "src":
                raise UsageError(f"--silent-tail {self.silent_tail}: no such router or dst")
        elif self.silent_tail is not None:
            ok = self.silent_tail == "dst" or (
                re.fullmatch(r"r[1-9][0-9]*", self.silent_tail) is not None
                and int(self.silent_tail[1:]) <= routers
            )
            if not ok:
                raise UsageError(f"--silent-tail {self.silent_tail}: name dst or a router "
                                 f"r1..r{routers}")  # fmt: skip
        if self.blackhole is not None and not 1 <= self.blackhole <= routers:
            raise UsageError(f"--blackhole {self.blackhole}: must name a router 1..{routers}")

    @property
    def delayed_links(self) -> dict[int, Delay]:
        return {d.link: d for d in self.delay}

    def describe(self) -> list[str]:
        """One line per condition, as ``lab show`` lists them."""
        rl = self.icmp_ratelimit
        if rl is None:
            lines = [f"icmp-ratelimit: kernel default ({KERNEL_RATELIMIT_V4} ms per token, "
                     f"burst 6; IPv6 {KERNEL_RATELIMIT_V6} ms)"]  # fmt: skip
        elif rl == 0:
            lines = ["icmp-ratelimit: off"]
        else:
            lines = [f"icmp-ratelimit: {rl} ms (IPv4 and IPv6)"]
        lines += [f"loss: link {x.link} {x.pct:g}% {x.direction}" for x in self.loss]
        for d in self.delay:
            jitter = f" ±{d.jitter_ms:g} ms" if d.jitter_ms else ""
            lines.append(f"delay: link {d.link} {d.ms:g} ms{jitter} one way")
        if self.silent_tail is not None:
            lines.append(f"silent tail: {self.silent_tail} drops the probes silently")
        if self.blackhole is not None:
            lines.append(f"blackhole: r{self.blackhole} routes dst's link into a blackhole")
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "icmp_ratelimit": self.icmp_ratelimit,
            "loss": [[x.link, x.pct, x.direction] for x in self.loss],
            "delay": [[d.link, d.ms, d.jitter_ms] for d in self.delay],
            "silent_tail": self.silent_tail,
            "blackhole": self.blackhole,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Conditions:
        def rows(key: str) -> list[list[object]]:
            value = data.get(key) or []
            assert isinstance(value, list)
            return value

        rl = data.get("icmp_ratelimit")
        bh = data.get("blackhole")
        tail = data.get("silent_tail")
        return cls(
            icmp_ratelimit=int(rl) if isinstance(rl, int) else None,
            loss=tuple(Loss(int(str(k)), float(str(p)), str(d)) for k, p, d in rows("loss")),
            delay=tuple(
                Delay(int(str(k)), float(str(m)), float(str(j))) for k, m, j in rows("delay")
            ),  # fmt: skip
            silent_tail=str(tail) if tail is not None else None,
            blackhole=int(bh) if isinstance(bh, int) else None,
        )


# --------------------------------------------------------------------------- parsing


def make_conditions(
    routers: int,
    icmp_ratelimit: int | str | None = None,
    loss: Iterable[Loss | str] = (),
    delay: Iterable[Delay | str] = (),
    silent_tail: str | None = None,
    blackhole: int | None = None,
    link_ids: Collection[int] | None = None,
    node_names: Collection[str] | None = None,
) -> Conditions:
    """Conditions from friendly values: ``icmp_ratelimit`` ms, "off", "default" or None
    (the kernel's); loss as ``Loss`` or "K:PCT[:fwd|rev]"; delay as ``Delay`` or
    "K:MS[/JITTER]" (K may be "all")."""
    if isinstance(icmp_ratelimit, str):
        icmp_ratelimit = parse_ratelimit(icmp_ratelimit)
    losses = tuple(x if isinstance(x, Loss) else parse_loss(x) for x in loss)
    delays: list[Delay] = []
    for d in delay:
        delays.extend([d] if isinstance(d, Delay) else parse_delay(d, routers))
    found = Conditions(icmp_ratelimit, losses, tuple(delays), silent_tail, blackhole)
    found.validate(routers, link_ids, node_names)
    return found


def parse_ratelimit(text: str) -> int | None:
    """``MS`` -> MS, ``off`` -> 0, ``default`` -> None (the kernel's)."""
    if text == "off":
        return 0
    if text == "default":
        return None
    if not text.isdigit():
        raise UsageError(f"--icmp-ratelimit {text!r}: expected milliseconds, off or default")
    return int(text)


def parse_loss(text: str) -> Loss:
    """``K:PCT[:fwd|rev|both]``"""
    m = re.fullmatch(rf"([0-9]+):({_NUM})%?(?::(fwd|rev|both))?", text)
    if m is None:
        raise UsageError(f"--loss {text!r}: expected LINK:PCT[:fwd|rev], e.g. 3:20")
    pct = float(m.group(2))
    if not 0 < pct <= 100:
        raise UsageError(f"--loss {text!r}: the percentage must be above 0 and at most 100")
    return Loss(int(m.group(1)), pct, m.group(3) or "both")


def parse_delay(text: str, routers: int | None = None) -> list[Delay]:
    """``K:MS[/JITTER]``; K ``all`` means every link 0..routers."""
    m = re.fullmatch(rf"([0-9]+|all):({_NUM})(?:/({_NUM}))?", text)
    if m is None:
        raise UsageError(f"--delay {text!r}: expected LINK:MS[/JITTER], e.g. 2:5/0.5")
    ms, jitter = float(m.group(2)), float(m.group(3) or 0)
    if not 0 < ms <= MAX_DELAY_MS:
        raise UsageError(f"--delay {text!r}: the delay must be above 0 and at most "
                         f"{MAX_DELAY_MS:g} ms")  # fmt: skip
    if jitter > ms:
        raise UsageError(f"--delay {text!r}: the jitter cannot exceed the delay")
    if m.group(1) == "all":
        if routers is None:
            raise UsageError(f"--delay {text!r}: 'all' needs the number of routers")
        return [Delay(k, ms, jitter) for k in range(routers + 1)]
    return [Delay(int(m.group(1)), ms, jitter)]


# --------------------------------------------------------------------------- applying


def ratelimit_sysctls(value: int | None) -> dict[str, str]:
    """Per-peer limits; ``off`` (0) also lifts the namespace-wide ICMP budget
    (``icmp_msgs_per_sec`` 1000 with a burst of 50, IPv4 and IPv6 together), which a
    burst of flows through a diamond would otherwise exceed at the destination."""
    v4 = KERNEL_RATELIMIT_V4 if value is None else value
    v6 = KERNEL_RATELIMIT_V6 if value is None else value
    out = {"net/ipv4/icmp_ratelimit": str(v4), "net/ipv6/icmp/ratelimit": str(v6)}
    if value == 0:
        out["net/ipv4/icmp_msgs_per_sec"] = "1000000"
        out["net/ipv4/icmp_msgs_burst"] = "100000"
    return out


_KEEP_NEIGHBOURS = (
    "meta protocol != { ip, ip6 } accept",
    # MLD (130-132, 143) and neighbour discovery (133-137)
    "icmpv6 type { 130, 131, 132, 133, 134, 135, 136, 137, 143 } accept",
)


def loss_script(direction: str, device: str, pct: float) -> str:
    """nft script: a netdev table dropping ``pct``% of the IP packets arriving on ``device``."""
    threshold = round(pct * _SCALE / 100)
    lines = [
        f"table netdev {LOSS_TABLE}_{direction} {{",
        "  counter dropped { }",
        "  counter passed { }",
        "  chain ingress {",
        f'    type filter hook ingress device "{device}" priority 0; policy accept;',
        *(f"    {rule}" for rule in _KEEP_NEIGHBOURS),
        # 100 %: every packet (numgen's values stop at _SCALE - 1, nft refuses "< _SCALE")
        (f"    numgen random mod {_SCALE} < {threshold} " if threshold < _SCALE else "    ")
        + 'counter name "dropped" drop',
        '    counter name "passed"',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def loss_placement(loss: Loss, chain: Sequence[str]) -> list[tuple[str, str, str]]:
    """(node, device, direction) of each table of ``loss``: the receiving end of the link."""
    left, right = chain[loss.link], chain[loss.link + 1]
    out = []
    for d in loss.directions:
        if d == "fwd":
            out.append((right, "eth0", d))
        else:
            out.append((left, "eth0" if left == "src" else "eth1", d))
    return out


def silent_script(router: bool) -> str:
    """nft script: drop the probes silently (a router: what it would forward; a host: what
    it receives), neighbour discovery kept."""
    hook = "forward" if router else "input"
    keep = "" if router else f"    {_KEEP_NEIGHBOURS[1]}\n"
    return (f"table inet {SILENT_TABLE_NFT} {{\n  counter dropped {{ }}\n  chain {hook} {{\n"
            f"    type filter hook {hook} priority 0; policy accept;\n{keep}"
            f'    counter name "dropped" drop\n  }}\n}}\n')  # fmt: skip
