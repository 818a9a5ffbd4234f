"""Budget accounting, validation, training loop, rollout, metrics, closure and the pipeline."""

import math

import pytest
import torch

from support.budget import BudgetExceeded, ForceBudget
from support.closure import ClosureAutoencoder, condition_loss, evenly_spaced, train_autoencoder
from support.metrics import (budget_to_tolerance, budget_to_tolerance_bounds, curve_budget_bounds,
                             exceeds, format_bounds, is_pinned, mean_std, mmd2, ratio_bounds,
                             relative_trajectory_error)
from support.normalise import LatentNormaliser, NormalisedLatentModel
from support.pipeline import observe_full, observe_partial, train_latent, trajectory_error
from support.rollout import euler_maruyama, rk4
from support.systems.linear import LinearBlockSystem
from support.train import TrainConfig, fit, load_checkpoint, save_checkpoint
from support.validation import check_choice, check_latent_dim


@pytest.fixture(scope="module")
def system():
    return LinearBlockSystem(block_size=8)


def test_force_oracle_counts_every_unit_and_matches_dense(system):
    x = torch.randn(6, system.state_dim, dtype=torch.float64)
    budget = ForceBudget()
    units = torch.randint(0, system.n_units, (6, 5))
    f = system.force(x, units, budget)
    assert torch.allclose(f, (x @ system.matrix().T).gather(1, units))
    assert budget.total == 30 and budget.calls["force"] == 1
    system.full_force(x, budget)
    assert budget.total == 30 + 6 * system.n_units


