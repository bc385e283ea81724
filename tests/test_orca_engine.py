"""The physical memory in the engines (docs/orca_memory.md section 12)."""

from pathlib import Path

import numpy as np
import pytest

import photonmc as pmc
from photonmc.config import load_config

CASE41 = str(Path(__file__).resolve().parents[1] / "configs" / "orca_case41.toml")


def _case41(**values):
    return load_config(CASE41).link.replace(values) if values else load_config(CASE41).link


def test_expected_internal_efficiency_is_the_kernels():
    # the engine's eta_int for the source's photon equals the memory report's total
    # efficiency for the same photon (the kernel's Tr(K rho K^dagger))
    link = _case41()
    engine = pmc.simulate(link, 1, 0, "expected").internal_efficiency().value
    report = pmc.memory_report(link, input="source").efficiency["total"]
    assert engine == pytest.approx(report, rel=2e-3)
    assert 0.5 < engine < 1.0


@pytest.mark.slow  # two analog and one expected compilation
def test_analytic_tier_is_its_equivalent_ladder():
    link = _case41(**{"memory.tier": "analytic", "memory.storage_time_ns": 1.0})
    orca = link["memory"]
    ladder = pmc.Link(
        [s if s.name != "memory" else orca.equivalent_ladder() for s in link.stages],
        link.tagger,
    )
    a = pmc.simulate(link, 200_000, 4, "analog").histogram()
    b = pmc.simulate(ladder, 200_000, 4, "analog").histogram()
    np.testing.assert_array_equal(a, b)  # the same model, bit for bit
    e = pmc.simulate(link, 200_000, 4, "expected")
    eta_w, _, eta_total = (float(x) for x in orca.analytic(orca.control_fwhm_ns))
    ladder_eta = ladder["memory"].write_efficiency * ladder["memory"].read_efficiency
    assert ladder_eta == pytest.approx(eta_total, rel=1e-6)
    assert ladder["memory"].write_efficiency == pytest.approx(eta_w, rel=1e-6)
    assert e.internal_efficiency().value < eta_total  # the photon's overlap with the mode < 1


@pytest.mark.slow
def test_analog_agrees_with_expected():
    link = _case41()
    e = pmc.simulate(link, 1_000_000, 1, "expected").histogram()
    a = pmc.simulate(link, 1_000_000, 1, "analog").histogram()
    m = e > 20
    chi2, dof = float(np.sum((a[m] - e[m]) ** 2 / e[m])), int(m.sum())
    assert dof > 100 and chi2 < dof + 5 * np.sqrt(2 * dof)


def test_a_grid_too_large_is_a_clear_error():
    link = _case41()
    with pytest.raises(ValueError, match=r"OrcaMemory 'memory': the solver's grid needs nt = \d+"):
        link.set("qd.lifetime_ns", 2e3)
    with pytest.raises(ValueError, match="shorter than 1e6 ns"):
        link.set("memory.write_time_ns", 5e6)
