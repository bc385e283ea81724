"""The result of a run: histograms per detector and origin, counters, and summary figures."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from photonmc import observables
from photonmc.batch import DARK, MEMORY_NOISE, ORIGINS, RETRIEVED, SOURCE
from photonmc.observables import Estimate

#: Fewest chunks for a batch-means error; a run of fewer chunks gets the Poisson error
MIN_BATCHES = 10


@dataclasses.dataclass
class DetectorCounts:
    """Counts of one detector.

    counts: (n_origins, n_bins) in-window histogram by origin (ORIGINS order); int64 in
    analog mode, float64 expected counts in expected mode. totals: (n_origins,) every
    click, in the window or not.
    """

    name: str
    bin_edges_ns: np.ndarray
    counts: np.ndarray
    totals: np.ndarray

    def histogram(self, origin: str | None = None) -> np.ndarray:
        """In-window counts per bin, of one origin or of all."""
        if origin is None:
            return self.counts.sum(axis=0)
        return self.counts[_origin_index(origin)]

    def in_window(self, origin: str | None = None) -> float:
        return float(self.histogram(origin).sum())

    def total(self, origin: str | None = None) -> float:
        return float(self.totals.sum() if origin is None else self.totals[_origin_index(origin)])


@dataclasses.dataclass
class PairCorrelation:
    """The coincidence histogram of two detectors: delays t_b - t_a and its peaks.

    bin_edges_ns: (n + 1,) delays in ns; counts: (n,) pairs per bin (int64 in analog
    runs, expected pairs in expected runs); peak_delays_ns, peak_counts: the 2K + 1 peak
    centres k * period (plus the detectors' delay difference) and their areas, the pairs
    within +- period / 2.
    """

    detector_a: str
    detector_b: str
    bin_edges_ns: np.ndarray
    counts: np.ndarray
    peak_delays_ns: np.ndarray
    peak_counts: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.detector_a},{self.detector_b}"

    def g2_0(self) -> Estimate:
        """Centre-peak area over the mean side-peak area, with its Poisson error
        (docs/physics.md 6.5)."""
        c = np.asarray(self.peak_counts, np.float64)
        k = c.size // 2
        side = float(c.sum() - c[k])
        if side <= 0:
            return Estimate(float("nan"), float("nan"))
        e = observables.ratio_of_counts(float(c[k]), side)
        return Estimate(2 * k * e.value, 2 * k * e.stderr)


def _origin_index(origin: str) -> int:
    try:
        return ORIGINS.index(origin)
    except ValueError:
        raise KeyError(f"unknown origin {origin!r}; origins are {list(ORIGINS)}") from None


@dataclasses.dataclass
class Result:
    """What `simulate` returns, and what `io.read_result` reads back.

    mode: "analog" or "expected". shots: shots simulated (or represented). seed: the
    integer seed, or None when a key was given. photons_emitted: photons into the first
    fibre (a count, or its expectation). memory_sums: per memory, sums over signal
    photons for eta_int and the leak-through fraction (see stages.memory). fixed_delay_ns:
    the fibre group delay (times in histograms are retarded). retrieval_window_ns: the
    histogram-time window of the SNR figures, or None without a memory. warnings: what
    the run found that limits its validity (expected mode above the dead-time threshold,
    Poisson events beyond their room), also printed by the CLI. elapsed_s: seconds the
    simulation took, compilation excluded; compile_s: seconds the run spent compiling
    its kernel or loading it from the persistent cache (0 when this process had it
    already, NaN when unknown).
    """

    mode: str
    shots: int
    seed: int | None
    chunk_shots: int
    prng_impl: str
    detectors: dict[str, DetectorCounts]
    photons_emitted: float
    memory_sums: dict[str, dict[str, float]]
    fixed_delay_ns: float
    retrieval_window_ns: tuple[float, float] | None
    elapsed_s: float = float("nan")
    compile_s: float = float("nan")
    config_toml: str = ""
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    created_utc: str = ""
    counters: dict[str, float] = dataclasses.field(default_factory=dict)
    warnings: list[str] = dataclasses.field(default_factory=list)
    link: Any = None
    #: coincidence histograms by detector pair ("a,b"), when the run recorded them
    correlations: dict[str, PairCorrelation] = dataclasses.field(default_factory=dict)
    #: two-photon figures (g2_0, hom_visibility, indistinguishability) and, under
    #: "notes", how each was obtained
    photon_statistics: dict[str, Any] = dataclasses.field(default_factory=dict)

    # ------------------------------------------------------------- histograms
    def detector(self, name: str | None = None) -> DetectorCounts:
        if name is None:
            return next(iter(self.detectors.values()))
        try:
            return self.detectors[name]
        except KeyError:
            raise KeyError(f"no detector {name!r}; detectors: {list(self.detectors)}") from None

    def histogram(self, detector: str | None = None, origin: str | None = None) -> np.ndarray:
        """In-window counts per bin of a detector, of one origin or of all."""
        return self.detector(detector).histogram(origin)

    @property
    def analog(self) -> bool:
        return self.mode == "analog"

    # -------------------------------------------------------- summary figures
    @property
    def has_memory(self) -> bool:
        return bool(self.memory_sums)

    @property
    def efficiency(self) -> Estimate:
        """End-to-end efficiency: in-window detections of the signal per shot, all detectors.

        The signal is retrieved light when the link has a memory, source light otherwise.
        Error: batch means over an analog run's chunks (`_batch_ratio`), else Poisson.
        """
        origin = "retrieved" if self.has_memory else "source"
        counts = sum(d.in_window(origin) for d in self.detectors.values())
        return self._batch_ratio("signal", counts) or observables.rate_per_shot(counts, self.shots)

    @property
    def clicks_per_shot(self) -> Estimate:
        """Every click of every detector (all origins, in the window or not) per shot.

        Analog runs of at least MIN_BATCHES chunks give the batch-means error (see
        `_batch_ratio`), which holds with dead time; others the Poisson error."""
        counts = sum(d.total() for d in self.detectors.values())
        return self._batch_ratio("clicks", counts) or observables.rate_per_shot(counts, self.shots)

    def _batch_ratio(self, num: str, count: float, den: str = "shots", den_count=None):
        """num / den from the per-chunk counts of an analog run (`analog.batch_counts`),
        with the batch-means error of a ratio estimator over the chunks,

            var = B / (B - 1) * sum_j (num_j - R den_j)^2 / (sum_j den_j)^2,

        B the chunks, which are independent (each starts with live detectors), so the
        error holds whatever correlates the shots within a chunk (dead time, bunched
        noise). None (the caller's Poisson error applies) for expected runs, runs of fewer
        than MIN_BATCHES chunks, and counts that the batches do not hold: the figure's
        count must equal the batches' (another window or one detector of several)."""
        c = self.counters
        b = c.get("batch.n", 0.0)
        if not self.analog or b < MIN_BATCHES or c.get(f"batch.{num}") != count:
            return None
        sd = float(self.shots) if den == "shots" else den_count
        if den != "shots" and c.get(f"batch.{den}") != den_count:
            return None
        if sd is None or sd <= 0:
            return None

        def moment(x, y):
            return c.get(f"batch.{x}*{y}", c.get(f"batch.{y}*{x}"))

        terms = (moment(num, num), moment(num, den), moment(den, den))
        if any(t is None for t in terms):
            return None
        r = count / sd
        ss = terms[0] - 2.0 * r * terms[1] + r * r * terms[2]
        return Estimate(r, math.sqrt(max(ss, 0.0) * b / (b - 1.0)) / sd)

    def _memory_ratio(self, num: str, memory: str | None) -> Estimate:
        if not self.memory_sums:
            return Estimate(float("nan"), float("nan"))
        sums = self.memory_sums[memory] if memory else next(iter(self.memory_sums.values()))
        return observables.ratio_of_sums(sums, num, "x", analog=self.analog, shots=self.shots)

    def internal_efficiency(self, memory: str | None = None) -> Estimate:
        """eta_int = E[P_r] / photons arriving at the memory (docs/physics.md 3.4); undefined
        (NaN; None with "undefined" in the summary) when no photon reached the memory."""
        return self._memory_ratio("y", memory)

    def leak_through(self, memory: str | None = None) -> Estimate:
        """Fraction of photons arriving at the memory that pass it unstored, E[P_t] / arrivals."""
        return self._memory_ratio("z", memory)

    def _window_counts(self, window_ns, detector: str | None) -> np.ndarray:
        """Counts by origin in the window, of one detector or of all (None)."""
        window = window_ns if window_ns is not None else self.retrieval_window_ns
        if window is None:
            raise ValueError("this link has no memory; give window_ns=(a, b) in histogram time")
        dets = self.detectors.values() if detector is None else [self.detector(detector)]
        return sum(
            d.counts[:, observables.window_mask(d.bin_edges_ns, window)].sum(axis=1) for d in dets
        )

    def snr(self, window_ns=None, detector: str | None = None) -> Estimate:
        """Retrieved counts over noise counts (memory noise + dark) in the retrieval window,
        of one detector or of all together (None); +inf without noise counts (0 without
        any counts), see `observables.snr`.

        The noise is what the detector sees with the signal blocked; leak-through is a
        fate of the signal photon and is reported separately (`leak_in_window`). Error:
        batch means over the chunks of an analog run in the default window with all
        detectors (`_batch_ratio`); else numerator and denominator as independent Poisson
        counts.
        """
        c = self._window_counts(window_ns, detector)
        retrieved, noise = float(c[RETRIEVED]), float(c[MEMORY_NOISE] + c[DARK])
        if noise > 0:
            batch = self._batch_ratio("retrieved", retrieved, "noise", noise)
            if batch is not None:
                return batch
        return observables.snr(retrieved, noise)

    def leak_in_window(self, window_ns=None, detector: str | None = None) -> Estimate:
        """Unstored source light detected in the retrieval window, per shot."""
        c = self._window_counts(window_ns, detector)
        return self._batch_ratio("leak", float(c[SOURCE])) or observables.rate_per_shot(
            c[SOURCE], self.shots
        )

    # ---------------------------------------------------------- presentation
    def _figure_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("efficiency", str(self.efficiency)),
            ("clicks per shot", str(self.clicks_per_shot)),
        ]
        if self.has_memory:
            rows += [
                ("internal efficiency", str(self.internal_efficiency())),
                ("leak-through", str(self.leak_through())),
                ("SNR", str(self.snr())),
            ]
        for key in ("g2_0", "hom_visibility", "indistinguishability"):
            if key in self.photon_statistics:
                rows.append((key, str(self.photon_statistics[key])))
        return rows

    def __repr__(self) -> str:
        dets = ", ".join(f"{n}: {_short(d.total())} clicks" for n, d in self.detectors.items())
        figures = ", ".join(f"{k} {v}" for k, v in self._figure_rows())
        return f"Result({self.mode}, {self.shots:,} shots; {dets}; {figures})"

    def _repr_html_(self) -> str:
        import html

        head = f"photonmc {self.mode} result, {self.shots:,} shots"
        rows = [(f"detector {n}", f"{_short(d.total())} clicks") for n, d in self.detectors.items()]
        rows += self._figure_rows()
        body = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in rows
        )
        return f"<table><caption>{html.escape(head)}</caption>{body}</table>"

    def to_dataframe(self):
        """The histograms as a pandas DataFrame (needs pandas): one row per detector and
        bin, columns detector, bin_start_ns, bin_stop_ns and one per origin, plus total."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install 'photonmc[pandas]'") from None
        frames = []
        for name, d in self.detectors.items():
            cols = {
                "detector": name,
                "bin_start_ns": d.bin_edges_ns[:-1],
                "bin_stop_ns": d.bin_edges_ns[1:],
            }
            cols.update({o: d.histogram(o) for o in ORIGINS})
            cols["total"] = d.histogram()
            frames.append(pd.DataFrame(cols))
        return pd.concat(frames, ignore_index=True)

    def to_xarray(self):
        """The histograms as an xarray DataArray (needs xarray), dimensions detector,
        origin and time_ns (bin centres), with the run's figures as attributes."""
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("to_xarray needs xarray: pip install 'photonmc[xarray]'") from None
        edges = next(iter(self.detectors.values())).bin_edges_ns
        data = np.stack([np.asarray(d.counts) for d in self.detectors.values()])
        return xr.DataArray(
            data,
            dims=("detector", "origin", "time_ns"),
            coords={
                "detector": list(self.detectors),
                "origin": list(ORIGINS),
                "time_ns": 0.5 * (edges[1:] + edges[:-1]),
            },
            name="counts",
            attrs={"mode": self.mode, "shots": self.shots, **dict(self._figure_rows())},
        )

    def summary(self) -> dict:
        """Every figure that `photonmc show` prints, as plain JSON-ready values."""
        out: dict[str, Any] = {
            "shots": int(self.shots),
            "seed": self.seed,
            "mode": self.mode,
            "photons_emitted": _number(self.photons_emitted),
            "photons_per_second": _number(self.photons_emitted / self.elapsed_s)
            if self.elapsed_s > 0
            else None,
            "compile_seconds": _number(self.compile_s) if math.isfinite(self.compile_s) else None,
            "fixed_delay_ns": self.fixed_delay_ns,
            "retrieval_window_ns": list(self.retrieval_window_ns)
            if self.retrieval_window_ns
            else None,
            "detectors": {
                name: {
                    "counts": _number(d.in_window()),
                    "by_origin": {o: _number(d.in_window(o)) for o in ORIGINS},
                    "total_clicks": _number(d.total()),
                    "total_by_origin": {o: _number(d.total(o)) for o in ORIGINS},
                }
                for name, d in self.detectors.items()
            },
            "efficiency": self.efficiency.as_dict(),
            "clicks_per_shot": self.clicks_per_shot.as_dict(),
        }
        if self.has_memory:
            out["internal_efficiency"] = self.internal_efficiency().as_dict()
            out["leak_through"] = self.leak_through().as_dict()
            out["snr"] = self.snr().as_dict()
            if out["snr"].get("infinite") and self.analog:
                c = self._window_counts(None, None)
                out["snr"]["lower_bound_95"] = observables.snr_lower_bound(float(c[RETRIEVED]))
            out["leak_in_window"] = self.leak_in_window().as_dict()
        for key, value in self.photon_statistics.items():
            out[key] = value.as_dict() if isinstance(value, Estimate) else value
        out["warnings"] = list(self.warnings)
        return out


def _short(x) -> str:
    x = float(x)
    return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def _number(x):
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**63 else x
