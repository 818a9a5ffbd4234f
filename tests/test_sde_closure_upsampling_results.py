"""The typed results of the upsampling and sde_closure experiments (support/experiments/*_results.py): the
saved paper-scale runs (never rewritten) read through the typed readers number for number, writing them
back gives the saved JSON unchanged, the estimates derived from them are records with the same round trip,
and a missing key or a wrong shape is refused with an error that names it. (Tiny live runs are checked
the same way in test_upsampling_and_criticality.py and test_experiments_stochastic.py.)"""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

from support.experiments import sde_closure as sc
from support.experiments import upsampling as ups
from support.results import _jsonable, saved_result

ROOT = Path(__file__).resolve().parents[1]


def _json(x):
    """As a saved run holds it: JSON types, 6 significant digits, NaN and inf as null."""
    return json.loads(json.dumps(_jsonable(x, 6)))


def _raw(name: str) -> dict:
    """The saved paper-scale run's metrics as written on disk."""
    return json.loads((ROOT / "results" / "paper" / name / "results.json").read_text())["metrics"]


# ------------------------------------------------------------------------------------ upsampling
def test_saved_upsampling_run_reads_as_typed_result():
    """Every condition, run, sample and direct run of the saved paper-scale run, by attribute."""
    raw = _raw("upsampling")
    m = ups.typed(saved_result("upsampling", "paper"))
    assert list(m.conditions) == list(raw["conditions"]) == ["above", "critical"]
    c, q = m.conditions["critical"], raw["conditions"]["critical"]
    assert (c.T, c.h, c.onsager_rho, c.cost_ratio) == (q["T"], q["h"], q["onsager_rho"], q["cost_ratio"])
    assert [(r.t_relax, r.boundary) for r in c.runs] == [(r["t_relax"], r["boundary"]) for r in q["runs"]]
    longest = c.longest("frozen")
    assert longest.t_relax == max(r["t_relax"] for r in q["runs"]) and longest.samples is not None
    assert c.no_relax().w1["ρ_dw"] == q["runs"][0]["w1"]["ρ_dw"] and c.floor["|m|"] == q["floor"]["|m|"]
    assert c.exact_replication.largest == max(q["exact_replication"].values())
    assert c.reference.mean["ρ_dw"] == q["reference"]["mean"]["ρ_dw"]
    assert c.reference.ranges["e"] == tuple(q["reference"]["ranges"]["e"])
    assert c.samples.reference.rho_dw.tolist() == q["samples"]["reference"]["ρ_dw"]
    assert np.array_equal(c.samples.reference2.observable("|m|"), np.abs(q["samples"]["reference2"]["m"]))
    assert c.units == ups.Units(**q["units"])
    assert longest.walls.shape == np.asarray(q["runs"][-1]["walls"]).shape
    assert c.direct.abs_m_each.shape == np.asarray(q["direct"]["abs_m_each"]).shape
    assert c.pictures["small"].dtype.kind == "i" and c.reference.histograms["m"].dtype.kind == "i"   # counts, spins
    # JSON null reads as what the live run held: inf (never equilibrated), NaN (no wall in the bulk)
    assert q["direct"]["events_to_equilibrium"] is None and c.direct.events_to_equilibrium == math.inf
    assert c.cost_ratio_is_lower_bound is True
    assert q["runs"][0]["seam_over_bulk"] is None and math.isnan(c.no_relax().seam_over_bulk)
    a = m.conditions["above"]
    assert a.onsager_rho is None and "onsager_rho" not in a.to_json()      # h ≠ 0: not stored, not written
    assert a.direct.events_to_equilibrium == raw["conditions"]["above"]["direct"]["events_to_equilibrium"]
    # the round trip: no key, number or spelling lost, from the typed result and from the JSON alike
    assert _json(m.to_json()) == raw
    assert _json(ups.UpsamplingResult.from_json(raw).to_json()) == raw
    assert ups.typed(m) is m
    # frozen, and its arrays read-only
    with pytest.raises(FrozenInstanceError):
        c.T = 3.0
    with pytest.raises(ValueError, match="read-only"):
        c.samples.reference.m[0] = 1.0


