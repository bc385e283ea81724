"""Tests of photonmc.kernels.coherence: the memory's mixed-state overlap with a dephased
photon and the write dip of the unstored light, against two-time quadrature."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from photonmc.kernels import coherence as co
from photonmc.kernels import tabulated
from photonmc.kernels.overlap import overlap_exp

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _mode(t_w, fw):
    s = fw / FWHM_PER_SIGMA
    return lambda t: (2 * np.pi * s * s) ** -0.25 * np.exp(-((t - t_w) ** 2) / (4 * s * s))


def _g1(t_ref, t1, nu, t2s):
    def g1(t, tp):
        env = np.exp(-(t + tp - 2 * t_ref) / (2 * t1)) / t1
        dec = 1.0 if t2s is None else np.exp(-abs(t - tp) / t2s)
        return env * dec * np.exp(-2j * np.pi * nu * (t - tp)) * (t > t_ref) * (tp > t_ref)

    return g1


def _mixed_overlap_ref(t_ref, t1, nu, t_w, fw, t2s):
    """<phi|rho|phi> by dblquad over t, t' > t_ref, split on the diagonal (its kink)."""
    phi, g1 = _mode(t_w, fw), _g1(t_ref, t1, nu, t2s)
    s = fw / FWHM_PER_SIGMA
    hi = max(t_ref, t_w) + 12 * s + 40 * t1

    def f(tp, t):
        return (phi(t) * phi(tp) * g1(t, tp)).real

    # Symmetric in (t, t'): twice the integral over t' < t.
    return 2 * integrate.dblquad(f, t_ref, hi, t_ref, lambda t: t, epsabs=1e-13, epsrel=1e-11)[0]


def test_issue_figures_stored_fraction_with_dephasing():
    with jax.enable_x64(True):
        for t2s, want in ((None, 0.7990), (3.0, 0.6865), (0.6, 0.4215)):
            got = float(co.overlap_exp_mixed(0.0, 0.6, 0.0, 0.65, 1.0, t2s))
            assert abs(got - want) < 5e-5, (t2s, got)


@pytest.mark.parametrize(
    "t_ref, t1, nu, t_w, fw, t2s",
    [
        (0.0, 0.6, 0.0, 0.65, 1.0, 3.0),
        (0.0, 0.6, 0.0, 0.65, 1.0, 0.6),
        (0.1, 0.3, 0.5, 1.0, 0.5, 1.0),
        (0.0, 1.5, -0.2, 0.0, 2.0, 0.2),
        (0.3, 0.1, 1.0, 0.5, 0.3, 0.05),
        (0.0, 2.0, 0.0, 3.0, 0.4, 20.0),
    ],
)
def test_mixed_overlap_matches_two_time_quadrature(t_ref, t1, nu, t_w, fw, t2s):
    with jax.enable_x64(True):
        got = float(co.overlap_exp_mixed(t_ref, t1, nu, t_w, fw, t2s))
    want = _mixed_overlap_ref(t_ref, t1, nu, t_w, fw, t2s)
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_mixed_overlap_reduces_to_the_pure_overlap():
    with jax.enable_x64(True):
        args = (jnp.array([0.0, 0.2, -0.3]), 0.6, jnp.array([0.0, 0.4, 2.0]), 0.65, 1.0)
        pure = np.asarray(overlap_exp(*args))
        np.testing.assert_array_equal(np.asarray(co.overlap_exp_mixed(*args, None)), pure)
        np.testing.assert_allclose(np.asarray(co.overlap_exp_mixed(*args, 1e12)), pure, rtol=1e-10)


def test_overlap_amplitude_is_the_quadrature_amplitude():
    with jax.enable_x64(True):
        for t_ref, t1, nu, t_w, fw in [
            (0.0, 0.6, 0.0, 0.65, 1.0),
            (0.2, 0.3, 0.7, 0.1, 0.5),
            (0.0, 1.0, -1.3, 3.0, 0.8),
        ]:
            phi = _mode(t_w, fw)
            psi = lambda t: np.exp(-(0.5 / t1 + 2j * np.pi * nu) * (t - t_ref)) / np.sqrt(t1)  # noqa: B023, E731
            hi = t_ref + 60 * t1
            want = integrate.quad(lambda t: (phi(t) * psi(t)).real, t_ref, hi, limit=400)[0] + (  # noqa: B023
                1j * integrate.quad(lambda t: (phi(t) * psi(t)).imag, t_ref, hi, limit=400)[0]  # noqa: B023
            )
            re, im = co.overlap_amplitude_exp(t_ref, t1, nu, t_w, fw)
            np.testing.assert_allclose(float(re) + 1j * float(im), want, atol=1e-11)


def _dip_ref(t, t_ref, t1, nu, t_w, fw, eta, t2s):
    """G1(t,t) - 2 r phi(t) Re (G1 phi)(t) + r^2 O phi(t)^2 by quadrature."""
    r = 1 - np.sqrt(1 - eta)
    phi, g1 = _mode(t_w, fw), _g1(t_ref, t1, nu, t2s)
    s = fw / FWHM_PER_SIGMA
    hi = max(t_ref, t_w) + 12 * s + 40 * t1
    pts = [x for x in (t,) if t_ref < x < hi]
    g1phi = integrate.quad(
        lambda tp: (g1(t, tp) * phi(tp)).real, t_ref, hi, points=pts, limit=400, epsabs=1e-14
    )[0]
    o = (
        _mixed_overlap_ref(t_ref, t1, nu, t_w, fw, t2s)
        if t2s
        else float(overlap_exp(t_ref, t1, nu, t_w, fw))
    )
    return g1(t, t).real - 2 * r * phi(t) * g1phi + r * r * o * phi(t) ** 2


