"""The hot path's prefix sums, prefix maxima and compaction equal JAX's own exactly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from photonmc.kernels import scan


@pytest.mark.parametrize("n", [1, 2, 7, 64, 1000, 4099])
def test_prefix_sum_and_maximum_equal_jax(n):
    rng = np.random.default_rng(n)
    x = jnp.asarray(rng.integers(-5, 6, n).astype(np.int32))
    flags = jnp.asarray(rng.random(n) < 0.3)
    np.testing.assert_array_equal(jax.jit(scan.cumsum)(x), jnp.cumsum(x))
    np.testing.assert_array_equal(jax.jit(scan.cumsum)(flags), jnp.cumsum(flags, dtype=jnp.int32))
    np.testing.assert_array_equal(jax.jit(scan.cummax)(x), lax.cummax(x, axis=0))
    # the dead-time kernel's use: the latest index so far, -1 before any
    latest = jnp.where(flags, jnp.arange(n), -1)
    np.testing.assert_array_equal(jax.jit(scan.cummax)(latest), lax.cummax(latest, axis=0))


@pytest.mark.parametrize(
    "n, size, p", [(1, 1, 1.0), (10, 3, 0.5), (1000, 1000, 0.5), (4099, 64, 0.01), (4099, 32, 0.5)]
)
def test_compaction_equals_nonzero(n, size, p):
    rng = np.random.default_rng(size)
    mask = jnp.asarray(rng.random(n) < p)
    for fill in (0, n):
        got = jax.jit(lambda m, fill=fill: scan.nonzero(m, size, fill))(mask)
        want = jnp.nonzero(mask, size=size, fill_value=fill)[0]
        assert got.dtype == jnp.int32 and got.shape == (size,)
        np.testing.assert_array_equal(got, want)  # includes more True entries than slots
