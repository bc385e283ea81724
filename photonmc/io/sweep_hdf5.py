"""HDF5 files of parameter sweeps (`photonmc sweep --out`), written atomically.

Layout (readable with plain h5py)::

    /                                   attributes as in a result file (mode, shots,
                                        seed, chunk_shots, prng_impl, config_toml,
                                        versions, created_utc), plus `parameters`, the
                                        swept names in grid-axis order
    /grid/<parameter>                   the parameter's value at every point, an array of
                                        the grid's shape (outer product of the axes)
    /axes/<parameter>                   the parameter's values along its axis (1-D)
    /summary/<figure>/value, /stderr    each summary figure at every point, arrays of
                                        the grid's shape (NaN where undefined)
    /detectors/<name>/bin_edges_ns      (n_bins + 1,) histogram time in ns
    /detectors/<name>/by_origin/<o>     (*grid, n_bins) in-window counts per point
    /detectors/<name>/totals_by_origin  (*grid, n_origins) every click per point

Counts are int64 in analog sweeps and float64 in expected ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from photonmc.batch import ORIGINS
from photonmc.io.atomic import atomic_path
from photonmc.io.hdf5 import check_writable


def write_sweep(sweep, path: str | os.PathLike, force: bool = False) -> Path:
    """Write a `photonmc.sweep.SweepResult` to `path` (layout above); returns the path."""
    path = Path(path)
    check_writable(path, force)
    first = sweep.results.flat[0]
    with atomic_path(path) as tmp, h5py.File(tmp, "x", track_order=True) as f:
        f.attrs.update(
            {
                "format": "photonmc.sweep",
                "mode": sweep.mode,
                "shots": np.int64(sweep.shots),
                "seed": np.int64(-1 if sweep.seed is None else sweep.seed),
                "chunk_shots": np.int64(first.chunk_shots),
                "prng_impl": first.prng_impl,
                "config_toml": first.config_toml,
                "created_utc": first.created_utc,
                "parameters": np.array(sweep.names, dtype=h5py.string_dtype()),
                **{
                    f"{k}_version" if k != "backend" else k: str(v)
                    for k, v in first.versions.items()
                },
            }
        )
        for name, values in sweep.grid().items():
            f.create_dataset(f"grid/{name}", data=values)
        for name, axis in zip(sweep.names, sweep.axes, strict=True):
            f.create_dataset(f"axes/{name}", data=axis)
        for figure, (value, stderr) in sweep.figures().items():
            f.create_dataset(f"summary/{figure}/value", data=value)
            f.create_dataset(f"summary/{figure}/stderr", data=stderr)
        dtype = np.int64 if sweep.mode == "analog" else np.float64
        for det in first.detectors:
            g = f.create_group(f"detectors/{det}")
            g["bin_edges_ns"] = first.detector(det).bin_edges_ns
            counts = np.stack([r.detector(det).counts for r in sweep.results.flat])
            totals = np.stack([r.detector(det).totals for r in sweep.results.flat])
            for i, origin in enumerate(ORIGINS):
                g[f"by_origin/{origin}"] = counts[:, i].reshape(*sweep.shape, -1).astype(dtype)
            g["totals_by_origin"] = totals.reshape(*sweep.shape, -1).astype(dtype)
    return path


class SweepFile:
    """What `read_sweep` gives back for plotting: names, axes, figures(), mode, shots, seed
    and config_toml, as `photonmc.sweep.SweepResult` has them."""

    def __init__(self, names, axes, figures, mode, shots, seed, config_toml):
        self.names, self.axes, self._figures = tuple(names), tuple(axes), figures
        self.mode, self.shots, self.seed, self.config_toml = mode, shots, seed, config_toml

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    def figures(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return dict(self._figures)


def read_sweep(path: str | os.PathLike) -> SweepFile:
    """The axes and summary figures of a sweep file (histograms are left on disk)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "photonmc.sweep":
            raise ValueError(f"{path}: not a photonmc sweep file")
        names = [str(n) for n in f.attrs["parameters"]]
        axes = [f[f"axes/{n}"][()] for n in names]
        figures = {k: (g["value"][()], g["stderr"][()]) for k, g in f["summary"].items()}
        seed = int(f.attrs["seed"])
        return SweepFile(
            names,
            axes,
            figures,
            str(f.attrs["mode"]),
            int(f.attrs["shots"]),
            None if seed == -1 else seed,
            str(f.attrs.get("config_toml", "")),
        )
