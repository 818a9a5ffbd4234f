r"""How noisy are the labels that L_x,p trains on? A diagnostic that needs no latent training.

For one configuration x with encoder Jacobian J (d×N), force f and a subset I of force units (r rows
of x), L_x,p is quadratic in the latent prediction g (:func:`support.losses.partial_normal_equations`):

.. math::  \tfrac1r\|f_I - ψ g\|^2 = c - 2\,b^\top g + g^\top A g
           = (g - \hat g)^\top A\,(g - \hat g) + \text{const},\qquad
           ψ = J^\dagger[I],\; A = \tfrac1r ψ^\top ψ,\; b = \tfrac1r ψ^\top f_I,\; \hat g = A^{-1} b .

So training on L_x,p is an A-weighted regression on the **implied label** ĝ = A⁻¹b, the least-squares
solution of ψ g ≈ f_I, where L_z regresses on the exact latent velocity t = J f. Writing
f = J^† t + e with e = (I − J^†J) f (the part of f that J does not see), f_I = ψ t + e_I and

.. math::  \hat g - J f = (ψ^\top ψ)^{-1} ψ^\top e_I ,

which vanishes when I is every unit (then ψᵀe = (JJᵀ)⁻¹ J (I − J^†J) f = 0). The **noise ratio** of
latent coordinate k over n configurations is

.. math::  ρ_k = \frac{\sqrt{\tfrac1n\sum_{j} (\hat g_{jk} - t_{jk})^2}}{\operatorname{std}_j\, t_{jk}}
           \qquad (\text{std with } 1/n),

the label noise in units of the signal L_z would fit. ρ ≪ 1: a configuration's L_x,p label is nearly
as informative as its L_z label, at a fraction p of the forces. ρ ≳ 1: the labels are mostly noise,
which the latent model can average out only over many configurations, so at a given budget the
noise, not the model, sets L_x,p's error floor.

**Singular A.** A = ψᵀψ / r is symmetric positive semi-definite of rank ≤ min(r, d), r = m · (rows
per unit) for m units observed. If r < d for the subset size m = round(p · n_units), every A is
singular and the label undetermined: :func:`label_noise` raises ``ValueError``. Otherwise a
configuration whose A is numerically rank-deficient (eigenvalues ≤ ``rcond`` · λ_max) gets the
minimum-norm label A⁺b (eigenvalues below the cut-off dropped, the pseudo-inverse); how many
configurations needed it and the largest condition number of A are reported, so a reader sees when
that happened (it does not in the book's studies: r ≫ d).

:func:`column_block_share` measures where the closure looks: the share of ‖J_closure‖²_F on a block of
input columns (for Lennard-Jones, the atoms' positions: :func:`unit_columns`).

**Capture.** The residual e = (I − J^†J) f is what the labels lose; its size relative to f is the
**capture**

.. math::  c = \frac{\sum_j \|J_j^\dagger J_j f_j\|^2}{\sum_j \|f_j\|^2},\qquad
           \|J^\dagger J f\|^2 = t^\top (J J^\top)^{-1} t,\quad t = J f,

the share of the forces' squared norm inside J's row space (1: J sees all of f, no label noise at
any p; small: most of f is residual). :func:`label_noise` reports it (pooled, and the median of the
per-configuration ratios) whenever it buys the full forces itself (:func:`full_force_terms`).
:func:`subspace_shares` reports where the closure's first layer and J's rows lie relative to the
training data's principal subspace (:mod:`support.data_span`): rows outside it are what
reconstruction never trains (see that module).

Everything is bought through the system's counted oracle (:class:`~support.budget.ForceBudget`): the
partial observations and the full forces of the reference, with subsets drawn from a seeded
generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .budget import ForceBudget
from .closure import ClosureAutoencoder
from .pipeline import observe_full, observe_partial_statistics
from .subsets import subset_size
from .systems.base import DeterministicSystem
from .tables import Table
from .validation import check_finite, check_fraction, check_shape


@dataclass
class LabelNoise:
    """The implied-label noise of L_x,p at one p (see the module docstring for the equations).

    Attributes:
        p, units_observed, rows_observed: the subset fraction, m = round(p · n_units), r = m · rows/unit.
        n_configs, latent_dim, n_observables: n, d, d*.
        rms_noise, spread, ratio: per latent coordinate, RMS of ĝ − J f, std of J f, and their ratio
            (``None`` where the spread is 0).
        observable_ratio: ρ of the d* observable rows; ``closure_median``: median ρ over the closure
            rows (``None`` without closure rows).
        rank_deficient: configurations whose A needed the pseudo-inverse; ``max_condition``: the
            largest λ_max/λ_min of A (``None`` if some A had a zero eigenvalue).
        forces_charged, force_seconds: what the diagnostic bought from the oracle (full + partial).
        capture: Σ‖J^†J f‖² / Σ‖f‖² over the configurations; ``capture_median``: the median of the
            per-configuration ratios (both ``None`` when the exact J f was given instead of bought:
            the forces themselves are then not at hand).
    """

    p: float
    units_observed: int
    rows_observed: int
    n_configs: int
    latent_dim: int
    n_observables: int
    rms_noise: list[float]
    spread: list[float]
    ratio: list[float | None]
    observable_ratio: list[float | None]
    closure_median: float | None
    rank_deficient: int
    max_condition: float | None
    forces_charged: int
    force_seconds: float
    capture: float | None = None
    capture_median: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class FullForceTerms:
    """What the full forces f of n configurations give: the exact latent velocity t = J f ``[n, d]``,
    the captured ‖J^†J f‖² = tᵀ(JJᵀ)⁺t ``[n]`` and ‖f‖² ``[n]`` (float64)."""

    exact: torch.Tensor
    captured: torch.Tensor
    force_sq: torch.Tensor

    @property
    def capture(self) -> float:
        """Σ‖J^†J f‖² / Σ‖f‖² (pooled over the configurations)."""
        total = float(self.force_sq.sum())
        if total == 0:
            raise ValueError("every force is zero: no capture to compute")
        return float(self.captured.sum()) / total

    @property
    def capture_median(self) -> float:
        """The median over configurations of ‖J^†J f‖² / ‖f‖² (configurations with f = 0 left out)."""
        keep = self.force_sq > 0
        return float((self.captured[keep] / self.force_sq[keep]).median())


def implied_labels(A: torch.Tensor, b: torch.Tensor, rcond: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""ĝ = A⁺ b per configuration (float64) from the eigendecomposition A = Q Λ Qᵀ:

    .. math::  \hat g = Q\,\Lambda^{+} Q^\top b,\qquad \Lambda^{+}_{kk} = 1/λ_k \text{ if } λ_k > \text{rcond}\cdot λ_{\max},\ 0 \text{ otherwise},

    equal to A⁻¹b when A is well conditioned, the minimum-norm minimiser of gᵀAg − 2bᵀg otherwise.

    Args:
        A: ``[n, d, d]`` symmetric positive semi-definite; b: ``[n, d]``.
        rcond: relative eigenvalue cut-off in (0, 1).
    Returns:
        (labels ``[n, d]``, numerical rank ``[n]``, condition number λ_max/λ_min ``[n]`` (inf when
        λ_min ≤ 0)).
    """
    if A.dim() != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must be [n, d, d]; got {list(A.shape)}")
    check_shape("b", b, [A.shape[0], A.shape[1]])
    if A.shape[0] == 0:
        raise ValueError("no configurations (A is empty)")
    if not 0 < rcond < 1:
        raise ValueError(f"rcond must be in (0, 1), got {rcond}")
    check_finite("A", A)
    check_finite("b", b)
    Ad, bd = A.double(), b.double()
    if not torch.allclose(Ad, Ad.transpose(1, 2), rtol=1e-10, atol=1e-12 * float(Ad.abs().max())):
        raise ValueError("A must be symmetric")
    lam, Q = torch.linalg.eigh(Ad)
    top = lam[:, -1:].clamp_min(0)
    keep = lam > rcond * top
    inv = torch.where(keep, 1 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
    labels = (Q @ (inv * (Q.transpose(1, 2) @ bd.unsqueeze(-1)).squeeze(-1)).unsqueeze(-1)).squeeze(-1)
    cond = torch.where(lam[:, 0] > 0, top[:, 0] / lam[:, 0].clamp_min(1e-300), torch.full_like(top[:, 0], math.inf))
    return labels, keep.sum(1), cond


def noise_ratio(labels: torch.Tensor, exact: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Per latent coordinate k: RMS_j(ĝ_jk − t_jk), std_j(t_jk) (1/n) and their ratio ρ_k
    (NaN where the spread is 0), over configurations j. ``labels``, ``exact``: ``[n, d]``, n ≥ 2."""
    if exact.dim() != 2:
        raise ValueError(f"exact must be [n, d]; got {list(exact.shape)}")
    check_shape("labels", labels, list(exact.shape))
    if exact.shape[0] < 2:
        raise ValueError(f"need at least 2 configurations for a spread, got {exact.shape[0]}")
    check_finite("labels", labels)
    check_finite("exact", exact)
    g, t = labels.double(), exact.double()
    rms = (g - t).pow(2).mean(0).sqrt()
    spread = t.std(0, correction=0)
    ratio = torch.where(spread > 0, rms / torch.where(spread > 0, spread, torch.ones_like(spread)),
                        torch.full_like(spread, math.nan))
    return rms, spread, ratio


def label_noise(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor, p: float, *,
                seed: int, budget: ForceBudget | None = None, chunk: int = 64,
                rcond: float = 1e-10, exact: torch.Tensor | None = None) -> LabelNoise:
    """The implied-label noise ratio of L_x,p with uniform subsets of fraction ``p`` on the
    configurations ``x [n, N]`` (n ≥ 2), for the autoencoder ``ae``.

    Buys, through ``budget`` (a fresh :class:`~support.budget.ForceBudget` if ``None``), p · n_units
    forces per configuration for (A, b) — :func:`support.pipeline.observe_partial_statistics`, the
    same code as the studies, subsets from ``torch.Generator().manual_seed(seed)`` — and all n_units
    for the exact J f (:func:`exact_latent_velocity`) unless ``exact [n, d]`` is given (a study of
    several p on the same configurations buys it once). Raises ``ValueError`` when the subset
    has fewer rows than latent dimensions (A singular for every configuration; see the module
    docstring), and for bad shapes, non-finite states or forces, p outside (0, 1].
    """
    p = check_fraction(p)
    check_shape("x", x, [None, system.state_dim])
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 configurations, got {x.shape[0]}")
    check_finite("x", x)
    if ae.state_dim != system.state_dim:
        raise ValueError(f"autoencoder state_dim {ae.state_dim} != system state_dim {system.state_dim}")
    m = subset_size(system.n_units, p)
    r, d = m * system.rows_per_unit, ae.latent_dim
    if r < d:
        raise ValueError(f"p = {p:g} observes m = {m} {system.unit_name}(s) = {r} rows per configuration, "
                         f"fewer than the latent dimension d = {d}: every A = ψᵀψ/r is singular and the "
                         f"implied label undetermined; use p >= {math.ceil(d / system.rows_per_unit) / system.n_units:.3g}")
    budget = budget if budget is not None else ForceBudget()
    before_n, before_s = budget.total, budget.seconds.get("force", 0.0)
    gen = torch.Generator().manual_seed(int(seed))
    stats = observe_partial_statistics(system, ae, x, p, budget, gen, chunk=chunk)
    full = None
    if exact is None:
        full = full_force_terms(system, ae, x, budget, chunk=chunk)
        exact = full.exact.to(x.dtype)
    else:
        check_shape("exact", exact, [x.shape[0], d])
        check_finite("exact", exact)
    labels, rank, cond = implied_labels(stats.A, stats.b, rcond)
    rms, spread, ratio = noise_ratio(labels, exact)
    k = ae.n_observables
    as_list = lambda v: [None if not math.isfinite(float(a)) else float(a) for a in v]  # noqa: E731
    closure = ratio[k:]
    closure = closure[torch.isfinite(closure)]
    finite_cond = bool(torch.isfinite(cond).all())
    return LabelNoise(p=p, units_observed=m, rows_observed=r, n_configs=int(x.shape[0]), latent_dim=d,
                      n_observables=k, rms_noise=as_list(rms), spread=as_list(spread), ratio=as_list(ratio),
                      observable_ratio=as_list(ratio[:k]),
                      closure_median=float(closure.median()) if len(closure) else None,
                      rank_deficient=int((rank < d).sum()),
                      max_condition=float(cond.max()) if finite_cond else None,
                      forces_charged=budget.total - before_n,
                      force_seconds=budget.seconds.get("force", 0.0) - before_s,
                      capture=full.capture if full is not None else None,
                      capture_median=full.capture_median if full is not None else None)


def exact_latent_velocity(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor,
                          budget: ForceBudget | None = None, *, chunk: int = 64) -> torch.Tensor:
    """ż = J(x) f(x) ``[n, d]`` with every unit's force (:func:`support.pipeline.observe_full`; charged to
    ``budget``): the truth the implied labels of :func:`label_noise` are compared with."""
    return observe_full(system, ae, x, budget if budget is not None else ForceBudget(), chunk=chunk).target


@torch.no_grad()
def full_force_terms(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor,
                     budget: ForceBudget | None = None, *, chunk: int = 64, rcond: float = 1e-10) -> FullForceTerms:
    """Every unit's force f on the configurations ``x`` (charged to ``budget``), ``chunk`` at a time: the
    exact latent velocity t = J f (as :func:`exact_latent_velocity`, the same numbers), and the captured
    ‖J^†J f‖² = tᵀ(JJᵀ)⁺t with JJᵀ from :meth:`~support.closure.ClosureAutoencoder.gram_and_columns`
    (never forming J for a factored closure) and eigenvalues below ``rcond`` · λ_max dropped."""
    budget = budget if budget is not None else ForceBudget()
    ts, caps, sq = [], [], []
    for xc in x.split(chunk):
        f = system.full_force(xc, budget)
        t = ae.latent_velocity(xc, f)
        G, _ = ae.gram_and_columns(xc, torch.zeros(len(xc), 1, dtype=torch.long, device=xc.device))
        caps.append(captured_norm(G, t.double(), rcond))
        ts.append(t)
        sq.append(f.double().pow(2).sum(1))
    return FullForceTerms(torch.cat(ts), torch.cat(caps), torch.cat(sq))


def captured_norm(G: torch.Tensor, t: torch.Tensor, rcond: float = 1e-10) -> torch.Tensor:
    """tᵀ G⁺ t per configuration for Gram matrices ``G = J Jᵀ [n, d, d]`` and ``t = J f [n, d]``: the
    squared norm ‖J^†J f‖² of the part of f in J's row space (eigenvalues of G below ``rcond`` · λ_max
    dropped: the pseudo-inverse)."""
    if G.dim() != 3 or G.shape[1] != G.shape[2]:
        raise ValueError(f"G must be [n, d, d]; got {list(G.shape)}")
    check_shape("t", t, [G.shape[0], G.shape[1]])
    lam, Q = torch.linalg.eigh(G.double())
    keep = lam > rcond * lam[:, -1:].clamp_min(0)
    inv = torch.where(keep, 1 / torch.where(keep, lam, torch.ones_like(lam)), torch.zeros_like(lam))
    proj = (Q.transpose(1, 2) @ t.double().unsqueeze(-1)).squeeze(-1)
    return (inv * proj.pow(2)).sum(1)


def capture_of(J: torch.Tensor, f: torch.Tensor, rcond: float = 1e-10) -> float:
    """Σ‖J^†J f‖² / Σ‖f‖² from explicit Jacobians ``J [n, d, N]`` and forces ``f [n, N]`` (the
    reference for :func:`full_force_terms`; forms J)."""
    if J.dim() != 3:
        raise ValueError(f"J must be [n, d, N]; got {list(J.shape)}")
    check_shape("f", f, [J.shape[0], J.shape[2]])
    Jd, fd = J.double(), f.double()
    t = (Jd @ fd.unsqueeze(-1)).squeeze(-1)
    total = float(fd.pow(2).sum())
    if total == 0:
        raise ValueError("every force is zero: no capture to compute")
    return float(captured_norm(Jd @ Jd.transpose(1, 2), t, rcond).sum()) / total


def closure_report(system: DeterministicSystem, ae: ClosureAutoencoder, x: torch.Tensor, p: float, *,
                   seed: int, subspace, share_configs: int = 256) -> dict:
    """The closure diagnostics of a partial-observation study in one dictionary: :func:`label_noise`
    at ``p`` on the configurations ``x`` (its full record, the observable ratios, the closure median
    and the capture) and :func:`subspace_shares` in ``subspace`` on at most ``share_configs`` of them."""
    from .closure import evenly_spaced
    noise = label_noise(system, ae, x, p, seed=seed)
    return {"configs": int(x.shape[0]), "label_noise": noise.as_dict(),
            "noise_ratio_observables": noise.observable_ratio, "noise_ratio_closure_median": noise.closure_median,
            "capture": noise.capture,
            "subspace_shares": subspace_shares(ae, x[evenly_spaced(len(x), share_configs).to(x.device)], subspace)}


def subspace_shares(ae: ClosureAutoencoder, x: torch.Tensor, subspace, chunk: int = 64) -> dict:
    """Where the closure lies relative to the data's principal subspace Q
    (:class:`support.data_span.PrincipalSubspace`): ``first_layer``, the share of the first layer's
    ‖W₁‖²_F (as it acts on x) inside span Q (``None`` for a closure without a linear first layer), and
    ``jacobian``, the share of ‖J_closure‖²_F inside it summed over the configurations ``x``
    (‖J Q‖²_F / ‖J‖²_F; with a factored closure J = M W from M and W Q without forming J)."""
    from .data_span import first_layer_weight
    check_shape("x", x, [None, ae.state_dim])
    if not ae.closure_dim:
        raise ValueError("the autoencoder has no closure rows")
    try:
        first = subspace.share(first_layer_weight(ae.closure_net))
    except TypeError:
        first = None
    Q = subspace.basis.double().to(x.device)
    own = getattr(ae.closure_net, "factored_jacobian", None)
    inside, total = 0.0, 0.0
    for xc in x.split(chunk):
        if callable(own):
            M, W = (t.double() for t in own(xc))
            WQ = W @ Q
            inside += float(((M @ (WQ @ WQ.T)) * M).sum())
            total += float(((M @ (W @ W.T)) * M).sum())
        else:
            J = ae.jacobian(xc).double()[:, ae.n_observables:]
            inside += float((J @ Q).pow(2).sum())
            total += float(J.pow(2).sum())
    if total == 0:
        raise ValueError("J is zero on these configurations: no share to compute")
    return {"first_layer": first, "jacobian": inside / total, "subspace": subspace.as_dict()}


# ------------------------------------------------------------------------ where the closure looks
def block_share(J: torch.Tensor, columns: torch.Tensor | Sequence[int]) -> float:
    r"""Share of the squared Frobenius norm of Jacobians ``J [B, k, N]`` on the input ``columns``:

    .. math::  s = \frac{\sum_b \|J_b[:, C]\|_F^2}{\sum_b \|J_b\|_F^2}.
    """
    if J.dim() != 3:
        raise ValueError(f"J must be [B, k, N]; got {list(J.shape)}")
    check_finite("J", J)
    cols = _check_columns(columns, J.shape[2])
    Jd = J.double()
    total = float(Jd.pow(2).sum())
    if total == 0:
        raise ValueError("J is zero: no share to compute")
    return float(Jd[:, :, cols].pow(2).sum()) / total


def column_block_share(ae: ClosureAutoencoder, x: torch.Tensor, columns: torch.Tensor | Sequence[int],
                       rows: str = "closure", chunk: int = 64) -> float:
    r"""Share of ‖J‖²_F on the input ``columns`` (summed over the configurations ``x``), for the
    closure rows of J (``rows="closure"``) or all rows (``"all"``); :func:`block_share` on
    ``ae.jacobian``. With a factored closure J_c = M W (:class:`support.encoders.MLPClosure`) the closure
    rows' norms come without forming J: ‖M W[:, C]‖²_F = tr(M (W_C W_Cᵀ) Mᵀ)."""
    if rows not in ("closure", "all"):
        raise ValueError(f"rows must be 'closure' or 'all', got {rows!r}")
    check_shape("x", x, [None, ae.state_dim])
    if x.shape[0] == 0:
        raise ValueError("no configurations")
    check_finite("x", x)
    if rows == "closure" and not ae.closure_dim:
        raise ValueError("the autoencoder has no closure rows")
    cols = _check_columns(columns, ae.state_dim)
    own = getattr(ae.closure_net, "factored_jacobian", None)
    on, total = 0.0, 0.0
    for xc in x.split(chunk):
        if rows == "closure" and callable(own):
            M, W = (t.double() for t in own(xc))
            WC = W[:, cols]
            on += float(((M @ (WC @ WC.T)) * M).sum())
            total += float(((M @ (W @ W.T)) * M).sum())
        else:
            J = ae.jacobian(xc).double()
            J = J[:, ae.n_observables:] if rows == "closure" else J
            on += float(J[:, :, cols].pow(2).sum())
            total += float(J.pow(2).sum())
    if total == 0:
        raise ValueError("J is zero on these configurations: no share to compute")
    return on / total


