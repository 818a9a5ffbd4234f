r"""Paper 2's method as one call per patch side, with typed results (paper 2: upsampling, partial
evolution, SDE).

The lattice chapters (Curie–Weiss, Ising, the criticality study) run the same four steps for every
patch side ℓ of an L×L system with K = (L/ℓ)² patches:

1. **pairs** ``(z₀, ẑ₁, δt)`` from partial evolution of one patch per large snapshot
   (:func:`~support.stochastic.partial_evolution.evolve_random_patches`, then
   :func:`~support.stochastic.study.pairs_from_patches`): the partial target
   ``ẑ₁ = z₀ + φ_loc(x_{t+δt,I}) − φ_loc(x_{t,I})`` or the naive one ``ẑ₁ = φ_loc(x_{t+δt,I})``;
2. **one SDE per** :class:`ModelSpec` (which pair set, which covariance factor λ, which latent
   dimensions), fitted by the increment likelihood

   .. math::  L_p = \mathbb E\big[(Δz − μ δt)^\top (λ Σ δt)^{-1} (Δz − μ δt)
              + \log\det(λ Σ δt)\big],\qquad Σ = σσ^\top,

   with λ = K for the partial target (the evolved patch is a system K times smaller, so its
   increment carries K times the large system's variance) and λ = 1 for the naive one (:func:`~support.stochastic.study.fit_sde`);
3. **ensembles**: Euler–Maruyama paths from the test starts, common random numbers across models
   (:func:`fit_and_roll_out`);
4. **scores** against direct simulation of the large system, which each chapter computes in its own
   units and returns as an :class:`EnsembleScore`.

:func:`fit_and_roll_out` is steps 2–3 for every model of a study; all four steps at one patch side
are :func:`support.stochastic.patch_side_study.patch_side_study` (the Ising and Curie–Weiss chapters
supply their hooks). The results are frozen
dataclasses with a JSON round trip (:meth:`PatchSideResult.to_json` writes the layout that the
saved runs already have, :meth:`PatchSideResult.from_json` reads those runs), so chapters, claims and
tests read ``side.models["ours"].error_per_start`` instead of chains of dictionary keys.

The experiments whose results are not per patch side (the criticality study, the predator–prey SPDE,
NbMoTa) declare their typed results with the same mechanism: a :class:`JsonRecord` is a frozen
dataclass whose :func:`record_field` fields say each value's JSON key and how it is normalised
(``null`` → NaN, lists → read-only arrays, :class:`NumberKeyed` for dictionaries keyed by sizes or
temperatures, nested records), and :func:`typed_metrics` reads a live or saved run through it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..train import TrainConfig
from .encoder import LatentPairs
from .sde import LatentSDE
from .study import SDESettings, fit_sde, rollouts


@dataclass(frozen=True)
class ModelSpec:
    """One SDE of a study: trained on the pair set ``pairs`` (``"partial"`` or ``"naive"``) with
    covariance factor ``lam`` (K for the partial target, 1 for the naive one), on the latent
    dimensions ``dims`` (``None``: all of them), with the drift network made by ``drift()``
    (``None``: the default MLP)."""

    name: str
    pairs: str
    lam: float
    dims: tuple[int, ...] | None = None
    drift: Callable[[], nn.Module] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.lam, bool) or not isinstance(self.lam, (int, float, np.integer, np.floating)):
            raise ValueError(f"ModelSpec {self.name!r}: λ must be a number, got {self.lam!r}")
        object.__setattr__(self, "lam", float(self.lam))
        if self.dims is not None:
            if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in self.dims):
                raise ValueError(f"ModelSpec {self.name!r}: dims must be integer indices, got {self.dims}")
            object.__setattr__(self, "dims", tuple(int(i) for i in self.dims))
        if self.pairs not in ("partial", "naive"):
            raise ValueError(f"ModelSpec {self.name!r}: pairs must be 'partial' or 'naive', got {self.pairs!r}")
        if not (np.isfinite(self.lam) and self.lam > 0):
            raise ValueError(f"ModelSpec {self.name!r}: λ must be positive and finite, got {self.lam}")
        if self.dims is not None and (not self.dims or len(set(self.dims)) != len(self.dims)
                                      or min(self.dims) < 0):
            raise ValueError(f"ModelSpec {self.name!r}: dims must be distinct non-negative indices, got {self.dims}")


def partial_and_naive(K: int, dims: tuple[int, ...] | None = None) -> tuple[ModelSpec, ModelSpec]:
    """Paper 2's two models at K patches: ``ours`` (partial target, λ = K) and ``naive`` (λ = 1)."""
    if int(K) < 1:
        raise ValueError(f"K must be >= 1, got {K}")
    return ModelSpec("ours", "partial", float(K), dims), ModelSpec("naive", "naive", 1.0, dims)


