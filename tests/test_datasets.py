"""Dataset loaders: histograms (CSV, .npz, HDF5 results) and efficiency curves; bad input."""

from __future__ import annotations

import numpy as np
import pytest

import photonmc as pmc
from photonmc.io import write_result
from photonmc.io.datasets import (
    DatasetError,
    EfficiencyCurve,
    HistogramData,
    load_dataset,
    load_efficiency_curve,
    load_histogram,
)
from photonmc.result import DetectorCounts, Result

EDGES = np.round(np.arange(0.0, 2.05, 0.1), 10)  # 20 bins of 100 ps
COUNTS = np.arange(20, dtype=np.float64) * 3.0


def write(path, text: str):
    path.write_text(text)
    return path


def histogram_csv(tmp_path, starts=EDGES[:-1], counts=COUNTS, header="bin_start_ns,counts"):
    rows = "\n".join(f"{s:.6g},{c:g}" for s, c in zip(starts, counts, strict=True))
    return write(tmp_path / "h.csv", f"# a comment line\n{header}\n\n{rows}\n")


def one_line_error(fn, *fragments) -> str:
    with pytest.raises(DatasetError) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def fake_result(shots=1000, detectors=("detector",)) -> Result:
    counts = np.zeros((len(pmc.ORIGINS), COUNTS.size), np.int64)
    counts[0] = COUNTS.astype(np.int64)
    counts[3] = 1
    dets = {
        n: DetectorCounts(n, EDGES.copy(), counts.copy(), counts.sum(axis=1)) for n in detectors
    }
    return Result(
        mode="analog",
        shots=shots,
        seed=1,
        chunk_shots=1024,
        prng_impl="threefry",
        detectors=dets,
        photons_emitted=100,
        memory_sums={},
        fixed_delay_ns=0.0,
        retrieval_window_ns=None,
        elapsed_s=1.0,
    )


# ----------------------------------------------------------------- reading
def test_histogram_csv_infers_uniform_bins(tmp_path):
    d = load_histogram(histogram_csv(tmp_path), shots=500, overrides={"memory.storage_time_ns": 2})
    np.testing.assert_allclose(d.bin_edges_ns, EDGES, atol=1e-12)
    np.testing.assert_array_equal(d.counts, COUNTS)
    assert d.shots == 500 and d.name == "h" and d.kind == "histogram"
    assert d.overrides == {"memory.storage_time_ns": 2.0}
    assert d.bin_width_ns == pytest.approx(0.1)


def test_histogram_csv_accepts_rounded_starts(tmp_path):
    starts = np.round(np.arange(20) / 3.0, 3)  # 1/3 ns bins written with 3 decimals
    d = load_histogram(histogram_csv(tmp_path, starts=starts), shots=1)
    assert d.bin_width_ns == pytest.approx(1 / 3, rel=1e-3)


def test_histogram_npz_and_hdf5(tmp_path):
    np.savez(tmp_path / "h.npz", bin_edges_ns=EDGES, counts=COUNTS)
    d = load_dataset(tmp_path / "h.npz", "histogram", shots=7)
    np.testing.assert_array_equal(d.counts, COUNTS)
    write_result(fake_result(shots=1234), tmp_path / "r.h5")
    d = load_histogram(tmp_path / "r.h5")
    assert d.shots == 1234 and d.detector == "detector"
    np.testing.assert_array_equal(d.counts, COUNTS + 1)  # all origins summed
    d = HistogramData.from_result(fake_result(), overrides={"memory.storage_time_ns": 1.0})
    assert d.shots == 1000 and d.overrides


def test_efficiency_curve_csv(tmp_path):
    text = (
        "# provenance\nmemory.storage_time_ns,efficiency,efficiency_err\n1,0.2,0.01\n2,0.1,0.02\n"
    )
    d = load_efficiency_curve(write(tmp_path / "c.csv", text))
    assert d.parameter == "memory.storage_time_ns" and d.kind == "efficiency_curve"
    np.testing.assert_array_equal(d.x, [1.0, 2.0])
    np.testing.assert_array_equal(d.efficiency_err, [0.01, 0.02])
    text = "efficiency,memory.storage_time_ns\n0.2,1\n0.1,2\n"
    d = load_dataset(write(tmp_path / "c2.csv", text), "efficiency_curve", memory="memory")
    assert d.efficiency_err is None and d.memory == "memory"


def test_shipped_real_data_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs/data"
    d = load_efficiency_curve(path / "rb_ladder_memory_efficiency_vs_storage_time.csv")
    assert d.n_points == 40 and d.parameter == "memory.storage_time_ns"
    assert d.efficiency.max() == pytest.approx(0.205004)


