"""A privatised integer histogram in Pallas, for GPUs (the pure-JAX scatter-add is the
CPU path and the reference it is tested against, with `interpret=True`).

Each program of a (blocks, tiles) grid counts the indices of one block of `block`
entries that fall into one tile of `tile` slots, by comparison with the tile's slots
and a sum (no atomics, no scatter: every program writes its own private counts), and
the per-block counts are added afterwards. Work is entries x slots compares, spread
over the whole GPU; there is no contention between threads at all, which is what limits
a scatter-add into a few thousand hot bins.

Selection: `photonmc.kernels.histogram.accumulate` uses it only on a GPU backend and only
when `PHOTONMC_PALLAS_HISTOGRAM=1` (it is not yet measured against XLA's int32
scatter-add on a GPU; integer scatter-adds do not suffer the float compare-and-swap
slowdown of jaxlib 0.10-0.11).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp

ENV_VAR = "PHOTONMC_PALLAS_HISTOGRAM"


def enabled(backend: str | None = None) -> bool:
    """Whether `accumulate` uses this kernel: a GPU backend and PHOTONMC_PALLAS_HISTOGRAM=1."""
    backend = backend or jax.default_backend()
    return backend == "gpu" and os.environ.get(ENV_VAR, "0") == "1"


@functools.partial(jax.jit, static_argnames=("n_slots", "block", "tile", "interpret"))
def counts(flat, valid, n_slots: int, block: int = 1024, tile: int = 128, interpret=False):
    """int32 counts (n_slots,) of the entries of `flat` (int32 in [0, n_slots)) where valid.

    block, tile: entries per program and slots per program (powers of two for GPUs).
    interpret: run the kernel in the Pallas interpreter (CPU tests).
    """
    from jax.experimental import pallas as pl  # imported only where the kernel is used

    n = flat.shape[0]
    n_blocks = max(1, pl.cdiv(n, block))
    n_tiles = max(1, pl.cdiv(n_slots, tile))
    # invalid and padding entries get a slot past every tile, so no program counts them
    index = jnp.where(valid, flat.astype(jnp.int32), n_tiles * tile)
    index = jnp.pad(index, (0, n_blocks * block - n), constant_values=n_tiles * tile)

    def kernel(index_ref, out_ref):
        j = pl.program_id(1)
        i = index_ref[...]
        slots = j * tile + jax.lax.broadcasted_iota(jnp.int32, (1, tile), 1)
        out_ref[...] = jnp.sum((i[:, None] == slots).astype(jnp.int32), axis=0)[None, :]

    per_block = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((n_blocks, n_tiles * tile), jnp.int32),
        grid=(n_blocks, n_tiles),
        in_specs=[pl.BlockSpec((block,), lambda b, j: (b,))],
        out_specs=pl.BlockSpec((1, tile), lambda b, j: (b, j)),
        interpret=interpret,
    )(index)
    return jnp.sum(per_block, axis=0)[:n_slots]
