"""Expected mode: smooth expected histograms, differentiable in every parameter.

The latent variables are integrated by quadrature (Gauss-Hermite in the spectral
diffusion; the feeding delay exactly when no memory is in the link, else by
Gauss-Laguerre nodes) and the detection-time density over every bin in closed form, so
the output is exact up to quadrature error and smooth in every continuous parameter.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import parameters as P
from photonmc import units
from photonmc.batch import DARK, EXP, GAUSS, ORIGINS
from photonmc.kernels import bin_integrals
from photonmc.laws import bin_probs as law_bin_probs
from photonmc.link import Link, propagate
from photonmc.stages import Context
from photonmc.stages._base import positive, probability
from photonmc.stages.detector import TimeTagger
from photonmc.stages.memory import MEMORY_STATS

#: Loop keys of integrate_detectors past EXP and GAUSS: law j is _LAW + j
_LAW = 16

#: Quadrature nodes in the feeding delay and in the spectral diffusion
DEFAULT_NODES = (32, 16)


class ExpectedCounts(NamedTuple):
    """Expected clicks per shot of one detector; unpacks as (counts, totals, info).

    counts: (n_origins, n_bins) in the window, rows in ORIGINS order; totals:
    (n_origins,) every click; info: the stages' counters. `origin(name)` and
    `total(name)` pick one origin ("source", "retrieved", "memory_noise", "dark").
    """

    counts: Any
    totals: Any
    info: dict

    def origin(self, name: str):
        return self.counts[ORIGINS.index(name)]

    def total(self, name: str):
        return self.totals[ORIGINS.index(name)]

    def by_origin(self) -> dict:
        """{origin: (n_bins,) counts} in ORIGINS order."""
        return {o: self.counts[i] for i, o in enumerate(ORIGINS)}


def expected_counts(
    link: Link, key=None, *, detector: str | None = None, nodes: tuple[int, int] = DEFAULT_NODES
):
    """Expected clicks per shot of one detector (default: the first).

    Returns an `ExpectedCounts` (counts (n_origins, n_bins) in the window, totals
    (n_origins,) of every click, info), which unpacks as a tuple. Differentiable in
    every continuous parameter of the link. Works in
    the default float dtype; enable x64 (`jax.enable_x64(True)`) for float64 accuracy,
    as `simulate` does. `key` is accepted for future latent variables beyond two, which
    will use quasi-random points; with the present model the quadrature is exact.
    """
    counts, totals, info = expected_counts_all(link, key, nodes=nodes)
    names = [d.name for d in link.detectors]
    i = 0 if detector is None else names.index(link[detector].name)
    return ExpectedCounts(counts[i], totals[i], info)


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
        reshaping=link.reshaping,
    )


def prepare_tables(link: Link, nodes: tuple[int, int] = DEFAULT_NODES) -> dict | None:
    """The tables of the link's reshaping stages (and of a memory's mixed-state overlap)
    for its parameters, by stage name, as expected mode builds them from its quadrature
    nodes (`photonmc.laws.tables`); None when the link needs none. An analog run builds
    them once and maps its sampled wavepackets onto their grids. Traceable."""
    if not link.reshaping and link.source.dephasing_time_ns is None:
        return None
    ctx = dataclasses.replace(expected_context(link, *nodes), collected={})
    propagate(link, jax.random.key(0), len(ctx.latent[2]), ctx)
    return ctx.collected or None


def expected_counts_all(link: Link, key=None, *, nodes: tuple[int, int] = DEFAULT_NODES):
    """Expected clicks per shot of every detector: counts (n_detectors, n_origins,
    n_bins), totals (n_detectors, n_origins), info; see `expected_counts`."""
    del key
    # Without a memory or a reshaping stage no weight or shape depends on the feeding
    # delay: the detector integrates it exactly (hypoexponential law); otherwise the
    # overlap or the tabulated shape needs its quadrature.
    analytic_feeding = not link.memories and not link.reshaping
    n_feeding = 1 if analytic_feeding else nodes[0]
    ctx = expected_context(link, n_feeding, nodes[1])
    batch, info, _ = propagate(link, jax.random.key(0), len(ctx.latent[2]), ctx)
    feeding = link.source.feeding_time_ns if analytic_feeding else None
    counts, totals = integrate_detectors(
        link.detectors,
        batch,
        link.tagger,
        ctx.paths,
        ctx.period_ns,
        feeding_ns=feeding,
        laws=ctx.laws,
    )
    return counts, totals, info


# ------------------------------------------------------ expected-mode observables
def internal_efficiency(link: Link, memory: str, nodes=DEFAULT_NODES):
    """eta_int of the named memory: its expected-mode sums y / x (docs/physics.md 3.4), traceable.

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
    """The memory's internal efficiency eta_int (docs/physics.md 3.4) at each value of `parameter`.

    values: 1-D, in the parameter's unit. memory: the memory's stage name (default the
    link's first). Expected mode, float64; compiled for this link on every call.
    """
    p = P.parameter(link, parameter)
    if not link.memories:
        raise ValueError("efficiency_curve needs a LadderMemory in the link")
    mem = memory or link.memories[0].name
    with jax.enable_x64(True):
        base = P.as_float64(link.with_tagger(one_bin(link.tagger)))

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
def integrate_detectors(
    detectors, batch, tagger: TimeTagger, paths, period_ns, feeding_ns=None, laws=()
):
    """Expected clicks per shot of every detector, from the wavepackets on its path.

    Returns counts (n_detectors, n_origins, n_bins) in the window and totals
    (n_detectors, n_origins) of every click. Each wavepacket's detection-time density,
    convolved with the detector's jitter, is integrated over every bin in closed form;
    dark counts enter as their mean, uniform over one shot period from the window start
    (R * T_rep per shot, as analog runs draw them; docs/physics.md 3.5). feeding_ns:
    the source's feeding time when the exponential wavepackets' t_ref leaves it out (no
    memory upstream): their law is then the exact hypoexponential one
    (`hypoexp_bin_probs`) instead of a quadrature node's.
    """
    dtype = batch.weight.dtype
    edges = jnp.asarray(tagger.bin_edges_ns, dtype) + tagger.sync_offset_ns
    kind, origin, path = batch.kind.ravel(), batch.origin.ravel(), batch.path.ravel()
    law = batch.law.ravel()
    fields = [x.ravel() for x in (batch.weight, batch.t_ref_ns, batch.width_ns)]
    all_counts, all_totals = [], []
    for det in detectors:
        sigma_j = det.jitter_sigma_ns
        counts = jnp.zeros((len(ORIGINS), tagger.n_bins), dtype)
        totals = jnp.zeros(len(ORIGINS), dtype)
        # Exponential and Gaussian wavepackets are told apart before tracing (kinds and
        # paths are static), so each bin integral runs only where it is needed.
        for k in (EXP, GAUSS, *range(_LAW, _LAW + len(laws))):
            mine = (kind == k) & (law == -1) if k < _LAW else law == k - _LAW
            idx = np.nonzero(mine & (path == paths[det.name]))[0]
            if idx.size == 0:
                continue
            w_k, t_k, width_k = (x[idx] for x in fields)
            w_k = w_k * probability(det.efficiency)
            if k >= _LAW:
                u_k, v_k = batch.law_u.ravel()[idx], batch.law_v.ravel()[idx]
                probs = law_bin_probs(laws[k - _LAW], u_k, v_k, t_k, edges, sigma_j)
            elif k == EXP and feeding_ns is not None:
                probs = hypoexp_bin_probs(edges, t_k, feeding_ns, width_k, sigma_j)
            elif k == EXP:
                probs = bin_integrals.emg_bin_probs(edges, t_k, width_k, sigma_j)
            else:
                sigma = jnp.sqrt(units.fwhm_to_sigma(width_k) ** 2 + sigma_j**2 + 1e-12)
                probs = bin_integrals.gauss_bin_probs(edges, t_k, sigma)
            one_hot = jnp.asarray(origin[idx, None] == np.arange(len(ORIGINS)), dtype)
            counts = counts + jnp.einsum("po,pk->ok", one_hot * w_k[:, None], probs)
            totals = totals + one_hot.T @ w_k
        # Dark counts uniform over one shot period from the window start, as analog
        # runs draw them (Detector.dark_interval_ns): R T_rep per shot, rate R in
        # absolute time; those past the window stop are late clicks (totals only).
        rate = units.hz_to_per_ns(det.dark_count_rate_hz)
        a = jnp.asarray(tagger.window_start_ns, dtype)
        b = a + period_ns
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


