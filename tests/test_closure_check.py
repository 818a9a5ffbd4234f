"""support.stochastic.closure_check: a closure that is a function of the observables is explained
fully; one that carries new information is not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from support.stochastic.closure_check import explained_by_observables, explained_in_groups, quadratic_features


def observables(x: torch.Tensor) -> torch.Tensor:          # (mean, mean of squares) of each row
    return torch.stack([x.mean(1), x.pow(2).mean(1)], dim=1)


class Net(nn.Module):
    """Feature 0: a quadratic in the observables; feature 1: the first site alone (new information)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = observables(x)
        return torch.stack([1 + 2 * o[:, 0] - o[:, 0] * o[:, 1], x[:, 0]], dim=1)


def test_quadratic_features_are_in_row_order():
    f = quadratic_features(torch.tensor([[2.0, 3.0]]))
    assert f.tolist() == [[1.0, 2.0, 3.0, 4.0, 6.0, 9.0]]             # 1, m, ρ, m², mρ, ρ²
    with pytest.raises(ValueError, match=r"\[B, k\]"):
        quadratic_features(torch.ones(3))


def test_a_function_of_the_observables_is_explained_and_new_information_is_not():
    x = torch.randn(4000, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    explained = explained_by_observables(Net(), observables, x)
    assert explained[0] == pytest.approx(1.0, abs=1e-12)
    assert explained[1] < 0.2                   # one site of 16: its mean explains ≈ 1/16 of it
    groups = explained_in_groups(Net(), observables, x.view(40, 100, 16), n_groups=4)
    assert len(groups) == 2 and len(groups[0]) == 4 and min(groups[0]) > 1 - 1e-12
    with pytest.raises(ValueError, match="more patches"):
        explained_by_observables(Net(), observables, x[:5])
    few = explained_in_groups(Net(), observables, x[:40].view(20, 2, 16), n_groups=10)
    assert len(few[0]) == 5                     # 6 features: ≥ 7 patches, i.e. 4 lattices of 2, per group
    three = explained_in_groups(Net(), observables, x[:15].view(3, 5, 16), n_groups=10)
    assert len(three[0]) == 1                   # 2 lattices (10 patches) per group needed: one group of 3
    with pytest.raises(ValueError, match="n_groups"):
        explained_in_groups(Net(), observables, x.view(40, 100, 16), n_groups=0)
