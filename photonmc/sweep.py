"""Parameter sweeps: one run per point of a grid of parameter values, compiled once.

Expected mode evaluates the whole grid in one vectorised call (`jax.vmap` over the
points). Analog mode runs the points one after another through one compiled function:
every point gets the same static plan (room for the Poisson events of the busiest
point) and the same key, so the points share their random numbers (common random
numbers: differences between points are far less noisy than the points themselves).

Warnings of the points (and of any reference run a point makes) are gathered and given
once at the end of the sweep (`PointWarnings`): each distinct warning once, and warnings
that differ between points only in their numbers as one, with the range of each number
and the count of points that gave it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.analog import (
    analog_plan,
    check_shots,
    default_chunk_shots,
    merge_plans,
    run_analog,
    seed_key,
)
from photonmc.expected import DEFAULT_NODES, expected_counts_all
from photonmc.link import Link
from photonmc.result import Result
from photonmc.simulation import make_result
from photonmc.stages.memory import MEMORY_STATS

#: Figures of `Result.summary()` that a sweep tabulates (those the link has)
FIGURES = (
    "efficiency",
    "clicks_per_shot",
    "internal_efficiency",
    "leak_through",
    "snr",
    "leak_in_window",
)


#: Most points of a sweep (each is a run)
MAX_POINTS = 1_000_000


def grid_values(spec: str) -> np.ndarray:
    """Values of a `start:stop:num` spec: num points from start to stop, both included."""
    parts = spec.split(":")
    try:
        start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        if len(parts) != 3:
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError(f"a sweep range is start:stop:num (e.g. 0:5:51), got {spec!r}") from None
    if num < 1:
        raise ValueError(f"a sweep range needs num >= 1 points, got {num} in {spec!r}")
    if num > MAX_POINTS:
        raise ValueError(f"a sweep range has at most {MAX_POINTS:,} points, got {num:,}")
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ValueError(f"a sweep range needs finite ends, got {spec!r}")
    return np.linspace(start, stop, num)


@dataclasses.dataclass
class SweepResult:
    """The runs of a sweep. names: the swept parameters; axes: their values (one 1-D
    array per name); results: Result per grid point, an object array of the grid's
    shape (outer product of the axes, in the order of names)."""

    names: tuple[str, ...]
    axes: tuple[np.ndarray, ...]
    results: np.ndarray
    mode: str
    shots: int
    seed: int | None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    def grid(self) -> dict[str, np.ndarray]:
        """Each parameter's value at every point, arrays of the grid's shape."""
        mesh = np.meshgrid(*self.axes, indexing="ij")
        return dict(zip(self.names, mesh, strict=True))

    def figure(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(value, stderr) of a summary figure at every point (NaN where undefined, inf
        where infinite: an SNR without noise counts)."""
        value = np.full(self.shape, np.nan)
        stderr = np.full(self.shape, np.nan)
        for idx in np.ndindex(self.shape):
            entry = self.results[idx].summary().get(name)
            if entry is not None:
                missing = np.inf if entry.get("infinite") else np.nan  # an SNR without noise
                value[idx] = missing if entry["value"] is None else entry["value"]
                stderr[idx] = np.nan if entry["stderr"] is None else entry["stderr"]
        return value, stderr

    def figures(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        first = self.results.flat[0].summary()
        return {f: self.figure(f) for f in FIGURES if f in first}


def sweep(
    link: Link,
    params: Mapping[str, Sequence[float]],
    shots: int,
    key=0,
    mode: str = "analog",
    *,
    chunk_shots: int | None = None,
    retrieval_window_ns: tuple[float, float] | None = None,
    nodes: tuple[int, int] = DEFAULT_NODES,
    progress: Callable[[int], None] | None = None,
    config_toml: str = "",
) -> SweepResult:
    """Run `link` at every point of the outer product of `params` (name -> values).

    Parameters are qualified names (`"memory.storage_time_ns"`); each value is checked
    like a construction. The retrieval window of each point follows its own write and
    storage times unless `retrieval_window_ns` fixes it. progress: called with the
    number of points done. chunk_shots: shots per compiled chunk (analog results depend
    on it); default `default_chunk_shots()`, by backend as in `simulate`.
    """
    if mode not in ("analog", "expected"):
        raise ValueError(f"mode must be 'analog' or 'expected', got {mode!r}")
    if chunk_shots is None:
        chunk_shots = default_chunk_shots()
    if not params:
        raise ValueError("a sweep needs at least one parameter")
    names = tuple(params)
    axes = tuple(np.asarray(params[n], np.float64).ravel() for n in names)
    for n, a in zip(names, axes, strict=True):
        link.get(n)  # a clear KeyError for an unknown name
        if a.size == 0:
            raise ValueError(f"sweep of {n}: no values")
    shape = tuple(a.size for a in axes)
    if math.prod(shape) > MAX_POINTS:
        raise ValueError(
            f"a sweep of {' x '.join(map(str, shape))} = {math.prod(shape):,} points; at most "
            f"{MAX_POINTS:,}"
        )
    points = [
        dict(zip(names, (float(v) for v in p), strict=True)) for p in itertools.product(*axes)
    ]
    links = [link.replace(p) for p in points]  # validates every value
    seed = int(key) if isinstance(key, int | np.integer) else None
    key = seed_key(seed) if seed is not None else key
    check_shots(int(shots), int(chunk_shots), mode)

    results = np.empty(len(points), object)
    # each point's warnings are gathered and given once, merged, when the sweep ends
    point_warnings = PointWarnings(len(points))
    with point_warnings:
        if mode == "expected":
            start = time.perf_counter()
            hists, per_point = _expected_grid(link, names, points, shots, nodes)
            elapsed = (time.perf_counter() - start) / len(points)
            runs = zip(hists, per_point, [elapsed] * len(points), strict=True)
        else:
            plan = merge_plans(analog_plan(lk, chunk_shots, shots=shots) for lk in links)

            def analog_runs():
                for i, lk in enumerate(links):
                    start = time.perf_counter()
                    with point_warnings.point(i):
                        hist, counts = run_analog(lk, shots, key, chunk_shots, plan=plan)
                    yield hist, counts, time.perf_counter() - start

            runs = analog_runs()
        for i, (lk, (hist, counters, elapsed)) in enumerate(zip(links, runs, strict=True)):
            with point_warnings.point(i):
                results[i] = make_result(
                    lk,
                    mode,
                    shots,
                    seed,
                    chunk_shots,
                    hist,
                    counters,
                    elapsed_s=elapsed,
                    retrieval_window_ns=retrieval_window_ns,
                    config_toml=config_toml,
                )
            if progress is not None:
                progress(i + 1)
    return SweepResult(names, axes, results.reshape(shape), mode, int(shots), seed)


@partial(jax.jit, static_argnames=("names", "nodes"))
def _expected_points(link, names, values, nodes):
    def one(row):
        return expected_counts_all(link.replace(dict(zip(names, row, strict=True))), nodes=nodes)

    return jax.vmap(one)(values)


def _expected_grid(link: Link, names, points, shots: int, nodes):
    """Expected histograms and counters of every point, in one vectorised call."""
    values = np.array([[p[n] for n in names] for p in points], np.float64)
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        counts, totals, info = _expected_points(link64, names, jnp.asarray(values), tuple(nodes))
        counts = np.asarray(counts, np.float64) * shots  # (points, det, origins, bins)
        totals = np.asarray(totals, np.float64) * shots
        info = {k: np.asarray(v, np.float64) for k, v in info.items()}
    n_pts, n_bins = counts.shape[0], counts.shape[-1]
    counts = counts.reshape(n_pts, -1, n_bins)
    totals = totals.reshape(n_pts, -1)
    hists = np.zeros((n_pts, counts.shape[1], n_bins + 2))
    hists[:, :, 1:-1] = counts
    hists[:, :, -1] = totals - counts.sum(axis=2)
    per_point = []
    for i in range(n_pts):
        per_point.append(
            {
                k: float(v[i]) * (1.0 if k.split(".")[-1] in MEMORY_STATS else shots)
                for k, v in info.items()
            }
        )
    return hists, per_point


#: A number in a warning: not part of a name (det_1), with its exponent (1e+03)
_NUMBER = re.compile(r"(?<![\w.'\"])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w'\"])")


class PointWarnings:
    """Gathers the Python warnings of a sweep's points and gives each once at the end.

    Use as a context manager around the points, and `point(i)` around (each part of)
    point i. On leaving, every warning is issued again once, in the order first seen:
    a message that every point gave, as it is; one that only some gave, with "(at k of
    n sweep points)"; messages that differ only in their numbers, as one message with
    each differing number replaced by its range over the points ("0.19..0.23").
    """

    def __init__(self, n_points: int) -> None:
        self.n_points = n_points
        # (category, template) -> [numbers of each distinct message, points that gave it]
        self._seen: dict = {}

    def __enter__(self) -> PointWarnings:
        return self

    def point(self, index: int):
        """A context that records the warnings raised in it as point `index`'s."""
        return _OnePoint(self, index)

    def _add(self, caught, index: int) -> None:
        for w in caught:
            text = str(w.message)
            parts = _NUMBER.split(text)
            entry = self._seen.setdefault((w.category, tuple(parts)), [[], set()])
            numbers = _NUMBER.findall(text)
            if numbers not in entry[0]:
                entry[0].append(numbers)
            entry[1].add(index)

    def messages(self) -> list[tuple[type, str]]:
        """(category, text) of the gathered warnings, merged as the class docstring says."""
        out = []
        for (category, parts), (numbers, points) in self._seen.items():
            text = parts[0]
            for slot, rest in enumerate(parts[1:]):
                values = [n[slot] for n in numbers]
                if len(set(values)) == 1:
                    text += values[0]
                else:
                    lo = min(values, key=float)
                    hi = max(values, key=float)
                    text += f"{lo}..{hi}"
                text += rest
            if len(points) < self.n_points:
                text += f" (at {len(points)} of {self.n_points} sweep points)"
            out.append((category, text))
        return out

    def __exit__(self, *exc) -> None:
        for category, text in self.messages():
            warnings.warn(text, category, stacklevel=3)


class _OnePoint:
    def __init__(self, owner: PointWarnings, index: int) -> None:
        self.owner, self.index = owner, index

    def __enter__(self):
        self._catch = warnings.catch_warnings(record=True)
        self._caught = self._catch.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc) -> None:
        self._catch.__exit__(*exc)
        self.owner._add(self._caught, self.index)


def result_at(sweep_result: SweepResult, values: Mapping[str, float]) -> Result:
    """The Result at the grid point nearest to `values` (name -> value)."""
    idx = []
    for n, a in zip(sweep_result.names, sweep_result.axes, strict=True):
        if n not in values:
            raise KeyError(f"give a value for {n}")
        idx.append(int(np.argmin(np.abs(a - values[n]))))
    return sweep_result.results[tuple(idx)]
