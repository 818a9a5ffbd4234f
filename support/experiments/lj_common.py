r"""Pieces shared by the three Lennard-Jones chapters (paper 1, Figs. 3 and 4).

* :class:`LJSetup` — the fluid, its NVE training/test trajectories and the configuration pools;
* :func:`build_autoencoder` — paper 1's MLP closure on the ordered state, or the permutation- and
  periodic-image-invariant :class:`~support.encoders.PooledAtomEncoder`, trained on configurations
  only (they are free; no force is used);
* :func:`latent_factory` / :func:`latent_config` — the three latent structures and one
  optimisation budget (same steps and cosine schedule for every loss);
* :func:`trajectory_pool` — the paper's protocol for choosing configurations (whole trajectories
  in order) next to the studies' default (uniform draws from all training snapshots);
* :func:`train_ensemble` — an ensemble of latent models for one method at one budget, each bought
  through the counted oracle by :func:`support.studies.train_one` and scored against ground truth
  on one or more test sets.

Observable: z* = 20·T (paper 1's scale factor; the relative error does not depend on it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from dataclasses import asdict, dataclass, replace
from typing import ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm
from torch import nn

from ..closure import ClosureAutoencoder, evenly_spaced, train_autoencoder
from .config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Limit
from ..data_span import PrincipalSubspace, principal_subspace, restrict_first_layer
from ..encoders import PooledAtomEncoder, invariant_autoencoder, mlp_autoencoder
from ..jacobian import condition_number
from ..label_noise import column_block_share, label_noise, subspace_shares, unit_columns
from ..farm import Diverged, LatentJob, ModelStore, run_latent_jobs
from ..latent import LatentFactory
from ..metrics import mean_std
from ..normalise import LatentNormaliser, NormalisedLatentModel
from ..scale import device
from ..metrics import relative_trajectory_error
from ..pipeline import rollout_observables
from ..provenance import code_version
from ..studies import Method, RunRecord, buy_observations, encoded_trajectories, record_of, records_as_dicts
from ..systems.base import Trajectories
from ..systems.lennard_jones import LennardJonesSystem
from ..tables import Table
from ..train import TrainConfig, TrainHistory, torch_threads
from ..validation import check_choice
from ..uncertainty import Estimate

#: paper 1's scale factor of the temperature observable, z* = 20 T
TEMPERATURE_SCALE = 20.0
#: latent structures of paper 1, Fig. 3 (names of :func:`support.latent.build_latent_model`)
STRUCTURES = ("mlp", "onsagernet", "gfinn")
STRUCTURE_LABELS = {"mlp": "MLP", "onsagernet": "OnsagerNet", "gfinn": "GFINNs"}
#: closure encoders of the encoder study
ENCODERS = ("mlp", "invariant")
#: paper 1's latent widths (its official LJ code): MLP 256-256, OnsagerNet 256³ ReQUr residual, GFINN 256-256, K = d
PAPER_WIDTHS = {"mlp": {"hidden": (256, 256)}, "onsagernet": {"hidden": (256, 256, 256)},
                "gfinn": {"hidden": (256, 256)}}


# ------------------------------------------------------------------------------------ data
@dataclass
class LJSetup:
    """An LJ fluid with training trajectories (the configuration pool) and named test sets."""

    system: LennardJonesSystem
    train: Trajectories
    tests: dict[str, Trajectories]

    @property
    def n_atoms(self) -> int:
        return self.system.n_atoms


def make_system(n_atoms: int, *, same_start: bool = True, start_seed: int = 0, relax_fmax: float = 50.0,
                n_frames: int = 250, relaxation: str = "fire") -> LennardJonesSystem:
    """The paper's fluid (ρ = 0.8, r_c = 2.5, Δt = 0.001, T0 ~ U(0.5, 1.5)) with z* = 20 T.

    Trajectories live on :func:`support.scale.device` (float64: the force oracle needs it); the
    LAMMPS engine is used on the CPU, the built-in velocity Verlet on a GPU. ``relaxation``:
    ``"fire"`` (the book's) or ``"lammps_cg"`` (paper 1's LAMMPS ``minimize 1.0e-1 1.0e-4 1000 10000``).
    """
    dev = device()
    return LennardJonesSystem(n_atoms, same_start=same_start, start_seed=start_seed, relax_fmax=relax_fmax,
                              n_frames=n_frames, temperature_scale=TEMPERATURE_SCALE, relaxation=relaxation,
                              device=dev, engine="auto" if dev.type == "cpu" else "builtin")


def simulate_setup(n_atoms: int, n_train: int, n_test: int, seed: int, *, new_start_test: int = 0,
                   relax_fmax: float = 50.0, progress: bool = False, relaxation: str = "fire") -> LJSetup:
    """The paper's design: every run starts from the same relaxed positions and velocity pattern
    (rescaled to its own T0). Test set ``"same start"``; with ``new_start_test > 0`` also
    ``"new starts"``: runs that each start from their own random insertion and relaxation."""
    system = make_system(n_atoms, relax_fmax=relax_fmax, relaxation=relaxation)
    train = system.trajectories(n_train, seed, split="train", progress=progress)
    tests = {"same start": system.trajectories(n_test, seed, split="test", progress=progress)}
    if new_start_test:
        fresh = make_system(n_atoms, same_start=False, relax_fmax=relax_fmax, relaxation=relaxation)
        tests["new starts"] = fresh.trajectories(new_start_test, seed + 7919, split="test", progress=progress)
    return LJSetup(system, train, tests)


def strided(traj: Trajectories, stride: int) -> Trajectories:
    """Every ``stride``-th frame of each run (time step × stride): a cheaper test set for encoders
    whose every frame is costly to encode (the RK4 rollout then steps by the new Δt)."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return Trajectories(x=traj.x[:, ::stride], dt=traj.dt * stride)