def select_dims(pairs: LatentPairs, dims: Sequence[int] | None) -> LatentPairs:
    """The pairs restricted to latent dimensions ``dims`` (all of them for ``None``)."""
    if dims is None:
        return pairs
    d = list(dims)
    if max(d) >= pairs.z0.shape[1]:
        raise ValueError(f"dims {d} out of range for {pairs.z0.shape[1]}-d pairs")
    return LatentPairs(pairs.z0[:, d], pairs.z1[:, d], pairs.dt, pairs.n_patches, pairs.target)


@dataclass(frozen=True, eq=False)
class Ensemble:
    """A fitted SDE and its Euler–Maruyama ensembles ``paths [n_starts, n_paths, R + 1, d]``."""

    spec: ModelSpec
    model: LatentSDE
    paths: np.ndarray


def fit_and_roll_out(pairs: Mapping[str, LatentPairs], specs: Sequence[ModelSpec], settings: SDESettings,
                     starts: np.ndarray | torch.Tensor, *, dt: float, n_records: int, substeps: int,
                     seed: int, train: Callable[[ModelSpec], TrainConfig] | None = None) -> dict[str, Ensemble]:
    """Steps 2–3 of the study for every model: fit one SDE per spec on its pair set and roll it
    out from ``starts [n_starts, n_paths, d]`` (the full latent, in the dtype the paths should
    have; each model takes its ``dims``) for ``n_records`` records of ``substeps`` Euler–Maruyama
    steps of ``dt``, seeded by ``seed`` for every model (common random numbers). ``train(spec)``
    gives a model's optimisation when it is not the settings' default. Returns
    ``{spec.name: Ensemble}`` in the order of ``specs``."""
    starts = torch.as_tensor(starts)
    if starts.ndim != 3:
        raise ValueError(f"starts must be [n_starts, n_paths, d], got shape {list(starts.shape)}")
    if not specs:
        raise ValueError("no models to fit: specs is empty")
    if len({s.name for s in specs}) != len(specs):
        raise ValueError(f"model names must be distinct, got {[s.name for s in specs]}")
    if n_records < 1 or substeps < 1:
        raise ValueError(f"n_records and substeps must be >= 1, got {n_records}, {substeps}")
    n_starts, n_paths, d = starts.shape
    out = {}
    for spec in specs:
        if spec.pairs not in pairs:
            raise ValueError(f"model {spec.name!r} needs the {spec.pairs!r} pairs; have {sorted(pairs)}")
        dims = list(range(d)) if spec.dims is None else list(spec.dims)
        if max(dims) >= d:
            raise ValueError(f"model {spec.name!r}: dims {dims} out of range for {d}-d starts")
        torch.manual_seed(seed)                   # a drift factory initialises from the run's seed
        drift = None if spec.drift is None else spec.drift()
        model = fit_sde(select_dims(pairs[spec.pairs], spec.dims), spec.lam, settings, seed=seed,
                        train=None if train is None else train(spec), drift=drift)
        z0 = starts[..., dims].reshape(n_starts * n_paths, len(dims))
        paths = rollouts(model, z0, dt, n_records * substeps, seed=seed, record_every=substeps)
        out[spec.name] = Ensemble(spec, model, paths.numpy().reshape(n_starts, n_paths, -1, len(dims)))
    return out


# ------------------------------------------------------------------------------ typed results
# Helpers that every typed result of paper 2 shares: a result is built from a live run's metrics
# (numpy arrays, integer or float keys, NaN) or from a saved run's JSON (lists, keys as strings, NaN
# written as null) and must read the same from both.
class FrozenMapping(Mapping):
    """A read-only dict that pickles (a ``types.MappingProxyType`` does not, so a typed result holding
    one could not come back from an executor job: :func:`support.executor.map_jobs`)."""

    def __init__(self, d: Mapping[Any, Any] | None = None) -> None:
        self._d = dict(d or {})

    def __getitem__(self, key: Any) -> Any:
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"FrozenMapping({self._d!r})"


