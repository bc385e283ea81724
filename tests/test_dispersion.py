"""Tests of photonmc.kernels.dispersion: the dispersed detection-time laws against an FFT of
the spectral amplitude and the issue's figures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.kernels import dispersion as di
from photonmc.kernels import tabulated


def _phi_100km():
    with jax.enable_x64(True):
        return float(di.gdd_ns2(17.0, 100.0, 1550.0))


def test_gdd_of_standard_fibre():
    # beta2 = -D lambda^2 / (2 pi c) = -21.68 ps^2/km at 1550 nm.
    assert abs(_phi_100km() + 21.6826e-4) < 1e-8


def test_exp_density_matches_the_fft_of_the_chirped_spectrum():
    phi = _phi_100km()
    n, dt = 2**20, 0.001
    tt = (np.arange(n) - n // 8) * dt
    psi = np.where(tt >= 0, np.exp(-tt / 1.2) / np.sqrt(0.6), 0.0)
    psi[n // 8] *= 0.5  # the jump sampled at its midpoint
    w = 2 * np.pi * np.fft.fftfreq(n, dt)
    ref = np.abs(np.fft.ifft(np.fft.fft(psi) * np.exp(0.5j * phi * w**2))) ** 2
    t = np.linspace(-0.3, 3.0, 331)
    with jax.enable_x64(True):
        got = np.asarray(di.dispersed_exp_density(t, 0.6, phi))
    # The FFT's own error: the 1 ps sampling of the jump (measured ~2e-3 of the peak).
    np.testing.assert_allclose(got, np.interp(t, tt, ref), atol=5e-3 * got.max())


def test_issue_figures_rise_time_and_light_before_zero():
    phi = _phi_100km()
    with jax.enable_x64(True):
        cdf, t0, h = di.dispersed_exp_table(0.6, phi, n=8193)
        before = float(tabulated.cdf_at(cdf, t0, h, np.array([0.0]))[0])
        t = np.linspace(-0.5, 0.5, 100001)
        d = np.asarray(di.dispersed_exp_density(t, 0.6, phi))
    assert abs(before - 0.0214) < 2e-4  # "2 % of the light arrives before t = 0" (T1 = 0.6)
    ip = int(np.argmax(d))
    t10 = t[:ip][np.argmax(d[:ip] >= 0.1 * d[ip])]
    t90 = t[:ip][np.argmax(d[:ip] >= 0.9 * d[ip])]
    assert abs((t90 - t10) * 1e3 - 107.4) < 1.0  # "about 108 ps" 10-90 % rise
    assert abs(float(cdf[-1]) - 1.0) < 1e-4  # the right tail beyond 30 T1 + X


def test_zero_dispersion_is_the_exponential_and_gauss_broadening():
    with jax.enable_x64(True):
        t = np.linspace(0.01, 5.0, 50)
        d = np.asarray(di.dispersed_exp_density(t, 0.6, 1e-12))
        # sqrt(phi) = 1 fs: the Fresnel ringing of the jump leaves ~1e-5 of relative ripple.
        np.testing.assert_allclose(d, np.exp(-t / 0.6) / 0.6, rtol=1e-4)
        # Gaussian: FWHM sqrt(1 + (4 ln 2 phi / f^2)^2), checked against the chirped FFT.
        f, phi = 0.05, _phi_100km()
        n, dt = 2**16, 0.0005
        tt = (np.arange(n) - n // 2) * dt
        sig = f / (2 * np.sqrt(2 * np.log(2)))
        amp = np.exp(-(tt**2) / (4 * sig**2))
        w = 2 * np.pi * np.fft.fftfreq(n, dt)
        out = np.abs(np.fft.ifft(np.fft.fft(amp) * np.exp(0.5j * phi * w**2))) ** 2
        half = tt[out >= 0.5 * out.max()]
        assert abs(float(di.dispersed_gauss_fwhm(f, phi)) - (half[-1] - half[0])) < 2 * dt


def test_gradient_of_the_tabulated_law():
    with jax.enable_x64(True):
        edges = jnp.linspace(-0.2, 2.0, 45)

        def window(p):
            cdf, t0, h = di.dispersed_exp_table(p[0], p[1], n=2049)
            return jnp.sum(tabulated.bin_probs(cdf, t0, h, edges, 0.02) * jnp.arange(44))

        x = jnp.array([0.6, -2.2e-3])
        g = np.asarray(jax.grad(window)(x))
        for i, eps in enumerate((1e-5, 1e-7)):
            dx = jnp.zeros(2).at[i].set(eps)
            fd = float((window(x + dx) - window(x - dx)) / (2 * eps))
            np.testing.assert_allclose(g[i], fd, rtol=1e-4)


def test_float32_density_is_finite():
    t = np.linspace(-2.0, 20.0, 2001).astype(np.float32)
    d = di.dispersed_exp_density(t, np.float32(0.6), np.float32(-2.17e-3))
    assert d.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(d)))
