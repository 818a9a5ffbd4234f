r"""The span of the training data, and closures whose first layer is kept inside it.

A closure net whose first layer is linear, h = σ(W₁ x + b₁) (:class:`support.encoders.MLPClosure`),
has the Jacobian J = M W₁: its rows lie in the row space of W₁. Reconstruction trains W₁ only
through gradients Σ_b δ_b x_bᵀ, whose rows lie in the span of the training snapshots x_b — the
data mean and the centred principal components. The components of W₁'s random initial rows
outside that span receive no gradient: only weight decay changes them, and how much depends on the
optimiser (:class:`support.train.TrainConfig`): AdamW's decoupled decay shrinks a weight by lr·wd·|θ|
per step (1e-8 |θ| at the LJ settings), while coupled L2 adds wd·θ to the gradient before Adam divides
by its running gradient scale √v̂, so the decay is amplified wherever the loss gradients are small
(on a weight whose loss gradient is exactly zero it becomes about lr per step). They do not change the encoder on the data, but they
tilt J's rows away from the directions the data (and the forces) move in, and the part of a force
that J does not see is L_x,p's label noise (:mod:`support.label_noise`).

This module measures and removes that freedom:

* :func:`principal_subspace` — an orthonormal basis Q of span{data mean, top-k principal components}
  of training snapshots, k the fewest components that explain a given fraction of the centred
  variance (:class:`PrincipalSubspace`);
* :func:`restrict_first_layer` — the off-manifold-aware closure (``closure_input="pca_span"`` of
  :class:`support.experiments.lj_common.AEConfig`): the first layer's weight is parametrised as
  W₁ Q Qᵀ, so J's rows lie in the span by construction, whatever the optimiser;
* :func:`project_first_layer` — the same projection applied once to an already trained closure
  (the bias compensates the input shift of a standardised closure), which leaves the encoder's
  output on data inside the span unchanged;
* :meth:`PrincipalSubspace.share` — the share of a weight matrix's squared norm inside the span.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils import parametrize

from .validation import check_finite, check_shape


@dataclass
class PrincipalSubspace:
    """span{mean, PC₁, …, PC_k} of some snapshots, as an orthonormal basis.

    Attributes:
        basis: ``[N, m]`` orthonormal columns: the top-k principal directions of the centred
            snapshots, then (with ``include_mean``) the part of the data mean orthogonal to them.
        k: principal components kept; ``explained``: the fraction of the centred variance they
            carry; ``variance``: the target fraction k was chosen for; ``spectrum``: the leading
            explained-variance fractions (at most 64), largest first.
        samples: snapshots the subspace was computed from; ``include_mean``: whether the mean
            direction is part of the span (the first layer's gradient spans the uncentred data).
    """

    basis: torch.Tensor
    k: int
    explained: float
    variance: float
    spectrum: list[float] = field(default_factory=list)
    samples: int = 0
    include_mean: bool = True

    @property
    def dim(self) -> int:
        """m, the dimension of the span (k, plus one with the mean direction)."""
        return int(self.basis.shape[1])

    def project(self, v: torch.Tensor) -> torch.Tensor:
        """The orthogonal projection of the rows of ``v [..., N]`` onto the span, v Q Qᵀ."""
        Q = self.basis.to(device=v.device, dtype=v.dtype)
        return (v @ Q) @ Q.T

    def share(self, W: torch.Tensor) -> float:
        """‖W Q‖²_F / ‖W‖²_F: the share of the squared norm of the rows of ``W [..., N]`` that lies in
        the span (1: every row inside it; for a random W ≈ m / N)."""
        check_shape("W", W, [None, self.basis.shape[0]] if W.dim() == 2 else [None, None, self.basis.shape[0]])
        Wd = W.detach().double()
        total = float(Wd.pow(2).sum())
        if total == 0:
            raise ValueError("W is zero: no share to compute")
        return float((Wd @ self.basis.to(device=Wd.device, dtype=torch.float64)).pow(2).sum()) / total

    def as_dict(self) -> dict:
        """Everything but the basis (JSON-able)."""
        return {"k": self.k, "dim": self.dim, "explained": self.explained, "variance": self.variance,
                "spectrum": list(self.spectrum), "samples": self.samples, "include_mean": self.include_mean}


def principal_subspace(x: torch.Tensor, variance: float = 0.999999, *, max_k: int | None = None,
                       min_k: int = 1, samples: int = 4096, include_mean: bool = True) -> PrincipalSubspace:
    """The span of the snapshots ``x [n, N]``: the fewest principal components of the centred data
    that explain ``variance`` of its total variance (at least ``min_k``, at most ``max_k`` and the
    rank of the data), plus the mean direction.

    At most ``samples`` evenly spaced snapshots are used (the eigendecomposition of their
    ``samples × samples`` Gram matrix, or of the ``N × N`` covariance when N is smaller), in float64.
    """
    from .closure import evenly_spaced
    check_shape("x", x, [None, None])
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 snapshots, got {x.shape[0]}")
    if not 0 < variance <= 1:
        raise ValueError(f"variance must lie in (0, 1], got {variance}")
    if max_k is not None and max_k < 1 or min_k < 1:
        raise ValueError(f"min_k and max_k must be >= 1, got {min_k}, {max_k}")
    check_finite("x", x)
    xs = x[evenly_spaced(len(x), samples).to(x.device)].double()
    n, N = xs.shape
    mean = xs.mean(0)
    xc = xs - mean
    total = float(xc.pow(2).sum())
    if total == 0:
        raise ValueError("the snapshots do not vary: no principal components")
    if n <= N:
        lam, U = torch.linalg.eigh(xc @ xc.T)                       # ascending
        lam, U = lam.flip(0).clamp_min(0), U.flip(1)
        rank = int((lam > lam[0] * 1e-12).sum())
        V = (xc.T @ U[:, :rank]) / lam[:rank].sqrt()                # [N, rank] unit principal directions
    else:
        lam, V = torch.linalg.eigh(xc.T @ xc)
        lam, V = lam.flip(0).clamp_min(0), V.flip(1)
        rank = int((lam > lam[0] * 1e-12).sum())
        V = V[:, :rank]
    frac = lam[:rank] / total
    cum = frac.cumsum(0)
    k = int((cum < variance - 1e-12).sum()) + 1
    k = min(max(k, min_k), rank, max_k or rank)
    Vk, _ = torch.linalg.qr(V[:, :k])                               # re-orthonormalise (Gram route)
    cols = [Vk]
    if include_mean:
        r = mean - Vk @ (Vk.T @ mean)
        if float(r.norm()) > 1e-10 * max(float(mean.norm()), 1e-300):
            cols.append((r / r.norm()).unsqueeze(1))
    return PrincipalSubspace(basis=torch.cat(cols, 1).to(x.device), k=k, explained=float(cum[k - 1]),
                             variance=float(variance), spectrum=[float(v) for v in frac[:64]], samples=n,
                             include_mean=include_mean)


class SpanProjection(nn.Module):
    """Parametrisation W ↦ W Q Qᵀ of a weight ``[H, N]``: its rows kept in the span of ``basis [N, m]``
    (``torch.nn.utils.parametrize``; the unconstrained weight stays the trained parameter)."""

    def __init__(self, basis: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("basis", basis.detach().clone())

    def forward(self, W: torch.Tensor) -> torch.Tensor:
        Q = self.basis.to(W.dtype)
        return (W @ Q) @ Q.T


def _check_room(closure: nn.Module, subspace: PrincipalSubspace) -> None:
    """A first layer inside a span of dimension m gives J at most m independent rows."""
    net = closure if isinstance(closure, nn.Sequential) else closure.net
    out = [m for m in net if isinstance(m, nn.Linear)][-1].out_features
    if subspace.dim < out:
        raise ValueError(f"a span of dimension {subspace.dim} cannot hold {out} independent closure rows "
                         "(J Jᵀ would be singular): ask for more components (min_k)")


def _first_linear(closure: nn.Module) -> nn.Linear:
    """``closure.net[0]`` (an :class:`~support.encoders.MLPClosure`) or ``closure[0]`` (a plain
    ``nets.mlp``), if it is a linear layer."""
    net = closure if isinstance(closure, nn.Sequential) else getattr(closure, "net", None)
    first = net[0] if isinstance(net, nn.Sequential) and len(net) else None
    if not isinstance(first, nn.Linear):
        raise TypeError(f"{type(closure).__name__} has no first linear layer net[0] "
                        "(support.encoders.MLPClosure has one)")
    return first


def restrict_first_layer(closure: nn.Module, subspace: PrincipalSubspace) -> nn.Module:
    """The off-manifold-aware closure: parametrise the first layer's weight of ``closure`` (an
    :class:`~support.encoders.MLPClosure` with raw inputs) as W₁ Q Qᵀ, Q = ``subspace.basis``, so every
    row of W₁ — and of J = M W₁ — lies in the span of the training data, from initialisation on and
    under any optimiser. Returns ``closure`` (changed in place)."""
    first = _first_linear(closure)
    if getattr(closure, "input_scaling", "raw") != "raw":
        raise ValueError("restrict_first_layer needs a closure with raw inputs (input_scaling='raw'): the "
                         "span is of the states x themselves")
    if subspace.basis.shape[0] != first.in_features:
        raise ValueError(f"the subspace lives in R^{subspace.basis.shape[0]}, the first layer reads "
                         f"{first.in_features} inputs")
    if parametrize.is_parametrized(first, "weight"):
        raise ValueError("the first layer is already parametrised")
    _check_room(closure, subspace)
    basis = subspace.basis.to(device=first.weight.device, dtype=first.weight.dtype)
    parametrize.register_parametrization(first, "weight", SpanProjection(basis))
    return closure


@torch.no_grad()
def project_first_layer(closure: nn.Module, subspace: PrincipalSubspace) -> nn.Module:
    r"""Project the first-layer weight of an already trained ``closure`` onto the span, in place.

    For an :class:`~support.encoders.MLPClosure` the first pre-activation is
    W₁ (x − shift)/scale + b₁ = W̃ x − W̃ shift + b₁ with W̃ = W₁ diag(1/scale). W̃ becomes W̃ Q Qᵀ and
    b₁ gains (W̃ Q Qᵀ − W̃) shift, so the pre-activation — and the encoder's output — is unchanged
    on every x inside the span, while J's rows move into it. Returns ``closure``."""
    first = _first_linear(closure)
    if parametrize.is_parametrized(first, "weight"):
        raise ValueError("the first layer is parametrised (restrict_first_layer): it is already in the span")
    _check_room(closure, subspace)
    scale = getattr(closure, "scale", None)
    shift = getattr(closure, "shift", None)
    W = first.weight.double()
    s = scale.double() if scale is not None else torch.ones(W.shape[1], dtype=torch.float64, device=W.device)
    eff = W / s
    new = subspace.project(eff)
    if first.bias is not None and shift is not None:
        first.bias.add_(((new - eff) @ shift.double()).to(first.bias.dtype))
    first.weight.copy_((new * s).to(first.weight.dtype))
    return closure


def first_layer_weight(closure: nn.Module) -> torch.Tensor:
    """The first layer's weight as it acts on x, W₁ diag(1/scale) ``[H, N]`` (the projected weight
    of a restricted closure), detached."""
    first = _first_linear(closure)
    scale = getattr(closure, "scale", None)
    W = first.weight.detach()
    return W / scale if scale is not None else W
