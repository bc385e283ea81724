"""Expected-mode bin integrals of detection times (docs/physics.md section 5).

Times in ns (any one unit works, as long as every argument uses it).

Laws:
- EXP wavepacket seen through Gaussian jitter: T = t0 + tau E + sigma Z, E ~ Exp(1),
  Z ~ N(0, 1), the exponentially modified Gaussian (EMG); tau > 0 the lifetime, sigma
  >= 0 the jitter standard deviation, sigma = 0 exactly the shifted exponential.
- GAUSS wavepacket: T = c + s Z (`gauss_bin_probs`; s = 0 is a point mass at c).
- Dark counts: uniform on [a, b] (`uniform_bin_probs`).

Method. With y = (x - t0) / tau, u = (x - t0) / sigma, k = sigma / tau and Q(z) =
P(Z > z) = erfc(z / sqrt 2) / 2:
    S = P(T > x) = Q(u) + A,   F = P(T <= x) = Q(-u) - A,
    A = e^(k^2/2 - y) Q(k - u)                   where u > k,
      = 0.5 e^(-u^2/2) erfcx((k - u) / sqrt 2)   where u <= k,
each form free of overflow where it is used (the density is A / tau). S is a sum of
positive terms, so the right tail keeps full relative precision until it underflows.
F is a difference; where F is small it is evaluated in forms without the cancellation:
deep left (u < -2.8 in float32, -4.2 in float64) as 0.5 e^(-u^2/2) (erfcx(-u/sqrt 2) -
erfcx((k - u)/sqrt 2)) with the difference taken inside Laplace's continued fraction;
near t0 when k <= 1/4 (where Q(-u) and A are O(1) and F is O(k)) as a series in k of
F = k e^(-k u) int_{-u}^inf e^(-k t) Q(t) dt; right of the erfcx region as
-expm1(k^2/2 - y) + e^(k^2/2 - y) Q(u - k) - Q(u). erfcx is this module's own
(`_erfcx`: jax's returns 0 on [9.2, 9.4] in float32). Derivatives are closed forms
(custom JVP), never autodiff through the series.

A bin probability is F(b) - F(a) for bins left of the split t0 + tau ln 2 (the median
when sigma = 0), S(a) - S(b) right of it, and 1 - F(a) - S(b) for the bin holding it:
every difference is of numbers <= ~1/2, so no tail is a difference of two numbers close
to 1, which is what makes naive CDF differences underflow to 0 a few lifetimes out in
float32 (97 % of 10 ps bins 15 lifetimes out are 0 that way).

Every function is pure jax.numpy: jit-able, vmap-able, differentiable in every
continuous argument, broadcasting over the parameters. The dtype follows the inputs:
float32 by default, float64 under `jax.enable_x64(True)` with float64 inputs.

Guards (docs/physics.md: traced values are clipped where used, never allowed to make NaN):
tau is floored at 1e-9 ns (an attosecond) and at sigma * eps (below that the
exponential shifts the Gaussian by less than a rounding, so the EMG is the Gaussian to
working precision); sigma is floored at 0, and sigma <= tau * eps^1.25 is evaluated as
sigma = 0 (the difference is O(sigma / tau), far below rounding). Values and gradients
in x, t0, tau and sigma are finite everywhere (tested: sigma = 0 and 1e-30, |x - t0| up
to 1000 tau, 1000 sigma and 1e4 ns, tau / sigma from 1e-6 to 1e6, float32 and float64);
the unused branch of every `where` only sees safe inputs. A probability too small for
the dtype underflows to 0.

Accuracy, measured against 40-digit mpmath on tau in [0.05, 5], sigma in {0, 0.005,
0.02, 0.1, 0.3, 1} (k from 0.001 to 20), edges from 8 sigma left of t0 to 40 lifetimes
right, float32 inputs rounded first (so the figures are the kernel's own error), values
above 1e-30 (float32) / 1e-300 (float64):
- float64: S 8e-15 relative, F 6e-14 relative (both tails), bins 9e-14 relative.
- float32: S 4.2e-6 relative (the rounding of y, amplified by e^(-y), ~ y eps), F 4.5e-6;
  bins 1.7e-5 (10 to 20 lifetimes out) and 3.1e-5 (20 to 40), 7.8e-6 for 10 ps bins 15
  lifetimes out. In general a bin's error is ~ eps * min(F, S) at its edges / P.
Against scipy.stats.exponnorm the float64 values agree to 1e-10 wherever scipy itself
is well conditioned (its cdf is the cancelling Phi(u) - A: off by 1.4e-10 at u = -8,
k = 0.001, where this module agrees with mpmath).

Throughput figures of particular machines are in benchmarks/RECORDED.md.

The module ends with reference laws for tests (numpy, float64, not differentiable):
`hypoexp_gauss_cdf`, the law of t0 + tau1 E1 + tau2 E2 + sigma Z (feeding, then decay,
then jitter), which the sampler's KS tests use.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpy.typing import ArrayLike

__all__ = [
    "emg_sf",
    "emg_cdf",
    "emg_bin_probs",
    "gauss_bin_probs",
    "uniform_bin_probs",
    "hypoexp_gauss_cdf",
]

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TAU_FLOOR_NS = 1e-9
# Beyond |u - k| = 40 standard deviations Phi is 0 or 1 exactly, even in float64
# (erfc(40 / sqrt 2) ~ 1e-349 underflows), so clamping u there changes no value.
_U_SATURATE = 40.0


def _float_dtype(*args: ArrayLike) -> jnp.dtype:
    """Common dtype of the inputs, at least float32 (ints and halves are promoted)."""
    dtype = jnp.result_type(*args)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(dtype, jnp.float32)
    return jnp.promote_types(dtype, jnp.float32)


# ---------------------------------------------------------------------------------
# erfcx for x >= 0, accurate in float32 and float64.
# jax.scipy.special.erfcx (0.10.2) switches to its asymptotic series only where
# exp(x^2) would overflow, after erfc(x) has already underflowed: it returns 0 for
# x in [9.2, 9.4] (float32) and [26.5, 26.6] (float64). Hence this one.
# ---------------------------------------------------------------------------------


def _erfcx_split(dtype) -> tuple[float, int]:
    """Switch point to the continued fraction and its depth, per dtype.

    Depths measured against scipy.special.erfcx: at the switch point the truncation
    error is 1.2e-9 (float32, 20 terms from x = 2) and 1.1e-16 (float64, 40 from x = 3).
    """
    if jnp.dtype(dtype) == jnp.float64:
        return 3.0, 40
    return 2.0, 20


def _exp_square(x: jax.Array) -> jax.Array:
    """exp(x^2) for |x| < 4 without the x^2 * eps relative error of a rounded square.

    x = xh + xl with xh on a grid of 2^-8 (float32) or 2^-20 (float64), so that xh has
    at most half the mantissa bits and xh^2 is exact; x^2 = xh^2 + (2 xh + xl) xl.
    """
    scale = 2.0**20 if x.dtype == jnp.float64 else 2.0**8
    xh = jnp.floor(x * scale) / scale
    xl = x - xh
    return jnp.exp(xh * xh) * jnp.exp((2.0 * xh + xl) * xl)


def _erfcx(x: jax.Array) -> jax.Array:
    """exp(x^2) erfc(x) for x >= 0: direct below the switch point, Laplace's continued
    fraction erfcx(x) = (1/sqrt pi) / (x + 1/2 / (x + 1 / (x + 3/2 / (x + ...)))) above.

    Measured against scipy.special.erfcx on [0, 1e15]: 6e-7 (float32, XLA's erfc near
    x = 2), 1.6e-15 (float64) relative. Both branches see only safe inputs.
    """
    x_switch, n_terms = _erfcx_split(x.dtype)
    near = x < x_switch
    x_near = jnp.where(near, x, 0.0)
    x_far = jnp.where(near, x_switch, x)
    r = jnp.zeros_like(x_far)
    for m in range(n_terms, 0, -1):
        r = (0.5 * m) / (x_far + r)
    return jnp.where(near, _exp_square(x_near) * lax.erfc(x_near), _INV_SQRT_PI / (x_far + r))


def _exp_neg_half_square(u: jax.Array) -> jax.Array:
    """exp(-u^2 / 2) with the square split as in `_exp_square` (any finite u)."""
    # The split is exact for |u| < 64 (float64) / 16 (float32); beyond, the value
    # underflows to 0 anyway, and the clamp keeps the grid arithmetic exact.
    a = jnp.minimum(jnp.abs(u), 2.0**14)
    scale = 2.0**20 if u.dtype == jnp.float64 else 2.0**8
    ah = jnp.floor(a * scale) / scale
    al = a - ah
    return jnp.exp(-0.5 * (ah * ah)) * jnp.exp(-0.5 * (2.0 * ah + al) * al)


def _phi_upper(z: jax.Array) -> jax.Array:
    """P(Z > z) for a standard normal, accurate in both tails (erfc never nears 2)."""
    return 0.5 * lax.erfc(z * _SQRT_HALF)


# ---------------------------------------------------------------------------------
# The exponentially modified Gaussian
# ---------------------------------------------------------------------------------


def _erfcx_difference(x1: jax.Array, c: jax.Array) -> jax.Array:
    """erfcx(x1) - erfcx(x1 + c) for x1 >= the CF switch point and c >= 0, without
    cancellation.

    With D_j(x) = x + r_j(x) the partial denominators of Laplace's continued fraction
    and Delta_j = r_j(x1 + c) - r_j(x1), Delta_j = -(j/2) (c + Delta_(j+1)) /
    (D_j(x1) D_j(x1 + c)) and erfcx(x1) - erfcx(x1 + c) = (c + Delta_1) /
    (sqrt(pi) D_0(x1) D_0(x1 + c)): every step multiplies positive quantities. Measured
    against 50-digit mpmath: 2.7e-8 relative at x1 = 2 (float32 depth), 2e-16 at x1 >= 3
    (float64 depth), for c from 1e-6 to 1e4.
    """
    _, n_terms = _erfcx_split(x1.dtype)
    x2 = x1 + c
    r1 = jnp.zeros_like(x1)
    r2 = jnp.zeros_like(x1)
    delta = jnp.zeros_like(x1)
    for m in range(n_terms, 0, -1):
        d1, d2 = x1 + r1, x2 + r2
        delta = -(0.5 * m) * (c + delta) / (d1 * d2)
        r1, r2 = (0.5 * m) / d1, (0.5 * m) / d2
    return _INV_SQRT_PI * (c + delta) / ((x1 + r1) * (x2 + r2))


# The series below is used for k <= _K_SERIES and -2.8 (f32) / -4.2 (f64) <= u <= u_max;
# its terms fall like (k |u|)^n / n!, so its depths (14 / 30 terms) reach 1e-10 / 1e-20
# of the sum.
_K_SERIES = 0.25


def _u_series_max(dtype) -> float:
    """Right end of the series zone. Beyond it the right-hand form of F loses a factor
    Q(u_max) / (k u_max): < 1 for k > 1e-8 (float32) and for every k > eps^1.25 in
    float64; at most ~6 at the float32 floor k = eps^1.25 = 2e-9."""
    return 9.0 if jnp.dtype(dtype) == jnp.float64 else 5.0


def _series_integral(u: jax.Array, k: jax.Array) -> jax.Array:
    """I = int_a^inf e^(-k t) Q(t) dt, a = -u, Q the normal upper tail, as a series in k.

    Expanding e^(-k t) gives I = sum_n (-k)^n M_n / n!, M_n = int_a^inf t^n Q(t) dt.
    With psi = phi(a) - a Q(a) = int_a^inf Q (= M_0), integration by parts gives the
    terms B_n = (-k)^n M_n / n! by B_0 = psi, B_(-1) = 0, c_n = (-k a)^n / (n+1)!,
    B_n = psi c_n + (k^2 B_(n-2) - k Q n c_(n-1)) / (n + 1).
    Checked against 40-digit mpmath for u in [-4.3, 9], k in [1e-9, 0.25]: 7e-14
    relative in float64 (30 terms), 4e-6 in float32 (14 terms; the phi - a Q difference).
    """
    n_terms = 30 if u.dtype == jnp.float64 else 14
    a = -u
    q = _phi_upper(a)
    psi = _exp_neg_half_square(a) * _INV_SQRT_2PI - a * q
    b_prev2 = jnp.zeros_like(u)
    b_prev = psi
    c_prev = jnp.ones_like(u)
    total = psi
    for n in range(1, n_terms):
        c = c_prev * (-k * a) / (n + 1)
        b = psi * c + (k * k * b_prev2 - k * q * n * c_prev) / (n + 1)
        total = total + b
        b_prev2, b_prev, c_prev = b_prev, b, c
    return total


def _emg_terms(d: jax.Array, tau: jax.Array, sigma: jax.Array):
    """F, S and the pieces of their derivatives, for d = x - t0; all broadcast, one dtype.

    Returns (cdf, sf, a, phi_u, y, k, tau_eff): A of the module docstring, phi(u) (0 for
    the exponential), y = d / tau_eff, k = sigma / tau_eff, and the floored lifetime.
    """
    dtype = d.dtype
    eps = float(jnp.finfo(dtype).eps)
    x_switch, _ = _erfcx_split(dtype)
    u_left = -math.sqrt(2.0) * x_switch  # where the continued fraction takes over
    sigma = jnp.maximum(sigma, 0.0)
    tau = jnp.maximum(jnp.maximum(tau, _TAU_FLOOR_NS), sigma * eps)
    y = d / tau  # distance in lifetimes

    # sigma == 0 (or too small to matter): the shifted exponential.
    is_exp = sigma <= tau * eps**1.25
    y_pos = jnp.maximum(y, 0.0)
    cdf_exp = -jnp.expm1(-y_pos)
    sf_exp = jnp.exp(-y_pos)
    a_exp0 = jnp.where(y > 0.0, sf_exp, 0.0)

    # EMG proper. Rows evaluated as exponential get sigma = tau: finite, then discarded.
    sig = jnp.where(is_exp, tau, sigma)
    k = sig / tau
    # Clamp u where every Phi(.) it feeds is saturated (u = d / sigma could overflow);
    # the exponential forms below use y, which carries the true distance.
    u_max = k + _U_SATURATE
    far = jnp.abs(d) > u_max * sig
    u = jnp.where(far, jnp.sign(d) * u_max, d / jnp.where(far, 1.0, sig))
    phi_u = _exp_neg_half_square(u) * _INV_SQRT_2PI
    v = k - u
    use_erfcx = v >= 0.0
    # A via erfcx (u <= k): 0.5 exp(-u^2/2) erfcx((k - u)/sqrt 2), bounded by 0.5.
    u_a = jnp.where(use_erfcx, u, 0.0)
    v_a = jnp.where(use_erfcx, v, 0.0)
    a_erfcx = 0.5 * _exp_neg_half_square(u_a) * _erfcx(v_a * _SQRT_HALF)
    # A via the exponential (u > k): e^(k^2/2 - y) Phi(u - k), exponent < -k^2/2 <= 0.
    y_b = jnp.where(use_erfcx, 0.0, y)
    k_b = jnp.where(use_erfcx, 0.0, k)
    u_b = jnp.where(use_erfcx, 1.0, u)
    v_b = jnp.where(use_erfcx, -1.0, v)
    log_e_b = 0.5 * k_b * k_b - y_b
    e_b = jnp.exp(log_e_b)
    a = jnp.where(use_erfcx, a_erfcx, e_b * _phi_upper(v_b))
    sf_emg = _phi_upper(u) + a

    # The CDF is Phi(u) - A, a difference; where it is small, other forms avoid the
    # cancellation. Right of the erfcx region, F = (1 - e^(k^2/2 - y)) + e^(k^2/2 - y)
    # Phi(k - u) - Phi(-u), whose first term carries F (expm1) and the rest are small.
    cdf_right = -jnp.expm1(log_e_b) + e_b * _phi_upper(-v_b) - _phi_upper(u_b)
    # Deep left, F = 0.5 exp(-u^2/2) (erfcx(-u/sqrt 2) - erfcx((k - u)/sqrt 2)), the
    # difference taken inside the continued fraction.
    left_far = u < u_left
    u_l = jnp.where(left_far, u, u_left)
    c_l = jnp.where(left_far, k, 0.0) * _SQRT_HALF
    cdf_left = 0.5 * _exp_neg_half_square(u_l) * _erfcx_difference(-u_l * _SQRT_HALF, c_l)
    # Near t0 with a narrow Gaussian (k <= 1/4) F is O(k) while Phi(u) and A are O(1):
    # both differences above would lose a factor ~1/k. There, a series in k:
    # F = k e^(-k u) int_{-u}^inf e^(-k t) Q(t) dt (`_series_integral`).
    near = (k <= _K_SERIES) & (u >= u_left) & (u <= _u_series_max(dtype))
    u_s = jnp.where(near, u, 0.0)
    k_s = jnp.where(near, k, 0.0)
    cdf_near = k_s * jnp.exp(-k_s * u_s) * _series_integral(u_s, k_s)
    # Elsewhere in between (u <= k, k > 1/4) the plain difference loses at most ~3.3 / k.
    cdf_mid = _phi_upper(-u) - a
    cdf_emg = jnp.where(
        near,
        cdf_near,
        jnp.where(left_far, cdf_left, jnp.where(use_erfcx, cdf_mid, cdf_right)),
    )

    cdf = jnp.clip(jnp.where(is_exp, cdf_exp, cdf_emg), 0.0, 1.0)
    sf = jnp.clip(jnp.where(is_exp, sf_exp, sf_emg), 0.0, 1.0)
    a = jnp.where(is_exp, a_exp0, a)
    phi_u = jnp.where(is_exp, 0.0, phi_u)
    k = jnp.where(is_exp, 0.0, k)
    return cdf, sf, a, phi_u, y, k, tau


@jax.custom_jvp
def _emg_cdf_sf(d: jax.Array, tau: jax.Array, sigma: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(P(T <= t0 + d), P(T > t0 + d)) of the EMG; d, tau, sigma of one shape and dtype."""
    cdf, sf, *_ = _emg_terms(d, tau, sigma)
    return cdf, sf


