"""Prefix sums, prefix maxima and compaction: `photonmc.kernels.scan` against JAX's own.

    python benchmarks/scan_ops.py [--repeats R]

Times, in this one process, each operation at the sizes of a 2^18-shot analog chunk at
one photon per shot (267276 photon slots, 66880 detected-photon slots, 57344 clicks):
`jnp.cumsum`, `lax.cummax` and `jnp.nonzero` against `scan.cumsum`, `scan.cummax` and
`scan.nonzero`, each jitted alone, and prints milliseconds and the ratio. Checks that
both give the same integers. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from photonmc.kernels import scan


def best_ms(fn, x, repeats):
    jax.block_until_ready(fn(x))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(x))
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs")
    print(f"{'operation':42s} {'jax ms':>8s} {'scan ms':>8s} {'ratio':>6s}")
    cases = []
    for n in (57344, 267276):
        ints = jnp.asarray(rng.integers(-1, n, n).astype(np.int32))
        cases.append((f"cumsum, {n} int32", jnp.cumsum, scan.cumsum, ints))
        cases.append((f"cummax, {n} int32", lambda v: lax.cummax(v, axis=0), scan.cummax, ints))
    for n, size, p in ((267276, 66880, 0.2), (67200, 57344, 0.8)):
        mask = jnp.asarray(rng.random(n) < p)
        cases.append(
            (
                f"nonzero, {n} flags (p = {p}) into {size}",
                lambda m, size=size: jnp.nonzero(m, size=size, fill_value=0)[0],
                lambda m, size=size: scan.nonzero(m, size),
                mask,
            )
        )
    for name, theirs, ours, x in cases:
        theirs, ours = jax.jit(theirs), jax.jit(ours)
        np.testing.assert_array_equal(np.asarray(theirs(x)), np.asarray(ours(x)))
        a, b = best_ms(theirs, x, args.repeats), best_ms(ours, x, args.repeats)
        print(f"{name:42s} {a:8.3f} {b:8.3f} {a / b:6.2f}")


if __name__ == "__main__":
    main()
