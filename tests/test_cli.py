"""The command line: simulate, show and plot, their JSON contract, and user errors."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from test_config import BASE

import photonmc as pmc
from photonmc.cli import PLOT_HINT, main
from photonmc.config import RunConfig
from photonmc.io import read_result

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FAST = ["--shots", "20000", "--chunk-shots", "4096"]
#: Keys of the --json object that the issue's contract names
CONTRACT = {"shots", "seed", "mode", "photons_emitted", "photons_per_second", "output", "detectors"}
#: Figures of a run with a memory, each {"value", "stderr"}
FIGURES = {
    "efficiency",
    "clicks_per_shot",
    "internal_efficiency",
    "leak_through",
    "snr",
    "leak_in_window",
}
#: Other keys of Result.summary()
EXTRAS = {"fixed_delay_ns", "retrieval_window_ns", "warnings", "compile_seconds"}


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A working directory holding `link.toml` (the test_config BASE link)."""
    (tmp_path / "link.toml").write_text(BASE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_json(capsys, argv) -> dict:
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON object: json.loads rejects trailing text


def user_error(capsys, argv, *fragments) -> str:
    """Run argv, expect exit status 2 and one `photonmc: error:` line naming the fragments."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = [line for line in captured.err.splitlines() if line.startswith("photonmc: error: ")]
    assert len(lines) == 1, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert captured.out == ""
    return lines[0]


def check_contract(summary: dict, *, memory: bool) -> None:
    assert CONTRACT <= set(summary)
    figures = FIGURES if memory else {"efficiency", "clicks_per_shot"}
    assert set(summary) == CONTRACT | figures | EXTRAS
    for name in figures:
        assert set(summary[name]) == {"value", "stderr"}, name
    for d in summary["detectors"].values():
        assert {"counts", "by_origin"} <= set(d)
        assert set(d["by_origin"]) == set(pmc.ORIGINS)
        assert d["counts"] == pytest.approx(sum(d["by_origin"].values()))


# ------------------------------------------------------------------ simulate
def test_simulate_summary_and_default_output(workdir, capsys):
    assert main(["simulate", "link.toml", *FAST]) == 0
    out = capsys.readouterr().out
    for text in (
        "photons emitted",
        "retrieved",
        "memory_noise",
        "dark",
        "end-to-end efficiency",
        "internal memory efficiency",
        "leak-through",
        "SNR in [",
        "photons/s",
        "output                      link.h5",
    ):
        assert text in out, text
    result = read_result(workdir / "link.h5")
    assert (result.shots, result.seed, result.chunk_shots) == (20000, 3, 4096)
    assert "shots = 20000" in result.config_toml and "chunk_shots = 4096" in result.config_toml


def test_simulate_json_contract_and_overrides(workdir, capsys):
    summary = run_json(
        capsys,
        [
            "simulate",
            "link.toml",
            *FAST,
            "--seed",
            "5",
            "--json",
            "--out",
            "r.h5",
            "--set",
            "memory.storage_time_ns=1.5",
            "--set",
            "memory.write_efficiency=0.55",
        ],
    )
    check_contract(summary, memory=True)
    assert (summary["shots"], summary["seed"], summary["mode"]) == (20000, 5, "analog")
    assert summary["output"] == "r.h5"
    assert summary["photons_emitted"] > 0 and summary["photons_per_second"] > 0
    result = read_result("r.h5")
    assert "storage_time_ns = 1.5" in result.config_toml
    assert "write_efficiency = 0.55" in result.config_toml
    assert result.retrieval_window_ns == pytest.approx((0.9 + 1.5 - 0.8, 0.9 + 1.5 + 0.8))


def test_show_json_equals_simulate_json(workdir, capsys):
    simulated = run_json(capsys, ["simulate", "link.toml", *FAST, "--json"])
    shown = run_json(capsys, ["show", "link.h5", "--json"])
    for timing in ("photons_per_second",):
        simulated.pop(timing), shown.pop(timing)
    assert shown == simulated


def test_show_text(workdir, capsys):
    assert main(["simulate", "link.toml", *FAST]) == 0
    simulated = capsys.readouterr().out
    assert main(["show", "link.h5"]) == 0
    assert capsys.readouterr().out == simulated


def test_expected_mode(workdir, capsys):
    summary = run_json(capsys, ["simulate", "link.toml", *FAST, "--mode", "expected", "--json"])
    check_contract(summary, memory=True)
    assert summary["mode"] == "expected"
    with h5py.File("link.h5") as f:
        assert f["detectors"]["detector"]["counts"].dtype.kind == "f"


def test_existing_output_fails_before_running(workdir, capsys, monkeypatch):
    assert main(["simulate", "link.toml", *FAST]) == 0
    capsys.readouterr()
    before = (workdir / "link.h5").read_bytes()

    def no_run(self, progress=None):
        raise AssertionError("simulated although the output exists")

    monkeypatch.setattr(RunConfig, "simulate", no_run)
    user_error(capsys, ["simulate", "link.toml", *FAST], "link.h5 already exists", "--force")
    assert (workdir / "link.h5").read_bytes() == before


def test_force_overwrites(workdir, capsys):
    assert main(["simulate", "link.toml", *FAST, "--seed", "1"]) == 0
    assert main(["simulate", "link.toml", *FAST, "--seed", "2", "--force"]) == 0
    assert read_result("link.h5").seed == 2
    assert sorted(p.name for p in workdir.iterdir()) == ["link.h5", "link.toml"]


@pytest.mark.parametrize("name", ["thomas2024_qd_torca.toml", "fiber_link_10km.toml"])
def test_shipped_configs(tmp_path, capsys, name):
    config = CONFIGS / name
    if not config.exists():
        pytest.skip(f"{config} is not there yet")
    out = tmp_path / "r.h5"
    summary = run_json(capsys, ["simulate", str(config), *FAST, "--out", str(out), "--json"])
    memory = "LadderMemory" in config.read_text()
    check_contract(summary, memory=memory)
    assert summary["detectors"] and summary["photons_emitted"] > 0
    assert read_result(out).config_toml.startswith("# photonmc")


# ---------------------------------------------------------------------- plot
def test_plot(workdir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["simulate", "link.toml", *FAST]) == 0
    assert main(["plot", "link.h5"]) == 0
    assert (workdir / "link.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "link.h5", "-o", "fig.png"]) == 0
    assert (workdir / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in workdir.iterdir() if p.name.startswith(".")]


def test_plot_without_matplotlib(workdir, capsys, monkeypatch):
    assert main(["simulate", "link.toml", "--mode", "expected", "--shots", "1000"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert main(["plot", "link.h5"]) == 2
    assert capsys.readouterr().err.strip() == PLOT_HINT


# ---------------------------------------------------------------- user errors
@pytest.mark.parametrize(
    "edit, fragments",
    [
        (("length_km = 1", "length_km = = 1"), ["link.toml: malformed TOML", "line 18"]),
        (('"Fiber"', '"Fibre"'), ["unknown stage type 'Fibre'", "did you mean 'Fiber'?"]),
        (("length_km = 1", "lenght_km = 1"), ["unknown key 'lenght_km'", "'length_km'"]),
        (
            ("length_km = 1", 'length_km = "ten"'),
            ["stage 'fiber' (Fiber): length_km must be a number (km), got 'ten'"],
        ),
        (("length_km = 1", "length_km = -3"), ["link.toml: Fiber 'fiber': length_km must be >= 0"]),
        (("[tagger]", "[tagger_]"), ["unknown key 'tagger_'"]),
    ],
)
def test_bad_config(workdir, capsys, edit, fragments):
    (workdir / "link.toml").write_text(BASE.replace(*edit, 1))
    user_error(capsys, ["simulate", "link.toml", *FAST], *fragments)
    assert not (workdir / "link.h5").exists()


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["simulate", "nope.toml"], ["nope.toml: no such config file"]),
        (["simulate", "link.toml", "--set", "memry.lifetime_ns=2"], ["did you mean 'memory'?"]),
        (["simulate", "link.toml", "--set", "memory.lifetime_ns=-2"], ["lifetime_ns must be > 0"]),
        (["simulate", "link.toml", "--set", "lifetime_ns"], ["expected TARGET.KEY=VALUE"]),
        (["simulate", "link.toml", "--shots", "0"], ["shots must be a whole number >= 1"]),
        (["simulate", "link.toml", "--shots", "many"], ["invalid int value: 'many'"]),
        (["simulate", "link.toml", "--mode", "fast"], ["invalid choice: 'fast'"]),
        (["simulate", "link.toml", "--cpu-devices", "0"], ["--cpu-devices must be", ">= 1, got 0"]),
        (["fit", "fit.toml", "--cpu-devices", "two"], ["invalid int value: 'two'"]),
        (["simulate", "link.toml", "--frobnicate"], ["unrecognized arguments: --frobnicate"]),
        (["simulate", "link.toml", "--out", "no/such/dir/r.h5"], ["does not exist"]),
        (["simulate", "link.toml", "--out", "."], ["is a directory"]),
        (["simulate"], ["required: CONFIG.toml"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
        (["show", "missing.h5"], ["missing.h5: no such file"]),
        (["show", "link.toml"], ["link.toml: not an HDF5 file"]),
        (["plot", "missing.h5"], ["missing.h5: no such file"]),
    ],
)
def test_user_errors(workdir, capsys, argv, fragments):
    user_error(capsys, argv, *fragments)


def test_show_foreign_hdf5(workdir, capsys):
    with h5py.File("other.h5", "w") as f:
        f["x"] = 1
    user_error(capsys, ["show", "other.h5"], "other.h5: not a photonmc result")


def test_help(capsys):
    assert main(["--help"]) == 0
    assert "simulate" in capsys.readouterr().out
    assert main(["simulate", "--help"]) == 0
    assert "--set" in capsys.readouterr().out
