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


# Jitted once per dtype and shape (most tests use the 160 edges of `edges_for`): the
# kernels unroll their continued fractions and series, so eager evaluation and fresh
# traces would dominate the run time.
def _params(edges, q):
    return emg_bin_probs(edges, q[0], q[1], q[2])


cdf_sf = jax.jit(lambda x, t0, tau, sigma: (emg_cdf(x, t0, tau, sigma), emg_sf(x, t0, tau, sigma)))
bins = jax.jit(emg_bin_probs)
jac_fwd = jax.jit(jax.jacfwd(_params, argnums=1))
jac_rev = jax.jit(jax.jacrev(_params, argnums=1))
density = jax.jit(jax.vmap(jax.grad(emg_cdf), in_axes=(0, None, None, None)))
gauss_bins = jax.jit(gauss_bin_probs)
uniform_bins = jax.jit(uniform_bin_probs)


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


def _quad(f, lo, hi):
    return integrate.quad(f, lo, hi, epsabs=0.0, epsrel=1e-13, limit=400)[0]


def quad_cdf(d, tau, sigma):
    """F at t0 + d < t0 by quadrature: F = k int_0^inf e^(-k w) Phi(u - w) dw.

    Scaled by Phi(u) (log_ndtr) so that tails far below 1e-300 stay relative; the
    integrand decays on a scale 1 / |u|, resolved by a breakpoint.
    """
    u, k = d / sigma, sigma / tau
    log_phi_u = special.log_ndtr(u)

    def f(w):
        return math.exp(-k * w + special.log_ndtr(u - w) - log_phi_u)

    w1 = 10.0 / max(abs(u), 1.0)
    return math.exp(log_phi_u) * k * (_quad(f, 0.0, w1) + _quad(f, w1, 60.0))


def quad_sf(d, tau, sigma):
    """S at t0 + d > t0 by quadrature, with e^(-y) (y = d / tau) factored out:
    S = e^(-y) [int_0^y e^s Q(s / k) ds + int_0^inf e^(-w) Phi(w / k) dw]."""
    y, k = d / tau, sigma / tau

    def f(s):
        return math.exp(s) * special.ndtr(-s / k)

    # e^s Q(s / k) peaks at s = k^2 with width k; beyond k^2 + 40 k it is below 1e-300.
    top = min(y, k * k + 40.0 * k)
    mid = min(top, k * k + 4.0 * k)
    near = _quad(f, 0.0, mid) + _quad(f, mid, top)

    def g(w):
        return math.exp(-w) * special.ndtr(w / k)

    # Phi(w / k) rises from 1/2 to 1 within a few k of 0.
    far = _quad(g, 0.0, min(10.0 * k, 1.0)) + _quad(g, min(10.0 * k, 1.0), 60.0)
    return math.exp(-y) * (near + far)


# ---------------------------------------------------------------------------------
# Survival function and CDF
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_cdf_and_sf_match_scipy_float64(t0, tau, sigma):
    x = edges_for(t0, tau, sigma)
    with x64():
        f, s = (np.asarray(v) for v in cdf_sf(x, t0, tau, sigma))
    f_ref, s_ref = ref_cdf_sf(x, t0, tau, sigma)
    # 1e-10 relative (measured <= 6e-14), in the bulk and both tails. scipy's cdf is
    # Phi(u) - A itself, which cancels where F << Phi(u) (left of t0 with sigma << tau:
    # 1.4e-10 error at u = -8, k = 0.001, where the kernel agrees with 50-digit mpmath):
    # there the quadrature test below is the reference.
    m = (s_ref > 1e-250) & (s_ref < 1.0)
    np.testing.assert_allclose(s[m], s_ref[m], rtol=1e-10, atol=0)
    scipy_ok = special.ndtr((x - t0) / sigma) <= 100.0 * f_ref
    m = (f_ref > 1e-250) & scipy_ok
    assert m.sum() > 0.6 * len(x)
    np.testing.assert_allclose(f[m], f_ref[m], rtol=1e-10, atol=0)
    np.testing.assert_allclose(f + s, 1.0, rtol=0, atol=4e-16)