@pytest.mark.parametrize("nu, t2s", [(0.0, None), (0.0, 1.0), (0.4, 2.0)])
def test_dip_density_matches_the_beam_splitter_model(nu, t2s):
    args = (0.0, 0.6, nu, 0.65, 1.0, 0.5)
    with jax.enable_x64(True):
        for t in (-0.5, 0.1, 0.65, 1.3, 3.0):
            # Dephased: the Lorentzian average of a density whose cross term oscillates in
            # the offset (period 1/(t - t_ref)): slow convergence, 512 nodes for 2e-5.
            got = float(co.dip_density_exp(t, *args, t2s, n_nodes=512))
            want = _dip_ref(t, *args, t2s)
            np.testing.assert_allclose(got, want, atol=2e-5 if t2s else 1e-11)


def test_issue_figure_leak_with_the_dip():
    with jax.enable_x64(True):
        cdf, t0, h = co.dip_table_exp(0.0, 0.6, 0.0, 0.65, 1.0, 0.5)
        window = float(np.diff(np.asarray(tabulated.cdf_at(cdf, t0, h, np.array([0.85, 2.05]))))[0])
        assert abs(window - 0.1015) < 5e-5
        # Independent: quadrature of the density.
        quad = integrate.quad(
            lambda t: float(co.dip_density_exp(t, 0.0, 0.6, 0.0, 0.65, 1.0, 0.5)), 0.85, 2.05
        )[0]
        assert abs(window - quad) < 2e-6
        # Version 1 (unchanged shape): (1 - eta_w O) times the exponential's window.
        o = float(overlap_exp(0.0, 0.6, 0.0, 0.65, 1.0))
        v1 = (1 - 0.5 * o) * (np.exp(-0.85 / 0.6) - np.exp(-2.05 / 0.6))
        assert abs(v1 - 0.1259) < 5e-5


@pytest.mark.parametrize("nu, t2s, eta", [(0.0, None, 0.5), (0.3, 2.0, 0.9), (1.0, 0.3, 1.0)])
def test_dip_norm_is_one_minus_eta_overlap(nu, t2s, eta):
    with jax.enable_x64(True):
        cdf, t0, h = co.dip_table_exp(0.1, 0.6, nu, 0.65, 1.0, eta, t2s)
        o = float(co.overlap_exp_mixed(0.1, 0.6, nu, 0.65, 1.0, t2s))
        # Simpson on the table: far-offset nodes make the cross term oscillate in t.
        np.testing.assert_allclose(float(cdf[-1]), 1 - eta * o, atol=1e-6)
        assert float(tabulated.cdf_at(cdf, t0, h, np.array([0.1]))[0]) > 0.0  # light before t_ref


def test_dip_sampler_follows_the_table():
    with jax.enable_x64(True):
        args = (0.0, 0.6, 0.2, 0.65, 1.0, 0.7)
        t = np.asarray(co.dip_sample_exp(jax.random.key(5), (20000,), *args))
        cdf, t0, h = co.dip_table_exp(*args, n=4097)
        total = float(cdf[-1])
        law = lambda x: np.asarray(tabulated.cdf_at(cdf, t0, h, np.asarray(x)[None]))[0] / total  # noqa: E731
        assert stats.kstest(t, law).pvalue > 1e-3
        # One table per photon (a feeding delay per photon).
        t_ref = jnp.linspace(0.0, 0.5, 4)
        tt = np.asarray(co.dip_sample_exp(jax.random.key(6), (4,), t_ref, 0.6, 0.0, 0.65, 1.0, 0.5))
        assert tt.shape == (4,) and np.all(np.isfinite(tt))


def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        x = jnp.array([0.6, 0.3, 0.65, 1.0, 2.0, 0.1])  # T1, nu, t_w, FWHM, T2*, t_ref

        def stored(p):
            return co.overlap_exp_mixed(p[5], p[0], p[1], p[2], p[3], p[4])

        def leak(p):
            cdf, t0, h = co.dip_table_exp(p[5], p[0], p[1], p[2], p[3], 0.6, p[4], n=513)
            return jnp.diff(tabulated.cdf_at(cdf, t0, h, jnp.array([0.85, 2.05])))[0]

        for fn in (stored, leak):
            g = np.asarray(jax.grad(fn)(x))
            for i in range(x.shape[0]):
                dx = jnp.zeros(6).at[i].set(1e-6)
                fd = float((fn(x + dx) - fn(x - dx)) / 2e-6)
                np.testing.assert_allclose(g[i], fd, rtol=1e-5, atol=1e-9)


def test_float32_mixed_overlap():
    t_ref = np.linspace(-1.0, 1.0, 9).astype(np.float32)
    with jax.enable_x64(True):
        ref = np.asarray(co.overlap_exp_mixed(t_ref.astype(np.float64), 0.6, 0.3, 0.65, 1.0, 1.0))
    got = co.overlap_exp_mixed(
        t_ref, np.float32(0.6), np.float32(0.3), np.float32(0.65), np.float32(1.0), np.float32(1.0)
    )
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), ref, rtol=2e-5, atol=1e-7)
