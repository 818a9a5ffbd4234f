"""The two stochastic experiments of paper 2: exact formulas of the SDE-closure study, the pieces of
the SPDE pipeline (aligned tiling, σ initialisation, MMD), and tiny end-to-end runs of both."""

import copy
import json
import math
from pathlib import Path

import numpy as np

import pytest
import torch

from support.budget import ForceBudget
from support.claims import evaluate
from support.experiments import sde_closure as sc
from support.experiments import stochastic_predator_prey as spp
from support.results import _jsonable, saved_result
from support.stochastic import LatentPairs, ZScaler
from support.stochastic.study import initial_sigma, mmd_curves
from support.systems.spde_predator_prey import TEST_PARAMETERS
from support.systems.ou_lattice import patch_correlation


# small nets: one torch thread is several times faster (fixture in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------- SDE closure
def test_site_correlation_inverts_patch_correlation():
    for rho_p in (0.0, 0.05, 0.3, 0.9):
        for n_s in (1, 4, 16):
            assert math.isclose(patch_correlation(sc.site_correlation_for(rho_p, n_s), n_s), rho_p,
                                abs_tol=1e-12)
    with pytest.raises(ValueError, match="patch correlation"):
        sc.site_correlation_for(1.0, 4)


def _toy_pairs(cfg, n, seed, patch_rho=0.0):
    system = sc.toy_system(cfg, patch_rho)
    budget = ForceBudget()
    pairs = sc.stationary_pairs(system, cfg, n, torch.Generator().manual_seed(seed), budget)
    return system, pairs, budget


def test_least_squares_fit_matches_the_closed_form_prediction():
    """Independent check of ``predicted_fit``: the estimator on 60k exact pairs, both targets."""
    cfg = sc.Config(n_patches=4, patch_sites=4)
    system, pairs, budget = _toy_pairs(cfg, 60_000, seed=3)
    assert budget.counts["site_updates"] == 60_000 * cfg.patch_sites          # one patch, one step
    for target, lam in (("partial", 4.0), ("partial", 1.0), ("naive", 1.0)):
        got = sc.least_squares_fit(pairs[target], lam)["sigma2"]
        want = sc.predicted_fit(system, cfg, target, lam)
        assert abs(got / want - 1) < 4 * math.sqrt(2 / 60_000), (target, lam, got, want)


def test_least_squares_fit_recovers_a_known_linear_sde():
    g = torch.Generator().manual_seed(0)
    n, dt = 50_000, 0.1
    z0 = torch.randn(n, 1, generator=g, dtype=torch.float64)
    z1 = z0 + (-2.0 * z0 + 0.5) * dt + math.sqrt(0.3 * 2.0 * dt) * torch.randn(n, 1, generator=g,
                                                                                dtype=torch.float64)
    fit = sc.least_squares_fit(LatentPairs(z0, z1, torch.full((n,), dt), 1, "partial"), lam=2.0)
    assert abs(fit["sigma2"] / 0.3 - 1) < 0.03
    assert abs(fit["drift_slope"] + 2.0) < 4 * fit["drift_slope_se"]


