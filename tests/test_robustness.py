"""Bad input gets one clear line, valid input a finite answer, and no file is lost.

Each test is a case that once ended in a traceback, a NaN, a silently wrong answer or a
lost file; tests/test_properties.py generates many more of the same kinds.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_config import BASE
from test_timetags import pulsed_tags

from photonmc import cli
from photonmc.io.datasets import DatasetError, EfficiencyCurve, HistogramData
from photonmc.io.photon_hdf5 import PhotonHDF5Error, read_photon_hdf5, write_photon_hdf5
from photonmc.io.ptu import PTUFileError, read_ptu, write_ptu


def run(capsys, argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(capsys, argv, *fragments) -> str:
    """Exit status 2, exactly one stderr line, `photonmc: error: ...` naming the fragments."""
    code, out, err = run(capsys, argv)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("photonmc: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    (tmp_path / "link.toml").write_text(BASE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def tags():
    return pulsed_tags(20_000, 0.3, 0.03, seed=51)


def patch_tag(data: bytes, ident: str, packed: bytes) -> bytes:
    at = data.find(ident.encode() + b"\0")
    assert at >= 0, ident
    out = bytearray(data)
    out[at + 40 : at + 48] = packed
    return bytes(out)


# ------------------------------------------------------------ PTU files (8, 12)
@pytest.mark.parametrize("content", [b"PQTTTR\0\0", b"PQTTTR\0\0" + b"1.0.00\0\0", b"\0" * 7])
def test_ptu_cut_inside_the_magic_or_first_tag_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "cut.ptu"
    path.write_bytes(content)
    with pytest.raises(PTUFileError, match="not a readable PTU file"):
        read_ptu(path)
    one_error(capsys, ["correlate", path, "--out", tmp_path / "c.h5"], "cut.ptu")


@pytest.mark.parametrize(
    "ident, packed, fragment",
    [
        ("MeasDesc_Resolution", struct.pack("<d", math.inf), "MeasDesc_Resolution"),
        ("MeasDesc_Resolution", struct.pack("<d", math.nan), "MeasDesc_Resolution"),
        ("MeasDesc_Resolution", struct.pack("<d", 1e-30), "rounds to 0 ps"),
        ("MeasDesc_GlobalResolution", struct.pack("<d", math.inf), "GlobalResolution"),
        ("photonmc_PeriodPs", struct.pack("<d", math.inf), "photonmc_PeriodPs"),
        ("TTResult_NumberOfRecords", struct.pack("<q", -5), "cannot be negative"),
        ("photonmc_FirstShot", struct.pack("<q", 1 << 62), "int64 range"),
    ],
)
def test_ptu_header_values_out_of_range_are_refused(
    tmp_path, capsys, tags, ident, packed, fragment
):
    good = write_ptu(tmp_path / "good.ptu", tags)
    bad = tmp_path / "bad.ptu"
    bad.write_bytes(patch_tag(good.read_bytes(), ident, packed))
    with pytest.raises(PTUFileError, match=fragment) as info:
        read_ptu(bad)
    assert "\n" not in str(info.value)
    one_error(capsys, ["correlate", bad, "--out", tmp_path / "c.h5"], "bad.ptu", fragment)


# ---------------------------------------------------- Photon-HDF5 files (8, 12)
def test_photon_hdf5_soft_link_to_itself_is_one_line(tmp_path, capsys, tags):
    path = write_photon_hdf5(tmp_path / "loop.h5", tags)
    with h5py.File(path, "a") as f:
        del f["photon_data/timestamps"]
        f["photon_data/timestamps"] = h5py.SoftLink("/photon_data/timestamps")
    with pytest.raises(PhotonHDF5Error, match="damaged"):
        read_photon_hdf5(path)
    one_error(capsys, ["correlate", path, "--out", tmp_path / "c.h5"], "loop.h5")


def test_photon_hdf5_timestamps_out_of_order_are_refused(tmp_path, capsys, tags):
    path = write_photon_hdf5(tmp_path / "shuffled.h5", tags)
    with h5py.File(path, "a") as f:
        ts = f["photon_data/timestamps"][()]
        ts[[10, 11]] = ts[[11, 10]] if ts[10] != ts[11] else (ts[11] + 1, ts[10])
        f["photon_data/timestamps"][...] = ts
    with pytest.raises(PhotonHDF5Error, match="must not decrease.*entry 11"):
        read_photon_hdf5(path)
    one_error(capsys, ["correlate", path, "--out", tmp_path / "c.h5"], "must not decrease")


@pytest.mark.parametrize("unit", [math.inf, 0.0, -1e-12, 1e3])
def test_photon_hdf5_timestamp_units_out_of_range_are_refused(tmp_path, tags, unit):
    path = write_photon_hdf5(tmp_path / "unit.h5", tags)
    with h5py.File(path, "a") as f:
        f["photon_data/timestamps_specs/timestamps_unit"][()] = unit
    with pytest.raises(PhotonHDF5Error, match="timestamps_unit"):
        read_photon_hdf5(path)


# ------------------------------------------------------------- datasets (8, 12)
def test_complex_boolean_and_text_counts_are_refused():
    edges = np.linspace(0.0, 1.0, 5)
    for counts, fragment in (
        (np.ones(4) * (1 + 1j), "complex"),
        (np.ones(4, bool), "bool"),
        (np.array(["1"] * 4), "numbers"),
    ):
        with pytest.raises(DatasetError, match=fragment):
            HistogramData(edges, counts, 10)


@pytest.mark.parametrize("value", [-0.1, 5.0])
def test_efficiencies_outside_0_1_are_refused(value):
    with pytest.raises(DatasetError, match=r"efficiency must be in \[0, 1\].*point 2"):
        EfficiencyCurve("memory.storage_time_ns", [1.0, 2.0], [0.2, value])


@pytest.mark.parametrize(
    "options, fragment",
    [
        ("bin_ps = 100\nwindow_ns = 5", "window_ns must be [a, b]"),
        ("bin_ps = 100\nwindow_ns = [0, 5, 10]", "window_ns must be [a, b]"),
        ("bin_ps = 100\nwindow_ns = [5, 0]", "window_ns must be [a, b]"),
        ("bin_ps = [1]\nwindow_ns = [0, 10]", "bin_ps must be a number"),
        ('bin_ps = "x"\nwindow_ns = [0, 10]', "bin_ps must be a number"),
        ("bin_ps = -1\nwindow_ns = [0, 10]", "bin_ps must be a number"),
    ],
)
def test_fit_spec_tag_histogram_options_are_checked(workdir, capsys, tags, options, fragment):
    write_ptu(workdir / "tags.ptu", tags)
    (workdir / "spec.toml").write_text(
        'config = "link.toml"\nfree = ["memory.lifetime_ns"]\n'
        f'[[dataset]]\nfile = "tags.ptu"\nkind = "histogram"\n{options}\n'
    )
    one_error(capsys, ["fit", "spec.toml"], "spec.toml", "dataset #1", fragment)


def test_fit_with_huge_shots_stays_finite(workdir, capsys):
    edges = np.linspace(-2.0, 8.0, 201)
    np.savez(workdir / "h.npz", bin_edges_ns=edges, counts=np.ones(200))
    (workdir / "spec.toml").write_text(
        'config = "link.toml"\nfree = ["memory.write_efficiency"]\n'
        '[[dataset]]\nfile = "h.npz"\nkind = "histogram"\nshots = 9223372036854775807\n'
    )
    code, out, err = run(capsys, ["fit", "spec.toml", "--json"])
    assert code == 0 and err == "", err
    result = json.loads(out)  # allow_nan=False in the CLI: no NaN reached the JSON
    assert math.isfinite(result["parameters"]["memory.write_efficiency"]["value"])
