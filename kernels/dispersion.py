"""Chromatic dispersion of a single-photon wavepacket: the dispersed detection-time law.

Units: times in ns, GDD in ns^2, D in ps/(nm km), lengths in km, wavelengths in nm.

The fibre multiplies the spectral amplitude by exp(i phi omega^2 / 2), phi = beta2 L the
group-delay dispersion, beta2 = -D lambda^2 / (2 pi c) (-21.7 ps^2/km for D = 17
ps/(nm km) at 1550 nm), `gdd_ns2`. The linear part of the spectral phase (group delay and
the offset's chromatic shift phi 2 pi nu) only moves the wavepacket and is applied
elsewhere (retarded time; `Fiber`'s chromatic shift), so the laws here are at nu = 0 and
shift with t_ref; the intensity does not depend on the sign of phi.

- GAUSS wavepacket (Fourier limited, intensity FWHM f): stays Gaussian (chirped), of
  FWHM f sqrt(1 + (4 ln 2 phi / f^2)^2) (`dispersed_gauss_fwhm`).
- EXP wavepacket with an instant rise (amplitude sqrt(Gamma) e^(-Gamma t/2) H(t)):
  the chirp-kernel convolution is a Faddeeva function,
      I(t) = (Gamma/4) |w(z)|^2,  z = ((t + a) + i (a - t)) / (2 sqrt|phi|),  a = Gamma |phi|/2,
  (`dispersed_exp_density`; w(z) = 2 e^(-z^2) - w(-z) below the real axis, which gives
  Gamma e^(-Gamma t) as phi -> 0). It integrates to 1; its tails are the Lorentzian
  spectrum mapped onto time, Gamma |phi| / (2 pi (t^2 + a^2)) (1 + O(|phi|/t^2)), so the
  light before -X is atan(a / X) / pi to that order. At 100 km of D = 17 fibre and T1 =
  0.6 ns: 10-90 % rise 107 ps, 2.1 % of the light before t = 0 (tests).
- `dispersed_exp_table`: the tabulated CDF (`tabulated`) from -X to 30 T1 + X, n nodes,
  X = max(40 sqrt|phi|, 4 T1 ... ) chosen by the caller's `left_ns`; the mass before -X
  is put in C_0 from the tail law above.
Neglected: third-order dispersion, and dispersion inside the stages other than fibres.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import wofz

from . import tabulated

__all__ = ["gdd_ns2", "dispersed_gauss_fwhm", "dispersed_exp_density", "dispersed_exp_table"]

#: speed of light in nm/ps
_C_NM_PER_PS = 2.99792458e5
_FLOOR = 1e-9


def _arrays(*args):
    dtype = jnp.result_type(*args, 1.0)
    return jnp.broadcast_arrays(*[jnp.asarray(x, dtype) for x in args])


def gdd_ns2(dispersion_ps_per_nm_km, length_km, wavelength_nm):
    """beta2 L in ns^2: -D lambda^2 L / (2 pi c) (ps^2 / km times km, then 1e-6 ns^2/ps^2)."""
    d, length, lam = _arrays(dispersion_ps_per_nm_km, length_km, wavelength_nm)
    beta2 = -d * lam**2 / (2.0 * np.pi * _C_NM_PER_PS)  # ps^2 / km
    return 1e-6 * beta2 * length


def dispersed_gauss_fwhm(fwhm_ns, gdd):
    """Intensity FWHM (ns) of a Fourier-limited Gaussian after GDD phi (ns^2)."""
    f, phi = _arrays(fwhm_ns, gdd)
    f = jnp.maximum(f, _FLOOR)
    return f * jnp.sqrt(1.0 + (4.0 * math.log(2.0) * phi / f**2) ** 2)


def dispersed_exp_density(t, lifetime_ns, gdd):
    """Detection-time density (1/ns) at t (ns after t_ref) of a dispersed EXP photon."""
    t, t1, phi = _arrays(t, lifetime_ns, gdd)
    gamma = 1.0 / jnp.maximum(t1, _FLOOR)
    phi = jnp.maximum(jnp.abs(phi), 1e-30)
    root = jnp.sqrt(phi)
    a = 0.5 * gamma * phi
    x = (t + a) / (2.0 * root)
    y = (a - t) / (2.0 * root)
    upper = y >= 0.0
    # Upper half plane: w(z) itself. Lower: 2 exp(-z^2) - w(-z), with -z in the upper
    # half plane; Re(z^2) = Gamma t / 2 and Im(z^2) = (a^2 - t^2) / (2 phi).
    w_up = wofz(jax.lax.complex(jnp.where(upper, x, 0.0), jnp.where(upper, y, 1.0)))
    w_neg = wofz(jax.lax.complex(jnp.where(upper, 0.0, -x), jnp.where(upper, 1.0, -y)))
    tt = jnp.where(upper, 0.0, t)
    mod = 2.0 * jnp.exp(-0.5 * gamma * tt)
    ph = -jnp.where(upper, 0.0, (a * a - t * t) / (2.0 * phi))
    lo_re = mod * jnp.cos(ph) - jnp.real(w_neg)
    lo_im = mod * jnp.sin(ph) - jnp.imag(w_neg)
    w2 = jnp.where(upper, jnp.real(w_up) ** 2 + jnp.imag(w_up) ** 2, lo_re**2 + lo_im**2)
    return 0.25 * gamma * w2


def tail_before(x_ns, lifetime_ns, gdd):
    """Light before -x_ns (x_ns > 0): atan(a / x) / pi, a = |phi| / (2 T1)."""
    x, t1, phi = _arrays(x_ns, lifetime_ns, gdd)
    a = 0.5 * jnp.abs(phi) / jnp.maximum(t1, _FLOOR)
    return jnp.arctan(a / jnp.maximum(x, _FLOOR)) / np.pi


def dispersed_exp_table(lifetime_ns, gdd, *, n: int = 4097, left_ns=None, right_lifetimes=30.0):
    """(cdf, t0, h) of the dispersed EXP law on [-X, right_lifetimes T1 + X] with t = 0 on
    a node; X = left_ns or 40 sqrt|phi| + 10 h. C_0 holds the light before -X (tail law)."""
    t1, phi = _arrays(lifetime_ns, gdd)
    root = jnp.sqrt(jnp.abs(phi))
    left = 40.0 * root if left_ns is None else jnp.asarray(left_ns, t1.dtype) + 0.0 * root
    right = right_lifetimes * t1 + left
    h = (left + right) / (n - 2)
    t0 = -jnp.ceil(jax.lax.stop_gradient(left / h)) * h
    x = jnp.arange(2 * n - 1, dtype=h.dtype) * 0.5
    u = t0[..., None] + h[..., None] * x
    f = dispersed_exp_density(u, t1[..., None], phi[..., None])
    cdf = tabulated.cdf_from_density(f[..., 0::2], f[..., 1::2], h)
    c0 = tail_before(-t0, t1, phi)
    return cdf + c0[..., None], t0, h
