"""Estimates with intervals and the three-valued comparisons that claims' verdicts are made of."""

from __future__ import annotations

import math

import numpy as np
import pytest

from support.uncertainty import Estimate, above, all_of, any_of, below, paired_log_ratio, t975, within


def test_interval_over_samples_is_the_t_interval():
    e = Estimate.of_samples([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)                       # t_{0.975, 2} · s / √n with s = 1
    assert e.value == 2.0 and e.lo == pytest.approx(2 - half) and e.hi == pytest.approx(2 + half)
    assert "over 3 seeds" in e.describe() and str(e).startswith("2 [")
    same = Estimate.from_mean_std(2.0, 1.0, 3)
    assert (same.lo, same.hi) == pytest.approx((e.lo, e.hi))
    assert t975(1) == 12.706 and t975(1000) == 1.96


def test_t_interval_covers_the_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = sum(Estimate.of_samples(rng.normal(0.3, 1.0, 4)).lo <= 0.3 <= Estimate.of_samples(
        rng.normal(0.3, 1.0, 4)).hi for _ in range(1))          # smoke
    covered = 0
    for _ in range(2000):
        e = Estimate.of_samples(rng.normal(0.3, 1.0, 4))
        covered += e.lo <= 0.3 <= e.hi
    assert hits in (0, 1) and 0.93 < covered / 2000 < 0.97


def test_bootstrap_interval_of_a_mean_matches_the_normal_one():
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 2.0, 400)
    e = Estimate.bootstrap(x, np.mean, n_boot=800, seed=0, what="paths")
    se = x.std(ddof=1) / 20
    assert e.value == pytest.approx(x.mean())
    assert e.hi - e.lo == pytest.approx(2 * 1.96 * se, rel=0.15) and "over 400 paths" in e.how
    pair = Estimate.bootstrap((x, x + 1), lambda a, b: float(np.mean(b - a)), n_boot=50)
    assert pair.lo == pytest.approx(1.0) and pair.hi == pytest.approx(1.0)   # resampled together


def test_comparisons_are_three_valued():
    e = Estimate(1.0, 0.8, 1.2, "demo")
    assert above(e, 0.5) is True and above(e, 1.3) is False and above(e, 1.0) is None
    assert below(e, 1.5) is True and below(e, 0.7) is False and below(e, 1.1) is None
    assert within(e, 1.0, 0.3) is True and within(e, 2.0, 0.5) is False and within(e, 1.3, 0.2) is None
    assert all_of([True, None]) is None and all_of([True, False, None]) is False and all_of([True]) is True
    assert any_of([False, None]) is None and any_of([None, True]) is True and any_of([False]) is False


def test_paired_log_ratio_decides_only_when_seeds_agree():
    # the allen_cahn case of the referee: per-seed log-ratios +2.07, +2.32, -2.54 -> undecided
    a = np.exp([2.07, 2.32, -2.54])
    e = paired_log_ratio(a, np.ones(3))
    assert e.value == pytest.approx(0.617, abs=1e-3) and above(e, 0.0) is None
    assert above(paired_log_ratio(np.exp([2.0, 2.2, 2.1]), np.ones(3)), 0.0) is True


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least two"):
        Estimate.of_samples([1.0])
    with pytest.raises(ValueError, match="non-finite"):
        Estimate.of_samples([1.0, float("nan")])
    with pytest.raises(ValueError, match="lo <= value <= hi"):
        Estimate(1.0, 1.5, 2.0)
    with pytest.raises(ValueError, match="NaN"):
        Estimate(float("nan"), 0.0, 1.0)
    with pytest.raises(ValueError, match="tolerance"):
        within(Estimate(1, 0, 2), 1.0, -1.0)
    with pytest.raises(ValueError, match="positive"):
        paired_log_ratio([1.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="equal"):
        Estimate.bootstrap((np.ones(3), np.ones(4)), lambda a, b: 0.0)


def test_grouped_bootstrap_resamples_each_group_on_its_own():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 50), rng.normal(3, 1, 200)
    e = Estimate.bootstrap_groups((a, b), lambda x, y: y.mean() - x.mean(), n_boot=600, what="runs")
    se = math.sqrt(a.var(ddof=1) / 50 + b.var(ddof=1) / 200)
    assert e.value == pytest.approx(b.mean() - a.mean()) and "over 50 and 200 runs" in e.how
    assert e.hi - e.lo == pytest.approx(2 * 1.96 * se, rel=0.2)
    with pytest.raises(ValueError, match=">= 2 units"):
        Estimate.bootstrap_groups((a, b[:1]), lambda x, y: 0.0)


def test_replicates_and_worst_case():
    e = Estimate.from_replicates(1.0, [0.8, 0.9, 1.1, 1.2, float("nan")], "demo")
    assert e.lo == pytest.approx(np.percentile([0.8, 0.9, 1.1, 1.2], 2.5)) and e.how == "demo"
    assert Estimate.from_replicates(1.0, [float("nan")] * 3 + [1.0], "demo") is None
    assert Estimate.from_replicates(float("inf"), [1.0, 2.0], "demo") is None
    w = Estimate.worst_case([1.0, 2.0, 3.0], what="annuli")
    assert w.value == w.lo == 3.0 and w.hi == pytest.approx(2 + 4.303 * math.sqrt(4 / 3))
    assert below(w, 10.0) is True and below(w, 2.5) is False and below(w, 5.0) is None


def test_z_verdict_is_three_valued_and_refuses_nan():
    from support.uncertainty import z_rule, z_verdict
    assert z_verdict(2.9) is True and z_verdict(-4.0) is None and z_verdict(5.0) is False
    assert "3" in z_rule() and "5" in z_rule()
    with pytest.raises(ValueError, match="finite"):
        z_verdict(float("nan"))

