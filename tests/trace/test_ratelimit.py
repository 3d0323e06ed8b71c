"""Loss against ICMP rate limiting, without sockets: the bucket model, the pacer, path loss.

The reference is the kernel's own rule, re-stated here from net/ipv4/icmp.c and
net/ipv4/inetpeer.c (``inet_peer_xrlim_allow``): credit in jiffies grows with
the time since the last ICMP error, is capped at ``XRLIM_BURST_FACTOR`` (6)
timeouts, and one timeout is spent per error sent; a new peer starts full.
``kernel_bucket`` below answers probes by that rule at HZ=250, with a one-way
delay, so the model meets the kernel's rounding, not its own.
"""

from __future__ import annotations

import math
import random

import pytest

from netdiag.trace.ratelimit import BURST, BucketModel, Pacer, default_period, path_loss

HZ = 250


def kernel_bucket(times: list[float], timeout_ms: int = 1000, start_full: bool = True,
                  delay: float = 0.0003) -> list[bool]:  # fmt: skip
    """Which of the probes sent at ``times`` (s) a Linux node answers."""
    timeout = timeout_ms * HZ // 1000
    token = BURST * timeout if start_full else 0
    last = None
    out = []
    for t in times:
        now = int((t + delay) * HZ)
        if last is not None:
            token = min(BURST * timeout, token + now - last)
        last = now
        if token >= timeout:
            token -= timeout
            out.append(True)
        else:
            out.append(False)
    return out


@pytest.mark.parametrize("interval", [0.05, 0.2, 0.5])
@pytest.mark.parametrize("start_full", [True, False])
def test_the_model_explains_every_miss_of_a_kernel_bucket(interval, start_full):
    times = [i * interval for i in range(200)]
    answers = kernel_bucket(times, start_full=start_full)
    misses = answers.count(False)
    assert misses > 0  # the bucket did limit
    model = BucketModel(default_period(4))
    for t, ok in zip(times, answers, strict=True):
        model.observe(t, ok)
    assert model.explained == misses


def test_misses_a_full_bucket_cannot_explain_are_left_as_loss():
    rng = random.Random(7)
    times = [i * 1.0 for i in range(200)]  # one a second: the bucket never runs dry
    lost = [rng.random() < 0.2 for _ in times]
    model = BucketModel(default_period(4))
    for t, gone in zip(times, lost, strict=True):
        model.observe(t, not gone)
    assert model.explained == 0
    # At 5 a second on top of the bucket, the probes that had a token measure the loss
    # (the rest say nothing about it): 20% in a 99% interval of their number.
    times = [i * 0.2 for i in range(400)]
    answers = [ok and not (rng.random() < 0.2) for ok in kernel_bucket(times)]
    model = BucketModel(default_period(4))
    for t, ok in zip(times, answers, strict=True):
        model.observe(t, ok)
    usable = len(times) - model.explained
    rate = (answers.count(False) - model.explained) / usable
    assert 60 <= usable <= 120  # the burst, then about one a second
    assert abs(rate - 0.2) <= 2.576 * (0.2 * 0.8 / usable) ** 0.5


def test_the_pacer_spends_the_burst_then_one_probe_per_period():
    pacer = Pacer(1.0)
    taken = []
    for t in range(50):  # -i 0.2 for 10 s; every try over budget goes unanswered
        if pacer.take(t / 5):
            taken.append(t / 5)
            tried = pacer._trying
            pacer.outcome(t / 5, False)
            pacer._next_try = math.inf if tried else pacer._next_try  # one try only
    tries = 1
    assert len(taken) == 6 + 9 + tries  # the burst, then one a second after it
    paced = [t for t in taken if t != 1.2]  # the try, the round after the burst
    assert kernel_bucket(paced, delay=0.0) == [True] * len(paced)  # never drains the node
    pacer.slow_down(10.0)
    assert pacer.period == 2.0 and not pacer.take(10.2)  # no try before 4 s have passed