def trajectory_pool(traj: Trajectories, n_traj: int | None = None, stride: int = 1, first: int = 0) -> torch.Tensor:
    """Snapshots ``[k · ⌈T/stride⌉, N]`` of ``n_traj`` consecutive training runs starting at run
    ``first`` (cyclically; all runs if ``n_traj`` is ``None``), every ``stride``-th frame. With
    ``n_traj`` set this is paper 1's protocol: a budget buys whole runs in order, so L_z sees 1/p
    times fewer distinct runs (initial temperatures) than L_x,p."""
    k = traj.n_traj if n_traj is None else int(n_traj)
    if not 1 <= k <= traj.n_traj or stride < 1:
        raise ValueError(f"need 1 <= n_traj <= {traj.n_traj} and stride >= 1, got {n_traj}, {stride}")
    if k == traj.n_traj and stride == 1 and int(first) % traj.n_traj == 0:
        return traj.snapshots()                               # a view: no copy of a large data set
    runs = (torch.arange(k) + int(first)) % traj.n_traj
    return traj.x[runs.to(traj.x.device), ::stride].reshape(-1, traj.x.shape[-1])


# ------------------------------------------------------------------------------ autoencoder
@dataclass
class AEConfig:
    """Closure autoencoder settings (paper 1, LJ 800: 64-64 softplus, λ_cond = 1e-5 on the closure
    rows, Adam lr 1e-4, weight decay 1e-4, betas (0.9, 0.95), batch 256, 200 epochs).

    ``input_scaling`` (MLP closure): ``"raw"`` feeds the state as it is, as the paper does (the
    default); ``"standardise"`` divides every coordinate by its spread over the training snapshots,
    which in the same-start design boosts the position columns ≈ 12× over the velocities and moves
    the closure's attention onto positions (see :func:`closure_diagnostics`).

    ``optimizer`` (:data:`AE_OPTIMIZERS`): ``"adamw_cosine"`` (the book's default: AdamW — decoupled
    weight decay 1e-4 — with a cosine schedule from ``lr`` to ``lr``/10) or ``"adam_l2"`` (paper 1's
    official code: ``torch.optim.Adam`` with coupled weight decay 1e-4, constant ``lr``). Both use
    betas (0.9, 0.95) and no AMSGrad. Coupled L2's decay is divided by Adam's gradient scale, so it
    shrinks the first layer's weights on input directions the data hardly move in much faster than
    AdamW's lr·wd = 1e-8 per step, which leaves them almost where the initialisation put them
    (:class:`support.train.TrainConfig`, :mod:`support.data_span`).

    ``closure_input`` (MLP closure with raw inputs, :data:`CLOSURE_INPUTS`): ``"full"`` (default) or
    ``"pca_span"``, the off-manifold-aware closure: its first layer restricted to span{data mean,
    top-k principal components of the training snapshots} (:func:`support.data_span.restrict_first_layer`),
    k the fewest components explaining ``span_variance`` of the variance (at least ``latent_dim``, so
    that the closure rows can stay independent; at most ``span_max_k``), computed once from
    ``span_samples`` evenly spaced training snapshots. At 800 atoms (paper preset) 1 − 10⁻⁶ of the
    variance takes 45 components: the data are nearly that low-dimensional (the 100th component
    carries 2·10⁻¹⁰ of the variance)."""

    encoder: str = "mlp"
    latent_dim: int = 32
    hidden: tuple[int, ...] = (64, 64)
    lambda_cond: float = 1e-5
    cond_samples: int | None = None
    max_snapshots: int | None = None
    steps: int = 17_600
    lr: float = 1e-4
    batch_size: int = 256
    cutoff: float = 2.0
    n_basis: int = 8
    max_neighbours: int = 40
    pooled_width: int = 32
    rates: bool = True
    input_scaling: str = "raw"
    optimizer: str = "adamw_cosine"
    closure_input: str = "full"
    span_variance: float = 0.999999
    span_max_k: int = 256
    span_samples: int = 2048

    #: checked by the experiment config that holds this one (support.experiments.config.check_limits)
    LIMITS: ClassVar = {"latent_dim": AT_LEAST_ONE, "hidden": AT_LEAST_ONE, "lambda_cond": NON_NEGATIVE,
                        "cond_samples": AT_LEAST_ONE, "max_snapshots": AT_LEAST_ONE, "steps": AT_LEAST_ONE,
                        "lr": POSITIVE, "batch_size": AT_LEAST_ONE, "cutoff": POSITIVE, "n_basis": AT_LEAST_ONE,
                        "max_neighbours": AT_LEAST_ONE, "pooled_width": AT_LEAST_ONE,
                        "span_variance": FRACTION, "span_max_k": AT_LEAST_ONE, "span_samples": Limit(lo=2)}
    #: settings added after model stores were first filled: left out of a store's identity at these
    #: values (:func:`model_store`), so a store filled before they existed still resumes
    ADDED_SETTINGS: ClassVar = {"optimizer": "adamw_cosine", "closure_input": "full", "span_variance": 0.999999,
                                "span_max_k": 256, "span_samples": 2048}

    def __post_init__(self) -> None:
        check_choice("ae.optimizer", self.optimizer, AE_OPTIMIZERS)
        check_choice("ae.closure_input", self.closure_input, CLOSURE_INPUTS)
        if self.closure_input == "pca_span" and (self.encoder != "mlp" or self.input_scaling != "raw"):
            raise ValueError("ae.closure_input = 'pca_span' needs the MLP closure with raw inputs "
                             f"(got encoder {self.encoder!r}, input_scaling {self.input_scaling!r})")


