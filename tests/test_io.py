"""HDF5 results: the layout of the contract, round trips, atomic writes, bad files."""

from __future__ import annotations

import dataclasses
import math

import h5py
import numpy as np
import pytest
from test_config import BASE

import photonmc as pmc
from photonmc.config import load_config
from photonmc.io import ResultFileError, hdf5, read_result, read_summary, write_result

SHOTS, CHUNK = 20_000, 4096


def fake_result(mode: str) -> pmc.Result:
    """A result with the structure `simulate` gives, without running the engine."""
    rng = np.random.default_rng(1)
    edges = -2.0 + 0.05 * np.arange(201)
    if mode == "analog":
        counts = rng.poisson([[5.0], [20.0], [3.0], [1.0]], size=(4, 200)).astype(np.int64)
        totals = counts.sum(axis=1) + np.array([7, 0, 2, 30], np.int64)
        emitted, counters = 10_123, {"memory.noise_truncated": 0}
    else:
        counts = rng.uniform(0.0, 20.0, size=(4, 200))
        totals = counts.sum(axis=1) + 1.5
        emitted, counters = 10_000.0, {}
    sums = {
        "x": 812.5,
        "y": 101.25,
        "z": 350.0,
        "xx": 812.5,
        "yy": 20.5,
        "zz": 300.0,
        "xy": 101.25,
        "xz": 350.0,
    }
    return pmc.Result(
        mode=mode,
        shots=SHOTS,
        seed=7,
        chunk_shots=CHUNK,
        prng_impl="threefry2x32",
        detectors={"detector": pmc.DetectorCounts("detector", edges, counts, totals)},
        photons_emitted=emitted,
        memory_sums={"memory": sums},
        fixed_delay_ns=4897.0,
        retrieval_window_ns=(1.1, 2.7),
        elapsed_s=0.25,
        config_toml="[run]\nshots = 20000\n",
        versions={
            "photonmc": pmc.__version__,
            "jax": "0.10.2",
            "jaxlib": "0.10.2",
            "numpy": np.__version__,
            "backend": "cpu",
        },
        created_utc="2025-01-01T00:00:00+00:00",
        counters=counters,
    )


@pytest.fixture(scope="module")
def analog() -> pmc.Result:
    return fake_result("analog")


@pytest.fixture(scope="module")
def expected() -> pmc.Result:
    return fake_result("expected")


def no_memory(result: pmc.Result) -> pmc.Result:
    """The same result as a link without a memory would report it."""
    return dataclasses.replace(result, memory_sums={}, retrieval_window_ns=None, seed=None)


def assert_same_result(a: pmc.Result, b: pmc.Result) -> None:
    for f in dataclasses.fields(pmc.Result):
        if f.name in ("detectors", "link"):
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float) and math.isnan(x):
            assert math.isnan(y), f.name
        else:
            assert x == y, f.name
            assert type(x) is type(y), f.name
    assert list(a.detectors) == list(b.detectors)
    for name, d in a.detectors.items():
        e = b.detectors[name]
        for field in ("bin_edges_ns", "counts", "totals"):
            x, y = getattr(d, field), getattr(e, field)
            assert x.dtype == y.dtype and x.shape == y.shape, field
            assert np.array_equal(x, y), field
    assert a.summary() == b.summary()


@pytest.mark.parametrize("which", ["analog", "expected", "no_memory"])
def test_round_trip(tmp_path, request, which):
    result = request.getfixturevalue("analog" if which == "no_memory" else which)
    if which == "no_memory":
        result = no_memory(result)
    path = write_result(result, tmp_path / "r.h5")
    back = read_result(path)
    assert back.link is None
    assert_same_result(result, back)
    assert read_summary(path) == result.summary()


@pytest.mark.parametrize("mode", ["analog", "expected"])
def test_round_trip_of_a_run(tmp_path, mode):
    # The link of the CLI tests, so that the compiled run is shared with them
    link = load_config(BASE).link
    result = pmc.simulate(link, SHOTS, 7, mode, chunk_shots=CHUNK, config_toml="x = 1\n")
    back = read_result(write_result(result, tmp_path / "r.h5"))
    assert_same_result(result, back)