def frozen_mapping(d: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
    """A read-only copy of ``d`` (empty for ``None``)."""
    return FrozenMapping(d)


def readonly_array(x: Any, dtype: Any = float) -> np.ndarray:
    """A read-only copy of ``x`` (``dtype=None`` keeps the array's own type, e.g. histogram counts),
    so a typed result never shares memory with the run's working arrays."""
    a = np.array(x, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


def json_number(x: Any) -> float:
    """A float from JSON, where a NaN or infinite value was written as ``null``."""
    return math.nan if x is None else float(x)


def keyed(d: Mapping[Any, Any] | None, key: Callable[[Any], Any], value: Callable[[Any], Any] | None = None) -> dict:
    """``d`` with its keys converted by ``key`` (and its values by ``value``): JSON writes the integer
    sizes and float temperatures that key a live run's dictionaries as strings (``"16"``,
    ``"1400.0"``), so a saved run and a live one read the same after ``keyed(d, int)``/``keyed(d, float)``."""
    return {key(k): (v if value is None else value(v)) for k, v in (d or {}).items()}


def split_extra(kind: str, d: Mapping[str, Any], known: frozenset[str] | set[str],
                required: frozenset[str] | set[str] | None = None) -> dict[str, Any]:
    """The entries of the JSON object ``d`` that are not typed fields (``known``), after checking that
    the ``required`` ones (default: all of ``known``) are there."""
    missing = set(known if required is None else required) - set(d)
    if missing:
        raise ValueError(f"not a {kind}: missing {sorted(missing)}")
    return {k: v for k, v in d.items() if k not in known}


_frozen, _array, _number = frozen_mapping, readonly_array, json_number


def typed_metrics(result: Any, cls: type) -> Any:
    """The typed results ``cls`` of a run: ``result`` is an :class:`~support.results.ExperimentResult`
    (live or saved), its ``metrics``, or already a ``cls``. Read afresh on every call (not cached: a
    result's metrics may be edited in place, e.g. by a test that removes what older runs lacked)."""
    if isinstance(result, cls):
        return result
    return cls.from_json(getattr(result, "metrics", result))


def floats(x: Any) -> tuple[float, ...]:
    """A tuple of floats from a list (JSON ``null`` read as NaN)."""
    return tuple(json_number(v) for v in x)


def mapping_of(convert: Callable[[Any], Any], key: Callable[[Any], Any] = str) -> Callable[[Any], Mapping]:
    """A converter to a read-only mapping with keys ``key(k)`` and values ``convert(v)`` (anything but a
    mapping, e.g. a JSON list where an object belongs, is refused)."""
    def to_mapping(d: Any) -> Mapping:
        if not isinstance(d, Mapping):
            raise ValueError(f"expected a JSON object, got {type(d).__name__}")
        return frozen_mapping(keyed(d, key, convert))
    return to_mapping


def sequence_of(convert: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    """A converter to a tuple of ``convert(v)`` from a list (a JSON object or string is refused)."""
    def to_tuple(xs: Any) -> tuple:
        if isinstance(xs, (Mapping, str, bytes)) or not isinstance(xs, Sequence):
            raise ValueError(f"expected a JSON list, got {type(xs).__name__}")
        return tuple(map(convert, xs))
    return to_tuple


class NumberKeyed(Mapping):
    """A read-only mapping keyed by numbers (temperatures, sizes) that a live run keys by ``2000.0``
    or ``2200`` and a saved run by their JSON strings ``"2000.0"``, ``"2200"``: looked up and iterated
    by the number (``m[2000]``, ``m[2000.0]`` and ``m["2000.0"]`` are the same entry), written back by
    :meth:`to_json` with the keys it was given, so a round trip keeps a run's JSON spelling."""

    def __init__(self, d: Mapping[Any, Any], convert: Callable[[Any], Any] | None = None,
                 number: Callable[[Any], Any] = float) -> None:
        self._items = {number(k): (k, v if convert is None else convert(v)) for k, v in d.items()}
        self._number = number

    def __getitem__(self, key: Any) -> Any:
        return self._items[self._number(key)][1]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Any) -> bool:
        try:
            return self._number(key) in self._items
        except (TypeError, ValueError):
            return False

    def __repr__(self) -> str:
        return f"NumberKeyed({ {k: v for k, (_, v) in self._items.items()} })"

    def to_json(self) -> dict:
        """``{key as given: value}`` (nested records written by their own ``to_json``)."""
        return {k: _to_json(v) for k, v in self._items.values()}


def number_keyed(convert: Callable[[Any], Any] | None = None,
                 number: Callable[[Any], Any] = float) -> Callable[[Any], NumberKeyed]:
    """A converter to a :class:`NumberKeyed` mapping with values ``convert(v)``."""
    return lambda d: d if isinstance(d, NumberKeyed) else NumberKeyed(d, convert, number)


def record_field(key: str | None = None, *, convert: Callable[[Any], Any] | None = None,
                 omit_none: bool = False, convert_null: bool = False, default: Any = MISSING,
                 default_factory: Any = MISSING) -> Any:
    """A field of a :class:`JsonRecord`: stored under ``key`` (default: the field's name) in the
    JSON object, normalised by ``convert`` on construction (from a live value or from JSON alike;
    ``None`` is not converted unless ``convert_null``: a number that a live run holds as NaN or inf
    and its JSON as ``null``, e.g. ``convert=json_number``), left out of :meth:`JsonRecord.to_json`
    when ``None`` with ``omit_none`` (a value older runs did not store)."""
    return field(default=default, default_factory=default_factory,
                 metadata={"key": key, "convert": convert, "omit_none": omit_none,
                           "convert_null": convert_null})


def _to_json(v: Any) -> Any:
    if hasattr(v, "to_json"):
        return v.to_json()
    if isinstance(v, Mapping):
        return {k: _to_json(x) for k, x in v.items()}
    if isinstance(v, (tuple, list)):
        return [_to_json(x) for x in v]
    return v


class JsonRecord:
    """A frozen dataclass with a JSON round trip derived from its fields (:func:`record_field`):
    :meth:`to_json` writes ``{key: value}`` (nested records, mappings and tuples recursively) and
    :meth:`from_json` reads it back, refusing an object that lacks a required key or holds one that
    no field takes. Every field's ``convert`` runs on construction, so a record built from a live
    run's values and one read from a saved run's JSON hold the same types (e.g. keys ``"16"`` read
    as ``16``, ``null`` as NaN, lists as read-only arrays). Subclasses are frozen dataclasses
    (``kw_only=True`` lets a field with a default come before required ones, in the JSON's order)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            convert, v = f.metadata.get("convert"), getattr(self, f.name)
            if convert is not None and (v is not None or f.metadata.get("convert_null")):
                object.__setattr__(self, f.name, convert(v))

    @classmethod
    def coerce(cls, v: Any) -> Any:
        """``v`` if it is already a ``cls``, else ``cls.from_json(v)`` (the converter of a nested record)."""
        return v if isinstance(v, cls) else cls.from_json(v)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record (the layout of the saved runs)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None and f.metadata.get("omit_none"):
                continue
            out[f.metadata.get("key") or f.name] = _to_json(v)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Any:
        """Read :meth:`to_json`'s layout (a live run's metrics or a saved run's JSON)."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(d).__name__}")
        keys = {f.metadata.get("key") or f.name: f for f in fields(cls)}
        missing = [k for k, f in keys.items() if k not in d and f.default is MISSING
                   and f.default_factory is MISSING]
        unknown = sorted(set(d) - set(keys))
        if missing or unknown:
            raise ValueError(f"not a {cls.__name__}: " + "; ".join(
                [f"missing {missing}"] * bool(missing) + [f"unknown keys {unknown}"] * bool(unknown)))
        return cls(**{f.name: d[k] for k, f in keys.items() if k in d})


def _check_extra(kind: str, extra: Mapping[str, Any], reserved: set[str]) -> None:
    clash = reserved & set(extra)
    if clash:
        raise ValueError(f"{kind} extra entries may not reuse the reserved keys {sorted(clash)}")


@dataclass(frozen=True, eq=False)
class EnsembleScore:
    """One model's ensembles scored against direct simulation of the large system.

    ``error`` is paper 2's metric e = Σ_t ‖z̄_pred(t) − z̄_true(t)‖² / Σ_t ‖z̄_true(t)‖² of the ensemble
    means, averaged over the test starts (``error_per_start``); ``pred_mean``/``pred_std`` are the
    ensembles' mean and std ``[n_starts, R + 1, ...]``; ``extra`` holds what a chapter adds in its
    own units (spreads, boundedness, coefficients). Frozen: the fields, the arrays and the top level
    of ``extra`` cannot be changed (nested values in ``extra`` are the chapter's own)."""

    #: the JSON keys of the typed fields (an ``extra`` entry may not reuse them)
    KEYS: ClassVar[frozenset[str]] = frozenset({"lambda", "error", "error_per_m0", "pred_mean", "pred_std"})

    lam: float
    error: float
    error_per_start: tuple[float, ...]
    pred_mean: np.ndarray
    pred_std: np.ndarray
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", float(self.lam))
        object.__setattr__(self, "error", _number(self.error))
        object.__setattr__(self, "error_per_start", tuple(_number(e) for e in self.error_per_start))
        object.__setattr__(self, "pred_mean", _array(self.pred_mean))
        object.__setattr__(self, "pred_std", _array(self.pred_std))
        object.__setattr__(self, "extra", _frozen(self.extra))
        if not self.error_per_start:
            raise ValueError("an EnsembleScore needs the error of at least one start")
        _check_extra("EnsembleScore", self.extra, EnsembleScore.KEYS)

    def to_json(self) -> dict[str, Any]:
        """The JSON layout of the saved runs: ``lambda``, ``error``, ``error_per_m0``, ``pred_mean``,
        ``pred_std`` and the extras."""
        return {"lambda": self.lam, "error": self.error, "error_per_m0": list(self.error_per_start),
                "pred_mean": self.pred_mean, "pred_std": self.pred_std, **self.extra}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "EnsembleScore":
        extra = split_extra("ensemble score", d, cls.KEYS)
        return cls(d["lambda"], d["error"], d["error_per_m0"], d["pred_mean"], d["pred_std"], extra)


@dataclass(frozen=True, eq=False)
class PatchSideResult:
    """Everything a lattice study measured at one patch side ℓ: ``K`` patches, ``n_pairs`` training
    pairs, the simulation cost of the data per stage (:func:`support.budget.stage_costs`), the
    scores of every model, and ``extra`` entries of the chapter (timings, closure diagnostics…)."""

    #: the JSON keys of the typed fields (an ``extra`` entry may not reuse them)
    KEYS: ClassVar[frozenset[str]] = frozenset({"ell", "K", "n_pairs", "simulation_cost", "models"})

    ell: int
    K: int
    n_pairs: int
    simulation_cost: Mapping[str, int]
    models: Mapping[str, EnsembleScore]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "simulation_cost", _frozen(self.simulation_cost))
        object.__setattr__(self, "models", _frozen(self.models))
        object.__setattr__(self, "extra", _frozen(self.extra))
        if self.K < 1 or self.ell < 1 or self.n_pairs < 0:
            raise ValueError(f"bad patch side: ℓ = {self.ell}, K = {self.K}, n_pairs = {self.n_pairs}")
        _check_extra("PatchSideResult", self.extra, PatchSideResult.KEYS)

    def to_json(self) -> dict[str, Any]:
        """The layout of ``metrics["per_ell"][i]`` in the saved runs (runs saved before the cost was
        counted have no ``simulation_cost``; an empty one is left out)."""
        cost = {"simulation_cost": dict(self.simulation_cost)} if self.simulation_cost else {}
        return {"ell": self.ell, "K": self.K, "n_pairs": self.n_pairs, **self.extra, **cost,
                "models": {k: m.to_json() for k, m in self.models.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "PatchSideResult":
        extra = split_extra("patch-side result", d, cls.KEYS, cls.KEYS - {"simulation_cost"})
        return cls(int(d["ell"]), int(d["K"]), int(d["n_pairs"]), d.get("simulation_cost", {}),
                   {k: EnsembleScore.from_json(m) for k, m in d["models"].items()}, extra)


def patch_sides(metrics: Mapping[str, Any]) -> list[PatchSideResult]:
    """The typed per-ℓ results of a lattice study's ``metrics`` (a live run's or a saved run's)."""
    if "per_ell" not in metrics:
        raise ValueError("these metrics hold no per-patch-side results ('per_ell')")
    return [PatchSideResult.from_json(r) for r in metrics["per_ell"]]