@_emg_cdf_sf.defjvp
def _emg_cdf_sf_jvp(primals, tangents):
    """Closed-form derivatives, so autodiff never runs through the series and fractions.

    With A and phi(u) as in the module docstring (the density is A / tau):
      dF/dd = A / tau,  dF/dtau = -((y - k^2) A + k phi(u)) / tau,
      dF/dsigma = (phi(u) - k A) / tau  (= sigma f'(d), the heat equation);  dS = -dF.
    For sigma = 0 these are the exponential's, with dF/dsigma = 0 (F is even in sigma).
    Through the floors, tau' = max(tau, 1e-9, sigma eps) and sigma' = max(sigma, 0),
    the tangents follow whichever argument is active.
    """
    d, tau, sigma = primals
    d_dot, tau_dot, sigma_dot = tangents
    cdf, sf, a, phi_u, y, k, tau_eff = _emg_terms(d, tau, sigma)
    eps = float(jnp.finfo(d.dtype).eps)
    sigma_dot = jnp.where(sigma > 0.0, sigma_dot, 0.0)
    tau_dot = jnp.where(
        tau >= tau_eff, tau_dot, jnp.where(sigma * eps >= tau_eff, eps * sigma_dot, 0.0)
    )
    dcdf = (
        a * d_dot - ((y - k * k) * a + k * phi_u) * tau_dot + (phi_u - k * a) * sigma_dot
    ) / tau_eff
    return (cdf, sf), (dcdf, -dcdf)


