"""Optimising a link's timing and settings for what comes out of the memory (expected mode).

`optimize(link, objective, free, bounds)` maximises one figure of the link over the
`free` parameters, each kept inside its bounds (default: its valid range), starting from
the link's values. Objectives, per shot, from expected-mode counts of one detector and
the sums of one memory (defaults: the link's first):

- "retrieved_efficiency": detections of retrieved light per shot (every click, in the
  tagger window or not, so a tagger setting cannot bias the optimum; equal to
  `Result.efficiency` when the window holds the retrieval);
- "internal_efficiency": the memory's eta_int (docs/physics.md 3.4);
- "snr": retrieved clicks over noise clicks (memory noise and dark counts) in the
  retrieval window t_w + tau +- output_mode_fwhm_ns (detector time, i.e. histogram time
  plus the sync offset), the window moving with the parameters (docs/physics.md 6.3);
- "fidelity_proxy": retrieved / (retrieved + noise + leak) in that window, leak being
  unstored source light;
- "memory_efficiency": the total efficiency (retrieved over incident) of the link's
  physical memory (`OrcaMemory`) for its input (`memory_input`, as `photonmc memory
  --input` spells it; default the source's photon), from the memory's kernels
  (`photonmc.memory_report.memory_efficiencies`) on one static grid: the finest that the
  start values and every finite bound of the free parameters need (`memory_grid`). The grid
  and validity rules are checked again at the optimum (warnings). The result carries the
  optical-depth bound eta_r,max(d)^2 (ORCA_MODEL 4.4) at the optimum's optical depth
  (`optical_depth_bound`): no control shape or timing can beat it.

The window counts are exact integrals over the moving window, [a, b] = counts after a
minus counts after b, each from a one-bin tagger of static length L starting at a or b
(L = 1000 ns + 100 (output FWHM + source lifetime) at the start values, so that no light
lies beyond it) and dark counts R (b - a); so they are smooth in t_w, tau and the FWHM.

Method: the expected mode integrates its latent variables by quadrature (docs/physics.md 5), so
the objective is deterministic with exact gradients, and the optimiser is optax L-BFGS
with a zoom line search (`photonmc.solver`) on -ln(objective), in unconstrained
coordinates (an interval map for bounds). With no random points there are no keys to
refresh: stochastic methods (Adam with fresh keys per step) are for Monte Carlo
estimates, which this mode does not need; benchmarks/optimize_methods.py compares L-BFGS
with Adam on the same objective. The optimum is local: from the start values, within the
bounds; `scan` evaluates an objective on a grid to check it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import compile_cache, units
from photonmc import parameters as P
from photonmc.batch import MEMORY_NOISE, RETRIEVED, SOURCE
from photonmc.expected import detector_counts, internal_efficiency
from photonmc.kernels import orca
from photonmc.link import Link
from photonmc.memory_report import MemoryInput, memory_efficiencies, memory_grid, memory_stage
from photonmc.simulation import DEFAULT_NODES
from photonmc.solver import Minimiser, ProblemCache, whitening
from photonmc.stages import TimeTagger

OBJECTIVES = (
    "retrieved_efficiency",
    "internal_efficiency",
    "snr",
    "fidelity_proxy",
    "memory_efficiency",
)
#: Objectives of the physical memory (OrcaMemory)
PHYSICAL_OBJECTIVES = ("memory_efficiency",)
#: Stop when max |gradient| of -ln(objective) in whitened units is below this
GTOL = 1e-8
DEFAULT_MAX_ITERATIONS = 200


class OptimizeError(ValueError):
    """An optimisation that cannot be set up (names, bounds, objective); one line."""


@dataclasses.dataclass
class OptimizeResult:
    """What `optimize` returns.

    objective: its name. optimum: best value of each free parameter. objective_value:
    the objective there. start, start_value: where it began. bounds: the interval each
    parameter was kept in. iterations: L-BFGS iterations. converged: the gradient test
    was met (or the value stalled at rounding level). link: the link at the optimum.
    """

    objective: str
    optimum: dict[str, float]
    objective_value: float
    iterations: int
    converged: bool
    start: dict[str, float]
    start_value: float
    bounds: dict[str, tuple[float, float]]
    link: Link
    warnings: list[str]
    elapsed_s: float = math.nan
    optical_depth_bound: float | None = None

    def as_dict(self) -> dict:
        """The JSON object of `photonmc optimize --json` (with `optical_depth_bound` for the
        physical memory's objective)."""
        out = {
            "optimum": dict(self.optimum),
            "objective_value": self.objective_value,
            "iterations": self.iterations,
            "converged": self.converged,
            "warnings": list(self.warnings),
        }
        if self.optical_depth_bound is not None:
            out["optical_depth_bound"] = self.optical_depth_bound
        return out

    def summary(self) -> str:
        lines = [
            f"photonmc optimize: maximise {self.objective}, "
            f"{'converged' if self.converged else 'NOT converged'} after {self.iterations} "
            f"iterations ({self.elapsed_s:.3g} s)",
            f"  {'parameter':<34}{'start':>14}{'optimum':>16}   bounds",
        ]
        for n, v in self.optimum.items():
            lo, hi = self.bounds[n]
            lines.append(f"  {n:<34}{self.start[n]:>14.6g}{v:>16.8g}   [{lo:g}, {hi:g}]")
        lines.append(f"  {self.objective}: {self.start_value:.6g} -> {self.objective_value:.8g}")
        if self.optical_depth_bound is not None:
            lines.append(
                "  optical-depth bound eta_r,max(d)^2 at the optimum: "
                f"{self.optical_depth_bound:.6g}"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ---------------------------------------------------------------- objectives
def figures(
    link: Link,
    *,
    memory: str | None = None,
    detector: str | None = None,
    window: bool = True,
    window_length_ns: float = 1000.0,
    nodes: tuple[int, int] = DEFAULT_NODES,
) -> dict:
    """The figures the objectives use, per shot, traceable and differentiable.

    retrieved: retrieved clicks (all); with `window`: window_ns, (a, b) in detector
    time, and in that window retrieved_w, noise_w (memory noise + dark) and leak_w
    (source light). window_length_ns: L of the module docstring (static).
    """
    m = link[memory or _first_memory(link)]
    det = link[detector] if detector else link.detector
    tagger = TimeTagger(
        bin_width_ps=float(window_length_ns) * 1e3,
        window_start_ns=0.0,
        window_stop_ns=float(window_length_ns),
        sync_offset_ns=link.tagger.sync_offset_ns,
    )
    if not window:
        _, totals, _ = detector_counts(link.with_tagger(tagger), det.name, nodes)
        return {"retrieved": totals[RETRIEVED]}

    def after(t0):
        # counts in [t0, t0 + L] of detector time: the tagger's edges plus its offset
        lk = link.with_tagger(dataclasses.replace(tagger, sync_offset_ns=t0))
        counts, totals, _ = detector_counts(lk, det.name, nodes)
        return counts[:, 0], totals

    a, b = m.retrieval_window_ns()
    counts, totals = jax.vmap(after)(jnp.stack([a, b]))
    in_window = counts[0] - counts[1]
    dark = units.hz_to_per_ns(det.dark_count_rate_hz) * (b - a)
    return {
        "retrieved": totals[0, RETRIEVED],
        "window_ns": (a, b),
        "retrieved_w": in_window[RETRIEVED],
        "noise_w": in_window[MEMORY_NOISE] + dark,
        "leak_w": in_window[SOURCE],
    }


def objective_value(link: Link, objective: str, **kwargs):
    """The named objective (module docstring) of `link`, traceable; kwargs as `figures`.

    Computes only what the objective needs (eta_int needs no bin integrals at all).
    """
    _check_objective(objective)
    if objective == "internal_efficiency":
        m = kwargs.get("memory") or _first_memory(link)
        return internal_efficiency(link, m, kwargs.get("nodes", DEFAULT_NODES))
    if objective == "memory_efficiency":
        inp = MemoryInput.parse(kwargs.get("memory_input") or "source")
        grid = kwargs.get("grid")
        if grid is None:  # plain-number parameters only
            grid = memory_grid([link], kwargs.get("memory"), inp)
        eff, _, _ = memory_efficiencies(link, kwargs.get("memory"), inp, grid)
        return eff[2]
    kwargs = {k: v for k, v in kwargs.items() if k not in ("memory_input", "grid")}
    f = figures(link, window=objective != "retrieved_efficiency", **kwargs)
    if objective == "retrieved_efficiency":
        return f["retrieved"]
    if objective == "snr":
        return f["retrieved_w"] / f["noise_w"]
    total = f["retrieved_w"] + f["noise_w"] + f["leak_w"]
    return f["retrieved_w"] / jnp.where(total > 0, total, 1.0)


def _first_memory(link: Link) -> str:
    if not link.memories:
        raise OptimizeError("these objectives need a LadderMemory in the link")
    return link.memories[0].name


# ------------------------------------------------------------------ optimise
def optimize(
    link: Link,
    objective: str,
    free: Sequence[str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    *,
    memory: str | None = None,
    detector: str | None = None,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    nodes: tuple[int, int] = DEFAULT_NODES,
    memory_input: str = "source",
) -> OptimizeResult:
    """Maximise `objective` over the `free` parameters of `link` (module docstring).

    bounds: {name: (lo, hi)} inside each parameter's valid range (default: the valid
    range itself). A start value outside its bounds, or on them, is moved inside (by
    1e-3 of the interval) with a warning. Raises OptimizeError for an unknown objective,
    unknown names, or bounds outside a valid range. memory_input: the physical memory's
    input for "memory_efficiency" ("source", "gaussian:FWHM_NS[@T_NS]").
    """
    started = time.perf_counter()
    problem = build_problem(
        link,
        objective,
        free,
        bounds,
        memory=memory,
        detector=detector,
        nodes=nodes,
        memory_input=memory_input,
    )
    intervals = problem.intervals
    warnings: list[str] = []
    x0 = []
    for p, (lo, hi) in zip(problem.params, intervals, strict=True):
        x = float(p.get(link))
        inside = (lo < x < hi) if math.isfinite(lo) or math.isfinite(hi) else True
        if not inside or not p.range.interior(x):
            width = hi - lo if math.isfinite(hi - lo) else max(abs(x), 1.0)
            moved = min(max(x, lo + 1e-3 * width), hi - 1e-3 * width)
            warnings.append(
                f"start value {p.name} = {x:g} lies outside ({lo:g}, {hi:g}); started at {moved:g}"
            )
            x = moved
        x0.append(x)
    with jax.enable_x64(True):
        result = problem.run(np.asarray(x0), intervals, link, max_iterations)
    result.warnings = warnings + result.warnings
    result.elapsed_s = time.perf_counter() - started
    return result


def scan(
    link: Link,
    objective: str,
    parameter: str,
    values,
    *,
    memory: str | None = None,
    detector: str | None = None,
    nodes: tuple[int, int] = DEFAULT_NODES,
    memory_input: str = "source",
) -> np.ndarray:
    """The objective at each value of one parameter (a brute-force grid), float64.

    values: 1-D, in the parameter's unit, each inside its valid range.
    """
    _check_objective(objective)
    try:
        p = P.parameter(link, parameter)
    except P.ParameterError as e:
        raise OptimizeError(str(e)) from None
    values = np.asarray(values, np.float64)
    for v in values:
        p.check(v, "scan")
    physical = objective in PHYSICAL_OBJECTIVES
    length = 0.0 if physical else _window_length(link, memory)
    grid = None
    if physical:
        inp = _physical_input(link, memory, memory_input)
        grid = memory_grid([P.set_values(link, {p.name: v}) for v in values], memory, inp)
    extra = {"memory_input": memory_input, "grid": grid} if physical else {}
    with jax.enable_x64(True):
        base = P.as_float64(link)

        def one(v):
            lk = P.set_values(base, {p.name: v})
            return objective_value(
                lk, objective, memory=memory, detector=detector,
                window_length_ns=length, nodes=tuple(nodes), **extra,
            )  # fmt: skip

        return np.asarray(jax.jit(jax.vmap(one))(jnp.asarray(values)), np.float64)


def build_problem(
    link: Link,
    objective: str,
    free: Sequence[str],
    bounds: Mapping[str, tuple[float, float]] | None = None,
    *,
    memory: str | None = None,
    detector: str | None = None,
    nodes: tuple[int, int] = DEFAULT_NODES,
    memory_input: str = "source",
) -> OptimizeProblem:
    """The compiled problem (from the cache when it has one); checks names first."""
    _check_objective(objective)
    try:
        params = P.free_parameters(link, free, example="memory.write_time_ns")
    except P.ParameterError as e:
        raise OptimizeError(str(e)) from None
    free = [p.name for p in params]
    physical = objective in PHYSICAL_OBJECTIVES
    if physical:
        _physical_input(link, memory, memory_input)
    else:
        _first_memory(link)
    for name, kind in ((None if physical else memory, "memory"), (detector, "detector")):
        pool = [s.name for s in (link.memories if kind == "memory" else link.detectors)]
        if name is not None and name not in pool:
            raise OptimizeError(f"no {kind} {name!r} in the link ({kind}s: {', '.join(pool)})")
    intervals = _intervals(params, bounds or {})
    kinds = tuple(P.Transform.of(P.Range(lo, hi)).kind for lo, hi in intervals)
    length = 0.0 if physical else _window_length(link, memory)
    grid = None
    if physical:
        grid = memory_grid(
            _corners(link, params, intervals), memory, MemoryInput.parse(memory_input)
        )
    key = (P.link_key(link, params), tuple(free), kinds, objective, memory, detector, length)
    key += (tuple(nodes), memory_input if physical else None, grid)
    problem = _PROBLEMS.get(
        key,
        lambda: OptimizeProblem(
            link,
            objective,
            params,
            kinds,
            memory,
            detector,
            length,
            nodes,
            memory_input=memory_input,
            grid=grid,
        ),  # fmt: skip
    )
    problem.intervals = intervals
    return problem


def _physical_input(link: Link, memory: str | None, memory_input: str) -> MemoryInput:
    """The parsed input of a physical-memory objective, checked against the link's memory."""
    try:
        m = memory_stage(link, memory)
        inp = MemoryInput.parse(memory_input)
    except (ValueError, KeyError) as e:
        raise OptimizeError(f"memory_efficiency: {e}".replace('"', "")) from None
    if m.tier == "analytic" and inp.kind != "gaussian":
        raise OptimizeError(
            f"memory_efficiency: OrcaMemory {m.name!r} has tier 'analytic', which takes a "
            "Gaussian input (gaussian:FWHM_NS), not the source's photon"
        )
    return inp


def _corners(link: Link, params, intervals) -> list[Link]:
    """The link at its start values and with each free parameter just inside each finite
    bound (one at a time): where the static grid of a physical memory must hold."""
    out = [link]
    for p, (lo, hi) in zip(params, intervals, strict=True):
        width = hi - lo if math.isfinite(hi - lo) else None
        for b, sign in ((lo, 1.0), (hi, -1.0)):
            if not math.isfinite(b):
                continue
            v = b + sign * 1e-3 * width if width is not None else b
            if p.range.contains(v):
                out.append(P.set_values(link, {p.name: v}))
    return out


_PROBLEMS = compile_cache.in_memory(ProblemCache())


class OptimizeProblem:
    """The compiled -ln(objective) of an optimisation; new start values or bounds do not
    recompile it (`minimiser.step`)."""

    def __init__(
        self, link, objective, params, kinds, memory, detector, length, nodes,
        memory_input="source", grid=None,
    ):  # fmt: skip
        self.objective_name = objective
        self.physical = objective in PHYSICAL_OBJECTIVES
        self.extra = {"memory_input": memory_input, "grid": grid} if self.physical else {}
        self.params = params
        self.kinds = kinds
        self.intervals: list[tuple[float, float]] = []
        self.free = tuple(p.name for p in params)
        self.memory, self.detector, self.length, self.nodes = memory, detector, length, nodes
        with jax.enable_x64(True):
            self.link = P.as_float64(link)
        self.minimiser = Minimiser(self.loss)
        self.value = jax.jit(self._value)

    def _transforms(self, intervals) -> list[P.Transform]:
        return [P.Transform.of(P.Range(lo, hi)) for lo, hi in intervals]

    def _value(self, x):
        lk = P.set_values(self.link, dict(zip(self.free, x, strict=True)))
        return objective_value(
            lk, self.objective_name, memory=self.memory, detector=self.detector,
            window_length_ns=self.length, nodes=self.nodes, **self.extra,
        )  # fmt: skip

    def loss(self, z, data):
        """-ln(objective) at whitened coordinates z (traceable)."""
        x = self._to_x(data["u0"] + data["S"] @ z, data)
        return -jnp.log(jnp.maximum(self._value(x), 1e-300))

    def _to_x(self, u, data):
        return P.to_x(self.kinds, u, data["lo"], data["hi"])

    def run(self, x0, intervals, link: Link, max_iterations: int) -> OptimizeResult:
        transforms = self._transforms(intervals)
        assert tuple(t.kind for t in transforms) == self.kinds
        n = len(self.free)
        u0 = np.array([t.to_u(x) for t, x in zip(transforms, x0, strict=True)])
        lo = [t.lo if t.kind in ("interval", "lower") else 0.0 for t in transforms]
        hi = [t.hi if t.kind in ("interval", "upper") else 0.0 for t in transforms]

        def data(u0_, s_):
            return {
                "u0": jnp.asarray(u0_, jnp.float64),
                "S": jnp.asarray(s_, jnp.float64).reshape(n, n),
                "lo": jnp.asarray(lo, jnp.float64),
                "hi": jnp.asarray(hi, jnp.float64),
            }

        start_value = float(self.value(jnp.asarray(x0, jnp.float64)))
        if not (math.isfinite(start_value) and start_value > 0):
            raise OptimizeError(
                f"{self.objective_name} is {start_value:g} at the start values; it must be "
                "positive to be maximised (e.g. snr needs memory noise or dark counts)"
            )
        h0 = self.minimiser.hessian(np.zeros(n), data(u0, np.eye(n)), step=1e-4)
        s = whitening(h0)
        minimum = self.minimiser.minimise(
            np.zeros(n), data(u0, s), max_iterations=max_iterations, gtol=GTOL
        )
        u = u0 + s @ minimum.z
        x = np.asarray(self._to_x(jnp.asarray(u), data(u0, s)), np.float64)
        optimum = {name: float(v) for name, v in zip(self.free, x, strict=True)}
        value = float(self.value(jnp.asarray(x)))
        warnings = []
        converged = bool(minimum.gradient_converged or minimum.stalled) and math.isfinite(value)
        if not converged:
            warnings.append(f"not converged after {minimum.iterations} iterations")
        for p, (lo_, hi_), start in zip(self.params, intervals, x0, strict=True):
            v = optimum[p.name]
            for b in (lo_, hi_):
                if math.isfinite(b) and _on_bound(v, float(start), b, lo_, hi_):
                    u = f" {p.unit}" if p.unit else ""
                    warnings.append(
                        f"{p.name} = {v:.6g}{u} ended on its bound {b:g}{u}: the optimum lies "
                        "at or beyond the bound (widen --bounds if the device allows)"
                    )
        best = P.set_values(link, optimum)
        bound = None
        if self.physical:
            m = memory_stage(best, self.memory)
            bound = orca.optical_depth_bound(float(m.optical_depth()))
            if self.extra["grid"] is not None:
                warnings += [f"at the optimum: {w}" for w in m.warnings(self.extra["grid"])]
        return OptimizeResult(
            objective=self.objective_name,
            optimum=optimum,
            objective_value=value,
            iterations=int(minimum.iterations),
            converged=converged,
            start={name: float(v) for name, v in zip(self.free, x0, strict=True)},
            start_value=start_value,
            bounds={
                p.name: (float(a), float(b))
                for p, (a, b) in zip(self.params, intervals, strict=True)
            },
            link=best,
            warnings=warnings,
            optical_depth_bound=bound,
        )


def _on_bound(v: float, start: float, b: float, lo: float, hi: float) -> bool:
    """Whether v sits on the bound b: within 1e-3 of the interval's width, or (one-sided
    ranges) closer than 1e-3 of the start's distance to it; the transforms reach a bound
    only asymptotically, so an optimum beyond it ends just inside."""
    d = abs(v - b)
    if math.isfinite(lo) and math.isfinite(hi):
        return d <= 1e-3 * (hi - lo)
    return d <= 1e-3 * max(abs(start - b), 1e-300) or d <= 1e-12 * max(abs(b), 1.0)


def _intervals(params, bounds: Mapping[str, tuple[float, float]]) -> list[tuple[float, float]]:
    """(lo, hi) per free parameter: the given bounds, checked, or the valid range."""
    free = [p.name for p in params]
    unknown = [n for n in bounds if n not in free]
    if unknown:
        raise OptimizeError(f"bounds for {unknown[0]}, which is not free (free: {', '.join(free)})")
    out = []
    for p in params:
        if p.name not in bounds:
            out.append((p.range.lo, p.range.hi))
            continue
        try:
            lo, hi = (float(v) for v in bounds[p.name])
        except (TypeError, ValueError):
            raise OptimizeError(
                f"bounds of {p.name} must be two numbers (lo, hi), got {bounds[p.name]!r}"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise OptimizeError(
                f"bounds of {p.name} must be finite with lo < hi, got {lo:g}:{hi:g}"
            )
        for v in (lo, hi):
            if not p.range.contains(v):
                u = f" {p.unit}" if p.unit else ""
                raise OptimizeError(
                    f"bounds of {p.name}, {lo:g}:{hi:g}{u}, leave its valid range "
                    f"({p.describe_range()})"
                )
        out.append((lo, hi))
    return out


def _window_length(link: Link, memory: str | None) -> float:
    if not link.memories:
        return 1000.0
    m = link[memory] if memory else link.memories[0]
    scale = float(m.output_mode_fwhm_ns) + float(link.source.lifetime_ns)
    return float(1000.0 + 100.0 * math.ceil(scale))


def _check_objective(objective: str) -> None:
    if objective not in OBJECTIVES:
        raise OptimizeError(_unknown_objective(objective))


def _unknown_objective(objective) -> str:
    return f"unknown objective {objective!r}; objectives: {', '.join(OBJECTIVES)}"
