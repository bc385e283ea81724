"""Tabulated detection-time laws: wavepackets whose shape has no closed form.

A filter, a dispersive fibre or a memory's write can give a wavepacket a shape that is
neither the source's exponential nor a Gaussian (docs/physics.md 3.2-3.4). Such a
wavepacket carries `law = j` in its batch (static): its detection time is t_ref plus a
delay drawn from law j of the context's list, a `Law`. A law is a family of normalised
CDF tables on uniform time grids, one row per point of a grid in up to two continuous
coordinates of the wavepacket when the law was made (its frequency offset, its start):
the wavepacket stores its fractional position on that grid (`law_u`, `law_v`), and its
shape is the bilinear mixture of the four nearest rows. The wavepacket's weight keeps
its exact probability (a closed form), so a table only ever sets a shape.

- Analog: the mixture's row is chosen with one uniform, the delay by inverting that row's
  CDF at the wavepacket's delay uniform (`kernels.tabulated.sample_guided`).
- Expected: the jittered CDF of every row once per detector, then each wavepacket's bins
  from its four rows at its own shift (`bin_probs`).

Tables are built once per parameter set, from the expected-mode quadrature nodes of the
same link (their grids span the nodes' range of each coordinate): expected mode builds
them as it propagates, and an analog run builds them once, in float64, before its loop
over chunks (`photonmc.expected.prepare_tables` through `photonmc.analog.host_tables`) and
maps each sampled wavepacket onto the same grid
(beyond the nodes' range, onto its edge). So both modes use the same law, and the
tables follow every parameter, traced or not.
Accuracy: Simpson's rule per cell for the table (h^4), the piecewise-linear CDF between
nodes (both modes draw or integrate that same law), and the mixture between grid rows,
second order in the grid step of each coordinate; each stage states its grid.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.kernels import gather, tabulated

#: Points of an analog law's guide table (`kernels.tabulated.sample_guided`)
GUIDE_POINTS = 4097


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Law:
    """A family of CDF tables, rows (n_u * n_v, N) normalised to 1, row r on the time
    grid t0[r] + k h[r] relative to the wavepacket's t_ref, for the grid points
    u_lo + i u_step (i < n_u) and v_lo + j v_step (j < n_v) of two coordinates of the
    wavepacket (either may be a single point); `shape` = (n_u, n_v) (static). guide:
    each row's guide table for analog draws (`kernels.tabulated.guide_table`; unused,
    and so not computed, in expected mode)."""

    cdf: jax.Array
    t0: jax.Array
    h: jax.Array
    guide: jax.Array
    u_lo: jax.Array
    u_step: jax.Array
    v_lo: jax.Array
    v_step: jax.Array
    shape: tuple = dataclasses.field(metadata=dict(static=True))

    def positions(self, u=None, v=None):
        """Fractional positions (clamped to the grid) of coordinates u and v."""
        return _position(u, self.u_lo, self.u_step, self.shape[0]), _position(
            v, self.v_lo, self.v_step, self.shape[1]
        )


def _position(x, lo, step, n):
    if x is None or n == 1:
        return None if x is None else jnp.zeros_like(x)
    return jnp.clip((x - lo) / step, 0.0, n - 1.0)


def make(cdf, t0, h, u_grid=None, v_grid=None) -> Law:
    """A law from raw CDF rows (n_u, n_v, N) (or (n_u, N), or (N,)), normalised per row;
    u_grid, v_grid: (lo, step, n) of each coordinate (None: a single point)."""
    (u_lo, u_step, n_u), (v_lo, v_step, n_v) = (
        g if g is not None else (0.0, 1.0, 1) for g in (u_grid, v_grid)
    )
    n = cdf.shape[-1]
    rows = jnp.reshape(cdf, (-1, n))
    if rows.shape[0] != n_u * n_v:
        raise ValueError(f"law: {rows.shape[0]} rows for a grid of {n_u} x {n_v}")
    total = rows[:, -1:]
    rows = rows / jnp.where(total > 0.0, total, 1.0)
    n_rows = rows.shape[:1]
    t0, h = (jnp.broadcast_to(jnp.asarray(x, rows.dtype).reshape(-1), n_rows) for x in (t0, h))
    scal = [jnp.asarray(x, rows.dtype) for x in (u_lo, u_step, v_lo, v_step)]
    guide = tabulated.guide_table(rows, GUIDE_POINTS)
    return Law(rows, t0, h, guide, *scal, (int(n_u), int(n_v)))


def register(ctx, law: Law) -> int:
    """Add `law` to the context's list; its index, the batch's `law` value."""
    ctx.laws.append(law)
    return len(ctx.laws) - 1


def tables(stage, ctx, build):
    """The tables of `stage` for this application: those prepared for the run (analog
    chunks reuse one set per parameter set, `photonmc.expected.prepare_tables`), else
    `build()`, which is also recorded when the context collects them."""
    if ctx.prepared is not None and stage.name in ctx.prepared:
        return ctx.prepared[stage.name]
    out = build()
    if ctx.collected is not None:
        ctx.collected[stage.name] = out
    return out


def grid(values, alive, n: int, span=None, weights=None, spread: float = 8.0):
    """(lo, step, n): a uniform grid of n points over the range of `values` where
    `alive`, at most `span` long (None: no limit) and, with `weights`, at most `spread`
    weighted standard deviations of the values (so that a long tail of rare values,
    such as the feeding delay's quadrature nodes, does not stretch the grid)."""
    dtype = values.dtype
    if n == 1:
        return jnp.zeros((), dtype), jnp.ones((), dtype), 1
    big = jnp.finfo(dtype).max
    lo = jnp.min(jnp.where(alive, values, big))
    hi = jnp.max(jnp.where(alive, values, -big))
    lo = jnp.where(hi >= lo, lo, 0.0)
    hi = jnp.where(hi >= lo, hi, 0.0)
    width = hi - lo if span is None else jnp.minimum(hi - lo, span)
    if weights is not None:
        w = jnp.where(alive, weights, 0.0)
        total = jnp.maximum(jnp.sum(w), jnp.finfo(dtype).tiny)
        mean = jnp.sum(w * values) / total
        sd = jnp.sqrt(jnp.maximum(jnp.sum(w * (values - mean) ** 2) / total, 0.0))
        width = jnp.minimum(width, jnp.where(sd > 0, spread * sd, width))
    step = jnp.maximum(width / (n - 1), 1e-6 * (jnp.abs(lo) + jnp.abs(hi)) + 1e-12)
    return lo, step, n


def grid_points(g):
    lo, step, n = g
    return lo + step * jnp.arange(n, dtype=jnp.result_type(lo, step))


def set_law(batch, where, j: int, law: Law, u=None, v=None):
    """The batch with wavepackets `where` (flat indices, static) given law j at the
    positions of their coordinates u, v (arrays over `where`)."""
    shape = batch.law.shape
    flat = batch.law.reshape(-1).copy()
    flat[where] = j
    x, y = law.positions(u, v)
    changes = dict(law=flat.reshape(shape))
    if x is not None:
        changes["law_u"] = put(batch.law_u, where, x)
    if y is not None:
        changes["law_v"] = put(batch.law_v, where, y)
    return batch.replace(**changes)


def put(field, where, values):
    """`field` with its flat entries `where` (static, increasing) set to `values`: a slice
    update where they are one run (the usual case: every photon of a branch), which XLA
    does in place, else a scatter (~2.5 ns more per entry on 2 CPU cores)."""
    flat = jnp.ravel(field)
    values = jnp.ravel(values).astype(flat.dtype)
    if where.size and where[-1] - where[0] + 1 == where.size:
        flat = jax.lax.dynamic_update_slice(flat, values, (int(where[0]),))
    else:
        flat = flat.at[where].set(values)
    return flat.reshape(jnp.shape(field))


# ------------------------------------------------------------------ analog
def sample_delays(laws, law, u_pos, v_pos, u_row, u_delay):
    """Delays after t_ref of wavepackets of tabulated laws (analog).

    law: (n,) int law index per wavepacket (-1: none; its delay is returned as 0);
    u_pos, v_pos: fractional grid positions; u_row, u_delay: uniforms in (0, 1). Every
    law's rows are stacked into one table (shorter rows padded with their total), so a
    draw costs the same whatever the number of laws.
    """
    n = max(lw.cdf.shape[-1] for lw in laws)
    cdf = jnp.concatenate(
        [jnp.pad(lw.cdf, ((0, 0), (0, n - lw.cdf.shape[-1])), constant_values=1.0) for lw in laws]
    )
    guide = jnp.concatenate([lw.guide for lw in laws])
    t0 = jnp.concatenate([lw.t0 for lw in laws])
    h = jnp.concatenate([lw.h for lw in laws])
    row = jnp.zeros(law.shape, jnp.int32)
    offset = 0
    for j, lw in enumerate(laws):
        n_u, n_v = lw.shape
        row = jnp.where(law == j, offset + _mixture_row(u_pos, v_pos, u_row, n_u, n_v), row)
        offset += n_u * n_v
    # each draw's row and grid, apart from the arithmetic (`kernels.gather`)
    live = jnp.all(row >= 0)
    (row,) = gather.apart(live, row)
    t0, h = gather.apart(live, t0[row], h[row])
    t = tabulated.sample_guided(
        cdf.reshape(-1), guide.reshape(-1), row, n, GUIDE_POINTS, t0, h, u_delay
    )
    return jnp.where(law >= 0, t.astype(u_delay.dtype), 0.0)


def _mixture_row(u_pos, v_pos, u, n_u: int, n_v: int):
    """A row of the bilinear mixture: the lower or upper grid point of each coordinate
    with the interpolation's weights, from one uniform (rescaled after the first choice)."""

    def pick(pos, u, n):
        if n == 1:
            return jnp.zeros(pos.shape, jnp.int32), u
        i = jnp.minimum(jnp.floor(pos), n - 2.0)
        f = pos - i
        up = u < f
        u = jnp.where(up, u / jnp.where(f > 0, f, 1.0), (u - f) / jnp.where(f < 1, 1.0 - f, 1.0))
        return i.astype(jnp.int32) + up.astype(jnp.int32), jnp.clip(u, 0.0, 1.0)

    i, u = pick(u_pos, u, n_u)
    j, _ = pick(v_pos, u, n_v)
    return i * n_v + j


# ---------------------------------------------------------------- expected
def bin_probs(lw: Law, u_pos, v_pos, shift, edges, sigma):
    """P(clicks in each bin) of wavepackets of law `lw` (expected mode): (n, n_bins).

    u_pos, v_pos, shift: (n,) positions on the law's grid and t_ref; edges (n_b + 1,);
    sigma: the detector's jitter (ns). The bilinear mixture of the rows, each jittered.
    """
    n_u, n_v = lw.shape
    n = lw.cdf.shape[-1]
    pad = _jitter_pad(lw.h, sigma, n)
    values, slopes, t0 = tabulated.jittered_nodes(lw.cdf, lw.t0, lw.h, sigma, pad)
    x = edges[None, :] - shift[:, None]
    total = 0.0
    for i, wi in _corners(u_pos, n_u):
        for j, wj in _corners(v_pos, n_v):
            row = i * n_v + j
            f = tabulated.cdf_at_nodes(values[row], slopes[row], t0[row], lw.h[row], sigma, x)
            total = total + (wi * wj)[:, None] * jnp.diff(f, axis=-1)
    return jnp.clip(total, 0.0, 1.0)


def _corners(pos, n: int):
    if n == 1:
        return [(jnp.zeros(pos.shape, jnp.int32), jnp.ones_like(pos))]
    i = jnp.minimum(jnp.floor(pos), n - 2.0)
    f = pos - i
    i = i.astype(jnp.int32)
    return [(i, 1.0 - f), (i + 1, f)]


def _jitter_pad(h, sigma, n: int) -> int:
    """Empty cells each side: room for 8 sigma of jitter (static; at most n)."""
    h_c, s_c = _concrete(jnp.min(h)), _concrete(sigma)
    if h_c is None or s_c is None:
        return n // 4
    if s_c <= 0.0:
        return 1
    return int(min(n, np.ceil(8.0 * s_c / max(h_c, 1e-12)) + 1))


def _concrete(x):
    try:
        return float(x)
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None