# ---------------------------------------------- two-photon figures, in expectation
def coincidence_range_ns(period_ns: float, bin_ns: float, side_peaks: int) -> float:
    """R: (side_peaks + 1/2) periods rounded up to whole bins (the delays run -R .. R)."""
    return bin_ns * float(np.ceil((side_peaks + 0.5) * period_ns / bin_ns - 1e-9))


def coincidence_geometry(link: Link, detector_a: str, detector_b: str) -> tuple[float, float]:
    """(period_ns, fixed delay of b minus that of a, ns) as plain numbers."""
    return (
        float(link.source.period_ns),
        float(link.delay_to(link[detector_b]) - link.delay_to(link[detector_a])),
    )


def has_interference(link: Link) -> bool:
    """Whether photons of different shots interfere in the link (a HOMInterferometer)."""
    from photonmc.stages.interferometer import HOMInterferometer

    return any(isinstance(s, HOMInterferometer) for s in link.stages)


def expected_coincidences(
    link: Link,
    detector_a: str,
    detector_b: str,
    *,
    side_peaks: int = 5,
    range_ns: float | None = None,
    nodes: tuple[int, int] = DEFAULT_NODES,
    geometry: tuple[float, float] | None = None,
):
    """Expected coincidences per shot of two detectors, by delay t_b - t_a (HBT links).

    Returns (counts (n,) per bin of the link's tagger width over [-R, R), R =
    `coincidence_range_ns` or `range_ns`). Clicks of different shots are independent, so
    the peak at k != 0 periods is the cross-correlation of the two single-shot
    histograms h_a, h_b; at k = 0 the source's photon pairs give g2 S_a * S_b (S the
    source-photon clicks, whatever their fate; a pair's photons are independent) and
    noise and dark counts, independent of the signal, the rest: dark counts and Poisson
    memory noise as independent clicks, thermal memory noise (`noise_statistics =
    "thermal"`) with the factor g2 = 2 on the pairs of one noise mode (a memory's read
    or write noise; different modes are independent), `thermal_noise_counts`. Delays of
    two bins are spread over the delay bins by the triangle of their difference (exact
    for densities linear within a bin). Neglects dead time (one click per detector per
    shot at most) and assumes no interference between shots (not for HOM links).
    Traceable in every parameter but the period and the fibre delays, which `geometry`
    = (period_ns, delay_b - delay_a in ns) gives as plain numbers inside a trace.
    """
    from photonmc.batch import MEMORY_NOISE, RETRIEVED, SOURCE

    names = [d.name for d in link.detectors]
    for n in (detector_a, detector_b):
        if n not in names:
            raise ValueError(f"no detector {n!r} in the link (detectors: {', '.join(names)})")
    counts, _, _ = expected_counts_all(link, nodes=nodes)
    ia, ib = names.index(detector_a), names.index(detector_b)
    ha, hb = counts[ia], counts[ib]
    s_a, s_b = ha[SOURCE] + ha[RETRIEVED], hb[SOURCE] + hb[RETRIEVED]
    n_a, n_b = ha[MEMORY_NOISE] + ha[DARK], hb[MEMORY_NOISE] + hb[DARK]
    t_a, t_b = s_a + n_a, s_b + n_b

    def xcorr(x, y):  # c[m] = sum_i x[i] y[i + m], m = -(n - 1) .. n - 1
        return jnp.correlate(y, x, mode="full")

    g2 = link.source.g2
    other = xcorr(t_a, t_b)
    same = g2 * xcorr(s_a, s_b) + xcorr(s_a, n_b) + xcorr(n_a, s_b) + xcorr(n_a, n_b)
    # two photons of one thermal mode: g2 = 2, so twice the independent product
    for mode_counts, _ in thermal_noise_counts(link, nodes):
        same = same + xcorr(mode_counts[ia][MEMORY_NOISE], mode_counts[ib][MEMORY_NOISE])
    w = float(link.tagger.bin_width_ps) * 1e-3
    if geometry is None:
        geometry = coincidence_geometry(link, detector_a, detector_b)
    period, d_ab = geometry
    r = coincidence_range_ns(period, w, side_peaks) if range_ns is None else float(range_ns)
    n_out = int(round(2 * r / w))
    n = ha.shape[-1]
    # lattice of delays m w, m = -(n_out / 2) - 1 .. n_out / 2 + 1
    lo = -int(round(r / w)) - 1
    lattice = jnp.zeros(n_out + 3, counts.dtype)
    m = np.arange(-(n - 1), n)
    spill = int(np.ceil(float(link.tagger.window_ns) / period)) + 1
    for k in range(-side_peaks - spill, side_peaks + spill + 1):
        c = same if k == 0 else other
        shift = (k * period + d_ab) / w
        base = int(np.floor(shift))
        frac = shift - base
        for offset, weight in ((0, 1.0 - frac), (1, frac)):
            idx = m + base + offset - lo
            keep = (idx >= 0) & (idx < n_out + 3)
            if weight > 0 and keep.any():
                lattice = lattice.at[idx[keep]].add(weight * c[np.nonzero(keep)[0]])
    # delay bin j spans lattice points j and j + 1 (bin [lo' + j, lo' + j + 1) w)
    return 0.5 * (lattice[1 : n_out + 1] + lattice[2 : n_out + 2])


