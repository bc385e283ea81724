"""HDF5 files of fit results (`photonmc fit --out FIT.h5`), written atomically.

Layout (readable with plain h5py)::

    /                           attributes: format = "photonmc.fit", format_version = 1,
                                photonmc_version, created_utc, spec (the fit spec's text),
                                config_toml (the resolved link config)
    /result/...                 the `photonmc fit --json` object, key for key: a dict is a
                                group, a number a scalar, a bool a scalar bool, a string a
                                scalar string, null NaN, a list of numbers a 1-D float64
                                array, a list of strings a string array, a list of lists
                                (the correlation matrix) a 2-D float64 array
    /extra/...                  iterations, elapsed_s, condition_number, covariance (p x p,
                                NaN for degenerate parameters), degenerate (names)
    /datasets/<name>/           attributes kind, x_name, sigma_estimated, shots (histograms)
        x                       bin centres (ns) or the curve's x values
        bin_edges_ns            histograms only
        data, model, residuals  per bin or point (residuals: deviance residuals for
                                histograms, (data - model) / sigma for curves)
        sigma                   curves only: the error bars used (given or estimated)

`write_fit(tree, datasets, path)` takes plain values (the caller's `FitResult` turned into
dicts and arrays), so this module knows nothing of fitting. `read_fit(path)` gives the
same back as dicts of numpy values.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from photonmc._version import __version__
from photonmc.io.atomic import atomic_path, check_writable

FORMAT = "photonmc.fit"
FORMAT_VERSION = 1


class FitFileError(ValueError):
    """A file that is not a readable photonmc fit result."""


def write_fit(
    result: Mapping[str, Any],
    datasets: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    extra: Mapping[str, Any] | None = None,
    spec: str = "",
    config_toml: str = "",
    force: bool = False,
) -> Path:
    """Write a fit result atomically (temporary file, fsync, rename); returns the path.

    result: the JSON object of `photonmc fit --json`. datasets: per dataset a mapping with
    name, kind and arrays (x, data, model, residuals, optional bin_edges_ns, sigma) and
    scalars (x_name, sigma_estimated, shots). An existing file is replaced only with
    `force` (else FileExistsError, before anything is written).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name for the fit result")
    check_writable(path, force)
    with atomic_path(path) as tmp, h5py.File(tmp, "x", track_order=True) as f:
        f.attrs.update(
            {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "photonmc_version": __version__,
                "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "spec": spec,
                "config_toml": config_toml,
            }
        )
        _write_tree(f.create_group("result", track_order=True), result)
        _write_tree(f.create_group("extra", track_order=True), dict(extra or {}))
        group = f.create_group("datasets", track_order=True)
        for d in datasets:
            name = str(d["name"])
            if not name or "/" in name or name in (".", ".."):
                raise ValueError(f"a dataset named {name!r} cannot be an HDF5 group name")
            g = group.create_group(name, track_order=True)
            for key, value in d.items():
                if key == "name":
                    continue
                if value is None:
                    continue
                if isinstance(value, np.ndarray):
                    g[key] = np.asarray(value, np.float64)
                else:
                    g.attrs[key] = value
    return path


def read_fit(path: str | os.PathLike) -> dict:
    """{"attrs", "result", "extra", "datasets"} of a fit file, as plain values."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise FitFileError(f"{path}: not an HDF5 file")
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise FitFileError(f"{path}: not a photonmc fit result (no format = {FORMAT!r})")
        return {
            "attrs": {k: _plain(v) for k, v in f.attrs.items()},
            "result": _read_tree(f["result"]),
            "extra": _read_tree(f["extra"]),
            "datasets": {
                name: {
                    **{k: _plain(v) for k, v in g.attrs.items()},
                    **{k: ds[()] for k, ds in g.items()},
                }
                for name, g in f["datasets"].items()
            },
        }


def _write_tree(group: h5py.Group, tree: Mapping[str, Any]) -> None:
    for key, value in tree.items():
        name = str(key)
        if not name or "/" in name:
            raise ValueError(f"{name!r} cannot be an HDF5 name")
        if isinstance(value, Mapping):
            _write_tree(group.create_group(name, track_order=True), value)
        elif isinstance(value, bool | np.bool_):
            group[name] = np.bool_(value)
        elif isinstance(value, str):
            group[name] = value
        elif value is None:
            group[name] = np.float64(np.nan)
        elif isinstance(value, list | tuple | np.ndarray):
            items = list(value)
            if items and all(isinstance(v, str) for v in items):
                group[name] = np.array(items, dtype=h5py.string_dtype())
            elif not items and isinstance(value, list | tuple):
                group.create_dataset(name, shape=(0,), dtype=h5py.string_dtype())
            else:
                group[name] = np.asarray(
                    [[np.nan if v is None else v for v in row] for row in items]
                    if items and isinstance(items[0], list | tuple)
                    else [np.nan if v is None else v for v in items],
                    np.float64,
                )
        elif isinstance(value, int | np.integer):
            group[name] = np.int64(value)
        else:
            group[name] = np.float64(value)


def _read_tree(group: h5py.Group) -> dict:
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_tree(item)
        elif h5py.check_string_dtype(item.dtype) is not None:
            value = item.asstr()[()]
            out[key] = list(value) if item.ndim else value
        else:
            out[key] = _plain(item[()])
    return out


def _plain(x):
    if isinstance(x, bytes):
        return x.decode()
    if isinstance(x, np.ndarray) and x.ndim:
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    return x
