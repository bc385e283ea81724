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


# ------------------------------------------------- stale temporaries (10)
def test_stale_temporaries_of_the_same_output_are_removed_and_named(workdir, capsys):
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    stale = workdir / f".tags.ptu.{dead_pid}.0badc0de.tmp"
    stale.write_bytes(b"x" * 5000)
    other = workdir / f".other.ptu.{dead_pid}.0badc0de.tmp"  # another target's: kept
    other.write_bytes(b"y")
    code, out, err = run(
        capsys, ["simulate", "link.toml", "--shots", "2000", "--timetags", "tags.ptu"]
    )
    assert code == 0, err
    assert not stale.exists() and other.exists()
    warnings = [line for line in err.splitlines() if line.startswith("photonmc: warning: ")]
    assert len(warnings) == 1 and stale.name in warnings[0] and "5.0 kB" in warnings[0], err
    assert "Traceback" not in err and ".py:" not in err


def test_a_live_process_temporary_is_left_alone(tmp_path):
    import os

    from photonmc.io.atomic import remove_stale_temporaries

    mine = tmp_path / f".r.h5.{os.getpid()}.abcd.tmp"
    parent = tmp_path / f".r.h5.{os.getppid()}.abcd.tmp"
    for p in (mine, parent):
        p.write_bytes(b"")
    assert remove_stale_temporaries(tmp_path / "r.h5") == []
    assert mine.exists() and parent.exists()


# ---------------------------------------------- write permission up front (11)
def test_unwritable_directory_is_found_before_the_run_and_names_the_output(
    workdir, capsys, monkeypatch
):
    import os

    from photonmc import simulation

    real_open = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(".tmp") and flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    def no_run(*args, **kwargs):
        raise AssertionError("the run started although its output cannot be written")

    monkeypatch.setattr(os, "open", read_only)
    monkeypatch.setattr(simulation, "run_expected", no_run)
    line = one_error(
        capsys, ["simulate", "link.toml", "--mode", "expected", "--out", "r.h5"], "r.h5"
    )
    assert "Permission denied" in line and ".tmp" not in line


def test_errors_about_the_temporary_file_name_the_target(tmp_path):
    from photonmc.io.atomic import atomic_path

    target = tmp_path / "out.h5"
    with pytest.raises(OSError, match="cannot write .*out.h5: no space") as info:
        with atomic_path(target) as tmp:
            raise OSError(28, "No space left on device", str(tmp))
    assert ".tmp" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------ existing outputs (9, 16)
def test_fit_out_and_plot_refuse_an_existing_file_unless_force(workdir, capsys):
    existing = workdir / "fit.h5"
    existing.write_bytes(b"keep me")
    edges = np.linspace(-2.0, 8.0, 201)
    np.savez(workdir / "h.npz", bin_edges_ns=edges, counts=np.ones(200))
    (workdir / "spec.toml").write_text(
        'config = "link.toml"\nfree = ["memory.write_efficiency"]\n'
        '[[dataset]]\nfile = "h.npz"\nkind = "histogram"\nshots = 1000\n'
    )
    one_error(capsys, ["fit", "spec.toml", "--out", "fit.h5"], "fit.h5 already exists", "--force")
    assert existing.read_bytes() == b"keep me"
    code, _, err = run(capsys, ["fit", "spec.toml", "--out", "fit.h5", "--force"])
    assert code == 0, err
    assert h5py.is_hdf5(existing)

    pytest.importorskip("matplotlib")
    assert run(capsys, ["simulate", "link.toml", "--mode", "expected", "--shots", "100"])[0] == 0
    (workdir / "fig.png").write_bytes(b"keep me")
    one_error(capsys, ["plot", "link.h5", "-o", "fig.png"], "fig.png already exists")
    assert (workdir / "fig.png").read_bytes() == b"keep me"
    assert run(capsys, ["plot", "link.h5", "-o", "fig.png", "--force"])[0] == 0


