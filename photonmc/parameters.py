"""Fittable parameters of a link: qualified names, valid ranges, unconstrained transforms.

A parameter is addressed as `"<stage>.<field>"` (`"memory.lifetime_ns"`,
`"tagger.sync_offset_ns"`), and one entry of a memory's beat terms as
`"<memory>.beat_terms[k].a"`, `".f_ghz"` or `".phi"` (amplitude a_k >= 0, frequency f_k
in GHz, phase phi_k in rad; k counts from 0), so that a fit can free single beat terms.

A parameter's range, unit and doc are declared once, on its field (`stages._base.param`);
the stage constructors validate them generically (`check_value`), and `RANGES` is derived
from the same declarations as each stage type is defined. The one joint constraint,
g2 * mean_photon_number <= 1, is not a box and is not enforced here (a fit that crosses
it is clipped by the source, docs/physics.md 3.1).

Free parameters are optimised in an unconstrained coordinate u (`Transform`): an
interval (lo, hi) by x = lo + (hi - lo) sigmoid(u), a half line by x = lo + e^u or
x = hi - e^u, the real line by x = u. So no step can leave the valid range; the bounds
themselves are reached only in the limit, and a start value on a bound is refused.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.link import Link
from photonmc.ranges import (  # noqa: F401  (the declarations, re-exported)
    RANGES,
    SUFFIX_UNITS,
    Range,
    check_value,
    concrete,
    field_unit,
    fmt,
    range_of,
    register_ranges,
    unit_of,
)

INF = math.inf


class ParameterError(ValueError):
    """An unknown parameter name, or a value outside a parameter's valid range (one line)."""


