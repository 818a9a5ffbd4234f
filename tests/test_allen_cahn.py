"""Allen–Cahn system (paper 1 §3.2) against independent truth, and its streamed experiment.

Truths used: a hand-written loop over the 5-point stencil; the energy's autograd gradient
(∇E = −h² f, the gradient-flow identity); the sharp-interface law of an annulus,
E(t) ≈ (2√2/3ε)·2π[√(r₁² − 2t) + √(r₂² − 2t)]; the 1-D tanh profile's surface tension.
"""

from __future__ import annotations

import math

import pytest
import torch

from support.budget import ForceBudget
from support.systems import get_system
from support.systems.allen_cahn import AllenCahnSystem


@pytest.fixture(scope="module")
def small():
    return AllenCahnSystem(16, dtype=torch.float64)


def _loop_rhs(system: AllenCahnSystem, u: torch.Tensor) -> torch.Tensor:
    """The right-hand side written out cell by cell (Neumann: a missing neighbour is the cell itself)."""
    n = system.n
    out = torch.empty(n, n, dtype=torch.float64)
    g = u.reshape(n, n)
    for i in range(n):
        for j in range(n):
            nb = sum(g[min(max(a, 0), n - 1), min(max(b, 0), n - 1)] for a, b in
                     ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)))
            out[i, j] = (g[i, j] - g[i, j] ** 3) / system.eps ** 2 + (nb - 4 * g[i, j]) / system.h ** 2
    return out.reshape(-1)


def test_registered_and_eps_is_ten_cells(small):
    s = get_system("allen_cahn", n=200)
    assert s.state_dim == 40_000 and s.n_units == 40_000
    assert s.eps == pytest.approx(0.012007, rel=1e-4)                  # ε₁₀ of the official code
    # u = tanh(s/(√2ε)) goes from −0.9 to 0.9 over 10 cells
    assert 2 * math.sqrt(2) * s.eps * math.atanh(0.9) == pytest.approx(10 * s.h)
    assert s.n_steps == 40_000 and s.dt == pytest.approx(2.5e-6)


