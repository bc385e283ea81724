"""Tests of photonmc.kernels.thermal: Bose-Einstein numbers and the g2 of mixed light."""

from __future__ import annotations

import jax
import numpy as np

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
