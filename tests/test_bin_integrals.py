"""Tests of kernels/bin_integrals.py against scipy, quadrature and closed forms.

References are float64 and independent of the kernel: scipy.stats.exponnorm (K =
tau/sigma, loc = t0, scale = sigma; its sf is a sum of positive terms in log space),
adaptive quadrature of the defining convolution with log-space normal tails, the exact
exponential for sigma = 0, and a numpy Monte Carlo for the hypoexponential law.
Float32 results are compared with the float64 reference evaluated at the same
(float32-rounded) inputs, so a tolerance is the kernel's own error.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from photonmc.kernels.bin_integrals import (
    emg_bin_probs,
    emg_cdf,
    emg_sf,
    gauss_bin_probs,
    hypoexp_gauss_cdf,
    uniform_bin_probs,
)

# (t0, tau, sigma) in ns, k = sigma / tau from 0.001 to 20.
PARAMS = [
    (0.3, 1.0, 0.02),
    (0.0, 0.5, 0.05),
    (-0.2, 2.0, 0.5),
    (0.1, 0.1, 1.0),
    (0.0, 5.0, 0.005),
    (0.0, 0.05, 1.0),
]


def x64():
    return jax.enable_x64(True)


def edges_for(t0, tau, sigma, n_left=40, n_right=120, right_taus=30.0, left_sigmas=8.0):
    width = max(sigma, 1e-3)
    left = np.linspace(t0 - left_sigmas * width, t0, n_left, endpoint=False)
    right = np.linspace(t0, t0 + right_taus * tau + 4 * sigma, n_right)
    return np.concatenate([left, right])


def ref_cdf_sf(x, t0, tau, sigma):
    """float64 reference: scipy's exponnorm (sigma > 0) or the exponential (sigma = 0)."""
    d = np.asarray(x, np.float64) - t0
    if sigma == 0.0:
        pos = np.maximum(d, 0.0) / tau
        return -np.expm1(-pos), np.exp(-pos)
    law = stats.exponnorm(tau / sigma, loc=t0, scale=sigma)
    return law.cdf(x), law.sf(x)


def quad_cdf_sf(d, tau, sigma):
    """F and S at t0 + d by quadrature of E[Phi((d - tau E) / sigma)] over E ~ Exp(1).

    Integrands in log space (log_ndtr) so that tails far below 1e-300 stay relative.
    """

    def integral(sign):
        def f(z):
            return math.exp(-z + special.log_ndtr(sign * (d - tau * z) / sigma))

        y = d / tau
        pts = [max(y, 0.0)] if y > 0 else None
        upper = max(y, 0.0) + 60.0
        val, _ = integrate.quad(f, 0.0, upper, points=pts, epsabs=0.0, epsrel=1e-13, limit=400)
        return val

    return integral(+1.0), integral(-1.0)


# ---------------------------------------------------------------------------------
# Survival function and CDF
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_cdf_and_sf_match_scipy_float64(t0, tau, sigma):
    x = edges_for(t0, tau, sigma)
    with x64():
        f = np.asarray(emg_cdf(x, t0, tau, sigma))
        s = np.asarray(emg_sf(x, t0, tau, sigma))
    f_ref, s_ref = ref_cdf_sf(x, t0, tau, sigma)
    # 1e-10 relative (measured <= 6e-14), in the bulk and both tails. scipy's cdf is
    # Phi(u) - A itself, which cancels where F << Phi(u) (left of t0 with sigma << tau:
    # 1.4e-10 error at u = -8, k = 0.001, where the kernel agrees with 50-digit mpmath):
    # there the quadrature test below is the reference.
    m = (s_ref > 1e-250) & (s_ref < 1.0)
    np.testing.assert_allclose(s[m], s_ref[m], rtol=1e-10, atol=0)
    scipy_ok = special.ndtr((x - t0) / sigma) <= 100.0 * f_ref
    m = (f_ref > 1e-250) & scipy_ok
    assert m.sum() > 0.8 * len(x)
    np.testing.assert_allclose(f[m], f_ref[m], rtol=1e-10, atol=0)
    np.testing.assert_allclose(f + s, 1.0, rtol=0, atol=4e-16)


