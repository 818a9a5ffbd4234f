"""The README's plug-in example runs as printed: a new stochastic model, written only as the four
hooks of PatchDynamics, goes through the one Algorithm 1, the one partial evolution and the SDE fit,
and the learned drift matches the model's exact drift."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text()
    m = re.search(r"<!-- plug-in example: begin -->\s*```python\n(.*?)```\s*<!-- plug-in example: end -->",
                  text, re.S)
    assert m, "the README's plug-in example block is missing"
    return m.group(1)


def test_the_readme_plug_in_example_learns_the_exact_drift(capsys):
    code = _example()
    assert len([line for line in code.splitlines() if line.strip()]) <= 40     # a 40-line model and script
    scope: dict = {}
    exec(compile(code, str(README), "exec"), scope)
    learned, rho, model = scope["learned"], scope["rho"], scope["model"]
    exact = model.a - (model.a + model.b) * rho
    # one pair's partial increment has std √(K σ² δt) ≈ 0.064 (K = 16, σ² ≈ 1.3/256, δt = 0.05), so a
    # drift read from the ≈ 800 pairs near one ρ has a standard error ≈ 0.064 / (√800 · δt) ≈ 0.045:
    # 0.25 is about five of them (measured: 0.11 at worst)
    assert np.max(np.abs(learned - exact)) < 0.25, np.c_[rho, learned, exact]
    # σ²(ρ) = (a(1 − ρ) + bρ)/N for N = 256 sites: right only with λ = K (λ = 1 is K = 16 times too wide)
    exact_var = (model.a * (1 - rho) + model.b * rho) / 256
    assert np.all(np.abs(scope["noise"] / exact_var - 1) < 0.2), scope["noise"] / exact_var   # measured ≤ 0.10
    import torch
    from support.stochastic.study import SDESettings, fit_sde
    wrong = fit_sde(scope["pairs"]["partial"], 1, SDESettings(steps=800))
    wrong_var = wrong.diffusion_matrix(torch.tensor(rho[:, None])).detach().numpy().ravel()
    assert np.all(wrong_var / exact_var > 4)                  # the check above can fail
    from support.stochastic.protocol import is_patch_dynamics
    assert is_patch_dynamics(scope["FlipSites"])