def interrupt_after_first_block(monkeypatch):
    from photonmc import analog, simulation

    class CtrlC:
        def __init__(self, progress, total):
            pass

        def __enter__(self):
            return self

        def compiling(self, seconds):
            pass

        def update(self, n):
            raise KeyboardInterrupt

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(analog, "_block_chunks", lambda chunk_shots: 1)
    monkeypatch.setattr(simulation, "_progress_bar", CtrlC)


def test_ctrl_c_says_what_is_saved_and_a_rerun_keeps_the_partial_file(workdir, capsys, monkeypatch):
    argv = ["simulate", "link.toml", "--shots", "20000", "--chunk-shots", "4096"]
    with monkeypatch.context() as m:
        interrupt_after_first_block(m)
        code, out, err = run(capsys, argv)
    assert code == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("photonmc: interrupted; 4,096 of 20,000 shots")
    resume = "photonmc simulate link.toml --shots 20000 --chunk-shots 4096 --resume"
    assert lines[0].endswith(resume), lines[0]
    partial = workdir / "link.h5.partial"
    saved = partial.read_bytes()

    line = one_error(capsys, argv, "link.h5.partial holds an interrupted run", resume, "--force")
    assert "4,096 of 20,000 shots" in line
    assert partial.read_bytes() == saved  # the rerun without --resume kept it

    code, out, err = run(capsys, [*argv, "--resume"])
    assert code == 0, err
    assert not partial.exists()


def test_a_damaged_checkpoint_identity_is_one_line(tmp_path):
    from photonmc.io.checkpoint import CheckpointError, read_checkpoint

    path = tmp_path / "c.partial"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "photonmc.checkpoint"
        f.attrs["identity"] = "{not json"
    with pytest.raises(CheckpointError, match="run identity is not readable"):
        read_checkpoint(path, {"shots": 1})


# ------------------------------------------------ huge integers, seeds (5, 6)
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--shots", "100000000000000000000"], "whole number at most 2^53"),
        (["--set", f"run.shots={'9' * 400}"], "400-digit number"),
        (["--seed", "99999999999999999999999999"], "at most 2^63 - 1"),
        (["--set", "run.seed=-1"], "seed must be a whole number >= 0"),
        (["--set", f"fiber.length_km={'9' * 400}"], "length_km"),
        (["--set", f"qd.lifetime_ns={'9' * 400}"], "lifetime_ns"),
    ],
)
def test_huge_integers_are_one_line(workdir, capsys, argv, fragment):
    one_error(capsys, ["simulate", "link.toml", "--mode", "expected", *argv], fragment)


def test_huge_integers_in_a_config_file_are_one_line(workdir, capsys):
    text = BASE.replace("length_km = 1", f"length_km = {'7' * 400}")
    (workdir / "big.toml").write_text(text)
    one_error(capsys, ["simulate", "big.toml"], "big.toml", "length_km")
    text = BASE.replace("shots = 20000", f"shots = {'7' * 400}")
    (workdir / "big.toml").write_text(text)
    one_error(capsys, ["simulate", "big.toml"], "big.toml", "shots")


def test_analog_shots_beyond_the_chunk_index_range_are_refused():
    from photonmc.analog import check_shots

    check_shots((2**31 - 1) * 4096, 4096, "analog")
    with pytest.raises(ValueError, match="at most 2\\^31 - 1 chunks"):
        check_shots((2**31 - 1) * 4096 + 1, 4096, "analog")
    check_shots(2**53, 4096, "expected")


def test_seeds_use_all_64_bits():
    import jax

    from photonmc.analog import seed_key

    for seed in (0, 5, 2**32 - 1):
        assert np.array_equal(
            jax.random.key_data(seed_key(seed)), jax.random.key_data(jax.random.key(seed))
        )
    data = {s: tuple(np.asarray(jax.random.key_data(seed_key(s)))) for s in (0, 2**32, 2**62)}
    assert len(set(data.values())) == 3  # 2^32 no longer aliases seed 0
    with pytest.raises(ValueError, match="2\\^63 - 1"):
        seed_key(2**63)


