"""Issue 26: the closure autoencoder's optimiser as a setting (coupled vs decoupled weight decay),
the data's principal subspace and the off-manifold-aware closure (support.data_span), and the
capture ‖J^†Jf‖²/‖f‖² and subspace shares of support.label_noise — each against a known answer."""

from __future__ import annotations

import math
from dataclasses import asdict

import pytest
import torch
from torch import nn

from support.budget import ForceBudget
from support.closure import ClosureAutoencoder, train_autoencoder
from support.data_span import (first_layer_weight, principal_subspace, project_first_layer,
                               restrict_first_layer)
from support.encoders import mlp_autoencoder
from support.label_noise import capture_of, full_force_terms, label_noise, subspace_shares
from support.systems.base import DeterministicSystem
from support.train import TrainConfig, fit

LR, WD = 1e-4, 1e-4


# ------------------------------------------------------------------------ coupled vs decoupled decay
def _dead_input_weight(optimizer: str, steps: int, w_dead: float = 0.3, **kw) -> tuple[float, list]:
    """A linear model fitted on data whose second input is always 0: that weight's loss gradient is
    exactly zero, only weight decay moves it. Returns its final value and the lr history."""
    model = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, w_dead]], dtype=torch.float64))
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    x[:, 1] = 0
    y = 2 * x[:, :1]
    cfg = TrainConfig(lr=LR, steps=steps, batch_size=64, weight_decay=WD, betas=(0.9, 0.95), amsgrad=False,
                      optimizer=optimizer, schedule="constant", progress=False, **kw)
    hist = fit(model, lambda m, b: (m(b[0]) - b[1]).pow(2).mean(), (x, y), cfg)
    return float(model.weight[0, 1].detach()), hist.lr


def test_decoupled_decay_shrinks_a_dead_weight_by_lr_times_wd():
    w, lrs = _dead_input_weight("adamw", 10)
    assert w == pytest.approx(0.3 * (1 - LR * WD) ** 10, rel=0, abs=1e-15)      # 3e-9 in total
    assert lrs == [LR] * 10                                                     # constant schedule


def test_coupled_l2_shrinks_a_dead_weight_by_about_lr_per_step():
    # gradient wd·θ = 3e-5; Adam normalises it: step = lr · m̂ / (√v̂ + eps) ≈ lr · wd|θ| / (wd|θ| + eps)
    w, _ = _dead_input_weight("adam", 10)
    per_step = LR * (WD * 0.3) / (WD * 0.3 + 1e-8)
    assert 0.3 - w == pytest.approx(10 * per_step, rel=1e-3)
    w_adamw, _ = _dead_input_weight("adamw", 10)
    assert (0.3 - w) / (0.3 - w_adamw) == pytest.approx(1 / (WD * 0.3), rel=2e-3)   # ≈ 3.3e4 times more


def test_a_constant_schedule_run_is_the_prefix_of_a_longer_one():
    """With a constant lr the first n steps of a longer run are the n-step run (bit for bit): one
    training gives both budgets."""
    def run(steps, keep=None):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Softplus(), nn.Linear(8, 1)).double()
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(50, 3, generator=gen, dtype=torch.float64)
        cfg = TrainConfig(lr=1e-2, steps=steps, batch_size=16, weight_decay=WD, optimizer="adam",
                          schedule="constant", amsgrad=False, progress=False, eval_every=keep or 0)
        seen = {}
        fit(model, lambda m, b: (m(b[0]) - b[0].sum(1, keepdim=True) ** 2).pow(2).mean(), (x,), cfg,
            evaluate=(lambda m: seen.setdefault("w", [p.detach().clone() for p in m.parameters()]) and {})
            if keep else None)
        return seen.get("w") or [p.detach().clone() for p in model.parameters()]
    for a, b in zip(run(20), run(40, keep=20)):
        assert torch.equal(a, b)


def test_bad_optimiser_or_schedule_is_refused():
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    assert TrainConfig().optimizer == "adamw" and TrainConfig().schedule == "plateau"


