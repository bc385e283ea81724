"""Prefix sums, prefix maxima and stream compaction for the analog hot path.

XLA:CPU lowers `jnp.cumsum` and `lax.cummax` to windowed reductions, several passes
over the data with a window each, and `jnp.nonzero` to such a sum and a scatter. A
work-efficient parallel prefix (`lax.associative_scan`: log2(n) levels of strided
elementwise operations, which XLA fuses) gives the same integers 2-3x faster on 2 CPU
cores (`benchmarks/scan_ops.py`, jax 0.10.2, best of 30): 57344 int32, cumsum 0.53 ->
0.24 ms, cummax 0.53 -> 0.20 ms; `nonzero` of 267276 flags into 66880 slots 2.9 -> 1.4
ms, of 67200 into 57344 1.06 -> 0.35 ms.

Each function picks the parallel prefix on CPU and JAX's own elsewhere
(`lax.platform_dependent`, decided when the program is lowered for its device), and
returns exactly what JAX's own returns for integers and booleans. A float prefix sum
adds in another order, so its rounding differs.

Where it goes matters: the source's pair slots (a float32 prefix sum of 5120 gaps)
ran the whole chunk at mu = 1 1.6x slower with the parallel prefix (XLA fused it into
the gathers that use its result), so they keep `jnp.cumsum`. (Optimisation barriers
cannot keep it apart: XLA:CPU removes them before fusion.)
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

__all__ = ["cumsum", "cummax", "nonzero"]


def cumsum(x, dtype=None):
    """Inclusive prefix sum along the first axis (`jnp.cumsum(x, axis=0, dtype=dtype)`)."""
    x = jnp.asarray(x)
    if dtype is not None:
        x = x.astype(dtype)
    elif x.dtype == jnp.bool_:
        x = x.astype(jnp.int32)
    return lax.platform_dependent(
        x,
        cpu=lambda v: lax.associative_scan(lax.add, v, axis=0),
        default=lambda v: jnp.cumsum(v, axis=0),
    )


def cummax(x):
    """Inclusive prefix maximum along the first axis (`lax.cummax(x, axis=0)`)."""
    return lax.platform_dependent(
        jnp.asarray(x),
        cpu=lambda v: lax.associative_scan(lax.max, v, axis=0),
        default=lambda v: lax.cummax(v, axis=0),
    )


def nonzero(mask, size: int, fill_value: int = 0):
    """Indices of the True entries of the 1-D `mask`, in order, in `size` (static) slots.

    As `jnp.nonzero(mask, size=size, fill_value=fill_value)[0]` (int32): entries beyond
    the True ones hold fill_value; True entries beyond `size` are dropped.
    """
    mask = jnp.asarray(mask, bool)
    n = mask.shape[0]

    def compact(m):
        place = jnp.where(m, cumsum(m) - 1, size)  # size: dropped
        slots = jnp.full((size,), fill_value, jnp.int32)
        return slots.at[place].set(jnp.arange(n, dtype=jnp.int32), mode="drop")

    def own(m):
        return jnp.nonzero(m, size=size, fill_value=fill_value)[0].astype(jnp.int32)

    return lax.platform_dependent(mask, cpu=compact, default=own)