def test_seed_2_to_the_32_is_not_seed_0():
    from conftest import fiber_link

    import photonmc as pmc

    link = fiber_link(dark=1e6)
    a = pmc.simulate(link, 3000, key=0, chunk_shots=4096)
    b = pmc.simulate(link, 3000, key=2**32, chunk_shots=4096)
    assert b.seed == 2**32
    assert not np.array_equal(a.detector().counts, b.detector().counts)


# -------------------------------------------------------------- memory (7)
def test_room_for_noise_events_follows_the_live_shots(workdir, capsys):
    from conftest import fiber_link

    from photonmc.analog import analog_plan

    link = fiber_link(dark=1e6, dead=20.0).replace({"qd.rep_rate_mhz": 0.001})
    short = analog_plan(link, 1 << 18, shots=100)
    assert sum(short.dark_capacity) < 200_000  # 1000 dark counts per 1 ms shot
    with pytest.raises(ValueError, match=r"a chunk of 262,144 shots .* \(--chunk-shots 16384\)"):
        analog_plan(link, 1 << 18, shots=10**6)
    line = one_error(
        capsys,
        ["simulate", "link.toml", "--shots", "1000000", "--set", "qd.rep_rate_mhz=0.001",
         "--set", "detector.dark_count_rate_hz=1e6", "--set", "detector.dead_time_ns=20",
         "--chunk-shots", "262144"],
        "--chunk-shots",
    )  # fmt: skip
    assert "dark counts of detector" in line


def test_an_unbounded_number_of_events_per_shot_is_refused(workdir, capsys):
    one_error(
        capsys,
        ["simulate", "link.toml", "--set", "qd.rep_rate_mhz=1e-300",
         "--set", "detector.dead_time_ns=20"],
        "Poisson events",
    )  # fmt: skip


# --------------------------------------------- no NaN in files or JSON (3, 4)
def test_figures_without_noise_or_photons_are_defined_and_stored_without_nan(workdir, capsys):
    from photonmc.io import read_summary

    argv = ["simulate", "link.toml", "--json", "--set", "detector.dark_count_rate_hz=0",
            "--set", "memory.read_noise_photons=0"]  # fmt: skip
    code, out, err = run(capsys, [*argv, "--out", "analog.h5"])
    assert code == 0, err
    snr = json.loads(out)["snr"]
    assert snr["value"] is None and snr["infinite"] is True and snr["lower_bound_95"] > 0
    code, out, err = run(
        capsys, [*argv, "--mode", "expected", "--set", "qd.mean_photon_number=0", "--out", "e.h5"]
    )
    assert code == 0, err
    summary = json.loads(out)
    for figure in ("internal_efficiency", "leak_through"):
        assert summary[figure] == {"value": None, "stderr": None, "undefined": True}
    assert summary["snr"] == {"value": 0.0, "stderr": 0.0}  # no signal, no noise
    for path in ("analog.h5", "e.h5"):
        values = float_datasets(path)
        assert values and all(np.all(np.isfinite(v)) for v in values), path
    assert read_summary("e.h5")["internal_efficiency"] == summary["internal_efficiency"]
    code, out, err = run(capsys, ["show", "e.h5"])
    assert "undefined (no photon reached the memory)" in out and "nan" not in out


def float_datasets(path) -> list:
    """The float datasets of /summary (but the no-memory window sentinel)."""
    found = []

    def visit(name, node):
        if isinstance(node, h5py.Dataset) and node.dtype.kind == "f" and node.shape is not None:
            if "retrieval_window" not in name:
                found.append(node[()])

    with h5py.File(path, "r") as f:
        f["summary"].visititems(visit)
    return found


def test_json_never_fails_on_a_non_finite_number():
    assert json.loads(cli.dumps({"a": math.nan, "b": [math.inf, 1.0], "c": np.float64(2)})) == {
        "a": None,
        "b": [None, 1.0],
        "c": 2.0,
    }