def test_upsampling_estimates_are_typed_and_round_trip():
    """Distances, wall ratios and the cost ratio of the saved run are frozen records around the stored
    values: their JSON reads back into equal records and writes identical JSON."""
    saved = saved_result("upsampling", "paper")
    m = ups.typed(saved)
    c = m.conditions["above"]
    row = c.longest("frozen")
    est = ups.distances(saved, "above", row)
    assert ups.distances(saved, "above", row) is est                        # computed once per result
    assert (est.t_relax, est.boundary) == (row.t_relax, row.boundary) and list(est.observables) == list(ups.OBSERVABLES)
    for key in ups.OBSERVABLES:
        assert est[key].w1.value == pytest.approx(row.w1[key], rel=1e-3)     # from samples saved to 6 digits
        assert est[key].floor.value == pytest.approx(c.floor[key], rel=1e-3)
        assert est[key].w1.lo <= est[key].w1.value <= est[key].w1.hi
    text = json.dumps(est.to_json())
    back = ups.DistanceEstimates.from_json(json.loads(text))
    assert json.dumps(back.to_json()) == text and dict(back.observables) == dict(est.observables)

    walls = ups.wall_ratio_estimates(row)
    assert walls.seam_over_bulk.value == pytest.approx(row.seam_over_bulk, rel=1e-4)
    assert ups.WallRatios.from_json(json.loads(json.dumps(walls.to_json()))) == walls
    assert ups.wall_ratio_estimates(c.no_relax()) is None                   # replication alone: no walls stored

    cost = ups.cost_estimate(0.05, m.conditions["critical"])
    assert cost.lower_bound is True and cost.ratio.value == pytest.approx(m.conditions["critical"].cost_ratio, rel=1e-4)
    assert ups.CostEstimate.from_json(json.loads(json.dumps(cost.to_json()))) == cost

    rho = ups.rho_estimate(m.conditions["critical"], m.conditions["critical"].longest("frozen"))
    assert rho.value == pytest.approx(m.conditions["critical"].longest("frozen").mean["ρ_dw"], rel=1e-4)


def test_upsampling_refuses_missing_keys_and_wrong_shapes():
    raw = _raw("upsampling")
    q = raw["conditions"]["critical"]
    with pytest.raises(ValueError, match=r"not a Condition: missing \['direct'\]"):
        ups.Condition.from_json({k: v for k, v in q.items() if k != "direct"})
    with pytest.raises(ValueError, match=r"not a RelaxedRun: missing \['w1'\]"):
        ups.typed({"conditions": {"critical": {**q, "runs": [{k: v for k, v in q["runs"][0].items() if k != "w1"}]}}})
    with pytest.raises(ValueError, match=r"unknown keys \['surprise'\]"):
        ups.RelaxedRun.from_json({**q["runs"][1], "surprise": 1})
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        ups.UpsamplingResult.from_json({"conditions": [q]})
    with pytest.raises(ValueError, match="expected a JSON list, got dict"):
        ups.Condition.from_json({**q, "runs": q["runs"][0]})
    with pytest.raises(ValueError, match="UpsamplingResult: expected a JSON object, got list"):
        ups.typed([raw])
    with pytest.raises(ValueError, match="missing"):
        ups.DistanceEstimates.from_json({"t_relax": 1.0, "boundary": "frozen",
                                         "observables": {"m": {"w1": {"value": 1, "lo": 0, "hi": 2}}}})


