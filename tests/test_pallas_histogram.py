"""The Pallas histogram (GPU kernel) against the pure-JAX scatter-add, in the interpreter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from photonmc.kernels import histogram, pallas_histogram


@pytest.mark.parametrize(
    "n, n_slots, p_valid", [(5000, 4 * 1202, 0.7), (100, 37, 1.0), (1, 5, 0.0)]
)
def test_interpreted_kernel_equals_scatter_add(n, n_slots, p_valid):
    rng = np.random.default_rng(n)
    # many repeats of a few hot slots, as a histogram of clicks has
    flat = np.where(rng.random(n) < 0.5, rng.integers(0, 8, n), rng.integers(0, n_slots, n))
    flat = flat.astype(np.int32)
    valid = rng.random(n) < p_valid
    got = pallas_histogram.counts(
        jnp.asarray(flat), jnp.asarray(valid), n_slots, block=256, tile=128, interpret=True
    )
    expected = np.bincount(flat[valid], minlength=n_slots)
    np.testing.assert_array_equal(np.asarray(got), expected)
    # and the CPU path of `accumulate` agrees
    hist = histogram.accumulate(
        jnp.zeros((1, n_slots), jnp.int32), jnp.asarray(flat), jnp.zeros(n, jnp.int32), valid
    )
    np.testing.assert_array_equal(np.asarray(hist)[0], expected)


def test_selected_only_on_a_gpu_backend(monkeypatch):
    monkeypatch.setenv(pallas_histogram.ENV_VAR, "1")
    assert not pallas_histogram.enabled("cpu")
    assert pallas_histogram.enabled("gpu")
    monkeypatch.setenv(pallas_histogram.ENV_VAR, "0")
    assert not pallas_histogram.enabled("gpu")
    assert not pallas_histogram.enabled(jax.default_backend()) or jax.default_backend() == "gpu"