# ------------------------------------------------------------- small ones (15)
@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--checkpoint-every", "-1"], "--checkpoint-every must be"),
        (["--checkpoint-every", "0"], "--checkpoint-every must be"),
        (["--checkpoint-every", "nan"], "--checkpoint-every must be"),
        (["--num-processes", "0"], "number of processes must be >= 1"),
        (["--process-id", "1"], "needs the coordinator address"),
    ],
)
def test_run_flags_are_checked(workdir, capsys, argv, fragment):
    one_error(capsys, ["simulate", "link.toml", "--shots", "100", *argv], fragment)


def test_warnings_are_one_line_without_source(workdir, capsys):
    code, out, err = run(
        capsys,
        ["simulate", "link.toml", "--mode", "expected", "--set", "detector.dead_time_ns=1000",
         "--set", "detector.dark_count_rate_hz=1e7"],
    )  # fmt: skip
    assert code == 0
    assert err.strip().startswith("photonmc: warning: detector 'detector': count rate x dead")
    assert len(err.strip().splitlines()) == 1 and ".py" not in err


# ------------------------------------------- physical limits, no NaN (1, 2)
@pytest.mark.parametrize(
    "assignment, fragment",
    [
        ("qd.detuning_ghz=1e300", "detuning_ghz must be in [-1e+06, 1e+06] GHz, got 1e+300"),
        ("qd.spectral_diffusion_fwhm_ghz=1e300", "spectral_diffusion_fwhm_ghz must be >= 0"),
        (
            "memory.beat_terms=[[1e300, 0.1, 0.0]]",
            "beat_terms[0].a must be >= 0 and <= 1000, got 1e+300",
        ),
        ("memory.beat_terms=[[0.1, nan, 0.0]]", "beat_terms[0].f_ghz must be a number, got nan"),
        ("qd.feeding_time_ns=1e300", "feeding_time_ns must be >= 0 ns and <= 1e+09 ns"),
        ("qd.wavelength_nm=1e-300", "wavelength_nm must be >= 1 nm"),
        ("tagger.sync_offset_ns=inf", "sync_offset_ns"),
        ("filter.center_ghz=-inf", "center_ghz"),
    ],
)
def test_values_beyond_the_physical_limits_are_refused(workdir, capsys, assignment, fragment):
    text = BASE.replace(
        '[[stage]]\ntype = "Detector"',
        '[[stage]]\ntype = "BandpassFilter"\nfwhm_ghz = 10\n\n[[stage]]\ntype = "Detector"',
    ).replace(
        "read_noise_photons = 0.01", "read_noise_photons = 0.01\nbeat_terms = [[0.1, 0.3, 0]]"
    )
    (workdir / "f.toml").write_text(text)
    one_error(capsys, ["simulate", "f.toml", "--mode", "expected", "--set", assignment], fragment)


LIMITS = [
    ("qd.detuning_ghz", 1e6),
    ("qd.detuning_ghz", -1e6),
    ("qd.spectral_diffusion_fwhm_ghz", 1e6),
    ("qd.wavelength_nm", 1e6),
    ("qd.wavelength_nm", 1.0),
    ("qd.feeding_time_ns", 1e9),
    ("qd.rep_rate_mhz", 1e6),
    ("fiber.dispersion_ps_per_nm_km", 1e6),
    ("memory.write_time_ns", -1e9),
    ("tagger.sync_offset_ns", 1e9),
]


@pytest.mark.parametrize("name, value", LIMITS)
def test_expected_counts_and_gradients_are_finite_at_the_limits(name, value):
    import jax
    import jax.numpy as jnp
    from conftest import memory_link

    from photonmc.expected import expected_counts

    with jax.enable_x64(True):
        link = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), memory_link())
        link = link.set(name, value)  # accepted: the limit itself is valid

        def total(x):
            counts, totals, _ = expected_counts(link.set(name, x))
            return jnp.sum(counts) + jnp.sum(totals)

        v, g = jax.value_and_grad(total)(jnp.asarray(value, jnp.float64))
    assert np.isfinite(float(v)) and np.isfinite(float(g)), (name, value, v, g)