# --------------------------------------------------------------- bad input
def test_missing_files(tmp_path):
    one_line_error(lambda: load_histogram(tmp_path / "nope.csv", shots=1), "nope.csv", "no such")
    one_line_error(lambda: load_efficiency_curve(tmp_path / "nope.csv"), "no such data file")
    one_line_error(lambda: load_histogram(tmp_path, shots=1), "directory")


def test_wrong_columns(tmp_path):
    one_line_error(
        lambda: load_histogram(histogram_csv(tmp_path, header="time_ns,counts"), shots=1),
        "missing column bin_start_ns",
        "unexpected column time_ns",
    )
    text = "memory.storage_time_ns,eff\n1,0.2\n"
    one_line_error(
        lambda: load_efficiency_curve(write(tmp_path / "c.csv", text)),
        "missing column 'efficiency'",
    )
    text = "storage_time_ns,efficiency\n1,0.2\n"
    one_line_error(
        lambda: load_efficiency_curve(write(tmp_path / "c.csv", text)),
        "'storage_time_ns' must be named by a qualified parameter",
    )
    text = "memory.storage_time_ns,qd.lifetime_ns,efficiency\n1,2,0.2\n"
    one_line_error(
        lambda: load_efficiency_curve(write(tmp_path / "c.csv", text)), "exactly one x column"
    )
    np.savez(tmp_path / "h.npz", edges=EDGES, counts=COUNTS)
    one_line_error(
        lambda: load_histogram(tmp_path / "h.npz", shots=1), "missing array bin_edges_ns"
    )


def test_non_uniform_bins(tmp_path):
    starts = EDGES[:-1].copy()
    starts[7:] += 0.05  # a wider bin in the middle
    one_line_error(
        lambda: load_histogram(histogram_csv(tmp_path, starts=starts), shots=1),
        "h.csv",
        "not uniform",
        "edge",
    )
    missing_row = np.delete(EDGES[:-1], 5)
    one_line_error(
        lambda: load_histogram(
            histogram_csv(tmp_path, starts=missing_row, counts=COUNTS[:-1]), shots=1
        ),
        "not uniform",
    )
    one_line_error(lambda: HistogramData(EDGES[::-1], COUNTS, 1), "increasing")


def test_negative_and_bad_counts(tmp_path):
    counts = COUNTS.copy()
    counts[4] = -3
    one_line_error(
        lambda: load_histogram(histogram_csv(tmp_path, counts=counts), shots=1),
        "negative count -3 in bin 4",
    )
    counts[4] = np.nan
    one_line_error(lambda: HistogramData(EDGES, counts, 1), "bin 4", "not finite")
    text = "bin_start_ns,counts\n0,1\n0.1,abc\n"
    one_line_error(
        lambda: load_histogram(write(tmp_path / "x.csv", text), shots=1),
        "line 3",
        "'abc'",
        "not a number",
    )
    text = "bin_start_ns,counts\n0,1\n0.1\n"
    one_line_error(lambda: load_histogram(write(tmp_path / "x.csv", text), shots=1), "line 3")


def test_shots_and_detector_and_suffix(tmp_path):
    path = histogram_csv(tmp_path)
    one_line_error(lambda: load_histogram(path), "shots")
    one_line_error(lambda: load_histogram(path, shots=0), "shots must be a whole number >= 1")
    write_result(fake_result(shots=10, detectors=("a", "b")), tmp_path / "r.h5")
    one_line_error(lambda: load_histogram(tmp_path / "r.h5"), "detectors a, b; name one")
    one_line_error(lambda: load_histogram(tmp_path / "r.h5", detector="c"), "no detector 'c'")
    one_line_error(lambda: load_histogram(tmp_path / "r.h5", detector="a", shots=11), "10 shots")
    write(tmp_path / "h.txt", "bin_start_ns,counts\n")
    one_line_error(lambda: load_histogram(tmp_path / "h.txt", shots=1), "must end in")
    write(tmp_path / "fake.h5", "not hdf5")
    one_line_error(lambda: load_histogram(tmp_path / "fake.h5"), "not an HDF5 file")


def test_curve_errors_and_overrides(tmp_path):
    text = "memory.storage_time_ns,efficiency,efficiency_err\n1,0.2,0.01\n2,0.1,0\n"
    one_line_error(
        lambda: load_efficiency_curve(write(tmp_path / "c.csv", text)),
        "efficiency_err must be finite and > 0",
        "point 2",
    )
    one_line_error(
        lambda: EfficiencyCurve("memory.storage_time_ns", [1.0], [0.1], overrides={"x": 1}),
        "not a qualified parameter name",
    )
    one_line_error(
        lambda: EfficiencyCurve("memory.storage_time_ns", [1.0], [0.1], overrides={"a.b": "1"}),
        "must be a number",
    )
    one_line_error(lambda: load_dataset(tmp_path / "c.csv", "curve"), "kind must be")
