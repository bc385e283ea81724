"""photonmc against an independent plain-numpy implementation of the same analog model.

benchmarks/numpy_reference.py was written from docs/physics.md alone (its own random numbers,
overlap, fate draws and dead-time pass). Two independent samples must agree within
their statistical errors: a two-sample chi-square over every origin's histogram. The link
is one where the reference's model is the whole model (no dispersion, a filter far wider
than the line, no light passing the memory unstored: the tabulated reshaping of
docs/physics.md 2.2 is checked against closed forms in tests/test_reshaping.py instead).
"""

from __future__ import annotations

import math
import pathlib
import sys

import numpy as np
import pytest
from scipy import stats

import photonmc as pmc
from photonmc.config import load_config

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
numpy_reference = pytest.importorskip("numpy_reference")

CONFIG = """
[run]
chunk_shots = 16384
[[stage]]
type = "QuantumDot"
rep_rate_mhz = 80.0
lifetime_ns = 0.6
feeding_time_ns = 0.05
mean_photon_number = 0.6
g2 = 0.05
spectral_diffusion_fwhm_ghz = 2.0
[[stage]]
type = "Fiber"
length_km = 2.0
dispersion_ps_per_nm_km = 0.0
[[stage]]
type = "LadderMemory"
write_time_ns = 0.8
input_mode_fwhm_ns = 1.0
output_mode_fwhm_ns = 0.6
write_efficiency = 0.6
read_efficiency = 0.7
storage_time_ns = 1.5
lifetime_ns = 1.1
transmission = 0.0
read_noise_photons = 0.01
write_noise_photons = 0.005
[[stage]]
type = "BandpassFilter"
fwhm_ghz = 1e4
[[stage]]
type = "Detector"
efficiency = 0.8
dark_count_rate_hz = 1e6
jitter_fwhm_ps = 60.0
dead_time_ns = {dead}
[tagger]
bin_width_ps = 50.0
window_start_ns = -2.0
window_stop_ns = 10.0
"""


@pytest.mark.parametrize("dead", [0.0, 25.0], ids=["no-dead-time", "dead-time"])
def test_photonmc_agrees_with_the_numpy_reference(tmp_path, dead):
    path = tmp_path / "link.toml"
    path.write_text(CONFIG.format(dead=dead))
    shots = 400_000
    ours = pmc.simulate(load_config(path).link, shots, key=3, chunk_shots=16384)
    ref = numpy_reference.simulate_numpy(
        numpy_reference.load_config(path), shots, seed=3, chunk_shots=16384
    )
    chi2, dof = 0.0, 0
    for origin in pmc.ORIGINS:
        a = ours.histogram(origin=origin).reshape(-1, 4).sum(1).astype(float)
        b = np.asarray(ref["counts"][origin]).reshape(-1, 4).sum(1).astype(float)
        keep = a + b >= 20
        chi2 += float(np.sum((a[keep] - b[keep]) ** 2 / (a[keep] + b[keep])))
        dof += int(keep.sum())
        ta, tb = ours.detector().total(origin), ref["clicks_total"][origin]
        assert abs(ta - tb) < 5 * math.sqrt(ta + tb) + 1, origin
    assert dof > 50
    assert stats.chi2.sf(chi2, dof) > 1e-3, (chi2, dof)
    n_ref = ref["photons_emitted"]
    assert abs(ours.photons_emitted - n_ref) < 5 * math.sqrt(2 * n_ref)