def expected_peak_areas(link: Link, detector_a: str, detector_b: str, side_peaks: int = 5):
    """Expected pairs per shot in each peak k = -K .. K (+- period / 2 around k T), HBT.

    From the detectors' totals (every click, in the window or not): C_k = N_a N_b for
    k != 0, C_0 = g2 S_a S_b + S_a n_b + n_a S_b + n_a n_b + sum_m m_a m_b, with S the
    clicks of source photons, n of memory noise and dark counts, and m those of each
    thermal noise mode m, whose pairs count twice (`expected_coincidences`' assumptions).
    """
    from photonmc.batch import MEMORY_NOISE, RETRIEVED, SOURCE

    names = [d.name for d in link.detectors]
    ia, ib = names.index(detector_a), names.index(detector_b)
    _, totals, _ = expected_counts_all(link)
    ta, tb = totals[ia], totals[ib]
    s_a, s_b = ta[SOURCE] + ta[RETRIEVED], tb[SOURCE] + tb[RETRIEVED]
    n_a, n_b = ta[MEMORY_NOISE] + ta[DARK], tb[MEMORY_NOISE] + tb[DARK]
    centre = link.source.g2 * s_a * s_b + s_a * n_b + n_a * s_b + n_a * n_b
    for _, mode_totals in thermal_noise_counts(link, DEFAULT_NODES):
        centre = centre + mode_totals[ia][MEMORY_NOISE] * mode_totals[ib][MEMORY_NOISE]
    side = (s_a + n_a) * (s_b + n_b)
    k = np.arange(-side_peaks, side_peaks + 1)
    return jnp.where(jnp.asarray(k) == 0, centre, side)


