"""The 2-D Ising experiment (paper 2 §2.3): its exact pieces, a tiny end-to-end run, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from support.claims import evaluate
from support.experiments import ising as isx
from support.experiments.config import apply_overrides
from support.systems.spins import domain_wall_density, ising, magnetisation, patch_origins

TINY = {"L": "16", "patch_sides": "[4, 8]", "small_runs": "6", "small_records": "5", "relax_window": "4",
        "n_upsampled": "60", "n_random": "60", "pairs_per_snapshot": "2", "closure.steps": "5",
        "closure.fit_lattices": "20", "sde.steps": "20", "test_m0": "[-0.5, 0.5]", "test_paths": "3",
        "test_records": "6", "stationary_from": "3", "equilibrium_lattices": "3", "equilibrium_time": "20"}


def tiny_config(**more: str) -> isx.Config:
    return apply_overrides(isx.Config.for_scale("quick"), {**TINY, **more})


def test_patch_moves_change_the_lattice_observables_by_exactly_one_Kth_of_the_partial_increment():
    """m and ρ_dw of the partial target: evolving one patch (frozen halo) and writing it back changes
    the whole lattice's m and ρ_dw by exactly 1/K of the patch increments the pairs use."""
    rng = np.random.default_rng(0)
    L, ell, B = 16, 4, 50
    K = (L // ell) ** 2
    x = isx.random_lattices(rng.uniform(-1, 1, B), L, rng)
    origins = patch_origins((L, L), ell, rng.integers(0, K, B))
    new, _ = ising.evolve_patches_for_time(x, origins, ell, 2.0, 2.5, 0.1, seed=1)
    before = isx.windows(x, origins, ell)
    after = before.copy()
    after[:, 1:-1, 1:-1] = new
    y = x.copy()
    for b, (r, c) in enumerate(origins):
        y[b, r:r + ell, c:c + ell] = new[b]
    d_rho = (isx.touching_walls(after) - isx.touching_walls(before)) / (2 * ell * ell)
    d_m = magnetisation(new) - magnetisation(before[:, 1:-1, 1:-1])
    assert np.abs(d_rho).max() > 0
    assert np.allclose(K * (domain_wall_density(y) - domain_wall_density(x)), d_rho, atol=1e-12)
    assert np.allclose(K * (magnetisation(y) - magnetisation(x)), d_m, atol=1e-12)
    # the patches' own bonds count every bond of the lattice once
    every = np.stack([isx.owned_walls(isx.windows(x[:1].repeat(K, 0), patch_origins((L, L), ell, np.arange(K)),
                                                  ell)).sum()])
    assert every[0] == round(domain_wall_density(x[0]) * 2 * L * L)


def test_patch_cnn_table_is_the_circular_convolution():
    torch.manual_seed(0)
    net = isx.PatchCNN(out_dim=3, channels=5)
    x = torch.randint(0, 2, (7, 1, 6, 6)).double() * 2 - 1
    h = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), net.conv.weight.double(), net.conv.bias.double())
    ref = net.head.double()(h.permute(0, 2, 3, 1)).mean(dim=(1, 2))
    assert torch.allclose(net.double()(x), ref, atol=1e-12)
    with pytest.raises(ValueError, match="PatchCNN expects"):
        net(x[:, 0])


def test_torch_observables_match_the_simulator_observables():
    rng = np.random.default_rng(2)
    x = isx.random_lattices(rng.uniform(-1, 1, 5), 12, rng)
    z = isx.observables(torch.from_numpy(x).double()[:, None]).numpy()
    assert np.allclose(z[:, 0], magnetisation(x)) and np.allclose(z[:, 1], domain_wall_density(x))


def test_replicate_and_local_relax():
    rng = np.random.default_rng(3)
    x = isx.random_lattices(rng.uniform(-1, 1, 4), 8, rng)
    big = ising.replicate(x, 2)
    assert big.shape == (4, 16, 16) and np.allclose(magnetisation(big), magnetisation(x))
    assert np.allclose(domain_wall_density(big), domain_wall_density(x) / 2)
    assert np.array_equal(ising.local_relax(big, 8, 0.0, 2.5, 0.1, seed=0), big)
    relaxed = ising.local_relax(big, 8, 1.0, 2.5, 0.1, seed=0)
    assert relaxed.shape == big.shape and relaxed.dtype == np.int8 and not np.array_equal(relaxed, big)
    assert np.array_equal(relaxed, ising.local_relax(big, 8, 1.0, 2.5, 0.1, seed=0))   # seeded
    assert ising.relax_origins((16, 16), 8, 4).shape == (16, 2)
    with pytest.raises(ValueError, match="divide"):
        ising.local_relax(big, 5, 1.0, 2.5, 0.1)


def test_direct_simulation_at_zero_field_has_onsagers_domain_wall_density():
    """From random starts (ρ_dw = 1/2), the 32×32 lattice at T = 2.5, h = 0 relaxes to Onsager's
    ρ_dw = 0.2235 (records every 2 time units; the first 50 time units are discarded)."""
    cfg = tiny_config(L="32", h="0.0", test_m0="[0.0]", test_paths="16", test_records="60",
                      stationary_from="25")
    x = isx.ground_truth(cfg, np.random.default_rng(0))
    rho = domain_wall_density(x[0, :, cfg.stationary_from:])
    se = rho.mean(axis=1).std(ddof=1) / np.sqrt(len(rho))
    assert x.shape == (1, 16, 61, 32, 32)
    assert abs(rho.mean() - ising.onsager_domain_wall_density(2.5)) < 3 * se + 0.002


def test_tiny_run_reads_every_claim():
    cfg = tiny_config()
    res = isx.run(cfg, progress=False)
    m = res.metrics
    assert [r["K"] for r in m["per_ell"]] == [16, 4]
    assert np.asarray(m["truth_mean"]).shape == (2, 7, 2) and len(m["time"]) == 7
    for r in m["per_ell"]:
        assert set(r["models"]) == {"ours", "naive", "ours_closure"}
        assert r["n_pairs"] == 2 * r["n_snapshots"] == 240
        assert np.asarray(r["models"]["ours"]["pred_mean"]).shape == (2, 7, 2)
        assert len(r["closure_explained"]) == cfg.closure.dim
    verdicts = evaluate(res, isx.CLAIMS)
    assert len(verdicts) == len(isx.CLAIMS) and all(v.holds is not None for v in verdicts)
    assert set(res.figures) == {"bands", "error_vs_patch"}


def test_no_closure_runs_the_observables_only():
    res = isx.run(tiny_config(**{"closure.dim": "0", "patch_sides": "[8]"}), progress=False)
    r = res.metrics["per_ell"][0]
    assert set(r["models"]) == {"ours", "naive"} and r["closure_explained"] == []
    assert next(v for v in evaluate(res, isx.CLAIMS) if v.claim.key == "closure_redundant").holds is None


@pytest.mark.parametrize("change, message", [
    ({"patch_sides": "[5]"}, "divide"), ({"patch_sides": "[16, 32]"}, "divide"),
    ({"stationary_from": "6"}, "stationary_from"), ({"closure.dim": "-1"}, "closure.dim"),
    ({"test_m0": "[1.5]"}, "initial magnetisations"), ({"L": "24", "patch_sides": "[8]"}, "power of two")])
def test_bad_input_is_refused_before_running(change, message):
    with pytest.raises(ValueError, match=message):
        isx.run(tiny_config(**change), progress=False)
