"""Sweeps: a grid of parameter values, one compile, both modes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import memory_link

import photonmc as pmc
import photonmc.analog as sim
from photonmc.sweep import grid_values, result_at


def test_grid_values():
    np.testing.assert_allclose(grid_values("0:5:51"), np.linspace(0, 5, 51))
    assert grid_values("2:2:1").tolist() == [2.0]
    for bad in ("0:5", "a:b:c", "0:5:0", "0:inf:3"):
        with pytest.raises(ValueError, match="start:stop:num|num >= 1|finite"):
            grid_values(bad)


def test_expected_sweep_of_storage_time_follows_the_decay():
    link = memory_link(storage=0.0, sd=0.0, feeding=0.0)
    taus = np.linspace(0.0, 3.0, 7)
    res = pmc.sweep(link, {"memory.storage_time_ns": taus}, 10_000, mode="expected")
    eta, err = res.figure("internal_efficiency")
    np.testing.assert_allclose(eta / eta[0], np.exp(-((taus / 1.1) ** 2)), rtol=1e-10)
    assert np.all(err > 0)
    # the same as separate runs
    one = pmc.simulate(link.set("memory.storage_time_ns", 1.5), 10_000, mode="expected")
    at = result_at(res, {"memory.storage_time_ns": 1.5})
    np.testing.assert_allclose(at.histogram(), one.histogram(), rtol=1e-9, atol=1e-9)


def test_two_parameter_analog_sweep_compiles_once_and_matches_single_runs():
    link = memory_link(sd=0.0, feeding=0.0)
    params = {"memory.write_time_ns": [0.5, 0.9, 1.3], "detector.dark_count_rate_hz": [1e3, 1e5]}
    res = pmc.sweep(link, params, 20_000, key=4, chunk_shots=4096)
    assert res.shape == (3, 2) and res.grid()["memory.write_time_ns"].shape == (3, 2)
    assert sim._analog_blocks._cache_size() >= 1
    before = sim._analog_blocks._cache_size()
    pmc.sweep(link, {"memory.write_time_ns": [0.7, 1.1]}, 20_000, key=5, chunk_shots=4096)
    assert sim._analog_blocks._cache_size() <= before + 1  # one plan for the whole grid
    darks = np.array([[r.detector().total("dark") for r in row] for row in res.results])
    assert np.all(darks[:, 1] > darks[:, 0])
    eta, err = res.figure("internal_efficiency")
    exp = pmc.sweep(link, params, 20_000, mode="expected")
    eta_e, _ = exp.figure("internal_efficiency")
    # without latent variables P_r is the same for every photon: the estimate is exact
    # up to float32 rounding, and its statistical error is 0
    assert np.all(np.abs(eta - eta_e) < 5 * err + 1e-6 * eta_e)
    assert math.isfinite(res.figure("snr")[0][0, 0])


def test_sweep_rejects_bad_values():
    link = memory_link()
    with pytest.raises(ValueError, match="write_efficiency must be in"):
        pmc.sweep(link, {"memory.write_efficiency": [0.5, 1.5]}, 100, mode="expected")
    with pytest.raises(KeyError, match="no parameter"):
        pmc.sweep(link, {"memory.colour": [1.0]}, 100, mode="expected")


def test_sweep_file_layout(tmp_path):
    import h5py

    from photonmc.io.sweep_hdf5 import write_sweep

    link = memory_link(sd=0.0, feeding=0.0)
    params = {"memory.storage_time_ns": [0.0, 1.0, 2.0], "memory.write_time_ns": [0.8, 1.0]}
    res = pmc.sweep(link, params, 5_000, mode="expected")
    path = write_sweep(res, tmp_path / "sweep.h5")
    with h5py.File(path) as f:
        assert f["grid/memory.storage_time_ns"].shape == (3, 2)
        assert f["summary/internal_efficiency/value"].shape == (3, 2)
        assert f["detectors/detector/by_origin/retrieved"].shape == (3, 2, link.tagger.n_bins)
        np.testing.assert_allclose(f["summary/snr/value"][()], res.figure("snr")[0])
        assert list(f.attrs["parameters"]) == list(params)
    with pytest.raises(FileExistsError, match="--force"):
        write_sweep(res, path)


def test_sweep_chunk_size_defaults_by_backend(monkeypatch):
    import sys

    sweep_module = sys.modules["photonmc.sweep"]  # photonmc.sweep the name is the function
    monkeypatch.setattr(sweep_module, "default_chunk_shots", lambda backend=None: 3072)
    link = memory_link(sd=0.0, feeding=0.0)
    res = pmc.sweep(link, {"memory.write_time_ns": [0.5, 0.9]}, 5_000, key=1)
    assert [r.chunk_shots for r in res.results.ravel()] == [3072, 3072]


# ------------------------------------------------ warnings: once per sweep, not per point
HBT_DEAD_TIME = """
[run]
shots = 1000
seed = 1
mode = "expected"