#: closure-autoencoder optimisers (:attr:`AEConfig.optimizer`)
AE_OPTIMIZERS = ("adamw_cosine", "adam_l2")
#: what the MLP closure's first layer reads (:attr:`AEConfig.closure_input`)
CLOSURE_INPUTS = ("full", "pca_span")


def ae_train_config(cfg: AEConfig, seed: int, progress: bool = False) -> TrainConfig:
    """The optimisation of the closure autoencoder for ``cfg.optimizer``: AdamW + cosine to lr/10
    (``"adamw_cosine"``) or Adam with coupled L2 at constant lr (``"adam_l2"``, paper 1's official
    code); weight decay 1e-4, betas (0.9, 0.95), no AMSGrad, ``cfg.steps`` steps of batch ``cfg.batch_size``."""
    check_choice("ae.optimizer", cfg.optimizer, AE_OPTIMIZERS)
    schedule = {"optimizer": "adamw", "schedule": "cosine"} if cfg.optimizer == "adamw_cosine" \
        else {"optimizer": "adam", "schedule": "constant"}
    return TrainConfig(lr=cfg.lr, steps=cfg.steps, batch_size=cfg.batch_size, weight_decay=1e-4,
                       betas=(0.9, 0.95), amsgrad=False, min_lr=cfg.lr / 10, seed=seed, progress=progress,
                       desc=f"{cfg.encoder} autoencoder", threads=_threads(), **schedule)


def build_autoencoder(setup: LJSetup, cfg: AEConfig, seed: int, progress: bool = False,
                      store: ModelStore | None = None, key: str = "autoencoder", *,
                      evaluate: Callable[[nn.Module], dict] | None = None, eval_every: int = 0) -> ClosureAutoencoder:
    """Train the closure autoencoder of kind ``cfg.encoder`` on the training snapshots (or, with a
    ``store`` that holds ``key``, load the one a previous run of the same study trained).
    ``evaluate``: called with the autoencoder every ``eval_every`` steps of its training and at the
    end (:func:`support.train.fit`; e.g. to keep its state at an intermediate budget)."""
    ae = _untrained_autoencoder(setup, cfg, seed)
    if store is not None and store.has(key) and store.has_weights(key):
        ae = store.load_into(key, ae).eval()
        if "fingerprint" in store.record(key):        # weights copied to another machine: same data?
            check_fingerprint(store, key, study_fingerprint(setup, ae))
        return ae
    tcfg = replace(ae_train_config(cfg, seed, progress), eval_every=eval_every)
    hist = train_autoencoder(ae, setup.train.snapshots(), cfg.lambda_cond, tcfg, cfg.cond_samples,
                             cfg.max_snapshots, evaluate=evaluate)
    if store is not None:
        found = study_fingerprint(setup, ae)
        if store.has(key):                  # a store of records: the models were trained on this autoencoder?
            check_fingerprint(store, key, found)
            store.save_weights(key, ae)
        else:
            store.save(key, {"final_loss": hist.loss[-1] if hist.loss else None, "seconds": hist.seconds,
                             "fingerprint": found}, ae)
    return ae.eval()


def study_fingerprint(setup: LJSetup, ae: nn.Module) -> dict:
    """SHA-256 digests (16 hex digits) of the autoencoder's weights and of the trajectories (training
    and test runs): a store's records name the autoencoder and data they were computed with, so a
    study continued elsewhere, whose autoencoder is trained again, can tell whether it is the same."""
    import hashlib

    def digest(tensors) -> str:
        h = hashlib.sha256()
        for t in tensors:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]
    return {"autoencoder": digest(ae.state_dict().values()),
            "data": digest([setup.train.x] + [setup.tests[name].x for name in sorted(setup.tests)])}


def check_fingerprint(store: ModelStore, key: str, found: dict) -> None:
    """``ValueError`` unless the autoencoder ``key`` trained now is the one the store's records were
    computed with (:func:`study_fingerprint`): a retrained autoencoder that differs — another
    machine's arithmetic, another data set — would mix two studies in one store."""
    recorded = store.record(key).get("fingerprint")
    if recorded is None:
        raise ValueError(f"the model store's {key} has no fingerprint and its weights are not here: cannot "
                         "check that the autoencoder trained now is the one its models were trained on "
                         "(give --models with its weights)")
    if recorded != found:
        what = " and ".join(k for k in ("data", "autoencoder") if recorded.get(k) != found.get(k))
        raise ValueError(f"the model store's records were made with other {what} than this run's "
                         f"({key}: recorded {recorded}, now {found}); continue where the weights are "
                         "(--models), or use another store")


