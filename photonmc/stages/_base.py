"""What every stage shares: registration as a PyTree, validation, the apply context.

A stage is a frozen dataclass. Continuous parameters are PyTree leaves (differentiable,
fittable); structural choices (`decay="gaussian"`, the stage's `name`) are static
fields. Construction validates plain numbers and raises `ValueError` naming the stage,
the field, the value, the unit and the valid range. Traced values (inside `jax.grad`
or a fit) are not validated here; the physics clips them where it uses them.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

import jax
import jax.numpy as jnp

from photonmc.ranges import Range, check_value, concrete, field_unit, range_of, register_ranges

__all__ = ["concrete", "field_unit"]  # re-exported for the stages


def static(default=dataclasses.MISSING, **kw):
    """A static (structural, non-differentiable) dataclass field."""
    return dataclasses.field(default=default, metadata={"static": True}, **kw)


def param(
    default=dataclasses.MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    limit: float | None = None,
    unit: str = "",
    doc: str = "",
    components: dict[str, tuple[str, Range]] | None = None,
):
    """A continuous parameter: a PyTree leaf, declared once with its valid range, unit and doc.

    `lo`/`hi` bound a scalar parameter (None: unbounded; `*_open` excludes the bound), and
    `limit` bounds |x| where the model stops making sense (`ranges.Range`); the
    stage's constructor validates plain numbers against them and refuses inf and nan, and
    `parameters.RANGES` is derived from them. `components` instead names the parts of an
    array parameter (beat terms: {"a": ("", Range(0.0)), ...}), which are not validated
    here (the stage checks them jointly).
    """
    meta: dict[str, Any] = {"unit": unit, "doc": doc}
    if components is None:
        meta["range"] = Range(
            -math.inf if lo is None else float(lo),
            math.inf if hi is None else float(hi),
            lo_open=lo_open,
            hi_open=hi_open,
            limit=math.inf if limit is None else float(limit),
        )
    else:
        meta["components"] = components
    return dataclasses.field(default=default, metadata=meta)


def check_fields(obj) -> None:
    """Validate every declared scalar parameter of a stage (plain numbers only; None is unset)."""
    for f in dataclasses.fields(obj):
        rng = range_of(f)
        value = getattr(obj, f.name)
        if rng is None or value is None:
            continue
        check_value(describe(obj), f.name, value, rng, field_unit(obj, f.name))


@typing.dataclass_transform(
    frozen_default=True, field_specifiers=(dataclasses.field, param, static)
)
def stage(cls):
    """Make `cls` a frozen dataclass PyTree: fields with `static=True` metadata are static.

    Construction validates every field declared with `param` against its range
    (`check_fields`), then runs the class's own `__post_init__` (joint checks). Unflattening
    bypasses `__init__`: JAX rebuilds stages from tracers, gradients and placeholders,
    which are not parameter values and must not be validated.
    """
    own = cls.__dict__.get("__post_init__")

    def __post_init__(self):
        check_fields(self)
        if own is not None:
            own(self)

    cls.__post_init__ = __post_init__
    cls = dataclasses.dataclass(frozen=True)(cls)
    data, meta = [], []
    for f in dataclasses.fields(cls):
        (meta if f.metadata.get("static", False) else data).append(f.name)
    register_pytree(cls, data, meta)
    register_ranges(cls)
    return cls


def register_pytree(cls, data: list[str], meta: list[str]) -> None:
    """Register a frozen dataclass whose leaves are `data` and whose static part is `meta`."""

    def flatten_with_keys(obj):
        children = [(jax.tree_util.GetAttrKey(n), getattr(obj, n)) for n in data]
        return children, tuple(getattr(obj, n) for n in meta)

    def flatten(obj):
        return [getattr(obj, n) for n in data], tuple(getattr(obj, n) for n in meta)

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for n, v in zip(meta, aux, strict=True):
            object.__setattr__(obj, n, v)
        for n, v in zip(data, children, strict=True):
            object.__setattr__(obj, n, v)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)


def check_choice(obj, field: str, choices: tuple[str, ...]) -> None:
    value = getattr(obj, field)
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{describe(obj)}: {field} must be one of {options}, got {value!r}")


def describe(obj) -> str:
    name = getattr(obj, "name", None)
    return f"{type(obj).__name__} {name!r}" if name else type(obj).__name__


def parameters(obj) -> list[dataclasses.Field]:
    """The continuous parameters (leaves) of a stage, in declaration order."""
    return [f for f in dataclasses.fields(obj) if not f.metadata.get("static", False)]


@dataclasses.dataclass(frozen=True)
class Context:
    """What a stage may know about its surroundings while it is applied.

    mode: "analog" or "expected" (static). wavelength_nm: the source's wavelength, and
    period_ns: the shot period (leaves). Analog mode: n_shots, the live shots of the
    chunk (traced), and capacity, static room for Poisson events by stage name (see
    `simulation.AnalogPlan`). Expected mode: latent, the quadrature nodes (e, z, w).
    paths: the path id each stage acts on, by stage name (`Link.path_of`). chunk_shots:
    the static number of shots of an analog chunk. dephasing_time_ns: the source's T2*
    (None: no pure dephasing), for two-photon overlaps. laws: the tabulated
    detection-time laws that stages made while applied (`photonmc.laws`), in the order
    of their index; reshaping: the link's static choices of which stages reshape the
    wavepacket (`Link.reshaping`); prepared: tables made once per parameter set, by
    stage name (`photonmc.laws.tables`), and collected, a dict that receives the tables
    a preparing pass builds.
    """

    mode: str
    wavelength_nm: Any
    period_ns: Any
    n_shots: Any = None
    capacity: Any = None
    latent: Any = None
    paths: Any = None
    chunk_shots: int = 0
    dephasing_time_ns: Any = None
    laws: list = dataclasses.field(default_factory=list)
    reshaping: Any = None
    prepared: Any = None
    collected: Any = None

    def reshapes(self, stage) -> Any:
        """The link's static reshaping choice for `stage` (None: none)."""
        return dict(self.reshaping or ()).get(stage.name)

    def on_path(self, stage, batch):
        """Which wavepackets of `batch` a stage acts on: those on the stage's path.

        A numpy bool array of the batch's shape (paths are static), or None when every
        wavepacket is on it (the common case of a link without beam splitters).
        """
        on = batch.path == self.paths[stage.name]
        return None if on.all() else on


def probability(x):
    """x limited to [0, 1] for traced values (a fit's trial step), with the gradient of x
    itself at the ends (jnp.clip would halve it exactly at 0 or 1, where defaults sit)."""
    return jnp.where(x < 0.0, 0.0, jnp.where(x > 1.0, 1.0, x))


def positive(x, floor: float = 1e-9):
    """x kept >= floor (a width or a lifetime during a fit), so no division makes NaN."""
    return jnp.maximum(x, floor)


def transmit(batch, on, transmission, shift_ns=0.0):
    """Multiply weights by `transmission` and add `shift_ns` to t_ref where `on` (or all)."""
    if on is None:
        return batch.replace(t_ref_ns=batch.t_ref_ns + shift_ns, weight=batch.weight * transmission)
    return batch.replace(
        t_ref_ns=jnp.where(on, batch.t_ref_ns + shift_ns, batch.t_ref_ns),
        weight=jnp.where(on, batch.weight * transmission, batch.weight),
    )
