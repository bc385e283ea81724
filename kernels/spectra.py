"""Spectral filters acting on the photon's spectrum: transmission and filtered shape.

Units: times in ns, frequencies in GHz (cycles per ns); angular rates carry 2 pi.

Photon lines. An EXP photon (lifetime T1, optional pure dephasing T2*) has a Lorentzian
power spectrum of FWHM g = 1 / (pi T2) GHz, 1/T2 = 1/(2 T1) + 1/T2* (g = 1/(2 pi T1)
without dephasing), centred at its offset nu (`linewidth_ghz`). Feeding shifts the
photon in time only, not its spectrum. A GAUSS wavepacket (intensity FWHM f, Fourier
limited) has a Gaussian power spectrum of standard deviation sigma_f = 1 / (4 pi sigma_t),
sigma_t = f / (2 sqrt(2 ln 2)).

Filters (power transmission, peak 1, centre c, FWHM F): Lorentzian
1 / (1 + (2 (x - c) / F)^2), the field response of a single filter mode
H = (F/2) / (F/2 - i (x - c)); Gaussian exp(-4 ln 2 ((x - c) / F)^2), a real field
response. The transmitted fraction is the overlap of the filter with the photon's
spectrum (`transmission_*`):
- Lorentzian line x Lorentzian filter: F/(F + g) / (1 + (2 (nu - c)/(F + g))^2);
- Lorentzian line x Gaussian filter (Voigt): Re w(((nu - c) + i g/2) / (sqrt 2 sigma_F));
- Gaussian line x Gaussian filter: sigma_F / S exp(-(nu - c)^2 / (2 S^2)),
  S^2 = sigma_F^2 + sigma_f^2;
- Gaussian line x Lorentzian filter: sqrt(pi/2) (F / (2 sigma_f)) Re w(((nu - c) +
  i F/2) / (sqrt 2 sigma_f)).

Filtered temporal shapes (detection-time densities, t measured from t_ref):
- EXP through a Lorentzian filter (`lorentzian_exp_density`, `lorentzian_exp_cdf`):
  the cascaded emitter -> filter-mode system; with Gamma = 1/T1, kappa = 2 pi F,
  p = (kappa + Gamma)/2 + 1/T2* + i 2 pi (nu - c), the output intensity is
  I(t) = (kappa^2 Gamma / 2) Re f[Gamma, p, kappa], f(x) = exp(-x t), the second divided
  difference (a sum of three exponentials, two real and one complex; exact, including
  the confluent cases kappa = Gamma, which are evaluated by a series about the centroid).
  Its CDF is the same divided difference of (1 - exp(-x t)) / x; the total is the
  Lorentzian transmission above.
- GAUSS through a Gaussian filter: a GAUSS wavepacket of FWHM from sigma_t'^2 =
  sigma_t^2 + 1 / (16 pi^2 sigma_F^2) (`gaussian_gauss_fwhm`), centred as before.
- EXP through a Gaussian filter (`gaussian_exp_density`): the pure-state amplitude is a
  Gaussian convolved with a one-sided exponential (`_gauss_exp.half_line`), and pure
  dephasing its Lorentzian average over the carrier (n_nodes Gauss-Legendre nodes).
- GAUSS through a Lorentzian filter (`lorentzian_gauss_density`): the same amplitude
  with the roles exchanged.
Where no closed-form CDF exists, `photonmc.kernels.tabulated` tabulates the density.
Neglected: the filter's group delay at its centre (a fixed delay, absorbed in retarded
time), and any spectral phase of a real filter beyond its single-mode (Lorentzian) or
real-Gaussian response.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import wofz

from . import _gauss_exp

__all__ = [
    "linewidth_ghz",
    "transmission_lorentzian_exp",
    "transmission_gaussian_exp",
    "transmission_gaussian_gauss",
    "transmission_lorentzian_gauss",
    "gaussian_gauss_fwhm",
    "lorentzian_exp_density",
    "lorentzian_exp_cdf",
    "gaussian_exp_density",
    "lorentzian_gauss_density",
]

_FWHM_PER_SIGMA = _gauss_exp.FWHM_PER_SIGMA
_FLOOR = 1e-9


def _arrays(*args):
    dtype = jnp.result_type(*args, 1.0)
    return jnp.broadcast_arrays(*[jnp.asarray(x, dtype) for x in args])


def _dephasing_rate(dephasing_time_ns, dtype):
    """1/T2* (1/ns); None means no pure dephasing."""
    if dephasing_time_ns is None:
        return jnp.zeros((), dtype)
    return 1.0 / jnp.maximum(jnp.asarray(dephasing_time_ns, dtype), _FLOOR)


def linewidth_ghz(lifetime_ns, dephasing_time_ns=None):
    """FWHM of the Lorentzian line, 1/(pi T2) GHz, 1/T2 = 1/(2 T1) + 1/T2*."""
    (t1,) = _arrays(lifetime_ns)
    rate = 0.5 / jnp.maximum(t1, _FLOOR) + _dephasing_rate(dephasing_time_ns, t1.dtype)
    return rate / np.pi


def transmission_lorentzian_exp(lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns=None):
    """Fraction of an EXP photon through a Lorentzian filter: F/(F+g) / (1 + (2 dnu/(F+g))^2)."""
    t1, nu, c, f = _arrays(lifetime_ns, nu_ghz, center_ghz, fwhm_ghz)
    f = jnp.maximum(f, _FLOOR)
    total = f + linewidth_ghz(t1, dephasing_time_ns)
    return (f / total) / (1.0 + (2.0 * (nu - c) / total) ** 2)


def transmission_gaussian_exp(lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns=None):
    """Fraction of an EXP photon through a Gaussian filter: Re w((dnu + i g/2)/(sqrt 2 sigma_F))."""
    t1, nu, c, f = _arrays(lifetime_ns, nu_ghz, center_ghz, fwhm_ghz)
    sig = jnp.maximum(f, _FLOOR) / _FWHM_PER_SIGMA
    g = linewidth_ghz(t1, dephasing_time_ns)
    # Re w is even in Re z: |nu - c| keeps the argument where wofz is accurate.
    z = jax.lax.complex(jnp.abs(nu - c), 0.5 * g) / (math.sqrt(2.0) * sig)
    return jnp.clip(jnp.real(wofz(z)), 0.0, 1.0)


def _gauss_line_sigma(fwhm_ns):
    sig_t = jnp.maximum(fwhm_ns, _FLOOR) / _FWHM_PER_SIGMA
    return 1.0 / (4.0 * np.pi * sig_t)


def transmission_gaussian_gauss(fwhm_ns, nu_ghz, center_ghz, fwhm_ghz):
    """Fraction of a GAUSS wavepacket through a Gaussian filter (product of Gaussians)."""
    fw, nu, c, f = _arrays(fwhm_ns, nu_ghz, center_ghz, fwhm_ghz)
    sf = _gauss_line_sigma(fw)
    sF = jnp.maximum(f, _FLOOR) / _FWHM_PER_SIGMA
    s2 = sF**2 + sf**2
    return sF / jnp.sqrt(s2) * jnp.exp(-((nu - c) ** 2) / (2.0 * s2))


def transmission_lorentzian_gauss(fwhm_ns, nu_ghz, center_ghz, fwhm_ghz):
    """Fraction of a GAUSS wavepacket through a Lorentzian filter (Voigt)."""
    fw, nu, c, f = _arrays(fwhm_ns, nu_ghz, center_ghz, fwhm_ghz)
    sf = _gauss_line_sigma(fw)
    f = jnp.maximum(f, _FLOOR)
    z = jax.lax.complex(jnp.abs(nu - c), 0.5 * f) / (math.sqrt(2.0) * sf)
    return jnp.clip(math.sqrt(np.pi / 2.0) * (0.5 * f / sf) * jnp.real(wofz(z)), 0.0, 1.0)


def gaussian_gauss_fwhm(fwhm_ns, fwhm_ghz):
    """Intensity FWHM (ns) of a Fourier-limited GAUSS wavepacket after a Gaussian filter."""
    fw, f = _arrays(fwhm_ns, fwhm_ghz)
    sig_t = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    sF = jnp.maximum(f, _FLOOR) / _FWHM_PER_SIGMA
    return _FWHM_PER_SIGMA * jnp.sqrt(sig_t**2 + 1.0 / (16.0 * np.pi**2 * sF**2))


# ---------------------------------------------------------------------------------
# Divided differences of exp(-y) and of (1 - exp(-y)) / y at three complex points
# ---------------------------------------------------------------------------------

_SERIES_RADIUS = 1.5
_N_SERIES = 32


def _phi1(x):
    """(1 - e^-x) / x for Re x >= 0 (series near 0)."""
    small = jnp.abs(x) < 0.5
    xs = jnp.where(small, x, 0.0)
    term = jnp.ones_like(x)
    total = jnp.ones_like(x)
    for n in range(1, 18):
        term = term * (-xs) / (n + 1)
        total = total + term
    xl = jnp.where(small, 1.0, x)
    return jnp.where(small, total, -jnp.expm1(-xl) / xl)


def _d1(a, b):
    """(e^-a - e^-b) / (a - b), stable for any a, b with Re >= 0."""
    swap = jnp.real(b) < jnp.real(a)
    lo = jnp.where(swap, b, a)
    hi = jnp.where(swap, a, b)
    return -jnp.exp(-lo) * _phi1(hi - lo)


def _d2(y1, y2, y3):
    """Second divided difference of e^-y at three points with Re >= 0."""
    c = (y1 + y2 + y3) / 3.0
    u1, u2, u3 = y1 - c, y2 - c, y3 - c
    radius = jnp.maximum(jnp.maximum(jnp.abs(u1), jnp.abs(u2)), jnp.abs(u3))
    near = radius <= _SERIES_RADIUS
    # Series about the centroid: e^-c sum_n (-1)^n h_n(u) / (n + 2)!, h_n the complete
    # homogeneous symmetric polynomials (recursion over one, two, three variables).
    v1, v2, v3 = (jnp.where(near, u, 0.0) for u in (u1, u2, u3))
    h1 = jnp.ones_like(v1)
    h2 = jnp.ones_like(v1)
    h3 = jnp.ones_like(v1)
    total = 0.5 * h3
    fact = 2.0
    for n in range(1, _N_SERIES):
        h1 = v1 * h1
        h2 = h1 + v2 * h2
        h3 = h2 + v3 * h3
        fact = fact * (n + 2)
        total = total + ((-1.0) ** n / fact) * h3
    series = jnp.exp(-c) * total
    # Far apart: (D1[i, j] - D1[j, k]) / (y_i - y_k) with (i, k) the farthest pair.
    d12, d13, d23 = jnp.abs(y1 - y2), jnp.abs(y1 - y3), jnp.abs(y2 - y3)
    pick13 = (d13 >= d12) & (d13 >= d23)
    pick12 = ~pick13 & (d12 >= d23)
    yi = jnp.where(pick13, y1, jnp.where(pick12, y1, y2))
    yj = jnp.where(pick13, y2, jnp.where(pick12, y3, y1))
    yk = jnp.where(pick13, y3, jnp.where(pick12, y2, y3))
    yi_f = jnp.where(near, 0.0, yi)
    yk_f = jnp.where(near, 1.0, yk)
    yj_f = jnp.where(near, 0.5, yj)
    far = (_d1(yi_f, yj_f) - _d1(yj_f, yk_f)) / (yi_f - yk_f)
    return jnp.where(near, series, far)


def _lorentzian_exp_parts(t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns):
    t, t1, nu, c, f = _arrays(t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz)
    gamma = 1.0 / jnp.maximum(t1, _FLOOR)
    kappa = 2.0 * np.pi * jnp.maximum(f, _FLOOR)
    gd = _dephasing_rate(dephasing_time_ns, t.dtype)
    p = jax.lax.complex(0.5 * (kappa + gamma) + gd, 2.0 * np.pi * (nu - c))
    ctype = p.dtype
    x1, x2, x3 = p, gamma.astype(ctype), kappa.astype(ctype)
    tp = jnp.maximum(t, 0.0).astype(ctype)
    return t, gamma, kappa, x1, x2, x3, tp


def lorentzian_exp_density(
    t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns=None
) -> jax.Array:
    """Detection-time density (1/ns) at t (ns after t_ref) of an EXP photon behind a
    Lorentzian filter; integrates to `transmission_lorentzian_exp`. Broadcasts."""
    t, gamma, kappa, x1, x2, x3, tp = _lorentzian_exp_parts(
        t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns
    )
    f2 = tp * tp * _d2(x1 * tp, x2 * tp, x3 * tp)
    dens = 0.5 * kappa**2 * gamma * jnp.real(f2)
    return jnp.where(t > 0.0, jnp.maximum(dens, 0.0), 0.0)


def lorentzian_exp_cdf(
    t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns=None
) -> jax.Array:
    """P(detected by t) of an EXP photon behind a Lorentzian filter (t in ns after t_ref).

    Leibniz rule for (1 - e^-xt)/x = (1/x)(1 - e^-xt): F[x1, x2, x3] = -f[x1, x2, x3]/x1 +
    f[x2, x3]/(x1 x2) + (1 - e^-x3 t)/(x1 x2 x3), f = e^-xt. Relative error ~ eps/(x t)^2
    for t much shorter than the lifetime (terms cancel), eps elsewhere.
    """
    t, gamma, kappa, x1, x2, x3, tp = _lorentzian_exp_parts(
        t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns
    )
    f123 = tp * tp * _d2(x1 * tp, x2 * tp, x3 * tp)
    f23 = tp * _d1(x2 * tp, x3 * tp)
    big = -f123 / x1 + f23 / (x1 * x2) - jnp.expm1(-x3 * tp) / (x1 * x2 * x3)
    cdf = 0.5 * kappa**2 * gamma * jnp.real(big)
    return jnp.where(t > 0.0, jnp.maximum(cdf, 0.0), 0.0)


def gaussian_exp_density(
    t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz, dephasing_time_ns=None, *, n_nodes: int = 48
) -> jax.Array:
    """Detection-time density (1/ns) of an EXP photon behind a Gaussian filter.

    Pure state: a(t) = 2 sigma_F sqrt(pi Gamma) int_0^inf exp(-b u - (u - t)^2 / (2 s_h^2))
    du, s_h = 1/(2 sqrt 2 pi sigma_F), b = Gamma/2 + i 2 pi (nu - c); I = |a|^2. Pure
    dephasing: the Lorentzian average of I over the carrier (module `_gauss_exp`), with
    n_nodes nodes (static); None or no dephasing is the pure closed form exactly.
    """
    t, t1, nu, c, f = _arrays(t, lifetime_ns, nu_ghz, center_ghz, fwhm_ghz)
    gamma = 1.0 / jnp.maximum(t1, _FLOOR)
    sF = jnp.maximum(f, _FLOOR) / _FWHM_PER_SIGMA
    s = 1.0 / (4.0 * np.pi * sF)  # 4 s^2 = 2 s_h^2

    def pure(offset):
        re, im = _gauss_exp.half_line(t, s, 0.5 * gamma, 2.0 * np.pi * (nu - c + offset))
        return 4.0 * np.pi * sF**2 * gamma * (re**2 + im**2)

    if dephasing_time_ns is None:
        return pure(0.0)
    hwhm = 0.5 / (np.pi * jnp.maximum(jnp.asarray(dephasing_time_ns, t.dtype), _FLOOR))
    width = jnp.maximum(sF, gamma / (2.0 * np.pi))
    hwhm, width = jnp.broadcast_arrays(hwhm + 0.0 * t, width + 0.0 * t)
    return _gauss_exp.lorentz_average(pure, hwhm, width, n_nodes, t.dtype, centre=c - nu)


def lorentzian_gauss_density(t, fwhm_ns, nu_ghz, center_ghz, fwhm_ghz) -> jax.Array:
    """Detection-time density (1/ns) at t (ns from the centre) of a Fourier-limited GAUSS
    wavepacket behind a Lorentzian filter: |int_0^inf h(u) psi(t - u) du|^2, h(u) =
    (kappa/2) exp(-(kappa/2 + i 2 pi c) u). Integrates to `transmission_lorentzian_gauss`."""
    t, fw, nu, c, f = _arrays(t, fwhm_ns, nu_ghz, center_ghz, fwhm_ghz)
    sig_t = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    kappa = 2.0 * np.pi * jnp.maximum(f, _FLOOR)
    re, im = _gauss_exp.half_line(t, sig_t, 0.5 * kappa, 2.0 * np.pi * (c - nu))
    norm = 0.25 * kappa**2 / jnp.sqrt(2.0 * np.pi * sig_t**2)
    return norm * (re**2 + im**2)