[[stage]]
type = "QuantumDot"
name = "qd"
rep_rate_mhz = 80.0
lifetime_ns = 0.6
mean_photon_number = 0.5

[[stage]]
type = "BeamSplitter"
name = "bs"

[[stage]]
type = "Detector"
name = "det_1"
branch = "bs.transmitted"
efficiency = 0.8
dead_time_ns = 20.0

[[stage]]
type = "Detector"
name = "det_2"
branch = "bs.reflected"
efficiency = 0.8
dead_time_ns = 20.0

[tagger]
bin_width_ps = 500.0
window_start_ns = -1.0
window_stop_ns = 9.0
"""


def warning_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("photonmc: warning:")]


def test_sweep_prints_each_warning_once_with_the_range_of_its_numbers(tmp_path, capsys):
    """Expected mode warns of dead time at every point; detector det_1's load changes with
    the swept efficiency (one line, its range), det_2's does not (one line, as it is)."""
    from photonmc import cli

    (tmp_path / "hbt.toml").write_text(HBT_DEAD_TIME)
    argv = ["sweep", str(tmp_path / "hbt.toml"), "--param", "det_1.efficiency=0.5:0.7:3",
            "--out", str(tmp_path / "s.h5")]  # fmt: skip
    assert cli.main(argv) == 0
    lines = warning_lines(capsys.readouterr().err)
    assert len(lines) == 2, lines
    one = next(line for line in lines if "'det_1'" in line)
    two = next(line for line in lines if "'det_2'" in line)
    # det_1: clicks per shot 0.25 mu eta... x 20 ns / 12.5 ns at eta = 0.5 and 0.7
    lo, hi = (float(x) for x in re.search(r"= ([\d.e+-]+)\.\.([\d.e+-]+) >", one).groups())
    load = 0.5 * 0.5 * 20.0 / 12.5  # mu x half the light x dead time / period, per eta
    assert lo == pytest.approx(0.5 * load, rel=2e-3) and hi == pytest.approx(0.7 * load, rel=2e-3)
    assert ".." not in two and "sweep points" not in one + two
    assert "> 0.01;" in one  # the threshold, the same at every point, stays a number


def test_sweep_and_the_hom_reference_run_repeat_no_warning(tmp_path, capsys, monkeypatch):
    """Warnings of analog points and of an HOM link's orthogonal reference run (a second
    run of `simulate`) are printed once: the same line at every point once, a line that
    differs in a number once with its range, a line of some points with their count."""
    import photonmc.simulation
    from photonmc import cli

    def notes(link, mode, counters, clicks_per_shot):
        mu = float(link.source.mean_photon_number)
        out = ["every run warns of this", f"the photon number is {mu:g} here"]
        return out + (["only the brightest point warns"] if mu > 0.75 else [])

    monkeypatch.setattr(photonmc.simulation, "run_warnings", notes)
    config = "/".join([*__file__.split("/")[:-2], "configs", "hom_qd.toml"])
    common = ["--shots", "2048", "--chunk-shots", "1024", "--set", "tagger.bin_width_ps=500"]
    out = str(tmp_path / "r.h5")
    assert cli.main(["simulate", config, *common, "--out", out]) == 0
    lines = warning_lines(capsys.readouterr().err)
    assert sorted(lines) == sorted(
        f"photonmc: warning: {m}"
        for m in ("every run warns of this", "the photon number is 0.8 here",
                  "only the brightest point warns")
    )  # fmt: skip
    argv = ["sweep", config, *common, "--param", "qd.mean_photon_number=0.6:0.8:3",
            "--out", str(tmp_path / "s.h5")]  # fmt: skip
    assert cli.main(argv) == 0
    lines = warning_lines(capsys.readouterr().err)
    assert lines == [
        "photonmc: warning: every run warns of this",
        "photonmc: warning: the photon number is 0.6..0.8 here",
        "photonmc: warning: only the brightest point warns (at 1 of 3 sweep points)",
    ]