def _prepare(*args: ArrayLike) -> list[jax.Array]:
    dtype = _float_dtype(*args)
    return [jnp.asarray(a, dtype) for a in args]


def emg_sf(x: ArrayLike, t0: ArrayLike, tau: ArrayLike, sigma: ArrayLike) -> jax.Array:
    """P(T > x) for T = t0 + tau E + sigma Z; tau > 0 (ns), sigma >= 0 (ns; 0 allowed).

    Full relative precision in the right tail (a sum of positive terms). Broadcasts.
    """
    x, t0, tau, sigma = _prepare(x, t0, tau, sigma)
    d, tau, sigma = jnp.broadcast_arrays(x - t0, tau, sigma)
    return _emg_cdf_sf(d, tau, sigma)[1]


def emg_cdf(x: ArrayLike, t0: ArrayLike, tau: ArrayLike, sigma: ArrayLike) -> jax.Array:
    """P(T <= x) for T = t0 + tau E + sigma Z; tau > 0 (ns), sigma >= 0 (ns; 0 allowed).

    Full relative precision in the left tail too (forms without cancellation, module
    docstring). Broadcasts.
    """
    x, t0, tau, sigma = _prepare(x, t0, tau, sigma)
    d, tau, sigma = jnp.broadcast_arrays(x - t0, tau, sigma)
    return _emg_cdf_sf(d, tau, sigma)[0]