def test_sde_closure_claims_decide_from_the_standard_errors():
    """σ² ± its standard error against the closed form: a deviation of many standard errors fails,
    one within the noise holds (the tolerance scales with the stored noise, not a fixed band)."""
    cfg = sc.Config(n_patches=4, patch_sites=4)
    system, pairs, _ = _toy_pairs(cfg, 20_000, seed=5)
    fit = sc.least_squares_fit(pairs["partial"], 4.0)
    assert 0 < fit["sigma2_se"] < 0.05 * fit["sigma2"]
    assert fit["sigma2_se"] / fit["sigma2"] == pytest.approx(math.sqrt(2 / 20_000), rel=0.15)   # Gaussian residuals
    measure = next(c for c in sc.CLAIMS if c.key == "closed_form").measure
    exact = 0.25

    def result(shift):
        # the saved run's metrics with this sweep in place of its own (the claim reads only the sweep)
        from support.results import ExperimentResult
        metrics = copy.deepcopy(saved_result("sde_closure", "paper").metrics)
        sweep = metrics["lambda_sweep"]
        row = {**sweep["rows"][0], "lambda": 4.0, "sigma2": exact * (1 + shift), "sigma2_se": 0.01 * exact,
               "ratio": 1 + shift, "predicted_ratio": 1.0}
        naive = {**sweep["naive"], "lambda": 1.0, "sigma2": 200 * exact, "sigma2_se": 2 * exact, "ratio": 200.0,
                 "predicted_ratio": 200.0}
        sweep.update(exact_sigma2=exact, rows=[row], naive=naive)
        return ExperimentResult("sde_closure", "quick", 0, {"n_pairs": 20_000}, metrics)
    assert measure(result(0.01))[0] is True           # 1 s.e.
    assert measure(result(0.04))[0] is None           # 4 s.e.: the run cannot call it
    assert measure(result(0.08))[0] is False          # 8 s.e.
    # a run saved before σ²'s standard error was stored: the Gaussian-residual value σ² √(2/n) stands in
    old = result(0.01)
    for row in (*old.metrics["lambda_sweep"]["rows"], old.metrics["lambda_sweep"]["naive"]):
        del row["sigma2_se"]
    assert measure(old)[0] is True and "largest |z| = 0.99" in measure(old)[1]   # 0.01 σ² over σ² √(2/n)


def _json(x):
    return json.loads(json.dumps(_jsonable(x, 6)))


def test_sde_closure_tiny_run_end_to_end():
    cfg = sc.Config(n_patches=4, patch_sites=4, n_increments=4000, n_pairs=8000, lambda_factors=(1.0,),
                    patch_correlations=(0.0, 0.3), fit_steps=150)
    res = sc.run(cfg, seed=1, progress=False)
    json.dumps(res.to_json())                                        # JSON-able
    m = res.metrics
    assert set(m) >= {"increments", "lambda_sweep", "correlated", "simulation_cost"}
    assert set(res.figures) == {"increments", "lambda_sweep", "correlated"}
    by_lam = {r["lambda"]: r for r in m["lambda_sweep"]["rows"]}
    assert sorted(by_lam) == [1.0, 4.0]
    assert abs(by_lam[4.0]["ratio"] - 1) < 0.1 and abs(by_lam[1.0]["ratio"] / 4 - 1) < 0.1
    assert m["lambda_sweep"]["naive"]["ratio"] > 10
    rho = m["correlated"]["rows"][1]
    assert abs(rho["best_lambda"] / rho["exact_lambda"] - 1) < 0.1 and rho["exact_lambda"] < 2.2
    cost = m["simulation_cost"]
    assert cost["increments_full"] == 4 * cost["increments_partial"] == 4 * 4000 * 4
    assert cost["total"] == sum(v for k, v in cost.items() if k not in ("kind", "total"))
    for row in res.comparison:                       # the book's predictions are not called "paper"
        assert {"quantity", "measured", "note"} <= set(row) <= {"quantity", "measured", "paper", "predicted", "note"}
        assert len({"paper", "predicted"} & set(row)) == 1
    assert sum("paper" in row for row in res.comparison) == len(m["correlated"]["ising_critical"])
    assert "quick scale" in str(res.table())
    # the chapter's tables and claims read this result's keys (a renamed key fails here, not in nbval)
    assert len(sc.sweep_table(res).rows) == len(by_lam) + 1
    assert len(sc.increments_table(res).rows) == 4 and len(sc.correlation_table(res).rows) == 2
    assert len(sc.ising_table(res).rows) == len(m["correlated"]["ising_critical"])
    # the typed result is the metrics' layout: a JSON round trip gives the same metrics back
    t = sc.typed(res)
    assert _json(t.to_json()) == _json(m)
    assert _json(sc.SDEClosureResult.from_json(_json(m)).to_json()) == _json(m)
    assert t.lambda_sweep.at(4.0).ratio == by_lam[4.0]["ratio"] and t.increments.histograms is not None
    assert t.simulation_cost.total == cost["total"] and t.correlated.rows[1].exact_lambda == rho["exact_lambda"]
    verdicts = evaluate(res, sc.CLAIMS)
    assert all(v.holds is not None for v in verdicts)
    held = {v.claim.key: v.holds for v in verdicts}
    assert held["cost"] and held["ising_implied"] and held["fit_is_optimum"], held


