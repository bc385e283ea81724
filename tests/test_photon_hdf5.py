"""Photon-HDF5: round trips, the required fields of the specification, foreign layouts,
streaming writes, correlation files, and damaged files (one clear error each)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from test_timetags import PERIOD_PS, pulsed_tags

from photonmc.io.correlation_hdf5 import read_correlation, write_correlation
from photonmc.io.photon_hdf5 import (
    REQUIRED_FIELDS,
    TITLES,
    PhotonHDF5Error,
    PhotonHDF5Writer,
    check_photon_hdf5,
    read_photon_hdf5,
    write_photon_hdf5,
)
from photonmc.observables import Estimate
from photonmc.timetags import TimeTags, concatenate

# Kind of each field of the specification that photonmc writes (string, scalar, array)
KINDS = {
    "/acquisition_duration": "scalar",
    "/description": "string",
    "/photon_data/timestamps": "array",
    "/photon_data/detectors": "array",
    "/photon_data/nanotimes": "array",
    "/photon_data/nanotimes_specs/tcspc_unit": "scalar",
    "/photon_data/nanotimes_specs/tcspc_num_bins": "scalar",
    "/photon_data/nanotimes_specs/tcspc_range": "scalar",
    "/photon_data/timestamps_specs/timestamps_unit": "scalar",
    "/photon_data/measurement_specs/measurement_type": "string",
    "/photon_data/measurement_specs/laser_repetition_rate": "scalar",
    "/setup/num_pixels": "scalar",
    "/setup/num_spots": "scalar",
    "/setup/num_spectral_ch": "scalar",
    "/setup/num_polarization_ch": "scalar",
    "/setup/num_split_ch": "scalar",
    "/setup/modulated_excitation": "scalar",
    "/setup/lifetime": "scalar",
    "/setup/excitation_alternated": "array",
    "/setup/excitation_cw": "array",
    "/setup/laser_repetition_rates": "array",
    "/setup/detectors/id": "array",
    "/setup/detectors/label": "array",
    "/setup/detectors/counts": "array",
    "/identity/format_name": "string",
    "/identity/format_version": "string",
    "/identity/format_url": "string",
    "/identity/software": "string",
    "/identity/software_version": "string",
    "/identity/creation_time": "string",
    "/identity/filename": "string",
    "/provenance/software": "string",
    "/provenance/software_version": "string",
}


def test_round_trip_and_the_required_fields(tmp_path):
    tags = pulsed_tags(50_000, 0.3, 0.03, seed=31)
    path = write_photon_hdf5(tmp_path / "tags.h5", tags, wavelength_nm=1529.3)
    back = read_photon_hdf5(path)
    for field in ("time_ps", "channel", "shot"):
        assert np.array_equal(getattr(back, field), getattr(tags, field)), field
    assert back.channels == ("a", "b") and back.period_ps == PERIOD_PS
    assert back.duration_ps == tags.duration_ps and back.resolution_ps == 1.0

    # The structure, checked with plain h5py against the specification.
    with h5py.File(path, "r") as f:
        assert f.attrs["format_name"] == b"Photon-HDF5"
        assert f.attrs["format_version"] == b"0.5"
        for field in REQUIRED_FIELDS:
            assert field.lstrip("/") in f, field
        for group in ("photon_data", "setup", "identity", "provenance"):
            assert isinstance(f[group], h5py.Group)
        for field, kind in KINDS.items():
            node = f[field.lstrip("/")]
            if kind == "string":
                assert node.ndim == 0 and node.dtype.kind == "S", field
            elif kind == "scalar":
                assert node.ndim == 0 and node.dtype.kind in "iuf", field
            else:
                assert node.ndim == 1, field
            assert node.attrs["TITLE"].decode() == TITLES[field], field
        data = f["photon_data"]
        assert data["timestamps"].dtype == np.int64 and data["detectors"].dtype == np.uint8
        assert data["timestamps_specs/timestamps_unit"][()] == 1e-12
        assert data["measurement_specs/laser_repetition_rate"][()] == pytest.approx(80e6)
        assert data["measurement_specs/measurement_type"][()] == b"generic"
        assert f["setup/excitation_cw"][()].tolist() == [0]
        assert f["setup/num_pixels"][()] == 2 and f["setup/num_split_ch"][()] == 2
        assert f["setup/detectors/counts"][()].sum() == len(tags)
        assert f["setup/excitation_wavelengths"][()] == pytest.approx([1529.3e-9])
        assert f["acquisition_duration"][()] == pytest.approx(50_000 * PERIOD_PS * 1e-12)
        assert f["identity/software"][()] == b"photonmc"
        # pulsed data: the TCSPC time since the latest sync (no offsets: time mod period)
        assert f["setup/lifetime"][()] == 1
        nano = data["nanotimes"][()]
        assert nano.dtype == np.uint16
        assert np.array_equal(nano, np.sort(tags.time_ps) % PERIOD_PS)
        assert data["nanotimes_specs/tcspc_unit"][()] == 1e-12
        assert data["nanotimes_specs/tcspc_num_bins"][()] == PERIOD_PS
        assert data["nanotimes_specs/tcspc_range"][()] == pytest.approx(PERIOD_PS * 1e-12)
    assert check_photon_hdf5(path) == []


def test_tags_without_period_are_continuous_wave(tmp_path):
    rng = np.random.default_rng(32)
    t = np.sort(rng.integers(0, 10**10, 5000))
    tags = TimeTags(rng.integers(0, 3, t.size), t)  # T2-like: no shots, no period
    path = write_photon_hdf5(tmp_path / "cw.hdf5", tags)
    back = read_photon_hdf5(path)
    assert back.shot is None and back.period_ps is None
    assert back.channels == ("ch0", "ch1", "ch2")
    assert np.array_equal(back.time_ps, t)
    with h5py.File(path, "r") as f:
        assert f["setup/excitation_cw"][()].tolist() == [1]
        assert "setup/laser_repetition_rates" not in f
        assert "photon_data/measurement_specs/laser_repetition_rate" not in f
        assert "photon_data/nanotimes" not in f and f["setup/lifetime"][()] == 0
        assert f["acquisition_duration"][()] == pytest.approx((t[-1] - t[0]) * 1e-12)
    assert check_photon_hdf5(path) == []


def test_streaming_writer_is_atomic_and_equals_one_shot_write(tmp_path):
    tags = pulsed_tags(30_000, 0.3, 0.03, seed=33)
    n = len(tags)
    chunks = [
        TimeTags(tags.channel[i:j], tags.time_ps[i:j], tags.shot[i:j], PERIOD_PS, ("a", "b"))
        for i, j in ((0, n // 4), (n // 4, n))
    ]
    path = tmp_path / "stream.h5"
    with PhotonHDF5Writer(path, channels=("a", "b"), period_ps=PERIOD_PS) as w:
        for chunk in chunks:
            w.write(chunk)
        assert not path.exists()
    back = read_photon_hdf5(path)
    assert np.array_equal(back.time_ps, concatenate(chunks).time_ps)
    assert np.array_equal(back.shot, tags.shot)
    with pytest.raises(RuntimeError):
        with PhotonHDF5Writer(path, channels=("a",), period_ps=PERIOD_PS, force=True) as w:
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stream.h5"]  # earlier file kept
    with pytest.raises(FileExistsError, match="--force"):
        PhotonHDF5Writer(path, channels=("a",), period_ps=PERIOD_PS)


def test_reads_a_tcspc_layout_written_elsewhere(tmp_path):
    # phconvert's layout of a T3 measurement: timestamps count laser periods,
    # nanotimes the TCSPC bins since the pulse.
    rng = np.random.default_rng(34)
    macro = np.sort(rng.integers(0, 10**6, 2000))
    nano = rng.integers(0, 3000, macro.size)
    path = tmp_path / "foreign.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["format_name"] = np.bytes_("Photon-HDF5")
        f["photon_data/timestamps"] = macro
        f["photon_data/timestamps_specs/timestamps_unit"] = 12.5e-9
        f["photon_data/detectors"] = (macro % 2).astype(np.uint8)
        f["photon_data/nanotimes"] = nano.astype(np.uint16)
        f["photon_data/nanotimes_specs/tcspc_unit"] = 4e-12
        f["photon_data/measurement_specs/laser_repetition_rate"] = 80e6
    tags = read_photon_hdf5(path)
    assert np.array_equal(tags.shot, macro)
    assert np.array_equal(tags.time_ps, macro * PERIOD_PS + 4 * nano)
    assert tags.period_ps == pytest.approx(PERIOD_PS) and tags.resolution_ps == pytest.approx(4)


def test_correlation_files_round_trip(tmp_path):
    edges = np.linspace(-1000.0, 1000.0, 21)
    path = write_correlation(
        tmp_path / "c.h5",
        bin_edges_ps=edges,
        counts=np.arange(20),
        peak_delays_ps=np.array([-500.0, 0.0, 500.0]),
        peak_counts=np.array([10, 2, 12]),
        g2_0=Estimate(0.18, 0.13),
        attrs={"source": "x.ptu", "channels": np.array([0, 1]), "period_ps": 500.0},
    )
    back = read_correlation(path)
    assert np.array_equal(back["bin_edges_ps"], edges)
    assert back["counts"].dtype == np.int64 and back["g2_0"] == Estimate(0.18, 0.13)
    assert back["attrs"]["source"] == "x.ptu" and back["attrs"]["channels"] == [0, 1]
    with pytest.raises(PhotonHDF5Error, match="not a photonmc correlation file"):
        read_correlation(write_photon_hdf5(tmp_path / "t.h5", pulsed_tags(10, 0.5, 0, 35)))


# ------------------------------------------------------------------ bad files
def test_damaged_and_foreign_files_are_clear_errors(tmp_path):
    good = write_photon_hdf5(tmp_path / "good.h5", pulsed_tags(20_000, 0.3, 0.03, seed=36))
    data = good.read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.h5").write_text("not hdf5\n")
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["x"] = 1
    with h5py.File(tmp_path / "nodata.h5", "w") as f:
        f.attrs["format_name"] = np.bytes_("Photon-HDF5")
        f["setup/num_pixels"] = 1
    with h5py.File(tmp_path / "mismatch.h5", "w") as f:
        f.attrs["format_name"] = np.bytes_("Photon-HDF5")
        f["photon_data/timestamps"] = np.arange(5)
        f["photon_data/timestamps_specs/timestamps_unit"] = 1e-12
        f["photon_data/detectors"] = np.zeros(4, np.uint8)
    with h5py.File(tmp_path / "result.h5", "w") as f:
        f.attrs["format"] = "photonmc.result"
    cases = {
        "nope.h5": (FileNotFoundError, "no such file"),
        "cut.h5": (PhotonHDF5Error, "truncated or damaged"),
        "text.h5": (PhotonHDF5Error, "not an HDF5 file"),
        "plain.h5": (PhotonHDF5Error, "not a Photon-HDF5 file"),
        "nodata.h5": (PhotonHDF5Error, "missing /photon_data/timestamps"),
        "mismatch.h5": (PhotonHDF5Error, "4 detectors for 5 timestamps"),
        "result.h5": (PhotonHDF5Error, "holds histograms, not time tags"),
    }
    for name, (error, message) in cases.items():
        with pytest.raises(error, match=message) as info:
            read_photon_hdf5(tmp_path / name)
        assert "\n" not in str(info.value), name
    assert check_photon_hdf5(tmp_path / "nodata.h5")[:1] == [
        "root attribute format_version is not '0.5'"
    ]


def test_empty_records(tmp_path):
    empty = TimeTags(np.zeros(0), np.zeros(0), np.zeros(0), PERIOD_PS, ("a", "b"))
    path = write_photon_hdf5(tmp_path / "empty.h5", empty)
    back = read_photon_hdf5(path)
    assert len(back) == 0 and back.channels == ("a", "b") and back.shot.size == 0
    assert check_photon_hdf5(path) == []


def test_simulated_photon_hdf5_passes_phconvert_without_warnings(tmp_path):
    """phconvert's validator (the reference reader of the format) accepts the file with no
    warning: setup wavelengths and the identity's author are filled."""
    import warnings

    phc = pytest.importorskip("phconvert")
    import photonmc as pmc
    from photonmc.io.timetag_files import simulation_writer

    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.5),
            pmc.BeamSplitter(),
            pmc.Detector(efficiency=0.8, name="a", branch="bs.transmitted"),
            pmc.Detector(efficiency=0.8, name="b", branch="bs.reflected"),
        ],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=9.0),
    )
    path = tmp_path / "tags.h5"
    writer, on_records = simulation_writer(path, link)
    with writer:
        pmc.simulate(link, 20_000, key=1, chunk_shots=1 << 14, on_records=on_records)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        phc.hdf5.assert_valid_photon_hdf5(str(path))
    messages = [str(w.message) for w in caught if "Photon-HDF5" in str(w.message)]
    assert messages == []