#: Components of one beat term, in the order of its [a_k, f_k_ghz, phi_k] triple
BEAT_COMPONENTS = ("a", "f_ghz", "phi")
_BEAT_NAME = re.compile(r"^(?P<stage>[^.\[\]]+)\.beat_terms\[(?P<k>\d+)\]\.(?P<c>\w+)$")
#: One entry of a 1-D array parameter (a field whose declared component is "entry"), e.g.
#: the amplitudes of a table control: "memory.control_table[2]"
_ENTRY_NAME = re.compile(r"^(?P<stage>[^.\[\]]+)\.(?P<f>\w+)\[(?P<k>\d+)\]$")
ENTRY = "entry"


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One fittable scalar of a link: where it lives, its unit and its valid range.

    index and component are set for a beat-term entry (`beat_terms[index][component]`).
    """

    name: str
    stage: str
    field: str
    unit: str
    range: Range
    index: int | None = None
    component: int | None = None

    def get(self, link: Link) -> Any:
        value = link.get(f"{self.stage}.{self.field}")
        if self.index is None:
            return value
        if self.component is None:  # an entry of a 1-D array parameter
            if isinstance(value, np.ndarray | list | tuple):
                return float(np.asarray(value, np.float64)[self.index])
            return jnp.asarray(value)[self.index]
        if isinstance(value, np.ndarray | list | tuple):  # plain numbers stay float64
            return float(np.asarray(value, np.float64)[self.index, self.component])
        return jnp.asarray(value)[self.index, self.component]

    def describe_range(self) -> str:
        return self.range.text(self.unit)

    def check(self, value: float, what: str = "") -> float:
        """Raise ParameterError unless the plain number `value` lies in the valid range."""
        x = float(value)
        if not self.range.contains(x):
            u = f" {self.unit}" if self.unit else ""
            where = f"{what}: " if what else ""
            raise ParameterError(
                f"{where}{self.name} must be {self.describe_range()}, got {fmt(x)}{u}"
            )
        return x


def parameter(link: Link, name: str) -> Parameter:
    """The Parameter called `name` in `link`; ParameterError (with a suggestion) if none."""
    if not isinstance(name, str):
        raise ParameterError(f"parameter names are strings like 'memory.lifetime_ns', got {name!r}")
    match = _BEAT_NAME.match(name)
    if match:
        return _beat_parameter(link, name, match)
    match = _ENTRY_NAME.match(name)
    if match and _entry_field(_stage(link, match["stage"]), match["f"]):
        return _entry_parameter(link, name, match)
    stage_name, dot, field = name.partition(".")
    stage = _stage(link, stage_name) if dot and field else None
    if stage is not None and field == "beat_terms":
        raise ParameterError(
            f"{name}: address one entry, e.g. {stage_name}.beat_terms[0].a (components: "
            + ", ".join(BEAT_COMPONENTS)
            + ")"
        )
    if stage is not None and _entry_field(stage, field):
        raise ParameterError(f"{name}: address one entry, e.g. {stage_name}.{field}[0]")
    if stage is not None and hasattr(stage, field) and not _is_leaf(stage, field):
        raise ParameterError(f"{name} is a structural setting of {stage_name!r}, not a parameter")
    if stage is None or not _is_leaf(stage, field):
        raise ParameterError(_unknown(link, name))
    if getattr(stage, field) is None:
        raise ParameterError(f"{name} is not set in this link (no value to fit or to scan)")
    cls = type(stage).__name__
    if (cls, field) not in RANGES:
        raise ParameterError(
            f"{name}: no valid range is known for {cls}.{field}; add it to "
            "photonmc.parameters.RANGES"
        )
    return Parameter(name, stage_name, field, field_unit(stage, field), RANGES[(cls, field)])


def _beat_parameter(link: Link, name: str, match) -> Parameter:
    stage_name, k, comp = match["stage"], int(match["k"]), match["c"]
    stage = _stage(link, stage_name)
    if stage is None or not hasattr(stage, "beat_terms"):
        raise ParameterError(_unknown(link, name))
    if comp not in BEAT_COMPONENTS:
        raise ParameterError(
            f"unknown beat-term component {comp!r} in {name!r}; components: "
            + ", ".join(BEAT_COMPONENTS)
        )
    n_terms = int(np.shape(stage.beat_terms)[0]) if np.size(stage.beat_terms) else 0
    if k >= n_terms:
        raise ParameterError(
            f"{name}: memory {stage_name!r} has {n_terms} beat term(s) (k = 0 .. {n_terms - 1})"
            if n_terms
            else f"{name}: memory {stage_name!r} has no beat_terms; give them in the config"
        )
    return Parameter(
        name,
        stage_name,
        "beat_terms",
        _component_unit(stage, comp),
        RANGES[(type(stage).__name__, f"beat_terms.{comp}")],
        index=k,
        component=BEAT_COMPONENTS.index(comp),
    )


def _entry_field(stage, field: str) -> bool:
    """Whether `field` of `stage` is a 1-D array parameter with addressable entries."""
    if stage is None:
        return False
    for f in dataclasses.fields(stage):
        if f.name == field:
            return ENTRY in f.metadata.get("components", {})
    return False


def _entry_parameter(link: Link, name: str, match) -> Parameter:
    stage_name, field, k = match["stage"], match["f"], int(match["k"])
    stage = _stage(link, stage_name)
    n = int(np.size(getattr(stage, field)))
    if k >= n:
        raise ParameterError(
            f"{name}: {stage_name!r} has {n} {field} entries (k = 0 .. {n - 1})"
            if n
            else f"{name}: {stage_name!r} has no {field}; give it in the config"
        )
    return Parameter(
        name,
        stage_name,
        field,
        _component_unit(stage, ENTRY, field),
        RANGES[(type(stage).__name__, f"{field}.{ENTRY}")],
        index=k,
    )


def fittable_names(link: Link) -> list[str]:
    """Every qualified name that `parameter` accepts, beat-term entries included."""
    names = link.parameter_names()
    for s in link.stages:
        terms = getattr(s, "beat_terms", None)
        if terms is not None and np.size(terms):
            for k in range(np.shape(terms)[0]):
                names += [f"{s.name}.beat_terms[{k}].{c}" for c in BEAT_COMPONENTS]
        for f in dataclasses.fields(s):
            if ENTRY in f.metadata.get("components", {}):
                names += [f"{s.name}.{f.name}[{k}]" for k in range(np.size(getattr(s, f.name)))]
    return names


def set_values(link: Link, values: Mapping[str, Any]) -> Link:
    """A new Link with the named parameters replaced; values may be traced (inside jit).

    Plain numbers are validated by the stage constructors (and beat-term entries by the
    memory); traced values are not, as everywhere in photonmc.
    """
    plain: dict[str, Any] = {}
    beats: dict[str, list[tuple[int, int, Any]]] = {}
    entries: dict[tuple[str, str], list[tuple[int, Any]]] = {}
    for name, value in values.items():
        p = parameter(link, name)
        if p.index is None:
            plain[name] = value
        elif p.component is None:
            entries.setdefault((p.stage, p.field), []).append((p.index, value))
        else:
            beats.setdefault(p.stage, []).append((p.index, p.component, value))
    for (stage_name, field), items in entries.items():
        array = getattr(link[stage_name], field)
        if all(concrete(v) is not None for _, v in items):
            array = np.array(array, np.float64)  # validated by the stage's constructor
            for k, v in items:
                array[k] = float(v)
        else:
            array = jnp.asarray(array)
            for k, v in items:
                array = array.at[k].set(v)
        plain[f"{stage_name}.{field}"] = array
    for stage_name, entries in beats.items():
        terms = link[stage_name].beat_terms
        if all(concrete(v) is not None for _, _, v in entries):
            terms = np.array(terms, np.float64)  # validated by the memory's constructor
            for k, c, v in entries:
                terms[k, c] = float(v)
        else:
            terms = jnp.asarray(terms)
            for k, c, v in entries:
                terms = terms.at[k, c].set(v)
        plain[f"{stage_name}.beat_terms"] = terms
    return link.replace(plain) if plain else link


def free_parameters(link: Link, free: Sequence[str] | str, *, example: str) -> list[Parameter]:
    """The Parameters named by `free` (a list, or one comma-separated string), checked.

    ParameterError for none, a name given twice, or an unknown name; `example` shows
    how to name one ("free = ['qd.lifetime_ns']").
    """
    if isinstance(free, str):
        free = [n.strip() for n in free.split(",")]
    free = list(free)
    if not free:
        raise ParameterError(f"no free parameters: name at least one, e.g. {example}")
    seen = set()
    params = []
    for name in free:
        if name in seen:
            raise ParameterError(f"free parameter {name} is named twice")
        seen.add(name)
        try:
            params.append(parameter(link, name))
        except ParameterError as e:
            raise ParameterError(f"free: {e}") from None
    return params


def link_key(link: Link, params: list[Parameter]) -> tuple:
    """Structure and fixed values of the link (free values excluded)."""
    free_fields = {(p.stage, p.field) for p in params if p.index is None}
    free_beats = {
        (p.stage, p.index, p.component)
        for p in params
        if p.index is not None and p.component is not None
    }
    free_entries = {
        (p.stage, p.field, p.index) for p in params if p.index is not None and p.component is None
    }
    key = []
    for s in (*link.stages, link.tagger):
        items = [type(s).__name__]
        for f in dataclasses.fields(s):
            v = getattr(s, f.name)
            if (s.name, f.name) in free_fields:
                items.append(None)
            elif f.name == "beat_terms":
                terms = np.array(v, np.float64).reshape(-1, 3)
                for stage, k, c in free_beats:
                    if stage == s.name:
                        terms[k, c] = np.nan
                items.append(terms.tobytes())
            elif any(e[:2] == (s.name, f.name) for e in free_entries):
                array = np.array(v, np.float64).reshape(-1)
                for stage, field, k in free_entries:
                    if (stage, field) == (s.name, f.name):
                        array[k] = np.nan
                items.append(array.tobytes())
            elif v is None or isinstance(v, str):
                items.append(v)
            else:
                items.append(np.asarray(v, np.float64).tobytes())
        key.append(tuple(items))
    return tuple(key)


def as_float64(link: Link) -> Link:
    """The link with every leaf a float64 array (call under `jax.enable_x64(True)`)."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)


