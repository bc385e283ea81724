"""Sweeps: a grid of parameter values, one compile, both modes."""

from __future__ import annotations

import math

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
