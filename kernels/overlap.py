"""Mode overlap of a photon wavepacket with the memory's Gaussian input mode (docs/physics.md 3.4).

The input mode is real, unit norm, centred at t_w, intensity FWHM `mode_fwhm_ns`
(standard deviation s = FWHM / (2 sqrt(2 ln 2))), at nu = 0. The overlap is
`O = |integral phi_in(t) psi(t) dt|^2`, in [0, 1]. Times in ns, frequency offsets in
GHz (cycles per ns), so the angular offset is 2 pi nu.

EXP wavepacket, `psi = sqrt(1/T1) exp(-(1/(2 T1) + i 2 pi nu)(t - t_ref)) H(t - t_ref)`.
In the mode's own units, a = s / (2 T1), delta = (t_w - t_ref) / (2 s),
kappa = 2 pi nu s and z = -kappa + i (a - delta):

    O = a sqrt(2 pi) |A|^2,   A = exp(-delta^2) w(z)                        (Im z >= 0)
                              A = 2 exp(a (a - 2 delta) - kappa^2 + 2 i kappa Im z)
                                  - exp(-delta^2) w(-z)                     (Im z < 0)

with w the Faddeeva function; the second line is the first after
w(z) = 2 exp(-z^2) - w(-z). This is docs/physics.md's formula with z there equal to z here.
The branch is chosen on the sign of Im z = a - delta, not on the sign of
d = t_w - t_ref: each line is then free of overflow exactly where it is used (|w| <= 1
in the upper half plane; the exponent a (a - 2 delta) - kappa^2 <= -a^2 for delta > a),
while switching at d = 0 would leave exp(a^2) in the reflected line for 0 < delta < a,
which overflows float32 once s / T1 exceeds about 19 (e.g. T1 = 0.05 ns, FWHM 2.5 ns).
w is only ever evaluated in the upper half plane, using w(-conj(z)) = conj(w(z)).

GAUSS wavepacket (intensity FWHM f, sigma_p = f / (2 sqrt(2 ln 2)), centre t_ref,
carrier offset nu): with S^2 = sigma_p^2 + s^2,

    O = (2 sigma_p s / S^2) exp(-((t_w - t_ref)^2 / 2 + 2 (2 pi nu)^2 sigma_p^2 s^2) / S^2).

Valid range: any finite times and offsets; lifetimes and widths are floored at
1e-9 ns (an attosecond: no physical effect), so a traced value that wanders to 0 or
below during a fit gives a finite answer, not NaN. Values and gradients are finite
everywhere (checked to |d| = 1000 mode widths, |nu| = 1e3 GHz, T1 from 1e-6 to 1e6 ns,
float32 and float64); an overlap too small for the dtype underflows to 0.

Accuracy (measured, 20000 random points with T1 in [0.05, 5] ns, mode FWHM in
[0.1, 5] ns, |t_ref - t_w| <= 20 mode FWHM, |nu| <= 10 GHz, against the erfc form in
40-digit mpmath; the kernel also agrees with QUADPACK to 6e-12 where that resolves O):
EXP float64: 4.2e-13 relative wherever O > 1e-250 (below that, underflow),
4.1e-14 absolute. EXP float32, reference taken at the float32-rounded inputs:
2.1e-6 relative where O > 1e-4, 5.1e-6 where O > 1e-9, 6.7e-7 absolute.
GAUSS float64 4.8e-15, float32 3.5e-6 relative where O > 1e-4 (1e-7 absolute).
In float32 the rounding of the inputs can cost more than the kernel: an ulp of
t_ref = 100 ns is 7.6e-6 ns, 8e-5 of a 0.1 ns mode; keep times near t_w small.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import wofz

from . import gather

# Intensity FWHM / sigma, as photonmc.units.FWHM_PER_SIGMA (kernels import nothing from
# the package). Python floats, not numpy scalars: a numpy float64 is not weakly typed and
# would promote float32 inputs to float64 under x64.
_FWHM_PER_SIGMA = float(2.0 * np.sqrt(2.0 * np.log(2.0)))
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))
#: floor on lifetimes and widths, ns; keeps s/T1, d/s and their derivatives finite in float32
_WIDTH_FLOOR_NS = 1e-9


def _promote(*args):
    """Broadcast arrays of one floating dtype: float32 by default, float64 under x64.

    Python scalars are weakly typed, so float32 arrays stay float32 even under x64.
    Broadcasting here because lax.complex does not broadcast.
    """
    dtype = jnp.result_type(*args, 1.0)
    return jnp.broadcast_arrays(*[jnp.asarray(x, dtype) for x in args])


def overlap_exp(
    t_ref_ns: jax.typing.ArrayLike,
    lifetime_ns: jax.typing.ArrayLike,
    nu_ghz: jax.typing.ArrayLike,
    t_w_ns: jax.typing.ArrayLike,
    mode_fwhm_ns: jax.typing.ArrayLike,
) -> jax.Array:
    """|<phi_in|psi>|^2 of a one-sided exponential wavepacket with the Gaussian input mode.

    psi: amplitude sqrt(1/T1) exp(-(1/(2 T1) + i 2 pi nu)(t - t_ref)) H(t - t_ref),
    T1 = lifetime_ns; mode: real unit-norm Gaussian, intensity FWHM mode_fwhm_ns,
    centred at t_w_ns. Elementwise with broadcasting; dtype follows the inputs.
    Faddeeva closed form (module docstring); O is even in nu.
    """
    t_ref, t1, nu, t_w, fwhm = _promote(t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns)
    s = jnp.maximum(fwhm, _WIDTH_FLOOR_NS) / _FWHM_PER_SIGMA
    t1 = jnp.maximum(t1, _WIDTH_FLOOR_NS)
    a = s / (2.0 * t1)
    delta = (t_w - t_ref) / (2.0 * s)
    kappa = 2.0 * np.pi * nu * s
    y = a - delta  # Im z
    lower = y < 0.0

    # One Faddeeva evaluation, always in the upper half plane: w(z) itself when
    # Im z >= 0, else w(-z) = conj(w(-kappa + i|y|)). jax's wofz would reflect a
    # lower-half-plane argument itself, through 2 exp(-z^2), which overflows.
    y_up = jnp.where(lower, -y, y)
    w = wofz(jax.lax.complex(-kappa, y_up))
    w_re, w_im = jnp.real(w), jnp.imag(w)
    gauss = jnp.exp(-(delta**2))  # <= 1; underflow to 0 is the right answer far out

    # Reflection term 2 exp(-z^2 - delta^2), exponent split into modulus and phase and
    # written as a (a - 2 delta) so nothing large cancels. On the branch not taken the
    # inputs are replaced (double where) so that exp never overflows there: its
    # gradient, though multiplied by zero, would otherwise be inf * 0 = NaN.
    slope = jnp.where(lower, a - 2.0 * delta, -a)
    log_mod = a * slope - kappa**2  # <= -a^2 - kappa^2 on both branches
    phase = 2.0 * kappa * jnp.where(lower, y, 0.0)
    refl = 2.0 * jnp.exp(log_mod)
    refl_re = jnp.where(lower, refl * jnp.cos(phase), 0.0)
    refl_im = jnp.where(lower, refl * jnp.sin(phase), 0.0)

    # Direct: A = g w. Reflected: A = refl e^{i phase} - g conj(w).
    amp_re = jnp.where(lower, refl_re - gauss * w_re, gauss * w_re)
    amp_im = refl_im + gauss * w_im
    return _SQRT_2PI * a * (amp_re**2 + amp_im**2)


def overlap_gauss(
    t_ref_ns: jax.typing.ArrayLike,
    fwhm_ns: jax.typing.ArrayLike,
    nu_ghz: jax.typing.ArrayLike,
    t_w_ns: jax.typing.ArrayLike,
    mode_fwhm_ns: jax.typing.ArrayLike,
) -> jax.Array:
    """|<phi_in|psi>|^2 of a Gaussian wavepacket with the Gaussian input mode.

    psi: Gaussian amplitude of intensity FWHM fwhm_ns centred at t_ref_ns, carrier offset
    nu_ghz; mode: real unit-norm Gaussian, intensity FWHM mode_fwhm_ns, centred at t_w_ns.
    Elementwise with broadcasting; dtype follows the inputs. Symmetric in the two widths,
    1 for identical modes at nu = 0.
    """
    t_ref, fwhm, nu, t_w, mode_fwhm = _promote(t_ref_ns, fwhm_ns, nu_ghz, t_w_ns, mode_fwhm_ns)
    sp = jnp.maximum(fwhm, _WIDTH_FLOOR_NS) / _FWHM_PER_SIGMA
    s = jnp.maximum(mode_fwhm, _WIDTH_FLOOR_NS) / _FWHM_PER_SIGMA
    # In terms of the narrower over the wider width, q = lo / hi <= 1, every factor is
    # bounded, and the only overflow possible (absurd widths or offsets) is in a final
    # square, whose cotangent is then 0, so gradients stay finite.
    lo, hi = jnp.minimum(sp, s), jnp.maximum(sp, s)
    q = lo / hi
    norm = jnp.sqrt(1.0 + q**2)  # sqrt(sp^2 + s^2) / hi
    u = (t_w - t_ref) / (hi * norm)  # d / sqrt(sp^2 + s^2)
    v = 2.0 * np.pi * nu * lo / norm  # 2 pi nu sp s / sqrt(sp^2 + s^2)
    # 2 q / (1 + q^2) = 2 sp s / (sp^2 + s^2) <= 1; the minimum only catches rounding.
    width_factor = jnp.minimum(2.0 * q / (1.0 + q**2), 1.0)
    return width_factor * jnp.exp(-(0.5 * u**2 + 2.0 * v**2))


#: grid of the interpolated EXP overlap: points in t_ref and in nu^2
TABLE_POINTS = (64, 64)
#: largest interpolation error accepted (absolute, O in [0, 1]); beyond it, the exact formula
TABLE_TOLERANCE = 1e-4
_LOG_FLOOR = 1e-30


def overlap_exp_interpolated(
    t_ref_ns: jax.Array,
    lifetime_ns: jax.typing.ArrayLike,
    nu_ghz: jax.Array,
    t_w_ns: jax.typing.ArrayLike,
    mode_fwhm_ns: jax.typing.ArrayLike,
    points: tuple[int, int] = TABLE_POINTS,
    tolerance: float = TABLE_TOLERANCE,
) -> tuple[jax.Array, jax.Array]:
    """`overlap_exp` of many wavepackets of one lifetime, from a table: (O, used_table).

    A grid of `points` (n_t, n_q) spans these inputs' own range of t_ref and of nu^2 (O
    is even in nu); ln O (floored at 1e-30) is tabulated with the exact formula and
    interpolated bilinearly: n_t n_q Faddeeva evaluations instead of one per
    wavepacket. Accuracy: the interpolation error of each cell is estimated from the
    table's second differences, |d2 ln O| / 8 along each axis times the cell's O; when
    the largest estimate exceeds `tolerance` (absolute), every value comes from the
    exact formula instead, and used_table is False. Measured on the seed config's
    ranges (feeding 0.03 ns, spectral diffusion 0.3 GHz FWHM, T1 0.6 ns, 1 ns mode):
    4e-6 absolute, 1e-5 relative, largest over 2e5 wavepackets (float64 reference).
    t_w_ns, mode_fwhm_ns: scalars; lifetime_ns: a scalar, or an array like t_ref_ns
    whose entries must all be equal for the table to be used. Not differentiable
    (analog mode).
    """
    t_ref = jnp.asarray(t_ref_ns)
    nu = jnp.asarray(nu_ghz)
    dtype = t_ref.dtype
    lifetimes = jnp.asarray(lifetime_ns, dtype)
    lifetime = lifetimes.reshape(-1)[0]
    one_lifetime = jnp.all(lifetimes == lifetime)
    n_t, n_q = points
    q = nu * nu
    t_lo, t_hi = jnp.min(t_ref), jnp.max(t_ref)
    q_lo, q_hi = jnp.min(q), jnp.max(q)
    tiny = jnp.finfo(dtype).tiny
    dt = jnp.maximum((t_hi - t_lo) / (n_t - 1), tiny)
    dq = jnp.maximum((q_hi - q_lo) / (n_q - 1), tiny)
    t_grid = t_lo + dt * jnp.arange(n_t, dtype=dtype)
    q_grid = q_lo + dq * jnp.arange(n_q, dtype=dtype)
    exact_grid = overlap_exp(
        t_grid[:, None], lifetime, jnp.sqrt(q_grid)[None, :], t_w_ns, mode_fwhm_ns
    )
    table = jnp.log(jnp.maximum(exact_grid, _LOG_FLOOR))

    # Estimated bilinear error per cell: h^2 |f''| / 8 per axis, in ln O, times O.
    d2_t = jnp.abs(table[2:, :] - 2.0 * table[1:-1, :] + table[:-2, :])
    d2_q = jnp.abs(table[:, 2:] - 2.0 * table[:, 1:-1] + table[:, :-2])
    err_t = jnp.max(d2_t * exact_grid[1:-1, :]) / 8.0 if n_t > 2 else 0.0
    err_q = jnp.max(d2_q * exact_grid[:, 1:-1]) / 8.0 if n_q > 2 else 0.0
    good = (err_t + err_q <= tolerance) & jnp.all(jnp.isfinite(exact_grid)) & one_lifetime

    def interpolated():
        x = (t_ref.reshape(-1) - t_lo) / dt
        y = (q.reshape(-1) - q_lo) / dq
        i = jnp.clip(jnp.floor(x), 0, n_t - 2).astype(jnp.int32)
        j = jnp.clip(jnp.floor(y), 0, n_q - 2).astype(jnp.int32)
        fx = jnp.clip(x - i, 0.0, 1.0)
        fy = jnp.clip(y - j, 0.0, 1.0)
        flat = jnp.concatenate([table.ravel(), jnp.zeros((1,), dtype)])
        # the corners' reads apart from the arithmetic (`gather`); `good` is True here
        (k,) = gather.apart(good, i * n_q + j)
        low, high = gather.apart(good, gather.blocks(flat, k, 2), gather.blocks(flat, k + n_q, 2))
        v0 = low[:, 0] + fy * (low[:, 1] - low[:, 0])
        v1 = high[:, 0] + fy * (high[:, 1] - high[:, 0])
        return jnp.exp(v0 + fx * (v1 - v0)).reshape(t_ref.shape)

    def exact():
        return overlap_exp(t_ref, lifetime_ns, nu, t_w_ns, mode_fwhm_ns)

    return jax.lax.cond(good, interpolated, exact), good
