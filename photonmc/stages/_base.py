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
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def stage(cls):
    """Make `cls` a frozen dataclass PyTree: fields with `static=True` metadata are static.

    Unflattening bypasses `__init__`: JAX rebuilds stages from tracers, gradients and
    placeholders, which are not parameter values and must not be validated.
    """
    cls = dataclasses.dataclass(frozen=True)(cls)
    data, meta = [], []
    for f in dataclasses.fields(cls):
        (meta if f.metadata.get("static", False) else data).append(f.name)
    register_pytree(cls, data, meta)
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


def static(default=dataclasses.MISSING, **kw):
    """A static (structural, non-differentiable) dataclass field."""
    return dataclasses.field(default=default, metadata={"static": True}, **kw)


def param(default=dataclasses.MISSING, *, unit: str = "", doc: str = ""):
    """A continuous parameter: a PyTree leaf, with its unit recorded for messages and docs."""
    return dataclasses.field(default=default, metadata={"unit": unit, "doc": doc})


def concrete(value: Any) -> float | None:
    """The value as a float if it is a plain number (not a tracer), else None."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, np.ndarray | np.generic) and np.ndim(value) == 0:
        return float(value)
    if isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer):
        if value.ndim == 0:
            return float(value)
    return None


def _unit_of(obj, field: str) -> str:
    for f in dataclasses.fields(obj):
        if f.name == field:
            return f.metadata.get("unit", "")
    return ""


def check_range(
    obj,
    field: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    """Raise ValueError unless `obj.field` lies in the given range (plain numbers only).

    The message names the stage, the field, the value, the unit and the valid range:
    "Fiber 'fiber': length_km must be >= 0 km, got -3.0".
    """
    value = getattr(obj, field)
    x = concrete(value)
    if x is None:
        # Tracers, arrays and the placeholders that JAX tree utilities put into leaves
        # are not validated; only a string is surely a mistake.
        if isinstance(value, str):
            raise ValueError(f"{describe(obj)}: {field} must be a number, got {value!r}")
        return
    unit = _unit_of(obj, field)
    u = f" {unit}" if unit else ""
    if math.isnan(x):
        raise ValueError(f"{describe(obj)}: {field} must be a number, got nan")
    bad_lo = lo is not None and (x <= lo if lo_open else x < lo)
    bad_hi = hi is not None and (x >= hi if hi_open else x > hi)
    if bad_lo or bad_hi:
        if lo is not None and hi is not None:
            rng = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}{u}"
        elif lo is not None:
            rng = f"{'>' if lo_open else '>='} {lo:g}{u}"
        else:
            rng = f"{'<' if hi_open else '<='} {hi:g}{u}"
        raise ValueError(f"{describe(obj)}: {field} must be {rng}, got {x:g}")
    if math.isinf(x) and not (lo is None and hi is None):
        raise ValueError(f"{describe(obj)}: {field} must be finite, got {x:g}")


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
    (None: no pure dephasing), for two-photon overlaps.
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
