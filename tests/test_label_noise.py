"""The implied-label noise diagnostic of ``support.label_noise`` against independent truth: the
closed-form noise of a sample mean drawn without replacement, exactness at p = 1, growth as p
shrinks, the pseudo-inverse on a hand-made singular A, and the column-block share by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from support.budget import ForceBudget
from support.closure import ClosureAutoencoder
from support.encoders import mlp_autoencoder
from support.label_noise import (block_share, column_block_share, exact_latent_velocity, implied_labels, label_noise,
                                 noise_ratio, unit_columns)
from support.losses import partial_normal_equations
from support.systems.base import DeterministicSystem


class ToySystem(DeterministicSystem):
    """ẋ_i = sin(3 x_i) + x_i x_{i+1} (periodic): a cheap nonlinear oracle, one row per unit."""

    name = "toy"

    def __init__(self, n: int = 40, nan: bool = False) -> None:
        self.n, self.nan = n, nan

    @property
    def state_dim(self) -> int:
        return self.n

    @property
    def n_observables(self) -> int:
        return 1

    def observables(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(-1, keepdim=True)

    def _force_rows(self, x: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
        f = torch.sin(3 * x) + x * x.roll(-1, dims=1)
        if self.nan:
            f = f * float("nan")
        return f.gather(1, units)

    def trajectories(self, n, seed, *, split="train"):
        raise NotImplementedError


def configs(n: int, dim: int = 40, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=gen, dtype=torch.float64) * (1 + torch.rand(n, 1, generator=gen,
                                                                                    dtype=torch.float64))


def mean_only_ae(n: int) -> ClosureAutoencoder:
    """z = mean(x): J = 1ᵀ/N, J^† = 1, so the implied label is the mean of f over the subset."""
    return ClosureAutoencoder(lambda s: s.mean(-1, keepdim=True), 1, n, 1, closure_net=nn.Identity()).double()


def mlp_ae(n: int = 40, d: int = 4, scaling: str = "standardise") -> ClosureAutoencoder:
    torch.manual_seed(3)
    ae = mlp_autoencoder(lambda s: s.mean(-1, keepdim=True), 1, n, d, hidden=(16,), input_scaling=scaling)
    ae = ae.double()
    ae.closure_net.fit_scaling(configs(64, n, seed=9))
    return ae.eval()


def test_noise_ratio_matches_the_closed_form_of_a_subset_mean():
    # implied label = mean of f over m of N units (without replacement); exact = mean over all N:
    # E (ĝ − J f)² = S² / m · (N − m) / (N − 1), S² the population variance of f over the units
    system, n = ToySystem(40), 4000
    x = configs(n)
    ae = mean_only_ae(40)
    budget = ForceBudget()
    res = label_noise(system, ae, x, 0.25, seed=1, budget=budget)
    f = torch.sin(3 * x) + x * x.roll(-1, dims=1)
    m, N = 10, 40
    expected_ms = (f.var(1, correction=0) / m * (N - m) / (N - 1)).mean()
    expected = math.sqrt(float(expected_ms)) / float(f.mean(1).std(correction=0))
    assert res.units_observed == m and res.rows_observed == m
    assert res.ratio[0] == pytest.approx(expected, rel=0.04)          # ≈ 1.1 % sampling sd at n = 4000
    assert res.observable_ratio == res.ratio and res.closure_median is None
    assert budget.total == n * (m + N) == res.forces_charged            # partial + full, all counted
    assert res.rank_deficient == 0


def test_p_one_gives_the_exact_latent_velocity_and_noise_grows_as_p_shrinks():
    system, ae, x = ToySystem(40), mlp_ae(), configs(600, seed=2)
    exact = label_noise(system, ae, x, 1.0, seed=0)
    assert max(exact.ratio) < 1e-8 and exact.closure_median < 1e-8
    ratios = [label_noise(system, ae, x, p, seed=0) for p in (0.8, 0.4, 0.2)]
    for small, large in zip(ratios[1:], ratios[:-1]):
        assert all(a > b for a, b in zip(small.ratio, large.ratio))
        assert small.closure_median > large.closure_median
    again = label_noise(system, ae, x, 0.2, seed=0)
    assert again.ratio == ratios[-1].ratio                               # seeded: reproducible
    assert label_noise(system, ae, x, 0.2, seed=1).ratio != ratios[-1].ratio


def test_implied_labels_solve_the_normal_equations_and_pseudo_invert_a_singular_a():
    gen = torch.Generator().manual_seed(4)
    psi = torch.randn(5, 30, 3, generator=gen, dtype=torch.float64)
    f = torch.randn(5, 30, generator=gen, dtype=torch.float64)
    A, b, _ = partial_normal_equations(f, psi)
    labels, rank, cond = implied_labels(A, b)
    lstsq = torch.linalg.lstsq(psi, f.unsqueeze(-1)).solution.squeeze(-1)   # least squares ψ g ≈ f_I
    torch.testing.assert_close(labels, lstsq, rtol=1e-10, atol=1e-12)
    assert bool((rank == 3).all()) and bool(torch.isfinite(cond).all())
    A = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]], dtype=torch.float64)   # rank 1: minimum-norm label
    labels, rank, cond = implied_labels(A, torch.tensor([[4.0, 5.0]], dtype=torch.float64))
    torch.testing.assert_close(labels, torch.tensor([[2.0, 0.0]], dtype=torch.float64))
    assert int(rank[0]) == 1 and math.isinf(float(cond[0]))
    with pytest.raises(ValueError, match="symmetric"):
        implied_labels(torch.tensor([[[1.0, 2.0], [0.0, 1.0]]]), torch.ones(1, 2))
    with pytest.raises(ValueError, match="non-finite"):
        implied_labels(A, torch.tensor([[float("nan"), 1.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="empty"):
        implied_labels(torch.zeros(0, 2, 2), torch.zeros(0, 2))


def test_noise_ratio_by_hand():
    exact = torch.tensor([[0.0, 1.0], [2.0, 1.0]])
    rms, spread, ratio = noise_ratio(exact + torch.tensor([[0.5, 0.0], [-0.5, 0.0]]), exact)
    torch.testing.assert_close(rms, torch.tensor([0.5, 0.0], dtype=torch.float64))
    torch.testing.assert_close(spread, torch.tensor([1.0, 0.0], dtype=torch.float64))
    assert float(ratio[0]) == 0.5 and math.isnan(float(ratio[1]))       # no spread: undefined
    with pytest.raises(ValueError, match="at least 2"):
        noise_ratio(exact[:1], exact[:1])


def test_bad_input_raises_clearly():
    system, ae, x = ToySystem(40), mlp_ae(), configs(8)
    for p in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="p"):
            label_noise(system, ae, x, p, seed=0)
    with pytest.raises(ValueError, match="fewer than the latent dimension"):
        label_noise(system, ae, x, 0.05, seed=0)                           # 2 rows < d = 4: A singular
    with pytest.raises(ValueError, match="shape"):
        label_noise(system, ae, x[:, :-1], 0.5, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        label_noise(system, ae, x[:1], 0.5, seed=0)
    with pytest.raises(ValueError, match="non-finite"):
        label_noise(ToySystem(40, nan=True), ae, x, 0.5, seed=0)           # NaN forces from the oracle
    bad = x.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        label_noise(system, ae, bad, 0.5, seed=0)


def test_block_share_by_hand_and_for_both_input_scalings():
    J = torch.tensor([[[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]])
    assert block_share(J, [0, 1]) == pytest.approx(5 / 14)
    # a closure without hidden layer has J = W diag(1/scale): the share is a sum over W by hand
    n_units, rows = 10, 6
    gen = torch.Generator().manual_seed(5)
    spread = torch.tensor([0.05, 0.05, 0.05, 0.6, 0.6, 0.6], dtype=torch.float64).repeat(n_units)
    x = torch.randn(200, n_units * rows, generator=gen, dtype=torch.float64) * spread
    pos = unit_columns(n_units, rows, (0, 1, 2))
    assert pos.tolist()[:4] == [0, 1, 2, 6]
    for scaling in ("standardise", "raw"):
        torch.manual_seed(6)
        ae = mlp_autoencoder(lambda s: s[:, 3:6].pow(2).sum(-1, keepdim=True), 1, n_units * rows, 5, hidden=(),
                             input_scaling=scaling).double()
        ae.closure_net.fit_scaling(x)
        W = ae.closure_net.net[0].weight.detach() / (x.std(0) if scaling == "standardise" else 1.0)
        hand = float(W[:, pos].pow(2).sum() / W.pow(2).sum())
        assert column_block_share(ae, x[:7], pos) == pytest.approx(hand, rel=1e-12)
        if scaling == "standardise":
            assert hand > 0.97                                              # positions boosted (0.6/0.05)² = 144×
        else:
            assert 0.3 < hand < 0.7
    # the factored route equals the formed Jacobian's share (hidden layers, all rows and closure rows)
    ae = mlp_ae()
    xs = configs(5, seed=7)
    J = ae.jacobian(xs)
    cols = torch.arange(0, 40, 3)
    assert column_block_share(ae, xs, cols) == pytest.approx(block_share(J[:, 1:], cols), rel=1e-10)
    assert column_block_share(ae, xs, cols, rows="all") == pytest.approx(block_share(J, cols), rel=1e-10)
    for bad, match in (([], "empty"), ([0, 0], "repeat"), ([40], r"\[0, 40\)")):
        with pytest.raises(ValueError, match=match):
            column_block_share(ae, xs, bad)
    with pytest.raises(ValueError, match="no closure rows"):
        column_block_share(mean_only_ae(40), xs, cols)
    with pytest.raises(ValueError, match="offsets"):
        unit_columns(10, 6, (6,))


def test_exact_latent_velocity_bought_once_gives_the_same_ratios():
    """A study of several p on the same configurations passes the exact J f once: same ratios, only
    the partial forces charged per p; a wrong-shaped or non-finite ``exact`` is refused."""
    system, ae, x = ToySystem(40), mlp_ae(), configs(300, seed=5)
    full = ForceBudget()
    exact = exact_latent_velocity(system, ae, x, full)
    assert full.total == 300 * 40 and exact.shape == (300, ae.latent_dim)
    for p in (0.5, 0.25):
        alone = label_noise(system, ae, x, p, seed=3)
        shared = label_noise(system, ae, x, p, seed=3, exact=exact)
        assert shared.ratio == alone.ratio and shared.closure_median == alone.closure_median
        assert shared.forces_charged == 300 * shared.units_observed == alone.forces_charged - 300 * 40
    with pytest.raises(ValueError, match="exact"):
        label_noise(system, ae, x, 0.5, seed=3, exact=exact[:-1])
    bad = exact.clone()
    bad[4, 0] = float("nan")
    with pytest.raises(ValueError, match="exact contains 1 non-finite"):
        label_noise(system, ae, x, 0.5, seed=3, exact=bad)


def test_closure_summary_reads_both_report_layouts_and_tabulates():
    from support.label_noise import ClosureSummary, closure_summary_table
    lj = {"noise_ratio_T": 0.3, "noise_ratio_closure_median": 0.2, "capture": 0.8,
          "subspace_shares": {"first_layer": 0.23, "jacobian": 0.52}}
    generic = {"noise_ratio_observables": [0.1, None, 0.4], "noise_ratio_closure_median": 0.05, "capture": 0.99}
    a, b = ClosureSummary.of_report(lj), ClosureSummary.of_report(generic)
    assert (a.observable_noise, a.closure_noise, a.capture, a.first_layer_share, a.jacobian_share) == (0.3, 0.2, 0.8, 0.23, 0.52)
    assert b.observable_noise == 0.4 and b.first_layer_share is None and b.jacobian_share is None
    table = closure_summary_table({"lj": a, "other": b}, observables="T", caption="c")
    assert table.rows[0] == ["lj", "0.300", "0.200", "0.800", "0.230", "0.520"]
    assert table.rows[1][-2:] == ["—", "—"] and table.headers[1] == "ρ (T)"
