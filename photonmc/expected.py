"""Expected mode: smooth expected histograms, differentiable in every parameter.

The latent variables are integrated by quadrature (Gauss-Hermite in the spectral
diffusion; the feeding delay exactly when no memory is in the link, else by
Gauss-Laguerre nodes) and the detection-time density over every bin in closed form, so
the output is exact up to quadrature error and smooth in every continuous parameter.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import parameters as P
from photonmc import units
from photonmc.batch import DARK, EXP, GAUSS, ORIGINS
from photonmc.kernels import bin_integrals
from photonmc.link import Link, propagate
from photonmc.stages import Context
from photonmc.stages._base import positive, probability
from photonmc.stages.detector import TimeTagger
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


def expected_context(link: Link, n_feeding: int, n_nu: int) -> Context:
    """The expected-mode context of `link`: its latent quadrature grid (n_feeding nodes in
    the feeding delay, n_nu in the spectral diffusion), period, paths and T2*."""
    e, z, w = link.source.latent_grid(n_feeding, n_nu)
    dtype = jnp.result_type(float)
    return Context(
        "expected",
        link.source.wavelength_nm,
        link.source.period_ns,
        latent=tuple(jnp.asarray(a, dtype) for a in (e, z, w)),
        paths=link.path_of,
        dephasing_time_ns=link.source.dephasing_time_ns,
    )


def expected_counts_all(link: Link, key=None, *, nodes: tuple[int, int] = DEFAULT_NODES):
    """Expected clicks per shot of every detector: counts (n_detectors, n_origins,
    n_bins), totals (n_detectors, n_origins), info; see `expected_counts`."""
    del key
    # Without a memory no weight depends on the feeding delay: the detector integrates
    # it exactly (hypoexponential law); with one, the overlap needs its quadrature.
    analytic_feeding = not link.memories
    n_feeding = 1 if analytic_feeding else nodes[0]
    ctx = expected_context(link, n_feeding, nodes[1])
    batch, info, _ = propagate(link, jax.random.key(0), len(ctx.latent[2]), ctx)
    feeding = link.source.feeding_time_ns if analytic_feeding else None
    counts, totals = integrate_detectors(
        link.detectors, batch, link.tagger, ctx.paths, ctx.period_ns, feeding_ns=feeding
    )
    return counts, totals, info


# ------------------------------------------------------ expected-mode observables
def internal_efficiency(link: Link, memory: str, nodes=DEFAULT_NODES):
    """eta_int of the named memory: its expected-mode sums y / x (MODEL.md 3.4), traceable.

    Only the stages up to the detectors run: eta_int needs no bin integrals, and leaving
    them out cuts the trace of a curve fit about tenfold.
    """
    ctx = expected_context(link, *nodes)
    _, info, _ = propagate(link, jax.random.key(0), len(ctx.latent[2]), ctx)
    arrived = info[f"{memory}.x"]
    return jnp.where(arrived > 0, info[f"{memory}.y"] / jnp.where(arrived > 0, arrived, 1.0), 0.0)


def detector_counts(link: Link, detector: str | None, nodes):
    """`expected_counts` of the named detector (None: the link's first)."""
    if detector is None or detector == link.detector.name:
        return expected_counts(link, nodes=nodes)
    return expected_counts(link, detector=detector, nodes=nodes)


def efficiency_curve(
    link: Link,
    parameter: str,
    values,
    *,
    memory: str | None = None,
    nodes: tuple[int, int] = DEFAULT_NODES,
) -> np.ndarray:
    """The memory's internal efficiency eta_int (MODEL.md 3.4) at each value of `parameter`.

    values: 1-D, in the parameter's unit. memory: the memory's stage name (default the
    link's first). Expected mode, float64; compiled for this link on every call.
    """
    p = P.parameter(link, parameter)
    if not link.memories:
        raise ValueError("efficiency_curve needs a LadderMemory in the link")
    mem = memory or link.memories[0].name
    with jax.enable_x64(True):
        base = P.as_float64(Link(link.stages, one_bin(link.tagger)))

        def one(v):
            return internal_efficiency(P.set_values(base, {p.name: v}), mem, tuple(nodes))

        xs = jnp.asarray(np.asarray(values, np.float64))
        return np.asarray(jax.jit(jax.vmap(one))(xs), np.float64)


def one_bin(t: TimeTagger) -> TimeTagger:
    """The tagger's window as one bin (for totals and sums that need no histogram)."""
    return TimeTagger(
        bin_width_ps=float(t.window_ns * 1e3),
        window_start_ns=t.window_start_ns,
        window_stop_ns=t.window_stop_ns,
        sync_offset_ns=t.sync_offset_ns,
    )


@partial(jax.jit, static_argnames=("nodes",))
def _expected_jit(link, nodes):
    return expected_counts_all(link, nodes=nodes)


def run_expected(link: Link, shots: int, nodes=DEFAULT_NODES, on_compile=None):
    """Expected counts over `shots` shots in float64: (histogram (n_det * n_o, n_b + 2),
    counters), laid out as analog runs lay theirs. on_compile: called with the seconds
    that compiling (or loading from the persistent cache) the quadrature took, which is
    done apart from evaluating it."""
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        start = time.perf_counter()
        compiled = _expected_jit.lower(link64, tuple(nodes)).compile()
        if on_compile is not None:
            on_compile(time.perf_counter() - start)
        counts, totals, info = compiled(link64)
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


# ---------------------------------------------------- detection, in expectation
def integrate_detectors(detectors, batch, tagger: TimeTagger, paths, period_ns, feeding_ns=None):
    """Expected clicks per shot of every detector, from the wavepackets on its path.

    Returns counts (n_detectors, n_origins, n_bins) in the window and totals
    (n_detectors, n_origins) of every click. Each wavepacket's detection-time density,
    convolved with the detector's jitter, is integrated over every bin in closed form;
    dark counts enter as their mean, uniform in time over the window (R * window per
    shot), or, for a detector with dead time, over one shot period from the window start
    as analog runs draw them. feeding_ns: the source's feeding time when the exponential
    wavepackets' t_ref leaves it out (no memory upstream): their law is then the exact
    hypoexponential one (`hypoexp_bin_probs`) instead of a quadrature node's.
    """
    dtype = batch.weight.dtype
    edges = jnp.asarray(tagger.bin_edges_ns, dtype) + tagger.sync_offset_ns
    kind, origin, path = batch.kind.ravel(), batch.origin.ravel(), batch.path.ravel()
    fields = [x.ravel() for x in (batch.weight, batch.t_ref_ns, batch.width_ns)]
    all_counts, all_totals = [], []
    for det in detectors:
        sigma_j = det.jitter_sigma_ns
        counts = jnp.zeros((len(ORIGINS), tagger.n_bins), dtype)
        totals = jnp.zeros(len(ORIGINS), dtype)
        # Exponential and Gaussian wavepackets are told apart before tracing (kinds and
        # paths are static), so each bin integral runs only where it is needed.
        for k in (EXP, GAUSS):
            idx = np.nonzero((kind == k) & (path == paths[det.name]))[0]
            if idx.size == 0:
                continue
            w_k, t_k, width_k = (x[idx] for x in fields)
            w_k = w_k * probability(det.efficiency)
            if k == EXP and feeding_ns is not None:
                probs = hypoexp_bin_probs(edges, t_k, feeding_ns, width_k, sigma_j)
            elif k == EXP:
                probs = bin_integrals.emg_bin_probs(edges, t_k, width_k, sigma_j)
            else:
                sigma = jnp.sqrt(units.fwhm_to_sigma(width_k) ** 2 + sigma_j**2 + 1e-12)
                probs = bin_integrals.gauss_bin_probs(edges, t_k, sigma)
            one_hot = jnp.asarray(origin[idx, None] == np.arange(len(ORIGINS)), dtype)
            counts = counts + jnp.einsum("po,pk->ok", one_hot * w_k[:, None], probs)
            totals = totals + one_hot.T @ w_k
        # Dark counts uniform over the interval that analog runs draw them from: the
        # window, or with dead time one shot period from the window start.
        rate = units.hz_to_per_ns(det.dark_count_rate_hz)
        a = jnp.asarray(tagger.window_start_ns, dtype)
        b = jnp.where(det.dead_time_ns > 0, a + period_ns, tagger.window_stop_ns)
        dark = bin_integrals.uniform_bin_probs(jnp.asarray(tagger.bin_edges_ns, dtype), a, b)
        counts = counts.at[DARK].add(rate * (b - a) * dark)
        totals = totals.at[DARK].add(rate * (b - a))
        all_counts.append(counts)
        all_totals.append(totals)
    return jnp.stack(all_counts), jnp.stack(all_totals)


def hypoexp_bin_probs(edges, t0, tau_f, t1, sigma):
    """Bin probabilities of t0 + tau_f E' + T1 E + sigma Z (feeding, decay, jitter).

    The hypoexponential density is (e^(-t/T1) - e^(-t/tau_f)) / (T1 - tau_f), so each bin
    is (T1 P_EMG(T1) - tau_f P_EMG(tau_f)) / (T1 - tau_f) with P_EMG the exponentially
    modified Gaussian bin integrals; tau_f = 0 gives P_EMG(T1). Within 1e-4 of T1,
    tau_f is moved to 0.9999 T1 (the Erlang limit, to a relative 1e-4 in the shape).
    """
    t1 = positive(t1)
    tau = jnp.broadcast_to(jnp.maximum(tau_f, 0.0), t1.shape)
    tau = jnp.where(jnp.abs(t1 - tau) < 1e-4 * t1, 0.9999 * t1, tau)
    p_t1 = bin_integrals.emg_bin_probs(edges, t0, t1, sigma)
    p_f = bin_integrals.emg_bin_probs(edges, t0, jnp.maximum(tau, 1e-6 * t1), sigma)
    mix = (t1[..., None] * p_t1 - tau[..., None] * p_f) / (t1 - tau)[..., None]
    return jnp.clip(jnp.where((tau > 0)[..., None], mix, p_t1), 0.0, 1.0)
