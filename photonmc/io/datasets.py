"""Measured data for fits: detection-time histograms and efficiency curves, and their loaders.

Histograms (`HistogramData`): counts in uniform bins of histogram time (ns), with the
number of shots that produced them, the detector that recorded them and per-dataset
parameter overrides (e.g. the storage time of that run). Files:

- CSV with the header `bin_start_ns,counts`: one row per bin, bin starts increasing and
  evenly spaced (the width is inferred, the last bin is as wide as the others);
- `.npz` with arrays `bin_edges_ns` (n + 1) and `counts` (n);
- a photonmc HDF5 result (`photonmc simulate --out`): the in-window counts of one
  detector, all origins summed, and the run's shots.

Efficiency curves (`EfficiencyCurve`): a memory's internal efficiency (docs/physics.md 3.4)
measured at several values of one link parameter. CSV with one x column named by the
qualified parameter (`memory.storage_time_ns`), a column `efficiency`, and optionally
`efficiency_err` (one standard deviation, > 0). Efficiencies lie in [0, 1], up to a
measurement noise of EFFICIENCY_SLACK (0.05) beyond either end.

CSV files may carry comment lines starting with `#` (provenance) and blank lines. Bins
count as uniform when every edge lies within 1e-2 bin widths of the evenly spaced grid
(so rounded CSV values pass and a missing row or a varying width does not). Counts must
be finite and >= 0; they need not be integers (expected-mode results are not).

Every problem with a file raises `DatasetError`, a ValueError whose message is one line
naming the file (or the dataset) and what is wrong.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

#: Largest deviation of a bin edge from the evenly spaced grid, in bin widths
UNIFORM_TOLERANCE = 1e-2
HISTOGRAM_COLUMNS = ("bin_start_ns", "counts")
CURVE_Y, CURVE_ERR = "efficiency", "efficiency_err"
#: What an efficiency curve of a physical memory (OrcaMemory) may have measured
CURVE_QUANTITIES = ("total", "write", "read")
#: How far a measured efficiency may lie outside [0, 1] (background subtraction and
#: counting noise put values near 0 slightly below it); beyond that it is no efficiency
EFFICIENCY_SLACK = 0.05
HISTOGRAM_SUFFIXES = (".csv", ".npz", ".h5", ".hdf5", ".ptu")


class DatasetError(ValueError):
    """A data file or dataset that cannot be fitted; the message is one line."""


@dataclasses.dataclass(frozen=True)
class HistogramData:
    """Counts per bin of one detector over `shots` shots.

    bin_edges_ns: (n + 1,) increasing, evenly spaced, histogram time in ns. counts: (n,)
    finite, >= 0. shots: >= 1. detector: the detector's stage name (None: the link's).
    overrides: `{"stage.field": value}` set on the link for this dataset only. name: a
    label for results and plots.
    """

    bin_edges_ns: np.ndarray
    counts: np.ndarray
    shots: int
    detector: str | None = None
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)
    name: str = "histogram"

    kind = "histogram"

    def __post_init__(self):
        label = self.name
        edges, counts = _edges_and_counts(self.bin_edges_ns, self.counts, label)
        if counts.size < 1:
            raise DatasetError(f"{label}: no bins")
        check_uniform(edges, label)
        check_counts(counts, edges, label)
        shots = self.shots
        if isinstance(shots, float) and shots.is_integer():
            shots = int(shots)
        if not (isinstance(shots, int | np.integer) and not isinstance(shots, bool) and shots >= 1):
            raise DatasetError(f"{label}: shots must be a whole number >= 1, got {self.shots!r}")
        object.__setattr__(self, "bin_edges_ns", edges)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "shots", int(shots))
        object.__setattr__(self, "overrides", _overrides(self.overrides, label))

    @classmethod
    def from_result(
        cls,
        result,
        detector: str | None = None,
        *,
        overrides: Mapping[str, float] | None = None,
        name: str | None = None,
    ) -> HistogramData:
        """The in-window counts of one detector of a `photonmc.Result` (all origins)."""
        d = result.detector(detector)
        return cls(
            d.bin_edges_ns, d.histogram(), result.shots, d.name, dict(overrides or {}),
            name or d.name,
        )  # fmt: skip

    @property
    def n_points(self) -> int:
        return int(self.counts.size)

    @property
    def bin_width_ns(self) -> float:
        return float((self.bin_edges_ns[-1] - self.bin_edges_ns[0]) / self.counts.size)


@dataclasses.dataclass(frozen=True)
class EfficiencyCurve:
    """A memory's internal efficiency measured at several values of one parameter.

    parameter: the qualified name of x (`"memory.storage_time_ns"`). x, efficiency: (n,)
    finite. efficiency_err: (n,) > 0, or None (the fit then estimates one common sigma
    from the residuals). memory: the memory's stage name (None: the link's first).
    overrides and name as for `HistogramData`.

    For an `OrcaMemory` (the physical memory) also: quantity, which efficiency was
    measured ("total", the default and the only one of a `LadderMemory`; "write": stored
    over incident; "read": retrieved over stored); input, the wavepacket the memory was
    measured with, as `photonmc memory --input` spells it ("source", "gaussian:FWHM_NS" or
    "gaussian:FWHM_NS@T_NS"; None: "source"); x_also, further qualified parameters that
    take the x value at each point (e.g. the read energy when both controls share it).
    """

    parameter: str
    x: np.ndarray
    efficiency: np.ndarray
    efficiency_err: np.ndarray | None = None
    memory: str | None = None
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)
    name: str = "curve"
    quantity: str = "total"
    input: str | None = None
    x_also: tuple[str, ...] = ()

    kind = "efficiency_curve"

    def __post_init__(self):
        label = self.name
        if not isinstance(self.parameter, str) or "." not in self.parameter:
            raise DatasetError(
                f"{label}: the x column must be named by a qualified parameter such as "
                f"'memory.storage_time_ns', got {self.parameter!r}"
            )
        x = _float_array(self.x, label, self.parameter)
        y = _float_array(self.efficiency, label, CURVE_Y)
        if x.ndim != 1 or x.shape != y.shape or x.size < 1:
            raise DatasetError(
                f"{label}: x and efficiency must be 1-D of one length >= 1, got shapes "
                f"{x.shape} and {y.shape}"
            )
        for name, a in ((self.parameter, x), (CURVE_Y, y)):
            if not np.all(np.isfinite(a)):
                i = int(np.flatnonzero(~np.isfinite(a))[0])
                raise DatasetError(f"{label}: {name} is not a finite number in point {i + 1}")
        slack = EFFICIENCY_SLACK
        outside = (y < -slack) | (y > 1.0 + slack)
        if np.any(outside):
            i = int(np.flatnonzero(outside)[0])
            raise DatasetError(
                f"{label}: {CURVE_Y} must be in [0, 1] (an internal efficiency; measurement "
                f"noise of up to {slack:g} beyond either end is accepted), got "
                f"{float(y[i])!r} in point {i + 1}"
            )
        err = self.efficiency_err
        if err is not None:
            err = _float_array(err, label, CURVE_ERR)
            if err.shape != y.shape:
                raise DatasetError(f"{label}: efficiency_err must have one entry per point")
            bad = ~(np.isfinite(err) & (err > 0))
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise DatasetError(
                    f"{label}: efficiency_err must be finite and > 0, got "
                    f"{float(err[i])!r} in point {i + 1}"
                )
        if self.quantity not in CURVE_QUANTITIES:
            raise DatasetError(
                f"{label}: quantity must be one of {', '.join(map(repr, CURVE_QUANTITIES))}, "
                f"got {self.quantity!r}"
            )
        if self.input is not None and not (isinstance(self.input, str) and self.input):
            raise DatasetError(
                f"{label}: input must be 'source' or 'gaussian:FWHM_NS[@T_NS]', got {self.input!r}"
            )
        also = (self.x_also,) if isinstance(self.x_also, str) else tuple(self.x_also)
        for n in also:
            if not (isinstance(n, str) and "." in n) or n == self.parameter:
                raise DatasetError(
                    f"{label}: x_also must name qualified parameters other than the x column "
                    f"{self.parameter!r}, such as 'memory.read_energy_nj', got {n!r}"
                )
        object.__setattr__(self, "x_also", also)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "efficiency", y)
        object.__setattr__(self, "efficiency_err", err)
        object.__setattr__(self, "overrides", _overrides(self.overrides, label))

    @property
    def n_points(self) -> int:
        return int(self.x.size)


Dataset = HistogramData | EfficiencyCurve


# -------------------------------------------------------------------- loading
def load_dataset(path: str | os.PathLike, kind: str, **kwargs) -> Dataset:
    """`load_histogram` (kind "histogram") or `load_efficiency_curve` ("efficiency_curve")."""
    if kind == "histogram":
        return load_histogram(path, **kwargs)
    if kind == "efficiency_curve":
        return load_efficiency_curve(path, **kwargs)
    raise DatasetError(f"{path}: kind must be 'histogram' or 'efficiency_curve', got {kind!r}")


def load_histogram(
    path: str | os.PathLike,
    *,
    shots: int | None = None,
    detector: str | None = None,
    overrides: Mapping[str, float] | None = None,
    name: str | None = None,
    bin_ps: float | None = None,
    window_ns: tuple[float, float] | None = None,
) -> HistogramData:
    """A histogram from a CSV, `.npz` or photonmc HDF5 file (module docstring), or from
    time tags: a PicoQuant `.ptu` or a Photon-HDF5 file.

    shots is required for CSV and `.npz` files; an HDF5 result gives its own (a different
    `shots` is an error). detector picks the HDF5 result's detector (required when it has
    several). Time tags are histogrammed relative to their shot clock (`TimeTags.histogram`)
    with bins of `bin_ps` over `window_ns` (both required); `detector` is the channel's
    name or number (default channel 0); shots default to the span of shots in the file.
    """
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    name = name or path.stem
    if suffix == ".csv":
        header, rows = read_csv(path)
        _require_columns(path, header, HISTOGRAM_COLUMNS, HISTOGRAM_COLUMNS)
        starts = rows[:, header.index("bin_start_ns")]
        counts = rows[:, header.index("counts")]
        edges = _edges_from_starts(path, starts)
    elif suffix == ".npz":
        edges, counts = _read_npz(path)
    elif suffix == ".ptu" or (suffix in (".h5", ".hdf5") and _is_photon_hdf5(path)):
        edges, counts, tag_shots = _read_tags(path, detector, bin_ps, window_ns)
        shots = shots if shots is not None else tag_shots
    elif suffix in (".h5", ".hdf5"):
        edges, counts, file_shots, detector = _read_result(path, detector)
        if shots is not None and int(shots) != file_shots:
            raise DatasetError(
                f"{path}: shots = {shots} given, but the result holds {file_shots} shots; "
                "leave shots out for an HDF5 result"
            )
        shots = file_shots
    else:
        raise DatasetError(
            f"{path}: a histogram file must end in {', '.join(HISTOGRAM_SUFFIXES)}, "
            f"got {path.suffix or 'no suffix'!r}"
        )
    if shots is None:
        raise DatasetError(f"{path}: give the number of shots behind the counts (shots = N)")
    try:
        return HistogramData(edges, counts, shots, detector, dict(overrides or {}), name)
    except DatasetError as e:
        raise DatasetError(f"{path}: {str(e).removeprefix(name + ': ')}") from None


def load_efficiency_curve(
    path: str | os.PathLike,
    *,
    memory: str | None = None,
    overrides: Mapping[str, float] | None = None,
    name: str | None = None,
    quantity: str = "total",
    input: str | None = None,
    x_also=(),
) -> EfficiencyCurve:
    """An efficiency curve from a CSV file: x column (qualified name), efficiency[, _err];
    quantity, input and x_also as `EfficiencyCurve` has them."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() != ".csv":
        raise DatasetError(f"{path}: an efficiency curve is a .csv file, got {path.suffix!r}")
    header, rows = read_csv(path)
    if CURVE_Y not in header:
        raise DatasetError(
            f"{path}: missing column {CURVE_Y!r} (columns: {', '.join(header)}); an "
            f"efficiency curve has an x column named by a parameter, {CURVE_Y} and "
            f"optionally {CURVE_ERR}"
        )
    x_columns = [c for c in header if c not in (CURVE_Y, CURVE_ERR)]
    if len(x_columns) != 1:
        found = ", ".join(x_columns) if x_columns else "none"
        raise DatasetError(
            f"{path}: expected exactly one x column besides {CURVE_Y} and {CURVE_ERR}, "
            f"named by a qualified parameter such as memory.storage_time_ns; found {found}"
        )
    x_name = x_columns[0]
    if "." not in x_name:
        raise DatasetError(
            f"{path}: the x column {x_name!r} must be named by a qualified parameter, "
            f"'stage.field', e.g. memory.{x_name}"
        )
    err = rows[:, header.index(CURVE_ERR)] if CURVE_ERR in header else None
    name = name or path.stem
    try:
        return EfficiencyCurve(
            x_name,
            rows[:, header.index(x_name)],
            rows[:, header.index(CURVE_Y)],
            err,
            memory,
            dict(overrides or {}),
            name,
            quantity,
            input,
            x_also,
        )
    except DatasetError as e:
        raise DatasetError(f"{path}: {str(e).removeprefix(name + ': ')}") from None