def _untrained_autoencoder(setup: LJSetup, cfg: AEConfig, seed: int) -> ClosureAutoencoder:
    check_choice("encoder", cfg.encoder, ENCODERS)
    system = setup.system
    torch.manual_seed(seed)
    if cfg.encoder == "mlp":
        ae = mlp_autoencoder(system.observables, 1, system.state_dim, cfg.latent_dim, cfg.hidden,
                             input_scaling=cfg.input_scaling)
    else:
        enc = PooledAtomEncoder(system.n_atoms, system.box, cfg.latent_dim - 1, cutoff=cfg.cutoff,
                                n_basis=cfg.n_basis, max_neighbours=cfg.max_neighbours,
                                hidden=cfg.pooled_width, rates=cfg.rates)
        ae = invariant_autoencoder(system.observables, 1, enc, cfg.latent_dim, cfg.hidden)
    ae = ae.to(device=setup.train.x.device, dtype=setup.train.x.dtype)
    if cfg.closure_input == "pca_span":
        restrict_first_layer(ae.closure_net, training_subspace(setup, cfg))
    return ae


def training_subspace(setup: LJSetup, cfg: AEConfig | None = None) -> PrincipalSubspace:
    """span{mean, top-k principal components} of the training snapshots with ``cfg``'s span settings
    (:func:`support.data_span.principal_subspace`; the defaults of :class:`AEConfig` if ``None``)."""
    cfg = cfg or AEConfig()
    return principal_subspace(setup.train.snapshots(), cfg.span_variance, max_k=cfg.span_max_k,
                              min_k=min(cfg.latent_dim, cfg.span_max_k), samples=cfg.span_samples)


def jacobian_conditioning(ae: ClosureAutoencoder, x: torch.Tensor, n: int = 64) -> dict:
    """Median and max κ(J) (all rows, and closure rows only) on ``n`` evenly spaced configurations."""
    pick = torch.linspace(0, len(x) - 1, min(n, len(x))).long()
    J = ae.jacobian(x[pick]).double()
    full, closure = condition_number(J), condition_number(J[:, 1:])
    return {"kappa_median": float(full.median()), "kappa_max": float(full.max()),
            "kappa_closure_median": float(closure.median()), "kappa_closure_max": float(closure.max()),
            "configs": len(pick)}


#: configurations :func:`jacobian_conditioning` has always used (runs saved before it recorded the count)
KAPPA_CONFIGS = 64


def kappa_median_estimate(conditioning: dict, rows: str = "closure"):
    """The median condition number κ(J) of a closure (``rows``: "closure" or "all") over the data, as
    an :class:`~support.uncertainty.Estimate` that needs no distribution: κ ≥ 1 always, and the
    population median lies below the largest of n sampled configurations unless all n fell above
    it, which has probability 2⁻ⁿ (≤ 5 % for n ≥ 5). So [1, largest sampled κ] holds the median
    with probability ≥ 1 − 2⁻ⁿ: a claim "median κ < c" holds when the largest sample is below c, and
    stays undecided otherwise (a lower end would need the sample's lower order statistics, which
    are not stored)."""
    key = "kappa_closure" if rows == "closure" else "kappa"
    n = conditioning.get("configs", KAPPA_CONFIGS)
    median, largest = conditioning[f"{key}_median"], conditioning[f"{key}_max"]
    return Estimate(median, min(1.0, median), max(largest, median),
                    f"median of {n} configurations; [1, largest] holds the median with probability ≥ 1 − 2^-{n}")


def closure_diagnostics(setup: LJSetup, ae: ClosureAutoencoder, p: float, seed: int, n: int = 256) -> dict:
    """What predicts L_x,p's error floor before any latent model is trained, on ``n`` evenly spaced
    training snapshots: the share of the closure Jacobian's squared norm on position columns, and
    the implied-label noise ratio of L_x,p at fraction ``p`` (:func:`support.label_noise.label_noise`:
    T row and closure median; its forces are bought from the oracle and reported, not charged to
    any study's budget).

    Also the **capture** Σ‖J^†J f‖²/Σ‖f‖² (the share of the forces' squared norm that J's rows see;
    1 − capture is what becomes label noise) and where the closure lies relative to the training
    data's principal subspace (:func:`training_subspace` with :class:`AEConfig`'s default span settings,
    the same for every closure): the share of the first layer's ‖W₁‖²_F and of ‖J_closure‖²_F inside it
    (:func:`support.label_noise.subspace_shares`, on at most 256 of the configurations)."""
    x = setup.train.snapshots()
    x = x[evenly_spaced(len(x), n)]
    positions = unit_columns(setup.n_atoms, setup.system.rows_per_unit, (0, 1, 2))
    noise = label_noise(setup.system, ae, x, p, seed=seed)
    blocks = [column_block_share(ae, xb, positions) for xb in x.tensor_split(SHARE_BLOCKS)] \
        if len(x) >= 2 * SHARE_BLOCKS else []
    shares = subspace_shares(ae, x[evenly_spaced(len(x), 256)], training_subspace(setup))
    return {"configs": len(x), "position_share": column_block_share(ae, x, positions),
            "position_share_blocks": blocks,
            "label_noise": noise.as_dict(), "noise_ratio_T": noise.observable_ratio[0],
            "noise_ratio_closure_median": noise.closure_median, "capture": noise.capture,
            "subspace_shares": shares}


