"""The two loose relaxations of the random insertion: ASE FIRE (the book's default) and paper 1's
LAMMPS ``minimize 1.0e-1 1.0e-4 1000 10000`` (conjugate gradients); the temperature signal each leaves."""

from __future__ import annotations

import numpy as np
import pytest

from support.systems.lennard_jones import (PAPER, LennardJonesSystem, initial_positions,
                                           lammps_available, lammps_minimize, potential_energy,
                                           random_configuration, temperature_change)
from support.systems.lennard_jones import lammps_engine

needs_lammps = pytest.mark.skipif(not lammps_available(), reason="LAMMPS Python module not usable")
N_ATOMS = 256


@needs_lammps
def test_lammps_cg_meets_its_stopping_criterion_and_lowers_the_energy():
    inserted = random_configuration(N_ATOMS, seed=5)
    box = np.diag(inserted.cell[:])
    result = lammps_minimize(inserted.get_positions(), box)
    # LAMMPS's reported energies are ours (per atom, plain cut): initial = insertion, final = result
    assert result.energy_initial == pytest.approx(potential_energy(inserted.get_positions(), box) / N_ATOMS,
                                                  rel=1e-12)
    assert result.energy_final == pytest.approx(potential_energy(result.positions, box) / N_ATOMS, rel=1e-12)
    assert result.energy_final < result.energy_initial
    assert -6.5 < result.energy_final < -3.0   # loose: overlaps gone, above the liquid minimum
    etol, ftol, maxiter, maxeval = 0.1, 1e-4, 1000, 10000
    e, e_prev = result.energy_final, result.energy_previous
    met = {"energy tolerance": abs(e - e_prev) <= etol * 0.5 * (abs(e) + abs(e_prev) + 1e-8),
           "force tolerance": result.fnorm_final <= ftol,
           "max iterations": result.iterations >= maxiter,
           "max force evaluations": result.evaluations >= maxeval}
    assert met.get(result.criterion, False), (result.criterion, met)
    assert result.iterations < maxiter     # at this tolerance LAMMPS stops long before the limits
    assert ((result.positions >= 0) & (result.positions < box)).all()
    again = lammps_minimize(inserted.get_positions(), box)
    np.testing.assert_array_equal(again.positions, result.positions)   # deterministic


@needs_lammps
def test_initial_positions_with_lammps_cg():
    positions, box = initial_positions(N_ATOMS, seed=5, relaxation="lammps_cg")
    direct = lammps_minimize(random_configuration(N_ATOMS, seed=5).get_positions(), box)
    np.testing.assert_array_equal(positions, direct.positions)
    fire, _ = initial_positions(N_ATOMS, seed=5)                          # default unchanged: FIRE
    assert not np.allclose(fire, positions)


@needs_lammps
def test_cg_leaves_more_potential_energy_so_a_larger_temperature_signal():
    """Same insertion, velocity pattern and T0s: CG (stops at an energy tolerance) leaves more
    excess potential energy than FIRE to max |F| ≤ 50, so the fluid heats more during NVE."""
    kw = dict(engine="lammps", start_seed=0)
    fire = LennardJonesSystem(N_ATOMS, **kw).temperature_signal(3, seed=0)
    cg = LennardJonesSystem(N_ATOMS, relaxation="lammps_cg", **kw).temperature_signal(3, seed=0)
    np.testing.assert_array_equal(fire["t0"], cg["t0"])
    assert cg["mean"] > fire["mean"]
    assert (cg["per_run"] > fire["per_run"]).all()
    runs = LennardJonesSystem(N_ATOMS, relaxation="lammps_cg", n_frames=5, **kw).simulate(2, seed=0)
    temps = runs.temperatures()
    np.testing.assert_array_equal(temperature_change(runs), temps[:, -1] - temps[:, 0])


def test_bad_relaxation_and_missing_lammps(monkeypatch):
    with pytest.raises(ValueError, match="relaxation"):
        initial_positions(N_ATOMS, seed=0, relaxation="steepest")
    with pytest.raises(ValueError, match="relaxation"):
        LennardJonesSystem(N_ATOMS, relaxation="cg")

    def broken():
        raise ImportError("libmpi.so.12: cannot open shared object file")

    monkeypatch.setattr(lammps_engine, "lammps_available", lambda: False)
    monkeypatch.setattr(lammps_engine, "_lammps_class", broken)
    with pytest.raises(ImportError, match="relaxation='lammps_cg' needs the LAMMPS Python module.*libmpi"):
        LennardJonesSystem(N_ATOMS, relaxation="lammps_cg")
    with pytest.raises(ImportError, match="needs the LAMMPS Python module"):
        lammps_minimize(np.zeros((N_ATOMS, 3)) + 1.0, PAPER.box_side(N_ATOMS))
