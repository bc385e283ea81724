"""The coincidence-histogram file of `photonmc correlate` (format = "photonmc.correlation").

photonmc's own small HDF5 layout (documented at `write_correlation`), written atomically;
reading a file of another kind raises `PhotonHDF5Error`.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from photonmc._version import __version__
from photonmc.io.atomic import atomic_path
from photonmc.io.hdf5 import check_writable
from photonmc.io.photon_hdf5 import PhotonHDF5Error, _attr, _one_line, _open
from photonmc.observables import Estimate


def write_correlation(
    path: str | os.PathLike,
    *,
    bin_edges_ps: np.ndarray,
    counts: np.ndarray,
    peak_delays_ps: np.ndarray,
    peak_counts: np.ndarray,
    g2_0: Estimate,
    attrs: dict[str, Any],
    force: bool = False,
) -> Path:
    """Write a coincidence histogram and its g2(0), atomically; returns the path.

    Layout (format = "photonmc.correlation", format_version = 1)::

        /                       attrs: format, format_version, photonmc_version,
                                created_utc, and `attrs` (source, channels,
                                channel_names, period_ps, bin_ps, range_ps, side_peaks)
        /bin_edges_ps           (n + 1,) float64 delays t_b - t_a in ps, bins [a, b)
        /counts                 (n,) int64 pairs per bin
        /peaks/delay_ps         (2K + 1,) float64 peak centres k * period
        /peaks/counts           (2K + 1,) int64 pairs within +- period / 2 of each
        /g2_0/value, /g2_0/stderr   float64 centre peak over mean side peak
    """
    path = Path(path)
    check_writable(path, force)
    with atomic_path(path) as tmp, h5py.File(tmp, "x", track_order=True) as f:
        f.attrs.update(
            {
                "format": "photonmc.correlation",
                "format_version": 1,
                "photonmc_version": __version__,
                "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            }
        )
        for key, value in attrs.items():
            f.attrs[key] = np.nan if value is None else value
        f["bin_edges_ps"] = np.asarray(bin_edges_ps, np.float64)
        f["counts"] = np.asarray(counts, np.int64)
        f["peaks/delay_ps"] = np.asarray(peak_delays_ps, np.float64)
        f["peaks/counts"] = np.asarray(peak_counts, np.int64)
        f["g2_0/value"] = np.float64(g2_0.value)
        f["g2_0/stderr"] = np.float64(g2_0.stderr)
    return path


def read_correlation(path: str | os.PathLike) -> dict[str, Any]:
    """A correlation file as a dict: bin_edges_ps, counts, peak_delays_ps, peak_counts,
    g2_0 (Estimate) and attrs."""
    path = Path(path)
    with _open(path, "photonmc correlation") as f:
        if f.attrs.get("format") != "photonmc.correlation":
            raise PhotonHDF5Error(f"{path}: not a photonmc correlation file")
        try:
            return {
                "bin_edges_ps": f["bin_edges_ps"][()],
                "counts": f["counts"][()],
                "peak_delays_ps": f["peaks/delay_ps"][()],
                "peak_counts": f["peaks/counts"][()],
                "g2_0": Estimate(float(f["g2_0/value"][()]), float(f["g2_0/stderr"][()])),
                "attrs": {k: _attr(v) for k, v in f.attrs.items()},
            }
        except (KeyError, TypeError, ValueError) as e:
            raise PhotonHDF5Error(f"{path}: damaged correlation file ({_one_line(e)})") from None
