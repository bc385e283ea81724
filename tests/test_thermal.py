"""Tests of photonmc.kernels.thermal (Bose-Einstein numbers, the g2 of mixed light) and of
thermal memory noise in the stages and both engines (docs/physics.md 3.4)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import photonmc as pmc
from photonmc.expected import expected_peak_areas
from photonmc.kernels import thermal


def test_thermal_numbers_have_bose_einstein_moments():
    mu, n = 0.3, 400_000
    x = np.asarray(thermal.thermal_numbers(jax.random.key(2), mu, (n,)))
    mean, var = x.mean(), x.var()
    assert abs(mean - mu) < 5 * np.sqrt(mu * (1 + mu) / n)
    assert abs(var - mu * (1 + mu)) < 0.01
    # g2 = <n(n-1)> / <n>^2 = 2 for thermal light
    g2 = np.mean(x * (x - 1)) / mean**2
    assert abs(g2 - 2.0) < 0.05
    p0 = np.mean(x == 0)
    assert abs(p0 - 1 / (1 + mu)) < 5 * np.sqrt(p0 * (1 - p0) / n)


def test_thermal_events_place_every_photon_in_its_shot():
    mu, shots = 0.2, 50_000
    cap = thermal.thermal_capacity(mu, shots)
    exists, shot, dropped = thermal.thermal_events(jax.random.key(4), mu, shots, shots, cap)
    assert int(dropped) == 0
    counts = np.bincount(np.asarray(shot)[np.asarray(exists)], minlength=shots)
    assert abs(counts.mean() - mu) < 5 * np.sqrt(mu * (1 + mu) / shots)
    assert abs(counts.var() - mu * (1 + mu)) < 0.02


def test_g2_closed_forms():
    # Poisson noise with a perfect single-photon signal: (2 SNR + 1) / (SNR + 1)^2.
    snr = 4.0
    assert np.isclose(thermal.g2_with_poisson(0.0, snr, 1.0), (2 * snr + 1) / (snr + 1) ** 2)
    # Thermal noise alone gives 2, Poisson alone 1; a signal alone its own g2.
    assert np.isclose(thermal.g2_with_thermal(0.3, 0.0, 0.5), 2.0)
    assert np.isclose(thermal.g2_with_poisson(0.3, 0.0, 0.5), 1.0)
    assert np.isclose(thermal.g2_with_thermal(0.3, 0.5, 0.0), 0.3)
    # Monte Carlo of a mixture: signal at most one photon (g_s = 0) plus thermal noise.
    n, mu_s, mu_n = 400_000, 0.1, 0.05
    k1, k2 = jax.random.split(jax.random.key(9))
    s = np.asarray(jax.random.uniform(k1, (n,)) < mu_s).astype(int)
    x = s + np.asarray(thermal.thermal_numbers(k2, mu_n, (n,)))
    g2 = np.mean(x * (x - 1)) / np.mean(x) ** 2
    assert abs(g2 - thermal.g2_with_thermal(0.0, mu_s, mu_n)) < 0.03


# ------------------------------------------- thermal memory noise in the stages and engines


EFF = {"a": 0.9, "b": 0.8}


def memory(stats="poisson", read=0.3, write=0.0, **kw):
    """A memory without leak-through (transmission 0): its output is retrieved light and
    noise only."""
    return pmc.LadderMemory(
        write_time_ns=1.0,
        input_mode_fwhm_ns=1.0,
        output_mode_fwhm_ns=0.8,
        write_efficiency=0.9,
        read_efficiency=0.9,
        storage_time_ns=5.0,
        lifetime_ns=1e4,
        transmission=0.0,
        read_noise_photons=read,
        write_noise_photons=write,
        noise_statistics=stats,
        **kw,
    )


def hbt(mem, *, mu=1.0, g2=0.1, dark=0.0):
    """Source, memory, 50:50 splitter, two detectors without dead time; a window (12 ns)
    shorter than the period (12.5 ns)."""
    stages = [
        pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=mu, g2=g2),
        mem,
        pmc.BeamSplitter(reflectivity=0.5),
        pmc.Detector(
            efficiency=EFF["a"], dark_count_rate_hz=dark, name="a", branch="bs.transmitted"
        ),
        pmc.Detector(efficiency=EFF["b"], dark_count_rate_hz=dark, name="b", branch="bs.reflected"),
    ]
    tagger = pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=11.0)
    return pmc.Link(stages, tagger)


def per_shot(result, origin):
    """Clicks per shot of one origin, both detectors."""
    return sum(result.detector(d).total(origin) for d in "ab") / result.shots


def peak_ratio(link):
    """Expected centre-peak area over the mean side peak (float64)."""
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        c = np.asarray(expected_peak_areas(link64, "a", "b"), np.float64)
    k = c.size // 2
    return c[k] / np.delete(c, k).mean()


def test_noise_statistics_is_a_checked_choice_on_both_memories():
    assert memory().noise_statistics == "poisson"
    with pytest.raises(ValueError, match="noise_statistics must be one of 'poisson', 'thermal'"):
        memory("bose")
    assert pmc.OrcaMemory(write_time_ns=0.0).noise_statistics == "poisson"
    assert pmc.OrcaMemory(write_time_ns=0.0, noise_statistics="thermal").noise_statistics == (
        "thermal"
    )
    with pytest.raises(ValueError, match="OrcaMemory 'memory': noise_statistics must be one of"):
        pmc.OrcaMemory(write_time_ns=0.0, noise_statistics="gaussian")


def test_poisson_default_reproduces_the_numbers_of_poisson_noise():
    # Noise alone (mu = 0): the counts that Poisson memory noise gave before the thermal
    # law existed, bit for bit (recorded with this link, key and chunk size).
    mem = pmc.LadderMemory(
        write_time_ns=2.0,
        input_mode_fwhm_ns=1.0,
        output_mode_fwhm_ns=0.8,
        write_efficiency=0.9,
        read_efficiency=0.9,
        storage_time_ns=5.0,
        lifetime_ns=1e4,
        transmission=0.0,
        read_noise_photons=0.3,
        write_noise_photons=0.1,
    )
    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.0),
            mem,
            pmc.Detector(efficiency=0.7, jitter_fwhm_ps=50.0),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=500.0, window_start_ns=0.0, window_stop_ns=10.0),
    )
    recorded = [0, 35, 372, 1356, 1311, 364, 30, 1, 0, 0, 0, 14, 758, 4522, 4423, 743, 13, 0, 0, 0]
    for lk in (link, link.set("memory.noise_statistics", "poisson")):
        res = pmc.simulate(lk, 50_000, key=7, chunk_shots=1 << 14)
        assert res.histogram(origin="memory_noise").tolist() == recorded
        assert res.detector().total("memory_noise") == 13942
    thermal_run = pmc.simulate(
        link.set("memory.noise_statistics", "thermal"), 50_000, key=7, chunk_shots=1 << 14
    )
    assert thermal_run.histogram(origin="memory_noise").tolist() != recorded


def test_thermal_noise_has_the_poisson_means_and_bose_einstein_spread():
    # Single-detector figures depend on the means only: expected mode is unchanged, and
    # analog thermal noise matches it; per shot the noise clicks of one mode are
    # Bose-Einstein, variance m (1 + m) for a mean of m clicks.
    shots, m = 200_000, 0.3 * 0.5 * EFF["a"]
    link = hbt(memory("thermal", read=0.3), mu=0.0)
    exp_p = pmc.simulate(hbt(memory("poisson"), mu=0.0), shots, mode="expected")
    exp_t = pmc.simulate(link, shots, mode="expected")
    np.testing.assert_array_equal(exp_t.histogram("a"), exp_p.histogram("a"))
    assert exp_t.detector("a").total("memory_noise") == pytest.approx(shots * m, rel=1e-6)
    blocks = []
    res = pmc.simulate(link, shots, key=5, chunk_shots=1 << 15, on_records=blocks.append)
    shot = np.concatenate([b["shot"][b["channel"] == 0] for b in blocks])
    n = np.bincount(shot, minlength=shots)
    var_mean = m * (1 + m) / shots
    assert abs(n.mean() - m) < 5 * math.sqrt(var_mean)
    # var of the sample variance of geometric numbers: (mu4 - var^2) / N, mu4 of the law
    var = m * (1 + m)
    mu4 = var * (1 + 9 * m + 9 * m * m)
    assert abs(n.var() - var) < 5 * math.sqrt((mu4 - var * var) / shots)
    assert abs(n.var() - m) > 10 * math.sqrt((mu4 - var * var) / shots)  # not Poisson
    assert res.counters["memory.noise_truncated"] == 0


@pytest.mark.parametrize("stats", ["thermal", "poisson"])
def test_hbt_g2_of_retrieved_light_with_read_noise_follows_the_closed_form(stats):
    """g2(0) of retrieved photons (g_s = 0.1) with strong read noise (SNR ~ 1.8):
    (g_s mu_s^2 + 2 mu_s mu_n + 2 mu_n^2) / (mu_s + mu_n)^2 for thermal noise, with
    mu_n^2 for Poisson noise (docs/physics.md 3.4, 7); analog from the coincidences
    (their Poisson error), expected mode's peak areas exactly."""
    link = hbt(memory(stats, read=0.3), mu=1.0, g2=0.1)
    e = pmc.simulate(link, 1000, mode="expected")
    mu_s, mu_n = per_shot(e, "retrieved"), per_shot(e, "memory_noise")
    law = thermal.g2_with_thermal if stats == "thermal" else thermal.g2_with_poisson
    want = law(0.1, mu_s, mu_n)
    other = (thermal.g2_with_poisson if stats == "thermal" else thermal.g2_with_thermal)(
        0.1, mu_s, mu_n
    )
    assert peak_ratio(link) == pytest.approx(want, rel=1e-9)
    res = pmc.simulate(link, 400_000, key=3, chunk_shots=1 << 15, correlations=True)
    g2 = res.photon_statistics["g2_0"]
    assert abs(g2.value - want) < 5 * g2.stderr, (g2, want)
    assert abs(other - want) > 15 * g2.stderr  # the two laws are told apart
    ex = pmc.simulate(link, 1000, mode="expected", correlations=True).photon_statistics["g2_0"]
    assert ex.value == pytest.approx(want, rel=1e-4)


