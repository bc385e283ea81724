"""The OrcaMemory stage, `memory_report` and `photonmc memory` (ORCA_MODEL 4.1 from TOML)."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

import photonmc as pmc
from photonmc.cli import main
from photonmc.config import ConfigError, load_config
from photonmc.memory_report import parse_input
from photonmc.stages import STAGE_TYPES

CASE41 = str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "orca_case41.toml")
ANALYTIC = ["--set", "memory.tier=analytic", "--set", "memory.storage_time_ns=0.0"]


def memory_json(capsys, *argv) -> dict:
    assert main(["memory", CASE41, *argv, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_registered_and_public():
    assert STAGE_TYPES["OrcaMemory"] is pmc.OrcaMemory
    m = pmc.OrcaMemory(write_time_ns=0.0)
    assert (m.species, m.storage_state, m.tier, m.doppler_classes) == (
        "Rb87",
        "4D5/2",
        "adiabatic",
        9,
    )
    # absent overrides take the atomic data table: Rb 5P3/2-4D5/2 control on the D2 line
    sp = m.species_data
    assert sp.inverted and float(m.physics().optical_depth) > 0


@pytest.mark.parametrize(
    "kw,fragments",
    [
        ({"temperature_c": -5.0}, ("temperature_c", "-5", "C")),  # a range
        ({"cell_length_cm": 0.0}, ("cell_length_cm", "cm", "> 0")),  # an open bound
        ({"geometry": "side"}, ("geometry", "'counter'", "'side'")),  # a choice
        ({"species": "Cs133"}, ("storage_state", "'6D5/2'", "'4D5/2'")),  # the pair
        ({"doppler_classes": 2.5}, ("doppler_classes", "whole number", "2.5")),
        ({"grid_nz": 2}, ("grid_nz", ">= 3", "2")),
        ({"tier": "analytic"}, ("tier 'analytic'", "square", "'gaussian'")),
        ({"tier": "full"}, ("tier 'full'", "standard ladder", "4D5/2")),
        ({"beat_terms": [[-0.1, 0.3, 0.0]]}, ("beat_terms", ">= 0")),
    ],
)
def test_bad_input_is_refused_with_the_field_and_value(kw, fragments):
    with pytest.raises(ValueError) as e:
        pmc.OrcaMemory(**{"write_time_ns": 0.0, "name": "mem", **kw})
    msg = str(e.value)
    assert "OrcaMemory 'mem'" in msg and "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_config_errors_name_the_file_and_stage():
    with pytest.raises(ConfigError, match=r"orca_case41.toml.*temperature_c"):
        load_config(CASE41, ["memory.temperature_c=-1.0"])
    with pytest.raises(ConfigError, match=r"unknown key 'detuning_mhz'.*detuning"):
        load_config(CASE41, ["memory.detuning_mhz=1.0"])
    for bad in ("gaussian", "gaussian:-1", "gaussian:x", "sauce"):
        with pytest.raises(ValueError, match="gaussian:FWHM_NS"):
            parse_input(bad)


def test_case41_critical_energy_and_analytic_tier(capsys):
    """ORCA_MODEL 4.1/4.2: E_crit = 6.031 nJ; eta_A = 0.9358 (f = 2) and 0.7953 (f = 1) at
    T_s = 0 on the light-shifted two-photon resonance."""
    f2 = memory_json(capsys, "--input", "gaussian:0.6", *ANALYTIC)
    assert set(f2) == {
        "optical_depth",
        "critical_energy_nj",
        "efficiency",
        "singular_values",
        "storage_1e_ns",
        "light_shift_mhz",
        "tier",
        "warnings",
    }
    assert set(f2["efficiency"]) == {"write", "read", "total"}
    assert f2["critical_energy_nj"] == pytest.approx(6.031, abs=1e-3)
    assert f2["optical_depth"] == pytest.approx(2.466e4, rel=1e-3)
    assert f2["tier"] == "analytic"
    assert f2["efficiency"]["total"] == pytest.approx(0.935755, abs=1e-4)
    # the light shift is -|Omega|^2/(4 Delta) (standard ladder), matched by the config's delta
    assert f2["light_shift_mhz"] == pytest.approx(-960.389, abs=0.05)
    f1 = memory_json(capsys, "--input", "gaussian:0.3", *ANALYTIC)
    assert f1["efficiency"]["total"] == pytest.approx(0.795318, abs=1e-4)
    w, r, t = (f1["efficiency"][k] for k in ("write", "read", "total"))
    assert w * r == pytest.approx(t, rel=1e-5)


def test_case41_adiabatic_tier_physical_signs(capsys, tmp_path):
    """The adiabatic tier, one velocity class, a Gaussian signal on the write control:
    0.9225 (ORCA_MODEL 4.1, physical signs) within the grid's ~1e-3 and the protocol's input
    tilt (3e-3, as the kernel face's test); singular values descending, sigma_1^2 above the
    Gaussian's efficiency. --plot draws the figure and refuses to overwrite it."""
    fig = tmp_path / "memory.png"
    plot = importlib.util.find_spec("matplotlib") is not None  # the plot extra
    out = memory_json(capsys, "--input", "gaussian:0.6", *(["--plot", str(fig)] if plot else []))
    assert out["tier"] == "adiabatic"
    assert out["efficiency"]["total"] == pytest.approx(0.9225, abs=3e-3)
    sv = out["singular_values"]
    assert len(sv) >= 3 and all(a >= b for a, b in zip(sv, sv[1:], strict=False))
    assert out["efficiency"]["total"] < sv[0] <= 1.0
    assert out["storage_1e_ns"] > 10.0
    if not plot:
        return
    assert fig.stat().st_size > 0
    assert main(["memory", CASE41, "--plot", str(fig)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err


@pytest.mark.slow
def test_source_input_is_the_density_matrix_average():
    """--input source: the total efficiency is Tr(K rho K^dagger) / Tr(rho) with rho the
    feeding-delay average of the exponential photon (on a coarse grid: the identity holds on
    any grid, to rounding)."""
    import importlib

    import jax.numpy as jnp
    import numpy as np

    from photonmc.kernels import orca

    mr = importlib.import_module("photonmc.memory_report")

    over = [
        "qd.feeding_time_ns=0.05",
        "memory.write_time_ns=0.4",
        "memory.grid_nz=17",
        "memory.storage_time_ns=3.0",
    ]
    link = load_config(CASE41, over).link
    rep = pmc.memory_report(link)
    assert rep.input == "source" and rep.tier == "adiabatic"
    m = link["memory"]
    psi, w, t1, end = mr._source(link)
    cfg = m.grid(max(abs(0.4), abs(end - 0.4)), t1)
    k = m.kernel(cfg)
    x = psi(k.input_times_ns)  # (nt + 1, nodes)
    rho = (x * jnp.asarray(w)[None, :]) @ x.conj().T
    s = jnp.sqrt(k.input_weights)
    norm = float(jnp.sum((s[:, None] * x) ** 2, axis=0) @ jnp.asarray(w))
    eta = float(orca.kernel_state_efficiency(k, rho)) / norm
    assert rep.efficiency["total"] == pytest.approx(eta, rel=1e-4)
    assert 0 < rep.efficiency["total"] < rep.singular_values[0]
    # ratios of the node-weighted photon numbers (a coarse grid may pass 1 by its balance defect)
    assert 0 < rep.efficiency["write"] < 1.05 and 0 < rep.efficiency["read"] < 1.05
    assert all(np.isfinite(v) for v in rep.efficiency.values())


SEED = str(pathlib.Path(CASE41).parent / "thomas2024_qd_torca_physical.toml")


def test_seed_physical_config_is_calibrated_as_its_comments_say():
    """The seed experiment with the physical memory: the telecom (inverted) ladder, the
    dephasing calibrated to the measured 1/e storage time of 1.10 ns, controls at E_crit."""
    m = load_config(SEED).link["memory"]
    assert m.species_data.inverted and (m.species, m.storage_state) == ("Rb87", "4D5/2")
    assert float(m.storage_1e_ns()) == pytest.approx(1.10, abs=1e-3)
    assert float(m.write_energy_nj) == pytest.approx(float(m.critical_energy_nj()), rel=1e-3)


@pytest.mark.slow
def test_seed_physical_config_memory_json(capsys):
    """`photonmc memory --json` on the physical seed config: the contract's keys and the
    predictions the README quotes (source photon: total 0.176, write 0.375, read 0.484)."""
    assert main(["memory", SEED, "--json"]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["tier"] == "adiabatic" and len(out["singular_values"]) == 5
    eff = out["efficiency"]
    assert eff["total"] == pytest.approx(0.1763, abs=2e-3)
    assert eff["write"] == pytest.approx(0.3754, abs=2e-3)
    assert eff["read"] == pytest.approx(0.4844, abs=2e-3)
    assert out["storage_1e_ns"] == pytest.approx(1.10, abs=1e-3)
    report = pmc.memory_report(load_config(SEED).link)
    assert 0.0 < report.output_mode["fwhm_ns"] < 2.0
