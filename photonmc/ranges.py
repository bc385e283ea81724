"""Valid ranges and units of stage parameters, as their fields declare them.

A stage field declared with `stages._base.param(lo=, hi=, unit=, doc=)` carries a `Range`
in its metadata; `check_value` validates plain numbers against it (the stage
constructors call it for every declared field), `unit_of` gives a field's unit, and
`RANGES` collects every stage type's ranges as the types are defined
(`register_ranges`), for `photonmc.parameters`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import jax
import numpy as np

INF = math.inf


@dataclasses.dataclass(frozen=True)
class Range:
    """A valid range [lo, hi] (a bound excluded when `*_open`); +-inf for none.

    limit: a physical bound on |x| (inf for none), beyond which the model means nothing
    and its arithmetic overflows (a detuning of 1e300 GHz): values beyond it are
    refused like values outside [lo, hi], but fits and optimisations take their
    coordinate transform from lo and hi alone (`parameters.Transform`), since the limit
    lies far outside anything they reach.
    """

    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    hi_open: bool = False
    limit: float = INF

    def contains(self, x: float) -> bool:
        return math.isfinite(x) and self.within_bounds(x)

    def within_bounds(self, x: float) -> bool:
        """x satisfies the bounds (infinities compare as numbers; nan never does)."""
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        beyond = math.isfinite(x) and abs(x) > self.limit  # infinities: "must be finite"
        return above and below and not beyond

    @property
    def low(self) -> tuple[float, bool]:
        """The effective lower bound (limit included) and whether it is open."""
        if -self.limit > self.lo:
            return -self.limit, False
        return self.lo, self.lo_open

    @property
    def high(self) -> tuple[float, bool]:
        """The effective upper bound (limit included) and whether it is open."""
        if self.limit < self.hi:
            return self.limit, False
        return self.hi, self.hi_open

    def interior(self, x: float) -> bool:
        """Strictly inside (where the unconstrained transform is finite)."""
        return math.isfinite(x) and self.lo < x < self.hi

    def text(self, unit: str = "") -> str:
        """The range as words: "> 0 ns", "in [0, 1]", "any value"."""
        u = f" {unit}" if unit else ""
        if math.isfinite(self.limit) and math.isfinite(self.lo) and math.isinf(self.hi):
            low = f"{'>' if self.lo_open else '>='} {self.lo:g}{u}"
            return f"{low} and <= {self.limit:g}{u}"  # a natural bound and a physical limit
        (lo, lo_open), (hi, hi_open) = self.low, self.high
        if math.isinf(lo) and math.isinf(hi):
            return "any value"
        if math.isinf(hi):
            return f"{'>' if lo_open else '>='} {lo:g}{u}"
        if math.isinf(lo):
            return f"{'<' if hi_open else '<='} {hi:g}{u}"
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        return f"in {left}{lo:g}, {hi:g}{right}{u}"


#: Valid range of every continuous field, by (stage type, field); beat-term components
#: as "beat_terms.a" / ".f_ghz" / ".phi". Filled from the fields' declarations
#: (`stages._base.param`) by `register_ranges` as each stage type is defined.
RANGES: dict[tuple[str, str], Range] = {}

#: Units that field names end with, for fields that declare none (static layout fields)
SUFFIX_UNITS = (
    ("_db_per_km", "dB/km"), ("_ps_per_nm_km", "ps/(nm km)"), ("_ns", "ns"), ("_ps", "ps"),
    ("_km", "km"), ("_ghz", "GHz"), ("_mhz", "MHz"), ("_hz", "Hz"), ("_nm", "nm"), ("_db", "dB"),
)  # fmt: skip


def unit_of(f: dataclasses.Field) -> str:
    """The unit of a stage field: the one it declares, else the one its name ends with."""
    unit = f.metadata.get("unit", "")
    if unit:
        return unit
    for suffix, u in SUFFIX_UNITS:
        if f.name.endswith(suffix):
            return u
    return ""


def field_unit(obj, name: str) -> str:
    """The unit of field `name` of a stage (instance or type); "" if it has none."""
    for f in dataclasses.fields(obj):
        if f.name == name:
            return unit_of(f)
    return ""


def range_of(f: dataclasses.Field) -> Range | None:
    """The declared range of a scalar parameter field; None for other fields."""
    return f.metadata.get("range")


def register_ranges(cls) -> None:
    """Add the declared ranges of stage type `cls` (and of its fields' components) to RANGES."""
    for f in dataclasses.fields(cls):
        rng = range_of(f)
        if rng is not None:
            RANGES[(cls.__name__, f.name)] = rng
        for comp, (_, comp_rng) in f.metadata.get("components", {}).items():
            RANGES[(cls.__name__, f"{f.name}.{comp}")] = comp_rng


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


def fmt(x: float) -> str:
    """A number for a message, exactly (repr of the float): 1.0000000000000002, -3.0, inf."""
    return repr(float(x))


def check_value(where: str, name: str, value: Any, rng: Range, unit: str = "") -> None:
    """Raise ValueError unless the plain number `value` lies in `rng` and is finite.

    Tracers, arrays and the placeholders that JAX tree utilities put into leaves are not
    validated; only a string is surely a mistake. The message names `where` (the stage),
    the field, the value, the unit and the valid range:
    "Fiber 'fiber': length_km must be >= 0 km, got -3.0".
    """
    x = concrete(value)
    if x is None:
        if isinstance(value, str):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}")
        return
    if math.isnan(x):
        raise ValueError(f"{where}: {name} must be a number, got nan")
    if not rng.within_bounds(x):
        raise ValueError(f"{where}: {name} must be {rng.text(unit)}, got {fmt(x)}")
    if math.isinf(x):
        raise ValueError(f"{where}: {name} must be finite, got {fmt(x)}")