@pytest.mark.parametrize("t0, tau, sigma", [(0.0, 1.0, 0.02), (0.0, 5.0, 0.005), (0.0, 0.3, 0.3)])
def test_tails_match_quadrature_float64(t0, tau, sigma):
    # Far left (to -30 sigma, F ~ 1e-200) and far right (to 200 lifetimes, S ~ 1e-87).
    d_left = -sigma * np.array([3.0, 6.0, 12.0, 20.0, 30.0])
    d_right = tau * np.array([15.0, 40.0, 100.0, 200.0])
    x = np.concatenate([t0 + d_left, t0 + d_right, np.zeros(160 - 9)])
    with x64():
        f, s = (np.asarray(v) for v in cdf_sf(x, t0, tau, sigma))
    f, s = f[:5], s[5:9]
    f_q = np.array([quad_cdf(d, tau, sigma) for d in d_left])
    s_q = np.array([quad_sf(d, tau, sigma) for d in d_right])
    np.testing.assert_allclose(f, f_q, rtol=1e-9)
    np.testing.assert_allclose(s, s_q, rtol=1e-9)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigma_zero_is_the_exponential(dtype):
    t0, tau = (np.asarray(v, dtype) for v in (0.25, 0.8))
    x = np.linspace(-2.0, 30.0, 160).astype(dtype)
    with jax.enable_x64(dtype == "float64"):
        f, s = (np.asarray(v, np.float64) for v in cdf_sf(x, t0, tau, np.asarray(0.0, dtype)))
    xd = x.astype(np.float64)
    f_ref, s_ref = ref_cdf_sf(xd, float(t0), float(tau), 0.0)
    y = np.maximum(xd - float(t0), 0.0) / float(tau)
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
    relative everywhere it exceeds 1e-30 (measured <= 4.5e-6 on the grid of the module docstring).
    """
    p32 = [np.float32(v) for v in (t0, tau, sigma)]
    x = edges_for(t0, tau, sigma).astype(np.float32)
    f, s = cdf_sf(x, *p32)
    assert f.dtype == jnp.float32 and s.dtype == jnp.float32
    f, s = np.asarray(f, np.float64), np.asarray(s, np.float64)
    f_ref, s_ref = ref_cdf_sf(x.astype(np.float64), *(float(v) for v in p32))
    y = np.abs(x.astype(np.float64) - float(p32[0])) / float(p32[1])
    m = s_ref > 1e-30
    assert np.all(np.abs(s[m] / s_ref[m] - 1.0) <= 2e-6 + 1.5e-7 * y[m])
    m = f_ref > 1e-30
    assert np.max(np.abs(f[m] / f_ref[m] - 1.0)) <= 2e-5


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_cdf_derivative_is_the_density(t0, tau, sigma):
    x = edges_for(t0, tau, sigma)
    with x64():
        g = np.asarray(density(x, t0, tau, sigma))
    pdf = stats.exponnorm(tau / sigma, loc=t0, scale=sigma).pdf(x)
    m = pdf > 1e-250
    np.testing.assert_allclose(g[m], pdf[m], rtol=1e-10)


# ---------------------------------------------------------------------------------
# Bin probabilities
# ---------------------------------------------------------------------------------


def quad_bins(lo, hi, t0, tau, sigma):
    law = stats.exponnorm(tau / sigma, loc=t0, scale=sigma)
    return np.array(
        [
            integrate.quad(law.pdf, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]
            for a, b in zip(lo, hi, strict=True)
        ]
    )


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_bins_match_quadrature_float64(t0, tau, sigma):
    edges = edges_for(t0, tau, sigma)
    with x64():
        p = np.asarray(bins(edges, t0, tau, sigma))
    sub = slice(None, None, 4)  # quadrature of every 4th bin keeps this fast
    q = quad_bins(edges[:-1][sub], edges[1:][sub], t0, tau, sigma)
    m = q > 1e-250
    np.testing.assert_allclose(p[sub][m], q[m], rtol=1e-10, atol=0)


@pytest.mark.parametrize("t0, tau, sigma", PARAMS + [(0.2, 1.0, 0.0)])
def test_bins_add_up_to_the_cdf_difference(t0, tau, sigma):
    edges = edges_for(t0, tau, sigma, right_taus=60.0)
    wide = np.concatenate([[t0 - 1e4], edges[1:-1], [t0 + 1e4]])
    with x64():
        p = np.asarray(bins(edges, t0, tau, sigma))
        f = np.asarray(cdf_sf(edges, t0, tau, sigma)[0])
        total = float(jnp.sum(bins(wide, t0, tau, sigma)))
    assert np.all(p >= 0.0) and np.all(p <= 1.0)
    assert abs(p.sum() - (f[-1] - f[0])) <= 1e-13
    assert abs(total - 1.0) <= 1e-13


def test_float32_bins_fifteen_lifetimes_out():
    """10 ps bins 15 lifetimes out (P ~ 1.5e-9 each): relative 1e-4 in float32 (measured
    7.8e-6), where naive CDF differences are 0 (97 % of these bins) or off by order 1."""
    t0, tau, sigma = 0.5, 1.0, 0.02
    edges = (t0 + 15.0 * tau + 0.01 * np.arange(160)).astype(np.float32)
    p = bins(edges, np.float32(t0), np.float32(tau), np.float32(sigma))
    assert p.dtype == jnp.float32
    ref = -np.diff(ref_cdf_sf(edges.astype(np.float64), t0, tau, sigma)[1])
    rel = np.abs(np.asarray(p, np.float64) / ref - 1.0)
    assert rel.max() <= 1e-4
    naive = np.diff(
        np.asarray(cdf_sf(edges, np.float32(t0), np.float32(tau), np.float32(sigma))[0])
    )
    assert np.median(np.abs(naive / ref - 1.0)) > 0.5


@pytest.mark.parametrize("t0, tau, sigma", PARAMS)
def test_float32_bins_relative_accuracy(t0, tau, sigma):
    """Float32 bins (edges up to 30 lifetimes out) against float64 at the same rounded
    inputs: relative 3e-5 for every bin above 1e-30 (measured <= 8.2e-6)."""
    p32 = [np.float32(v) for v in (t0, tau, sigma)]
    edges = edges_for(t0, tau, sigma).astype(np.float32)
    p = np.asarray(bins(edges, *p32), np.float64)
    with x64():
        ref = np.asarray(bins(edges.astype(np.float64), *(float(v) for v in p32)))
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
    # Edges shifted off t0: for sigma = 0 the CDF has a kink there.
    edges = edges_for(t0 + 0.0123 * tau, tau, sigma)
    p0 = np.array([t0, tau, sigma])
    with x64():
        jf = np.asarray(jac_fwd(edges, jnp.asarray(p0)))
        jr = np.asarray(jac_rev(edges, jnp.asarray(p0)))
        # Forward and reverse mode round differently; bins are differences of edges.
        np.testing.assert_allclose(jf, jr, rtol=1e-9, atol=1e-12 * np.abs(jf).max())

        def f(q):
            return bins(edges, *q)

        for i in range(3):
            if i == 2 and sigma == 0.0:
                # F is even in sigma: the derivative at 0 is 0, and a one-sided
                # difference tends to it.
                assert np.all(jf[:, 2] == 0.0)
                one_sided = (np.asarray(f(p0 + [0, 0, 1e-6])) - np.asarray(f(p0))) / 1e-6
                assert np.max(np.abs(one_sided)) < 1e-4
                continue
            scale = {0: max(sigma, 0.01), 1: tau, 2: sigma}[i]
            fd = stencil_derivative(f, p0, i, 1e-3 * scale)
            big = np.abs(jf[:, i]).max()
            np.testing.assert_allclose(jf[:, i], fd, rtol=1e-6, atol=1e-6 * big)
            m = np.abs(jf[:, i]) > 1e-3 * big
            np.testing.assert_allclose(jf[m, i], fd[m], rtol=1e-6)


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
            extremes = [
                -1e4,
                -1000.0 * w,
                -40.0 * w,
                -3.0 * w,
                0.0,
                3.0 * w,
                tau,
                15.0 * tau,
                1000.0 * tau + 1.0,
                1e4 + 1000.0 * tau,
            ]
            filler = np.linspace(-5.0 * w, 20.0 * tau + 1.0, 160 - len(extremes))
            edges = np.sort(np.concatenate([extremes, filler])).astype(dtype)
            p0 = jnp.asarray([t0, tau, sigma], dtype)
            p = np.asarray(bins(edges, *p0), np.float64)
            assert np.all(np.isfinite(p)) and np.all(p >= 0) and np.all(p <= 1)
            assert abs(p.sum() - 1.0) <= 1e-5
            for jac in (jac_fwd(edges, p0), jac_rev(edges, p0)):
                assert np.all(np.isfinite(np.asarray(jac))), (t0, tau, sigma)
            if dtype == "float64":
                g = density(edges, *p0)
                assert np.all(np.isfinite(np.asarray(g))) and np.all(np.asarray(g) >= 0)


def test_dtype_follows_inputs():
    # jax.eval_shape traces without compiling: the dtypes are decided at trace time.
    def dtype_of(f, *args):
        return jax.eval_shape(f, *args).dtype

    edges = np.linspace(0.0, 5.0, 11)
    f32 = np.float32
    assert dtype_of(emg_bin_probs, edges, 0.0, 1.0, 0.1) == jnp.float32
    assert dtype_of(gauss_bin_probs, edges, 1.0, 0.1) == jnp.float32
    assert dtype_of(uniform_bin_probs, edges, 0.0, 5.0) == jnp.float32
    with x64():
        assert dtype_of(emg_bin_probs, edges, 0.0, 1.0, 0.1) == jnp.float64
        assert dtype_of(emg_sf, f32(1.0), f32(0.0), f32(1.0), f32(0.1)) == jnp.float32
        assert dtype_of(emg_cdf, f32(1.0), 0.0, 1.0, 0.1) == jnp.float32  # weak scalars
        assert dtype_of(gauss_bin_probs, edges, 1.0, 0.1) == jnp.float64
        assert dtype_of(uniform_bin_probs, edges, 0.0, 5.0) == jnp.float64


def test_broadcasting_jit_and_vmap():
    edges = np.linspace(-1.0, 8.0, 160)
    t0 = np.array([[0.0], [0.5], [1.0]])
    tau = np.array([0.5, 1.0, 2.0, 3.0])
    with x64():
        p = np.asarray(bins(edges, t0, tau, 0.1))
        assert p.shape == (3, 4, 159)
        for i in range(3):
            for j in range(4):
                np.testing.assert_allclose(
                    p[i, j], np.asarray(bins(edges, t0[i, 0], tau[j], 0.1)), rtol=1e-14, atol=1e-300
                )
        v = jax.jit(jax.vmap(emg_bin_probs, in_axes=(None, 0, None, None)))(
            edges, jnp.asarray(t0[:, 0]), 1.0, 0.1
        )
        np.testing.assert_allclose(np.asarray(v), p[:, 1], rtol=1e-14, atol=1e-300)
        assert jax.eval_shape(gauss_bin_probs, edges, t0, tau).shape == (3, 4, 159)
        shape = jax.eval_shape(uniform_bin_probs, edges, t0[:, 0], tau[:, None] + 5.0).shape
        assert shape == (4, 3, 159)


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
        p = np.asarray(gauss_bins(edges, centre, sigma))
    m = ref > 1e-290
    np.testing.assert_allclose(p[m], ref[m], rtol=1e-12)
    assert abs(p.sum() - (law.cdf(edges[-1]) - law.cdf(edges[0]))) < 1e-15
    p32 = np.asarray(gauss_bins(edges.astype(np.float32), np.float32(centre), np.float32(sigma)))
    with x64():
        ref32 = np.asarray(
            gauss_bins(
                edges.astype(np.float32).astype(np.float64),
                float(np.float32(centre)),
                float(np.float32(sigma)),
            )
        )
    m = ref32 > 1e-30
    # XLA's float32 erfc: ~4e-6 relative in the tails.
    np.testing.assert_allclose(p32[m], ref32[m], rtol=2e-5)


def test_gauss_bins_point_mass_and_gradients():
    edges = np.linspace(-1.0, 1.0, 21)

    def f(q):
        return gauss_bin_probs(edges, q[0], q[1])

    with x64():
        p = np.asarray(gauss_bin_probs(edges, 0.05, 0.0))
        assert p.sum() == 1.0 and p[10] == 1.0  # 0.0 < 0.05 <= 0.1
        jac_f, jac_r = jax.jit(jax.jacfwd(f)), jax.jit(jax.jacrev(f))
        for s in (0.0, 1e-30, 1e-300):
            assert np.all(np.isfinite(np.asarray(jac_r(jnp.asarray([0.05, s])))))
        p0 = np.array([0.07, 0.3])
        jac = np.asarray(jac_f(jnp.asarray(p0)))
        for i in range(2):
            fd = stencil_derivative(jax.jit(f), p0, i, 1e-3)
            np.testing.assert_allclose(jac[:, i], fd, rtol=1e-6, atol=1e-9)


def test_uniform_bins():
    edges = np.array([0.0, 1.0, 2.0, 4.0, 8.0])
    with x64():
        np.testing.assert_allclose(np.asarray(uniform_bins(edges, 0.5, 3.0)), [0.2, 0.4, 0.4, 0.0])
        np.testing.assert_allclose(np.asarray(uniform_bins(edges, 3.0, 0.5)), [0.2, 0.4, 0.4, 0.0])
        # Partly outside the window: the fractions inside, summing to the covered part.
        np.testing.assert_allclose(np.asarray(uniform_bins(edges, -2.0, 2.0)), [0.25, 0.25, 0, 0])
        np.testing.assert_allclose(np.asarray(uniform_bins(edges, 2.5, 2.5)), [0, 0, 1.0, 0])
        g = jax.jit(jax.jacfwd(lambda q: uniform_bin_probs(edges, q[0], q[1])))(
            jnp.asarray([0.5, 3.0])
        )
        # d/db of (clip(e, a, b) differences) / (b - a)
        np.testing.assert_allclose(
            np.asarray(g)[:, 1], [-0.2 / 2.5, -0.4 / 2.5, 1 / 2.5 - 0.4 / 2.5, 0.0]
        )
        assert np.all(
            np.isfinite(
                np.asarray(
                    jax.jit(jax.jacrev(lambda q: uniform_bin_probs(edges, q[0], q[1])))(
                        jnp.asarray([2.5, 2.5])
                    )
                )
            )
        )


# ---------------------------------------------------------------------------------
# Reference law: hypoexponential + Gaussian
# ---------------------------------------------------------------------------------


def convolution_cdf(x, t0, tau1, tau2, sigma):
    """F(x) = int_0^inf (1/tau1) e^(-s/tau1) F_EMG(x - s; tau2, sigma) ds by quadrature."""
    law = stats.exponnorm(tau2 / sigma, loc=t0, scale=sigma)
    return integrate.quad(
        lambda s: math.exp(-s / tau1) / tau1 * law.cdf(x - s),
        0.0,
        60.0 * tau1,
        epsabs=1e-14,
        epsrel=1e-12,
        limit=200,
    )[0]


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
    np.testing.assert_allclose(
        hypoexp_gauss_cdf(x, t0, 0.0, 0.7, 0.1),
        stats.exponnorm(0.7 / 0.1, loc=t0, scale=0.1).cdf(x),
        rtol=1e-12,
        atol=1e-15,
    )
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


@pytest.mark.parametrize(
    "seed, tau1, tau2, sigma", [(1, 0.3, 1.0, 0.05), (2, 0.7, 0.7, 0.1), (3, 0.0, 0.5, 0.0)]
)
def test_hypoexp_matches_monte_carlo(seed, tau1, tau2, sigma):
    """KS distance of N draws of t0 + tau1 E1 + tau2 E2 + sigma Z from the closed form.

    sqrt(N) D has the Kolmogorov law; its 1 % critical value is 1.63, so a correct
    CDF fails this with a fixed seed with probability 1 %. A wrong law (tau1 off by 3 %,
    say) gives D ~ 0.005 >> 1.63 / sqrt(N) = 0.0036.
    """
    n = 200_000
    rng = np.random.default_rng(seed)
    t0 = -0.3
    draws = (
        t0
        + tau1 * rng.exponential(size=n)
        + tau2 * rng.exponential(size=n)
        + sigma * rng.normal(size=n)
    )
    d = stats.kstest(draws, lambda x: hypoexp_gauss_cdf(x, t0, tau1, tau2, sigma)).statistic
    assert d < 1.63 / math.sqrt(n)
