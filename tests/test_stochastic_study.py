"""The shared stochastic study (pairs → SDE → rollouts → errors) and the Curie–Weiss experiment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from support.claims import evaluate
from support.experiments import curie_weiss as cwx
from support.experiments.config import apply_overrides
from support.stochastic.study import (SDESettings, fit_sde, mean_trajectory_error, pairs_from_patches,
                                      rollouts, std_ratio)
from support.systems.spins import curie_weiss as cw
from support.systems.spins import magnetisation, patch_origins


def test_pairs_hold_the_partial_and_naive_targets():
    pairs = pairs_from_patches([0.1, 0.2], [0.0, 0.5], [0.3, 0.4], 0.5, n_patches=4)
    p, n = pairs["partial"], pairs["naive"]
    assert torch.allclose(p.z1[:, 0], torch.tensor([0.4, 0.1], dtype=torch.float64))
    assert torch.allclose(n.z1[:, 0], torch.tensor([0.3, 0.4], dtype=torch.float64))
    assert p.default_lambda == 4.0 and n.default_lambda == 1.0 and torch.all(p.dt == 0.5)
    with pytest.raises(ValueError, match="one shape"):
        pairs_from_patches([0.1, 0.2], [0.0], [0.3, 0.4], 0.5, 4)
    with pytest.raises(ValueError, match="empty"):
        pairs_from_patches([], [], [], 0.5, 4)
    with pytest.raises(ValueError, match="positive"):
        pairs_from_patches([0.1], [0.0], [0.3], -1.0, 4)
    with pytest.raises(ValueError, match="non-finite"):
        pairs_from_patches([np.nan], [0.0], [0.3], 1.0, 4)


def test_trajectory_metrics():
    true = np.ones((3, 5, 1))
    assert mean_trajectory_error(true * 1.1, true) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="zero"):
        mean_trajectory_error(true, 0 * true)
    with pytest.raises(ValueError, match="paths, time, d"):
        mean_trajectory_error(true[:, :4], true)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 4000, 10, 3))
    assert std_ratio(2 * a, a, from_step=5) == pytest.approx([2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match="paths, time, d"):
        std_ratio(a[..., :2], a)


def test_partial_increment_has_the_full_mean_and_K_times_its_variance():
    """The reason for λ = K, measured on the exact simulator: from one state of 16×16 Curie–Weiss
    spins, the increment of a random 4×4 patch's magnetisation over δt in the frozen field (the
    partial target's increment) has the mean of the full system's increment of m and K = 16 times
    its variance."""
    rng = np.random.default_rng(1)
    L, ell, dt, B, T, h = 16, 4, 0.05, 6000, 1.1, 0.1
    K = (L // ell) ** 2
    x = np.repeat(cw.lattices_with_magnetisation([0.2], L, rng), B, axis=0)
    full, _ = cw.run_for_time(x, dt, T, h, seed=2)
    d_full = magnetisation(full) - magnetisation(x)
    origins = patch_origins((L, L), ell, rng.integers(0, K, B))
    after, _ = cw.evolve_patches_for_time(x, origins, ell, dt, T, h, seed=3, field="global")
    rows, cols = origins[:, 0, None] + np.arange(ell), origins[:, 1, None] + np.arange(ell)
    before = x[np.arange(B)[:, None, None], rows[:, :, None], cols[:, None, :]]
    d_part = magnetisation(after) - magnetisation(before)
    se = np.sqrt(d_part.var() / B + d_full.var() / B)
    assert abs(d_part.mean() - d_full.mean()) < 4 * se
    assert d_part.var() / d_full.var() == pytest.approx(K, rel=0.12)


def test_exchangeable_upsampling_keeps_m_and_randomises_positions():
    rng = np.random.default_rng(0)
    small = cw.lattices_with_magnetisation([0.5, -0.25, 1.0], 8, rng)
    big = cw.upsample(small, 4, rng)
    assert big.shape == (3, 32, 32) and np.allclose(magnetisation(big), [0.5, -0.25, 1.0])
    blocks = big[0].reshape(8, 4, 8, 4).transpose(0, 2, 1, 3).reshape(64, 16)
    assert not np.all(np.abs(blocks.sum(axis=1)) == 16)             # not left as constant blocks
    with pytest.raises(ValueError, match="m must"):
        cw.lattices_with_magnetisation([1.5], 8, rng)


def test_sde_fit_recovers_an_ornstein_uhlenbeck_process():
    rng = np.random.default_rng(0)
    z0 = rng.uniform(-2, 2, 20000)
    dt, a, s = 0.05, 1.0, 0.5
    z1 = z0 - a * z0 * dt + s * np.sqrt(dt) * rng.normal(size=z0.shape)
    pairs = pairs_from_patches(z0, z0, z1, dt, n_patches=1)["partial"]
    model = fit_sde(pairs, 1.0, SDESettings(steps=1500, hidden=(16,)), seed=0)
    z = torch.tensor([[-1.0], [0.0], [1.0]], dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model.drift(z)[:, 0], torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), atol=0.15)
        assert torch.allclose(model.diffusion_matrix(z)[:, 0, 0], torch.full((3,), s * s, dtype=torch.float64),
                              rtol=0.15)
    starts = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat_interleave(8)
    paths = rollouts(model, starts, dt, 10, seed=0, record_every=5)
    assert paths.shape == (16, 3, 1) and torch.allclose(paths[:, 0, 0], starts)
    again = rollouts(model, starts, dt, 10, seed=0, record_every=5)
    assert torch.equal(paths, again)                                      # seeded: common random numbers


def test_curie_weiss_tiny_run_reads_every_claim():
    cfg = apply_overrides(cwx.Config.for_scale("quick"), {
        "L": "16", "patch_sides": "[4, 16]", "small_runs": "10", "small_records": "10", "n_upsampled": "300",
        "n_random": "300", "sde.steps": "50", "test_paths": "4", "test_records": "12", "stationary_from": "4"})
    res = cwx.run(cfg, progress=False)
    assert [r["K"] for r in res.metrics["per_ell"]] == [16, 1]
    k1 = res.metrics["per_ell"][1]["models"]               # K = 1: both targets are the same pairs
    assert k1["ours"]["error"] == pytest.approx(k1["naive"]["error"])
    verdicts = evaluate(res, cwx.CLAIMS)
    assert len(verdicts) == len(cwx.CLAIMS) and all(v.holds is not None for v in verdicts)
    assert set(res.figures) == {"coefficients", "bands", "error_vs_patch"}
    with pytest.raises(ValueError, match="divide"):
        cwx.run(apply_overrides(cfg, {"patch_sides": "[5]"}), progress=False)
