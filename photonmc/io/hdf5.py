"""HDF5 result files: `write_result` and `read_result` (only photonmc.io imports h5py).

Layout (readable with plain h5py; groups keep insertion order)::

    /                                   attributes: format = "photonmc.result",
                                        format_version = 1, shots, seed (-1 when the run
                                        was given a key, not a seed), mode, chunk_shots,
                                        prng_impl, config_toml (the resolved config),
                                        photonmc_version, jax_version, jaxlib_version,
                                        numpy_version, backend, created_utc (ISO 8601),
                                        elapsed_s (the simulation, compilation
                                        excluded), compile_s, fixed_delay_ns
    /detectors/<name>/bin_edges_ns      (n_bins + 1,) float64, histogram time in ns
    /detectors/<name>/counts            (n_bins,) in-window clicks, all origins summed
    /detectors/<name>/by_origin/<o>     (n_bins,) in-window clicks of origin o, for o in
                                        source, retrieved, memory_noise, dark
    /detectors/<name>/totals_by_origin  (n_origins,) every click, in the window or not;
                                        attribute `origins` names the entries
    /memory/<name>/<sum>                float64 scalars x, y, z, xx, yy, zz, xy, xz: sums
                                        over signal photons (photonmc.stages.memory)
    /counters/<name>                    other run counters (int64 or float64 scalars)
    /correlations/<a>,<b>/...           links with several detectors (photonmc simulate):
                                        the coincidence histogram of detectors a and b,
                                        delays t_b - t_a: bin_edges_ns (n + 1,), counts
                                        (n,), peaks/delay_ns and peaks/counts (2K + 1,)
                                        the peak centres and areas (pairs within +-
                                        period / 2); attributes detector_a, detector_b
    /summary/...                        everything `photonmc show` prints, as below

Counts are int64 in analog results and float64 (expected counts over all shots) in
expected results.

/summary mirrors `Result.summary()` key for key: a dict is a group, a number a scalar
dataset, a string a scalar string dataset, a list a 1-D float64 dataset. A figure with
an error (efficiency, clicks_per_shot, internal_efficiency, leak_through, snr,
leak_in_window) is a group of two float64 scalars, `value` and `stderr`. A figure that
is +inf (an SNR without noise counts) or undefined (internal efficiency and leak-through
when no photon reached the memory) has no value: `value` and `stderr` are empty datasets
(h5py.Empty, None in the summary), and the group holds a boolean `infinite` or
`undefined` (analog SNRs also `lower_bound_95`); no figure is NaN. `retrieval_window_ns`
is NaN for a link without a memory; `seed` is -1 when there was none.
`shots` and `seed` are int64; in analog results the counts (photons_emitted, the
detector counts and totals) are int64 too; every other number is float64.
`read_summary` gives the dict back.

Files are written atomically: into a temporary file in the target's directory, fsynced,
then renamed over the target, so a failure leaves no partial file and any earlier file
intact. An existing file is overwritten only with `force=True`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from photonmc._version import __version__
from photonmc.batch import ORIGINS
from photonmc.io.atomic import atomic_path
from photonmc.io.atomic import check_writable as check_writable
from photonmc.observables import Estimate
from photonmc.result import DetectorCounts, PairCorrelation, Result

FORMAT = "photonmc.result"
FORMAT_VERSION = 1
#: Summary keys stored as int64 in every result
_INT_KEYS = ("shots", "seed")
#: Summary keys (and everything under them) stored as int64 in analog results
_COUNT_KEYS = ("photons_emitted", "counts", "total_clicks", "by_origin", "total_by_origin")


#: Two-photon figures of /summary read back into Result.photon_statistics
PHOTON_FIGURES = ("g2_0", "hom_visibility", "indistinguishability")


class ResultFileError(ValueError):
    """A file that is not a readable photonmc result; the message names the file."""


# ------------------------------------------------------------------- writing
def write_result(result: Result, path: str | os.PathLike, force: bool = False) -> Path:
    """Write `result` to `path` (HDF5, layout above), atomically; returns the path.

    Raises FileExistsError if `path` exists and `force` is false (before writing
    anything), FileNotFoundError if its directory does not exist.
    """
    path = Path(path)
    check_writable(path, force)
    with atomic_path(path) as tmp, h5py.File(tmp, "x", track_order=True) as f:
        _write_attributes(f, result)
        _write_detectors(f, result)
        _write_memory_and_counters(f, result)
        _write_correlations(f, result)
        _write_summary(f, result)
    return path


def file_format(path: str | os.PathLike) -> str | None:
    """The `format` attribute of a photonmc HDF5 file ("photonmc.result", "photonmc.sweep",
    "photonmc.correlation", "photonmc.fit"), or None for any other file."""
    path = Path(path)
    try:
        if not path.is_file() or not h5py.is_hdf5(path):
            return None
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
    except OSError:  # damaged: the reader of results says so, naming the file
        return None
    return str(fmt) if fmt is not None else None


def _write_attributes(f: h5py.File, r: Result) -> None:
    versions = {"photonmc": __version__, **r.versions}
    if "jax" not in versions:
        import jax

        versions["jax"] = jax.__version__
    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "shots": np.int64(r.shots),
        "seed": np.int64(-1 if r.seed is None else r.seed),
        "mode": r.mode,
        "chunk_shots": np.int64(r.chunk_shots),
        "prng_impl": r.prng_impl,
        "config_toml": r.config_toml,
        "created_utc": r.created_utc,
        "elapsed_s": np.float64(r.elapsed_s),
        "compile_s": np.float64(r.compile_s),
        "fixed_delay_ns": np.float64(r.fixed_delay_ns),
    }
    for key, value in versions.items():
        attrs[key if key == "backend" else f"{key}_version"] = str(value)
    f.attrs.update(attrs)


def _count_dtype(r: Result):
    return np.int64 if r.analog else np.float64


def _write_detectors(f: h5py.File, r: Result) -> None:
    group = f.create_group("detectors", track_order=True)
    dtype = _count_dtype(r)
    for name, d in r.detectors.items():
        g = group.create_group(_h5_name(name, "detector"), track_order=True)
        g["bin_edges_ns"] = np.asarray(d.bin_edges_ns, np.float64)
        counts = np.asarray(d.counts)
        g["counts"] = counts.sum(axis=0).astype(dtype)
        by_origin = g.create_group("by_origin", track_order=True)
        for i, origin in enumerate(ORIGINS):
            by_origin[origin] = counts[i].astype(dtype)
        g["totals_by_origin"] = np.asarray(d.totals).astype(dtype)
        g["totals_by_origin"].attrs["origins"] = list(ORIGINS)


def _write_memory_and_counters(f: h5py.File, r: Result) -> None:
    memory = f.create_group("memory", track_order=True)
    for name, sums in r.memory_sums.items():
        g = memory.create_group(_h5_name(name, "memory"), track_order=True)
        for key, value in sums.items():
            g[key] = np.float64(value)
    counters = f.create_group("counters", track_order=True)
    for name, value in r.counters.items():
        is_int = isinstance(value, int | np.integer) and not isinstance(value, bool)
        counters[_h5_name(name, "counter")] = np.int64(value) if is_int else np.float64(value)


def _write_correlations(f: h5py.File, r: Result) -> None:
    if not r.correlations:
        return
    group = f.create_group("correlations", track_order=True)
    for name, c in r.correlations.items():
        g = group.create_group(_h5_name(name, "detector pair"), track_order=True)
        g.attrs["detector_a"], g.attrs["detector_b"] = c.detector_a, c.detector_b
        g["bin_edges_ns"] = np.asarray(c.bin_edges_ns, np.float64)
        g["counts"] = np.asarray(c.counts).astype(_count_dtype(r))
        g["peaks/delay_ns"] = np.asarray(c.peak_delays_ns, np.float64)
        g["peaks/counts"] = np.asarray(c.peak_counts).astype(_count_dtype(r))


def _read_correlations(f: h5py.File) -> dict:
    out = {}
    for name, g in f.get("correlations", {}).items():
        out[name] = PairCorrelation(
            str(g.attrs["detector_a"]),
            str(g.attrs["detector_b"]),
            g["bin_edges_ns"][()],
            g["counts"][()],
            g["peaks/delay_ns"][()],
            g["peaks/counts"][()],
        )
    return out


def _read_photon_statistics(summary: dict) -> dict:
    out: dict[str, Any] = {}
    for key in PHOTON_FIGURES:
        value = summary.get(key)
        if isinstance(value, dict):
            v, e = value.get("value"), value.get("stderr")
            out[key] = Estimate(
                float("nan") if v is None else float(v), float("nan") if e is None else float(e)
            )
    if out and isinstance(summary.get("notes"), dict):
        out["notes"] = summary["notes"]
    return out


def _write_summary(f: h5py.File, r: Result) -> None:
    summary = r.summary()
    if summary["seed"] is None:
        summary["seed"] = -1
    _write_tree(f.create_group("summary", track_order=True), summary, analog=r.analog)


def _write_tree(group: h5py.Group, tree: dict, *, analog: bool, counts: bool = False) -> None:
    for key, value in tree.items():
        name = _h5_name(key, "summary key")
        is_count = counts or (analog and key in _COUNT_KEYS)
        if isinstance(value, dict):
            sub = group.create_group(name, track_order=True)
            _write_tree(sub, value, analog=analog, counts=is_count)
        elif isinstance(value, str):
            group[name] = value
        elif isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
            group[name] = np.array(value, dtype=h5py.string_dtype())
        elif isinstance(value, list | tuple):
            group[name] = np.asarray(value, np.float64)
        elif value is None and key == "retrieval_window_ns":
            group[name] = np.float64(np.nan)  # no memory, no window (format version 1)
        elif value is None:
            group[name] = h5py.Empty("f8")  # no value (an undefined figure), never NaN
        elif isinstance(value, bool | np.bool_):
            group[name] = np.bool_(value)
        elif key in _INT_KEYS or is_count:
            group[name] = np.int64(value)
        else:
            group[name] = np.float64(value)


def _h5_name(name: str, what: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"a {what} named {name!r} cannot be an HDF5 name (no '/', not empty)")
    return name


# ------------------------------------------------------------------- reading
def read_result(path: str | os.PathLike) -> Result:
    """Read a result written by `write_result`. `link` is None; every other field is equal.

    Raises FileNotFoundError for a missing file and ResultFileError (a ValueError) for a
    file that is not a complete photonmc result.
    """
    with _open(path) as f:
        try:
            return _read(f)
        except (KeyError, TypeError, ValueError) as e:
            raise ResultFileError(f"{path}: incomplete or damaged photonmc result ({e})") from None


def read_summary(path: str | os.PathLike) -> dict:
    """The /summary group as the dict `Result.summary()` gave when the file was written."""
    with _open(path) as f:
        if "summary" not in f:
            raise ResultFileError(f"{path}: no /summary group")
        summary = _read_tree(f["summary"])
    if summary.get("seed") == -1:
        summary["seed"] = None
    return summary


@contextlib.contextmanager
def _open(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ResultFileError(f"{path} is a directory, not a result file")
    if not h5py.is_hdf5(path):
        raise ResultFileError(f"{path}: not an HDF5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ResultFileError(
            f"{path}: unreadable HDF5 file, truncated or damaged ({' '.join(str(e).split())})"
        ) from None
    with f, _damaged_as_error(path):
        fmt = f.attrs.get("format")
        if fmt != FORMAT:
            raise ResultFileError(f"{path}: not a photonmc result (no format = {FORMAT!r})")
        try:
            version = int(f.attrs.get("format_version", 0))
        except (TypeError, ValueError):
            raise ResultFileError(f"{path}: damaged result (format_version)") from None
        if version > FORMAT_VERSION:
            raise ResultFileError(
                f"{path}: result format {version} is newer than this photonmc reads "
                f"({FORMAT_VERSION}); upgrade photonmc"
            )
        yield f


@contextlib.contextmanager
def _damaged_as_error(path):
    try:
        yield
    except ResultFileError:
        raise
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, AttributeError) as e:
        why = " ".join(str(e).split()) or type(e).__name__
        raise ResultFileError(f"{path}: incomplete or damaged photonmc result ({why})") from None


def _read(f: h5py.File) -> Result:
    a = f.attrs
    mode = str(a["mode"])
    analog = mode == "analog"
    detectors = {}
    for name, g in f["detectors"].items():
        counts = np.stack([g["by_origin"][o][()] for o in ORIGINS])
        edges, totals = g["bin_edges_ns"][()], g["totals_by_origin"][()]
        _check_detector(name, edges, counts, totals)
        detectors[name] = DetectorCounts(
            name=name, bin_edges_ns=edges, counts=counts, totals=totals
        )
    memory_sums = {
        name: {key: float(ds[()]) for key, ds in g.items()} for name, g in f["memory"].items()
    }
    counters = {name: _scalar(ds[()]) for name, ds in f["counters"].items()}
    emitted = f["summary"]["photons_emitted"][()]
    window = np.asarray(f["summary"]["retrieval_window_ns"][()], np.float64)
    versions = {}
    for key, value in a.items():
        if key == "backend":
            versions[key] = str(value)
        elif key.endswith("_version") and key != "format_version":
            versions[key.removesuffix("_version")] = str(value)
    seed = int(a["seed"])
    summary = _read_tree(f["summary"])
    return Result(
        mode=mode,
        shots=int(a["shots"]),
        seed=None if seed == -1 else seed,
        chunk_shots=int(a["chunk_shots"]),
        prng_impl=str(a["prng_impl"]),
        detectors=detectors,
        photons_emitted=int(emitted) if analog else float(emitted),
        memory_sums=memory_sums,
        fixed_delay_ns=float(a["fixed_delay_ns"]),
        retrieval_window_ns=None if window.shape != (2,) else (float(window[0]), float(window[1])),
        elapsed_s=float(a["elapsed_s"]),
        compile_s=float(a.get("compile_s", np.nan)),
        config_toml=str(a["config_toml"]),
        versions=versions,
        created_utc=str(a["created_utc"]),
        counters=counters,
        warnings=list(summary.get("warnings", [])),
        link=None,
        correlations=_read_correlations(f),
        photon_statistics=_read_photon_statistics(summary),
    )


def _check_detector(name: str, edges, counts, totals) -> None:
    """The arrays of one detector are what write_result writes (a damaged file is not)."""
    edges, counts, totals = (np.asarray(a) for a in (edges, counts, totals))
    problem = None
    if edges.ndim != 1 or edges.size < 2 or counts.shape != (len(ORIGINS), edges.size - 1):
        problem = "histogram shapes do not match"
    elif totals.shape != (len(ORIGINS),):
        problem = "totals_by_origin has the wrong shape"
    elif not (np.all(np.isfinite(edges)) and np.all(np.diff(edges) > 0)):
        problem = "bin edges are not finite and increasing"
    elif not all(np.all(np.isfinite(a)) and np.all(a >= 0) for a in (counts, totals)):
        problem = "counts are not finite and >= 0"
    if problem:
        raise ValueError(f"detector {name!r}: {problem}")


def _read_tree(group: h5py.Group) -> dict:
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_tree(item)
        elif h5py.check_string_dtype(item.dtype) is not None:
            value = item.asstr()[()]
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        elif item.shape is None:  # an empty dataset: no value
            out[key] = None
        elif item.dtype == np.bool_:
            out[key] = bool(item[()])
        elif item.ndim == 1:
            out[key] = item[()].tolist()
        else:
            value = _scalar(item[()])
            out[key] = None if isinstance(value, float) and np.isnan(value) else value
    return out


def _scalar(x) -> int | float:
    return int(x) if np.issubdtype(np.asarray(x).dtype, np.integer) else float(x)
