"""Tests of the counter-block random numbers of kernels/sampling.py."""

from __future__ import annotations

import math

import jax
import numpy as np
from scipy import stats

from photonmc.kernels import sampling


def test_threefry_known_answer():
    """Threefry-2x32, 20 rounds: the Random123 known-answer vectors."""
    u32 = np.uint32
    cases = [
        ((0, 0), (0, 0), (0x6B200159, 0x99BA4EFE)),
        ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
        ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
    ]
    for key, counter, expected in cases:
        x0, x1 = sampling.threefry2x32(
            u32(key[0]), u32(key[1]), np.array([counter[0]], u32), np.array([counter[1]], u32)
        )
        assert (int(x0[0]), int(x1[0])) == expected


def test_uniforms_are_uniform_in_the_open_interval():
    n = 200_000
    u = np.asarray(sampling.uniforms(jax.random.key(1), (n // 4, 4)), np.float64).ravel()
    assert u.dtype == np.float64 and 0.0 < u.min() and u.max() < 1.0
    # KS test against U(0, 1): a p-value below 1e-4 would be a 1-in-10^4 fluke
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # neighbouring words and columns uncorrelated: |r| < 5 / sqrt(n)
    w = u.reshape(-1, 4)
    r = np.corrcoef(w.T)
    assert np.max(np.abs(r - np.eye(4))) < 5.0 / math.sqrt(w.shape[0])


def test_blocks_depend_on_key_and_shape_only():
    k = jax.random.key(7)
    a = np.asarray(sampling.uniforms(k, (1000, 3)))
    np.testing.assert_array_equal(
        a, np.asarray(jax.jit(sampling.uniforms, static_argnums=1)(k, (1000, 3)))
    )
    b = np.asarray(sampling.uniforms(jax.random.fold_in(k, 1), (1000, 3)))
    assert np.mean(a == b) < 0.01
    # odd sizes: every word is drawn
    assert sampling.random_bits(k, (7,)).shape == (7,)


def test_normal_from_uniform():
    u = sampling.uniforms(jax.random.key(2), (100_000,))
    z = np.asarray(sampling.normal_from_uniform(u), np.float64)
    assert np.all(np.isfinite(z))
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_poisson_capacity_bounds_the_tail_at_every_mean():
    for mean in (0.3, 10.0, 189.7, 499.0, 501.0, 758.9, 999.0, 5000.0):
        cap = sampling.poisson_capacity(mean)
        # P(N > cap) < 1e-15: beyond mean + 7.9 sd for a normal tail
        assert cap >= mean + 7.9 * math.sqrt(mean), (mean, cap)
        assert stats.poisson.sf(cap, mean) < 1e-14, (mean, cap)