#: disjoint blocks of the diagnostic configurations on which the position share is also measured
#: (its spread over the blocks is the sampling noise of the share)
SHARE_BLOCKS = 8


def position_share_estimate(diagnostics: dict):
    """The closure's share of |J_closure|² on position columns with a t-interval over the
    :data:`SHARE_BLOCKS` disjoint blocks of configurations it was also measured on (value: the share
    over all configurations); None for runs saved before the blocks were recorded."""
    blocks = diagnostics.get("position_share_blocks")
    if not blocks:
        return None
    b = Estimate.of_samples(blocks, what="blocks of configurations")
    share = diagnostics["position_share"]
    return Estimate(share, min(b.lo, share), max(b.hi, share), b.how)


def normaliser(ae: ClosureAutoencoder, train: Trajectories, n_traj: int | None = None) -> LatentNormaliser:
    """Latent statistics from finite differences along (the first ``n_traj``) encoded training runs."""
    part = train if n_traj is None else replace(train, x=train.x[:n_traj], forces=None)
    return LatentNormaliser.from_trajectories(encoded_trajectories(ae, part), part.dt).to(device())


# ---------------------------------------------------------------------------- latent models
def latent_factory(structure: str, d: int, widths: dict | None = None) -> LatentFactory:
    """``seed -> model`` for a latent structure (picklable, for worker processes); ``widths``
    overrides the paper's sizes (:data:`PAPER_WIDTHS`)."""
    check_choice("latent structure", structure, list(STRUCTURES))
    return LatentFactory(structure, d, dict((widths or PAPER_WIDTHS)[structure]))


def latent_config(steps: int, lr: float, batch_size: int, min_lr: float = 1e-5,
                  compile: bool = False) -> TrainConfig:
    """The one optimisation budget used for every loss and budget: ``steps`` AdamW steps, cosine
    decay from ``lr`` to ``min_lr`` (paper 1: AdamW lr 1e-3, amsgrad, plateau schedule); finiteness
    checked every 100 steps; ``compile``: through ``torch.compile``."""
    return TrainConfig(lr=lr, steps=steps, batch_size=batch_size, schedule="cosine", min_lr=min_lr,
                       progress=False, threads=_threads(), check_every=100, compile=compile)


def _threads() -> int | None:
    """One torch thread for the small nets on a CPU (several times faster here); default on a GPU."""
    return 1 if device().type == "cpu" else None


# ------------------------------------------------------------------------------- ensembles
@dataclass
class EnsembleResult:
    """An ensemble of latent models trained with one method at one budget."""

    method: str
    structure: str
    budget: int
    records: list[RunRecord]
    errors: dict[str, list[float]]          # test set -> per-model mean relative error
    first_model: nn.Module | None = None     # kept for the rollout figures (first model that trained)
    predicted: list | None = None            # per model: predicted observable on the first test set
    origins: list[dict] | None = None        # per model: loaded from a store or trained now, code version

    def disagreement(self) -> float | None:
        """Paper 1's Fig. 4 error: the mean relative trajectory error of every other model's
        prediction against the **last** model's (not against the truth), on the first test set.
        ``None`` for an ensemble of one or without stored predictions; ``inf`` if the last model
        diverged (there is nothing to agree with)."""
        preds = self.predicted or []
        if len(preds) < 2 or any(p is None for p in preds):
            return None
        as_t = lambda p: torch.as_tensor(p, dtype=torch.float64).reshape(len(p), -1, 1)  # noqa: E731
        ref = as_t(preds[-1])
        if not torch.isfinite(ref).all():                # the reference model itself diverged
            return float("inf")
        errs = [float(relative_trajectory_error(as_t(p), ref).mean()) for p in preds[:-1]]
        return float(np.mean(errs))

    def summary(self) -> dict:
        out = {"method": self.method, "structure": self.structure, "budget": self.budget,
               "n_configs": self.records[0].n_configs,
               "forces_charged": [r.forces_charged for r in self.records],
               "force_seconds": [r.force_seconds for r in self.records],
               "train_seconds": [r.train_seconds for r in self.records]}
        if self.origins is not None:
            out["models"] = origin_counts(self.origins)
        for name, errs in self.errors.items():
            m, s = mean_std(errs)
            out[name] = {"per_model": errs, "mean": m, "std": s}
        return out


@dataclass
class EnsembleSpec:
    """One ensemble to train: ``method`` at ``budget`` forces, one model per seed, each drawing its
    configurations from its own pool (``pools[k]`` for ``seeds[k]``), models built by ``factory``;
    ``tag`` prefixes its models' keys in a :class:`~support.farm.ModelStore`."""

    method: Method
    budget: int
    seeds: Sequence[int]
    pools: Sequence[torch.Tensor]
    structure: str
    factory: Callable[[int], nn.Module]
    tag: str = ""

    def __post_init__(self) -> None:
        if len(self.pools) != len(self.seeds):
            raise ValueError(f"got {len(self.pools)} pools for {len(self.seeds)} models")
        if not self.seeds:
            raise ValueError("an ensemble needs at least one seed")

    def key(self, seed: int) -> str:
        m = self.method
        return f"{self.tag}{self.structure}-{m.loss}-p{m.p:.6g}-F{int(self.budget)}-s{seed}"