def unit_columns(n_units: int, rows_per_unit: int, offsets: Sequence[int]) -> torch.Tensor:
    """Input columns ``u · rows_per_unit + o`` for every unit u and offset o in ``offsets`` (sorted):
    e.g. the positions of a Lennard-Jones state [r₁, v₁, r₂, v₂, …] are
    ``unit_columns(n_atoms, 6, (0, 1, 2))``."""
    if n_units < 1 or rows_per_unit < 1:
        raise ValueError(f"need n_units >= 1 and rows_per_unit >= 1, got {n_units}, {rows_per_unit}")
    offs = sorted(set(int(o) for o in offsets))
    if not offs or offs[0] < 0 or offs[-1] >= rows_per_unit:
        raise ValueError(f"offsets must be a non-empty subset of range({rows_per_unit}), got {list(offsets)}")
    return (torch.arange(n_units).unsqueeze(1) * rows_per_unit + torch.tensor(offs)).flatten()


def _check_columns(columns, n: int) -> torch.Tensor:
    cols = torch.as_tensor(columns, dtype=torch.long).flatten()
    if cols.numel() == 0:
        raise ValueError("columns is empty")
    if int(cols.min()) < 0 or int(cols.max()) >= n:
        raise ValueError(f"columns must lie in [0, {n}); got range [{int(cols.min())}, {int(cols.max())}]")
    if cols.unique().numel() != cols.numel():
        raise ValueError("columns must not repeat")
    return cols