# ---------------------------------------------------------- tagger windows (14)
def test_tagger_windows_float64_cannot_resolve_are_refused(workdir, capsys):
    import photonmc as pmc

    with pytest.raises(ValueError, match="resolves times there only to 16 ns"):
        pmc.TimeTagger(bin_width_ps=1024, window_start_ns=1e17, window_stop_ns=1e17 + 10.24)
    edges = pmc.TimeTagger(bin_width_ps=1, window_start_ns=1e6, window_stop_ns=1e6 + 1).bin_edges_ns
    assert np.all(np.diff(edges) > 0)
    one_error(
        capsys,
        ["simulate", "link.toml", "--set", "tagger.window_start_ns=1e17",
         "--set", "tagger.window_stop_ns=100000000000010240", "--set", "tagger.bin_width_ps=1024"],
        "window at 1e+17 ns",
    )  # fmt: skip


# -------------------------------------------------------------- small ones (15)
def test_messages_print_plain_floats():
    import photonmc as pmc

    with pytest.raises(ValueError, match=r"got 0\.0$"):
        pmc.TimeTagger(bin_width_ps=np.float64(0.0), window_start_ns=0, window_stop_ns=1)
    with pytest.raises(DatasetError, match=r"got 0\.0 in point 1"):
        EfficiencyCurve("memory.storage_time_ns", [1.0], [0.2], efficiency_err=[np.float64(0)])


def test_correlate_bin_and_rate_extremes_are_short_clear_lines(tmp_path, capsys, tags):
    path = write_ptu(tmp_path / "t.ptu", tags)
    line = one_error(capsys, ["correlate", path, "--bin-ps", "1e-300"], "bins; at most 1e7")
    assert len(line) < 300
    one_error(capsys, ["correlate", path, "--rep-rate-mhz", "1e300"], "period must be >= 1 ps")


def test_plot_of_a_damaged_result_names_the_file(workdir, capsys):
    assert run(capsys, ["simulate", "link.toml", "--mode", "expected", "--shots", "10"])[0] == 0
    data = (workdir / "link.h5").read_bytes()
    (workdir / "cut.h5").write_bytes(data[: len(data) // 2])
    one_error(capsys, ["show", "cut.h5"], "cut.h5")
    pytest.importorskip("matplotlib")
    one_error(capsys, ["plot", "cut.h5"], "cut.h5")


def test_sweep_plot_is_checked_before_the_sweep(workdir, capsys, monkeypatch):
    import importlib
    import sys

    sweep = importlib.import_module("photonmc.sweep")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(sweep, "run_analog", lambda *a, **k: pytest.fail("the sweep ran"))
    one_error(
        capsys,
        ["sweep", "link.toml", "--param", "fiber.length_km=1:2:2", "--plot", "s.png"],
        "--plot needs matplotlib",
    )


def test_plot_hint_is_an_error_line(workdir, capsys, monkeypatch):
    import sys

    assert run(capsys, ["simulate", "link.toml", "--mode", "expected", "--shots", "10"])[0] == 0
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    one_error(capsys, ["plot", "link.h5"], "needs matplotlib")


def test_sweeps_with_too_many_points_are_refused(workdir, capsys):
    one_error(
        capsys,
        ["sweep", "link.toml", "--param", "fiber.length_km=0:1:100000000000000000000"],
        "at most 1,000,000 points",
    )
    one_error(
        capsys,
        ["sweep", "link.toml", "--param", "fiber.length_km=0:1:2000",
         "--param", "memory.storage_time_ns=0:1:2000"],
        "4,000,000 points",
    )  # fmt: skip


def test_values_are_printed_exactly(workdir, capsys):
    one_error(
        capsys,
        ["simulate", "link.toml", "--set", "qd.mean_photon_number=1.0000000000000002"],
        "got 1.0000000000000002",
    )
