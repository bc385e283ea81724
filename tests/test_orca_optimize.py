"""`photonmc optimize` on the physical memory: the memory_efficiency objective, the
optical-depth bound beside it, and a table control whose amplitudes are free."""

from __future__ import annotations

import math
import pathlib

import jax
import numpy as np
import pytest

import photonmc as pmc
from photonmc import parameters as P
from photonmc.config import ConfigError, load_config
from photonmc.kernels import orca
from photonmc.kernels import orca_adiabatic as ob
from photonmc.kernels import orca_gorshkov as og
from photonmc.optimize import OptimizeError, objective_value, optimize, scan

CASE41 = pathlib.Path(__file__).resolve().parents[1] / "configs" / "orca_case41.toml"
ANALYTIC = ["memory.tier=analytic", "memory.storage_time_ns=0.0"]


def test_analytic_memory_efficiency_optimum_beats_start_and_stays_under_the_bound():
    """Write and read energies from 3 nJ: the optimiser ends above its start, at the scan's
    best value (within the scan's resolution), and below eta_r,max(d)^2."""
    link = load_config(CASE41, ANALYTIC + ["memory.write_energy_nj=3.0"]).link
    free = ["memory.write_energy_nj", "memory.read_energy_nj"]
    r = optimize(link, "memory_efficiency", free, {n: (0.5, 20.0) for n in free},
                 memory_input="gaussian:0.6")  # fmt: skip
    assert r.converged and r.objective_value > r.start_value + 0.05
    d = float(link["memory"].optical_depth())
    assert r.optical_depth_bound == pytest.approx(orca.optical_depth_bound(d))
    assert r.objective_value <= r.optical_depth_bound
    out = r.as_dict()
    assert out["optical_depth_bound"] == r.optical_depth_bound
    # along the write energy at the optimal read energy, no scanned value is better
    at = P.set_values(link, {"memory.read_energy_nj": r.optimum["memory.read_energy_nj"]})
    values = np.linspace(1.0, 15.0, 57)
    etas = scan(at, "memory_efficiency", "memory.write_energy_nj", values,
                memory_input="gaussian:0.6")  # fmt: skip
    assert r.objective_value >= etas.max() - 1e-9


def test_memory_efficiency_objective_refuses_what_it_cannot_do():
    link = load_config(CASE41, ANALYTIC).link
    with pytest.raises(OptimizeError, match="tier 'analytic'"):
        optimize(link, "memory_efficiency", ["memory.write_energy_nj"])
    with pytest.raises(OptimizeError, match="gaussian:FWHM_NS"):
        optimize(link, "memory_efficiency", ["memory.write_energy_nj"], memory_input="laser")
    ladder = load_config(CASE41.parent / "rb_ladder_memory.toml").link
    with pytest.raises(OptimizeError, match="no OrcaMemory"):
        optimize(ladder, "memory_efficiency", ["memory.write_time_ns"])


def test_optical_depth_bound_converges():
    """eta_r,max(d)^2 does not move when the quadrature order doubles, up to d = 4e4 (where
    a fixed order of 128 fails), and approaches 1 - 2.9/d."""
    with jax.enable_x64(True):
        for d in (10.0, 1e3, 4e4):
            n = max(128, math.ceil(8 * math.sqrt(d)))
            ref = float(og.max_retrieval_efficiency(d, n)) ** 2
            assert orca.optical_depth_bound(d) == pytest.approx(ref, abs=1e-9)
    assert orca.optical_depth_bound(4e4) == pytest.approx((1 - 2.9 / 4e4) ** 2, abs=2e-6)


def test_table_envelope_and_moments():
    """The raised-cosine interpolation passes through the amplitudes, vanishes at the pulse's
    ends, and its moments equal quadrature."""
    with jax.enable_x64(True):
        a = np.array([0.3, 1.0, 0.7, 0.2])
        t_pulse = 1.3
        h = t_pulse / 5
        nodes = -t_pulse / 2 + h * np.arange(1, 5)
        np.testing.assert_allclose(ob.table_envelope(a, t_pulse, nodes), a, atol=1e-12)
        assert float(ob.table_envelope(a, t_pulse, np.array([t_pulse / 2]))[0]) == 0.0
        t = np.linspace(-t_pulse / 2, t_pulse / 2, 200001)
        env = np.asarray(ob.table_envelope(a, t_pulse, t))
        m1, m2 = ob.table_moments(a)
        assert float(m1) == pytest.approx(np.trapezoid(env, t) / t_pulse, rel=1e-8)
        assert float(m2) == pytest.approx(np.trapezoid(env**2, t) / t_pulse, rel=1e-8)
        # the pulse energy: int |Omega|^2 dt = Omega(E / T)^2 T, whatever the amplitudes
        p = orca.case41_params()._replace(control_fwhm_ns=t_pulse, control_table=a)
        sp = orca.ad.species_data("Rb87", "5D5/2")
        ph = orca.physics(sp, p, "counter", "table")
        mean_rabi = float(orca.ad.rabi_frequency(
            p.write_energy_nj * 1e-9 / (t_pulse * 1e-9), p.control_dipole_ea0,
            p.control_waist_um * 1e-6)) * 1e-9  # fmt: skip
        c = orca._controls(ph, p)[0]
        energy = float(ob.control_pulse_integral("table", c))
        assert energy == pytest.approx(mean_rabi**2 * t_pulse, rel=1e-12)


