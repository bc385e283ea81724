"""Fitting link parameters to measured histograms and efficiency curves (expected mode).

`fit(link, datasets, free)` finds the values of the `free` parameters that maximise the
likelihood of every dataset at once, with the other parameters as the link has them.

Models.
- A histogram (`HistogramData`) is modelled by shots * `expected_counts(link)`, all
  origins summed, with the dataset's overrides set on the link. The dataset's bins define
  the model's tagger: its window and bin width replace the link's (`sync_offset_ns` is
  kept, and may be free), so data of any uniform binning can be fitted without editing
  the config. Likelihood: Poisson, through the deviance
  D = 2 sum(mu - n + n ln(n / mu)) (a zero-count bin contributes 2 mu).
- A coincidence histogram (`CorrelationData`, kind "g2": an HBT measurement) is modelled
  by the expected coincidences of its two detectors (`expected.expected_coincidences`:
  the cross-correlation of their single-shot histograms, the source's pairs weighted by
  its g2 in the centre peak), in bins of the data's width; times shots, or, without
  shots, scaled to the data's total (a shape fit). So g2, the lifetime T1 and the
  detectors' jitter come out of a measured g2 histogram. Likelihood: Poisson deviance.
- HOM coincidences (`HOMData`, kind "hom": centre-peak coincidences of the parallel and,
  optionally, the orthogonal setting, at one or several long-arm delays) are modelled by
  `expected.hom_coincidences` with the interferometer's `delay_ns` set to each row's
  delay (vmapped), times shots or scaled to the data's total. So T2*, the spectral
  diffusion, its correlation time, the feeding time and g2 enter through the mean pair
  overlap of consecutive shots, and T1 and the feeding time also through a dip's shape.
  Likelihood: Poisson deviance over both settings.
- An efficiency curve (`EfficiencyCurve`) is modelled by the memory's internal
  efficiency eta_int = E[P_r] / arrivals (docs/physics.md 3.4), from the expected-mode sums of
  the memory, at each x (vectorised with `jax.vmap`). For a physical memory (`OrcaMemory`)
  the model is the memory's own total (or write, or read: the curve's `quantity`)
  efficiency for the curve's `input` wavepacket, computed by its kernels
  (`photonmc.memory_report.memory_efficiencies`) on one static grid chosen at the start
  values for every x of the curve (`memory_grid`); the grid and validity rules are checked
  again at the fitted values, for the smallest and largest x, and broken ones are warnings.
  Likelihood: Gaussian, chi2 = sum((y - eta) / sigma)^2. Without `efficiency_err`, one
  common sigma per curve is estimated from the residuals, sigma^2 = (SSR / n) N / (N - p)
  (N points in all, p free parameters; for a lone curve SSR / (n - p)), iterated with the
  fit; the result says so and gives no p-value, since chi2 / ndf = 1 then holds by
  construction.

The objective is -2 ln L up to a constant: the sum of the deviances and chi-squares. The
latent variables of the expected mode are integrated by quadrature (docs/physics.md 5: one node
per latent that is off, 32 x 16 Gauss-Laguerre x Gauss-Hermite otherwise), so the
objective is deterministic and smooth; its own error is far below the data's.

Free parameters are optimised in unconstrained coordinates (`photonmc.parameters`), by
optax L-BFGS with a zoom line search, in float64 (`photonmc.solver`). Uncertainties come
from the observed information: the Hessian of the objective at the optimum (central
differences of autodiff gradients), mapped to the natural parameters by the Jacobian
of the transform; covariance = 2 H^-1. When the information matrix, normalised to unit
diagonal, has a condition number above 1e6 (or two parameters a correlation beyond
+-0.9999), the parameters in its near-null directions are reported as degenerate: their
standard errors are None and a warning names them. ndf = data points - free
parameters; the p-value is P(chi2_ndf > objective), approximate for histograms with few
counts per bin.

Compiled objectives are cached (8 at most) by the link's structure and fixed values,
the free names, and the datasets' shapes, bins and overrides: refitting new data of the
same shape (a pull study, repeated measurements) does not recompile.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import compile_cache
from photonmc import parameters as P
from photonmc.expected import (
    coincidence_geometry,
    detector_counts,
    expected_coincidences,
    has_interference,
    hom_coincidences,
    internal_efficiency,
    one_bin,
    the_interferometer,
)
from photonmc.io.datasets import (
    CorrelationData,
    DatasetError,
    EfficiencyCurve,
    HistogramData,
    HOMData,
)
from photonmc.link import Link
from photonmc.memory_report import MemoryInput, memory_efficiencies, memory_grid
from photonmc.simulation import DEAD_TIME_WARNING, DEFAULT_NODES
from photonmc.solver import Minimiser, ProblemCache, uncertainties, whitening
from photonmc.stages import TimeTagger
from photonmc.stages.orca import OrcaMemory

#: Stop when max |gradient| of -2 ln L in whitened units (standard deviations) is below
#: this: the optimum is then within ~GTOL / 2 standard deviations.
GTOL = 2e-4
#: Converged when the estimated distance to the minimum, g^T H^-1 g / 2, is below this
#: (in units of -2 ln L: 1e-6 is 1e-3 standard deviations).
EDM_TOLERANCE = 1e-6
#: Step of the Hessian's gradient differences, in whitened units (standard deviations)
HESSIAN_STEP = 1e-2
DEFAULT_MAX_ITERATIONS = 500


class FitError(ValueError):
    """A fit that cannot be set up (bad names, ranges or datasets); one line."""


@dataclasses.dataclass
class DatasetFit:
    """The data and fitted model of one dataset.

    kind: "histogram" or "efficiency_curve". x: bin centres (ns) or the curve's x values,
    x_name the latter's parameter. bin_edges_ns: histograms only. data and model: counts
    per bin, or efficiencies. sigma: the curve's error bars (given or estimated; None for
    histograms). residuals: deviance residuals sign(n - mu) sqrt(d_i) for histograms,
    (y - model) / sigma for curves; their squares sum to `contribution`, the dataset's
    deviance or chi-square.
    """

    name: str
    kind: str
    x: np.ndarray
    data: np.ndarray
    model: np.ndarray
    residuals: np.ndarray
    contribution: float
    bin_edges_ns: np.ndarray | None = None
    sigma: np.ndarray | None = None
    sigma_estimated: bool = False
    x_name: str = "histogram time (ns)"
    shots: int | None = None
    memory: str | None = None


@dataclasses.dataclass
class FitResult:
    """What `fit` returns.

    names: the free parameters, in order. values, stderr: by name (stderr None for a
    degenerate parameter). covariance, correlation: (p, p) in that order (covariance rows
    and columns of degenerate parameters NaN; correlation from a barely regularised
    inverse, so a degenerate pair shows +-1). deviance: sum over histograms (None
    without any); chi2: over curves (None without any); objective: their sum; ndf;
    p_value (None when undefined); converged; iterations; warnings; degenerate names;
    condition_number of the unit-diagonal information matrix; datasets: per dataset
    data and model; link: the link at the best values; elapsed_s.
    """

    names: tuple[str, ...]
    values: dict[str, float]
    stderr: dict[str, float | None]
    covariance: np.ndarray
    correlation: np.ndarray
    deviance: float | None
    chi2: float | None
    objective: float
    ndf: int
    p_value: float | None
    converged: bool
    iterations: int
    warnings: list[str]
    degenerate: tuple[str, ...]
    condition_number: float
    datasets: list[DatasetFit]
    link: Link
    elapsed_s: float = math.nan
    #: the quadrature nodes (feeding, spectral diffusion) the fit used
    nodes: tuple[int, int] = DEFAULT_NODES

    def as_dict(self) -> dict:
        """The JSON object of `photonmc fit --json` (plain, JSON-ready values)."""
        out: dict = {
            "parameters": {
                n: {"value": self.values[n], "stderr": self.stderr[n]} for n in self.names
            },
            "correlation": {
                "names": list(self.names),
                "matrix": [[_json(v) for v in row] for row in self.correlation],
            },
        }
        if self.deviance is not None:
            out["deviance"] = self.deviance
        if self.chi2 is not None:
            out["chi2"] = self.chi2
        out.update(
            objective=self.objective,
            ndf=self.ndf,
            p_value=self.p_value,
            converged=self.converged,
            warnings=list(self.warnings),
        )
        return out

    def _rows(self) -> list[tuple[str, str]]:
        from photonmc.observables import Estimate

        return [
            (
                n,
                str(Estimate(self.values[n], self.stderr[n]))
                if self.stderr[n] is not None
                else f"{self.values[n]:.6g} (degenerate)",
            )
            for n in self.names
        ]

    def __repr__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        params = ", ".join(f"{n} = {v}" for n, v in self._rows())
        return f"FitResult({state}; {params}; objective {self.objective:.6g}, ndf {self.ndf})"

    def _repr_html_(self) -> str:
        import html

        state = "converged" if self.converged else "NOT converged"
        p = "n/a" if self.p_value is None else f"{self.p_value:.3g}"
        head = f"photonmc fit, {state}: objective {self.objective:.6g}, ndf {self.ndf}, p {p}"
        body = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in self._rows()
        )
        return (
            f"<table><caption>{html.escape(head)}</caption>"
            f"<tr><th>parameter</th><th>value</th></tr>{body}</table>"
        )

    def write(self, path, *, spec: str = "", config_toml: str = "", force: bool = False):
        """Write the result to an HDF5 file atomically (layout: photonmc.io.fit_hdf5); an
        existing file is replaced only with `force`."""
        from photonmc.io.fit_hdf5 import write_fit

        extra = {
            "iterations": self.iterations,
            "elapsed_s": self.elapsed_s,
            "condition_number": self.condition_number,
            "covariance": self.covariance,
            "degenerate": list(self.degenerate),
        }
        datasets = [
            {
                "name": d.name,
                "kind": d.kind,
                "x_name": d.x_name,
                "sigma_estimated": bool(d.sigma_estimated),
                "shots": d.shots,
                "x": np.asarray(d.x),
                "bin_edges_ns": d.bin_edges_ns,
                "data": np.asarray(d.data),
                "model": np.asarray(d.model),
                "residuals": np.asarray(d.residuals),
                "sigma": d.sigma,
            }
            for d in self.datasets
        ]
        return write_fit(
            self.as_dict(),
            datasets,
            path,
            extra=extra,
            spec=spec,
            config_toml=config_toml,
            force=force,
        )

    def summary(self) -> str:
        """A readable table of the result."""
        n_points = sum(d.data.size for d in self.datasets)
        lines = [
            f"photonmc fit: {len(self.names)} free parameters, {len(self.datasets)} "
            f"dataset{'s' if len(self.datasets) != 1 else ''} ({n_points} points), "
            f"{'converged' if self.converged else 'NOT converged'} after {self.iterations} "
            f"iterations ({self.elapsed_s:.3g} s)",
            f"  {'parameter':<34}{'value':>16}{'stderr':>14}",
        ]
        for n in self.names:
            err = self.stderr[n]
            lines.append(
                f"  {n:<34}{self.values[n]:>16.8g}"
                + (f"{err:>14.3g}" if err is not None else f"{'degenerate':>14}")
            )
        parts = []
        if self.deviance is not None:
            parts.append(f"deviance {self.deviance:.6g}")
        if self.chi2 is not None:
            parts.append(f"chi2 {self.chi2:.6g}")
        p = "n/a" if self.p_value is None else f"{self.p_value:.3g}"
        lines.append(f"  {', '.join(parts)}; ndf {self.ndf}; p-value {p}")
        pairs = [
            f"{a} ~ {b}: {self.correlation[i, j]:+.3f}"
            for i, a in enumerate(self.names)
            for j, b in enumerate(self.names)
            if j > i and abs(self.correlation[i, j]) > 0.9
        ]
        if pairs:
            lines.append("  correlations beyond +-0.9: " + "; ".join(pairs))
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ------------------------------------------------------------------ the fit
def fit(
    link: Link,
    datasets: Sequence[HistogramData | EfficiencyCurve],
    free: Sequence[str],
    *,
    start: Mapping[str, float] | None = None,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    nodes: tuple[int, int] | None = None,
    progress=None,
) -> FitResult:
    """Fit the `free` parameters of `link` to `datasets` (module docstring).

    free: qualified names, e.g. ["qd.lifetime_ns", "memory.beat_terms[0].a"]. start:
    starting values by name (default: the link's values), strictly inside each valid
    range. max_iterations: L-BFGS iterations (each with a line search). nodes: expected-
    mode quadrature nodes (feeding, spectral diffusion); default: the fewest of
    FIT_NODE_LADDER that the data's bins allow (`choose_nodes`). Raises FitError for unknown
    names, values out of range, and datasets that do not match the link. progress: a
    callable receiving (iteration, objective) at every L-BFGS step.
    """
    started = time.perf_counter()
    params = _check_free(link, free)
    _check_datasets(link, list(datasets), params)
    start_link = link
    if start:
        names = tuple(p.name for p in params)
        unknown = [n for n in start if n not in names]
        if unknown:
            raise FitError(
                f"start value for {unknown[0]}, which is not free (free: {', '.join(names)})"
            )
        try:
            start_link = P.set_values(link, {n: float(v) for n, v in start.items()})
        except ValueError as e:
            raise FitError(f"start value: {e}") from None
    x0 = []
    for p in params:
        x = float(p.get(start_link))
        if not p.range.interior(x):
            u = f" {p.unit}" if p.unit else ""
            raise FitError(
                f"the start value of {p.name}, {x:g}{u}, lies on the boundary of its range "
                f"({p.describe_range()}); give a start inside it (--start {p.name}=VALUE)"
            )
        x0.append(x)
    if nodes is None:
        nodes, _ = choose_nodes(start_link, datasets, free)
    problem = build_problem(link, datasets, free, nodes=nodes)
    problem.minimiser.on_iteration = progress
    try:
        with jax.enable_x64(True):
            result = problem.run(np.asarray(x0), datasets, start_link, max_iterations)
    finally:
        problem.minimiser.on_iteration = None
    result.elapsed_s = time.perf_counter() - started
    result.nodes = tuple(problem.nodes)
    return result


#: quadrature node counts (feeding x spectral diffusion) a fit may use, fewest first
FIT_NODE_LADDER = ((8, 4), (16, 8), DEFAULT_NODES)
#: the largest shift of a fitted value, in its standard errors, that a fit's quadrature
#: error may cause (`choose_nodes`)
NODE_SHIFT_TOLERANCE = 0.05


def choose_nodes(
    link: Link, datasets: Sequence, free: Sequence[str]
) -> tuple[tuple[int, int], float]:
    """The fewest quadrature nodes of FIT_NODE_LADDER that the data's bins allow, and
    the shift they cause, in standard errors.

    At the link's values, each candidate's histograms differ from those of
    DEFAULT_NODES by r (per bin, in Poisson standard deviations sqrt(mu)); to first
    order that moves the fitted values by (J^T J)^-1 J^T r, J the model's derivatives
    in the same units, whose standard errors are sqrt(diag (J^T J)^-1). The first
    candidate that moves no free parameter by more than NODE_SHIFT_TOLERANCE of its
    standard error is chosen (where J is degenerate, the bound |r| is used). Where the
    latents are off the quadrature is exact and the fewest nodes are taken unchecked;
    fits with efficiency curves or coincidence histograms keep DEFAULT_NODES.
    """
    datasets = list(datasets)
    if not datasets or any(not isinstance(d, HistogramData) for d in datasets):
        return DEFAULT_NODES, 0.0
    if len({_effective_nodes(link, n) for n in FIT_NODE_LADDER}) == 1:
        return tuple(FIT_NODE_LADDER[0]), 0.0  # the latents are off: every count is exact
    params = _check_free(link, free)
    n_free = len(params)
    u0 = np.array([P.Transform.of(p.range).to_u(float(p.get(link))) for p in params])
    zeros = np.zeros(n_free)

    def histograms(problem, z):
        hists = problem.predict(z, problem.data(datasets, u0, np.eye(n_free), []))[0]
        return jnp.concatenate([jnp.ravel(h) for h in hists])

    with jax.enable_x64(True):
        reference = build_problem(link, datasets, free, nodes=DEFAULT_NODES)
        mu = np.asarray(histograms(reference, jnp.asarray(zeros)))
        sigma = np.sqrt(np.maximum(mu, 1e-12))
        for nodes in FIT_NODE_LADDER:
            if tuple(nodes) == tuple(DEFAULT_NODES):
                break
            problem = build_problem(link, datasets, free, nodes=nodes)
            z = jnp.asarray(zeros)
            m = np.asarray(histograms(problem, z))
            jac = np.asarray(jax.jacfwd(partial(histograms, problem))(z)) / sigma[:, None]
            r = (m - mu) / sigma
            shift = _quadrature_shift(jac, r)
            if shift <= NODE_SHIFT_TOLERANCE:
                return tuple(nodes), shift
    return DEFAULT_NODES, 0.0


def _effective_nodes(link: Link, nodes) -> tuple[int, int]:
    """The nodes expected mode really uses: one per latent that is off, and one in
    the feeding delay without a memory (it is integrated exactly there)."""
    source = link.source
    feeding = float(source.feeding_time_ns) != 0.0 and bool(link.memories)
    diffusion = float(source.spectral_diffusion_fwhm_ghz) != 0.0
    return (nodes[0] if feeding else 1, nodes[1] if diffusion else 1)


def _quadrature_shift(jac: np.ndarray, r: np.ndarray) -> float:
    """The largest first-order shift of a fitted value, in its standard errors, that a
    model error r (in data standard deviations) causes, J the model's derivatives."""
    info = jac.T @ jac
    if not np.all(np.isfinite(info)) or np.linalg.cond(info) > 1e10:
        return float(np.sqrt(np.sum(r**2)))  # degenerate: the bound |shift| <= |r|
    cov = np.linalg.inv(info)
    shift = cov @ (jac.T @ r)
    return float(np.max(np.abs(shift) / np.sqrt(np.diag(cov))))


def build_problem(
    link: Link,
    datasets: Sequence[HistogramData | EfficiencyCurve],
    free: Sequence[str],
    *,
    nodes: tuple[int, int] | None = None,
) -> FitProblem:
    """The compiled fit problem of (link, datasets, free): from the cache when it has one.

    Checks every name and dataset against the link first (FitError). nodes: as `fit`
    takes them (None: `choose_nodes` at the link's values).
    """
    params = _check_free(link, free)
    datasets = list(datasets)
    _check_datasets(link, datasets, params)
    if nodes is None:
        nodes, _ = choose_nodes(link, datasets, free)
    key = (
        P.link_key(link, params),
        tuple(p.name for p in params),
        tuple(_dataset_key(d) for d in datasets),
        tuple(nodes),
        # a physical memory's static grid is chosen from its curve's x values
        tuple(
            np.asarray(d.x, np.float64).tobytes()
            for d in datasets
            if isinstance(d, EfficiencyCurve)
            and isinstance(link[d.memory or _curve_memories(link)[0]], OrcaMemory)
        ),
    )
    return _PROBLEMS.get(key, lambda: FitProblem(link, datasets, params, tuple(nodes)))


_PROBLEMS = compile_cache.in_memory(ProblemCache())


@dataclasses.dataclass(frozen=True)
class _Group:
    """Histogram datasets that share bins, detector and overridden names: one vmap."""

    link: Link
    detector: str | None
    override_names: tuple[str, ...]
    override_values: np.ndarray  # (k, m)
    members: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class _Corr:
    link: Link
    detectors: tuple[str, str]
    range_ns: float
    member: int
    geometry: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class _Hom:
    link: Link
    detectors: tuple[str, str]
    delay_name: str
    member: int
    with_orthogonal: bool


@dataclasses.dataclass(frozen=True)
class _Curve:
    link: Link
    x_param: str
    memory: str
    member: int
    x_also: tuple[str, ...] = ()
    orca: bool = False  # a physical memory: its kernels give the efficiency
    quantity: str = "total"
    input: MemoryInput | None = None
    grid: object = None  # the static grid of the physical memory (None: analytic tier)


#: Index of each efficiency-curve quantity in `memory_efficiencies`' (write, read, total)
_QUANTITY = {"write": 0, "read": 1, "total": 2}


class FitProblem:
    """A fit's compiled objective and its bookkeeping (built by `build_problem`).

    `minimiser.step` is the compiled L-BFGS step of the objective -2 ln L(z, data),
    z the whitened unconstrained coordinates and data the arrays of the datasets and of
    the coordinate map; `predict` the compiled models. Neither recompiles for new data
    or new values of the same shapes.
    """

    def __init__(self, link: Link, datasets: list, params: list[P.Parameter], nodes):
        self.params = params
        self.free = tuple(p.name for p in params)
        self.nodes = nodes
        self.transforms = [P.Transform.of(p.range) for p in params]
        self.kinds = tuple(t.kind for t in self.transforms)
        self.n_datasets = len(datasets)
        with jax.enable_x64(True):
            self.groups, self.curves = self._layout(link, datasets)
            self.corrs = [
                _corr_of(link, d, i)
                for i, d in enumerate(datasets)
                if isinstance(d, CorrelationData)
            ]
            self.homs = [
                _hom_of(link, d, i) for i, d in enumerate(datasets) if isinstance(d, HOMData)
            ]
        self.minimiser = Minimiser(self.objective)
        self.predict = jax.jit(self._predict)

    # ------------------------------------------------------------- layout
    def _layout(self, link: Link, datasets: list):
        groups: dict[tuple, list[int]] = {}
        curves = []
        for i, d in enumerate(datasets):
            if isinstance(d, HistogramData):
                key = (d.detector, _bins_key(d), tuple(sorted(d.overrides)))
                groups.setdefault(key, []).append(i)
            elif isinstance(d, CorrelationData | HOMData):
                continue
            else:
                base = P.set_values(link, d.overrides)
                # The tagger does not enter eta_int: one bin keeps the trace small.
                base = base.with_tagger(one_bin(link.tagger))
                memory = d.memory or _curve_memories(link)[0]
                extra: dict = {}
                if isinstance(base[memory], OrcaMemory):
                    inp = MemoryInput.parse(d.input or "source")
                    points = [
                        P.set_values(base, {d.parameter: v, **{n: v for n in d.x_also}})
                        for v in d.x
                    ]
                    extra = dict(
                        orca=True,
                        quantity=d.quantity,
                        input=inp,
                        grid=memory_grid(points, memory, inp),
                    )
                curves.append(_Curve(P.as_float64(base), d.parameter, memory, i, d.x_also, **extra))
        out = []
        for (detector, _, names), members in groups.items():
            first = datasets[members[0]]
            tagger = _tagger_of(first, link.tagger)
            base = P.as_float64(link.with_tagger(tagger))
            values = np.array(
                [[datasets[i].overrides[n] for n in names] for i in members], np.float64
            ).reshape(len(members), len(names))
            out.append(_Group(base, detector, names, values, tuple(members)))
        return out, curves

    # ------------------------------------------------------------ objective
    def natural(self, z, data):
        """Free parameters x from whitened z (traceable)."""
        u = data["u0"] + data["S"] @ z
        return P.to_x(self.kinds, u, data["lo"], data["hi"])

    def _free_values(self, x) -> dict:
        return {n: x[i] for i, n in enumerate(self.free)}

    def _histograms(self, x, group: _Group):
        """Expected counts per shot (k, n_bins) of one group, all origins summed."""
        free = self._free_values(x)

        def one(values):
            lk = P.set_values(
                group.link, {**dict(zip(group.override_names, values, strict=True)), **free}
            )
            counts, _, _ = detector_counts(lk, group.detector, self.nodes)
            return counts.sum(axis=0)

        return jax.vmap(one)(jnp.asarray(group.override_values))

    def _curve(self, x, curve: _Curve, xs):
        free = self._free_values(x)

        def one(v):
            values = {curve.x_param: v, **{n: v for n in curve.x_also}, **free}
            lk = P.set_values(curve.link, values)
            if curve.orca:
                eff, _, _ = memory_efficiencies(lk, curve.memory, curve.input, curve.grid)
                return eff[_QUANTITY[curve.quantity]]
            return internal_efficiency(lk, curve.memory, self.nodes)

        return jax.vmap(one)(xs)

    def _predict(self, z, data):
        x = self.natural(z, data)
        hists = [
            self._histograms(x, group) * data["shots"][g][:, None]
            for g, group in enumerate(self.groups)
        ]
        curves = [self._curve(x, c, data["x"][i]) for i, c in enumerate(self.curves)]
        corrs = [self._coincidences(x, c, data, j) for j, c in enumerate(self.corrs)]
        homs = [self._hom(x, h, data, j) for j, h in enumerate(self.homs)]
        return hists, curves, corrs, homs

    def _hom(self, x, hom: _Hom, data, j):
        free = self._free_values(x)

        def one(delay):
            lk = P.set_values(hom.link, {hom.delay_name: delay, **free})
            return hom_coincidences(lk, *hom.detectors, nodes=self.nodes)

        parallel, orthogonal = jax.vmap(one)(data["hom_delay"][j])
        model = jnp.concatenate([parallel, orthogonal]) if hom.with_orthogonal else parallel
        shots = data["hom_shots"][j]
        n = data["hom_counts"][j]
        scale = jnp.where(shots > 0, shots, jnp.sum(n) / jnp.maximum(jnp.sum(model), 1e-300))
        return model * scale

    def _coincidences(self, x, corr: _Corr, data, j):
        lk = P.set_values(corr.link, self._free_values(x))
        model = expected_coincidences(
            lk, *corr.detectors, range_ns=corr.range_ns, nodes=self.nodes, geometry=corr.geometry
        )
        shots = data["g2_shots"][j]
        n = data["g2_counts"][j]
        # without shots, the model's scale is profiled: its total equals the data's
        scale = jnp.where(shots > 0, shots, jnp.sum(n) / jnp.maximum(jnp.sum(model), 1e-300))
        return model * scale

    def objective(self, z, data):
        """-2 ln L up to a constant: Poisson deviances plus chi-squares."""
        hists, curves, corrs, homs = self._predict(z, data)
        total = jnp.zeros((), z.dtype)
        for j, mu in enumerate(homs):
            total = total + jnp.sum(deviance_terms(data["hom_counts"][j], mu))
        for j, mu in enumerate(corrs):
            total = total + jnp.sum(deviance_terms(data["g2_counts"][j], mu))
        for g, mu in enumerate(hists):
            total = total + jnp.sum(deviance_terms(data["counts"][g], mu))
        for i, m in enumerate(curves):
            total = total + jnp.sum(((data["y"][i] - m) / data["sigma"][i]) ** 2)
        return total

    # ------------------------------------------------------------------ run
    def data(self, datasets, u0, s, sigmas) -> dict:
        """The data PyTree of the objective (float64 arrays)."""
        f64 = partial_asarray
        lo = [t.lo if t.kind in ("interval", "lower") else 0.0 for t in self.transforms]
        hi = [t.hi if t.kind in ("interval", "upper") else 0.0 for t in self.transforms]
        return {
            "u0": f64(u0),
            "S": f64(s).reshape(len(self.free), len(self.free)),
            "lo": f64(lo),
            "hi": f64(hi),
            "counts": [f64([datasets[i].counts for i in g.members]) for g in self.groups],
            "shots": [f64([datasets[i].shots for i in g.members]) for g in self.groups],
            "x": [f64(datasets[c.member].x) for c in self.curves],
            "y": [f64(datasets[c.member].efficiency) for c in self.curves],
            "sigma": [f64(s_) for s_ in sigmas],
            "g2_counts": [f64(datasets[c.member].counts) for c in self.corrs],
            "g2_shots": [f64(datasets[c.member].shots or 0) for c in self.corrs],
            "hom_delay": [f64(datasets[h.member].delay_ns) for h in self.homs],
            "hom_counts": [f64(_hom_counts(datasets[h.member])) for h in self.homs],
            "hom_shots": [f64(datasets[h.member].shots or 0) for h in self.homs],
        }

    def run(self, x0: np.ndarray, datasets, start_link: Link, max_iterations: int) -> FitResult:
        n_free = len(self.free)
        n_points = sum(d.n_points for d in datasets)
        u0 = np.array([t.to_u(x) for t, x in zip(self.transforms, x0, strict=True)])
        estimated = [datasets[c.member].efficiency_err is None for c in self.curves]
        warnings: list[str] = []

        # Curves without error bars start from the rms residual of the start model.
        sigmas = [
            datasets[c.member].efficiency_err
            if datasets[c.member].efficiency_err is not None
            else np.ones(datasets[c.member].n_points)
            for c in self.curves
        ]
        data = self.data(datasets, u0, np.eye(n_free), sigmas)
        zeros = np.zeros(n_free)
        if any(estimated):
            _, curves0, _, _ = self.predict(jnp.asarray(zeros), data)
            sigmas = self._estimate_sigmas(datasets, curves0, sigmas, estimated, n_points, 0)
            data = self.data(datasets, u0, np.eye(n_free), sigmas)

        value0, _ = self.minimiser.value_and_grad(zeros, data)
        if not math.isfinite(value0):
            raise FitError(
                "the objective is not finite at the start values; check that the model "
                "predicts counts where the data has them (bins, sync offset, shots)"
            )
        s = self._whiten(data, datasets, u0, sigmas)
        data = self.data(datasets, u0, s, sigmas)

        iterations = 0
        for _round in range(6):
            minimum = self.minimiser.minimise(
                np.zeros(n_free), data, max_iterations=max_iterations, gtol=GTOL
            )
            z, iterations = minimum.z, iterations + minimum.iterations
            if not any(estimated):
                break
            _, curves, _, _ = self.predict(jnp.asarray(z), data)
            new = self._estimate_sigmas(datasets, curves, sigmas, estimated, n_points, n_free)
            change = max(
                abs(float(a[0]) / float(b[0]) - 1.0)
                for a, b, e in zip(new, sigmas, estimated, strict=True)
                if e
            )
            sigmas = new
            data = self.data(datasets, u0, s, sigmas)
            if change < 1e-3:
                break
            # The objective's scale changed with sigma: whiten again where we are.
            u0 = u0 + s @ z
            s = self._whiten(data, datasets, u0, sigmas)
            data = self.data(datasets, u0, s, sigmas)
            z = np.zeros(n_free)

        value, grad = self.minimiser.value_and_grad(z, data)
        # Steps of HESSIAN_STEP standard deviations, but at most 1e-3 in u: along a
        # direction the data barely constrain, a long step would see the curvature of
        # the transforms rather than the objective's.
        steps = np.minimum(HESSIAN_STEP, 1e-3 / np.maximum(np.max(np.abs(s), axis=0), 1e-300))
        h_z = self.minimiser.hessian(z, data, step=steps)
        u = u0 + s @ z
        lo = np.asarray(data["lo"])
        hi = np.asarray(data["hi"])
        x = np.asarray(P.to_x(self.kinds, jnp.asarray(u), data["lo"], data["hi"]))
        jac = P.dx_du(self.kinds, u, lo, hi)
        errors = uncertainties(self.free, h_z, grad, s, jac)
        warnings += errors.warnings

        hists, curves, corrs, homs = self.predict(jnp.asarray(z), data)
        fits = self._dataset_fits(datasets, hists, curves, sigmas, estimated)
        for j, c in enumerate(self.corrs):
            fits[c.member] = _corr_fit(datasets[c.member], np.asarray(corrs[j], np.float64))
        for j, h in enumerate(self.homs):
            fits[h.member] = _hom_fit(datasets[h.member], np.asarray(homs[j], np.float64), h)
        counted = ("histogram", "g2", "hom")
        deviance = sum(f.contribution for f in fits if f.kind in counted)
        chi2 = sum(f.contribution for f in fits if f.kind == "efficiency_curve")
        has_h = any(f.kind in counted for f in fits)
        has_c = any(f.kind == "efficiency_curve" for f in fits)
        objective = float(deviance + chi2)
        ndf = n_points - n_free

        for c, est in zip(self.curves, estimated, strict=True):
            if est:
                sd = float(sigmas[self.curves.index(c)][0])
                warnings.append(
                    f"dataset {datasets[c.member].name!r} has no efficiency_err: a common "
                    f"sigma = {sd:.4g} was estimated from the residuals (reduced chi-square 1 "
                    "by construction), so there is no goodness-of-fit p-value"
                )
        p_value = None
        if ndf <= 0:
            warnings.append(
                f"ndf = {ndf}: as many free parameters as data points or more; no p-value"
            )
        elif not any(estimated):
            p_value = chi2_sf(objective, ndf)
        for i, (p, xi) in enumerate(zip(self.params, x, strict=True)):
            t = self.transforms[i]
            edge = [b for b in (t.lo, t.hi) if math.isfinite(b) and t.kind != "free"]
            scale = max(abs(xi), (t.hi - t.lo) if t.kind == "interval" else 1.0, 1e-300)
            if any(abs(xi - b) <= 1e-6 * scale for b in edge):
                warnings.append(
                    f"{p.name} = {xi:g} ended on the boundary of its range "
                    f"({p.describe_range()}); its error is not meaningful there"
                )
        warnings += self._dead_time_warnings(start_link, fits)
        converged = bool(
            math.isfinite(value)
            and errors.edm < EDM_TOLERANCE
            and (minimum.gradient_converged or minimum.stalled)
        )
        if not converged:
            warnings.insert(
                0,
                f"not converged after {iterations} iterations (estimated distance to the "
                f"minimum {errors.edm:.3g} in -2 ln L; tolerance {EDM_TOLERANCE:g})",
            )
        values = {n: float(v) for n, v in zip(self.free, x, strict=True)}
        fitted = P.set_values(start_link, values)
        warnings += self._memory_warnings(fitted, datasets)
        return FitResult(
            names=self.free,
            values=values,
            stderr=errors.stderr,
            covariance=errors.covariance,
            correlation=errors.correlation,
            deviance=float(deviance) if has_h else None,
            chi2=float(chi2) if has_c else None,
            objective=objective,
            ndf=int(ndf),
            p_value=p_value,
            converged=converged,
            iterations=int(iterations),
            warnings=warnings,
            degenerate=errors.degenerate,
            condition_number=errors.condition,
            datasets=fits,
            link=fitted,
        )

    def _whiten(self, data, datasets, u0, sigmas) -> np.ndarray:
        """Whitening S from the Hessian in u at u0 (differences of 1e-4 in u)."""
        n_free = len(self.free)
        plain = self.data(datasets, u0, np.eye(n_free), sigmas)
        return whitening(self.minimiser.hessian(np.zeros(n_free), plain, step=1e-4))

    def _estimate_sigmas(self, datasets, curves, sigmas, estimated, n_points, n_free):
        out = []
        dof = max(n_points - n_free, 1)
        for i, c in enumerate(self.curves):
            if not estimated[i]:
                out.append(sigmas[i])
                continue
            d = datasets[c.member]
            ssr = float(np.sum((d.efficiency - np.asarray(curves[i])) ** 2))
            var = ssr / d.n_points * n_points / dof
            sd = math.sqrt(var) if var > 0 else 1e-12
            out.append(np.full(d.n_points, sd))
        return out

    def _dataset_fits(self, datasets, hists, curves, sigmas, estimated) -> list[DatasetFit]:
        fits: list[DatasetFit | None] = [None] * self.n_datasets
        for g, group in enumerate(self.groups):
            mu = np.asarray(hists[g], np.float64)
            for k, i in enumerate(group.members):
                d = datasets[i]
                terms = np.asarray(deviance_terms(jnp.asarray(d.counts), jnp.asarray(mu[k])))
                res = np.sign(d.counts - mu[k]) * np.sqrt(np.maximum(terms, 0.0))
                edges = d.bin_edges_ns
                fits[i] = DatasetFit(
                    name=d.name,
                    kind="histogram",
                    x=0.5 * (edges[1:] + edges[:-1]),
                    data=d.counts,
                    model=mu[k],
                    residuals=res,
                    contribution=float(np.sum(terms)),
                    bin_edges_ns=edges,
                    shots=d.shots,
                )
        for j, c in enumerate(self.curves):
            d = datasets[c.member]
            m = np.asarray(curves[j], np.float64)
            sigma = np.asarray(sigmas[j], np.float64)
            res = (d.efficiency - m) / sigma
            fits[c.member] = DatasetFit(
                name=d.name,
                kind="efficiency_curve",
                x=d.x,
                data=d.efficiency,
                model=m,
                residuals=res,
                contribution=float(np.sum(res**2)),
                sigma=sigma,
                sigma_estimated=estimated[j],
                x_name=d.parameter,
                memory=c.memory,
            )
        return fits  # type: ignore[return-value]

    def _memory_warnings(self, link: Link, datasets) -> list[str]:
        """Grid and validity rules of each physical memory's curve at the fitted values."""
        out: list[str] = []
        for c in self.curves:
            if not c.orca or c.grid is None:
                continue
            d = datasets[c.member]
            base = P.set_values(link, d.overrides)
            for v in sorted({float(np.min(d.x)), float(np.max(d.x))}):
                lk = P.set_values(base, {d.parameter: v, **{n: v for n in d.x_also}})
                for w in lk[c.memory].warnings(c.grid):
                    text = f"dataset {d.name!r} at {d.parameter} = {v:g}: {w}"
                    if text not in out:
                        out.append(text)
        return out

    def _dead_time_warnings(self, link: Link, fits) -> list[str]:
        period = float(link.source.period_ns)
        out = []
        for group in self.groups:
            det = link[group.detector] if group.detector else link.detector
            dead = float(det.dead_time_ns)
            for i in group.members:
                f = fits[i]
                load = float(np.sum(f.model)) / f.shots / period * dead
                if load > DEAD_TIME_WARNING:
                    out.append(
                        f"dataset {f.name!r}: count rate x dead time = {load:.3g} > "
                        f"{DEAD_TIME_WARNING:g}; the expected-mode model neglects dead time"
                    )
        return out


def partial_asarray(a) -> jax.Array:
    return jnp.asarray(np.asarray(a, np.float64))


def deviance_terms(n, mu):
    """Poisson deviance per bin, 2 (mu - n + n ln(n / mu)); 2 mu where n = 0."""
    mu = jnp.maximum(mu, 1e-300)
    positive = n > 0
    n_safe = jnp.where(positive, n, 1.0)
    log_term = jnp.where(positive, n_safe * jnp.log(n_safe / mu), 0.0)
    return 2.0 * (mu - n + log_term)


def chi2_sf(x: float, ndf: int) -> float:
    """P(chi2_ndf > x), the regularised upper incomplete gamma Q(ndf / 2, x / 2)."""
    with jax.enable_x64(True):
        value = jax.scipy.special.gammaincc(
            jnp.asarray(ndf / 2.0, jnp.float64), jnp.asarray(max(x, 0.0) / 2.0, jnp.float64)
        )
    return float(value)


# -------------------------------------------------------------- checks, keys
def _check_free(link: Link, free: Sequence[str]) -> list[P.Parameter]:
    try:
        return P.free_parameters(link, free, example="free = ['qd.lifetime_ns']")
    except P.ParameterError as e:
        raise FitError(str(e)) from None


def _check_datasets(link: Link, datasets: list, params: list[P.Parameter]) -> None:
    if not datasets:
        raise FitError("no datasets to fit")
    free = {p.name for p in params}
    names = [getattr(d, "name", "?") for d in datasets]
    for d in datasets:
        if not isinstance(d, HistogramData | EfficiencyCurve | CorrelationData | HOMData):
            raise FitError(
                "datasets must be HistogramData, EfficiencyCurve, CorrelationData or HOMData, "
                f"got {type(d).__name__}"
            )
        where = f"dataset {d.name!r}"
        if names.count(d.name) > 1:
            raise FitError(f"{where}: two datasets have this name; give each a distinct name")
        for name, value in d.overrides.items():
            if name in free:
                raise FitError(f"{where}: sets {name}, which is free; a parameter is one or other")
            try:
                P.parameter(link, name).check(value, f"{where}: set")
            except P.ParameterError as e:
                raise FitError(
                    str(e) if str(e).startswith(where) else f"{where}: set: {e}"
                ) from None
        if isinstance(d, HOMData):
            _check_hom(link, d, where, free)
            continue
        if isinstance(d, CorrelationData):
            detectors = [det.name for det in link.detectors]
            pair = d.detectors or tuple(detectors[:2])
            if len(detectors) < 2 or any(n not in detectors for n in pair):
                raise FitError(
                    f"{where}: a g2 dataset needs two detectors of the link (detectors: "
                    f"{', '.join(detectors)}; asked for {', '.join(pair)})"
                )
            if has_interference(link):
                raise FitError(
                    f"{where}: the expected coincidences model HBT links; this link has a "
                    "HOMInterferometer"
                )
            continue
        if isinstance(d, HistogramData):
            detectors = [det.name for det in link.detectors]
            if d.detector is not None and d.detector not in detectors:
                raise FitError(
                    f"{where}: no detector {d.detector!r} in the link (detectors: "
                    f"{', '.join(detectors)})"
                )
            try:
                _tagger_of(d, link.tagger)
            except (ValueError, DatasetError) as e:
                raise FitError(f"{where}: its bins do not make a time tagger: {e}") from None
        else:
            memories = _curve_memories(link)
            if not memories:
                raise FitError(
                    f"{where}: an efficiency curve needs a LadderMemory or an OrcaMemory in the "
                    "link"
                )
            if d.memory is not None and d.memory not in memories:
                raise FitError(
                    f"{where}: no memory {d.memory!r} in the link (memories: {', '.join(memories)})"
                )
            _check_curve_memory(where, link[d.memory or memories[0]], d)
            for what, name in (("x column", d.parameter), *(("x_also", n) for n in d.x_also)):
                try:
                    p = P.parameter(link, name)
                except P.ParameterError as e:
                    raise FitError(f"{where}: {what}: {e}") from None
                if p.name in free:
                    raise FitError(f"{where}: its x parameter {p.name} cannot also be free")
                for v in d.x:
                    try:
                        p.check(v, f"{where}: x")
                    except P.ParameterError as e:
                        raise FitError(str(e)) from None


def _curve_memories(link: Link) -> list[str]:
    """Names of the memories an efficiency curve may describe, in link order."""
    ladders = {id(m) for m in link.memories}
    return [s.name for s in link.stages if isinstance(s, OrcaMemory) or id(s) in ladders]


def _check_curve_memory(where: str, m, d: EfficiencyCurve) -> None:
    if not isinstance(m, OrcaMemory):
        if d.quantity != "total" or d.input is not None:
            raise FitError(
                f"{where}: quantity and input describe a physical memory (OrcaMemory); "
                f"{m.name!r} is a {type(m).__name__}, whose curve is its internal efficiency"
            )
        return
    try:
        inp = MemoryInput.parse(d.input or "source")
    except ValueError as e:
        raise FitError(f"{where}: {e}") from None
    if m.tier == "analytic" and inp.kind != "gaussian":
        raise FitError(
            f"{where}: OrcaMemory {m.name!r} has tier 'analytic', which takes a Gaussian "
            "input (input = 'gaussian:FWHM_NS'), not the source's photon"
        )


def _tagger_of(d: HistogramData, tagger: TimeTagger) -> TimeTagger:
    """The dataset's bins as a tagger (the link's sync offset kept)."""
    edges = d.bin_edges_ns
    n = edges.size - 1
    return TimeTagger(
        bin_width_ps=float((edges[-1] - edges[0]) * 1e3 / n),
        window_start_ns=float(edges[0]),
        window_stop_ns=float(edges[-1]),
        sync_offset_ns=tagger.sync_offset_ns,
    )


def _bins_key(d: HistogramData) -> tuple:
    """The binning as the model's tagger sees it, to 1 fs: rounding noise in files is no
    reason to compile again."""
    edges = d.bin_edges_ns
    return (edges.size, round(float(edges[0]), 6), round(float(edges[-1]), 6))


def _corr_of(link: Link, d: CorrelationData, member: int) -> _Corr:
    """The model of a g2 dataset: the link with its tagger in bins of the data's width."""
    w_ns = d.bin_width_ns
    t = link.tagger
    n = int(np.ceil(t.window_ns / w_ns - 1e-9))
    tagger = TimeTagger(
        bin_width_ps=w_ns * 1e3,
        window_start_ns=t.window_start_ns,
        window_stop_ns=t.window_start_ns + n * w_ns,
        sync_offset_ns=t.sync_offset_ns,
    )
    base = P.set_values(link.with_tagger(tagger), d.overrides)
    names = [det.name for det in link.detectors]
    pair = tuple(d.detectors or names[:2])
    geometry = coincidence_geometry(link, *pair)
    return _Corr(P.as_float64(base), pair, float(d.bin_edges_ns[-1]), member, geometry)


def _corr_fit(d: CorrelationData, mu: np.ndarray) -> DatasetFit:
    terms = np.asarray(deviance_terms(jnp.asarray(d.counts), jnp.asarray(mu)))
    edges = d.bin_edges_ns
    return DatasetFit(
        name=d.name,
        kind="g2",
        x=0.5 * (edges[1:] + edges[:-1]),
        data=d.counts,
        model=mu,
        residuals=np.sign(d.counts - mu) * np.sqrt(np.maximum(terms, 0.0)),
        contribution=float(np.sum(terms)),
        bin_edges_ns=edges,
        x_name="delay t_b - t_a (ns)",
        shots=d.shots,
    )


def _check_hom(link: Link, d: HOMData, where: str, free: set) -> None:
    try:
        hom = the_interferometer(link)
    except ValueError:
        raise FitError(f"{where}: a hom dataset needs a HOMInterferometer in the link") from None
    detectors = [det.name for det in link.detectors]
    pair = d.detectors or tuple(detectors[:2])
    if len(detectors) < 2 or any(n not in detectors for n in pair):
        raise FitError(
            f"{where}: a hom dataset needs two detectors of the link (detectors: "
            f"{', '.join(detectors)}; asked for {', '.join(pair)})"
        )
    delay = f"{hom.name}.delay_ns"
    if delay in free or delay in d.overrides:
        raise FitError(f"{where}: {delay} is the data's delay_ns column; it cannot be free or set")
    p = P.parameter(link, delay)
    for v in d.delay_ns:
        p.check(v, f"{where}: delay_ns")


def _hom_of(link: Link, d: HOMData, member: int) -> _Hom:
    """The model of a hom dataset: the link with its overrides, one bin (totals only)."""
    base = P.set_values(link, d.overrides)
    base = Link(base.stages, one_bin(link.tagger))
    names = [det.name for det in link.detectors]
    pair = tuple(d.detectors or names[:2])
    delay = f"{the_interferometer(link).name}.delay_ns"
    return _Hom(P.as_float64(base), pair, delay, member, d.orthogonal is not None)


def _hom_counts(d: HOMData) -> np.ndarray:
    return d.parallel if d.orthogonal is None else np.concatenate([d.parallel, d.orthogonal])


def _hom_fit(d: HOMData, mu: np.ndarray, hom: _Hom) -> DatasetFit:
    """Data and model of a hom dataset: the parallel rows, then the orthogonal ones."""
    n = _hom_counts(d)
    terms = np.asarray(deviance_terms(jnp.asarray(n), jnp.asarray(mu)))
    x = d.delay_ns if d.orthogonal is None else np.concatenate([d.delay_ns, d.delay_ns])
    return DatasetFit(
        name=d.name,
        kind="hom",
        x=x,
        data=n,
        model=mu,
        residuals=np.sign(n - mu) * np.sqrt(np.maximum(terms, 0.0)),
        contribution=float(np.sum(terms)),
        x_name=hom.delay_name,
        shots=d.shots,
    )


def _dataset_key(d) -> tuple:
    overrides = tuple(sorted(d.overrides.items()))
    if isinstance(d, HOMData):
        return ("hom", d.detectors, d.parallel.size, d.orthogonal is not None, overrides)
    if isinstance(d, CorrelationData):
        return ("g2", d.detectors, d.n_points, round(float(d.bin_edges_ns[-1]), 6), overrides)
    if isinstance(d, HistogramData):
        return ("h", d.detector, _bins_key(d), overrides)
    return ("c", d.parameter, d.n_points, d.memory, overrides, d.quantity, d.input, d.x_also)


def _json(x: float):
    x = float(x)
    return x if math.isfinite(x) else None