# ---------------------------------------------------------------------- SPDE pieces
def test_aligned_tiles_take_one_group_at_one_time():
    from support.stochastic.upsampling import aligned_tiles
    G, f, T, C, n = 3, 2, 5, 2, 4
    # value encodes (group, realisation, time): tiles can be traced back
    code = (torch.arange(G).view(G, 1, 1) * 100 + torch.arange(f).view(1, f, 1) * 10
            + torch.arange(T).view(1, 1, T)).float()
    paths = code.view(G, f, T, 1, 1).expand(G, f, T, C, n).clone()
    out = aligned_tiles(paths, 50, torch.Generator().manual_seed(0))
    assert out.shape == (50, C, f * n)
    left, right = out[:, 0, 0], out[:, 0, n]
    assert torch.equal(left // 100, right // 100)                     # same (k, m) group
    assert torch.equal(left % 10, right % 10)                         # same time
    assert torch.equal(left // 10 % 10, torch.zeros(50)) and torch.equal(right // 10 % 10, torch.ones(50))
    assert torch.equal(out[:, :, :n], out[:, :, :1].expand(-1, -1, n))  # tiles kept whole
    with pytest.raises(ValueError, match="paths"):
        aligned_tiles(paths[0], 5, torch.Generator())


def test_initial_sigma_is_the_zero_drift_optimum():
    g = torch.Generator().manual_seed(0)
    z0 = 3 * torch.randn(10_000, 2, generator=g)
    z1 = z0 + 0.6 * math.sqrt(0.01 * 4) * torch.randn(10_000, 2, generator=g)   # σ = 0.6·std(z)
    pairs = LatentPairs(z0, z1, torch.full((10_000,), 0.01), 4, "partial")
    assert abs(initial_sigma(pairs, lam=4.0) / (0.6 / 3) - 1) < 0.03


def test_mmd_curves_standardise_and_flag_divergence():
    g = torch.Generator().manual_seed(0)
    true = torch.randn(2, 30, 3, 4, generator=g)
    scaler = ZScaler(4).fit(true.flatten(0, 2))
    same = mmd_curves(true, true, scaler)
    assert same.shape == (2, 3) and same.abs().max() < 1e-12
    shifted = mmd_curves(true + 2 * scaler.std, true, scaler)
    assert (shifted > 0.1).all()
    bad = true.clone()
    bad[0, 0, 1] = float("nan")
    assert torch.isinf(mmd_curves(bad, true, scaler)).all()


def _tiny_spde_config():
    return spp.Config(n_small=20, patch=10, n_train_traj=4, n_steps=60, record_every=5, n_pairs=400,
                      relax_steps=2, ae_epochs=1, sde_hidden=(16,), sde_steps=30, sde_batch=128,
                      test_parameters=TEST_PARAMETERS[:2], n_test_traj=4, test_record_every=10,
                      band_condition=1)


def test_stochastic_predator_prey_tiny_run_end_to_end():
    cfg = _tiny_spde_config()
    res = spp.run(cfg, seed=0, progress=False)
    json.dumps(res.to_json())
    m = spp.typed(res)
    assert m.K == 4 and m.lambdas == (1.0, 2.0, 4.0, 8.0, 16.0)
    # the typed result is the metrics' layout, both ways (a live run and its JSON)
    saved = json.loads(json.dumps(res.to_json()))["metrics"]
    assert json.loads(json.dumps(_jsonable(m.to_json(), 6))) == saved
    assert json.loads(json.dumps(_jsonable(spp.StudyResult.from_json(saved).to_json(), 6))) == saved
    table = m.summary.mmd_time_avg
    assert list(table) == spp.model_labels(cfg)
    for label, row in table.items():                          # the summary is the mean over seeds
        assert math.isfinite(row.mean) and row.mean == pytest.approx(np.mean(row.per_seed)), label
    seed0 = m.per_seed[0].models
    assert len(seed0[spp.NAIVE].mmd_curve) == cfg.n_steps // cfg.test_record_every + 1
    assert len(seed0[spp.NAIVE].mmd_per_condition) == 2
    # traces are reported relative to λ = K's own; λ only rescales the learned σσᵀ (σ starts at
    # the zero-drift optimum for its λ and L_p sees λσσᵀ only), so the ratio is K/λ — after 30
    # steps to within 5 % for λ ≤ 2K, 16 % at 4K (λ = 16); the ratios span a factor 16
    for lam in m.lambdas:
        assert table[spp.lambda_label(lam)].diffusion_vs_K == pytest.approx(4.0 / lam, rel=0.25), lam
    # every simulation is counted exactly
    c = m.simulation_cost
    assert c["small_system"] == cfg.n_train_traj * cfg.n_steps * cfg.n_small
    assert c["partial_evolution"] == cfg.n_pairs * cfg.patch
    assert c["ground_truth"] == 2 * cfg.n_test_traj * cfg.n_steps * cfg.n_large
    # LocalRelax: windows of one patch at stride patch/2 over the large grid (replicate boundary:
    # 0, 5, …, 30 for 40 cells), relax_steps steps each, on every upsampled snapshot
    windows = (2 * cfg.n_small - cfg.patch) // (cfg.patch // 2) + 1
    assert c["relax"] == cfg.n_pairs * windows * cfg.relax_steps * cfg.patch
    assert c["training_total"] == c["small_system"] + c["relax"] + c["partial_evolution"]
    assert set(res.figures) == {"mmd", "bands"}
    assert all({"quantity", "measured", "note"} <= set(r) for r in res.comparison)
    for row in res.comparison:                       # the book's predictions are not called "paper"
        assert len({"paper", "predicted"} & set(row)) == 1, row
    # the chapter's tables, numbers and claims read this result's keys
    assert [r[0] for r in spp.summary_table(res).rows] == spp.model_labels(cfg)
    assert set(spp.phase_ratios(res)) == {"transient", "late"}
    trace = seed0[spp.lambda_label(4.0)].diffusion_trace
    assert spp.step_variance(res) == pytest.approx(4 * trace * m.dt / spp.LATENT_DIM)
    verdicts = {v.claim.key: v for v in evaluate(res, spp.CLAIMS)}
    assert all(v.measured != "—" for v in verdicts.values())          # every claim reads this result's keys
    assert verdicts["cost"].holds
    assert verdicts["flat_optimum"].holds is None and "one seed" in verdicts["flat_optimum"].measured
    assert "paired over the test conditions" in verdicts["late_width"].measured
    assert "per seed over the test conditions" in verdicts["diffusion_scales"].measured
    # a run saved before the per-condition windows and traces were stored: with one seed those two claims
    # stay undecided, with several they use intervals over the seeds
    old = copy.deepcopy(res)
    for model in old.metrics["per_seed"][0]["models"].values():
        for key in ("mmd_transient_per_condition", "mmd_late_per_condition", "diffusion_trace_per_condition"):
            del model[key]
    old_verdicts = {v.claim.key: v for v in evaluate(old, spp.CLAIMS)}
    assert old_verdicts["late_width"].holds is None and old_verdicts["diffusion_scales"].holds is None
    old.metrics["per_seed"].append(copy.deepcopy(old.metrics["per_seed"][0]))
    for model in old.metrics["per_seed"][1]["models"].values():
        model["mmd_curve"] = [1.1 * c for c in model["mmd_curve"]]
        model["diffusion_trace"] *= 1.01
    old_verdicts = {v.claim.key: v for v in evaluate(old, spp.CLAIMS)}
    assert "over 2 seeds" in old_verdicts["diffusion_scales"].measured
    assert "paired over 2 seeds" in old_verdicts["transient_close"].measured


def _spp_result(per_condition: dict[str, list[list[float]]]) -> "ExperimentResult":
    """A run whose models have the given per-condition MMD² in each seed (K = 4; every other number a
    placeholder)."""
    from support.results import ExperimentResult
    bands = {"obs_mean": [[0.0, 0.0]], "obs_std": [[1.0, 1.0]]}

    def score(rows):
        return {"mmd_curve": [0.0], "mmd_per_condition": rows, "mmd_time_avg": float(np.mean(rows)),
                "std_ratio": [1.0, 1.0], "diffusion_trace": 1.0, **bands}
    n_seeds = len(next(iter(per_condition.values())))
    seeds = [{"models": {label: score(rows[i]) for label, rows in per_condition.items()}, "truth": bands,
              "additivity_gap": 0.0} for i in range(n_seeds)]
    summary = {"mmd_time_avg": {}, "best_lambda": 4.0}
    return ExperimentResult("stochastic_predator_prey", "quick", 0, {}, spp.StudyResult.from_json(
        {"summary": summary, "simulation_cost": {}, "K": 4, "lambdas": [1.0, 4.0], "dt": 0.01,
         "per_seed": seeds}).to_json())


def test_spp_k_beats_is_three_valued_per_seed_over_test_conditions():
    measure = next(c for c in spp.CLAIMS if c.key == "K_beats").measure
    cond = [1.0, 2.0, 1.5, 0.8, 1.2]
    K, one = spp.lambda_label(4.0), spp.lambda_label(1.0)
    beats = _spp_result({K: [cond], one: [[2 * c for c in cond]], spp.NAIVE: [[10 * c for c in cond]]})
    holds, text = measure(beats)
    assert holds is True and "paired test conditions" in text and "[" in text
    mixed = _spp_result({K: [cond], one: [[c * f for c, f in zip(cond, (2.0, 0.5, 1.5, 0.7, 1.3))]],
                         spp.NAIVE: [[10 * c for c in cond]]})
    assert measure(mixed)[0] is None                  # better on average, not across the conditions
    worse = _spp_result({K: [cond], one: [[c / 2 for c in cond]], spp.NAIVE: [[10 * c for c in cond]]})
    assert measure(worse)[0] is False
    # one seed that cannot decide leaves the claim undecided even when the other seed decides it
    two = _spp_result({K: [cond, cond], one: [[2 * c for c in cond],
                                              spp.typed(mixed).per_seed[0].models[one].mmd_per_condition],
                       spp.NAIVE: [[10 * c for c in cond]] * 2})
    assert measure(two)[0] is None


def test_saved_spp_run_reads_as_typed_result():
    """The saved paper-scale run (never rewritten) reads through the typed reader, number for number."""
    saved = saved_result("stochastic_predator_prey", "paper")
    raw = json.loads((Path(__file__).resolve().parents[1] / "results" / "paper" / "stochastic_predator_prey"
                      / "results.json").read_text())["metrics"]
    m = spp.typed(saved)
    assert m.K == raw["K"] and list(m.lambdas) == raw["lambdas"] and len(m.per_seed) == len(raw["per_seed"])
    assert m.summary.best_lambda == raw["summary"]["best_lambda"]
    assert m.summary.mmd_time_avg["naive"].mean == raw["summary"]["mmd_time_avg"]["naive"]["mean"]
    s2, r2 = m.per_seed[2].models["λ=5"], raw["per_seed"][2]["models"]["λ=5"]
    assert s2.mmd_time_avg == r2["mmd_time_avg"] and list(s2.mmd_per_condition) == r2["mmd_per_condition"]
    assert s2.mmd_transient_per_condition is None             # saved before the windows were stored
    assert m.per_seed[0].truth.obs_std.tolist() == raw["per_seed"][0]["truth"]["obs_std"]
    assert json.loads(json.dumps(_jsonable(m.to_json(), 6))) == raw          # no key or number lost
    with pytest.raises(ValueError, match="unknown keys"):
        spp.ModelScore.from_json({**raw["per_seed"][0]["models"]["naive"], "surprise": 1})


def test_bad_spde_configs_raise():
    with pytest.raises(ValueError, match="tile"):
        spp.run(spp.Config(patch=30), progress=False)
    cfg = _tiny_spde_config()
    cfg.n_train_traj = 5
    with pytest.raises(ValueError, match="multiple"):
        spp.run(cfg, progress=False)


def test_preset_table_lists_exactly_the_settings_that_differ():
    quick, paper = spp.Config.for_scale("quick").flat(), spp.Config.for_scale("paper").flat()
    rows = {r[0].strip("`"): r[1:] for r in spp.preset_table().rows}
    assert set(rows) == {k for k in quick if k != "scale" and quick[k] != paper[k]}
    assert rows["n_pairs"] == ["30,000", "150,000"] and rows["n_seeds"] == ["1", "3"]