def _small_side(cdf: jax.Array, sf: jax.Array, left: jax.Array) -> jax.Array:
    """One number per edge: W = F left of the split, -S right of it (F = 1 + W there)."""
    return jnp.where(left, cdf, -sf)


def _bins_from_small_side(
    w_a: jax.Array, left_a: jax.Array, w_b: jax.Array, left_b: jax.Array
) -> jax.Array:
    """P(a < T <= b) from W at the lower (a) and upper (b) edges of each bin.

    Both edges left of the split: F(b) - F(a); both right: S(a) - S(b); the bin holding
    the split: 1 - F(a) - S(b). All three are W(b) - W(a), + 1 for the straddling bin,
    and every number involved is <= ~1/2: the absolute error is eps * min(F, S) at the
    edges, never eps * 1 in a tail.
    """
    straddle = left_a & ~left_b
    p = (w_b - w_a) + straddle.astype(w_a.dtype)
    # Rounding can make an empty bin a few ulp negative; a probability is >= 0.
    return jnp.clip(p, 0.0, 1.0)


# Edge values are computed twice, once as lower and once as upper edges, from sliced
# inputs. Computing them once and slicing the result looks cheaper, but XLA fuses the
# whole edge computation into the consumer of the two slices: measured 6-10x slower on
# CPU than this (jax 0.10.2; an optimization_barrier does not survive to fusion).


