r"""Paper 2: the macroscopic SDE of a periodic 64×64 Ising model from patch-sized evolution.

J = 1, T = 2.5 (above T_c ≈ 2.269), h = 0.1, continuous-time heat-bath Glauber dynamics sampled
exactly (:mod:`support.systems.spins.ising`). Latent z = (m, ρ_dw, φ̂₁, φ̂₂): the magnetisation,
the domain-wall density and two learned closure variables. For each patch side ℓ
(K = (L/ℓ)² patches), one call of :func:`support.stochastic.patch_side_study.patch_side_study` with
this chapter's hooks (:class:`Steps`):

1. **Small-system data**: runs of the periodic ℓ×ℓ system from random magnetisations, recorded
   every ``record_interval``.
2. **Large snapshots D** (hierarchical upsampling, Algorithm 1): small snapshots are replicated
   2×2 (each spin a 2×2 block) and relaxed by LocalRelax — overlapping ``relax_window``² windows,
   stride half a window, each evolved for ``relax_time`` with a **frozen halo** (the book's rule;
   the official LocalRelax evolved each window as a small periodic patch) — until they are L×L;
   then as many lattices of uniformly random magnetisation are added (official recipe). For ℓ = L
   the snapshots are the L×L runs themselves, plus the random lattices.
3. **Closure**: a patch-additive encoder z = (m, ρ_dw, mean_J g(x_J)) whose g is a small CNN
   applied to every ℓ×ℓ patch (:class:`PatchCNN`: a 3×3 convolution with circular padding inside
   the patch, two 1×1 layers, mean over the patch's sites; evaluated exactly as a table over the
   512 neighbourhoods of ±1 spins), trained with an MLP decoder by binary cross-entropy
   reconstruction of the whole lattice (paper 2: reconstruction only). How much of g a quadratic
   in the patch's own (m, ρ_dw) explains is measured
   (:func:`support.stochastic.closure_check.explained_by_observables`).
4. **Partial evolution**: ``pairs_per_snapshot`` random patches per snapshot, each evolved alone for
   a fixed time δt with a frozen halo. Partial target ẑ₁ = z₀ + K·(change of z caused by the
   patch), λ = K; naive target = the evolved patch's own latent, λ = 1. The domain-wall part of the
   partial target counts every bond the patch touches (its change is exactly K times the change of
   the whole lattice's ρ_dw); the official code used ρ_dw of the patch with wrap-around bonds,
   which is additive only up to its seams.
5. **SDEs** (:meth:`Steps.models`, full lower-triangular σ, trained by L_p, :mod:`support.stochastic.study`):
   ours (λ = K) and naive (λ = 1) on (m, ρ_dw), and ours on the 4-d latent with the closure (the
   official latent). The closure variables turn out to be near-exact functions of (m_J, ρ_J), which
   makes the 4-d increment covariance nearly singular and that SDE fragile (the chapter shows it).
6. **Test**: 20 direct simulations of the L×L system from each initial m ∈ {0, ±0.25, ±0.5, ±0.75}
   recorded at fixed physical times, against 20 SDE paths started from their encoded initial
   states, compared at equal times: the official error of the ensemble-mean latent trajectory (the
   model's latent dims, min–max scaled with *training* statistics, m unscaled), the same error on
   (m, ρ_dw) alone, and the ratio of ensemble stds of m and ρ_dw at late times; and the late-time
   means of direct simulation against independent long equilibrium runs.

Claims (:data:`CLAIMS`) decide from intervals: the std ratios by a bootstrap over the paired
predicted and true paths (m at :data:`LATE_SAMPLES` late records per path is stored for it), the
comparison with the naive baseline by the log-ratio of the errors paired over the initial
magnetisations, the closure's redundancy over disjoint groups of lattices, the ground truth against
the long runs' combined standard errors; the paper's 4-d closure SDE is checked against the official
errors within a factor 10 and declared not reproduced.

Deliberate differences from the official code (said in the chapter): fixed-time partial evolution
(the official ℓ² events take a random time and bias the state's law; see
:mod:`support.systems.spins.glauber_kernels`), frozen halos everywhere (the official Ising patches
are periodic), the exact bond accounting of ρ_dw above, several patches per snapshot at the quick
scale, the headline SDE on (m, ρ_dw), physical time (the official code divided δt
by the mean time of a large-system validation sweep), min–max statistics from training latents
(the official code used large-system validation latents), equal-time comparison of trajectories.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from ..budget import ForceBudget, rate_per_system_time
from ..claims import UNDECIDED, ClaimSet
from ..paper_numbers import paper2 as paper_numbers
from ..plotting import figure, method_colour, patch_side_axes
from ..results import ExperimentResult
from ..uncertainty import (Estimate, above, all_of, below, paired_log_ratio,
                           within)
from ..stochastic.autoencoder import PatchClosureAutoencoder, spin_lattices
from ..stochastic.autoencoder import train_closure as fit_closure
from ..stochastic.closure_check import explained_by_observables, explained_in_groups
from ..stochastic.encoder import PatchAdditiveEncoder
from ..stochastic.nets import MLPDecoder, PatchCNN
from ..stochastic.patches import PatchGrid
from ..stochastic.patch_side_study import PatchSide, PatchSideSteps, patch_sides_study
from ..stochastic.pipeline import (Ensemble, EnsembleScore, ModelSpec, PatchSideResult, partial_and_naive,
                                   patch_sides)
from ..stochastic.study import (SDESettings, mean_trajectory_error, pairs_from_patches, std_ratio,
                                std_ratio_estimate)
from ..systems.spins import curie_weiss as cw
from ..systems.spins import domain_wall_density, ising, magnetisation
from ..systems.spins.patch_dynamics import IsingDynamics, upsample_lattices
from ..systems.spins.ising_patches import owned_walls, patch_observables, touching_walls, windows  # noqa: F401
from ..train import TrainConfig, torch_threads
from .config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, LatticeStudyConfig, Limit, each, resolve

VERSION = 1
TARGETS = ("ours", "naive")
OBSERVABLES = ("m", "ρ_dw")


@dataclass(frozen=True)
class ClosureSettings:
    """The closure autoencoder: d̂ closure variables from a per-patch CNN, an MLP decoder."""

    dim: int = 2                       # d̂ (official: 2; 0: no closure)
    channels: int = 16                 # CNN width
    decoder_hidden: int = 64
    steps: int = 200
    batch_size: int = 32
    lr: float = 2e-3
    fit_lattices: int = 1000           # lattices whose patches score how much (m_J, ρ_J) explain

    LIMITS: ClassVar = {"dim": NON_NEGATIVE, "channels": AT_LEAST_ONE, "decoder_hidden": AT_LEAST_ONE,
                        "steps": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "lr": POSITIVE, "fit_lattices": Limit(lo=2)}


@dataclass
class Config(LatticeStudyConfig):
    L: int = 64
    T: float = 2.5
    h: float = 0.1
    patch_sides: tuple[int, ...] = (16, 32)
    small_runs: int = 100                  # small-system runs per ℓ (official: 1000)
    small_records: int = 50                # records per run (official: 200 sweeps)
    record_interval: float = 2.0           # time between records (official: one sweep ≈ 6.2)
    substeps: int = 2                      # δt = record_interval / substeps (partial evolution, rollout)
    relax_window: int = 16                 # LocalRelax window side (official: 16, stride 8)
    relax_time: float = 1.0                # time each LocalRelax window evolves
    n_upsampled: int = 5000                # upsampled snapshots (official: 100,000)
    n_random: int = 5000                   # random-magnetisation snapshots (official: 100,000)
    pairs_per_snapshot: int = 8            # patches evolved per snapshot (official: 1)
    closure: ClosureSettings = field(default_factory=ClosureSettings)
    sde: SDESettings = field(default_factory=lambda: SDESettings(
        diffusion="full", hidden=(64, 64), steps=2500, batch_size=512, init_scale=None))
    test_m0: tuple[float, ...] = (-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75)
    test_paths: int = 20                   # true and predicted trajectories per initial m
    test_records: int = 125                # official: 500 sweeps
    stationary_from: int = 75              # records after which the ensembles count as stationary
    equilibrium_lattices: int = 16         # independent long runs for the equilibrium estimate
    equilibrium_time: float = 400.0        # their length (the first quarter is discarded)
    threads: int = 1                       # torch threads (small nets run fastest on one)

    LIMITS: ClassVar = {"L": Limit(lo=2), "T": POSITIVE, "patch_sides": each(Limit(lo=2)), "small_runs": AT_LEAST_ONE,
                        "small_records": AT_LEAST_ONE, "record_interval": POSITIVE, "substeps": AT_LEAST_ONE,
                        "relax_window": Limit(lo=2), "relax_time": NON_NEGATIVE, "n_upsampled": NON_NEGATIVE,
                        "n_random": NON_NEGATIVE, "pairs_per_snapshot": AT_LEAST_ONE, "test_m0": each(Limit(-1, 1)),
                        "test_paths": Limit(lo=2), "test_records": AT_LEAST_ONE, "stationary_from": NON_NEGATIVE,
                        "equilibrium_lattices": Limit(lo=2), "equilibrium_time": POSITIVE, "threads": AT_LEAST_ONE}

    PRESETS: ClassVar = {
        "quick": {},
        "paper": dict(patch_sides=(8, 16, 32, 64), small_runs=1000, small_records=200,
                      record_interval=6.2021, substeps=6, relax_time=6.2021, n_upsampled=100_000,
                      n_random=100_000, pairs_per_snapshot=1,
                      closure=ClosureSettings(channels=32, steps=4000, batch_size=256),
                      sde=SDESettings(diffusion="full", hidden=(64, 64, 64), steps=20_000,
                                      batch_size=1024, init_scale=None),
                      test_records=500, stationary_from=100, equilibrium_time=2000.0)}


def _check(cfg: Config) -> None:
    for ell in cfg.patch_sides:
        cfg.n_patches(ell)
    if cfg.L & (cfg.L - 1):
        raise ValueError(f"L = {cfg.L} must be a power of two (upsampling doubles the side)")
    if cfg.relax_window < 2 or cfg.relax_window & (cfg.relax_window - 1):
        raise ValueError(f"relax_window = {cfg.relax_window} must be a power of two >= 2")
    if not 0 <= cfg.stationary_from < cfg.test_records:
        raise ValueError(f"stationary_from = {cfg.stationary_from} must lie in [0, test_records)")
    if cfg.test_paths < 2 or cfg.pairs_per_snapshot < 1 or cfg.substeps < 1 or cfg.threads < 1:
        raise ValueError("need test_paths >= 2 and pairs_per_snapshot, substeps, threads >= 1")
    if min(cfg.n_upsampled, cfg.n_random) < 0 or cfg.n_upsampled + cfg.n_random < 2:
        raise ValueError("need at least two training snapshots")
    if cfg.closure.dim < 0:
        raise ValueError(f"closure.dim must be >= 0, got {cfg.closure.dim}")
    if any(abs(m) > 1 for m in cfg.test_m0):
        raise ValueError(f"initial magnetisations must lie in [-1, 1], got {cfg.test_m0}")


# ------------------------------------------------------------------------------------ data
def random_lattices(m: np.ndarray, L: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, L, L]`` lattices with magnetisations ``m`` (rounded), spins placed uniformly at random."""
    return cw.lattices_with_magnetisation(m, L, rng)


