"""Shared closed forms: Gaussian times complex exponential over a half line, Lorentzian nodes.

`half_line(d, s, b)`: the complex integral

    J = int_0^inf exp(-(u - d)^2 / (4 s^2) - b u) du = s sqrt(pi) A,
    A = exp(-delta^2) w(z),  delta = d / (2 s),  z = i (b s - delta),

with w the Faddeeva function, Re b >= 0. For Im z < 0, A = 2 exp(-z^2 - delta^2) -
exp(-delta^2) w(-z), with the exponent written as a (a - 2 delta) - kappa^2 + 2 i kappa
Im z (a = Re(b) s, kappa = Im(b) s) so that nothing overflows; w is evaluated in the
upper half plane only (as `overlap.overlap_exp` does, whose |A|^2 this is for b = 1/(2 T1)
+ i 2 pi nu). It is the amplitude of every "exponential meets Gaussian" law here: the
memory overlap, a Lorentzian filter on a Gaussian wavepacket, a Gaussian filter on an
exponential one.

`lorentz_average`: averages over a Lorentzian of carrier offsets. Pure dephasing
at rate 1/T2* is, for the first-order coherence, exactly a Lorentzian mixture of carrier
offsets: exp(-|tau| / T2*) = int L(delta) exp(-i 2 pi delta tau) d delta, L of HWHM
1 / (2 pi T2*) GHz, so every quantity linear in the state (overlaps, filtered and dipped
intensities) is the Lorentzian average of its pure-state value: panelled Gauss-Legendre
in the tangent variable (see the function).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import wofz

SQRT_PI = math.sqrt(math.pi)
FWHM_PER_SIGMA = float(2.0 * np.sqrt(2.0 * np.log(2.0)))


def amplitude(delta, a, kappa):
    """(Re A, Im A) of A = exp(-delta^2) w(-kappa + i (a - delta)), a >= 0, stably."""
    delta, a, kappa = jnp.broadcast_arrays(delta, a, kappa)  # lax.complex does not broadcast
    y = a - delta
    lower = y < 0.0
    y_up = jnp.where(lower, -y, y)
    w = wofz(jax.lax.complex(-kappa, y_up))
    w_re, w_im = jnp.real(w), jnp.imag(w)
    gauss = jnp.exp(-(delta**2))
    slope = jnp.where(lower, a - 2.0 * delta, -a)
    log_mod = a * slope - kappa**2
    phase = 2.0 * kappa * jnp.where(lower, y, 0.0)
    refl = 2.0 * jnp.exp(log_mod)
    refl_re = jnp.where(lower, refl * jnp.cos(phase), 0.0)
    refl_im = jnp.where(lower, refl * jnp.sin(phase), 0.0)
    amp_re = jnp.where(lower, refl_re - gauss * w_re, gauss * w_re)
    amp_im = refl_im + gauss * w_im
    return amp_re, amp_im


def half_line(d, s, b_re, b_im):
    """(Re J, Im J), J = int_0^inf exp(-(u - d)^2 / (4 s^2) - (b_re + i b_im) u) du."""
    re, im = amplitude(d / (2.0 * s), b_re * s, b_im * s)
    return SQRT_PI * s * re, SQRT_PI * s * im


def _side(f, v_lo, v_hi, origin, scale, h, x, wx, dtype, shape):
    """GL over v in [v_lo, v_hi] of L(delta) f(delta) d delta, delta = origin + scale
    sinh(v); returns (sum, sum of weights)."""
    mid, half = 0.5 * (v_lo + v_hi), 0.5 * (v_hi - v_lo)
    xs = jnp.asarray(x, dtype).reshape((-1,) + (1,) * len(shape))
    ws = jnp.asarray(wx, dtype).reshape(xs.shape)
    v = mid + half * xs
    delta = origin + scale * jnp.sinh(v)
    # L(delta) d delta / dv = (h / pi) scale cosh v / (h^2 + delta^2), divided through by
    # cosh^2 v so that nothing overflows at large |v|.
    ch = jnp.cosh(jnp.minimum(jnp.abs(v), 300.0))
    jac = (h / np.pi) * scale / ch / ((h / ch) ** 2 + (origin / ch + scale * jnp.tanh(v)) ** 2)
    weight = half * ws * jac
    return jnp.sum(weight * f(delta), axis=0), jnp.sum(weight, axis=0)


def lorentz_average(f, hwhm, width, n: int, dtype, centre=0.0):
    """sum_i w_i f(delta_i) ~ int L(delta) f(delta) d delta, L Lorentzian of HWHM hwhm.

    f maps offsets of shape (n // 2,) + shape to values of that shape; `width` w is the
    scale on which f varies and `centre` where it peaks (same unit as hwhm h). The line
    is cut between the Lorentzian's centre 0 and f's peak (at centre / 2); the side of 0
    is mapped by delta = c sinh(v), the side of f's peak by delta = centre + c sinh(v),
    c = min(h, w) (a sinh map resolves every scale from c up, logarithmically); each out to
    |delta| = |centre| + 1e8 max(h, w) (beyond, L holds 6e-9 of its weight and f is
    negligible), by n / 2 Gauss-Legendre nodes (n static, even). The weights are divided
    by their sum (L integrates to 1), so constants are exact. Returns the average, of the
    broadcast shape of the inputs.
    """
    x, wx = np.polynomial.legendre.leggauss(max(n // 2, 2))
    hwhm = jnp.asarray(hwhm, dtype)
    width = jnp.asarray(width, dtype)
    centre = jnp.asarray(centre, dtype)
    shape = jnp.broadcast_shapes(hwhm.shape, width.shape, centre.shape)
    w = jnp.broadcast_to(width, shape)
    h = jnp.maximum(jnp.broadcast_to(hwhm, shape), 1e-14 * w)
    cen = jnp.broadcast_to(centre, shape)
    reach = jnp.abs(cen) + 1e8 * jnp.maximum(w, h)
    split = 0.5 * cen
    up = cen >= 0.0  # f's peak right of 0: the side of 0 runs left of the split
    c = jnp.minimum(h, w)  # the sinh map resolves every scale from c up, logarithmically
    v1_split = jnp.arcsinh(split / c)
    v1_far = jnp.arcsinh(reach / c)
    v2_split = jnp.arcsinh((split - cen) / c)
    v2_far = jnp.arcsinh((reach + jnp.abs(cen)) / c)
    lo1 = jnp.where(up, -v1_far, v1_split)
    hi1 = jnp.where(up, v1_split, v1_far)
    lo2 = jnp.where(up, v2_split, -v2_far)
    hi2 = jnp.where(up, v2_far, v2_split)
    zero = jnp.zeros(shape, dtype)
    sum1, norm1 = _side(f, lo1, hi1, zero, c, h, x, wx, dtype, shape)
    sum2, norm2 = _side(f, lo2, hi2, cen, c, h, x, wx, dtype, shape)
    return (sum1 + sum2) / (norm1 + norm2)