def emg_bin_probs(edges: ArrayLike, t0: ArrayLike, tau: ArrayLike, sigma: ArrayLike) -> jax.Array:
    """P(edges[j] < T <= edges[j + 1]) for T = t0 + tau E + sigma Z.

    edges: (nb + 1,) increasing, ns. t0, tau (> 0), sigma (>= 0): broadcastable to a
    common shape (...), ns. Returns (..., nb), each in [0, 1]; accuracy in the module
    docstring.
    """
    edges, t0, tau, sigma = _prepare(edges, t0, tau, sigma)
    t0, tau, sigma = (a[..., None] for a in jnp.broadcast_arrays(t0, tau, sigma))

    def small_side(x):
        d = x - t0
        # Split near the median: t0 + tau ln 2 (exact for sigma = 0; for sigma >> tau
        # the median, t0 + ~tau, is a fraction of sigma away). Any split where F and S
        # are both of order 1/2 keeps the precision; this one costs nothing.
        left = d <= jnp.maximum(tau, 0.0) * math.log(2.0)
        cdf, sf = _emg_cdf_sf(*jnp.broadcast_arrays(d, tau, sigma))
        return _small_side(cdf, sf, left), left

    return _bins_from_small_side(*small_side(edges[:-1]), *small_side(edges[1:]))


