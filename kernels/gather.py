"""Table reads for the analog hot path: whole brackets at once, and arithmetic kept apart.

Two habits of XLA:CPU (jax 0.10) decide what a gather costs:
- A bisection over a table is a chain of dependent gathers, each index computed from
  the values the previous gathers returned. XLA fuses the index arithmetic into each
  gather and computes it again there, so step k repeats the work of steps 1 .. k - 1
  (a 16-step `jnp.searchsorted` of 57344 keys took 5.3 ms on one core). Where a guide
  brackets each query within a few entries, one read of the whole bracket (`blocks`)
  and a count of its entries below the query find the same place.
- A fused computation that holds a gather runs one element at a time, without SIMD:
  arithmetic fused into it (an erfinv, a log, a counter-based random draw) runs about
  8x slower than the same arithmetic in a fusion of its own (erfinv and log of 66880
  gathered uniforms: 2.2 ms against 0.4 ms). `apart` makes its arrays buffers of their
  own on CPU, so that the arithmetic on either side of it is fused without the gathers.
  (Optimisation barriers cannot do it: XLA:CPU removes them before fusion. A
  conditional can: its operands and results are buffers.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["blocks", "apart"]


def blocks(flat: jax.Array, start: jax.Array, size: int) -> jax.Array:
    """flat[start[i] : start[i] + size] for every i: (m, size), one gather.

    flat: 1-D; start: int (m,); size static. Like `lax.dynamic_slice`, a start beyond
    len(flat) - size is moved back to fit, so pad `flat` by size - 1 entries where a
    block may run past its end.
    """
    return jax.vmap(lambda s: lax.dynamic_slice(flat, (s,), (size,)))(start)


def apart(live: jax.Array, *trees):
    """`trees` (arrays, or pytrees of them) unchanged, each array computed into a buffer
    of its own on CPU (elsewhere simply returned); a tuple, one entry per tree.

    live: a traced boolean scalar that is True (a count >= 0, say); it is the
    predicate of the conditional that keeps the arrays apart, whose other branch
    (zeros) never runs. It must come from the data: a constant would let XLA remove the
    conditional. Under `jax.vmap` with a batched `live` the conditional becomes a
    select, which is correct but keeps nothing apart.
    """

    def zeros(*xs):
        return jax.tree.map(jnp.zeros_like, xs)

    def cpu(live, *xs):
        return lax.cond(live, lambda *a: a, zeros, *xs)

    return tuple(lax.platform_dependent(live, *trees, cpu=cpu, default=lambda live, *xs: xs))