# ------------------------------------------------------------------------------------ sde_closure
def test_saved_sde_closure_run_reads_as_typed_result():
    """The three studies and the cost of the saved paper-scale run, by attribute."""
    raw = _raw("sde_closure")
    m = sc.typed(saved_result("sde_closure", "paper"))
    inc, q = m.increments, raw["increments"]
    assert list(inc.rows) == ["partial", "naive", "full"] and inc.rows["naive"].var == q["rows"]["naive"]["var"]
    assert inc.var_ratio_se == q["var_ratio_se"] and inc.cost == sc.IncrementCost(**q["cost"])
    assert set(inc.histograms) == set(q["histograms"])                      # stored since the run was redone
    sweep = m.lambda_sweep
    assert [r.lam for r in sweep.rows] == [r["lambda"] for r in raw["lambda_sweep"]["rows"]]
    assert sweep.at(8.0).ratio == next(r["ratio"] for r in raw["lambda_sweep"]["rows"] if r["lambda"] == 8.0)
    assert sweep.naive.sigma2_se == raw["lambda_sweep"]["naive"]["sigma2_se"]
    with pytest.raises(KeyError, match="no fit at λ = 3"):
        sweep.at(3.0)
    assert [r.best_lambda for r in m.correlated.rows] == [r["best_lambda"] for r in raw["correlated"]["rows"]]
    ising = m.correlated.ising_critical
    assert [(x.K, x.lam) for x in ising] == [(x["K"], x["lambda"]) for x in raw["correlated"]["ising_critical"]]
    assert all(isinstance(x.K, int) for x in ising)
    assert m.simulation_cost == sc.SimulationCost(**raw["simulation_cost"])
    assert _json(m.to_json()) == raw                                        # no key or number lost
    assert _json(sc.SDEClosureResult.from_json(raw).to_json()) == raw
    assert sc.typed(m) is m
    with pytest.raises(FrozenInstanceError):
        sweep.exact_sigma2 = 1.0


def test_sde_closure_reads_runs_saved_before_the_standard_errors():
    """Standard errors and histograms that older runs did not store read as None and are left out
    when written back."""
    raw = _raw("sde_closure")
    old = json.loads(json.dumps(raw))
    del old["increments"]["var_ratio_se"], old["lambda_sweep"]["naive"]["sigma2_se"], old["increments"]["histograms"]
    del old["correlated"]["rows"][0]["best_lambda_se"], old["increments"]["rows"]["full"]["se_var"]
    m = sc.SDEClosureResult.from_json(old)
    assert m.increments.var_ratio_se is None and m.lambda_sweep.naive.sigma2_se is None
    assert m.correlated.rows[0].best_lambda_se is None and m.increments.rows["full"].se_var is None
    assert m.increments.histograms is None and "histograms" not in m.increments.to_json()
    assert _json(m.to_json()) == old


def test_sde_closure_refuses_missing_keys_and_wrong_shapes():
    raw = _raw("sde_closure")
    with pytest.raises(ValueError, match=r"not a SDEClosureResult: missing \['simulation_cost'\]"):
        sc.SDEClosureResult.from_json({k: v for k, v in raw.items() if k != "simulation_cost"})
    row = {k: v for k, v in raw["lambda_sweep"]["rows"][0].items() if k != "drift_slope_se"}
    with pytest.raises(ValueError, match=r"not a DiffusionFit: missing \['drift_slope_se'\]"):
        sc.typed({**raw, "lambda_sweep": {**raw["lambda_sweep"], "rows": [row]}})
    with pytest.raises(ValueError, match=r"unknown keys \['sigma'\]"):
        sc.DiffusionFit.from_json({**raw["lambda_sweep"]["naive"], "sigma": 1.0})
    with pytest.raises(ValueError, match="expected a JSON list, got dict"):
        sc.LambdaSweep.from_json({**raw["lambda_sweep"], "rows": raw["lambda_sweep"]["naive"]})
    with pytest.raises(ValueError, match="expected a JSON object, got list"):
        sc.IncrementStudy.from_json({**raw["increments"], "rows": list(raw["increments"]["rows"].values())})
    with pytest.raises(ValueError, match="IsingLambda: expected a JSON object, got float"):
        sc.CorrelationStudy.from_json({**raw["correlated"], "ising_critical": [0.5]})