def gauss_bin_probs(edges: ArrayLike, centre: ArrayLike, sigma: ArrayLike) -> jax.Array:
    """P(edges[j] < T <= edges[j + 1]) for T = centre + sigma Z.

    edges: (nb + 1,) increasing, ns; centre, sigma (>= 0; 0 is a point mass at centre)
    broadcast to (...). Returns (..., nb). Both tails are upper-tail erfc values, so a
    bin keeps ~1e-15 (float64) / ~4e-6 (float32, XLA's erfc) relative accuracy until its
    probability underflows.
    """
    edges, centre, sigma = _prepare(edges, centre, sigma)
    centre, sigma = jnp.broadcast_arrays(centre, sigma)
    centre = centre[..., None]
    sig = jnp.maximum(sigma, 0.0)[..., None]
    point = sig <= 0.0
    sig_safe = jnp.where(point, 1.0, sig)

    def small_side(x):
        d = x - centre
        # Clamp u where Phi is 0 or 1 exactly, so d / sigma^2 never enters a gradient.
        far = jnp.abs(d) > _U_SATURATE * sig_safe
        u = jnp.where(far, jnp.sign(d) * _U_SATURATE, d / jnp.where(far, 1.0, sig_safe))
        left = d <= 0.0
        return _small_side(_phi_upper(-u), _phi_upper(u), left), left

    w_a, left_a = small_side(edges[:-1])
    w_b, left_b = small_side(edges[1:])
    p = _bins_from_small_side(w_a, left_a, w_b, left_b)
    # sigma = 0: all the mass in the bin with edges[j] < centre <= edges[j + 1].
    return jnp.where(point, (left_a & ~left_b).astype(p.dtype), p)


def uniform_bin_probs(edges: ArrayLike, a: ArrayLike, b: ArrayLike) -> jax.Array:
    """Fraction of the interval [a, b] (ns) inside each bin (edges[j], edges[j + 1]].

    edges: (nb + 1,) increasing; a, b broadcast to (...), a <= b (swapped otherwise).
    Returns (..., nb); sums to 1 when the edges cover [a, b]. a == b is a point mass.
    Exact up to one rounding per edge; differentiable in a and b (not at an edge).
    """
    edges, a, b = _prepare(edges, a, b)
    a, b = jnp.broadcast_arrays(a, b)
    lo = jnp.minimum(a, b)[..., None]
    hi = jnp.maximum(a, b)[..., None]
    width = hi - lo
    point = width <= 0.0
    clipped = jnp.clip(edges, lo, hi)
    p = (clipped[..., 1:] - clipped[..., :-1]) / jnp.where(point, 1.0, width)
    right = edges > lo
    p_point = (right[..., 1:] & ~right[..., :-1]).astype(p.dtype)
    return jnp.where(point, p_point, p)