def small_system_snapshots(cfg: Config, ell: int, rng: np.random.Generator,
                           budget: ForceBudget | None = None) -> np.ndarray:
    """All records of ``small_runs`` periodic ℓ×ℓ runs from uniformly random magnetisations."""
    start = random_lattices(rng.uniform(-1, 1, cfg.small_runs), ell, rng)
    x, _ = ising.simulate(start, cfg.small_records, cfg.T, cfg.h, seed=rng,
                          record_time=cfg.record_interval, budget=budget)
    return x.reshape(-1, ell, ell)


def upsample_to(cfg: Config, small: np.ndarray, rng: np.random.Generator,
                budget: ForceBudget | None = None) -> np.ndarray:
    """Hierarchical upsampling: 2×2 replication + frozen-halo LocalRelax until the side is L."""
    hooks = IsingDynamics(cfg.T, cfg.h, relax_window=cfg.relax_window, relax_time=cfg.relax_time,
                          budget=budget)
    return upsample_lattices(hooks, small, cfg.L, rng)[0]


def ground_truth(cfg: Config, rng: np.random.Generator, budget: ForceBudget | None = None) -> np.ndarray:
    """Direct simulations of the L×L system at fixed record times ``[n_m0, paths, records+1, L, L]``."""
    out = []
    for m0 in cfg.test_m0:
        start = random_lattices(np.full(cfg.test_paths, m0), cfg.L, rng)
        x, _ = ising.simulate(start, cfg.test_records, cfg.T, cfg.h, seed=rng,
                              record_time=cfg.record_interval, budget=budget)
        out.append(x)
    return np.stack(out)


