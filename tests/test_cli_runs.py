"""CLI: sweeps, time tags, correlate and resume (`photonmc sweep|simulate|correlate`)."""

from __future__ import annotations

import json
import pathlib

import h5py
import numpy as np
import pytest

from photonmc.cli import main

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"


def test_sweep_json_and_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "sweep",
            str(CONFIGS / "thomas2024_qd_torca.toml"),
            "--mode",
            "expected",
            "--param",
            "memory.storage_time_ns=0:2:3",
            "--param",
            "memory.write_time_ns=0.5:0.8:2",
            "--shots",
            "100000",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == [3, 2] and out["output"] == "thomas2024_qd_torca_sweep.h5"
    assert len(out["summary"]["snr"]["value"]) == 6
    with h5py.File(tmp_path / out["output"]) as f:
        assert f["summary/internal_efficiency/value"].shape == (3, 2)
        np.testing.assert_allclose(f["axes/memory.storage_time_ns"][()], [0.0, 1.0, 2.0])
    assert (
        main(
            [
                "sweep",
                str(CONFIGS / "thomas2024_qd_torca.toml"),
                "--param",
                "memory.storage_time_ns=0:2:3",
                "--mode",
                "expected",
            ]
        )
        == 2
    )
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "spec, message",
    [
        ("memory.storage_time_ns", "STAGE.PARAM=start:stop:num"),
        ("memory.storage_time_ns=0:2", "start:stop:num"),
        ("memory.colour=0:2:3", "no parameter"),
        ("memory.write_efficiency=0:2:3", "write_efficiency must be in [0, 1]"),
    ],
)
def test_sweep_bad_ranges(tmp_path, capsys, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    code = main(
        ["sweep", str(CONFIGS / "thomas2024_qd_torca.toml"), "--param", spec, "--mode", "expected"]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("photonmc: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_simulate_time_tags_then_correlate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "simulate",
                str(CONFIGS / "hbt_qd.toml"),
                "--shots",
                "300000",
                "--set",
                "det_t.dead_time_ns=0",
                "--set",
                "det_r.dead_time_ns=0",
                "--set",
                "qd.g2=0.2",
                "--timetags",
                "hbt.ptu",
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    clicks = sum(d["total_clicks"] for d in summary["detectors"].values())
    assert main(["correlate", "hbt.ptu", "--channels", "0,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sum(out["tags"]) == clicks
    g2 = out["g2_0"]
    assert abs(g2["value"] - 0.2) < 5 * g2["stderr"]  # 2 p2 / mu^2 = g2 (docs/physics.md 3.1)


def test_time_tags_need_analog_and_resume_needs_a_partial_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(CONFIGS / "fiber_link_10km.toml")
    assert main(["simulate", config, "--mode", "expected", "--timetags", "x.ptu"]) == 2
    assert "--timetags needs an analog run" in capsys.readouterr().err
    assert main(["simulate", config, "--shots", "1000", "--resume"]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert not (tmp_path / "x.ptu").exists()


def test_simulate_reports_g2_and_hom_figures_in_json_and_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--mode", "expected", "--shots", "1000000", "--json"]
    assert main(["simulate", str(CONFIGS / "hbt_qd.toml"), *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["g2_0"]) == {"value", "stderr"}
    assert out["g2_0"]["value"] == pytest.approx(0.05, rel=1e-3)  # the source's g2
    with h5py.File(tmp_path / "hbt_qd.h5") as f:
        assert f["summary/g2_0/value"][()] == out["g2_0"]["value"]
        pair = f["correlations/det_t,det_r"]
        assert pair["counts"].shape[0] + 1 == pair["bin_edges_ns"].shape[0]
        assert pair["peaks/counts"].shape == (11,)
    assert main(["simulate", str(CONFIGS / "hom_qd.toml"), *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["hom_visibility"]) == {"value", "stderr"}
    assert 0 < out["indistinguishability"]["value"] < 1
    assert main(["show", "hom_qd.h5"]) == 0
    text = capsys.readouterr().out
    assert "HOM visibility" in text and "photons/s" not in text and "chunks of" not in text


def test_progress_of_sweeps_and_fits_and_the_resumed_summary():
    import jax.numpy as jnp

    import photonmc as pmc
    from photonmc.cli import _FitProgress, _PointProgress, format_summary
    from photonmc.solver import Minimiser

    with _PointProgress(4, delay_s=0.0, enabled=True) as update:
        update(3)
        bar = update.__self__.bar
        assert bar.n == 3 and bar.total == 4  # tqdm shows points done and the ETA
    seen = []
    m = Minimiser(lambda z, data: jnp.sum((z - data) ** 2))
    m.on_iteration = lambda i, v: seen.append((i, v))
    m.minimise(np.zeros(2), jnp.asarray([1.0, 2.0]), max_iterations=50, gtol=1e-8)
    assert seen[0] == (0, 5.0) and seen[-1][1] < 1e-12
    with _FitProgress(delay_s=0.0, enabled=True) as update:
        update(7, 12.5)
        assert "iteration 7, -2 ln L 12.5" in update.__self__.bar.postfix
    link = pmc.Link(
        [pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6), pmc.Detector(efficiency=0.8)],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=5.0),
    )
    res = pmc.simulate(link, 1000, mode="expected")
    assert "(resumed from its checkpoint)" in format_summary(res, resumed=True).splitlines()[0]


HBT_FIT_SPEC = """config = "{config}"
free = ["qd.g2", "qd.lifetime_ns"]

[[dataset]]
file = "hbt_g2.h5"
kind = "g2"
detectors = ["det_t", "det_r"]
"""


def _readme_hbt_steps(tmp_path, capsys, shots: str):
    """Steps 1, 2 and the plot of the README's "Analysing HBT and HOM data"."""
    no_dead = ["--set", "det_t.dead_time_ns=0", "--set", "det_r.dead_time_ns=0"]
    argv = ["simulate", str(CONFIGS / "hbt_qd.toml"), "--shots", shots, *no_dead]
    assert main([*argv, "--timetags", "hbt.ptu"]) == 0
    assert "g2(0)" in capsys.readouterr().out
    argv = ["correlate", "hbt.ptu", "--bin-ps", "25", "--range-ns", "20", "--out", "hbt_g2.h5"]
    assert main(argv) == 0
    (tmp_path / "hbt_fit.toml").write_text(
        HBT_FIT_SPEC.format(config=(CONFIGS / "hbt_qd.toml").as_posix())
    )
    pytest.importorskip("matplotlib")
    assert main(["plot", "hbt_g2.h5"]) == 0
    assert (tmp_path / "hbt_g2.png").exists()


def test_readme_hbt_walkthrough_up_to_the_fit(tmp_path, capsys, monkeypatch):
    from photonmc.fitspec import load_fit_spec

    monkeypatch.chdir(tmp_path)
    _readme_hbt_steps(tmp_path, capsys, "100000")
    (d,) = load_fit_spec(tmp_path / "hbt_fit.toml").datasets
    assert d.kind == "g2" and d.n_points == 1600 and d.counts.sum() > 1000


@pytest.mark.slow
def test_readme_hbt_walkthrough_fit(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _readme_hbt_steps(tmp_path, capsys, "1000000")
    capsys.readouterr()
    assert main(["fit", "hbt_fit.toml", "--json", "--start", "qd.g2=0.1"]) == 0
    out = json.loads(capsys.readouterr().out)
    g2, t1 = out["parameters"]["qd.g2"], out["parameters"]["qd.lifetime_ns"]
    assert abs(g2["value"] - 0.05) < 5 * g2["stderr"] and abs(t1["value"] - 0.6) < 5 * t1["stderr"]
    assert main(["simulate", str(CONFIGS / "hom_qd.toml"), "--shots", "200000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    v, m = out["hom_visibility"], out["indistinguishability"]
    assert abs(v["value"] - m["value"]) < 0.1  # mu = 0.8, g2 = 0.02 and dark counts lower V
