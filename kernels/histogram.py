"""Integer histogram accumulation by origin, with under- and overflow bins.

An int32 scatter-add (the fastest of the back-ends measured, benchmarks/RECORDED.md;
integer counters are not affected by the GPU float-atomic issue).
Layout: (n_origins, n_bins + 2); column 0 counts clicks before the window, column
n_bins + 1 after it, so the row sum is every click of that origin. On a GPU, with
PHOTONMC_PALLAS_HISTOGRAM=1, the privatised Pallas kernel (`pallas_histogram`) counts
instead; the result is the same integers.
"""

from __future__ import annotations

import jax.numpy as jnp

from . import pallas_histogram


def bin_index(t_ns, start_ns, bin_width_ns, n_bins: int):
    """Column of each time in the (n_bins + 2)-wide layout; float32-safe for |t| < 1e4 ns."""
    k = jnp.floor((t_ns - start_ns) / bin_width_ns)
    k = jnp.clip(k, -1, n_bins)
    return k.astype(jnp.int32) + 1


def accumulate(hist, column, origin, valid):
    """Add one count per valid click at (origin, column) of `hist` (int32, (n_o, n_b + 2))."""
    n_origins, width = hist.shape
    flat = origin.astype(jnp.int32) * width + column
    if pallas_histogram.enabled():
        counts = pallas_histogram.counts(flat.ravel(), valid.ravel(), n_origins * width)
        return hist + counts.reshape(hist.shape).astype(hist.dtype)
    # Invalid entries go to one extra slot that is dropped, so the scatter has no branch.
    flat = jnp.where(valid, flat, n_origins * width)
    out = jnp.zeros(n_origins * width + 1, hist.dtype).at[flat.ravel()].add(1)
    return hist + out[:-1].reshape(hist.shape)