# ---------------------------------------------------------------------------------
# Reference laws for tests (numpy / scipy, float64, not differentiable)
# ---------------------------------------------------------------------------------


def _np_emg_terms(d: np.ndarray, tau: float, sigma: float):
    """(Phi(u), A, phi(u)) of the EMG at d = x - t0, float64; sigma = 0 included."""
    from scipy.special import erfcx, ndtr

    d = np.asarray(d, np.float64)
    if sigma == 0.0:
        pos = d > 0.0
        a = np.where(pos, np.exp(-np.where(pos, d, 0.0) / tau), 0.0)
        return pos.astype(np.float64), a, np.zeros_like(d)
    u = d / sigma
    k = sigma / tau
    v = k - u
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        a_erfcx = 0.5 * np.exp(-0.5 * u * u) * erfcx(np.maximum(v, 0.0) / math.sqrt(2.0))
        a_exp = np.exp(-d / tau + 0.5 * k * k) * ndtr(-v)
    a = np.where(v >= 0.0, a_erfcx, a_exp)
    return ndtr(u), a, np.exp(-0.5 * u * u) * _INV_SQRT_2PI


def hypoexp_gauss_cdf(
    x: ArrayLike, t0: float, tau1: float, tau2: float, sigma: float
) -> np.ndarray:
    """CDF of t0 + tau1 E1 + tau2 E2 + sigma Z (numpy float64; reference for tests).

    tau1 >= 0 the feeding time, tau2 > 0 the lifetime, sigma >= 0 the jitter, all
    scalars in ns; x any shape. Closed forms, by linearity of the Gaussian convolution:
    - tau1 != tau2: F = (tau1 F_1 - tau2 F_2) / (tau1 - tau2), F_i the EMG CDF with
      lifetime tau_i (the hypoexponential survival is (tau1 e^(-y/tau1) - tau2
      e^(-y/tau2)) / (tau1 - tau2));
    - tau1 == tau2 = tau (Erlang-2; used when |tau1 - tau2| <= 1e-6 max, where the
      difference above would cancel; the error is O(1e-12)): F = F_EMG - G,
      G = (d / tau - k^2) A + k phi(u), the convolution of (y / tau) e^(-y/tau);
    - tau1 == 0: the EMG; sigma == 0: the same laws without jitter.
    About 1e-15 absolute, by the EMG's own accuracy (scipy.special.erfcx, ndtr).
    """
    x = np.asarray(x, np.float64)
    tau1, tau2, sigma = float(tau1), float(tau2), max(float(sigma), 0.0)
    if tau1 < 0.0 or tau2 < 0.0:
        raise ValueError(f"tau1 and tau2 must be >= 0 ns, got {tau1}, {tau2}")
    if tau2 == 0.0:
        tau1, tau2 = tau2, tau1
    d = x - float(t0)
    if tau2 == 0.0:  # no exponential at all
        if sigma == 0.0:
            return (d >= 0.0).astype(np.float64)
        from scipy.special import ndtr

        return ndtr(d / sigma)
    if tau1 == 0.0:
        phi_u, a, _ = _np_emg_terms(d, tau2, sigma)
        return np.clip(phi_u - a, 0.0, 1.0)
    if abs(tau1 - tau2) <= 1e-6 * max(tau1, tau2):
        tau = 0.5 * (tau1 + tau2)
        k = sigma / tau
        phi_u, a, dens = _np_emg_terms(d, tau, sigma)
        g = (d / tau - k * k) * a + k * dens
        return np.clip(phi_u - a - g, 0.0, 1.0)
    phi1, a1, _ = _np_emg_terms(d, tau1, sigma)
    phi2, a2, _ = _np_emg_terms(d, tau2, sigma)
    # tau1 F1 - tau2 F2 = (tau1 - tau2) Phi(u) - (tau1 A1 - tau2 A2)
    f = phi1 - (tau1 * a1 - tau2 * a2) / (tau1 - tau2)
    return np.clip(f, 0.0, 1.0)
