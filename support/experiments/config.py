"""Experiment configurations: one validated preset table per experiment, and typed overrides.

Every experiment's ``Config`` subclasses :class:`ExperimentConfig`. Its dataclass defaults are the
settings the scales share; ``PRESETS`` says, per scale, which fields differ::

    @dataclass
    class Config(ExperimentConfig):
        n_draws: int = 2000
        PRESETS: ClassVar = {"quick": {}, "paper": {"n_draws": 20000}}

``Config.for_scale(scale)`` validates the scale (an unknown one is an error listing the valid ones)
and returns the preset, which carries its scale (``cfg.scale``). ``cfg.changes_from_preset()`` is the
difference between a config and its scale's preset — what a result records, whether the config was
changed by ``--set`` on the command line or by hand in a chapter.
"""

from __future__ import annotations

import hashlib
import json
import types
import typing
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, ClassVar, TypeVar

from ..limits import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Limit, check_limits, each  # noqa: F401
from ..scale import EXECUTION_ONLY, SCALES, check_scale, current_scale

C = TypeVar("C", bound="ExperimentConfig")


@dataclass
class ExperimentConfig:
    """Base of every experiment's ``Config``: the scale it was made for, and its preset table."""

    scale: str = "quick"

    #: scale -> {field: value} that differ from the dataclass defaults at that scale
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"quick": {}, "paper": {}}

    #: field -> :class:`Limit`: the range of values an experiment can run with, checked whenever a
    #: config is made or changed (``--set`` included), so a bad value fails before any work
    LIMITS: ClassVar[dict[str, "Limit"]] = {}

    def __post_init__(self) -> None:
        check_scale(self.scale)
        check_limits(self)

    @classmethod
    def for_scale(cls: type[C], scale: str | None = None) -> C:
        """The preset of ``scale`` (default: ``$MACRODYN_SCALE``, else quick)."""
        scale = check_scale(scale or current_scale())
        return cls(scale=scale, **cls.PRESETS.get(scale, {}))

    @classmethod
    def check_presets(cls) -> None:
        """Every scale has a preset and every preset names real fields (unit-tested for all)."""
        missing = set(SCALES) - set(cls.PRESETS)
        if missing:
            raise ValueError(f"{cls.__module__}.{cls.__name__} has no preset for {sorted(missing)}")
        names = {f.name for f in fields(cls)} - {"scale"}
        for scale, preset in cls.PRESETS.items():
            unknown = set(preset) - names
            if unknown:
                raise ValueError(f"{cls.__module__}.{cls.__name__}.PRESETS[{scale!r}] names unknown "
                                 f"fields {sorted(unknown)}; fields are {', '.join(sorted(names))}")
        unknown = set(cls.LIMITS) - names
        if unknown:
            raise ValueError(f"{cls.__module__}.{cls.__name__}.LIMITS names unknown fields {sorted(unknown)}")

    def flat(self) -> dict[str, Any]:
        """The config as ``{"dotted.name": value}`` (nested configs flattened), JSON-able values."""
        return _flatten(self)

    def changes_from_preset(self) -> dict[str, Any]:
        """``{"field": value}`` for every field that differs from the preset of ``self.scale``
        (execution-only fields, :data:`EXECUTION_ONLY`, are not changes)."""
        preset = type(self).for_scale(self.scale).flat()
        return {k: v for k, v in self.flat().items() if preset.get(k) != v and k not in EXECUTION_ONLY}

    def config_hash(self) -> str:
        """A short hash of the whole configuration (12 hex digits of SHA-256 of its canonical JSON)."""
        text = json.dumps(self.flat(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# value ranges live in support.limits (library settings declare them too); re-exported here


def _jsonable_value(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable_value(x) for x in v]
    if isinstance(v, list):
        return [_jsonable_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable_value(x) for k, x in v.items()}
    return v


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        key = prefix + f.name
        if is_dataclass(value):
            out.update(_flatten(value, key + "."))
        else:
            out[key] = _jsonable_value(value)
    return out


# ------------------------------------------------------------------------------ typed overrides
class OverrideError(ValueError):
    """A ``--set FIELD=VALUE`` that names no field or whose value has the wrong type."""


def apply_overrides(cfg: C, overrides: dict[str, str]) -> C:
    """A copy of ``cfg`` with ``{"field": "JSON value"}`` overrides applied and type-checked.

    Dotted names reach nested configs (``"ae.steps"``). A value is read as JSON, or taken as a
    string where it is not JSON. It must have the field's declared type (an ``int`` field takes
    ``3`` but not ``"abc"`` or ``2.5``; a ``tuple[str, ...]`` field takes ``["mlp"]``); otherwise an
    :class:`OverrideError` says which field wants what — before anything runs.
    """
    if "scale" in overrides:
        raise OverrideError("the scale is not a field to --set; use --scale or $MACRODYN_SCALE")
    return _override(cfg, {tuple(key.split(".")): (_parse(raw), key) for key, raw in overrides.items()})


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _override(cfg: Any, values: dict[tuple[str, ...], tuple[Any, str]]) -> Any:
    """``cfg`` with every ``{path: (value, key)}`` set in one ``replace`` per (nested) config, so a
    config's own cross-field checks see all the new values together, never a half-changed config."""
    names = [f.name for f in fields(cfg) if f.name != "scale"] if is_dataclass(cfg) else []
    hints = typing.get_type_hints(type(cfg)) if is_dataclass(cfg) else {}
    direct: dict[str, Any] = {}
    nested: dict[str, dict[tuple[str, ...], tuple[Any, str]]] = {}
    for path, (value, key) in values.items():
        if path[0] not in names:
            raise OverrideError(f"unknown config field {key!r}; choose from {', '.join(names)}")
        if len(path) > 1:
            if not is_dataclass(getattr(cfg, path[0])):
                raise OverrideError(f"config field {path[0]!r} has no sub-fields (in {key!r})")
            nested.setdefault(path[0], {})[path[1:]] = (value, key)
        else:
            direct[path[0]] = _coerce(value, hints[path[0]], key)
    both = set(direct) & set(nested)
    if both:
        raise OverrideError(f"config field {sorted(both)[0]!r} is set both whole and by its sub-fields")
    direct.update({name: _override(getattr(cfg, name), sub) for name, sub in nested.items()})
    return replace(cfg, **direct) if direct else cfg


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """``value`` converted to the type ``hint`` (lists to tuples), or an :class:`OverrideError`."""
    ok, out = _try_coerce(value, hint)
    if not ok:
        raise OverrideError(f"--set {key}: expected {_type_name(hint)}, got {json.dumps(value)}")
    return out


def _try_coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(hint):
            ok, out = _try_coerce(value, arm)
            if ok:
                return True, out
        return False, None
    if hint is type(None):
        return value is None, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    if origin is tuple or hint is tuple:
        if not isinstance(value, list):
            return False, None
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            items = [_try_coerce(v, args[0]) for v in value]
        elif args:
            if len(args) != len(value):
                return False, None
            items = [_try_coerce(v, a) for v, a in zip(value, args)]
        else:
            items = [(True, v) for v in value]
        return all(ok for ok, _ in items), tuple(v for _, v in items)
    if origin is list or hint is list:
        return isinstance(value, list), value
    if origin is dict or hint is dict:
        return isinstance(value, dict), value
    return False, None


def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def resolve(config_cls: type[C], cfg: C | None, scale: str | None) -> C:
    """The config an experiment's ``run(cfg, scale=...)`` uses: ``cfg`` if given (its own scale must
    agree with ``scale`` when both are given), else the preset of ``scale`` or ``$MACRODYN_SCALE``."""
    if cfg is None:
        return config_cls.for_scale(scale)
    if not isinstance(cfg, config_cls):
        raise TypeError(f"cfg must be a {config_cls.__module__}.{config_cls.__name__}, "
                        f"got {type(cfg).__name__}")
    if scale is not None and check_scale(scale) != cfg.scale:
        raise ValueError(f"scale={scale!r} disagrees with the config's own scale {cfg.scale!r}")
    return cfg


@dataclass
class LatticeStudyConfig(ExperimentConfig):
    """Base of the lattice-spin studies (Curie–Weiss, Ising): an L×L system cut into ℓ×ℓ patches,
    evolved for δt = ``record_interval / substeps``. Subclasses declare their settings; this class
    gives what follows from them."""

    L: int = 64
    record_interval: float = 1.0
    substeps: int = 1

    @property
    def dt(self) -> float:
        """δt of one partial evolution and one Euler–Maruyama step."""
        return self.record_interval / self.substeps

    @property
    def N(self) -> int:
        return self.L * self.L

    def n_patches(self, ell: int) -> int:
        """K = (L/ℓ)², after checking that ℓ is an int ≥ 2 dividing L."""
        if not isinstance(ell, int) or ell < 2 or self.L % ell:
            raise ValueError(f"patch side {ell} must be an int >= 2 that divides L = {self.L}")
        return (self.L // ell) ** 2