def thermal_noise_counts(link: Link, nodes: tuple[int, int] = DEFAULT_NODES) -> list:
    """(counts, totals) per shot, as `expected_counts_all` gives them, of each thermal noise
    mode of the link alone: the write and the read noise of every memory with
    `noise_statistics = "thermal"` (a mean that is a plain 0 is left out).

    Each is the link with that noise alone on: no source light, no dark counts, the other
    noise means 0. Noise photons of one single-mode thermal field are pairwise
    correlated with g2 = 2 (Bose-Einstein numbers); those of different modes, of Poisson
    memory noise and dark counts are independent, so only these need their own counts.
    Traceable (the zeros are plain numbers, the kept mean may be traced).
    """
    from photonmc.stages._base import concrete

    noise_fields = ("write_noise_photons", "read_noise_photons")
    memories = link.memories
    modes = [
        (m.name, f)
        for m in memories
        if m.noise_statistics == "thermal"
        for f in noise_fields
        if concrete(getattr(m, f)) != 0.0
    ]
    if not modes:
        return []
    dark = {f"{d.name}.dark_count_rate_hz": 0.0 for d in link.detectors}
    out = []
    for name, field in modes:
        values = {f"{link.source.name}.mean_photon_number": 0.0, **dark}
        values.update(
            {
                f"{m.name}.{f}": 0.0
                for m in memories
                for f in noise_fields
                if (m.name, f) != (name, field)
            }
        )
        counts, totals, _ = expected_counts_all(link.replace(values), nodes=nodes)
        out.append((counts, totals))
    return out