def read_csv(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """(header, rows as float64 (n_rows, n_columns)) of a CSV file with `#` comments."""
    path = Path(path)
    _check_file(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            lines = [
                (i + 1, line)
                for i, line in enumerate(f)
                if line.strip() and line.lstrip()[0] != "#"
            ]
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read: {e.strerror}") from None
    if not lines:
        raise DatasetError(f"{path}: empty (no header line)")
    parsed = list(csv.reader(line for _, line in lines))
    header = [c.strip() for c in parsed[0]]
    if len(set(header)) != len(header) or not all(header):
        raise DatasetError(f"{path}: the header must name distinct columns, got {','.join(header)}")
    if len(parsed) < 2:
        raise DatasetError(f"{path}: no data rows after the header")
    rows = np.empty((len(parsed) - 1, len(header)))
    for r, (cells, (line_no, _)) in enumerate(zip(parsed[1:], lines[1:], strict=True)):
        if len(cells) != len(header):
            raise DatasetError(
                f"{path} line {line_no}: {len(cells)} values for {len(header)} columns"
            )
        for c, cell in enumerate(cells):
            try:
                rows[r, c] = float(cell)
            except ValueError:
                raise DatasetError(
                    f"{path} line {line_no}: {cell.strip()!r} in column {header[c]!r} is not a "
                    "number"
                ) from None
    return header, rows


# ----------------------------------------------------------------- checks
def check_uniform(edges: np.ndarray, label: str) -> float:
    """The bin width of evenly spaced edges; DatasetError naming the first bad bin if not."""
    if not np.all(np.isfinite(edges)):
        raise DatasetError(f"{label}: bin edges must be finite numbers")
    n = edges.size - 1
    width = (edges[-1] - edges[0]) / n
    if not width > 0 or np.any(np.diff(edges) <= 0):
        raise DatasetError(f"{label}: bins must be increasing in time")
    grid = edges[0] + width * np.arange(n + 1)
    off = np.abs(edges - grid) > UNIFORM_TOLERANCE * width
    if np.any(off):
        i = int(np.flatnonzero(off)[0])
        raise DatasetError(
            f"{label}: bins are not uniform: edge {i} is at {edges[i]:.9g} ns, expected "
            f"{grid[i]:.9g} ns for {n} bins of {width * 1e3:.6g} ps (fits need equal bins)"
        )
    return float(width)


def check_counts(counts: np.ndarray, edges: np.ndarray, label: str) -> None:
    bad = ~np.isfinite(counts)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{label}: count in bin {i} (at {edges[i]:.6g} ns) is not finite")
    negative = counts < 0
    if np.any(negative):
        i = int(np.flatnonzero(negative)[0])
        raise DatasetError(
            f"{label}: negative count {counts[i]:g} in bin {i} (starting at {edges[i]:.6g} ns)"
        )


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DatasetError(f"{path}: no such data file")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory, not a data file")


def _require_columns(path, header, required, allowed) -> None:
    missing = [c for c in required if c not in header]
    extra = [c for c in header if c not in allowed]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column{'s' if len(extra) > 1 else ''} {', '.join(extra)}")
        raise DatasetError(
            f"{path}: {'; '.join(parts)}; a histogram CSV has the header {','.join(required)}"
        )


def _edges_from_starts(path, starts: np.ndarray) -> np.ndarray:
    if starts.size < 2:
        raise DatasetError(f"{path}: needs at least 2 bins to infer the bin width")
    width = (starts[-1] - starts[0]) / (starts.size - 1)
    return np.append(starts, starts[-1] + width)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            missing = [k for k in ("bin_edges_ns", "counts") if k not in keys]
            if missing:
                raise DatasetError(
                    f"{path}: missing array{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)} (arrays: {', '.join(keys) or 'none'}); a histogram "
                    ".npz holds bin_edges_ns and counts"
                )
            return np.asarray(z["bin_edges_ns"]), np.asarray(z["counts"])
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 (zip, zlib, EOF, format: any failure is a bad file)
        why = " ".join(str(e).split()) or type(e).__name__
        raise DatasetError(f"{path}: not a readable .npz file ({why})") from None


def _is_photon_hdf5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "photon_data" in f
    except OSError:
        return False


def _read_tags(path: Path, detector, bin_ps, window_ns):
    """(edges_ns, counts, shots) of one channel of a time-tag file."""
    from photonmc.io.timetag_files import read_timetags

    if bin_ps is None or window_ns is None:
        raise DatasetError(f"{path}: a time-tag file needs bin_ps and window_ns for its histogram")
    bin_ps, window_ns = tag_histogram_options(path, bin_ps, window_ns)
    try:
        tags = read_timetags(path)
    except (ValueError, OSError) as e:
        raise DatasetError(" ".join(str(e).split())) from None
    if detector is None:
        channel = 0
    elif isinstance(detector, int) or str(detector).isdigit():
        channel = int(detector)
    elif detector in tags.channels:
        channel = list(tags.channels).index(detector)
    else:
        raise DatasetError(f"{path}: no channel {detector!r}; channels: {list(tags.channels)}")
    a, b = (1e3 * float(x) for x in window_ns)
    try:
        counts, edges_ps = tags.histogram(channel, float(bin_ps), (a, b))
    except ValueError as e:
        raise DatasetError(f"{path}: {' '.join(str(e).split())}") from None
    shots = None
    if tags.shot is not None and len(tags.shot):
        shots = int(tags.shot.max() - tags.shot.min() + 1)
    return np.asarray(edges_ps, np.float64) / 1e3, counts, shots


def tag_histogram_options(path, bin_ps, window_ns) -> tuple[float, tuple[float, float]]:
    """bin_ps (a number > 0, ps) and window_ns ([a, b], a < b, ns), checked."""

    def number(x) -> bool:
        return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)

    if not (number(bin_ps) and math.isfinite(float(bin_ps)) and float(bin_ps) > 0):
        raise DatasetError(f"{path}: bin_ps must be a number > 0 (ps), got {bin_ps!r}")
    ok = isinstance(window_ns, list | tuple) and len(window_ns) == 2
    ok = ok and all(number(x) and math.isfinite(float(x)) for x in window_ns)
    if not ok or not float(window_ns[0]) < float(window_ns[1]):
        raise DatasetError(
            f"{path}: window_ns must be [a, b] in ns, finite numbers with a < b, got {window_ns!r}"
        )
    return float(bin_ps), (float(window_ns[0]), float(window_ns[1]))


def _read_result(path: Path, detector: str | None):
    from photonmc.io.hdf5 import ResultFileError, read_result

    try:
        result = read_result(path)
    except (ResultFileError, OSError) as e:
        raise DatasetError(" ".join(str(e).split())) from None
    names = list(result.detectors)
    if detector is None:
        if len(names) != 1:
            raise DatasetError(f"{path}: holds detectors {', '.join(names)}; name one (detector)")
        detector = names[0]
    if detector not in result.detectors:
        raise DatasetError(f"{path}: no detector {detector!r}; detectors: {', '.join(names)}")
    d = result.detectors[detector]
    return d.bin_edges_ns, d.histogram(), int(result.shots), detector


def _edges_and_counts(edges, counts, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and counts as 1-D float arrays, with one more edge than counts."""
    edges = _float_array(edges, label, "bin_edges_ns")
    counts = _float_array(counts, label, "counts")
    if edges.ndim != 1 or counts.ndim != 1 or edges.size != counts.size + 1:
        raise DatasetError(
            f"{label}: bin_edges_ns must have one more entry than counts (1-D), got "
            f"shapes {edges.shape} and {counts.shape}"
        )
    return edges, counts


def _float_array(a, label: str, what: str) -> np.ndarray:
    """Real numbers as float64; complex, boolean, text or object arrays are refused."""
    try:
        raw = np.asarray(a)
    except (TypeError, ValueError):
        raise DatasetError(f"{label}: {what} must be numbers") from None
    if raw.dtype.kind == "c":
        raise DatasetError(f"{label}: {what} must be real numbers, got complex ({raw.dtype})")
    if raw.dtype.kind not in "iuf":
        if raw.dtype.kind != "O":
            raise DatasetError(f"{label}: {what} must be numbers, got {raw.dtype} values")
        if any(isinstance(v, bool | complex | np.complexfloating) for v in raw.ravel().tolist()):
            raise DatasetError(f"{label}: {what} must be real numbers")
    try:
        return np.array(raw, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise DatasetError(f"{label}: {what} must be numbers") from None


def _overrides(values, label: str) -> dict[str, float]:
    if not isinstance(values, Mapping):
        raise DatasetError(f"{label}: overrides (set) must be a table of parameter = number")
    out = {}
    for k, v in values.items():
        if not isinstance(k, str) or "." not in k:
            raise DatasetError(f"{label}: set: {k!r} is not a qualified parameter name")
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise DatasetError(f"{label}: set: {k} must be a number, got {v!r}")
        try:
            finite = math.isfinite(float(v))
        except OverflowError:
            finite = False
        if not finite:
            raise DatasetError(f"{label}: set: {k} must be a finite float64, got {v!r:.40}")
        out[k] = float(v)
    return out


# ------------------------------------------------------- correlation histograms
CORRELATION_COLUMNS = ("delay_ns", "counts")


@dataclasses.dataclass(frozen=True)
class CorrelationData:
    """A measured coincidence histogram of two detectors (kind "g2"): an HBT g2 histogram.

    bin_edges_ns: (n + 1,) delays t_b - t_a in ns, evenly spaced and symmetric about 0
    (-R .. R, as `photonmc correlate` writes them). counts: (n,) pairs per bin.
    detectors: the stage names of detectors a and b (None: the link's first two).
    shots: the shots behind the counts, or None to fit the shape only (the model is then
    scaled to the data's total). overrides, name: as for `HistogramData`.
    """

    bin_edges_ns: np.ndarray
    counts: np.ndarray
    detectors: tuple[str, str] | None = None
    shots: int | None = None
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)
    name: str = "g2"

    kind = "g2"

    def __post_init__(self):
        label = self.name
        edges, counts = _edges_and_counts(self.bin_edges_ns, self.counts, label)
        if counts.size < 2:
            raise DatasetError(f"{label}: a correlation histogram needs at least 2 bins")
        width = check_uniform(edges, label)
        if abs(edges[0] + edges[-1]) > UNIFORM_TOLERANCE * width:
            raise DatasetError(
                f"{label}: delays must run from -R to +R ns (symmetric about 0), got "
                f"[{edges[0]:g}, {edges[-1]:g}]"
            )
        check_counts(counts, edges, label)
        if self.shots is not None and not (
            isinstance(self.shots, int | np.integer) and self.shots >= 1
        ):
            raise DatasetError(f"{label}: shots must be a whole number >= 1, got {self.shots!r}")
        if self.detectors is not None and len(self.detectors) != 2:
            raise DatasetError(f"{label}: detectors must name two detectors, got {self.detectors}")
        object.__setattr__(self, "bin_edges_ns", edges)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "overrides", _overrides(self.overrides, label))

    @property
    def n_points(self) -> int:
        return int(self.counts.size)

    @property
    def bin_width_ns(self) -> float:
        return float((self.bin_edges_ns[-1] - self.bin_edges_ns[0]) / self.counts.size)


def load_correlation(
    path: str | os.PathLike,
    *,
    shots: int | None = None,
    detectors: tuple[str, str] | None = None,
    overrides: Mapping[str, float] | None = None,
    name: str | None = None,
) -> CorrelationData:
    """A coincidence histogram from a CSV `delay_ns,counts` (delay_ns the bin centres,
    evenly spaced) or from the HDF5 file of `photonmc correlate`."""
    path = Path(path)
    _check_file(path)
    name = name or path.stem
    suffix = path.suffix.lower()
    if suffix == ".csv":
        header, rows = read_csv(path)
        _require_columns(path, header, CORRELATION_COLUMNS, CORRELATION_COLUMNS)
        centres = rows[:, header.index("delay_ns")]
        counts = rows[:, header.index("counts")]
        if centres.size < 2:
            raise DatasetError(f"{path}: needs at least 2 bins to infer the bin width")
        width = (centres[-1] - centres[0]) / (centres.size - 1)
        edges = np.append(centres - width / 2, centres[-1] + width / 2)
    elif suffix in (".h5", ".hdf5"):
        from photonmc.io.correlation_hdf5 import read_correlation

        try:
            data = read_correlation(path)
        except ValueError as e:
            raise DatasetError(str(e)) from None
        edges, counts = data["bin_edges_ps"] * 1e-3, data["counts"]
    else:
        raise DatasetError(
            f"{path}: a g2 dataset is a CSV (delay_ns,counts) or a photonmc correlate .h5 "
            f"file, got {path.suffix or 'no suffix'!r}"
        )
    try:
        return CorrelationData(
            edges, counts, tuple(detectors) if detectors else None, shots, dict(overrides or {}),
            name,
        )  # fmt: skip
    except DatasetError as e:
        raise DatasetError(f"{path}: {str(e).removeprefix(name + ': ')}") from None


# ------------------------------------------------------------ HOM coincidences
HOM_DELAY, HOM_PARALLEL, HOM_ORTHOGONAL = (
    "delay_ns",
    "coincidences_parallel",
    "coincidences_orthogonal",
)


@dataclasses.dataclass(frozen=True)
class HOMData:
    """Centre-peak coincidences of a HOM measurement (kind "hom").

    delay_ns: (n,) the long arm's extra delay of each row (the interferometer's
    `delay_ns`; one row at 0 for a zero-delay measurement, several for a HOM dip).
    parallel: (n,) coincidences in the centre peak (delays within +- T_rep / 2) with the
    arms' photons in one polarisation; orthogonal: (n,) the same with orthogonal
    polarisations (the distinguishable reference), or None. detectors: the stage names
    of the two detectors (None: the link's first two). shots: the shots behind each count
    (each row and setting), or None to fit the shape only (the model is scaled to the
    data's total). overrides, name: as for `HistogramData`.
    """

    delay_ns: np.ndarray
    parallel: np.ndarray
    orthogonal: np.ndarray | None = None
    detectors: tuple[str, str] | None = None
    shots: int | None = None
    overrides: Mapping[str, float] = dataclasses.field(default_factory=dict)
    name: str = "hom"

    kind = "hom"

    def __post_init__(self):
        label = self.name
        delay = _float_array(self.delay_ns, label, HOM_DELAY)
        par = _float_array(self.parallel, label, HOM_PARALLEL)
        columns = [(HOM_DELAY, delay), (HOM_PARALLEL, par)]
        orth = None
        if self.orthogonal is not None:
            orth = _float_array(self.orthogonal, label, HOM_ORTHOGONAL)
            columns.append((HOM_ORTHOGONAL, orth))
        if delay.ndim != 1 or delay.size < 1 or any(a.shape != delay.shape for _, a in columns):
            raise DatasetError(
                f"{label}: {', '.join(n for n, _ in columns)} must be 1-D of one length >= 1, "
                f"got shapes {', '.join(str(a.shape) for _, a in columns)}"
            )
        for name, a in columns:
            bad = ~np.isfinite(a)
            if np.any(bad):
                i = int(np.flatnonzero(bad)[0])
                raise DatasetError(f"{label}: {name} is not a finite number in row {i + 1}")
        for name, a in columns[1:]:
            if np.any(a < 0):
                i = int(np.flatnonzero(a < 0)[0])
                raise DatasetError(f"{label}: {name} must be >= 0, got {a[i]:g} in row {i + 1}")
        if np.unique(delay).size != delay.size:
            raise DatasetError(f"{label}: two rows have the same {HOM_DELAY}; merge them")
        if self.shots is not None and not (
            isinstance(self.shots, int | np.integer)
            and not isinstance(self.shots, bool)
            and self.shots >= 1
        ):
            raise DatasetError(f"{label}: shots must be a whole number >= 1, got {self.shots!r}")
        if self.detectors is not None and len(self.detectors) != 2:
            raise DatasetError(f"{label}: detectors must name two detectors, got {self.detectors}")
        if self.shots is None and np.sum(par) + (0.0 if orth is None else np.sum(orth)) <= 0:
            raise DatasetError(f"{label}: no coincidences to fit a shape to (give shots)")
        object.__setattr__(self, "delay_ns", delay)
        object.__setattr__(self, "parallel", par)
        object.__setattr__(self, "orthogonal", orth)
        object.__setattr__(self, "overrides", _overrides(self.overrides, label))

    @property
    def n_points(self) -> int:
        return int(self.parallel.size * (1 if self.orthogonal is None else 2))


def load_hom(
    path: str | os.PathLike,
    *,
    shots: int | None = None,
    detectors: tuple[str, str] | None = None,
    overrides: Mapping[str, float] | None = None,
    name: str | None = None,
) -> HOMData:
    """HOM coincidences from a CSV `delay_ns,coincidences_parallel[,coincidences_orthogonal]`
    (one row per delay of the long arm; `#` comment lines allowed)."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() != ".csv":
        raise DatasetError(f"{path}: a hom dataset is a .csv file, got {path.suffix!r}")
    header, rows = read_csv(path)
    allowed = (HOM_DELAY, HOM_PARALLEL, HOM_ORTHOGONAL)
    missing = [c for c in (HOM_DELAY, HOM_PARALLEL) if c not in header]
    extra = [c for c in header if c not in allowed]
    if missing or extra:
        what = [f"missing {', '.join(missing)}"] if missing else []
        what += [f"unexpected {', '.join(extra)}"] if extra else []
        raise DatasetError(
            f"{path}: {'; '.join(what)}; a hom CSV has the header "
            f"{HOM_DELAY},{HOM_PARALLEL}[,{HOM_ORTHOGONAL}]"
        )
    orth = rows[:, header.index(HOM_ORTHOGONAL)] if HOM_ORTHOGONAL in header else None
    name = name or path.stem
    try:
        return HOMData(
            rows[:, header.index(HOM_DELAY)],
            rows[:, header.index(HOM_PARALLEL)],
            orth,
            tuple(detectors) if detectors else None,
            shots,
            dict(overrides or {}),
            name,
        )
    except DatasetError as e:
        raise DatasetError(f"{path}: {str(e).removeprefix(name + ': ')}") from None