def test_thermal_modes_are_independent_and_dark_counts_poisson():
    """Noise alone: thermal write and read noise (two modes) and dark counts. Only pairs
    of one mode are correlated: C_0 / C_k = 1 + (W_a W_b + R_a R_b) / (N_a N_b), with
    W, R the clicks of each mode and N all clicks of a detector."""
    w, r, dark = 0.2, 0.2, 1e7
    link = hbt(memory("thermal", read=r, write=w), mu=0.0, dark=dark)
    e = pmc.simulate(link, 1, mode="expected")
    tot = {d: e.detector(d).total() for d in "ab"}
    for d in "ab":  # noise after the memory: 50:50 splitter, then the detector
        assert e.detector(d).total("memory_noise") == pytest.approx((w + r) * 0.5 * EFF[d])
    excess = sum(x * x * 0.25 * EFF["a"] * EFF["b"] for x in (w, r))
    want = 1.0 + excess / (tot["a"] * tot["b"])
    lumped = 1.0 + (w + r) ** 2 * 0.25 * EFF["a"] * EFF["b"] / (tot["a"] * tot["b"])
    assert peak_ratio(link) == pytest.approx(want, rel=1e-9)
    res = pmc.simulate(link, 400_000, key=4, chunk_shots=1 << 15, correlations=True)
    g2 = res.photon_statistics["g2_0"]
    assert abs(g2.value - want) < 5 * g2.stderr, (g2, want)
    assert abs(lumped - want) > 10 * g2.stderr  # one lumped mode would be told apart
