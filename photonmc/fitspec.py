"""Fit specs: the TOML file of `photonmc fit`, read into a `FitSpec`.

The config module's sibling for fits (it reads TOML the same way and raises the same
one-line `ConfigError`). Layout::

    config = "link.toml"            # the link, relative to this file
    free = ["qd.lifetime_ns", "memory.write_efficiency"]

    [[dataset]]                     # one table per dataset, at least one
    file = "run_tau1.csv"           # relative to this file
    kind = "histogram"              # or "efficiency_curve", or "g2" (a coincidence
                                    # histogram: CSV delay_ns,counts or correlate .h5;
                                    # detectors = ["a", "b"], shots optional), or
                                    # "hom" (CSV delay_ns,coincidences_parallel
                                    # [,coincidences_orthogonal]; as g2)
    shots = 10000000                # histograms: shots behind the counts (not for .h5)
    detector = "detector"           # histograms: the detector (default: the link's first)
    set = { "memory.storage_time_ns" = 1.0 }   # overrides for this dataset only
    # name = "tau1"                 # label in results and plots (default: file stem)
    # memory = "memory"             # efficiency curves: which memory (default: first)
    # quantity = "write"            # OrcaMemory curves: "total" (default), "write", "read"
    # input = "gaussian:0.44@0"     # OrcaMemory curves: the input, as `photonmc memory
                                    # --input` (default "source")
    # x_also = ["memory.read_energy_nj"]  # parameters that take the x value too

Histogram files: CSV `bin_start_ns,counts`, `.npz` (`bin_edges_ns`, `counts`) or a
photonmc HDF5 result; efficiency curves: CSV with an x column named by a qualified
parameter, `efficiency` and optionally `efficiency_err` (photonmc.io.datasets).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from photonmc.config import ConfigError, read_toml, suggest
from photonmc.io.datasets import (
    Dataset,
    DatasetError,
    load_correlation,
    load_efficiency_curve,
    load_histogram,
    load_hom,
)

TOP_KEYS = ("config", "free", "dataset")
DATASET_KEYS = {
    "histogram": ("file", "kind", "shots", "detector", "set", "name", "bin_ps", "window_ns"),
    "efficiency_curve": ("file", "kind", "set", "name", "memory", "quantity", "input", "x_also"),
    "g2": ("file", "kind", "shots", "detectors", "set", "name"),
    "hom": ("file", "kind", "shots", "detectors", "set", "name"),
}


@dataclasses.dataclass(frozen=True)
class FitSpec:
    """A resolved fit spec: the config file, the free names and the loaded datasets."""

    source: str
    config: str
    free: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    text: str


def load_fit_spec(path: str | os.PathLike) -> FitSpec:
    """Read a fit spec and every data file it names; ConfigError (one line) on mistakes."""
    label = os.fspath(path)
    text, raw = read_toml(path, "fit spec")

    def error(message: str) -> ConfigError:
        return ConfigError(_line(f"{label}: {message}"))

    _check_keys(error, "top level", raw, TOP_KEYS)
    for key in TOP_KEYS:
        if key not in raw:
            example = {
                "config": 'config = "link.toml"',
                "free": 'free = ["memory.lifetime_ns"]',
                "dataset": "[[dataset]] tables (file, kind, ...)",
            }[key]
            raise error(f"missing {key!r}; e.g. {example}")
    if not isinstance(raw["config"], str) or not raw["config"]:
        raise error(f"config must be a file name (a string), got {raw['config']!r}")
    free = raw["free"]
    if isinstance(free, str):
        free = [free]
    if not (isinstance(free, list) and free and all(isinstance(n, str) for n in free)):
        raise error(f"free must be a non-empty list of parameter names, got {raw['free']!r}")
    tables = raw["dataset"]
    if isinstance(tables, dict):
        raise error("datasets are an array of tables: write [[dataset]], not [dataset]")
    if not (isinstance(tables, list) and tables and all(isinstance(t, dict) for t in tables)):
        raise error("dataset must be an array of tables, [[dataset]], at least one")
    base = Path(path).parent
    datasets = []
    for i, table in enumerate(tables):
        datasets.append(_dataset(error, base, i, table))
    names = [d.name for d in datasets]
    for n in names:
        if names.count(n) > 1:
            raise error(f"two datasets are named {n!r}; give each a distinct name")
    return FitSpec(
        source=label,
        config=os.fspath(base / raw["config"]),
        free=tuple(free),
        datasets=tuple(datasets),
        text=text,
    )


def _dataset(error, base: Path, index: int, table: dict) -> Dataset:
    where = f"dataset #{index + 1}"
    kind = table.get("kind")
    if kind not in DATASET_KEYS:
        raise error(
            f"{where}: kind must be 'histogram', 'efficiency_curve', 'g2' or 'hom', got {kind!r}"
        )
    _check_keys(error, f"{where} ({kind})", table, DATASET_KEYS[kind])
    if "file" not in table or not isinstance(table["file"], str):
        raise error(f"{where}: missing file (a string, relative to the fit spec)")
    overrides = table.get("set", {})
    if not isinstance(overrides, dict):
        raise error(
            f'{where}: set must be a table, e.g. set = {{ "memory.storage_time_ns" = 1.0 }}'
        )
    for key, value in ((k, table.get(k)) for k in ("name", "detector", "memory")):
        if value is not None and not (isinstance(value, str) and value):
            raise error(f"{where}: {key} must be a non-empty string, got {value!r}")
    file = base / table["file"]
    try:
        if kind in ("g2", "hom"):
            shots, detectors = table.get("shots"), table.get("detectors")
            if shots is not None and not (
                isinstance(shots, int) and not isinstance(shots, bool) and shots >= 1
            ):
                raise error(f"{where}: shots must be a whole number >= 1, got {shots!r}")
            if detectors is not None and not (
                isinstance(detectors, list)
                and len(detectors) == 2
                and all(isinstance(n, str) for n in detectors)
            ):
                raise error(f'{where}: detectors must be two names, e.g. ["det_t", "det_r"]')
            load = load_correlation if kind == "g2" else load_hom
            return load(
                file, shots=shots, detectors=detectors, overrides=overrides, name=table.get("name")
            )
        if kind == "histogram":
            shots = table.get("shots")
            if shots is not None and not (
                isinstance(shots, int) and not isinstance(shots, bool) and shots >= 1
            ):
                raise error(f"{where}: shots must be a whole number >= 1, got {shots!r}")
            return load_histogram(
                file,
                shots=shots,
                detector=table.get("detector"),
                overrides=overrides,
                name=table.get("name"),
                bin_ps=table.get("bin_ps"),
                window_ns=table.get("window_ns"),
            )
        x_also = table.get("x_also", [])
        if isinstance(x_also, str):
            x_also = [x_also]
        if not (isinstance(x_also, list) and all(isinstance(n, str) for n in x_also)):
            raise error(f'{where}: x_also must be a list of names, e.g. ["memory.read_energy_nj"]')
        for key in ("quantity", "input"):
            if key in table and not (isinstance(table[key], str) and table[key]):
                raise error(f"{where}: {key} must be a non-empty string, got {table[key]!r}")
        return load_efficiency_curve(
            file,
            memory=table.get("memory"),
            overrides=overrides,
            name=table.get("name"),
            quantity=table.get("quantity", "total"),
            input=table.get("input"),
            x_also=tuple(x_also),
        )
    except DatasetError as e:
        raise error(f"{where}: {e}") from None


def _check_keys(error, where: str, table: dict, valid) -> None:
    for key in table:
        if key not in valid:
            hint = suggest(key, valid) or f"valid keys: {', '.join(valid)}"
            raise error(f"{where}: unknown key {key!r}; {hint}")


def _line(message: str) -> str:
    return " ".join(message.split("\n"))