def train_ensemble(setup: LJSetup, ae: ClosureAutoencoder, norm: LatentNormaliser,
                   pool: torch.Tensor | Sequence[torch.Tensor], method: Method, budget: int, seeds: Sequence[int],
                   structure: str, factory: Callable[[int], nn.Module], tcfg: TrainConfig,
                   test_sets: Sequence[str] | None = None, *, store: ModelStore | None = None,
                   workers: int = 1, tag: str = "", precision: str = "float64") -> EnsembleResult:
    """One ensemble (:func:`train_ensembles` with one :class:`EnsembleSpec`); ``pool`` is one
    configuration pool for all models, or one per model."""
    pools = [pool] * len(seeds) if torch.is_tensor(pool) else list(pool)
    spec = EnsembleSpec(method, budget, list(seeds), pools, structure, factory, tag)
    return train_ensembles(setup, ae, norm, [spec], tcfg, test_sets, store=store, workers=workers,
                           precision=precision)[0]


def train_ensembles(setup: LJSetup, ae: ClosureAutoencoder, norm: LatentNormaliser, specs: Sequence[EnsembleSpec],
                    tcfg: TrainConfig, test_sets: Sequence[str] | None = None, *, store: ModelStore | None = None,
                    workers: int = 1, precision: str = "float64", progress: bool = False) -> list[EnsembleResult]:
    """Every model of every ensemble in ``specs``: each buys its own forces through the counted oracle
    (:func:`support.studies.buy_observations`), is trained on them, and is scored on every named
    test set against the true temperature; its predicted temperatures on the first test set are kept
    (for the ensemble-disagreement criterion, :meth:`EnsembleResult.disagreement`).

    ``store``: models already in it are loaded instead of retrained, and each new model is saved
    there as it finishes (with the code version that trained it), so an interrupted study resumes.
    A model whose loss stops being finite is kept as *diverged* — infinite error on every test set,
    the reason in its record — rather than ending the study, and a resumed run does not retrain it.
    Each :class:`EnsembleResult` lists its models' ``origins`` (loaded or trained now, code version,
    diverged); :func:`execution_record` counts them for a result. ``workers``: models trained at once in
    single-threaded processes (:func:`support.farm.run_latent_jobs`), streaming across ensembles;
    the results do not depend on it; ``progress``: a bar over the models. ``precision``: the dtype the latent models train in
    (``"float32"`` is about 2× faster on a CPU in ``benchmarks/bench_latent_training.py``; on
    lj_structures' paper set-up its test errors equal float64's within the seed spread,
    :func:`support.experiments.lj_closures.precision_table`). Observations are bought and models evaluated in float64 either way.
    """
    dtype = {"float64": torch.float64, "float32": torch.float32}[check_choice("precision", precision,
                                                                            ["float64", "float32"])]
    names = list(test_sets or setup.tests)
    rows: dict[str, dict] = {}
    loaded: set[str] = set()
    first_models: dict[str, nn.Module] = {}         # kept in memory only where no store can give them back
    firsts = {spec.key(spec.seeds[0]) for spec in specs}

    def pending():
        for spec in specs:
            for seed, member_pool in zip(spec.seeds, spec.pools):
                key = spec.key(seed)
                if key in rows:
                    continue
                if store is not None and store.has(key):
                    rows[key] = store.record(key)
                    loaded.add(key)
                    continue
                bought = buy_observations(setup.system, ae, member_pool, spec.method, spec.budget, seed)
                tensors = tuple(t.to(dtype) for t in bought.observations.tensors())
                yield LatentJob(key, spec.method.loss, tensors, spec.factory, norm, seed, tcfg,
                                meta={"bought": bought, "spec": spec})

    def keep(job: LatentJob, row: dict, G: nn.Module) -> None:
        row["code_version"] = code_version()
        if store is not None:
            store.save(job.key, row, G)
        rows[job.key] = row

    def finished(job: LatentJob, G: nn.Module, hist) -> None:
        G = G.to(setup.train.x.dtype)
        spec = job.meta["spec"]
        errors, predicted = {}, None
        with torch_threads(tcfg.threads):
            for name in names:
                pred, true = rollout_observables(G, ae, setup.tests[name])
                errors[name] = relative_trajectory_error(pred, true).detach().cpu().numpy().tolist()
                if predicted is None:
                    predicted = pred.detach().cpu().squeeze(-1).tolist()
        rec = record_of(spec.method, spec.budget, job.seed, job.meta["bought"], np.asarray(errors[names[0]]), hist)
        row = records_as_dicts([rec])[0]                # the loss curve thinned, as a result keeps it
        keep(job, {"record": row, "errors": errors, "predicted": predicted}, G)
        if store is None or job.key in firsts:
            first_models[job.key] = G

    def diverged(job: LatentJob, why: Diverged) -> None:
        """A model whose loss stopped being finite predicts nothing: infinite error on every test set
        (as a diverged rollout), recorded with the reason; its untrained weights fill the store slot."""
        spec, n_test = job.meta["spec"], {name: setup.tests[name].n_traj for name in names}
        errors = {name: [float("inf")] * n for name, n in n_test.items()}
        rec = record_of(spec.method, spec.budget, job.seed, job.meta["bought"], np.asarray(errors[names[0]]),
                        TrainHistory(seconds=why.seconds))
        keep(job, {"record": asdict(rec), "errors": errors, "predicted": None, "diverged": why.message},
             job.build())

    bar = tqdm(total=sum(len(spec.seeds) for spec in specs), desc="latent models", disable=not progress)

    def with_progress(callback):
        def wrapped(*args) -> None:
            callback(*args)
            bar.update(1)
        return wrapped

    run_latent_jobs(pending(), with_progress(finished), workers, on_diverged=with_progress(diverged))
    bar.update(bar.total - bar.n)                          # the models loaded from the store
    bar.close()
    out = []
    for spec in specs:
        keys = [spec.key(seed) for seed in spec.seeds]
        out.append(EnsembleResult(
            spec.method.label, spec.structure, int(spec.budget), [RunRecord(**rows[k]["record"]) for k in keys],
            {name: [float(np.mean(rows[k]["errors"][name])) for k in keys] for name in names},
            _first_trained(spec, keys, rows, first_models, store, norm, setup.train.x),
            [rows[k].get("predicted") for k in keys],
            [{"key": k, "loaded": k in loaded, "code_version": rows[k].get("code_version"),
              "diverged": rows[k].get("diverged")} for k in keys]))
    return out