def pair_overlap(source, gap_shots: int = 1, delay_ns=0.0):
    """Mean overlap M = E[|<psi_i|psi_j>|^2] of two photons of the source `gap_shots` shots
    apart, the second delayed by `delay_ns` (docs/physics.md 6.4); traceable (jnp).

    M = F(delay) * V * T2 / (2 T1). The feeding delays differ by tau_f (E_1 - E_2), a
    Laplace variable: F(d) = E[exp(-|d + tau_f (E_1 - E_2)| / T1)], in closed form
    (F(0) = 1 / (1 + tau_f / T1)). The frequency offsets differ by a Gaussian of variance
    s^2 = 2 sigma_sd^2 (1 - a^g), a = exp(-T_rep / tau_c) the shot-to-shot correlation of
    the wandering (a = 0 without a correlation time): V = E[1 / (1 + (pi dnu T2)^2)] =
    sqrt(pi) y erfcx(y), y = 1 / (pi T2 s sqrt 2) (a Voigt profile at its centre). The
    factor T2 / (2 T1), 1/T2 = 1/(2 T1) + 1/T2*, is the pure-dephasing loss.
    """
    t1 = positive(jnp.asarray(source.lifetime_ns))
    dtype = t1.dtype
    tau_f = jnp.maximum(jnp.asarray(source.feeding_time_ns, dtype), 0.0)
    t2_star = source.dephasing_time_ns
    t2 = 2.0 * t1 if t2_star is None else 1.0 / (1.0 / (2.0 * t1) + 1.0 / positive(t2_star))
    time_part = laplace_decay_mean(jnp.abs(jnp.asarray(delay_ns, dtype)), tau_f, t1)
    sigma = units.fwhm_to_sigma(jnp.maximum(jnp.asarray(source.spectral_diffusion_fwhm_ghz), 0.0))
    if source.spectral_diffusion_time_ns is None:
        decorrelated = 1.0
    else:
        x = gap_shots * source.period_ns / positive(source.spectral_diffusion_time_ns)
        decorrelated = -jnp.expm1(-x)
    s = jnp.sqrt(2.0 * decorrelated) * sigma
    spread = s > 0
    y = 1.0 / (jnp.pi * t2 * jnp.sqrt(2.0) * jnp.where(spread, s, 1.0))
    freq_part = jnp.where(spread, jnp.sqrt(jnp.pi) * y * jax.scipy.special.erfcx(y), 1.0)
    return time_part * freq_part * t2 / (2.0 * t1)