def test_a_rate_limited_router_before_a_clean_path_is_unanswered_not_lost():
    # mtr's classic: 55% at a router, 0% at every hop after it
    got = path_loss([(20, 0, 0), (20, 11, 0), (20, 0, 0), (20, 0, 0)])
    assert [p.loss_pct for p in got] == [0.0] * 4
    assert got[1].unanswered_pct == pytest.approx(55.0) and got[1].rate_limited
    assert not any(p.rate_limited for i, p in enumerate(got) if i != 1)


def test_a_silent_router_is_all_unanswered_and_not_rate_limited():
    got = path_loss([(10, 0, 0), (10, 10, 0), (10, 0, 0)])
    assert [(p.loss_pct, p.unanswered_pct, p.rate_limited) for p in got] == [
        (0.0, 0.0, False), (0.0, 100.0, False), (0.0, 0.0, False)]  # fmt: skip


def test_loss_on_a_link_shows_at_every_hop_beyond_it_and_pools_their_evidence():
    # link 2 loses 20%: hops 3.. see it; a hop's own low count is pooled with the next
    hops = [(40, 0, 0), (40, 1, 0), (40, 6, 0), (40, 10, 0), (200, 40, 0)]
    got = path_loss(hops)
    assert got[0].loss_pct == 0.0
    assert got[1].loss_pct == pytest.approx(2.5)
    # 25% then the destination's 20%: no hop loses more than the hops after it
    assert round(got[2].loss_pct, 2) == 15.0
    assert round(got[3].loss_pct, 2) == round(got[4].loss_pct, 2) == 20.0
    hops[3] = (40, 8, 0)  # 15%, 20%, 20% do not decrease: each keeps its own
    assert [round(p.loss_pct, 1) for p in path_loss(hops)[2:]] == [15.0, 20.0, 20.0]


def test_the_destinations_explained_misses_are_not_loss():
    # -U at -i 0.2: the destination's port unreachables follow its bucket
    got = path_loss([(9, 0, 0), (9, 0, 0), (20, 11, 11)])
    assert got[2].loss_pct == 0.0 and got[2].rate_limited
    assert got[2].unanswered_pct == pytest.approx(55.0)


def test_a_hop_without_a_limit_is_soon_probed_every_round():
    pacer = Pacer(1.0)
    probed = 0
    for r in range(40):  # -i 0.05, and the hop answers everything
        if pacer.take(r * 0.05):
            probed += 1
            pacer.outcome(r * 0.05, True)
    assert pacer.period < 0.05 and probed >= 35  # faster than the rounds: every round


def test_an_unanswered_try_over_budget_waits_before_the_next():
    pacer = Pacer(1.0)
    times = [r * 0.2 for r in range(60)]
    answers = iter(kernel_bucket(times))
    tries = 0
    for t in times:
        ok = next(answers)
        if pacer.take(t):
            tries += pacer._trying
            pacer.outcome(t, ok)
    assert pacer.period >= 0.5 and tries <= 8  # it learns the bucket, not a flood


def test_past_the_last_answer_everything_is_lost():
    # the destination drops the probes: the silent tail is all loss, the routers none
    got = path_loss([(10, 0, 0), (10, 0, 0), (10, 10, 2), (10, 10, 0)])
    assert [p.loss_pct for p in got] == [0.0, 0.0, 100.0, 100.0]
    assert [p.unanswered_pct for p in got] == [0.0] * 4
    # and a silent router's bucket model never makes it a source of loss
    got = path_loss([(3, 0, 0), (3, 3, 2), (3, 0, 0), (3, 0, 0)])
    assert [p.loss_pct for p in got] == [0.0] * 4 and got[1].unanswered_pct == 100.0


def test_ill_sampled_rate_limited_routers_do_not_make_the_destination_lose():
    # 8 routers probed 6 times each, 2 of 3 unexplained misses each (their buckets were
    # left short by another tool), the destination 1 miss in 20: the fit must not pool
    # the routers' misses into the path (it once showed 30.8% at every hop).
    hops = [(6, 4, 3)] * 8 + [(20, 1, 0)]
    got = path_loss(hops)
    assert max(p.loss_pct for p in got) <= 5.0
    assert got[-1].loss_pct == 5.0
