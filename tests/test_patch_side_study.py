"""The shared call of paper 2's lattice studies (support.stochastic.patch_side_study) on a toy lattice:
it calls the hooks in the order of the method, hands the patch side's own generator to the snapshot
and pair hooks only, seeds the fits, counts the cost per stage, and refuses bad input with a clear error.
(The Ising and Curie–Weiss chapters run through it: their tiny runs are tests/test_snapshots.py's.)"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from support.stochastic.patch_side_study import (PatchSide, PatchSideSteps, Rollout, patch_side_study,
                                                 patch_sides_study)
from support.stochastic.pipeline import EnsembleScore, PatchSideResult, partial_and_naive
from support.stochastic.study import SDESettings, mean_trajectory_error, pairs_from_patches


@dataclass
class ToyConfig:
    L: int = 8
    dt: float = 0.1
    test_records: int = 4
    substeps: int = 2
    sde: SDESettings = SDESettings(hidden=(4,), steps=3, batch_size=8)

    def n_patches(self, ell: int) -> int:
        if ell < 2 or self.L % ell:
            raise ValueError(f"patch side {ell} must divide L = {self.L}")
        return (self.L // ell) ** 2


class Toy(PatchSideSteps):
    """A ±1 lattice whose patch magnetisations take Gaussian steps; every hook logs its call."""

    stages = ("small_system", "partial_evolution")

    def __init__(self, cfg: ToyConfig | None = None, pairs_override=None, truth_records: int | None = None):
        self.cfg = cfg or ToyConfig()
        self.calls: list[tuple] = []
        self.rngs: list[np.random.Generator] = []
        self.draws: dict[str, np.ndarray] = {}
        self.pairs_override = pairs_override
        self.truth_records = truth_records

    def snapshots(self, ell, rng, budgets):
        self.calls.append(("snapshots", ell))
        self.rngs.append(rng)
        self.draws["snapshots"] = rng.random(3)
        budgets["small_system"].charge(100)
        return rng.choice(np.array([-1, 1], dtype=np.int8), size=(24, self.cfg.L, self.cfg.L))

    def closure(self, ell, snapshots, seed):
        self.calls.append(("closure", ell, seed))
        return {"z": snapshots.mean(axis=(1, 2))}

    def pairs(self, ell, snapshots, closure, rng, budgets):
        self.calls.append(("pairs", ell, sorted(closure)))
        self.rngs.append(rng)
        self.draws["pairs"] = rng.random(3)
        budgets["partial_evolution"].charge(7)
        if self.pairs_override is not None:
            return self.pairs_override(self.cfg.n_patches(ell))
        z0 = closure["z"]
        before = z0 + 0.1 * rng.standard_normal(len(z0))
        after = before + 0.05 * rng.standard_normal(len(z0))
        return pairs_from_patches(z0, before, after, self.cfg.dt, self.cfg.n_patches(ell))

    def inspect_pairs(self, ell, pairs):
        self.calls.append(("inspect_pairs", ell, sorted(pairs)))
        return {"n": len(pairs["partial"])}

    def test(self, ell, closure):
        self.calls.append(("test", ell))
        records = self.cfg.test_records + 1 if self.truth_records is None else self.truth_records
        starts = np.full((2, 3, 1), 0.5)
        return starts, np.full((2, 3, records, 1), 0.5)

    def models(self, K):
        self.calls.append(("models", K))
        return partial_and_naive(K)

    def score(self, ens, side):
        self.calls.append(("score", ens.spec.name, type(side).__name__, side.pair_stats["n"]))
        errors = [mean_trajectory_error(p, t) for p, t in zip(ens.paths, side.truth)]
        return EnsembleScore(ens.spec.lam, float(np.mean(errors)), errors, ens.paths.mean(axis=1),
                             ens.paths.std(axis=1, ddof=1), {"paths": ens.paths.shape[1]})

    def extra(self, side: PatchSide):
        self.calls.append(("extra", side.ell, sorted(side.seconds)))
        return {"toy": side.K}


def test_the_hooks_run_in_the_order_of_the_method_with_the_sides_own_generator():
    toy = Toy()
    r = patch_side_study(toy, 4, seed=3)
    assert [c[0] for c in toy.calls] == ["snapshots", "closure", "pairs", "inspect_pairs", "test", "models",
                                         "score", "score", "extra"]
    assert toy.calls[1] == ("closure", 4, 3) and toy.calls[2] == ("pairs", 4, ["z"])
    assert toy.calls[6] == ("score", "ours", "PatchSide", 24) and toy.calls[7][1] == "naive"
    assert toy.calls[8] == ("extra", 4, ["closure", "pairs", "snapshots"])
    # one generator, default_rng([seed, ℓ]), consumed by the snapshots and then by the pairs
    assert toy.rngs[0] is toy.rngs[1]
    ref = np.random.default_rng([3, 4])
    assert np.array_equal(toy.draws["snapshots"], ref.random(3))
    ref.choice(np.array([-1, 1], dtype=np.int8), size=(24, 8, 8))     # the rest of the snapshots' draws
    assert np.array_equal(toy.draws["pairs"], ref.random(3))        # nothing drawn in between
    assert isinstance(r, PatchSideResult)
    assert (r.ell, r.K, r.n_pairs) == (4, 4, 24)
    assert dict(r.simulation_cost) == {"small_system": 100, "partial_evolution": 7, "total": 107}
    assert set(r.models) == {"ours", "naive"} and r.models["ours"].lam == 4.0 and r.models["naive"].lam == 1.0
    assert r.models["ours"].pred_mean.shape == (2, 5, 1)              # n_records + 1 records per start
    assert r.extra["toy"] == 4 and list(r.extra)[-1] == "seconds"


def test_the_same_seed_gives_the_same_numbers_and_another_seed_others():
    a, b, c = (patch_side_study(Toy(), 2, seed=s) for s in (0, 0, 1))
    for name in ("ours", "naive"):
        assert np.array_equal(a.models[name].pred_mean, b.models[name].pred_mean)
        assert a.models[name].error == b.models[name].error
    assert not np.array_equal(a.models["ours"].pred_mean, c.models["ours"].pred_mean)


def test_patch_sides_study_keeps_the_order_and_refuses_bad_sides():
    toy = Toy()
    out = patch_sides_study(toy, [4, 2], seed=0)
    assert [r.ell for r in out] == [4, 2] and [r.K for r in out] == [4, 16]
    single = patch_side_study(Toy(), 2, seed=0)
    assert np.array_equal(out[1].models["ours"].pred_mean, single.models["ours"].pred_mean)
    with pytest.raises(ValueError, match="no patch sides"):
        patch_sides_study(Toy(), [], seed=0)
    with pytest.raises(ValueError, match="each patch side once"):
        patch_sides_study(Toy(), [2, 2], seed=0)
    toy = Toy()
    with pytest.raises(ValueError, match="must divide"):
        patch_sides_study(toy, [2, 3], seed=0)
    assert toy.calls == []                                            # refused before any side ran


def _tensor_pairs(K):
    return {"partial": torch.zeros(24, 1), "naive": torch.zeros(24, 1)}


def _unequal_pairs(K):
    p = pairs_from_patches(np.zeros(4), np.zeros(4), np.ones(4), 0.1, K)
    q = pairs_from_patches(np.zeros(3), np.zeros(3), np.ones(3), 0.1, K)
    return {"partial": p["partial"], "naive": q["naive"]}


def _other_K_pairs(K):
    return pairs_from_patches(np.zeros(4), np.zeros(4), np.ones(4), 0.1, K + 1)


@pytest.mark.parametrize("make, error, match", [
    (lambda K: [1, 2], TypeError, "non-empty"),
    (lambda K: {}, TypeError, "non-empty"),
    (_tensor_pairs, TypeError, "LatentPairs for every set"),
    (_unequal_pairs, ValueError, "same evolved patches"),
    (_other_K_pairs, ValueError, "another number of patches"),
])
def test_a_pairs_hook_of_the_wrong_kind_is_a_clear_error(make, error, match):
    toy = Toy(pairs_override=make)
    with pytest.raises(error, match=match):
        patch_side_study(toy, 4, seed=0)
    assert "models" not in [c[0] for c in toy.calls]                  # nothing fitted


def test_a_test_hook_of_the_wrong_length_is_a_clear_error():
    with pytest.raises(ValueError, match=r"truth \[n_starts, n_paths, 5"):
        patch_side_study(Toy(truth_records=4), 4, seed=0)


def test_the_default_hooks_read_the_config_and_the_required_ones_are_required():
    toy = Toy()
    assert toy.n_patches(4) == 4 and toy.threads is None
    assert toy.rollout() == Rollout(toy.cfg.sde, 0.1, 4, 2)

    class Incomplete(PatchSideSteps):
        def snapshots(self, ell, rng, budgets):
            return np.zeros((1, 2, 2))

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()