def _first_trained(spec: EnsembleSpec, keys: list[str], rows: dict, trained_now: dict, store: ModelStore | None,
                   norm: LatentNormaliser, x: torch.Tensor) -> nn.Module | None:
    """The ensemble's first model that did not diverge (for the rollout figures), from this
    process or the store; ``None`` if every model diverged, or if its weights are not kept (a store
    of records only)."""
    for seed, key in zip(spec.seeds, keys):
        if rows[key].get("diverged"):
            continue
        if key in trained_now:
            return trained_now[key]
        if not store.has_weights(key):
            return None
        G = NormalisedLatentModel(spec.factory(seed), norm).to(device=x.device, dtype=x.dtype)
        return store.load_into(key, G).eval()
    return None


def origin_counts(origins: Sequence[dict]) -> dict:
    """How many models were loaded from a store, trained in this run, or diverged, and the code
    versions that trained them (a study filled over several sittings says so)."""
    versions: dict[str, int] = {}
    for o in origins:
        v = o.get("code_version") or "unrecorded"
        versions[v] = versions.get(v, 0) + 1
    return {"loaded": sum(bool(o["loaded"]) for o in origins),
            "trained": sum(not o["loaded"] for o in origins),
            "diverged": sum(bool(o.get("diverged")) for o in origins),
            "code_versions": dict(sorted(versions.items()))}


def execution_record(workers: int, store: ModelStore | None, origins: Iterable[dict]) -> dict:
    """``metrics["execution"]`` of an LJ study: workers (or the Dask scheduler the jobs went to,
    :mod:`support.executor`), whether a model store was used (and whether it kept weights), and
    :func:`origin_counts` over the ``origins`` of all its models (:attr:`EnsembleResult.origins`)."""
    from ..executor import scheduler_address
    return {"workers": workers, "executor": "dask" if scheduler_address() else "local",
            "model_store": store is not None,
            "store_weights": None if store is None else ("kept" if store.root is not None else "records only"),
            "models": origin_counts(list(origins))}


def model_store(root: str | Path | None, experiment: str, version: int, cfg, seed: int,
                selection: Sequence[str] = (), records: str | Path | None = None) -> ModelStore | None:
    """The :class:`~support.farm.ModelStore` of one study, weights in ``root`` and records in
    ``records`` (default ``root``; ``None`` for both: no store; ``root=None``: records only), identified
    by the experiment, its version, the configuration and the seed: rerunning the same command
    resumes it, and a changed configuration cannot pick up its models. Fields named in ``selection``
    only choose *which* models are trained (each model's key names its structure, protocol and seed),
    so they are left out of the identity: a study run structure by structure, or with a smaller
    ensemble first, fills one store. The autoencoder's weights travel with the records (compressed,
    full precision): a clone that has them continues the study on the same autoencoder."""
    if root is None and records is None:
        return None
    config = {k: v for k, v in asdict(cfg).items() if k not in set(selection)}
    if isinstance(config.get("ae"), dict):
        config["ae"] = {k: v for k, v in config["ae"].items()
                        if not (k in AEConfig.ADDED_SETTINGS and v == AEConfig.ADDED_SETTINGS[k])}
    return ModelStore(root, {"experiment": experiment, "version": version, "seed": seed, "config": config},
                      records=records, shared=("autoencoder",))      # every autoencoder-* key


def partial_force_check(system: LennardJonesSystem, x: torch.Tensor, p: float, seed: int = 0) -> dict:
    """Forces on a random fraction ``p`` of the atoms of each configuration ``x`` from the partial
    oracle, against the same rows of the full (Newton-3) computation: the largest difference, the
    largest row, and the atom-forces each route was charged."""
    from ..budget import ForceBudget
    gen = torch.Generator().manual_seed(seed)
    k = max(1, round(p * system.n_atoms))
    atoms = torch.stack([torch.randperm(system.n_atoms, generator=gen)[:k].sort().values
                         for _ in range(len(x))]).to(x.device)
    full, partial = ForceBudget(), ForceBudget()
    f_all = system.full_force(x, full)
    f_some = system.force(x, atoms, partial)
    diff = (f_some - f_all.gather(1, system.unit_rows(atoms))).abs().max()
    return {"configs": len(x), "atoms": k, "max_abs_diff": float(diff),
            "max_abs_row": float(f_all.abs().max()), "charged_full": full.total,
            "charged_partial": partial.total}