# ------------------------------------------------------------------------ one row per closure
@dataclass(frozen=True)
class ClosureSummary:
    """What a reader compares between closures before any latent model is trained — the five numbers
    of one closure report, whatever the system:

    * ``observable_noise``: ρ of the observables' implied labels (the largest over the observables);
    * ``closure_noise``: the median ρ over the closure rows;
    * ``capture``: Σ‖J^†J f‖² / Σ‖f‖², the share of the forces J's rows see (1 − capture is what the
      labels lose: the residual e = (I − J^†J) f);
    * ``first_layer_share`` / ``jacobian_share``: the shares of ‖W₁‖²_F and of ‖J_closure‖²_F inside the
      training data's principal subspace (:func:`subspace_shares`).

    ``None`` where a report did not record a number."""

    observable_noise: float | None
    closure_noise: float | None
    capture: float | None
    first_layer_share: float | None
    jacobian_share: float | None

    @classmethod
    def of_report(cls, report: dict) -> "ClosureSummary":
        """From a :func:`closure_report` dictionary or the Lennard-Jones studies' ``closure_diagnostics``
        (which name their single observable's ratio ``noise_ratio_T``)."""
        obs = report.get("noise_ratio_observables")
        obs = report.get("noise_ratio_T") if obs is None else max((r for r in obs if r is not None), default=None)
        shares = report.get("subspace_shares") or {}
        return cls(obs, report.get("noise_ratio_closure_median"), report.get("capture"),
                   shares.get("first_layer"), shares.get("jacobian"))


def closure_summary_table(summaries: dict[str, ClosureSummary], *, observables: str, caption: str) -> Table:
    """One row per closure (in ``summaries``' order) with the numbers of :class:`ClosureSummary`;
    ``observables`` names the observables' column (e.g. ``"T"``, ``"ū, v̄ (largest)"``)."""
    def cell(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    rows = [[name, cell(s.observable_noise), cell(s.closure_noise), cell(s.capture), cell(s.first_layer_share),
             cell(s.jacobian_share)] for name, s in summaries.items()]
    return Table(["closure", f"ρ ({observables})", "ρ (closure, median)", "capture ‖J^†Jf‖²/‖f‖²",
                  "first-layer share in the data span", "J share in the data span"], rows, caption=caption)