# --------------------------------------------------------------- transforms
@dataclasses.dataclass(frozen=True)
class Transform:
    """Maps between a parameter x in its range and an unconstrained coordinate u.

    kind: "interval" (lo, hi finite), "lower" (lo finite), "upper" (hi finite) or
    "free"; lo and hi are the bounds (a bound that the kind ignores is unused).
    """

    kind: str
    lo: float = -INF
    hi: float = INF

    @classmethod
    def of(cls, rng: Range) -> Transform:
        lo, hi = float(rng.lo), float(rng.hi)
        if math.isfinite(lo) and math.isfinite(hi):
            return cls("interval", lo, hi)
        if math.isfinite(lo):
            return cls("lower", lo, hi)
        if math.isfinite(hi):
            return cls("upper", lo, hi)
        return cls("free", lo, hi)

    def to_u(self, x: float) -> float:
        """u of a plain x strictly inside the range (host side, float64)."""
        if self.kind == "interval":
            p = (x - self.lo) / (self.hi - self.lo)
            return math.log(p) - math.log1p(-p)
        if self.kind == "lower":
            return math.log(x - self.lo)
        if self.kind == "upper":
            return math.log(self.hi - x)
        return float(x)


def to_x(kinds: tuple[str, ...], u, lo, hi):
    """x of u for every parameter (traceable); kinds static, lo and hi arrays like u."""
    out = []
    for i, kind in enumerate(kinds):
        if kind == "interval":
            out.append(lo[i] + (hi[i] - lo[i]) * jax.nn.sigmoid(u[i]))
        elif kind == "lower":
            out.append(lo[i] + jnp.exp(u[i]))
        elif kind == "upper":
            out.append(hi[i] - jnp.exp(u[i]))
        else:
            out.append(u[i])
    return jnp.stack(out) if out else jnp.zeros((0,), u.dtype)


def dx_du(kinds: tuple[str, ...], u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The Jacobian diagonal dx/du (host side, numpy float64)."""
    out = np.ones(len(kinds))
    for i, kind in enumerate(kinds):
        if kind == "interval":
            s = 1.0 / (1.0 + math.exp(-u[i])) if u[i] > -700 else 0.0
            out[i] = (hi[i] - lo[i]) * s * (1.0 - s)
        elif kind in ("lower", "upper"):
            out[i] = math.exp(min(u[i], 700.0))
    return out


# ------------------------------------------------------------------ helpers
def _stage(link: Link, name: str):
    if name == "tagger":
        return link.tagger
    for s in link.stages:
        if s.name == name:
            return s
    return None


def _is_leaf(stage, field: str) -> bool:
    for f in dataclasses.fields(stage):
        if f.name == field:
            return not f.metadata.get("static", False)
    return False


def _component_unit(stage, comp: str, field: str = "beat_terms") -> str:
    for f in dataclasses.fields(stage):
        if f.name == field:
            return f.metadata["components"][comp][0]
    return ""


def _unknown(link: Link, name: str) -> str:
    names = fittable_names(link)
    match = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if match:
        hint = f"did you mean {match[0]!r}?"
    else:
        stages = ", ".join([s.name for s in link.stages] + ["tagger"])
        hint = f"names are 'stage.field' with stages {stages}"
    return f"unknown parameter {name!r}; {hint}"