def test_nanotimes_of_a_long_fibre_link_are_the_histogram_times(tmp_path):
    """A link behind 10 km of fibre (49 us, 3917.9 periods): with each channel's TCSPC
    offset (fibre delay + sync offset + window start) a nanotime is the click's histogram
    time minus the window start, one decay in [0, T_rep); the file still passes
    phconvert's validator without warnings, and photonmc reads the absolute times back."""
    import warnings

    import photonmc as pmc
    from photonmc.io.timetag_files import simulation_writer
    from photonmc.timetags import shot_clock_ps

    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.5),
            pmc.Fiber(length_km=10.0),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=1e5, jitter_fwhm_ps=50.0),
        ],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=9.0),
    )
    delay_ps = 1e3 * link.delay_to(link.detector)
    assert delay_ps % PERIOD_PS > 11_000  # without an offset the decay would wrap at 1.1 ns
    path = tmp_path / "fibre.h5"
    parts = []
    writer, feed = simulation_writer(path, link)

    def on_records(records):
        parts.append(records)
        feed(records)

    with writer:
        pmc.simulate(link, 50_000, key=2, chunk_shots=1 << 14, on_records=on_records)
    rec = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(rec["time_ps"], kind="stable")
    time_ps, shot, origin = rec["time_ps"][order], rec["shot"][order], rec["origin"][order]
    offset = round(delay_ps - 1000.0)  # D + sync offset (0) + window start (-1 ns)
    with h5py.File(path, "r") as f:
        nano = f["photon_data/nanotimes"][()].astype(np.int64)
        assert np.array_equal(f["photon_data/timestamps"][()], time_ps)
        assert f["user/photonmc/tcspc_offsets_ps"][()].tolist() == [offset]
        assert f["user/photonmc/fibre_delays_ps"][()] == pytest.approx([delay_ps])
        assert f["setup/lifetime"][()] == 1
    # against the click times: the time since the emitting shot's sync, after the offset
    since = time_ps - offset - shot_clock_ps(shot, PERIOD_PS)
    inside = (since >= 0) & (since < PERIOD_PS)
    assert inside.mean() > 0.999
    assert np.array_equal(nano[inside], since[inside])
    assert np.all((nano >= 0) & (nano < PERIOD_PS))
    # one decay: the photons rise at 1 ns (the window start) and have decayed by 6 ns
    photons_ns = nano[origin == 0] * 1e-3
    assert np.mean((photons_ns > 0.5) & (photons_ns < 6.0)) > 0.99
    back = read_photon_hdf5(path)
    assert np.array_equal(back.time_ps, time_ps) and np.array_equal(back.shot, shot)
    phc = pytest.importorskip("phconvert")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        phc.hdf5.assert_valid_photon_hdf5(str(path))
    assert [str(w.message) for w in caught if "Photon-HDF5" in str(w.message)] == []


def test_long_periods_coarsen_the_tcspc_unit(tmp_path):
    period = 100_000  # 10 MHz: 1e5 ps do not fit 65536 nanotime bins of 1 ps
    rng = np.random.default_rng(36)
    shot = np.arange(2000)
    rel = rng.integers(0, period, shot.size)
    tags = TimeTags(shot % 2, shot * period + rel, shot, period, ("a", "b"))
    path = write_photon_hdf5(tmp_path / "slow.h5", tags)
    with h5py.File(path, "r") as f:
        assert f["photon_data/nanotimes_specs/tcspc_unit"][()] == 2e-12
        assert f["photon_data/nanotimes_specs/tcspc_num_bins"][()] == 50_000
        assert np.array_equal(f["photon_data/nanotimes"][()], rel // 2)
    assert np.array_equal(read_photon_hdf5(path).time_ps, tags.time_ps)  # timestamps kept
    assert check_photon_hdf5(path) == []