def laplace_decay_mean(d, tau_f, t1):
    """E[exp(-|d + tau_f (E_1 - E_2)| / T1)] for d >= 0, E_i ~ Exp(1) independent.

    = (1/2) [T1 (e^(-d/T1) + e^(-d/tau_f)) / (T1 + tau_f) + e^(-d/T1) (d / tau_f) q(d k)],
    k = 1/tau_f - 1/T1, q(x) = (1 - e^(-x)) / x (q(0) = 1), regular at tau_f = T1; tau_f =
    0 gives e^(-d/T1).
    """
    tau = jnp.maximum(tau_f, 1e-12 * t1)
    x = d * (1.0 / tau - 1.0 / t1)
    small = jnp.abs(x) < 1e-8
    q = jnp.where(small, 1.0 - 0.5 * x, -jnp.expm1(-x) / jnp.where(small, 1.0, x))
    e1 = jnp.exp(-d / t1)
    mean = 0.5 * (t1 * (e1 + jnp.exp(-d / tau)) / (t1 + tau) + e1 * (d / tau) * q)
    return jnp.where(tau_f > 0, mean, e1)


def mean_pair_overlap(source) -> float:
    """Indistinguishability M of two photons of consecutive shots of the source
    (`pair_overlap` with gap 1, no delay), as a float64 number (docs/physics.md 6.4)."""
    with jax.enable_x64(True):
        src = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), source)
        return float(pair_overlap(src))


def the_interferometer(link: Link):
    """The link's HOMInterferometer (ValueError if it has none)."""
    from photonmc.stages.interferometer import HOMInterferometer

    for s in link.stages:
        if isinstance(s, HOMInterferometer):
            return s
    raise ValueError("the link has no HOMInterferometer")


def hom_coincidences(
    link: Link,
    detector_a: str | None = None,
    detector_b: str | None = None,
    *,
    nodes: tuple[int, int] = DEFAULT_NODES,
):
    """Expected centre-peak coincidences per shot (C0 parallel, C0 orthogonal) of two
    detectors behind the link's HOMInterferometer (default: its first two); traceable.

    From the detectors' totals: S (clicks of source photons) and n (memory noise and dark
    counts, Poisson and independent). A slot holds the short-arm photons of one shot and
    the long-arm photons of the previous one; its expected pairs on different outputs
    (docs/physics.md 6.4) give

        C0 = S_a S_b (1 + g2 - M) / 2 + S_a n_b + n_a S_b + n_a n_b,

    M = `pair_overlap` of consecutive shots at the interferometer's delay (0 for the
    orthogonal setting): (1 - M) / 2 from photons of different arms, g2 / 2 from the two
    photons of a shot on one arm. Assumes the source's photons reach the interferometer
    with a transmission that does not depend on their latent variables (no frequency
    filter or memory before it), wavepackets well inside +- T_rep / 2, and no dead time.
    """
    from photonmc.batch import MEMORY_NOISE, RETRIEVED, SOURCE

    hom = the_interferometer(link)
    names = [d.name for d in link.detectors]
    detector_a = names[0] if detector_a is None else detector_a
    detector_b = names[1] if detector_b is None else detector_b
    for n in (detector_a, detector_b):
        if n not in names:
            raise ValueError(f"no detector {n!r} in the link (detectors: {', '.join(names)})")
    _, totals, _ = expected_counts_all(link, nodes=nodes)
    ta, tb = totals[names.index(detector_a)], totals[names.index(detector_b)]
    s_a, s_b = ta[SOURCE] + ta[RETRIEVED], tb[SOURCE] + tb[RETRIEVED]
    n_a, n_b = ta[MEMORY_NOISE] + ta[DARK], tb[MEMORY_NOISE] + tb[DARK]
    _, p1, p2 = link.source.photon_probabilities()
    mu = p1 + 2.0 * p2
    g2 = 2.0 * p2 / jnp.maximum(mu, 1e-300) ** 2
    m = pair_overlap(link.source, 1, hom.delay_ns)
    noise = s_a * n_b + n_a * s_b + n_a * n_b
    parallel = 0.5 * s_a * s_b * (1.0 + g2 - m) + noise
    orthogonal = 0.5 * s_a * s_b * (1.0 + g2) + noise
    return parallel, orthogonal