@pytest.mark.parametrize(
    "table,shape,fragment",
    [
        ([0.5, 1.0, 0.5], "gaussian", "control_shape 'table'"),
        ([1.0], "table", "2 to 16 amplitudes"),
        ([0.5, -1.0, 0.5], "table", ">= 0"),
        ([0.0, 0.0], "table", "at least one > 0"),
        ((), "table", "2 to 16 amplitudes"),
    ],
)
def test_bad_control_tables_are_refused(table, shape, fragment):
    with pytest.raises(ValueError) as e:
        pmc.OrcaMemory(write_time_ns=0.0, name="mem", control_shape=shape, control_table=table)
    msg = str(e.value)
    assert "OrcaMemory 'mem'" in msg and "control_table" in msg and fragment in msg
    assert "\n" not in msg


def test_table_amplitudes_are_parameters():
    link = load_config(
        CASE41, ["memory.control_shape=table", "memory.control_table=[0.5, 1, 0.5]"]
    ).link
    assert P.parameter(link, "memory.control_table[2]").get(link) == 0.5
    assert "memory.control_table[1]" in P.fittable_names(link)
    moved = P.set_values(link, {"memory.control_table[1]": 0.8})
    assert moved["memory"].control_table.tolist() == [0.5, 0.8, 0.5]
    with pytest.raises(P.ParameterError, match=r"address one entry.*control_table\[0\]"):
        P.parameter(link, "memory.control_table")
    with pytest.raises(P.ParameterError, match="3 control_table entries"):
        P.parameter(link, "memory.control_table[3]")
    with pytest.raises(ValueError, match="control_table.*>= 0"):
        P.set_values(link, {"memory.control_table[0]": -1.0})
    with pytest.raises(ConfigError, match="control_table must be a list of numbers"):
        load_config(CASE41, ["memory.control_shape=table", "memory.control_table=1.0"])


def _case41_gaussian():
    """Case 4.1 with a Gaussian control at its critical energy, phase-matched."""
    link = load_config(CASE41, ["memory.control_shape=gaussian"]).link
    e = float(link["memory"].critical_energy_nj())
    link = P.set_values(link, {"memory.write_energy_nj": e, "memory.read_energy_nj": e})
    shift = float(link["memory"].light_shift_mhz())
    return P.set_values(link, {"memory.two_photon_detuning_mhz": -shift}), e


@pytest.mark.slow
def test_table_control_beats_the_gaussian_at_the_same_energy():
    """Five amplitudes over 0.75 ns, started at the 0.3 ns Gaussian control's envelope, the
    middle one held (the energy fixes the scale): the optimised table stores and retrieves
    the 0.6 ns signal at least as well as the Gaussian control of the same energy, better
    than its start, and below the optical-depth bound."""
    gauss, e = _case41_gaussian()
    inp = "gaussian:0.6"
    with jax.enable_x64(True):
        eta_gauss = float(objective_value(gauss, "memory_efficiency", memory_input=inp))
    t_pulse, n = 0.75, 5
    nodes = -t_pulse / 2 + t_pulse / (n + 1) * np.arange(1, n + 1)
    amps = np.exp(-2 * math.log(2) * nodes**2 / 0.3**2)
    m = gauss["memory"]
    table = type(m)(**{**m.__dict__, "control_shape": "table", "control_fwhm_ns": t_pulse,
                       "control_table": (amps / amps[2]).tolist()})  # fmt: skip
    link = pmc.Link([table if s is m else s for s in gauss.stages], gauss.tagger)
    free = [f"memory.control_table[{k}]" for k in (0, 1, 3, 4)]
    r = optimize(link, "memory_efficiency", free, memory_input=inp)
    assert r.converged
    assert r.objective_value > r.start_value
    assert r.objective_value >= eta_gauss
    assert r.objective_value <= r.optical_depth_bound
    assert float(r.link["memory"].write_energy_nj) == pytest.approx(e)


def test_cli_optimize_memory_efficiency_json(capsys, tmp_path):
    import json

    from photonmc.cli import main

    text = CASE41.read_text(encoding="utf-8").replace('tier = "adiabatic"', 'tier = "analytic"')
    text = text.replace("storage_time_ns = 2.4285714285714284", "storage_time_ns = 0.0")
    cfg = tmp_path / "case41_analytic.toml"
    cfg.write_text(text, encoding="utf-8")
    argv = ["optimize", str(cfg), "--objective", "memory_efficiency", "--input",
            "gaussian:0.6", "--free", "memory.write_energy_nj", "--bounds",
            "memory.write_energy_nj=1:15", "--json"]  # fmt: skip
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out = json.loads(captured.out)
    assert 0.0 < out["objective_value"] <= out["optical_depth_bound"] <= 1.0
