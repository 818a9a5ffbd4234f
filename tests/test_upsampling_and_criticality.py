"""The upsampling and Ising-criticality experiments: tiny end-to-end runs, claims readable, bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from support.claims import evaluate
from support.experiments import ising_criticality as crit
from support.experiments import upsampling as ups
from support.experiments.config import apply_overrides
from support.systems.spins import ising
from support.systems.spins.patch_dynamics import IsingDynamics, upsample_lattices

TINY_UPS = {"L_small": "8", "L": "16", "relax_window": "8", "n_snapshots": "8", "small_runs": "4",
            "small_burn_in": "20", "small_interval": "5", "relax_times": "[0, 1]", "reference_chains": "4",
            "direct_lattices": "2", "direct_time": "20", "direct_records": "4"}

TINY_CRIT = {"L_small": "8", "sizes": "[8, 16]", "temperatures": "[2.25, 2.29]", "n_snapshots": "40",
             "small_runs": "4", "small_burn_in": "20", "small_interval": "2", "relax_window": "8",
             "relax_time": "1", "pairs_per_snapshot": "2", "correlation_per_snapshot": "2", "sde.steps": "20",
             "rollout_paths": "8", "rollout_steps": "40", "record_every": "2", "direct_chains": "2",
             "direct_records": "20", "binder_grid": "[2.2, 2.3]"}


def test_upsampling_tiny_run_reads_every_claim():
    cfg = apply_overrides(ups.Config.for_scale("quick"), TINY_UPS)
    r = ups.run(cfg, progress=False)
    verdicts = {v.claim.key: v for v in evaluate(r, ups.CLAIMS)}
    assert set(verdicts) == {c.key for c in ups.CLAIMS}
    assert all(v.measured != "—" for v in verdicts.values())      # every claim measured (maybe undecided)
    assert verdicts["replication_exact"].holds                     # exact maps, whatever the size
    # every measured text shows an interval (or, for the exact maps, says there is no sampling noise)
    assert all("[" in v.measured or "no sampling noise" in v.measured for v in verdicts.values())
    # the intervals are built around the stored point values
    m = ups.typed(r)
    for c in m.conditions.values():
        for row in c.runs:
            est = ups.distance_estimates(c, row)
            if est is not None:
                assert (est.t_relax, est.boundary) == (row.t_relax, row.boundary)
                for k in ups.OBSERVABLES:
                    assert est[k].w1.value == pytest.approx(row.w1[k], rel=1e-9)
                    assert est[k].floor.value == pytest.approx(c.floor[k], rel=1e-9)
                    assert est[k].w1.lo <= est[k].w1.value <= est[k].w1.hi
        walls = ups.wall_ratio_estimates(c.longest("frozen"))
        assert walls.seam_over_bulk.value == pytest.approx(c.longest("frozen").seam_over_bulk)
        assert walls.inside_over_between.value == pytest.approx(c.longest("frozen").inside_over_between)
        assert c.direct.abs_m_each.shape == (2, 5)
        assert np.mean(c.direct.abs_m_each, axis=0) == pytest.approx(c.direct.abs_m)
        assert c.events_per_snapshot > c.small_events_per_snapshot > 0
    c = m.conditions["critical"]
    runs = {(row.t_relax, row.boundary) for row in c.runs}
    assert runs == {(0.0, "frozen"), (1.0, "frozen"), (1.0, "periodic")}
    assert c.runs[0].inside_over_between == 0.0                  # replication: no wall inside a block
    assert c.onsager_rho is not None and m.conditions["above"].onsager_rho is None      # h = 0 only
    assert set(r.figures) == {"snapshots", "histograms", "distances", "correlation", "cost"}
    # the typed result is the metrics' layout: a JSON round trip gives the same metrics back
    assert _json(m.to_json()) == _json(r.metrics)
    assert _json(ups.UpsamplingResult.from_json(_json(r.metrics)).to_json()) == _json(r.metrics)


def test_upsampling_w1_matches_scipy_and_the_noise_floor_bootstrap():
    from scipy.stats import wasserstein_distance

    from support.systems.spins.diagnostics import standardised_w1, w1_over_sd
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=37), rng.normal(0.3, 2.0, size=50)
    assert w1_over_sd(a, b) == pytest.approx(wasserstein_distance(a, b) / b.std(), rel=1e-12)   # scipy: independent
    assert standardised_w1(a, b) == w1_over_sd(a, b)
    # two samples of one law: the excess over 2 × the floor is negative; a shifted law: positive
    n = 400

    def samples(shift: float = 0.0) -> ups.Samples:
        return ups.Samples(m=rng.normal(shift, 1, size=n), rho_dw=rng.normal(size=n), e=rng.normal(size=n))
    # a saved condition with these samples in place of its own (only the samples and units are read)
    from support.results import saved_result
    saved = ups.typed(saved_result("upsampling", "paper")).conditions["above"]
    c = replace(saved, samples=ups.DirectSamples(reference=samples(), reference2=samples()), units=ups.Units(2, 2))
    same, moved = (replace(saved.runs[0], samples=samples(shift)) for shift in (0.0, 0.5))
    assert ups.distance_estimates(c, same)["m"].excess.hi < 0
    assert ups.distance_estimates(c, moved)["m"].excess.lo > 0
    assert ups.distance_estimates(c, moved)["m"].mean_shift.lo > 0.3


def test_upsampling_rejects_bad_configs():
    cfg = ups.Config.for_scale("quick")
    for change, msg in [({"conditions": '["boiling"]'}, "unknown condition"),
                        ({"relax_times": "[1, 2]"}, "include 0"), ({"L": "48"}, "power of two"),
                        ({"relax_window": "5"}, "relax_window")]:
        with pytest.raises(ValueError, match=msg):
            ups.run(apply_overrides(cfg, change), progress=False)


def test_hierarchical_upsample_without_relaxation_is_replication():
    rng = np.random.default_rng(0)
    small = np.where(rng.random((3, 8, 8)) < 0.5, 1, -1).astype(np.int8)
    big, events = upsample_lattices(IsingDynamics(2.3, relax_window=8), small, 32, rng)
    assert np.array_equal(big, ising.replicate(small, 4)) and not events.any()
    hooks = IsingDynamics(2.3, relax_window=8, relax_time=1.0)
    relaxed, events = upsample_lattices(hooks, small, 32, np.random.default_rng(1))
    assert relaxed.shape == (3, 32, 32) and (events > 0).all()
    again, _ = upsample_lattices(hooks, small, 32, np.random.default_rng(1))
    assert np.array_equal(relaxed, again)                                   # seeded
    # level by level it is replicate + local_relax (windows min(8, L/2)) with the same stream
    r = np.random.default_rng(1)
    x = ising.local_relax(ising.replicate(small, 2), 8, 1.0, 2.3, seed=r, return_events=True)[0]
    x = ising.local_relax(ising.replicate(x, 2), 8, 1.0, 2.3, seed=r, return_events=True)[0]
    assert np.array_equal(relaxed, x)
    with pytest.raises(ValueError, match="power of 2"):
        upsample_lattices(hooks, small, 24, rng)


def test_criticality_tiny_run_reads_every_claim():
    cfg = apply_overrides(crit.Config.for_scale("quick"), TINY_CRIT)
    r = crit.run(cfg, progress=False)
    verdicts = {v.claim.key: v for v in evaluate(r, crit.CLAIMS)}
    assert set(verdicts) == {c.key for c in crit.CLAIMS}
    assert all(v.measured != "—" for v in verdicts.values())      # every claim measured (maybe undecided)
    assert all("[" in v.measured for k, v in verdicts.items() if k != "binder_crossing"), verdicts
    # the bootstrap estimates are built around the stored fits
    m = crit.typed(r)
    for src in ("direct", "sde"):
        est = crit.exponent_estimates(m, src)
        assert est.source == src and est.fitted()
        for key, e in est.fitted().items():
            assert e.value == pytest.approx(m.fits[src].get(key), rel=1e-9, abs=1e-12)
            assert e.lo <= e.value <= e.hi
    assert all(len(p.direct.units) == 2 and len(p.models["measured"].moments.units) == 8 for p in m.points)
    big = [p for p in m.points if p.L == 16]
    assert all(p.K == 4 and p.rho_p is not None for p in big)
    assert set(next(p for p in big if p.T == 2.25).models) == {"measured", "K", "degree_5"}   # nearest T_c
    assert set(next(p for p in big if p.T == 2.29).models) == {"measured"}
    assert "sde_degree_5" in m.fits
    assert m.fits["direct"].beta_over_nu is not None and m.fits["direct"].gamma_over_nu is not None
    # the typed result is the metrics' layout: a JSON round trip gives the same metrics back
    assert _json(m.to_json()) == _json(r.metrics)
    assert _json(crit.CriticalityResult.from_json(_json(r.metrics)).to_json()) == _json(r.metrics)


def _json(x):
    from support.results import _jsonable
    return json.loads(json.dumps(_jsonable(x, 6)))


def test_saved_criticality_run_reads_as_typed_result():
    """The saved paper-scale run (never rewritten) reads through the typed reader, number for number."""
    from support.results import saved_result
    saved = saved_result("ising_criticality", "paper")
    raw = json.loads((saved_result_path("ising_criticality")).read_text())["metrics"]
    m = crit.typed(saved)
    assert len(m.points) == len(raw["points"]) and m.T_near == raw["T_near"]
    p, q = m.points[-1], raw["points"][-1]
    assert (p.L, p.T, p.K, p.lam) == (q["L"], q["T"], q["K"], q["lambda"])
    assert p.rho_p.rho == q["rho_p"]["rho"] and p.direct.chi == q["direct"]["chi"]
    assert p.models["measured"].moments.abs_m == q["models"]["measured"]["abs_m"]
    assert list(p.direct.units[0]) == q["direct"]["units"][0]
    assert m.fits["sde"].gamma_over_nu == raw["fits"]["sde"]["gamma_over_nu"]
    assert m.fits["direct"].dU_dT[32] == raw["fits"]["direct"]["dU_dT"]["32"]
    assert m.binder.U[64] == tuple(raw["binder"]["U"]["64"])
    assert _json(m.to_json()) == raw                                        # no key or number lost


def test_saved_criticality_estimates_are_typed_and_round_trip():
    """Exponent and ratio estimates of the saved paper-scale run are frozen records: their JSON reads back
    into equal records and writes byte-identical JSON; the numbers are the bootstrap's (value inside its
    interval, sizes keyed by int)."""
    from support.results import saved_result
    m = crit.typed(saved_result("ising_criticality", "paper"))
    for src in ("direct", "sde", "sde_lambda_K"):
        est = crit.exponent_estimates(m, src)
        text = json.dumps(est.to_json())
        back = crit.ExponentEstimates.from_json(json.loads(text))
        assert json.dumps(back.to_json()) == text and back == est
        assert est.gamma_over_nu.value == pytest.approx(m.fits[src].gamma_over_nu, rel=1e-5)   # saved: 6 digits
    assert crit.exponent_estimates(m, "sde_lambda_K").one_over_nu is None      # λ = K: no Binder slopes
    for src in ("sde", "sde_degree_5"):
        ratios = crit.ratio_estimates(m, src)
        text = json.dumps(ratios.to_json())
        back = crit.RatioEstimates.from_json(json.loads(text))
        assert json.dumps(back.to_json()) == text
        assert list(back.per_size) == list(ratios.per_size) == m.sizes and back.T == m.T_near
        assert all(back.per_size[L] == r for L, r in ratios.per_size.items())
        assert all(r.chi.lo <= r.chi.value <= r.chi.hi for r in ratios.per_size.values())
    with pytest.raises(ValueError, match="unknown keys"):
        crit.ExponentEstimates.from_json({"source": "sde", "nu": {"value": 1, "lo": 0, "hi": 2}})


def saved_result_path(name):
    from pathlib import Path
    return Path(__file__).resolve().parents[1] / "results" / "paper" / name / "results.json"


@pytest.mark.parametrize("with_rho", [False, True])
def test_criticality_pairs_are_symmetrised(with_rho):
    cfg = apply_overrides(crit.Config.for_scale("quick"), {"with_rho": str(with_rho).lower()})
    rng = np.random.default_rng(1)
    snaps = np.where(rng.random((10, 32, 32)) < 0.7, 1, -1).astype(np.int8)
    pairs = crit.training_pairs(cfg, snaps, 2.27, rng)
    n = len(pairs) // 2
    assert pairs.z0.shape[1] == (2 if with_rho else 1) and pairs.n_patches == 4
    assert np.allclose(pairs.z0[:n, 0], -pairs.z0[n:, 0]) and np.allclose(pairs.z1[:n, 0], -pairs.z1[n:, 0])
    assert np.allclose(pairs.z0[:n, 1:], pairs.z0[n:, 1:]) and np.allclose(pairs.z1[:n, 1:], pairs.z1[n:, 1:])
    assert np.allclose(pairs.z0[:n, 0], np.repeat(snaps.mean(axis=(1, 2)), cfg.pairs_per_snapshot * 4))


def test_criticality_rejects_bad_configs():
    cfg = crit.Config.for_scale("quick")
    for change, msg in [({"sizes": "[16, 48]"}, "power of two"), ({"temperatures": "[2.27]"}, "two temperatures"),
                        ({"rollout_steps": "3"}, "rollout_steps")]:
        with pytest.raises(ValueError, match=msg):
            crit.run(apply_overrides(cfg, change), progress=False)


def test_moments_from_units_are_the_pooled_moments_and_bootstrap_fits_are_centred():
    from support.systems.spins.finite_size import (moments, moments_from_units, power_law_fit,
                                                   resampled_units, slopes, unit_moments)
    rng = np.random.default_rng(3)
    m = np.tanh(rng.normal(0.2, 0.5, (12, 30)))
    pooled, units = moments(m, 16, 2.27), moments_from_units(unit_moments(m), 16, 2.27)
    for q in ("abs_m", "chi", "binder"):
        assert float(units[q]) == pytest.approx(pooled[q], rel=1e-12)
    boot = moments_from_units(resampled_units(unit_moments(m), 50, rng), 16, 2.27)
    assert boot["chi"].shape == (50,) and np.isfinite(boot["binder"]).all()
    L, y = [16, 32, 64], [1.0, 3.3, 11.0]
    assert float(slopes(np.log(L), np.log(y))) == pytest.approx(power_law_fit(L, y)["slope"], rel=1e-12)


def test_lambda_interval_and_flexible_drift_verdicts_are_three_valued():
    from support.results import ExperimentResult
    pts = [crit.CriticalPoint(L, 2.27, K, crit.IncrementCorrelation(rho, se, n), K, 0, {}, None)
           for L, K, rho, se, n in ((32, 4, 0.02, 0.005, 4000), (64, 16, 0.0, 0.2, 30))]
    m = crit.CriticalityResult(pts, {}, None, 2.27)
    est = crit.lambda_estimates(m)
    assert est[(32, 2.27)].lo < 1 / 1.08 < est[(32, 2.27)].hi
    r = ExperimentResult(name="ising_criticality", scale="quick", seed=0, config={}, metrics=m.to_json())
    holds, text = crit._lambda(r)
    assert holds is None and "[" in text                # the K = 16 interval is too wide to decide