def equilibrium_estimate(cfg: Config, rng: np.random.Generator) -> dict:
    """Mean (± s.e. over independent lattices) of m and ρ_dw from long runs of the L×L system,
    started independently of the test (at the stationary m of a field-aligned start)."""
    start = random_lattices(np.full(cfg.equilibrium_lattices, 0.7), cfg.L, rng)
    n_rec = 100
    x, _ = ising.simulate(start, n_rec, cfg.T, cfg.h, seed=rng,
                          record_time=cfg.equilibrium_time / n_rec)
    late = x[:, n_rec // 4 + 1:]
    out = {}
    for name, f in zip(OBSERVABLES, (magnetisation, domain_wall_density)):
        per_lattice = f(late).mean(axis=1)
        out[name] = {"mean": float(per_lattice.mean()),
                     "se": float(per_lattice.std(ddof=1) / math.sqrt(len(per_lattice))),
                     "std": float(f(late).std())}
    return out


# ------------------------------------------------------------------------------------ closure
def observables(x: torch.Tensor) -> torch.Tensor:
    """(m, ρ_dw) of periodic lattices ``[B, 1, L, L]`` (float ±1) → ``[B, 2]``."""
    s = x[:, 0]
    bonds = (s * s.roll(-1, -1)).mean(dim=(-2, -1)) + (s * s.roll(-1, -2)).mean(dim=(-2, -1))
    return torch.stack([s.mean(dim=(-2, -1)), (1 - bonds / 2) / 2], dim=-1)


#: disjoint groups of lattices whose patches give independent repeats of the closure check
EXPLAINED_GROUPS = 10


def make_encoder(cfg: Config, ell: int) -> PatchAdditiveEncoder:
    """z = (m, ρ_dw, mean_J φ̂_loc(x_J)) over the ℓ×ℓ patches of the L×L lattice."""
    grid = PatchGrid((cfg.L, cfg.L), (ell, ell))
    if cfg.closure.dim == 0:
        return PatchAdditiveEncoder(grid, observables, 2)
    return PatchAdditiveEncoder(grid, observables, 2, PatchCNN(cfg.closure.dim, cfg.closure.channels),
                                cfg.closure.dim)


def train_closure(cfg: Config, ell: int, snapshots: np.ndarray,
                  seed: int) -> tuple[PatchAdditiveEncoder, dict]:
    """The closure autoencoder of patch side ℓ trained by BCE reconstruction on ``snapshots``."""
    torch.manual_seed(seed)
    enc = make_encoder(cfg, ell)
    if cfg.closure.dim == 0:
        return enc.eval(), {"loss": None, "explained": [], "explained_groups": []}
    ae = PatchClosureAutoencoder(enc, MLPDecoder(enc.latent_dim, (1, cfg.L, cfg.L),
                                            hidden=(cfg.closure.decoder_hidden,)))
    c = cfg.closure
    hist = fit_closure(ae, torch.from_numpy(snapshots),
                       TrainConfig(lr=c.lr, steps=c.steps, batch_size=c.batch_size, schedule="cosine",
                                   min_lr=c.lr / 20, seed=seed, progress=False),
                       loss="bce_pm1", as_input=spin_lattices)
    enc.eval()
    rng = np.random.default_rng([seed, ell, 7])
    pick = rng.integers(0, len(snapshots), min(len(snapshots), cfg.closure.fit_lattices))
    per_lattice = enc.grid.split(torch.from_numpy(snapshots[pick]).float()[:, None])
    return enc, {"loss": float(hist.loss[-1]),
                 "explained": explained_by_observables(enc.local_net, observables, per_lattice.flatten(0, 1)),
                 "explained_groups": explained_in_groups(enc.local_net, observables, per_lattice,
                                                         EXPLAINED_GROUPS)}


def m_only_bce(snapshots: np.ndarray) -> float:
    """The reconstruction loss of the best decoder that knows only m (independent sites with
    P(s = +1) = (1 + m)/2): the mean binary entropy of (1 + m)/2."""
    p = np.clip((1 + magnetisation(snapshots)) / 2, 1e-12, 1 - 1e-12)
    return float(np.mean(-p * np.log(p) - (1 - p) * np.log(1 - p)))


@torch.no_grad()
def encode(enc: PatchAdditiveEncoder, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """z = φ(x) ``[n, d]`` (float64) of lattices ``x [n, L, L]``."""
    flat = x.reshape(-1, *x.shape[-2:])
    out = [enc(torch.from_numpy(flat[i:i + batch]).float()[:, None]).double().numpy()
           for i in range(0, len(flat), batch)]
    return np.concatenate(out).reshape(*x.shape[:-2], enc.latent_dim)


@torch.no_grad()
def closure_local(enc: PatchAdditiveEncoder, patches: np.ndarray, batch: int = 4096) -> np.ndarray:
    """g(x_J) ``[n, d̂]`` of patches ``[n, ℓ, ℓ]``."""
    out = [enc.closure_local(torch.from_numpy(patches[i:i + batch]).float()[:, None]).double().numpy()
           for i in range(0, len(patches), batch)]
    return np.concatenate(out)


# ------------------------------------------------------------------------------------ study
def minmax(z_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Official scaling: (z − lo)/(hi − lo) per dimension, m unscaled (lo = 0, hi = 1); statistics
    from training latents (the official code took them from large-system validation latents)."""
    lo, hi = z_train.min(axis=0), z_train.max(axis=0)
    lo[0], hi[0] = 0.0, 1.0
    return lo, np.where(hi > lo, hi - lo, 1.0)


#: late-time records kept per path (evenly spaced from ``stationary_from``) for the intervals of the
#: std ratios: a bootstrap over paths needs the paths, and these keep the result file compact
LATE_SAMPLES = 25


def late_records(cfg: Config) -> np.ndarray:
    """Indices of the ≤ :data:`LATE_SAMPLES` late-time records kept per path."""
    return np.unique(np.linspace(cfg.stationary_from, cfg.test_records, LATE_SAMPLES).round().astype(int))


@dataclass(frozen=True, eq=False)
class TrainedClosure:
    """The closure hook's outcome: the encoder, the training latents z = φ(D) ``[n, d]`` (the min–max
    statistics of the scores) and the closure's diagnostics (loss, explained variances)."""

    encoder: PatchAdditiveEncoder
    z_train: np.ndarray
    fit: dict


@dataclass(frozen=True, eq=False)
class Steps(PatchSideSteps):
    """The Ising hooks of :func:`~support.stochastic.patch_side_study.patch_side_study` (``truth_x``:
    the lattices of the direct runs, encoded by each side's closure)."""

    cfg: Config
    truth_x: np.ndarray

    def snapshots(self, ell, rng, budgets) -> np.ndarray:
        """D: upsampled small snapshots plus random-magnetisation lattices ``[n, L, L]`` int8 (the
        flips spent charged to the ``small_system`` and ``relax`` budgets)."""
        cfg = self.cfg
        small = small_system_snapshots(cfg, ell, rng, budgets["small_system"])
        ups = upsample_to(cfg, small[rng.integers(0, len(small), cfg.n_upsampled)], rng, budgets["relax"])
        rand = random_lattices(rng.uniform(-1, 1, cfg.n_random), cfg.L, rng)
        return np.concatenate([ups, rand])

    def closure(self, ell, snapshots, seed) -> TrainedClosure:
        enc, fit = train_closure(self.cfg, ell, snapshots, seed)
        return TrainedClosure(enc, encode(enc, snapshots), fit)

    def pairs(self, ell, snapshots, closure, rng, budgets) -> dict:
        """``pairs_per_snapshot`` patches per snapshot, each evolved alone for δt (frozen halo):
        ``{"partial": pairs (λ = K), "naive": pairs (λ = 1)}``."""
        cfg, K, enc = self.cfg, self.cfg.n_patches(ell), closure.encoder
        obs = patch_observables(snapshots, ell, cfg.dt, cfg.T, cfg.h, rng, cfg.pairs_per_snapshot,
                                budgets["partial_evolution"])
        g_before = closure_local(enc, obs["windows_before"][:, 1:-1, 1:-1])
        g_after = closure_local(enc, obs["patches_after"])
        part_b = np.column_stack([obs["before"], g_before])
        part_a = np.column_stack([obs["after"], g_after])
        naive_a = np.column_stack([obs["after_own"], g_after])
        z = closure.z_train[obs["which"]]
        return {"partial": pairs_from_patches(z, part_b, part_a, cfg.dt, K)["partial"],
                "naive": pairs_from_patches(z, part_b, naive_a, cfg.dt, K)["naive"]}

    def test(self, ell, closure) -> tuple[np.ndarray, np.ndarray]:
        truth = encode(closure.encoder, self.truth_x)               # [n_m0, paths, R + 1, d]
        return truth[:, :, 0], truth

    def models(self, K: int) -> tuple[ModelSpec, ...]:
        """Ours (m, ρ_dw; λ = K), naive (m, ρ_dw; λ = 1) and, with a learned closure, ours_closure
        (the whole latent; λ = K)."""
        ours, naive = partial_and_naive(K, dims=(0, 1))
        if self.cfg.closure.dim == 0:
            return ours, naive
        return ours, naive, ModelSpec("ours_closure", "partial", float(K))

    def score(self, ens: Ensemble, side: PatchSide) -> EnsembleScore:
        """One model's ensembles ``ens.paths [n_m0, paths, R + 1, d]`` against the true latents (all
        dimensions; the model's are taken), errors in the official min–max scaling of the training
        latents. Extras: ``bounded`` (every path stayed finite and within ten training ranges of the
        training latents; diverged paths are clipped to ±1000 before scoring), the error of the
        observables alone, the std ratio and stationary moments of m and ρ_dw, and ``late_m`` (m of
        every path at the :func:`late_records` ``[n_m0, paths, n_late]``, the units of the std
        ratio's bootstrap)."""
        cfg = self.cfg
        dims = list(range(side.truth.shape[-1])) if ens.spec.dims is None else list(ens.spec.dims)
        truth = side.truth[..., dims]
        lo, scale = minmax(side.closure.z_train[:, dims])
        pred = ens.paths
        scaled = (pred - lo) / scale
        bounded = bool(np.isfinite(pred).all() and np.abs(scaled).max() < 10)
        pred = np.nan_to_num(pred, nan=1e3, posinf=1e3, neginf=-1e3).clip(-1e3, 1e3)
        err = [mean_trajectory_error((p - lo) / scale, (t - lo) / scale) for p, t in zip(pred, truth)]
        err_obs = [mean_trajectory_error(p[..., :2], t[..., :2]) for p, t in zip(pred, truth)]
        ratio = std_ratio(pred[..., :2], truth[..., :2], cfg.stationary_from)
        late = pred[:, :, cfg.stationary_from:, :2]
        extra = {"dims": len(dims), "bounded": bounded, "error_observables": float(np.mean(err_obs)),
                 "late_m": pred[:, :, late_records(cfg), 0]}
        for i, name in enumerate(OBSERVABLES):
            extra[f"std_ratio_{name}"] = float(ratio[i])
            extra[f"stationary_mean_{name}"] = float(late[..., i].mean())
            extra[f"stationary_std_{name}"] = float(late[..., i].std(axis=1, ddof=1).mean())
        return EnsembleScore(ens.spec.lam, float(np.mean(err)), err, pred[..., :2].mean(axis=1),
                             pred[..., :2].std(axis=1, ddof=1), extra)

    def extra(self, side: PatchSide) -> dict:
        fit = side.closure.fit
        return {"n_snapshots": len(side.snapshots), "seconds_data": side.seconds["snapshots"],
                "seconds_closure_pairs": side.seconds["closure"] + side.seconds["pairs"],
                "closure_loss": fit["loss"], "m_only_loss": m_only_bce(side.snapshots),
                "closure_explained": fit["explained"], "closure_explained_groups": fit["explained_groups"]}


def run(cfg: Config | None = None, *, scale: str | None = None, seed: int = 0,
        progress: bool = True, workers: int = 1) -> ExperimentResult:
    """The study; ``workers`` > 1 (or a Dask scheduler, :mod:`support.executor`) computes the patch
    sides at once. Each side draws from its own generators (numpy's seeded by ``(seed, ℓ)``, torch's
    by ``seed``), so the numbers do not depend on it, up to a convolution's round-off in the sixth
    digit (tests/test_executor.py)."""
    cfg = resolve(Config, cfg, scale)
    _check(cfg)
    with torch_threads(cfg.threads):
        return _run(cfg, seed, progress, workers)


def _run(cfg: Config, seed: int, progress: bool, workers: int = 1) -> ExperimentResult:
    t0 = time.perf_counter()
    truth_budget = ForceBudget()
    truth_x = ground_truth(cfg, np.random.default_rng([seed, 0]), truth_budget)
    truth_flips = truth_budget.units
    equilibrium = equilibrium_estimate(cfg, np.random.default_rng([seed, 1]))
    t_truth = time.perf_counter() - t0
    per_ell = patch_sides_study(Steps(cfg, truth_x), cfg.patch_sides, seed=seed, workers=workers,
                                progress=progress)
    obs = np.stack([magnetisation(truth_x), domain_wall_density(truth_x)], axis=-1)
    late = obs[:, :, cfg.stationary_from:]
    stationary = {}
    for i, name in enumerate(OBSERVABLES):
        per_path = late[..., i].mean(axis=2).ravel()
        stationary[name] = {"mean": float(per_path.mean()),
                            "se": float(per_path.std(ddof=1) / math.sqrt(len(per_path))),
                            "std": float(late[..., i].std(axis=1, ddof=1).mean())}
    metrics = {"per_ell": [r.to_json() for r in per_ell], "truth_mean": obs.mean(axis=1), "truth_std": obs.std(axis=1, ddof=1),
               "time": np.arange(cfg.test_records + 1) * cfg.record_interval, "dt": cfg.dt,
               "seconds_truth": t_truth, "stationary": stationary, "equilibrium": equilibrium,
               "truth_late_m": obs[:, :, late_records(cfg), 0],
               # flips of the direct L×L runs (never seen by training) and their rate per lattice and
               # unit time: what one δt of the whole lattice costs, to compare with a pair's
               "truth_flips": truth_flips,
               "full_flips_per_time": rate_per_system_time(truth_flips, truth_x.shape[0] * truth_x.shape[1],
                                                           cfg.test_records * cfg.record_interval)}
    thin_curves(metrics)
    return ExperimentResult.of(cfg, name="ising", version=VERSION, seed=seed, metrics=metrics,
                               comparison=_comparison(metrics), figures=_figures(cfg, metrics),
                               started=t0, threads=cfg.threads)


# ------------------------------------------------------------------------------------ reporting
LABELS = {"ours": "ours (m, ρ_dw), λ = K", "naive": "naive (m, ρ_dw), λ = 1",
          "ours_closure": "ours + closure (4-d), λ = K"}


def _comparison(m: dict) -> list[dict]:
    official = paper_numbers.ISING["errors"]
    rows = []
    for r in patch_sides(m):
        ref = official.get(r.ell, {})
        for name, p in r.models.items():
            paper = ref.get("naive" if name == "naive" else "ours")
            x = p.extra
            rows.append({"quantity": f"ℓ = {r.ell} (K = {r.K}): {LABELS[name]}, error of the mean "
                                     f"latent trajectory", "measured": p.error, "paper": paper,
                         "note": f"(m, ρ_dw) only {x['error_observables']:.1e}; late std ratio m "
                                 f"{x['std_ratio_m']:.2f}, ρ_dw {x['std_ratio_ρ_dw']:.2f}"
                                 + ("" if x["bounded"] else "; paths left the training range "
                                                            "tenfold (diverged)")})
    s, e = m["stationary"], m["equilibrium"]
    for name in OBSERVABLES:
        rows.append({"quantity": f"direct simulation: late-time mean {name}", "measured": s[name]["mean"],
                     "predicted": e[name]["mean"],
                     "note": f"± {s[name]['se']:.1e}; long equilibrium runs ± {e[name]['se']:.1e}"})
    return rows


COLOURS = {"ours": "C0", "naive": "C3", "ours_closure": "C2"}


#: the mean and std curves over time are kept at no more than this many records (what the band
#: figure draws); every score is computed from the full curves before they are thinned
CURVE_RECORDS = 101


def thin_curves(m: dict, keep: int = CURVE_RECORDS) -> dict:
    """Keep every k-th record (k = ⌈R / (keep − 1)⌉, the last record always) of the time axis and of
    the mean/std curves of the truth and of every model, in place: a paper-scale run's 501 records
    × 7 starts × 2 observables × every model made a 4.6 MB results file."""
    n = len(m["time"])
    step = max(1, math.ceil((n - 1) / (keep - 1)))
    idx = sorted(set(range(0, n, step)) | {n - 1})
    m["time"] = np.asarray(m["time"])[idx]
    for key in ("truth_mean", "truth_std"):
        m[key] = np.asarray(m[key])[:, idx]
    for row in m["per_ell"]:
        for model in row["models"].values():
            for key in ("pred_mean", "pred_std"):
                if key in model:
                    model[key] = np.asarray(model[key])[:, idx]
    return m


def _figures(cfg: Config, m: dict) -> dict:
    figs = {}
    sides = patch_sides(m)
    small = min(sides, key=lambda r: r.ell)
    t = np.asarray(m["time"])
    names = list(small.models)
    fig, axes = figure(len(names), 2, width=3.6, height=2.9, sharex=True, sharey="row")
    for col, name in enumerate(names):
        p = small.models[name]
        for row, obs in enumerate(OBSERVABLES):
            ax = axes[row, col]
            for j in range(len(cfg.test_m0)):
                mt, st = np.asarray(m["truth_mean"])[j, :, row], np.asarray(m["truth_std"])[j, :, row]
                mp, sp = p.pred_mean[j, :, row], p.pred_std[j, :, row]
                ax.fill_between(t, mt - st, mt + st, color="0.55", alpha=0.35, lw=0)
                ax.plot(t, mp, color=method_colour("", j), lw=1.1)
                ax.fill_between(t, mp - sp, mp + sp, color=method_colour("", j), alpha=0.2, lw=0)
            ax.set(ylim={"m": (-1.05, 1.05), "ρ_dw": (0.0, 0.55)}[obs])
            if col == 0:
                ax.set_ylabel(obs)
            if row == 0:
                ax.set_title(f"{LABELS[name]}\nℓ = {small.ell} (K = {small.K})", fontsize=8)
            else:
                ax.set_xlabel("t")
    figs["bands"] = fig

    fig, axes = figure(2, 1, width=4.2, height=3.3)
    ells = [r.ell for r in sides]
    official = paper_numbers.ISING["errors"]
    ax = axes[0, 0]
    for name in names:
        ax.plot(ells, [r.models[name].error for r in sides], "o-", color=COLOURS[name],
                label=LABELS[name])
    patch_side_axes(ax, ells, "error of the mean trajectory", "Error against patch size", official, ", 4-d")
    ax.legend(fontsize=6)
    ax = axes[0, 1]
    truth_std = m["stationary"]["m"]["std"]
    for name in names:
        ax.plot(ells, [r.models[name].extra["stationary_std_m"] for r in sides], "o-",
                color=COLOURS[name], label=LABELS[name])
    ax.axhline(truth_std, color="k", ls="--", lw=1, label="direct simulation")
    ax.plot(ells, [truth_std * math.sqrt(r.K) for r in sides], ":", color="0.4",
            label="√K × direct simulation")
    patch_side_axes(ax, ells, "late-time std of m", "Fluctuations of m")
    ax.legend(fontsize=6)
    figs["error_vs_patch"] = fig
    return figs


# ------------------------------------------------------------------------------------ claims
CLAIMS = ClaimSet()
#: the relative accuracy of the late-time std of m that the claim std_ours states (written in its text)
STD_TOLERANCE = 0.10
#: how many combined standard errors the direct test ensemble may differ from the long runs by
EQUILIBRIUM_SE = 4.0
#: the factor within which the claim closure_sde states that the paper's 4-d errors are reproduced
PAPER_FACTOR = 10.0


def _smallest(r) -> PatchSideResult:
    return min(patch_sides(r.metrics), key=lambda x: x.ell)


def _interval(e: Estimate) -> str:
    return f"{e} ({e.how.replace('bootstrap 95 % over', 'bootstrap over')})"


@CLAIMS.add("beats_naive", "at the smallest patch, λ = K beats the naive baseline on the error of the "
            "mean trajectory of (m, ρ_dw) (paired over the initial magnetisations)",
            expect={"quick": True, "paper": True},
            paper="ℓ = 8: 2.84e-2 vs 1.31e-1; ℓ = 16: 7.98e-4 vs 3.20e-2 (4-d latent)")
def _beats(r):
    s = _smallest(r)
    ours, naive = s.models["ours"], s.models["naive"]
    e = paired_log_ratio(ours.error_per_start, naive.error_per_start, "initial magnetisations")
    ratio = e.map(math.exp)
    return below(e, 0.0), (f"ℓ = {s.ell}: ours {ours.error:.2e}, naive {naive.error:.2e}; "
                           f"ours/naive {ratio} (geometric mean, t-interval over "
                           f"{len(ours.error_per_start)} paired initial m)")


@CLAIMS.add("std_ours", f"λ = K gives the 64×64 system's late-time std of m to within "
            f"{STD_TOLERANCE:.0%} of direct simulation at every patch size",
            expect={"quick": False, "paper": UNDECIDED}, paper="— (stds plotted, not scored)",
            reason="quick: λ = K's spread of m is 24 % too wide at ℓ = 16 (ratio 1.24 [1.14, 1.33]) — "
                   "the right order, against the naive baseline's √K, but not within 10 %; paper "
                   "(trimmed saved run): within 10 % at ℓ = 8 (1.04 [1.01, 1.09]) and ℓ = 16 "
                   "(1.01 [0.97, 1.06]), but at ℓ = 32 the interval 1.06 [1.02, 1.12] straddles the "
                   "10 % edge, so the run cannot decide 'at every patch size'")
def _std_ours(r):
    verdicts, words = [], []
    for x in patch_sides(r.metrics):
        e = std_ratio_estimate(x.models["ours"].extra["late_m"], r.metrics["truth_late_m"])
        verdicts.append(within(e, 1.0, STD_TOLERANCE))
        words.append(f"ℓ = {x.ell}: {e}")
    return all_of(verdicts), ("std ratio pred/true " + "; ".join(words)
                              + f" (bootstrap 95 % over {np.shape(r.metrics['truth_late_m'])[1]} "
                                "paired paths per initial m)")


@CLAIMS.add("std_naive", "the naive baseline's late-time std of m is too wide at the smallest patch, by "
            "more than √K / 2 (a small system's noise is √K times a large one's)",
            expect={"quick": True, "paper": True}, paper="— (Curie–Weiss pickles: ≈ √K too wide)")
def _std_naive(r):
    s = _smallest(r)
    e = std_ratio_estimate(s.models["naive"].extra["late_m"], r.metrics["truth_late_m"])
    half = s.K ** 0.5 / 2
    return above(e, half), f"ℓ = {s.ell}: std ratio {_interval(e)}; √K / 2 = {half:.1f}"


@CLAIMS.add("closure_redundant", "the reconstruction-trained closure variables are functions of the "
            "patch's own m and ρ_dw: a quadratic in them explains > 99 % of their variance",
            expect={"quick": True, "paper": True}, paper="— (closure said to help; not measured)")
def _closure(r):
    verdicts, worst = [], None
    for x in patch_sides(r.metrics):
        for groups in x.extra.get("closure_explained_groups", []):
            e = Estimate.of_samples(groups, what="disjoint groups of lattices")
            verdicts.append(above(e, 0.99))
            if worst is None or e.lo < worst.lo:
                worst = e
    if worst is None:
        return None
    return all_of(verdicts), (f"least explained variable: {100 * worst.value:.3f} % "
                              f"[{100 * worst.lo:.3f}, {100 * worst.hi:.3f}] ({worst.how}); "
                              f"{len(verdicts)} variables over all ℓ")


@CLAIMS.add("closure_sde", f"the paper's model, λ = K on the 4-d latent with the learned closure, "
            f"reproduces the official error of the mean latent trajectory to within a factor "
            f"{PAPER_FACTOR:.0f} at every patch side", expect={"quick": False, "paper": False},
            paper="ℓ = 8: 2.84e-2, 16: 7.98e-4, 32: 4.50e-4, 64: 1.95e-3",
            reason="not reproduced: the closure variables are near-exact functions of (m, ρ_dw), the "
                   "4-d increment covariance is nearly singular and the 4-d SDE's paths run away "
                   "(errors orders of magnitude above the paper's)")
def _closure_sde(r):
    official = paper_numbers.ISING["errors"]
    if r.config.get("L") != 64:              # the official errors are for the 64×64 lattice
        return None
    verdicts, words = [], []
    for x in patch_sides(r.metrics):
        p, ref = x.models.get("ours_closure"), official.get(x.ell, {}).get("ours")
        if p is None or ref is None:
            continue
        e = Estimate.bootstrap(np.asarray(p.error_per_start, float), np.mean,
                               what="initial magnetisations")
        verdicts.append(within(e.map(math.log10), math.log10(ref), math.log10(PAPER_FACTOR)))
        words.append(f"ℓ = {x.ell}: {e} vs {ref:.2e}" + ("" if p.extra["bounded"] else " (diverged)"))
    if not verdicts:
        return None
    return all_of(verdicts), "; ".join(words) + " (bootstrap 95 % over the initial m)"


@CLAIMS.add("truth_equilibrium", f"direct simulation's late-time m and ρ_dw agree with independent long "
            f"equilibrium runs to within {EQUILIBRIUM_SE:.0f} combined standard errors",
            expect={"quick": True, "paper": True}, paper="— (official ground truth not checked)")
def _truth(r):
    s, e = r.metrics["stationary"], r.metrics["equilibrium"]
    verdicts, words = [], []
    for name in OBSERVABLES:
        se = math.hypot(s[name]["se"], e[name]["se"])
        d = Estimate.from_se(s[name]["mean"] - e[name]["mean"], se, "difference ± 1.96 combined s.e.")
        verdicts.append(within(d, 0.0, EQUILIBRIUM_SE * se))
        words.append(f"{name} {s[name]['mean']:.4f} vs {e[name]['mean']:.4f}: difference {d} "
                     f"(combined s.e. {se:.1e})")
    return all_of(verdicts), "; ".join(words)


def chapter_numbers(r) -> dict:
    """The numbers the chapter quotes about a run, with the intervals its claims use: per patch side
    (``_8``, ``_16``, …) the std ratio of m of each model (value, lo, hi), the error of the mean
    trajectory of each model, and at the smallest patch the geometric-mean ratio ours/naive of the
    errors (paired over the initial m)."""
    out = {}
    for x in patch_sides(r.metrics):
        tag = f"_{x.ell}"
        for name, p in x.models.items():
            e = std_ratio_estimate(p.extra["late_m"], r.metrics["truth_late_m"])
            out |= {f"{name}_std{tag}": e.value, f"{name}_std_lo{tag}": e.lo, f"{name}_std_hi{tag}": e.hi,
                    f"{name}_err{tag}": p.error}
        if "ours_closure" in x.models:
            p = x.models["ours_closure"]
            out[f"closure_bounded{tag}"] = bool(p.extra["bounded"])
            out[f"closure_err_max{tag}"] = float(max(p.error_per_start))
    s = _smallest(r)
    e = paired_log_ratio(s.models["ours"].error_per_start, s.models["naive"].error_per_start,
                         "initial magnetisations").map(math.exp)
    out |= {"beats": e.value, "beats_lo": e.lo, "beats_hi": e.hi, "small_ell": s.ell, "small_K": s.K}
    for name in OBSERVABLES:
        st, eq = r.metrics["stationary"][name], r.metrics["equilibrium"][name]
        key = "m" if name == "m" else "rho"
        out |= {f"truth_{key}": st["mean"], f"eq_{key}": eq["mean"],
                f"truth_z_{key}": (st["mean"] - eq["mean"]) / math.hypot(st["se"], eq["se"])}
    return out
