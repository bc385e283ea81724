"""Optimisation: the optimum agrees with a brute-force grid; window figures; bad input; CLI."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import photonmc as pmc
from photonmc.batch import DARK, MEMORY_NOISE, RETRIEVED, SOURCE
from photonmc.cli import main
from photonmc.config import load_config
from photonmc.optimize import OptimizeError, build_problem, figures, scan

CONFIG = """
[run]
mode = "expected"

[[stage]]
type = "QuantumDot"
name = "qd"
rep_rate_mhz = 80.0
lifetime_ns = 0.6
mean_photon_number = 0.5

[[stage]]
type = "LadderMemory"
name = "memory"
write_time_ns = 0.3
input_mode_fwhm_ns = 1.0
output_mode_fwhm_ns = 0.8
write_efficiency = 0.6
read_efficiency = 0.7
storage_time_ns = 1.0
lifetime_ns = 1.1
transmission = 0.9
read_noise_photons = 0.01

[[stage]]
type = "Detector"
name = "detector"
efficiency = 0.8
dark_count_rate_hz = 20000.0
jitter_fwhm_ps = 50.0

[tagger]
bin_width_ps = 100.0
window_start_ns = -1.0
window_stop_ns = 7.0
"""
GRID_STEP = 0.02
BOUNDS = {"memory.write_time_ns": (0.0, 2.0)}


@pytest.fixture(scope="module")
def config_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("opt") / "link.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(scope="module")
def link(config_path):
    return load_config(config_path).link


def test_write_time_optimum_matches_the_grid(link):
    """L-BFGS from t_w = 0.3 ns lands within one grid step of the grid scan's best."""
    grid = np.arange(0.0, 2.0 + 1e-9, GRID_STEP)
    values = scan(link, "retrieved_efficiency", "memory.write_time_ns", grid)
    best = grid[np.argmax(values)]
    result = pmc.optimize(link, "retrieved_efficiency", ["memory.write_time_ns"], BOUNDS)
    t_w = result.optimum["memory.write_time_ns"]
    assert result.converged and result.iterations < 20
    assert abs(t_w - best) <= GRID_STEP
    assert result.objective_value >= values.max() - 1e-12
    assert result.objective_value > result.start_value
    assert result.link.get("memory.write_time_ns") == pytest.approx(t_w)
    # the compiled objective is reused: another start and other bounds do not recompile
    problem = build_problem(link, "retrieved_efficiency", ["memory.write_time_ns"], BOUNDS)
    again = pmc.optimize(
        link.set("memory.write_time_ns", 1.5),
        "retrieved_efficiency",
        ["memory.write_time_ns"],
        {"memory.write_time_ns": (0.1, 1.9)},
    )
    assert again.optimum["memory.write_time_ns"] == pytest.approx(t_w, abs=1e-4)
    assert problem.minimiser.step._cache_size() == 1


def test_window_figures_are_integrals_over_the_moving_window(link):
    """Counts in t_w + tau +- FWHM equal the bins of a tagger that has those edges."""
    aligned = link.set("memory.write_time_ns", 0.4)  # window [0.6, 2.2] ns
    tagger = pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=0.6, window_stop_ns=2.2)
    with jax.enable_x64(True):
        lk = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), aligned)
        f = jax.jit(lambda: figures(lk, window_length_ns=1100.0))()
        counts, totals, _ = jax.jit(
            lambda: pmc.expected_counts(pmc.Link(lk.stages, tagger))
        )()  # fmt: skip
    window = np.asarray(counts).sum(axis=1)
    a, b = (float(x) for x in f["window_ns"])
    assert (a, b) == pytest.approx((0.6, 2.2))
    assert float(f["retrieved_w"]) == pytest.approx(window[RETRIEVED], rel=1e-9)
    assert float(f["leak_w"]) == pytest.approx(window[SOURCE], rel=1e-9)
    assert float(f["noise_w"]) == pytest.approx(window[MEMORY_NOISE] + window[DARK], rel=1e-9)
    assert float(f["retrieved"]) == pytest.approx(float(totals[RETRIEVED]), rel=1e-12)