def test_force_oracle_rejects_bad_input(system):
    x = torch.randn(2, system.state_dim, dtype=torch.float64)
    with pytest.raises(ValueError, match="empty"):
        system.force(x, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(IndexError):
        system.force(x, torch.tensor([[0, system.n_units]]).expand(2, -1))
    with pytest.raises(ValueError, match="shape"):
        system.force(x[:, :-1], torch.zeros(2, 1, dtype=torch.long))
    bad = x.clone()
    bad[0, 3] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        system.force(bad, torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(TypeError):
        system.force(x, torch.zeros(2, 1))


def test_budget_limit_raises():
    b = ForceBudget(limit=10)
    b.charge(10)
    with pytest.raises(BudgetExceeded):
        b.charge(1)


def test_validation_messages():
    with pytest.raises(ValueError, match="smaller than"):
        check_latent_dim(10, 10)
    with pytest.raises(ValueError, match="choose one of"):
        check_choice("system", "lenard_jones", ["lennard_jones", "predator_prey"])


def test_rk4_matches_matrix_exponential():
    A = torch.tensor([[-0.1, 1.0], [-1.0, -0.2]], dtype=torch.float64)
    z0 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    traj = rk4(lambda z: z @ A.T, z0, 0.1, 50, substeps=10)
    exact = z0 @ torch.linalg.matrix_exp(A * 5.0).T
    assert torch.allclose(traj[:, -1], exact, atol=1e-7)


def test_euler_maruyama_ou_stationary_variance():
    gen = torch.Generator().manual_seed(0)
    z = euler_maruyama(lambda z: -z, lambda z: torch.full((z.shape[0], 1, 1), 0.5, dtype=z.dtype),
                       torch.zeros(4000, 1, dtype=torch.float64), 0.01, 400, gen)
    # exact stationary variance of dz = −z dt + 0.5 dW is 0.125 (EM bias O(dt))
    assert z[:, -1].var().item() == pytest.approx(0.125, rel=0.08)


def test_metrics():
    true = torch.ones(2, 5, 2)
    assert torch.allclose(relative_trajectory_error(true * 1.1, true), torch.full((2,), 0.1))
    assert math.isinf(relative_trajectory_error(true * float("nan"), true)[0])
    assert mean_std([1.0, 3.0]) == (2.0, 1.0)
    assert budget_to_tolerance([1e4, 1e5], [1e-2, 1e-3], 1e-2) == pytest.approx(1e4)
    assert budget_to_tolerance([1e4, 1e5], [1e-1, 1e-3], 1e-2) == pytest.approx(1e4 * 10 ** 0.5)
    assert budget_to_tolerance([1e4, 1e5], [1e-1, 1e-2 * 1.5], 1e-2) == math.inf
    # a diverged model (infinite mean) just before the crossing: nothing to interpolate from
    assert budget_to_tolerance([1e4, 1e5], [math.inf, 1e-3], 1e-2) == 1e5
    x = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    assert mmd2(x, x).item() == pytest.approx(0.0, abs=1e-10)
    assert mmd2(x, x + 2).item() > 0.1


def test_fit_exact_step_budget_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(100, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    hist = fit(model, lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), (x, y),
               TrainConfig(lr=5e-2, batch_size=16, steps=123, progress=False))
    assert hist.n_steps == 123
    assert hist.loss[-1] < 0.1 * hist.loss[0]
    path = save_checkpoint(tmp_path / "m.pt", model, note="linear")
    other = torch.nn.Linear(3, 1)
    assert load_checkpoint(path, other) == {"note": "linear"}
    assert torch.equal(other.weight, model.weight)


def test_fit_rejects_mismatched_data():
    with pytest.raises(ValueError, match="disagree"):
        fit(torch.nn.Linear(1, 1), lambda m, b: m(b[0]).sum(), (torch.zeros(3, 1), torch.zeros(4, 1)),
            TrainConfig(progress=False))


def _autoencoder(system, seed=0):
    torch.manual_seed(seed)
    return ClosureAutoencoder(system.observables, system.n_observables, system.state_dim,
                              system.n_blocks, hidden=(16, 16)).double()


def test_closure_autoencoder_keeps_observables_exact(system):
    """The observable rows of z are the first two block means, built into x here by construction
    (block value + a zero-mean pattern), not recomputed with ``system.observables``."""
    ae = _autoencoder(system)
    bs = system.block_size
    means = torch.randn(5, system.n_blocks, dtype=torch.float64)
    pattern = torch.linspace(-1.0, 1.0, bs, dtype=torch.float64)           # sums to zero
    wiggle = torch.randn(5, system.n_blocks, 1, dtype=torch.float64) * pattern
    x = (means.unsqueeze(-1) + wiggle).reshape(5, system.state_dim)
    z = ae.encode(x)
    assert z.shape == (5, system.n_blocks)
    assert torch.allclose(z[:, :2], means[:, :2], atol=1e-12)
    J = ae.jacobian(x)
    rows = torch.zeros(2, system.state_dim, dtype=torch.float64)            # d(block mean k)/dx
    rows[0, :bs] = rows[1, bs:2 * bs] = 1 / bs
    assert torch.allclose(J[:, :2], rows.expand(5, -1, -1), atol=1e-12)


def test_condition_loss_training_lowers_kappa(system):
    x = system.trajectories(20, 0, n_steps=20).snapshots()
    ae = _autoencoder(system)
    before = condition_loss(ae, x[:64]).item()
    train_autoencoder(ae, x, 1.0, TrainConfig(lr=1e-3, epochs=3, batch_size=64, progress=False))
    assert condition_loss(ae, x[:64]).item() < 0.5 * before


def test_train_autoencoder_rejects_bad_options_and_subsamples_evenly(system):
    x = system.trajectories(2, 0, n_steps=9).snapshots()
    ae = _autoencoder(system)
    cfg = TrainConfig(lr=1e-3, steps=2, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="lambda_cond"):
        train_autoencoder(ae, x, -1.0, cfg)
    with pytest.raises(ValueError, match="cond_samples"):
        train_autoencoder(ae, x, 1.0, cfg, cond_samples=0)
    with pytest.raises(ValueError, match="finite|NaN|nan"):
        train_autoencoder(ae, torch.full_like(x, float("nan")), 1.0, cfg)
    assert evenly_spaced(10, 4).tolist() == [0, 3, 6, 9]
    assert evenly_spaced(3, 10).tolist() == [0, 1, 2]
    with pytest.raises(ValueError):
        evenly_spaced(0, 3)
    # max_snapshots = 5 leaves one batch of 8 per epoch, so 2 steps are 2 epochs of one step each;
    # on all the snapshots (more than a batch) they would be one epoch that stops after 2 steps
    assert x.shape[0] > cfg.batch_size
    hist = train_autoencoder(ae, x, 1.0, cfg, cond_samples=2, max_snapshots=5)
    assert hist.steps == [1, 2] and len(hist.loss) == 2


def test_partial_observations_cost_and_unbiased_full_limit(system):
    ae = _autoencoder(system)
    x = system.trajectories(4, 0, n_steps=9).snapshots()
    budget = ForceBudget()
    gen = torch.Generator().manual_seed(0)
    part = observe_partial(system, ae, x, 0.25, budget, gen, chunk=7)
    m = round(0.25 * system.n_units)
    assert budget.total == x.shape[0] * m
    assert part.forces.shape == (x.shape[0], m) and part.psi.shape == (x.shape[0], m, system.n_blocks)
    full = observe_full(system, ae, x, ForceBudget())
    # J^†[I] applied to J f reproduces the projected force P f on the rows of I
    Pf_rows = (part.psi @ full.target.unsqueeze(-1)).squeeze(-1)
    J = ae.jacobian(x)
    f = system.full_force(x)
    Pf = (torch.linalg.pinv(J) @ (J @ f.unsqueeze(-1))).squeeze(-1)
    assert torch.allclose(Pf_rows, Pf.gather(1, part.units), atol=1e-8)


def test_pipeline_learns_exact_linear_closure():
    """With the exact closure encoder, L_x,p (p = 1/4) learns ẏ = By to small error."""
    system = LinearBlockSystem(block_size=8, n_observables=2)
    train, test = system.trajectories(30, 0, n_steps=40), system.trajectories(5, 1, split="test", n_steps=40)

    class Exact(ClosureAutoencoder):
        def encode(self, x):
            return system.exact_closure(x)

    ae = Exact(system.observables, 2, system.state_dim, system.n_blocks, hidden=(4,)).double()
    z = torch.stack([ae.encode_np(t) for t in train.x.unbind(0)])
    norm = LatentNormaliser.from_trajectories(z, train.dt).double()
    G = NormalisedLatentModel(torch.nn.Linear(4, 4).double(), norm)
    budget = ForceBudget()
    obs = observe_partial(system, ae, train.snapshots(), 0.25, budget, torch.Generator().manual_seed(0))
    train_latent(G, obs, TrainConfig(lr=1e-2, batch_size=64, steps=1500, progress=False))
    err = trajectory_error(G, ae, test)
    assert err < 2e-2, err
    assert budget.total == train.snapshots().shape[0] * system.n_units // 4


def test_budget_sweep_is_seeded_and_independent_of_workers(system):
    from functools import partial
    from support.studies import Method, budget_sweep, encoded_trajectories, summarise
    train, test = system.trajectories(6, 0, n_steps=20), system.trajectories(2, 1, split="test", n_steps=20)
    ae = _autoencoder(system)
    norm = LatentNormaliser.from_trajectories(encoded_trajectories(ae, train), train.dt).double()
    factory = partial(_linear_net, system.n_blocks)
    args = (system, ae, norm, train.snapshots(), test, [Method("lz"), Method("lx", 0.5)], [320, 640], [0],
            factory, TrainConfig(lr=1e-2, batch_size=16, steps=30, progress=False))
    serial = budget_sweep(*args, progress=False)
    parallel = budget_sweep(*args, progress=False, workers=2)
    assert [r.test_error for r in serial] == pytest.approx([r.test_error for r in parallel], rel=1e-6)
    assert [r.forces_charged for r in serial] == [10 * system.n_units, 20 * system.n_units, 320, 640]
    summary = summarise(serial, tol=1.0)
    assert set(summary) == {"L_z", "L_x,p (p=1/2)"} and summary["L_z"]["budgets"] == [320, 640]


def _linear_net(d, seed):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, d).double()


def test_resampled_subsets_are_charged_every_epoch(system):
    from support.pipeline import resampling_hook
    ae = _autoencoder(system)
    x = system.trajectories(2, 0, n_steps=7).snapshots()          # 16 configurations
    budget = ForceBudget()
    gen = torch.Generator().manual_seed(0)
    obs = observe_partial(system, ae, x, 0.25, budget, gen)
    m = round(0.25 * system.n_units)
    norm = LatentNormaliser(system.n_blocks).double()
    G = NormalisedLatentModel(torch.nn.Linear(4, 4).double(), norm)
    hook = resampling_hook(system, ae, x, 0.25, budget, gen)
    hist = train_latent(G, obs, TrainConfig(epochs=3, batch_size=16, progress=False), resample=hook)
    assert len(hist.loss) == 3
    assert budget.total == 3 * 16 * m                              # initial draw + 2 redraws
    with pytest.raises(ValueError, match="L_x,p only"):
        train_latent(G, observe_full(system, ae, x, ForceBudget()), TrainConfig(progress=False), resample=hook)


def test_configuration_selection_uniform_or_ordered():
    from support.studies import select_configurations
    pool = torch.arange(20.0).reshape(10, 2)            # 10 snapshots, trajectory-major
    gen = torch.Generator().manual_seed(0)
    ordered = select_configurations(pool, 4, gen, "ordered")
    assert torch.equal(ordered, pool[:4])                # the first whole runs, in order
    uniform = select_configurations(pool, 4, gen, "uniform")
    assert len({tuple(r.tolist()) for r in uniform}) == 4   # distinct snapshots of the pool
    assert all(any(torch.equal(r, q) for q in pool) for r in uniform)
    with pytest.raises(ValueError, match="selection"):
        select_configurations(pool, 4, gen, "first")
    with pytest.raises(ValueError, match="pool holds"):
        select_configurations(pool, 11, gen, "ordered")


def test_method_labels_name_p_exactly_for_large_systems():
    from support.studies import Method
    assert Method("lz").label == "L_z" and Method("lx").label == "L_x"
    assert Method("lx", 1 / 5).label == "L_x,p (p=1/5)" and Method("lx", 0.75).label == "L_x,p (p=3/4)"
    assert Method("lx", 50 / 21600).label == "L_x,p (p=1/432)"       # not rounded to a 1/64 grid
    assert Method("lx", 16 / 51200).label == "L_x,p (p=1/3200)"      # not "p=0"
    with pytest.raises(ValueError, match="p"):
        Method("lx", 0.0)


def test_thin_curve_keeps_ends_and_bounds_length():
    from support.studies import thin_curve
    assert thin_curve([1.0, 2.0], 5) == [1.0, 2.0]
    thinned = thin_curve(list(range(1000)), 7)
    assert len(thinned) == 7 and thinned[0] == 0 and thinned[-1] == 999
    with pytest.raises(ValueError):
        thin_curve([1.0], 1)


def test_budget_bounds_say_where_a_swept_curve_leaves_the_budget_open():
    budgets = [1e4, 1e5, 1e6]
    assert budget_to_tolerance_bounds(budgets, [1e-1, 1e-3, 1e-4], 1e-2) == (pytest.approx(1e4 * 10 ** 0.5),) * 2
    assert budget_to_tolerance_bounds(budgets, [1e-3, 1e-4, 1e-5], 1e-2) == (0.0, 1e4)       # below at once
    assert budget_to_tolerance_bounds(budgets, [1e-1, 1e-1, 2e-2], 1e-2) == (1e6, math.inf)  # never
    assert budget_to_tolerance_bounds(budgets, [math.inf, 1e-3, 1e-4], 1e-2) == (1e4, 1e5)   # diverged before
    assert budget_to_tolerance_bounds(budgets[::-1], [1e-4, 1e-3, 1e-1], 1e-2)[0] == pytest.approx(1e4 * 10 ** 0.5)
    with pytest.raises(ValueError):
        budget_to_tolerance_bounds([1e4], [1e-3, 1e-4], 1e-2)


def test_ratio_and_format_of_bounds():
    assert ratio_bounds((6.0, 6.0), (2.0, 2.0)) == (3.0, 3.0)
    assert ratio_bounds((0.0, 2e5), (1e5, 1e5)) == (0.0, 2.0)                 # upper bound / value
    assert ratio_bounds((4e5, 4e5), (1.5e5, math.inf)) == (0.0, 4e5 / 1.5e5)   # value / lower bound
    assert ratio_bounds((0.0, 1.0), (0.0, 1.0)) == (0.0, math.inf)             # nothing known
    with pytest.raises(ValueError):
        ratio_bounds((2.0, 1.0), (1.0, 1.0))
    assert format_bounds((3950.4, 3950.4)) == "3,950"
    assert format_bounds((0.0, 2e5)) == "≤ 200,000"
    assert format_bounds((1.5e5, math.inf)) == "> 150,000"
    assert format_bounds((0.0, math.inf)) == "—"
    assert format_bounds((0.0, 2.0), fmt=lambda x: f"{x:.2f}") == "≤ 2.00"


def test_bounds_of_saved_curves_and_three_valued_comparisons():
    # a mean saved as null (a diverged model; JSON has no inf) counts as infinite
    curve = {"budgets": [1e4, 1e5, 1e6], "mean": [None, 1e-3, 1e-4], "tol": 1e-2}
    assert curve_budget_bounds(curve) == (1e4, 1e5) and not is_pinned((1e4, 1e5))
    assert curve_budget_bounds({**curve, "mean": [None, None, None]}) == (1e6, math.inf)
    assert is_pinned((5.0, 5.0)) and not is_pinned((0.0, 5.0)) and not is_pinned((5.0, math.inf))
    assert format_bounds((1e4, 1e5)) == "10,000 … 100,000"
    assert format_bounds((0.004, 0.004)) == "0" and format_bounds((0.004, 0.004), fmt=lambda x: f"{x:.1g}") == "0.004"
    # x > 1.5 y for intervals: decided only when the bounds alone settle it
    assert exceeds((4.0, 4.0), (0.0, 2.0), 1.5) is True        # 4 > 1.5 · (at most 2)
    assert exceeds((2.0, 2.0), (2.0, math.inf), 1.5) is False  # 2 ≤ 1.5 · (more than 2)
    assert exceeds((2.0, 2.0), (0.0, 2.0), 1.5) is None
    from support.uncertainty import all_of
    assert all_of([True, True]) is True and all_of([True, None]) is None and all_of([None, False]) is False
    with pytest.raises(ValueError):
        ratio_bounds((1.0, 1.0), (0.0, 0.0))
    with pytest.raises(ValueError):
        ratio_bounds((math.nan, 1.0), (1.0, 1.0))
