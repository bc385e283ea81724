"""Expected mode: smooth expected histograms, differentiable in every parameter.

The latent variables are integrated by quadrature (Gauss-Hermite in the spectral
diffusion; the feeding delay exactly when no memory is in the link, else by
Gauss-Laguerre nodes) and the detection-time density over every bin in closed form, so
the output is exact up to quadrature error and smooth in every continuous parameter.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.link import Link, propagate
from photonmc.stages import Context
from photonmc.stages import detector as detector_stage
from photonmc.stages.memory import MEMORY_STATS

#: Quadrature nodes in the feeding delay and in the spectral diffusion
DEFAULT_NODES = (32, 16)


def expected_counts(
    link: Link, key=None, *, detector: str | None = None, nodes: tuple[int, int] = DEFAULT_NODES
):
    """Expected clicks per shot of one detector (default: the first).

    Returns (counts (n_origins, n_bins) in the window, totals (n_origins,) of every
    click, info). Differentiable in every continuous parameter of the link. Works in
    the default float dtype; enable x64 (`jax.enable_x64(True)`) for float64 accuracy,
    as `simulate` does. `key` is accepted for future latent variables beyond two, which
    will use quasi-random points; with the present model the quadrature is exact.
    """
    counts, totals, info = expected_counts_all(link, key, nodes=nodes)
    names = [d.name for d in link.detectors]
    i = 0 if detector is None else names.index(link[detector].name)
    return counts[i], totals[i], info


def expected_counts_all(link: Link, key=None, *, nodes: tuple[int, int] = DEFAULT_NODES):
    """Expected clicks per shot of every detector: counts (n_detectors, n_origins,
    n_bins), totals (n_detectors, n_origins), info; see `expected_counts`."""
    del key
    # Without a memory no weight depends on the feeding delay: the detector integrates
    # it exactly (hypoexponential law); with one, the overlap needs its quadrature.
    analytic_feeding = not link.memories
    n_feeding = 1 if analytic_feeding else nodes[0]
    e, z, w = link.source.latent_grid(n_feeding, nodes[1])
    dtype = jnp.result_type(float)
    latent = tuple(jnp.asarray(a, dtype) for a in (e, z, w))
    ctx = Context(
        "expected",
        link.source.wavelength_nm,
        link.source.period_ns,
        latent=latent,
        paths=link.path_of,
        dephasing_time_ns=link.source.dephasing_time_ns,
    )
    batch, info, _ = propagate(link, jax.random.key(0), len(w), ctx)
    feeding = link.source.feeding_time_ns if analytic_feeding else None
    counts, totals = detector_stage.expected_counts(
        link.detectors, batch, link.tagger, ctx.paths, ctx.period_ns, feeding_ns=feeding
    )
    return counts, totals, info


@partial(jax.jit, static_argnames=("nodes",))
def _expected_jit(link, nodes):
    return expected_counts_all(link, nodes=nodes)


def run_expected(link: Link, shots: int, nodes=DEFAULT_NODES):
    """Expected counts over `shots` shots in float64: (histogram (n_det * n_o, n_b + 2),
    counters), laid out as analog runs lay theirs."""
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        counts, totals, info = _expected_jit(link64, tuple(nodes))
        counts = np.asarray(counts, np.float64).reshape(-1, link.tagger.n_bins) * shots
        totals = np.asarray(totals, np.float64).ravel() * shots
        info = {k: float(v) for k, v in info.items()}
    hist = np.zeros((counts.shape[0], counts.shape[1] + 2))
    hist[:, 1:-1] = counts
    # Out-of-window clicks are not resolved early/late in expected mode; put them in the
    # overflow column so row sums are totals.
    hist[:, -1] = totals - counts.sum(axis=1)
    # Memory sums stay per shot: the expected-mode errors of ratios scale them by shots.
    counters = {k: v if k.split(".")[-1] in MEMORY_STATS else v * shots for k, v in info.items()}
    return hist, counters
