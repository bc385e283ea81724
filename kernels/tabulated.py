"""Tabulated detection-time laws: a CDF on a uniform grid, per parameter set.

Laws without a closed-form CDF (the filtered, dispersed or write-dipped wavepackets of
`spectra`, `dispersion` and `coherence`) are represented by their CDF C_k at the nodes
t_k = t0 + k h, k = 0..N-1, of a uniform grid, in time relative to the wavepacket's own
reference (so one table serves every shift of the same shape). C is non-decreasing,
C_0 is the mass before t0 (a point mass at t0 for the jitter convolution; normally 0) and
C_(N-1) the total mass M (<= 1: a table may carry a transmission). Between nodes the CDF
is linear, i.e. the density is constant on each cell.

- `cdf_from_density`: C from the density sampled at the nodes and the cell midpoints,
  by Simpson's rule per cell (error per cell h^5 |f''''| / 2880; for a density with a
  jump, put the jump on a node). `table_from_density` builds the grid as well.
- `sample`: inverse-CDF draw, t = t0 + C^-1(u M), linear between nodes; t_k is returned
  for a u in a flat stretch. Exact for the piecewise-linear CDF; against the true law the
  error in the time is ~ h^2 |f'| / (8 f) (second order), below 1e-4 h for smooth laws.
- `cdf_at`: the piecewise-linear CDF at any times (clamped to 0 / M outside the grid).
- `bin_probs`: P(a < T + sigma Z <= b) over histogram bins, Z ~ N(0, 1) the jitter.
  The jittered CDF at the nodes is exact for the piecewise-linear table:
  F_sigma(t_j) = C_0 Phi((t_j - t0)/sigma) + sum_k dC_k K_(j-k), with dC_k the mass of
  cell k and K_m = (sigma/h) [Psi(m h/sigma) - Psi((m-1) h/sigma)], Psi(z) = z Phi(z) +
  phi(z) (a uniform cell convolved with a Gaussian); the sum is a Toeplitz product done
  by FFT. sigma = 0 is the table itself. Bin edges between nodes interpolate linearly.
  The grid must reach about 8 sigma beyond the law on both sides (the jittered CDF is
  clamped to its end values outside); `pad_cells` (static) extends it with empty cells.

- `jittered_nodes` and `cdf_at_nodes`: `bin_probs` in two steps, so that one jittered
  table serves many shifts (the wavepackets of one law): the jittered CDF and its slope
  at the nodes once, then its value at any shifted edges.
- `guide_table` and `sample_guided`: draws for the analog engine without a search over
  the whole table. A guide table holds, for K points uniform in the logit
  v = ln(u / (1 - u)), v in [-20, 20] (u from 2e-9 to 1 - 2e-9), the cell that holds
  each u; a draw takes its bracket from the guide, reads the CDF over the bracket at
  once (GUIDE_BLOCK values) and inverts it linearly in the cell that holds u: exact for
  the piecewise-linear CDF, with two gathers per draw. The logit resolves both the
  start and the tail of a law. (Linear interpolation of tabulated quantiles instead
  smears the mass of one quantile cell across any gap of near-zero density, such as
  the bottom of a write dip: a chi-square test against expected mode finds it at 1e6
  photons.)

Everything is jax.numpy: jit-able, differentiable in the table values, in t0, h and
sigma (gradients flow into the parameters that built the table), broadcasting over
leading axes of the table. The dtype follows the inputs; the expected engine runs in
float64, where the FFT's rounding is ~1e-16 of M (float32: ~1e-7 of M, so tails below
that lose their relative precision).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.signal import fftconvolve
from numpy.typing import ArrayLike

from . import gather

__all__ = [
    "cdf_from_density",
    "table_from_density",
    "sample",
    "cdf_at",
    "bin_probs",
    "jittered_nodes",
    "cdf_at_nodes",
    "guide_table",
    "sample_guided",
]

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _dtype(*args):
    dtype = jnp.result_type(*args, 1.0)
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.float32


def cdf_from_density(
    f_nodes: ArrayLike, f_mid: ArrayLike, h: ArrayLike, f_start: ArrayLike | None = None
) -> jax.Array:
    """CDF at the nodes from the density at the N nodes and the N - 1 cell midpoints.

    f_nodes (..., N), f_mid (..., N - 1), h the node spacing (ns, broadcast to (...)).
    Simpson's rule on each cell; C_0 = 0. Returns (..., N). Where the density jumps at a
    node, f_nodes holds its left limit and f_start (..., N - 1), the value at the start of
    each cell, its right limit (default f_nodes[..., :-1]).
    """
    f_nodes, f_mid, h = (jnp.asarray(x, _dtype(f_nodes, f_mid, h)) for x in (f_nodes, f_mid, h))
    start = f_nodes[..., :-1] if f_start is None else jnp.asarray(f_start, f_nodes.dtype)
    cell = (jnp.asarray(h)[..., None] / 6.0) * (start + 4.0 * f_mid + f_nodes[..., 1:])
    cell = jnp.maximum(cell, 0.0)  # a density is >= 0; rounding must not make C decrease
    zero = jnp.zeros(cell.shape[:-1] + (1,), cell.dtype)
    return jnp.concatenate([zero, jnp.cumsum(cell, axis=-1)], axis=-1)


def table_from_density(density, t0: ArrayLike, t1: ArrayLike, n: int):
    """(cdf (..., n), t0, h): the CDF table of `density` on [t0, t1] with n nodes.

    density(t) is evaluated on an array of shape (..., 2n - 1) of times (nodes and
    midpoints, broadcast against t0 and t1 of shape (...)) and must broadcast likewise.
    """
    t0, t1 = jnp.broadcast_arrays(*(jnp.asarray(x, _dtype(t0, t1)) for x in (t0, t1)))
    h = (t1 - t0) / (n - 1)
    x = jnp.arange(2 * n - 1, dtype=t0.dtype) * 0.5
    t = t0[..., None] + h[..., None] * x
    f = density(t)
    return cdf_from_density(f[..., 0::2], f[..., 1::2], h), t0, h


def _search(cdf: jax.Array, target: jax.Array) -> jax.Array:
    """Index i in [0, N - 2] of the cell with C_i <= target <= C_(i+1), per table."""
    n = cdf.shape[-1]
    if cdf.ndim == 1:
        i = jnp.searchsorted(cdf, target, side="right") - 1
    else:
        lead = jnp.broadcast_shapes(cdf.shape[:-1], target.shape[: cdf.ndim - 1])
        c = jnp.broadcast_to(cdf, lead + (n,)).reshape(-1, n)
        tail = target.shape[cdf.ndim - 1 :]
        tg = jnp.broadcast_to(target, lead + tail).reshape((c.shape[0],) + tail)
        i = jax.vmap(lambda cc, tt: jnp.searchsorted(cc, tt, side="right"))(c, tg) - 1
        i = i.reshape(lead + tail)
    return jnp.clip(i, 0, n - 2)


def sample(cdf: ArrayLike, t0: ArrayLike, h: ArrayLike, u: ArrayLike) -> jax.Array:
    """Inverse-CDF draws: t0 + C^-1(u C_(N-1)), u uniform in (0, 1).

    cdf (..., N) with t0, h of shape (...) (or scalars); u of shape (...) (one draw per
    table) or (..., m). Linear interpolation between nodes.
    """
    dtype = _dtype(cdf, t0, h, u)
    cdf, t0, h, u = (jnp.asarray(x, dtype) for x in (cdf, t0, h, u))
    extra = u.ndim - (cdf.ndim - 1)
    expand = (lambda x: x.reshape(x.shape + (1,) * extra)) if extra > 0 else (lambda x: x)
    total = cdf[..., -1]
    target = u * expand(total)
    i = _search(cdf, target)
    c_lo = jnp.take_along_axis(cdf, i.reshape(i.shape[: cdf.ndim - 1] + (-1,)), axis=-1)
    c_hi = jnp.take_along_axis(cdf, i.reshape(i.shape[: cdf.ndim - 1] + (-1,)) + 1, axis=-1)
    c_lo, c_hi = c_lo.reshape(i.shape), c_hi.reshape(i.shape)
    span = c_hi - c_lo
    frac = jnp.where(span > 0.0, (target - c_lo) / jnp.where(span > 0.0, span, 1.0), 0.0)
    frac = jnp.clip(frac, 0.0, 1.0)
    return expand(t0) + expand(h) * (i.astype(dtype) + frac)


def cdf_at(cdf: ArrayLike, t0: ArrayLike, h: ArrayLike, x: ArrayLike) -> jax.Array:
    """The piecewise-linear CDF at times x (..., m) (or (m,)); 0 before t0, C_(N-1) after."""
    dtype = _dtype(cdf, t0, h, x)
    cdf, t0, h, x = (jnp.asarray(v, dtype) for v in (cdf, t0, h, x))
    n = cdf.shape[-1]
    pos = (x - jnp.asarray(t0)[..., None]) / jnp.asarray(h)[..., None]
    inside = (pos >= 0.0) & (pos <= n - 1)
    p = jnp.clip(pos, 0.0, n - 1.0)
    i = jnp.clip(jnp.floor(p), 0, n - 2).astype(jnp.int32)
    cdf_b = jnp.broadcast_to(cdf, jnp.broadcast_shapes(cdf.shape[:-1], p.shape[:-1]) + (n,))
    i = jnp.broadcast_to(i, cdf_b.shape[:-1] + p.shape[-1:])
    p = jnp.broadcast_to(p, i.shape)
    lo = jnp.take_along_axis(cdf_b, i, axis=-1)
    hi = jnp.take_along_axis(cdf_b, i + 1, axis=-1)
    value = lo + (p - i) * (hi - lo)
    return jnp.where(inside, value, jnp.where(pos < 0.0, 0.0, cdf_b[..., -1:]))


def _psi(z: jax.Array) -> jax.Array:
    """Psi(z) = int_-inf^z Phi = z Phi(z) + phi(z), accurate for z < 0 (no cancellation)."""
    phi = jnp.exp(-0.5 * z * z) * _INV_SQRT_2PI
    big_neg = z < -6.0
    # For z << 0, z Phi(z) + phi(z) cancels; phi(z) (1/z^2 - 3/z^4 + 15/z^6) there.
    zs = jnp.where(big_neg, z, -6.0)
    r = 1.0 / (zs * zs)
    asym = phi * r * (1.0 - 3.0 * r + 15.0 * r * r - 105.0 * r**3)
    direct = z * 0.5 * lax.erfc(-z * _SQRT_HALF) + phi
    return jnp.where(big_neg, asym, direct)


def _jitter_kernel(m: jax.Array, h: jax.Array, sigma: jax.Array):
    """(K_m, K'_m): CDF and density at m h after the start of a unit-mass uniform cell
    [0, h] seen through Gaussian jitter sigma (sigma = 0: the cell itself)."""
    point = sigma <= 0.0
    s = jnp.where(point, 1.0, sigma)
    k = (s / h) * (_psi(m * h / s) - _psi((m - 1.0) * h / s))
    hi = lax.erfc(-(m * h / s) * _SQRT_HALF)
    lo = lax.erfc(-((m - 1.0) * h / s) * _SQRT_HALF)
    dk = (0.5 / h) * (hi - lo)
    k = jnp.where(point, jnp.clip(m, 0.0, 1.0), jnp.clip(k, 0.0, 1.0))
    return k, jnp.where(point, 0.0, jnp.maximum(dk, 0.0))


def bin_probs(
    cdf: ArrayLike,
    t0: ArrayLike,
    h: ArrayLike,
    edges: ArrayLike,
    sigma: ArrayLike = 0.0,
    *,
    shift: ArrayLike = 0.0,
    pad_cells: int = 0,
) -> jax.Array:
    """P(edges[j] - shift < T + sigma Z <= edges[j + 1] - shift) for the tabulated T.

    cdf (..., N), t0, h, sigma, shift broadcast to (...); edges (nb + 1,) increasing, ns.
    Returns (..., nb). `shift` moves the law (the wavepacket's t_ref); `pad_cells`
    (static) appends that many empty cells on each side first (room for the jitter).
    """
    dtype = _dtype(cdf, t0, h, edges, sigma, shift)
    cdf, t0, h, edges, sigma, shift = (
        jnp.asarray(v, dtype) for v in (cdf, t0, h, edges, sigma, shift)
    )
    lead = jnp.broadcast_shapes(cdf.shape[:-1], t0.shape, h.shape, sigma.shape, shift.shape)
    cdf = jnp.broadcast_to(cdf, lead + cdf.shape[-1:])
    t0, h, sigma, shift = (jnp.broadcast_to(v, lead) for v in (t0, h, sigma, shift))
    values, slopes, t0 = jittered_nodes(cdf, t0, h, sigma, pad_cells)
    f_edges = cdf_at_nodes(values, slopes, t0 + shift, h, sigma, edges)
    return jnp.clip(jnp.diff(f_edges, axis=-1), 0.0, 1.0)


def jittered_nodes(cdf: ArrayLike, t0: ArrayLike, h: ArrayLike, sigma: ArrayLike, pad_cells: int):
    """(values, slopes, t0'): the jittered CDF and its density at the nodes of the table
    padded by `pad_cells` empty cells on each side (t0' = t0 - pad_cells h).

    `bin_probs` is this followed by `cdf_at_nodes` and a difference; cdf (..., N)."""
    dtype = _dtype(cdf, t0, h, sigma)
    cdf, t0, h, sigma = (jnp.asarray(v, dtype) for v in (cdf, t0, h, sigma))
    lead = jnp.broadcast_shapes(cdf.shape[:-1], t0.shape, h.shape, sigma.shape)
    cdf = jnp.broadcast_to(cdf, lead + cdf.shape[-1:])
    t0, h, sigma = (jnp.broadcast_to(v, lead) for v in (t0, h, sigma))
    if pad_cells:
        cdf = jnp.concatenate(
            [
                jnp.zeros(lead + (pad_cells,), dtype),
                cdf,
                jnp.broadcast_to(cdf[..., -1:], lead + (pad_cells,)),
            ],
            axis=-1,
        )
        t0 = t0 - pad_cells * h
    n = cdf.shape[-1]
    mass = jnp.diff(cdf, axis=-1)
    m = jnp.arange(-(n - 2), n, dtype=dtype)
    hh, sig = h[..., None], jnp.maximum(sigma, 0.0)[..., None]
    kern, dkern = _jitter_kernel(m, hh, sig)
    both = fftconvolve(
        jnp.stack([mass, mass], axis=-2), jnp.stack([kern, dkern], axis=-2), mode="full", axes=-1
    )
    values, slopes = both[..., 0, n - 2 : 2 * n - 2], both[..., 1, n - 2 : 2 * n - 2]
    s_safe = jnp.where(sig > 0.0, sig, 1.0)
    z = jnp.arange(n, dtype=dtype) * hh / s_safe
    point = jnp.where(sig > 0.0, 0.5 * lax.erfc(-z * _SQRT_HALF), 1.0)
    point_d = jnp.where(sig > 0.0, jnp.exp(-0.5 * z * z) * _INV_SQRT_2PI / s_safe, 0.0)
    values = jnp.clip(values + cdf[..., :1] * point, 0.0, cdf[..., -1:])
    slopes = slopes + cdf[..., :1] * point_d
    return values, slopes, t0


def cdf_at_nodes(values, slopes, t0, h, sigma, x):
    """The jittered CDF of `jittered_nodes` at times x (..., m): cubic Hermite between
    nodes where sigma > 0 (the slopes are the density), linear where sigma = 0."""
    dtype = _dtype(values, t0, h, x)
    values, slopes, t0, h, x = (jnp.asarray(v, dtype) for v in (values, slopes, t0, h, x))
    sigma = jnp.asarray(sigma, dtype)
    f_lin = _interp_uniform(values, t0, h, x)
    f_cub = _hermite_uniform(values, slopes, t0, h, x)
    return jnp.where(jnp.asarray(sigma)[..., None] > 0.0, f_cub, f_lin)


#: Half range of the logit v = ln(u / (1 - u)) of a guide table (u in 2e-9 .. 1 - 2e-9)
GUIDE_SPAN = 20.0

#: CDF values a guided draw reads at once from the start of its bracket: brackets of up
#: to GUIDE_BLOCK - 1 cells are inverted exactly from this one read
GUIDE_BLOCK = 17


def guide_table(cdf: ArrayLike, k: int, span: float = GUIDE_SPAN) -> jax.Array:
    """(..., k) int32: for v_j = -span + j dv, dv = 2 span / (k - 1), the index of the cell
    of the normalised CDF (..., N) that holds u_j = 1 / (1 + e^-v_j)."""
    cdf = jnp.asarray(cdf)
    dtype = _dtype(cdf)
    v = -span + jnp.arange(k, dtype=dtype) * (2.0 * span / (k - 1))
    u = jax.nn.sigmoid(v) * cdf[..., -1:]
    return _search(cdf, jnp.broadcast_to(u, cdf.shape[:-1] + (k,))).astype(jnp.int32)


def sample_guided(cdf_flat, guide_flat, row, n: int, k: int, t0, h, u, span: float = GUIDE_SPAN):
    """Inverse-CDF draws from rows `row` of normalised CDF tables (flattened, n nodes per
    row) with their guide tables (k per row); t0, h: each draw's row's grid; u in (0, 1).

    The guide brackets the cell of u between two of its points, [lo, hi]; one read of the
    GUIDE_BLOCK CDF values from lo on finds the cell by counting those <= u (the CDF is
    non-decreasing), and the CDF is inverted linearly in it: two gathers per draw, the
    arithmetic kept apart from them (`gather`). Exact for the piecewise-linear CDF when
    the bracket holds fewer than GUIDE_BLOCK cells; a wider one (a gap of nearly zero
    density between two guide points) is inverted exactly in its first GUIDE_BLOCK - 1
    cells and linearly across the rest, which costs a third gather only in a batch that
    has such a draw.
    """
    dtype = u.dtype
    b = GUIDE_BLOCK
    row = row.astype(jnp.int32)
    live = jnp.all(row >= 0)  # always: a predicate from the data for `gather.apart`
    v = jnp.log(u) - jnp.log1p(-u)
    pos = jnp.clip((v + span) * ((k - 1) / (2.0 * span)), 0.0, k - 1.0)
    j = jnp.minimum(jnp.floor(pos).astype(jnp.int32), k - 2)
    (g,) = gather.apart(live, row * k + j)
    pair = gather.blocks(guide_flat, g, 2)
    lo = pair[:, 0]
    hi = jnp.minimum(pair[:, 1] + 1, n - 1)
    # room after the last row, so that no read of a block is clamped into the table
    padded = jnp.concatenate([cdf_flat, jnp.ones((b - 1,), cdf_flat.dtype)])
    block, lo, hi = gather.apart(live, gather.blocks(padded, row * n + lo, b), lo, hi)
    width = hi - lo  # >= 1 cell
    steps = jnp.arange(1, b, dtype=jnp.int32)
    below = (steps < width[:, None]) & (block[:, 1:] <= u[:, None])
    c = jnp.sum(below, axis=1, dtype=jnp.int32)  # the cell is lo + c
    c_lo = jnp.take_along_axis(block, c[:, None], axis=1)[:, 0]
    c_hi = jnp.take_along_axis(block, jnp.minimum(c + 1, b - 1)[:, None], axis=1)[:, 0]
    cells = jnp.ones_like(c)
    # beyond the block: the rest of a wide bracket, [lo + b - 1, hi], taken as one cell
    beyond = c == b - 1

    def wide(c_hi, cells):
        top = jnp.take(padded, row * n + hi, mode="clip")
        return jnp.where(beyond, top, c_hi), jnp.where(beyond, width - (b - 1), cells)

    c_hi, cells = lax.cond(jnp.any(beyond), wide, lambda *a: a, c_hi, cells)
    span_c = c_hi - c_lo
    frac = jnp.where(span_c > 0, (u - c_lo) / jnp.where(span_c > 0, span_c, 1.0), 0.0)
    x = (lo + c).astype(dtype) + jnp.clip(frac, 0.0, 1.0) * cells.astype(dtype)
    return t0 + h * x


def _hermite_uniform(values, slopes, t0, h, x):
    """Cubic Hermite interpolation of node values and derivatives on t0 + k h at x."""
    n = values.shape[-1]
    pos = jnp.clip((x - t0[..., None]) / h[..., None], 0.0, n - 1.0)
    i = jnp.clip(jnp.floor(pos), 0, n - 2).astype(jnp.int32)
    q = pos - i
    y0 = jnp.take_along_axis(values, i, axis=-1)
    y1 = jnp.take_along_axis(values, i + 1, axis=-1)
    d0 = jnp.take_along_axis(slopes, i, axis=-1) * h[..., None]
    d1 = jnp.take_along_axis(slopes, i + 1, axis=-1) * h[..., None]
    q2, q3 = q * q, q * q * q
    return (
        (2 * q3 - 3 * q2 + 1) * y0
        + (q3 - 2 * q2 + q) * d0
        + (-2 * q3 + 3 * q2) * y1
        + (q3 - q2) * d1
    )


def _interp_uniform(values, t0, h, x):
    """Linear interpolation of node values (..., n) on t0 + k h at x (m,); clamped."""
    n = values.shape[-1]
    pos = jnp.clip((x - t0[..., None]) / h[..., None], 0.0, n - 1.0)
    i = jnp.clip(jnp.floor(pos), 0, n - 2).astype(jnp.int32)
    lo = jnp.take_along_axis(values, i, axis=-1)
    hi = jnp.take_along_axis(values, i + 1, axis=-1)
    return lo + (pos - i) * (hi - lo)