def partial_force_benchmark_table() -> Table:
    """The saved results of ``benchmarks/bench_lj_partial_forces.py``: per box size, LAMMPS
    ``run 0`` on all atoms (what the official code paid per configuration), the numba back-end on
    all atoms and on the subset, and the subset's time as a fraction of LAMMPS's."""
    from ..results import benchmark
    data = benchmark("bench_lj_partial_forces")
    rows = []
    for r in data["results"]["rows"]:
        if r["method"] != "numba":
            continue
        lammps = r["lammps_all_s"]
        rows.append([f"{r['n_atoms']:,}", f"{r['m']:,}", "—" if lammps is None else f"{1e3 * lammps:.2f}",
                     f"{1e3 * r['all_s']:.2f}", f"{1e3 * r['partial_s']:.2f}",
                     "—" if lammps is None else f"{r['partial_s'] / lammps:.3f}"])
    return Table(["atoms", "atoms asked for", "LAMMPS, all atoms (ms)", "numba, all atoms (ms)",
                  "numba, subset (ms)", "subset / LAMMPS all"], rows,
                 caption=f"benchmarks/bench_lj_partial_forces.py on {data['machine']}, "
                         f"{data['threads']} thread, {data['date'][:10]}, code {data['code_version']}: "
                         f"minimum over up to {data['options']['repeats']} calls.")


def compact_log_ticks(ax, which: str = "xy") -> None:
    """Ticks at 1, 2 and 5 per decade (1 per decade on an axis spanning more than 2.5 decades) with
    short plain labels (2k, 50k, 0.02) on the log axes ``which`` of ``ax``, and no minor labels: the
    default 2×10³-style minor labels overlap on narrow panels. Call after plotting (reads the limits)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def short(v: float, _pos=None) -> str:
        if v >= 1e9:
            return f"{v:.0e}".replace("e+", "e")
        if v >= 1e6:
            return f"{v / 1e6:g}M"
        if v >= 1e3:
            return f"{v / 1e3:g}k"
        return f"{v:g}"

    chosen = [(a, lim) for name, a, lim in (("x", ax.xaxis, ax.get_xlim()), ("y", ax.yaxis, ax.get_ylim()))
              if name in which]
    for axis, (lo, hi) in chosen:
        decades = np.log10(hi / lo) if lo > 0 else float("inf")
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2.5 else (1.0,)))
        axis.set_major_formatter(FuncFormatter(short))
        axis.set_minor_formatter(NullFormatter())


def lj_devices() -> dict[str, str]:
    """Where the parts of a Lennard-Jones experiment run: MD and the partial-force kernels on the
    CPU (LAMMPS, numba), the closure autoencoder and latent training on :func:`support.scale.device`."""
    return {"simulation and forces": "cpu", "autoencoder and latent training": str(device())}


#: how :func:`closure_study_table` names the variants of ``scripts/lj_closure_study.py``
CLOSURE_STUDY_LABELS = {"adamw_cosine": "AdamW, cosine (book default)",
                        "adam_l2": "Adam + coupled L2, constant lr (paper 1's official)",
                        "pca_span": "first layer restricted to the data span (pca_span), AdamW, cosine"}


def closure_study_label(name: str, row: dict) -> str:
    """A row label for variant ``name`` of ``scripts/lj_closure_study.py``."""
    if name.endswith("_projected"):
        return f"AdamW, cosine, first layer projected onto mean + top-{row['projection']['k']} PCs after training"
    return CLOSURE_STUDY_LABELS.get(row["optimizer"] if row["closure_input"] == "full" else "pca_span", name)


def closure_study_table(data: dict) -> Table:
    """The saved results of ``scripts/lj_closure_study.py`` (read with :func:`support.results.diagnostic`):
    per closure-autoencoder training, the implied-label noise ratio of L_x,p (T row, closure median),
    the capture Σ‖J^†Jf‖²/Σ‖f‖², the shares of the first layer's ‖W₁‖² and of ‖J_closure‖² in the
    training data's principal subspace, the reconstruction MSE and the training time."""
    o, r = data["options"], data["results"]
    rows = []
    for name, v in r["variants"].items():
        rows.append([closure_study_label(name, v), f"{v['steps']:,}", f"{v['noise_ratio_T']:.3f}",
                     f"{v['noise_ratio_closure_median']:.3f}", f"{v['capture']:.3f}",
                     f"{v['first_layer_share']:.3f}", f"{v['jacobian_share']:.3f}",
                     f"{v['reconstruction_mse']:.2e}", f"{v['train_seconds']:.0f}"])
    s = r["subspace"]
    return Table(["closure autoencoder training", "steps", "ρ (T row)", "ρ (closure median)",
                  "capture ‖J^†Jf‖²/‖f‖²", "first-layer share in the data span", "J share in the data span",
                  "reconstruction MSE", "training (s)"], rows,
                 caption=f"scripts/lj_closure_study.py: {o['atoms']} atoms, {o['train_runs']} runs ({o['relaxation']}), "
                         f"d = {o['ae']['latent_dim']}, raw inputs, p = {o['p']:g} on {o['configs']:,} training "
                         f"configurations; data span = mean + top {s['k']} principal components "
                         f"({s['explained']:.6f} of the variance); no latent model trained. "
                         f"{data['machine']}, {data['threads']} thread, {data['date'][:10]}, code {data['code_version']}, "
                         f"{data['wall_time_s']:.0f} s in all.")