def test_bad_optimize_inputs_are_one_line_errors(link):
    fiber_only = pmc.Link([link.stages[0], link.stages[2]], link.tagger)
    cases = [
        (lambda: pmc.optimize(link, "brightness", ["memory.write_time_ns"]), "unknown objective"),
        (lambda: pmc.optimize(link, "snr", ["memory.write_tme_ns"]), "did you mean"),
        (lambda: pmc.optimize(link, "snr", []), "no free parameters"),
        (
            lambda: pmc.optimize(
                link, "snr", ["memory.write_efficiency"], {"memory.write_efficiency": (0.5, 1.2)}
            ),
            "leave its valid range (in [0, 1])",
        ),
        (
            lambda: pmc.optimize(
                link, "snr", ["memory.lifetime_ns"], {"memory.lifetime_ns": (0.0, 3.0)}
            ),
            "leave its valid range (> 0 ns)",
        ),
        (
            lambda: pmc.optimize(
                link, "snr", ["memory.write_time_ns"], {"memory.storage_time_ns": (0.0, 3.0)}
            ),
            "not free",
        ),
        (
            lambda: pmc.optimize(
                link, "snr", ["memory.write_time_ns"], {"memory.write_time_ns": (2.0, 1.0)}
            ),
            "lo < hi",
        ),
        (lambda: pmc.optimize(fiber_only, "snr", ["qd.lifetime_ns"]), "need a LadderMemory"),
        (lambda: scan(link, "snr", "memory.lifetime_ns", [1.0, -1.0]), "must be > 0 ns"),
    ]
    for call, fragment in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert fragment in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
    assert isinstance(OptimizeError("x"), ValueError)


def test_optimize_cli(config_path, capsys):
    argv = ["optimize", str(config_path), "--objective", "retrieved_efficiency"]
    argv += ["--free", "memory.write_time_ns", "--bounds", "memory.write_time_ns=0:2"]
    assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"optimum", "objective_value", "iterations", "converged", "warnings"}
    assert out["converged"] is True and out["warnings"] == []
    assert set(out["optimum"]) == {"memory.write_time_ns"}
    assert 0.5 < out["optimum"]["memory.write_time_ns"] < 0.8
    assert main(argv) == 0
    assert "retrieved_efficiency" in capsys.readouterr().out

    def error(extra, fragment):
        assert main(["optimize", str(config_path), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("photonmc: error: ") and fragment in err[0]

    base = ["--objective", "snr", "--free", "memory.write_time_ns"]
    error([*base, "--bounds", "memory.write_time_ns=0-2"], "expected P=lo:hi")
    error([*base, "--bounds", "memory.write_time_ns=a:b"], "expected P=lo:hi")
    error(
        ["--objective", "snr", "--free", "memory.read_efficiency",
         "--bounds", "memory.read_efficiency=0.5:2"],
        "valid range",
    )  # fmt: skip
    error(["--objective", "best", "--free", "memory.write_time_ns"], "unknown objective")
    error(["--free", "memory.write_time_ns"], "--objective")


def test_optimum_on_a_bound_is_reported(link, config_path, capsys):
    """With the write time bounded below its optimum (0.5-0.8 ns), the optimum sits on the
    upper bound: a warning says so, and the JSON says whether it converged."""
    result = pmc.optimize(
        link, "retrieved_efficiency", ["memory.write_time_ns"], {"memory.write_time_ns": (0, 0.4)}
    )
    assert result.optimum["memory.write_time_ns"] == pytest.approx(0.4, abs=1e-3)
    assert any("ended on its bound 0.4" in w for w in result.warnings), result.warnings
    argv = ["optimize", str(config_path), "--objective", "retrieved_efficiency", "--json"]
    argv += ["--free", "memory.write_time_ns", "--bounds", "memory.write_time_ns=0:0.4"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert isinstance(out["converged"], bool) and "bound" in out["warnings"][0]