def test_layout_with_plain_h5py(tmp_path, analog):
    write_result(analog, tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        a = f.attrs
        for key in (
            "shots",
            "seed",
            "mode",
            "chunk_shots",
            "prng_impl",
            "config_toml",
            "photonmc_version",
            "jax_version",
            "jaxlib_version",
            "backend",
            "created_utc",
            "elapsed_s",
            "fixed_delay_ns",
        ):
            assert key in a, key
        assert (a["shots"], a["seed"], a["mode"], a["chunk_shots"]) == (SHOTS, 7, "analog", CHUNK)
        assert a["config_toml"] == analog.config_toml
        assert a["photonmc_version"] == pmc.__version__

        d = analog.detector()
        g = f["detectors"][d.name]
        assert np.array_equal(g["bin_edges_ns"][()], d.bin_edges_ns)
        assert g["counts"].dtype == np.int64 and g["counts"].shape == (len(d.bin_edges_ns) - 1,)
        assert np.array_equal(g["counts"][()], d.histogram())
        assert list(g["by_origin"]) == ["source", "retrieved", "memory_noise", "dark"]
        for origin in pmc.ORIGINS:
            assert g["by_origin"][origin].dtype == np.int64
            assert np.array_equal(g["by_origin"][origin][()], d.histogram(origin))
        assert list(g["totals_by_origin"].attrs["origins"]) == list(pmc.ORIGINS)
        assert np.array_equal(g["totals_by_origin"][()], d.totals)
        assert g["totals_by_origin"][()].sum() >= g["counts"][()].sum()

        s = f["summary"]
        assert s["photons_emitted"][()] == analog.photons_emitted
        assert s["shots"].dtype == np.int64
        for figure in ("efficiency", "internal_efficiency", "leak_through", "snr"):
            assert set(s[figure]) == {"value", "stderr"}
            assert s[figure]["value"].shape == () and s[figure]["value"].dtype == np.float64
        assert s["snr"]["value"][()] == analog.snr().value
        assert np.allclose(s["retrieval_window_ns"][()], analog.retrieval_window_ns)
        assert s["detectors"][d.name]["total_clicks"][()] == d.total()
        assert set(f["memory"]["memory"]) == {"x", "y", "z", "xx", "yy", "zz", "xy", "xz"}


def test_expected_counts_are_float64(tmp_path, expected):
    write_result(expected, tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        g = f["detectors"]["detector"]
        assert g["counts"].dtype == np.float64
        assert g["by_origin"]["retrieved"].dtype == np.float64
        assert f["summary"]["photons_emitted"].dtype == np.float64


def test_seed_none_is_minus_one(tmp_path, analog):
    write_result(no_memory(analog), tmp_path / "r.h5")
    with h5py.File(tmp_path / "r.h5", "r") as f:
        assert f.attrs["seed"] == -1
        assert f["summary"]["seed"][()] == -1
        assert np.isnan(f["summary"]["retrieval_window_ns"][()])
    assert read_result(tmp_path / "r.h5").seed is None


def test_existing_file_needs_force(tmp_path, analog, expected):
    path = tmp_path / "r.h5"
    write_result(analog, path)
    with pytest.raises(FileExistsError, match="--force"):
        write_result(expected, path)
    assert read_result(path).mode == "analog"
    write_result(expected, path, force=True)
    assert read_result(path).mode == "expected"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_missing_directory(tmp_path, analog):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_result(analog, tmp_path / "nope" / "r.h5")


def test_failed_write_leaves_earlier_file(tmp_path, analog, expected, monkeypatch):
    path = tmp_path / "r.h5"
    write_result(analog, path)
    before = path.read_bytes()

    def broken(f, result):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(hdf5, "_write_summary", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_result(expected, path, force=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]
    with pytest.raises(RuntimeError):
        write_result(expected, tmp_path / "new.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_read_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5: no such file"):
        read_result(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(ResultFileError, match="not an HDF5 file"):
        read_result(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(ResultFileError, match="not a photonmc result"):
        read_result(foreign)
    with pytest.raises(ResultFileError, match="is a directory"):
        read_result(tmp_path)


def test_damaged_result(tmp_path, analog):
    path = tmp_path / "r.h5"
    write_result(analog, path)
    with h5py.File(path, "a") as f:
        del f["detectors"]["detector"]["by_origin"]["dark"]
    with pytest.raises(ResultFileError, match="incomplete or damaged"):
        read_result(path)