# ------------------------------------------------------------------------------- principal subspace
def _affine_data(n=300, N=30, k=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    E, _ = torch.linalg.qr(torch.randn(N, k, generator=gen, dtype=torch.float64))
    scales = torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=torch.float64)[:k]
    mean = torch.randn(N, generator=gen, dtype=torch.float64)
    return torch.randn(n, k, generator=gen, dtype=torch.float64) * scales @ E.T + mean, E, mean


def test_principal_subspace_finds_the_affine_span_of_the_data():
    x, E, mean = _affine_data()
    sub = principal_subspace(x, 0.9999)
    assert sub.k == 4 and sub.dim == 5 and sub.explained == pytest.approx(1.0)
    Q = sub.basis
    assert torch.allclose(Q.T @ Q, torch.eye(5, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(sub.project(E.T), E.T, atol=1e-10)                     # the PCs are inside
    assert torch.allclose(sub.project(mean), mean, atol=1e-10)                   # and the mean
    assert torch.allclose(sub.project(x), x, atol=1e-9)
    fewer = principal_subspace(x, 0.5)                                           # 9/(9+4+1+.25) = 63 %
    assert fewer.k == 1 and fewer.explained == pytest.approx(sub.spectrum[0])
    assert principal_subspace(x, 0.9999, max_k=2).k == 2
    assert principal_subspace(x, 0.9999, include_mean=False).dim == 4
    # the Gram route (n ≤ N) and the covariance route (n > N) agree
    assert torch.allclose(principal_subspace(x[:20], 0.9999).project(x), x, atol=1e-9)


def test_weight_share_in_the_subspace_is_the_known_fraction():
    x, E, _ = _affine_data()
    sub = principal_subspace(x, 0.9999)
    gen = torch.Generator().manual_seed(5)
    W = torch.randn(16, 30, generator=gen, dtype=torch.float64)
    inside, outside = sub.project(W), W - sub.project(W)
    mixed = 2.0 * inside + 0.5 * outside
    expected = 4 * inside.pow(2).sum() / (4 * inside.pow(2).sum() + 0.25 * outside.pow(2).sum())
    assert sub.share(mixed) == pytest.approx(float(expected), rel=1e-12)
    assert sub.share(inside) == pytest.approx(1.0) and sub.share(outside) == pytest.approx(0.0, abs=1e-24)


def _ae(N=30, d=5, scaling="raw", seed=0):
    torch.manual_seed(seed)
    return mlp_autoencoder(lambda s: s[:, :1], 1, N, d, (16, 16), input_scaling=scaling).double()


@pytest.mark.parametrize("scaling", ["raw", "standardise"])
def test_projecting_a_trained_first_layer_keeps_the_encoder_on_the_data(scaling):
    x, _, _ = _affine_data()
    ae = _ae(scaling=scaling)
    train_autoencoder(ae, x, 1e-5, TrainConfig(lr=1e-3, steps=30, batch_size=64, progress=False))
    sub = principal_subspace(x, 0.9999)
    before = ae.encode(x).detach()
    share_before = sub.share(first_layer_weight(ae.closure_net))
    assert share_before < 0.6                                    # random init: mostly outside (≈ 5/30)
    project_first_layer(ae.closure_net, sub)
    after = ae.encode(x).detach()
    assert (after - before).abs().max() < 1e-12 * before.abs().max()
    assert sub.share(first_layer_weight(ae.closure_net)) == pytest.approx(1.0, abs=1e-12)
    J = ae.jacobian(x[:8])[:, 1:]
    assert (J - sub.project(J)).abs().max() < 1e-12 * J.abs().max()


def test_the_restricted_closure_keeps_j_in_the_span_under_any_optimiser():
    x, _, _ = _affine_data()
    sub = principal_subspace(x, 0.9999)
    for optimizer in ("adamw", "adam"):
        ae = _ae()
        restrict_first_layer(ae.closure_net, sub)
        J0 = ae.jacobian(x[:8])[:, 1:]
        assert (J0 - sub.project(J0)).abs().max() < 1e-13 * J0.abs().max()      # from initialisation on
        train_autoencoder(ae, x, 1e-5, TrainConfig(lr=1e-3, steps=30, batch_size=64, weight_decay=WD,
                                                   optimizer=optimizer, progress=False))
        J = ae.jacobian(x[:8])[:, 1:]
        assert (J - sub.project(J)).abs().max() < 1e-13 * J.abs().max()
        shares = subspace_shares(ae, x[:16], sub)
        assert shares["first_layer"] == pytest.approx(1.0) and shares["jacobian"] == pytest.approx(1.0)
        # the state dict (trained weight + basis) loads into a freshly restricted closure
        fresh = _ae(seed=1)
        restrict_first_layer(fresh.closure_net, sub)
        fresh.load_state_dict(ae.state_dict())
        assert torch.equal(fresh.encode(x[:4]), ae.encode(x[:4]))


def test_restriction_refuses_what_it_cannot_do():
    x, _, _ = _affine_data()
    sub = principal_subspace(x, 0.9999)
    with pytest.raises(ValueError, match="raw"):
        restrict_first_layer(_ae(scaling="standardise").closure_net, sub)
    with pytest.raises(ValueError, match="R\\^"):
        restrict_first_layer(_ae(N=31).closure_net, sub)
    with pytest.raises(TypeError, match="first linear"):
        restrict_first_layer(nn.Identity(), sub)
    ae = _ae()
    restrict_first_layer(ae.closure_net, sub)
    with pytest.raises(ValueError, match="already"):
        restrict_first_layer(ae.closure_net, sub)
    with pytest.raises(ValueError, match="variance"):
        principal_subspace(x, 1.5)


# ----------------------------------------------------------------------------------------- capture
class LinearForces(DeterministicSystem):
    """f(x) = B x with B = E Eᵀ: every force lies in span(E) (one row per unit)."""

    name = "linear"

    def __init__(self, E: torch.Tensor) -> None:
        self.E, self.n = E, E.shape[0]

    @property
    def state_dim(self) -> int:
        return self.n

    @property
    def n_observables(self) -> int:
        return 1

    def observables(self, x):
        return x @ self.E[:, :1]

    def _force_rows(self, x, units):
        return (x @ self.E @ self.E.T).gather(1, units)

    def trajectories(self, n, seed, *, split="train"):
        raise NotImplementedError


def _linear_ae(obs_row: torch.Tensor, rows: torch.Tensor) -> ClosureAutoencoder:
    """z = [x·o, W x]: J = [oᵀ; W], the same for every x."""
    closure = nn.Linear(rows.shape[1], rows.shape[0], bias=False).double()
    with torch.no_grad():
        closure.weight.copy_(rows)
    return ClosureAutoencoder(lambda s: s @ obs_row.unsqueeze(1), 1, rows.shape[1], rows.shape[0] + 1,
                              closure_net=closure).double()


@pytest.fixture
def forces():
    gen = torch.Generator().manual_seed(2)
    basis, _ = torch.linalg.qr(torch.randn(24, 24, generator=gen, dtype=torch.float64))
    E, rest = basis[:, :6], basis[:, 6:]
    x = torch.randn(40, 24, generator=gen, dtype=torch.float64)
    return LinearForces(E), E, rest, x


def test_capture_is_one_when_j_spans_the_forces_and_zero_when_orthogonal(forces):
    system, E, rest, x = forces
    spans = _linear_ae(E[:, 0], E[:, 1:].T)                        # J's rows = E exactly
    full = full_force_terms(system, spans, x)
    assert full.capture == pytest.approx(1.0, abs=1e-12) and full.capture_median == pytest.approx(1.0, abs=1e-12)
    wider = _linear_ae(E[:, 0], torch.cat([E[:, 1:], rest[:, :3]], 1).T)   # more rows than needed: still 1
    assert full_force_terms(system, wider, x).capture == pytest.approx(1.0, abs=1e-12)
    blind = _linear_ae(rest[:, 0], rest[:, 1:6].T)                # J ⟂ span(E)
    assert full_force_terms(system, blind, x).capture == pytest.approx(0.0, abs=1e-24)


def test_capture_of_a_partial_view_matches_the_projection_by_hand(forces):
    system, E, rest, x = forces
    rows = torch.cat([E[:, 1:3], rest[:, :2]], 1).T               # sees two of E's six directions (+ obs)
    ae = _linear_ae(E[:, 0], rows)
    f = x @ E @ E.T
    P = E[:, :3] @ E[:, :3].T                                      # J's row space ∩ span(E) = E[:, :3]
    expected = float((f @ P).pow(2).sum() / f.pow(2).sum())
    budget = ForceBudget()
    full = full_force_terms(system, ae, x, budget)
    assert full.capture == pytest.approx(expected, rel=1e-10)
    assert budget.total == x.shape[0] * 24                         # every unit bought once
    J = ae.jacobian(x)
    assert capture_of(J, f) == pytest.approx(expected, rel=1e-10)
    assert torch.allclose(full.exact, (J @ f.unsqueeze(-1)).squeeze(-1), atol=1e-12)
    # label_noise reports it next to the noise ratio when it buys the forces itself, not otherwise
    res = label_noise(system, ae, x, 0.5, seed=0)
    assert res.capture == pytest.approx(expected, rel=1e-10)
    assert res.as_dict()["capture_median"] is not None
    assert label_noise(system, ae, x, 0.5, seed=0, exact=full.exact).capture is None


# ------------------------------------------------------------------------ the LJ autoencoder setting
def test_ae_config_optimiser_and_closure_input_settings():
    from support.experiments.lj_common import AEConfig, ae_train_config, model_store
    from support.experiments.lj_structures import Config
    official = ae_train_config(AEConfig(optimizer="adam_l2", steps=10), seed=0)
    assert (official.optimizer, official.schedule, official.weight_decay, official.betas, official.amsgrad) == \
        ("adam", "constant", 1e-4, (0.9, 0.95), False)
    book = ae_train_config(AEConfig(steps=10), seed=0)
    assert (book.optimizer, book.schedule, book.min_lr) == ("adamw", "cosine", AEConfig().lr / 10)
    with pytest.raises(ValueError, match="optimizer"):
        AEConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="raw"):
        AEConfig(closure_input="pca_span", input_scaling="standardise")
    cfg = Config.for_scale("paper")
    assert cfg.flat()["ae.optimizer"] == "adamw_cosine" and cfg.flat()["ae.closure_input"] == "full"


def test_new_ae_settings_at_their_defaults_leave_a_model_store_identity_unchanged(tmp_path):
    from dataclasses import replace
    from support.experiments.lj_common import AEConfig, model_store
    from support.experiments.lj_structures import Config
    cfg = Config()
    store = model_store(tmp_path, "lj_structures", 2, cfg, 0)
    before = {k: v for k, v in asdict(cfg.ae).items() if k not in AEConfig.ADDED_SETTINGS}
    assert store.identity["config"]["ae"] == {k: list(v) if isinstance(v, tuple) else v for k, v in before.items()}
    other = replace(cfg, ae=replace(cfg.ae, optimizer="adam_l2"))
    with pytest.raises(ValueError, match="another study"):
        model_store(tmp_path, "lj_structures", 2, other, 0)


def test_shares_and_report_for_a_plain_mlp_closure(forces):
    """Predator–prey's closure is a plain ``nets.mlp`` (no MLPClosure): its first layer is found too."""
    system, E, rest, x = forces
    torch.manual_seed(0)
    ae = ClosureAutoencoder(system.observables, 1, 24, 4, hidden=(8,)).double()
    sub = principal_subspace(x @ E @ E.T + 1.0, min_k=3)             # data in span(E) shifted by a constant
    assert sub.k == 6 and sub.dim == 7
    shares = subspace_shares(ae, x[:8], sub)
    assert shares["first_layer"] == pytest.approx(sub.share(ae.closure_net[0].weight), rel=1e-12)
    J = ae.jacobian(x[:8])[:, 1:].double()
    assert shares["jacobian"] == pytest.approx(float(sub.project(J).pow(2).sum() / J.pow(2).sum()), rel=1e-10)
    from support.label_noise import closure_report
    rep = closure_report(system, ae, x, 0.5, seed=0, subspace=sub)
    assert rep["capture"] == pytest.approx(capture_of(ae.jacobian(x), x @ E @ E.T), rel=1e-10)
    assert rep["subspace_shares"]["subspace"]["k"] == 6 and rep["configs"] == len(x)
