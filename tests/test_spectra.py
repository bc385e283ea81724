"""Tests of photonmc.kernels.spectra: filter transmission by spectral overlap and the
filtered temporal shapes, against scipy quadrature of spectra and of the field
convolution."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

from photonmc.kernels import spectra as sp

pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _line(t1, t2s):
    """Lorentzian FWHM (GHz) of an EXP photon, from its coherence decay rate."""
    rate = 0.5 / t1 + (0.0 if t2s is None else 1.0 / t2s)
    return rate / np.pi


def _lorentz(x, fwhm):
    return (0.5 * fwhm / np.pi) / (x**2 + (0.5 * fwhm) ** 2)


def _quad_spectrum(spectrum, filt, centre):
    return integrate.quad(lambda x: spectrum(x) * filt(x), -np.inf, np.inf, points=None)[0]


def _filters(c, f):
    return {
        "lorentzian": lambda x: 1.0 / (1.0 + (2.0 * (x - c) / f) ** 2),
        "gaussian": lambda x: np.exp(-4.0 * np.log(2.0) * ((x - c) / f) ** 2),
    }


def test_issue_figure_lorentzian_filter_passes_half():
    with jax.enable_x64(True):
        # T1 = 0.6 ns: line FWHM 1/(2 pi T1) = 0.265 GHz; a 0.265 GHz filter on it.
        got = float(sp.transmission_lorentzian_exp(0.6, 0.0, 0.0, 0.265))
        assert abs(got - 0.4998) < 5e-5
        assert abs(float(sp.linewidth_ghz(0.6)) - 0.26526) < 1e-5


CASES = [
    # (T1, T2*, nu, centre, filter FWHM)
    (0.6, None, 0.0, 0.0, 0.265),
    (0.6, 3.0, 0.4, 0.1, 0.5),
    (0.3, 0.5, -1.0, 0.2, 2.0),
    (1.2, None, 0.05, 0.0, 0.02),
    (0.1, 0.05, 3.0, 0.0, 10.0),
]


@pytest.mark.parametrize("case", CASES)
def test_exp_transmission_is_the_spectral_overlap(case):
    t1, t2s, nu, c, f = case
    g = _line(t1, t2s)
    filt = _filters(c, f)
    with jax.enable_x64(True):
        for shape, fn in (
            ("lorentzian", sp.transmission_lorentzian_exp),
            ("gaussian", sp.transmission_gaussian_exp),
        ):
            want = integrate.quad(
                lambda x: _lorentz(x - nu, g) * filt[shape](x),  # noqa: B023
                -np.inf,
                np.inf,
                epsabs=1e-13,
                epsrel=1e-12,
                limit=500,
            )[0]
            got = float(fn(t1, nu, c, f, t2s))
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=shape)


@pytest.mark.parametrize(
    "fwhm_ns, nu, c, f", [(1.0, 0.0, 0.0, 0.5), (0.3, 0.7, 0.2, 1.0), (2.0, -0.1, 0.0, 0.05)]
)
def test_gauss_transmission_is_the_spectral_overlap(fwhm_ns, nu, c, f):
    sig_f = 1.0 / (4.0 * np.pi * fwhm_ns / FWHM_PER_SIGMA)
    spec = lambda x: np.exp(-((x - nu) ** 2) / (2 * sig_f**2)) / (np.sqrt(2 * np.pi) * sig_f)  # noqa: E731
    filt = _filters(c, f)
    with jax.enable_x64(True):
        for shape, fn in (
            ("lorentzian", sp.transmission_lorentzian_gauss),
            ("gaussian", sp.transmission_gaussian_gauss),
        ):
            want = integrate.quad(
                lambda x: spec(x) * filt[shape](x),  # noqa: B023
                -np.inf,
                np.inf,
                epsabs=1e-13,
                limit=500,  # noqa: B023
            )[0]
            np.testing.assert_allclose(float(fn(fwhm_ns, nu, c, f)), want, rtol=1e-9, atol=1e-12)


def _conv_amplitude(t, h, psi, lo, hi):
    """int_lo^hi h(t - s) psi(s) ds, complex, by quadrature of both parts."""
    re = integrate.quad(lambda s: (h(t - s) * psi(s)).real, lo, hi, epsabs=1e-14, limit=400)[0]
    im = integrate.quad(lambda s: (h(t - s) * psi(s)).imag, lo, hi, epsabs=1e-14, limit=400)[0]
    return re + 1j * im


def _lorentz_h(c, f):
    kappa = 2 * np.pi * f
    return lambda u: (0.5 * kappa) * np.exp(-(0.5 * kappa + 2j * np.pi * c) * u) * (u >= 0)


def _exp_psi(t1, nu):
    return lambda s: np.exp(-(0.5 / t1 + 2j * np.pi * nu) * s) / np.sqrt(t1) * (s >= 0)


@pytest.mark.parametrize(
    "t1, nu, c, f",
    [
        (0.6, 0.0, 0.0, 0.265),
        (0.6, 0.0, 0.0, 1.0 / (2 * np.pi * 0.6)),  # kappa = Gamma exactly: confluent
        (0.6, 0.3, -0.1, 0.5),
        (0.2, 1.0, 0.0, 0.05),
    ],
)
def test_lorentzian_filtered_density_is_the_field_convolution(t1, nu, c, f):
    h, psi = _lorentz_h(c, f), _exp_psi(t1, nu)
    ts = np.array([0.01, 0.2, 0.6, 1.5, 4.0])
    want = np.array([abs(_conv_amplitude(t, h, psi, 0.0, t)) ** 2 for t in ts])
    with jax.enable_x64(True):
        got = np.asarray(sp.lorentzian_exp_density(ts, t1, nu, c, f))
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-13)
        cdf_want = [
            integrate.quad(lambda x: abs(_conv_amplitude(x, h, psi, 0.0, x)) ** 2, 0, t)[0]
            for t in ts[:3]
        ]
        np.testing.assert_allclose(
            np.asarray(sp.lorentzian_exp_cdf(ts[:3], t1, nu, c, f)), cdf_want, rtol=1e-7, atol=1e-12
        )
        total = float(sp.lorentzian_exp_cdf(1e4, t1, nu, c, f))
        np.testing.assert_allclose(
            total, float(sp.transmission_lorentzian_exp(t1, nu, c, f)), rtol=1e-12
        )


def test_lorentzian_filtered_density_with_dephasing_is_the_two_time_integral():
    t1, t2s, nu, c, f = 0.6, 0.8, 0.2, 0.0, 0.4
    kappa = 2 * np.pi * f

    def integrand(sp_, s, t):
        g1 = np.exp(-(s + sp_) / (2 * t1)) / t1 * np.exp(-abs(s - sp_) / t2s)
        g1 = g1 * np.exp(-2j * np.pi * nu * (s - sp_))
        hh = (0.5 * kappa) ** 2 * np.exp(-0.5 * kappa * (2 * t - s - sp_))
        hh = hh * np.exp(-2j * np.pi * c * ((t - s) - (t - sp_)))
        return (hh * g1).real

    with jax.enable_x64(True):
        for t in (0.3, 1.0, 2.5):
            want = integrate.dblquad(integrand, 0, t, 0, t, args=(t,), epsabs=1e-12)[0]
            got = float(sp.lorentzian_exp_density(t, t1, nu, c, f, t2s))
            # dblquad resolves the kink of |s - s'| on the diagonal to ~1e-7.
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_broad_filter_reduces_to_the_exponential():
    with jax.enable_x64(True):
        t = np.linspace(0.0, 5.0, 51)
        cdf = np.asarray(sp.lorentzian_exp_cdf(t, 0.6, 0.3, 0.0, 1e5))
        # A 1e5 GHz filter delays by ~1/kappa = 1.6 ps and passes 1 - g/F.
        np.testing.assert_allclose(cdf, -np.expm1(-t / 0.6), atol=2e-5)


@pytest.mark.parametrize("t1, nu, c, f", [(0.6, 0.0, 0.0, 0.3), (0.3, 0.4, 0.1, 1.5)])
def test_gaussian_filtered_density_is_the_field_convolution(t1, nu, c, f):
    sig_F = f / FWHM_PER_SIGMA
    h = lambda u: (  # noqa: E731
        2
        * sig_F
        * np.sqrt(np.pi)
        * np.exp(-4 * np.pi**2 * sig_F**2 * u**2)
        * np.exp(-2j * np.pi * c * u)
    )
    psi = _exp_psi(t1, nu)
    ts = np.array([-0.5, 0.0, 0.3, 1.0, 3.0])
    want = np.array([abs(_conv_amplitude(t, h, psi, 0.0, 40.0)) ** 2 for t in ts])
    with jax.enable_x64(True):
        got = np.asarray(sp.gaussian_exp_density(ts, t1, nu, c, f))
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-12)
        total = integrate.quad(
            lambda x: float(sp.gaussian_exp_density(x, t1, nu, c, f)),
            -20,
            60,
            points=[0.0],
            limit=400,
        )[0]
        np.testing.assert_allclose(
            total, float(sp.transmission_gaussian_exp(t1, nu, c, f)), rtol=1e-7
        )


def test_gaussian_filtered_density_with_dephasing_integrates_to_the_voigt():
    t1, t2s, nu, c, f = 0.6, 1.0, 0.2, 0.0, 0.5
    with jax.enable_x64(True):
        total = integrate.quad(
            lambda x: float(sp.gaussian_exp_density(x, t1, nu, c, f, t2s, n_nodes=64)),
            -20,
            60,
            points=[0.0],
            limit=400,
        )[0]
        np.testing.assert_allclose(
            total, float(sp.transmission_gaussian_exp(t1, nu, c, f, t2s)), rtol=2e-5
        )


@pytest.mark.parametrize("fwhm_ns, nu, c, f", [(1.0, 0.0, 0.0, 0.5), (0.3, 0.7, 0.2, 1.0)])
def test_lorentzian_filtered_gauss_density(fwhm_ns, nu, c, f):
    sig_t = fwhm_ns / FWHM_PER_SIGMA
    psi = lambda s: (  # noqa: E731
        (2 * np.pi * sig_t**2) ** -0.25
        * np.exp(-(s**2) / (4 * sig_t**2))
        * np.exp(-2j * np.pi * nu * s)
    )
    h = _lorentz_h(c, f)
    ts = np.array([-1.0, 0.0, 0.5, 2.0])
    want = np.array([abs(_conv_amplitude(t, h, psi, -30.0, t)) ** 2 for t in ts])
    with jax.enable_x64(True):
        got = np.asarray(sp.lorentzian_gauss_density(ts, fwhm_ns, nu, c, f))
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-13)
        total = integrate.quad(
            lambda x: float(sp.lorentzian_gauss_density(x, fwhm_ns, nu, c, f)), -30, 60, limit=400
        )[0]
        np.testing.assert_allclose(
            total, float(sp.transmission_lorentzian_gauss(fwhm_ns, nu, c, f)), rtol=1e-7
        )


def test_gaussian_filter_on_a_gaussian_gives_the_broader_gaussian():
    fwhm_ns, f = 0.5, 0.8
    sig_t, sig_F = fwhm_ns / FWHM_PER_SIGMA, f / FWHM_PER_SIGMA
    # Field: Gaussian psi convolved with the Gaussian impulse response; its intensity FWHM.
    h = lambda u: np.exp(-4 * np.pi**2 * sig_F**2 * u**2)  # noqa: E731
    psi = lambda s: np.exp(-(s**2) / (4 * sig_t**2))  # noqa: E731
    ts = np.linspace(-3, 3, 6001)
    out = np.array([abs(_conv_amplitude(t, h, psi, -10, 10)) ** 2 for t in ts[::10]])
    half = out >= 0.5 * out.max()
    fwhm_num = ts[::10][half][-1] - ts[::10][half][0]
    with jax.enable_x64(True):
        got = float(sp.gaussian_gauss_fwhm(fwhm_ns, f))
    assert abs(got - fwhm_num) < 0.011  # the numerical FWHM's grid step is 0.01 ns


def _fd_check(fn, x, eps=1e-6, rtol=1e-5):
    g = np.asarray(jax.grad(fn)(x))
    for i in range(x.shape[0]):
        dx = jnp.zeros_like(x).at[i].set(eps)
        fd = float((fn(x + dx) - fn(x - dx)) / (2 * eps))
        np.testing.assert_allclose(g[i], fd, rtol=rtol, atol=1e-9, err_msg=f"parameter {i}")


def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        # (T1, nu, centre, F, T2*)
        x = jnp.array([0.6, 0.2, 0.05, 0.3, 2.0])
        _fd_check(lambda p: sp.transmission_lorentzian_exp(p[0], p[1], p[2], p[3], p[4]), x)
        _fd_check(lambda p: sp.transmission_gaussian_exp(p[0], p[1], p[2], p[3], p[4]), x)
        for t in (0.05, 0.7, 3.0):
            _fd_check(lambda p, t=t: sp.lorentzian_exp_cdf(t, p[0], p[1], p[2], p[3], p[4]), x)
            _fd_check(lambda p, t=t: sp.lorentzian_exp_density(t, p[0], p[1], p[2], p[3], p[4]), x)
            _fd_check(lambda p, t=t: sp.gaussian_exp_density(t, p[0], p[1], p[2], p[3], p[4]), x)
        # The confluent point kappa = Gamma, nu = c, no dephasing.
        y = jnp.array([0.6, 0.0, 0.0, 1.0 / (2 * np.pi * 0.6)])
        _fd_check(lambda p: sp.lorentzian_exp_cdf(0.8, p[0], p[1], p[2], p[3]), y)


def test_float32_finite_and_close():
    ts = np.linspace(0.0, 20.0, 401)
    for t1, nu, c, f in itertools.product((0.1, 0.6, 3.0), (0.0, 1.0), (0.0,), (0.05, 0.265, 5.0)):
        with jax.enable_x64(True):
            ref = np.asarray(sp.lorentzian_exp_cdf(ts, t1, nu, c, f))
        got = np.asarray(
            sp.lorentzian_exp_cdf(
                ts.astype(np.float32), np.float32(t1), np.float32(nu), np.float32(c), np.float32(f)
            )
        )
        assert got.dtype == np.float32 and np.all(np.isfinite(got))
        np.testing.assert_allclose(got, ref, atol=2e-6)