def test_full_rhs_matches_the_stencil_written_out(small):
    u = torch.rand(2, small.state_dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    f = small.rhs(u)
    for b in range(2):
        assert torch.allclose(f[b], _loop_rhs(small, u[b]), rtol=1e-12, atol=1e-9)


def test_partial_oracle_equals_the_full_rhs_on_the_requested_rows_and_is_charged(small):
    gen = torch.Generator().manual_seed(1)
    u = small.annulus(torch.tensor([0.35, 0.3]), torch.tensor([0.12, 0.1])) + 0.01 * torch.randn(
        2, small.state_dim, generator=gen, dtype=torch.float64)
    units = torch.stack([torch.randperm(small.n_units, generator=gen)[:37] for _ in range(2)])
    units[0, :4] = torch.tensor([0, 15, 240, 255])                     # the four corners
    budget = ForceBudget()
    f_I = small.force(u, units, budget)
    assert torch.allclose(f_I, small.rhs(u).gather(1, units), rtol=1e-12, atol=1e-9)
    assert budget.total == 2 * 37


def test_partial_oracle_reads_only_the_stencil():
    """f_I is unchanged when every value outside the 5-point stencils of I changes: cost ∝ |I|."""
    s = AllenCahnSystem(12, dtype=torch.float64)
    u = torch.rand(1, s.state_dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    units = torch.tensor([[13, 70, 143]])
    i, j = units // 12, units % 12
    near = torch.zeros(s.state_dim, dtype=torch.bool)
    for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
        near[((i + di).clamp(0, 11) * 12 + (j + dj).clamp(0, 11)).reshape(-1)] = True
    v = u.clone()
    v[0, ~near] = 5.0
    assert torch.equal(s.force(u, units), s.force(v, units))


def test_energy_gradient_is_minus_h2_times_the_force(small):
    """E (forward stencil) is the energy of the flow: ∇E = −h² f exactly, so dE/dt = −h²‖f‖² ≤ 0."""
    u = (torch.rand(3, small.state_dim, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1
         ).requires_grad_(True)
    (grad,) = torch.autograd.grad(small.energy(u).sum(), u)
    assert torch.allclose(grad, -small.h ** 2 * small.rhs(u.detach()), rtol=1e-10, atol=1e-12)


def test_energy_of_constant_states_and_central_stencil_close_on_an_annulus():
    s = AllenCahnSystem(64, dtype=torch.float64)
    assert s.energy(-torch.ones(1, s.state_dim)).item() == 0.0
    assert s.energy(torch.zeros(1, s.state_dim, dtype=torch.float64)).item() == pytest.approx(1 / (4 * s.eps ** 2))
    u = s.annulus(torch.tensor([0.35]), torch.tensor([0.12]))
    fwd, cen = s.energy(u, "forward").item(), s.energy(u, "central").item()
    assert abs(cen / fwd - 1) < 0.05
    with pytest.raises(ValueError, match="stencil"):
        s.energy(u, "upwind")


def test_surface_tension_of_the_tanh_profile():
    """σ = ∫ [½u'² + (u² − 1)²/(4ε²)] ds for u = tanh(s/(√2ε)) equals 2√2/(3ε) (quadrature)."""
    s = AllenCahnSystem(200)
    x = torch.linspace(-0.3, 0.3, 200_001, dtype=torch.float64)
    u = torch.tanh(x / (math.sqrt(2) * s.eps))
    du = (1 - u ** 2) / (math.sqrt(2) * s.eps)
    density = 0.5 * du ** 2 + (u ** 2 - 1) ** 2 / (4 * s.eps ** 2)
    assert torch.trapezoid(density, x).item() == pytest.approx(s.surface_tension, rel=1e-6)


def test_energy_decreases_and_follows_the_sharp_interface_law():
    """64² (ε = 0.0375), two annuli to T = 0.1: E never increases; while both interfaces exist and
    the hole is not yet small (t < ½·r₂²/2) E(t) is within 3 % of σ·2π[√(r₁² − 2t) + √(r₂² − 2t)]
    (measured ≤ 2 %; the O(ε/r) corrections reach 5 % at t = 0.8·r₂²/2); once the hole has closed
    and while the ring is still large (t < 0.6·r₁²/2), within 3 % of σ·2π√(r₁² − 2t) (measured ≤ 2 %)."""
    s = AllenCahnSystem(64, dtype=torch.float64)
    r1, r2 = torch.tensor([0.38, 0.31]), torch.tensor([0.14, 0.11])
    tr = s.simulate(s.annulus(r1, r2), 64)
    E = s.energy(tr.x.reshape(-1, s.state_dim)).reshape(2, -1)
    assert (E.diff(dim=1) <= 1e-12 * E[:, :1]).all()
    t = tr.times.double()[None]
    law = s.sharp_interface_energy(r1[:, None], r2[:, None], t)
    both = t < 0.5 * r2[:, None] ** 2 / 2
    outer = (t > 1.5 * r2[:, None] ** 2 / 2) & (t < 0.6 * r1[:, None] ** 2 / 2)
    assert both.sum() >= 3 and outer.sum() >= 12
    dev = (E / law - 1).abs()
    assert dev[both].max() < 0.03 and dev[outer].max() < 0.03
    assert E[:, -1].max() < 1e-6 * E[:, 0].min()                      # both interfaces gone by T = 0.1


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="grid side"):
        AllenCahnSystem(4)
    with pytest.raises(ValueError, match="dt_factor"):
        AllenCahnSystem(32, dt_factor=0.5)
    with pytest.raises(ValueError, match="energy_stencil"):
        AllenCahnSystem(32, energy_stencil="upwind")
    s = AllenCahnSystem(16)
    with pytest.raises(ValueError, match="n_frames"):
        s.save_every(0)
    with pytest.raises(IndexError):
        s.force(torch.zeros(1, s.state_dim), torch.tensor([[256]]))
    with pytest.raises(ValueError, match="split"):
        s.initial_states(2, 0, "validation")


def test_allen_cahn_tiny_run_reads_every_claim():
    """A seconds-long streamed run: equal budgets charged, every claim's keys exist."""
    from support.claims import evaluate
    from support.experiments import allen_cahn
    from support.experiments.config import apply_overrides
    cfg = apply_overrides(allen_cahn.Config.for_scale("quick"), {
        "grid": "32", "n_frames": "64", "n_train_traj": "8", "n_test_traj": "3", "ae_traj": "4", "traj_batch": "4",
        "ae_steps": "20", "steps": "20", "lz_configs": "8", "seeds": "[1]"})
    result = allen_cahn.run(cfg, progress=False)
    verdicts = evaluate(result, allen_cahn.CLAIMS)
    assert len(verdicts) == len(allen_cahn.CLAIMS) and all(v.holds is not None for v in verdicts)
    runs = result.metrics["runs"]
    assert {r["forces_charged"] for r in runs} == {8 * 1024}
    assert result.metrics["methods"]["L_x,p (p=1/16)"]["n_configs"] == 128


def test_experiment_rejects_a_pool_too_small_for_the_budget():
    from support.experiments import allen_cahn
    from support.experiments.config import apply_overrides
    cfg = apply_overrides(allen_cahn.Config.for_scale("quick"), {
        "grid": "32", "n_frames": "16", "ae_traj": "4", "n_train_traj": "4", "n_test_traj": "2", "traj_batch": "4",
        "ae_steps": "5", "steps": "5", "lz_configs": "8", "seeds": "[1]"})
    with pytest.raises(ValueError, match="raise n_train_traj or n_frames"):
        allen_cahn.run(cfg, progress=False)
    with pytest.raises(ValueError, match="ae_traj"):
        apply_overrides(allen_cahn.Config.for_scale("quick"), {"ae_traj": "100"})


def test_streamed_partial_statistics_equal_the_stored_rows():
    """PartialStatistics (what the streamed study keeps) gives the same L_x,p as the stored f_I and
    J^†[I] rows, with the same subsets and the same forces charged."""
    from support.closure import ClosureAutoencoder
    from support.experiments.allen_cahn import FieldClosure
    from support.losses import loss_x_partial
    from support.nets import mlp
    from support.pipeline import PartialStatistics, latent_loss, observe_partial, observe_partial_statistics
    s = AllenCahnSystem(16)
    torch.manual_seed(0)
    ae = ClosureAutoencoder(s.observables, 1, s.state_dim, 4, closure_net=FieldClosure([256, 16, 3]),
                            decoder=mlp([3, 16, 256]), decode_from="closure")
    x = s.annulus(torch.tensor([0.35, 0.32, 0.3]), torch.tensor([0.12, 0.11, 0.1])).float()
    b1, b2 = ForceBudget(), ForceBudget()
    full = observe_partial(s, ae, x, 1 / 16, b1, torch.Generator().manual_seed(5), chunk=2)
    stats = observe_partial_statistics(s, ae, x, 1 / 16, b2, torch.Generator().manual_seed(5), chunk=2)
    assert b1.total == b2.total == 3 * 16
    assert isinstance(stats, PartialStatistics) and stats.A.shape == (3, 4, 4)
    g = torch.randn(3, 4)
    G = lambda z: g                                                      # noqa: E731
    direct = loss_x_partial(g, full.forces, full.psi)
    assert torch.allclose(latent_loss("lx")(G, stats.tensors()), direct, rtol=1e-4)
    both = PartialStatistics.cat([stats, stats])
    assert both.z.shape == (6, 4)
    with pytest.raises(ValueError):
        PartialStatistics.cat([])


def test_saved_run_numbers_and_budget_table_read_the_saved_run():
    from support.experiments import allen_cahn
    from support.results import saved_result
    saved = saved_result("allen_cahn")
    if saved is None:
        pytest.skip("no saved paper-scale run")
    n = allen_cahn.saved_run_numbers(saved)
    lz, lx = (saved.metrics["methods"][k]["per_seed"] for k in ("L_z", saved.metrics["lxp_label"]))
    assert n["saved_wins"] == sum(b < a for a, b in zip(lz, lx))
    assert n["saved_factor_lo"] <= n["saved_factor_hi"] and n["s_nx"] == 16 * n["s_nz"]
    text = str(allen_cahn.budget_table({"saved": saved}))
    assert "2,500 × N" in text and "40,000 × N/16" in text and "200², N = 40,000" in text


def test_normaliser_from_ragged_segments():
    from support.normalise import LatentNormaliser
    z = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a, b = LatentNormaliser.from_trajectories(z, 0.1), LatentNormaliser.from_segments(list(z), 0.1)
    for key in ("z_mean", "z_std", "v_mean", "v_std"):
        torch.testing.assert_close(getattr(a, key), getattr(b, key))
    segs = [z[0], z[1, :1], z[2, :5]]                  # a one-frame segment adds a frame, no velocity
    n = LatentNormaliser.from_segments(segs, 0.1)
    v = torch.cat([(s[1:] - s[:-1]) / 0.1 for s in (segs[0], segs[2])])
    torch.testing.assert_close(n.z_mean, torch.cat(segs).mean(0).float())
    torch.testing.assert_close(n.v_std, v.std(0).float())
    with pytest.raises(ValueError, match="two frames"):
        LatentNormaliser.from_segments([z[0, :1]], 0.1)