@pytest.mark.parametrize("t0, tau, sigma", [(0.0, 1.0, 0.02), (0.0, 5.0, 0.005), (0.0, 0.3, 0.3)])
def test_tails_match_quadrature_float64(t0, tau, sigma):
    # Far left (to -30 sigma, F ~ 1e-200) and far right (to 200 lifetimes, S ~ 1e-87).
    d_left = -sigma * np.array([3.0, 6.0, 12.0, 20.0, 30.0])
    d_right = tau * np.array([15.0, 40.0, 100.0, 200.0])
    with x64():
        f = np.asarray(emg_cdf(t0 + d_left, t0, tau, sigma))
        s = np.asarray(emg_sf(t0 + d_right, t0, tau, sigma))
    f_q = np.array([quad_cdf_sf(d, tau, sigma)[0] for d in d_left])
    s_q = np.array([quad_cdf_sf(d, tau, sigma)[1] for d in d_right])
    np.testing.assert_allclose(f, f_q, rtol=1e-9)
    np.testing.assert_allclose(s, s_q, rtol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigma_zero_is_the_exponential(dtype):
    t0, tau = 0.25, 0.8
    x = np.linspace(-2.0, 30.0, 301).astype(dtype)
    with jax.enable_x64(dtype == "float64"):
        f = np.asarray(emg_cdf(x, np.asarray(t0, dtype), np.asarray(tau, dtype), 0.0), np.float64)
        s = np.asarray(emg_sf(x, np.asarray(t0, dtype), np.asarray(tau, dtype), 0.0), np.float64)
    xd = x.astype(np.float64)
    f_ref, s_ref = ref_cdf_sf(xd, float(np.asarray(t0, dtype)), float(np.asarray(tau, dtype)), 0.0)
    y = np.maximum(xd - t0, 0.0) / tau
    eps = np.finfo(dtype).eps
    # Rounding of y = (x - t0) / tau: relative error ~ y eps in exp(-y).
    assert np.all(np.abs(s - s_ref) <= (4 + 2 * y) * eps * s_ref)
    m = f_ref > 0
    assert np.all(np.abs(f[m] - f_ref[m]) <= (4 + 2 * y[m]) * eps * f_ref[m] + 2 * eps * s_ref[m])
    assert np.all(f[~m] == 0.0)


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_float32_relative_accuracy(t0, tau, sigma):
    """Float32 against float64 at the same rounded inputs.

    Tolerances from the measured errors (module docstring): S to 2e-6 + 1.5e-7 y
    (y = distance in lifetimes: the rounding of y is amplified by exp(-y)); F to 2e-5
    relative everywhere it exceeds 1e-30 (measured <= 6.2e-6).
    """
    p32 = [np.float32(v) for v in (t0, tau, sigma)]
    x = edges_for(t0, tau, sigma).astype(np.float32)
    f = np.asarray(emg_cdf(x, *p32), np.float64)
    s = np.asarray(emg_sf(x, *p32), np.float64)
    assert f.dtype == np.float64 and emg_cdf(x, *p32).dtype == jnp.float32
    f_ref, s_ref = ref_cdf_sf(x.astype(np.float64), *(float(v) for v in p32))
    y = np.abs(x.astype(np.float64) - float(p32[0])) / float(p32[1])
    m = s_ref > 1e-30
    assert np.all(np.abs(s[m] / s_ref[m] - 1.0) <= 2e-6 + 1.5e-7 * y[m])
    m = f_ref > 1e-30
    assert np.max(np.abs(f[m] / f_ref[m] - 1.0)) <= 2e-5


def test_cdf_derivative_is_the_density():
    with x64():
        for t0, tau, sigma in PARAMS:
            x = edges_for(t0, tau, sigma, n_left=5, n_right=15)
            g = np.asarray(jax.vmap(jax.grad(emg_cdf), in_axes=(0, None, None, None))(
                jnp.asarray(x), t0, tau, sigma))
            pdf = stats.exponnorm(tau / sigma, loc=t0, scale=sigma).pdf(x)
            np.testing.assert_allclose(g, pdf, rtol=1e-10, atol=1e-300)


# ---------------------------------------------------------------------------------
# Bin probabilities
# ---------------------------------------------------------------------------------


def quad_bins(edges, t0, tau, sigma):
    law = stats.exponnorm(tau / sigma, loc=t0, scale=sigma)
    return np.array([
        integrate.quad(law.pdf, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]
        for a, b in zip(edges[:-1], edges[1:])
    ])


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_bins_match_quadrature_float64(t0, tau, sigma):
    edges = edges_for(t0, tau, sigma, n_left=8, n_right=25)
    with x64():
        p = np.asarray(emg_bin_probs(edges, t0, tau, sigma))
    q = quad_bins(edges, t0, tau, sigma)
    m = q > 1e-250
    np.testing.assert_allclose(p[m], q[m], rtol=1e-10, atol=0)


@pytest.mark.parametrize("t0, tau, sigma", PARAMS + [(0.2, 1.0, 0.0)])
def test_bins_add_up_to_the_cdf_difference(t0, tau, sigma):
    edges = edges_for(t0, tau, sigma, right_taus=60.0)
    with x64():
        p = np.asarray(emg_bin_probs(edges, t0, tau, sigma))
        f = np.asarray(emg_cdf(edges[[0, -1]], t0, tau, sigma))
        wide = np.concatenate([[t0 - 1e4], edges, [t0 + 1e4]])
        total = float(jnp.sum(emg_bin_probs(wide, t0, tau, sigma)))
    assert np.all(p >= 0.0) and np.all(p <= 1.0)
    assert abs(p.sum() - (f[1] - f[0])) <= 1e-13
    assert abs(total - 1.0) <= 1e-13


def test_float32_bins_fifteen_lifetimes_out():
    """10 ps bins 15 lifetimes out (P ~ 3e-9 each): relative 1e-4 in float32 (measured
    1.2e-6), where naive CDF differences are 0 or off by order 1."""
    t0, tau, sigma = 0.5, 1.0, 0.02
    edges = (t0 + 15.0 * tau + 0.01 * np.arange(51)).astype(np.float32)
    p = np.asarray(emg_bin_probs(edges, np.float32(t0), np.float32(tau), np.float32(sigma)))
    assert p.dtype == np.float32
    ref = -np.diff(ref_cdf_sf(edges.astype(np.float64), t0, tau, sigma)[1])
    rel = np.abs(p / ref - 1.0)
    assert rel.max() <= 1e-4
    naive = np.diff(np.asarray(emg_cdf(edges, np.float32(t0), np.float32(tau), np.float32(sigma))))
    assert np.median(np.abs(naive / ref - 1.0)) > 0.5


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_float32_bins_relative_accuracy(t0, tau, sigma):
    """Float32 bins (edges up to 30 lifetimes out) against float64 at the same rounded
    inputs: relative 3e-5 for every bin above 1e-30 (measured <= 1.9e-5)."""
    p32 = [np.float32(v) for v in (t0, tau, sigma)]
    edges = edges_for(t0, tau, sigma).astype(np.float32)
    p = np.asarray(emg_bin_probs(edges, *p32), np.float64)
    with x64():
        ref = np.asarray(emg_bin_probs(edges.astype(np.float64), *(np.float64(v) for v in p32)))
    m = ref > 1e-30
    assert np.max(np.abs(p[m] / ref[m] - 1.0)) <= 3e-5


def stencil_derivative(f, p, i, h):
    """Five-point central difference in parameter i (error O(h^4))."""
    def at(step):
        q = np.array(p, np.float64)
        q[i] += step
        return np.asarray(f(q))

    return (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h)


@pytest.mark.parametrize("t0, tau, sigma", PARAMS + [(0.2, 1.0, 0.0)])
def test_gradients_match_finite_differences(t0, tau, sigma):
    edges = edges_for(t0, tau, sigma, n_left=10, n_right=40)
    p0 = np.array([t0, tau, sigma])
    with x64():
        def f(q):
            return emg_bin_probs(edges, q[0], q[1], q[2])

        jac_fwd = np.asarray(jax.jacfwd(f)(jnp.asarray(p0)))
        jac_rev = np.asarray(jax.jacrev(f)(jnp.asarray(p0)))
        np.testing.assert_allclose(jac_fwd, jac_rev, rtol=1e-12, atol=1e-300)
        for i in range(3):
            if i == 2 and sigma == 0.0:
                # F is even in sigma: the derivative at 0 is 0, and a one-sided difference
                # tends to it.
                assert np.all(jac_fwd[:, 2] == 0.0)
                one_sided = (np.asarray(f(p0 + [0, 0, 1e-6])) - np.asarray(f(p0))) / 1e-6
                assert np.max(np.abs(one_sided)) < 1e-4
                continue
            scale = {0: max(sigma, 0.01), 1: tau, 2: sigma}[i]
            fd = stencil_derivative(f, p0, i, 1e-3 * scale)
            big = np.abs(jac_fwd[:, i]).max()
            np.testing.assert_allclose(jac_fwd[:, i], fd, rtol=1e-6, atol=1e-6 * big)
            m = np.abs(jac_fwd[:, i]) > 1e-3 * big
            np.testing.assert_allclose(jac_fwd[m, i], fd[m], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_gradients_finite_at_extremes(dtype):
    cases = [  # (t0, tau, sigma)
        (0.0, 1.0, 0.0),
        (0.0, 1.0, 0.02),
        (0.0, 1e-6, 1.0),  # tau / sigma = 1e-6: a Gaussian
        (0.0, 1.0, 1e-6),  # tau / sigma = 1e6: an exponential
        (0.0, 1.0, 1e-30),
        (0.0, 1e3, 0.02),
        (0.0, 0.0, 0.0),  # out of range (tau > 0): floored, still finite
    ]
    with jax.enable_x64(dtype == "float64"):
        for t0, tau, sigma in cases:
            w = max(sigma, 1e-3)
            edges = np.array(
                [-1e4, -1000.0 * w, -40.0 * w, -3.0 * w, 0.0, 3.0 * w, tau, 15.0 * tau,
                 1000.0 * tau + 1.0, 1e4 + 1000.0 * tau],
                dtype,
            )
            edges = np.unique(edges)
            p0 = jnp.asarray([t0, tau, sigma], dtype)

            def f(q, edges=edges):
                return emg_bin_probs(edges, q[0], q[1], q[2])

            p = np.asarray(f(p0), np.float64)
            assert np.all(np.isfinite(p)) and np.all(p >= 0) and np.all(p <= 1)
            assert abs(p.sum() - 1.0) <= 1e-5
            for jac in (jax.jacfwd(f)(p0), jax.jacrev(f)(p0)):
                assert np.all(np.isfinite(np.asarray(jac))), (t0, tau, sigma)
            for fn in (emg_cdf, emg_sf):
                g = jax.vmap(jax.grad(fn, argnums=(0, 1, 2, 3)), in_axes=(0, None, None, None))(
                    jnp.asarray(edges), *p0)
                assert all(np.all(np.isfinite(np.asarray(gi))) for gi in g), (fn, t0, tau, sigma)


def test_dtype_follows_inputs():
    edges = np.linspace(0.0, 5.0, 11)
    assert emg_bin_probs(edges, 0.0, 1.0, 0.1).dtype == jnp.float32
    assert gauss_bin_probs(edges, 1.0, 0.1).dtype == jnp.float32
    assert uniform_bin_probs(edges, 0.0, 5.0).dtype == jnp.float32
    with x64():
        assert emg_bin_probs(edges, 0.0, 1.0, 0.1).dtype == jnp.float64
        assert emg_sf(np.float32(1.0), np.float32(0.0), np.float32(1.0), np.float32(0.1)).dtype == jnp.float32
        assert gauss_bin_probs(edges, 1.0, 0.1).dtype == jnp.float64
        assert uniform_bin_probs(edges, 0.0, 5.0).dtype == jnp.float64


def test_broadcasting_jit_and_vmap():
    edges = np.linspace(-1.0, 8.0, 31)
    t0 = np.array([[0.0], [0.5], [1.0]])
    tau = np.array([0.5, 1.0, 2.0, 3.0])
    with x64():
        p = np.asarray(jax.jit(emg_bin_probs)(edges, t0, tau, 0.1))
        assert p.shape == (3, 4, 30)
        for i in range(3):
            for j in range(4):
                np.testing.assert_array_equal(p[i, j], np.asarray(emg_bin_probs(edges, t0[i, 0], tau[j], 0.1)))
        v = jax.vmap(emg_bin_probs, in_axes=(None, 0, None, None))(edges, jnp.asarray(t0[:, 0]), 1.0, 0.1)
        np.testing.assert_allclose(np.asarray(v), p[:, 1], rtol=1e-15)
        g = gauss_bin_probs(edges, t0, tau)
        assert g.shape == (3, 4, 30)
        u = uniform_bin_probs(edges, t0, tau[:, None, None] + 5.0)
        assert u.shape == (4, 3, 30)


# ---------------------------------------------------------------------------------
# Gaussian and uniform bins
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("centre, sigma", [(0.3, 0.05), (-1.0, 1.0), (2.0, 0.002)])
def test_gauss_bins_match_scipy(centre, sigma):
    edges = centre + sigma * np.linspace(-37.0, 37.0, 149)
    law = stats.norm(centre, sigma)
    # Reference from the small side: sf differences right of the centre, cdf left.
    ref = np.where(edges[:-1] >= centre, -np.diff(law.sf(edges)), np.diff(law.cdf(edges)))
    with x64():
        p = np.asarray(gauss_bin_probs(edges, centre, sigma))
    m = ref > 1e-290
    np.testing.assert_allclose(p[m], ref[m], rtol=1e-12)
    assert abs(p.sum() - (law.cdf(edges[-1]) - law.cdf(edges[0]))) < 1e-15
    p32 = np.asarray(gauss_bin_probs(edges.astype(np.float32), np.float32(centre), np.float32(sigma)))
    with x64():
        ref32 = np.asarray(gauss_bin_probs(edges.astype(np.float32).astype(np.float64),
                                           float(np.float32(centre)), float(np.float32(sigma))))
    m = ref32 > 1e-30
    # XLA's float32 erfc: ~4e-6 relative in the tails.
    np.testing.assert_allclose(p32[m], ref32[m], rtol=2e-5)


def test_gauss_bins_point_mass_and_gradients():
    edges = np.linspace(-1.0, 1.0, 21)
    with x64():
        p = np.asarray(gauss_bin_probs(edges, 0.05, 0.0))
        assert p.sum() == 1.0 and p[10] == 1.0  # 0.0 < 0.05 <= 0.1
        for s in (0.0, 1e-30, 1e-300):
            jac = jax.jacrev(lambda q: gauss_bin_probs(edges, q[0], q[1]))(jnp.asarray([0.05, s]))
            assert np.all(np.isfinite(np.asarray(jac)))
        p0 = np.array([0.07, 0.3])

        def f(q):
            return gauss_bin_probs(edges, q[0], q[1])

        jac = np.asarray(jax.jacfwd(f)(jnp.asarray(p0)))
        for i in range(2):
            fd = stencil_derivative(f, p0, i, 1e-3)
            np.testing.assert_allclose(jac[:, i], fd, rtol=1e-6, atol=1e-9)


def test_uniform_bins():
    edges = np.array([0.0, 1.0, 2.0, 4.0, 8.0])
    with x64():
        np.testing.assert_allclose(np.asarray(uniform_bin_probs(edges, 0.5, 3.0)), [0.2, 0.4, 0.4, 0.0])
        np.testing.assert_allclose(np.asarray(uniform_bin_probs(edges, 3.0, 0.5)), [0.2, 0.4, 0.4, 0.0])
        # Partly outside the window: the fractions inside, summing to the covered part.
        np.testing.assert_allclose(np.asarray(uniform_bin_probs(edges, -2.0, 2.0)), [0.25, 0.25, 0, 0])
        np.testing.assert_allclose(np.asarray(uniform_bin_probs(edges, 2.5, 2.5)), [0, 0, 1.0, 0])
        g = jax.jacfwd(lambda q: uniform_bin_probs(edges, q[0], q[1]))(jnp.asarray([0.5, 3.0]))
        # d/db of (clip(e, a, b) differences) / (b - a)
        np.testing.assert_allclose(np.asarray(g)[:, 1], [-0.2 / 2.5, -0.4 / 2.5, 1 / 2.5 - 0.4 / 2.5, 0.0])
        assert np.all(np.isfinite(np.asarray(
            jax.jacrev(lambda q: uniform_bin_probs(edges, q[0], q[1]))(jnp.asarray([2.5, 2.5])))))


# ---------------------------------------------------------------------------------
# Reference law: hypoexponential + Gaussian
# ---------------------------------------------------------------------------------


def convolution_cdf(x, t0, tau1, tau2, sigma):
    """F(x) = int_0^inf (1/tau1) e^(-s/tau1) F_EMG(x - s; tau2, sigma) ds by quadrature."""
    law = stats.exponnorm(tau2 / sigma, loc=t0, scale=sigma)
    return integrate.quad(lambda s: math.exp(-s / tau1) / tau1 * law.cdf(x - s), 0.0, 60.0 * tau1,
                          epsabs=1e-14, epsrel=1e-12, limit=200)[0]


@pytest.mark.parametrize("tau1, tau2, sigma", [(0.3, 1.0, 0.05), (1.0, 1.0, 0.2), (2.0, 0.4, 0.5)])
def test_hypoexp_matches_numeric_convolution(tau1, tau2, sigma):
    t0 = 0.1
    x = t0 + np.array([-0.5, 0.0, 0.2, 0.7, 1.5, 3.0, 6.0, 12.0])
    f = hypoexp_gauss_cdf(x, t0, tau1, tau2, sigma)
    ref = np.array([convolution_cdf(xi, t0, tau1, tau2, sigma) for xi in x])
    np.testing.assert_allclose(f, ref, rtol=1e-9, atol=1e-13)


def test_hypoexp_special_cases():
    x = np.linspace(-1.0, 10.0, 45)
    t0 = 0.2
    # No feeding: the EMG.
    np.testing.assert_allclose(hypoexp_gauss_cdf(x, t0, 0.0, 0.7, 0.1),
                               stats.exponnorm(0.7 / 0.1, loc=t0, scale=0.1).cdf(x), rtol=1e-12, atol=1e-15)
    # No jitter: the hypoexponential and the Erlang law in closed form.
    y = np.maximum(x - t0, 0.0)
    hypo = 1.0 - (0.5 * np.exp(-y / 0.5) - 1.5 * np.exp(-y / 1.5)) / (0.5 - 1.5)
    np.testing.assert_allclose(hypoexp_gauss_cdf(x, t0, 0.5, 1.5, 0.0), hypo, atol=1e-15)
    erlang = 1.0 - (1.0 + y / 0.8) * np.exp(-y / 0.8)
    np.testing.assert_allclose(hypoexp_gauss_cdf(x, t0, 0.8, 0.8, 0.0), erlang, atol=1e-15)
    # tau1 = tau2 is the limit of tau1 -> tau2 (the Erlang branch is continuous).
    a = hypoexp_gauss_cdf(x, t0, 0.8, 0.8, 0.1)
    b = hypoexp_gauss_cdf(x, t0, 0.8 * (1 + 1e-5), 0.8, 0.1)
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError):
        hypoexp_gauss_cdf(x, t0, -1.0, 1.0, 0.1)


@pytest.mark.parametrize("seed, tau1, tau2, sigma", [(1, 0.3, 1.0, 0.05), (2, 0.7, 0.7, 0.1), (3, 0.0, 0.5, 0.0)])
def test_hypoexp_matches_monte_carlo(seed, tau1, tau2, sigma):
    """KS distance of N draws of t0 + tau1 E1 + tau2 E2 + sigma Z from the closed form.

    sqrt(N) D has the Kolmogorov law; its 1 % critical value is 1.63, so a correct
    CDF fails this with a fixed seed with probability 1 %. A wrong law (tau1 off by 3 %,
    say) gives D ~ 0.005 >> 1.63 / sqrt(N) = 0.0036.
    """
    n = 200_000
    rng = np.random.default_rng(seed)
    t0 = -0.3
    draws = t0 + tau1 * rng.exponential(size=n) + tau2 * rng.exponential(size=n) + sigma * rng.normal(size=n)
    d = stats.kstest(draws, lambda x: hypoexp_gauss_cdf(x, t0, tau1, tau2, sigma)).statistic
    assert d < 1.63 / math.sqrt(n)
