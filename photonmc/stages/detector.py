"""Single-photon detector and time tagger (MODEL.md 3.5)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import units
from photonmc.batch import DARK, EXP, GAUSS, ORIGINS
from photonmc.kernels import bin_integrals, sampling
from photonmc.kernels.deadtime import registered_clicks
from photonmc.stages._base import (
    concrete,
    describe,
    param,
    positive,
    probability,
    stage,
    static,
)

#: Largest histogram a tagger may ask for (bins); beyond it a bin width is surely a typo.
MAX_BINS = 10_000_000


@stage
class TimeTagger:
    """Start-stop time tagger: one start per shot, histogram time t - sync_offset_ns.

    Bins of `bin_width_ps` from `window_start_ns` to `window_stop_ns` (a whole number of
    bins); the window may be longer than the shot period and is not folded. The bin
    layout is static; `sync_offset_ns` is a continuous (fittable) parameter.
    """

    bin_width_ps: float = static()
    window_start_ns: float = static()
    window_stop_ns: float = static()
    sync_offset_ns: float = param(0.0, unit="ns", doc="time zero of the histogram")
    name: str = static("tagger")

    def __post_init__(self):
        if not (isinstance(self.bin_width_ps, int | float) and self.bin_width_ps > 0):
            raise ValueError(
                f"{describe(self)}: bin_width_ps must be > 0 ps, got {self.bin_width_ps!r}"
            )
        for field in ("window_start_ns", "window_stop_ns"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(
                    f"{describe(self)}: {field} must be a finite number of ns, got {value!r}"
                )
        if self.window_stop_ns <= self.window_start_ns:
            raise ValueError(
                f"{describe(self)}: window_stop_ns must be > window_start_ns "
                f"({self.window_start_ns:g} ns), got {self.window_stop_ns:g} ns"
            )
        n = self.window_ns * 1e3 / self.bin_width_ps
        if n > MAX_BINS:
            raise ValueError(
                f"{describe(self)}: bin_width_ps = {self.bin_width_ps:g} ps makes {n:.3g} bins "
                f"over the {self.window_ns:g} ns window; at most {MAX_BINS:.0e} bins are allowed"
            )
        if abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 1:
            raise ValueError(
                f"{describe(self)}: the window ({self.window_start_ns:g} to "
                f"{self.window_stop_ns:g} ns) must hold a whole number of {self.bin_width_ps:g} ps "
                f"bins, got {n:.6g}"
            )

    @property
    def window_ns(self) -> float:
        return self.window_stop_ns - self.window_start_ns

    @property
    def n_bins(self) -> int:
        return int(round(self.window_ns * 1e3 / self.bin_width_ps))

    @property
    def bin_width_ns(self) -> float:
        return units.ps_to_ns(self.bin_width_ps)

    @property
    def bin_edges_ns(self) -> np.ndarray:
        """Histogram-time bin edges, float64, shape (n_bins + 1,)."""
        return self.window_start_ns + self.bin_width_ns * np.arange(self.n_bins + 1)


@stage
class Detector:
    """A single-photon detector: efficiency, dark counts, Gaussian jitter, dead time.

    Each wavepacket clicks with probability `efficiency` at a time drawn from its
    intensity plus Gaussian jitter. Dark counts are a Poisson process at
    `dark_count_rate_hz`, uniform in time. Dead time is non-paralysable and acts in
    analog mode only, across shots within each chunk of consecutive shots; every chunk
    starts with a live detector, so at most ceil(dead_time / T_rep) shots per chunk see
    a detector that should have been dead. Expected mode neglects dead time and click
    saturation (one click per detector per shot).
    """

    efficiency: float = param(lo=0.0, hi=1.0, doc="detection efficiency")
    dark_count_rate_hz: float = param(0.0, lo=0.0, unit="Hz", doc="dark-count rate")
    jitter_fwhm_ps: float = param(0.0, lo=0.0, unit="ps", doc="timing-jitter FWHM (Gaussian)")
    dead_time_ns: float = param(0.0, lo=0.0, unit="ns", doc="non-paralysable dead time")
    name: str = static("detector")
    branch: str = static("")

    @property
    def jitter_sigma_ns(self):
        return units.fwhm_to_sigma(units.ps_to_ns(self.jitter_fwhm_ps))

    def has_dead_time(self) -> bool:
        """Whether analog runs apply dead time; decided on the host, before tracing."""
        value = concrete(self.dead_time_ns)
        return value is None or value > 0.0

    def dark_interval_ns(self, tagger: TimeTagger, period_ns, dead_time: bool):
        """Histogram-time interval over which each shot's dark counts are drawn.

        Without dead time: the tagger window (mean R * window per shot). With dead time,
        dark counts must form one stream in absolute time, so each shot draws them over
        one shot period starting at the window start: shots tile the time line once.
        Then a window longer than the period shows a shot's dark counts only in its
        first period; the histogram beyond it lacks the darks of the next shot.
        """
        if dead_time:
            return tagger.window_start_ns, tagger.window_start_ns + period_ns
        return tagger.window_start_ns, tagger.window_stop_ns

    def dark_capacity(self, tagger: TimeTagger, period_ns: float, n_shots: int) -> int:
        """Room for the dark counts of `n_shots` shots in analog mode."""
        a, b = self.dark_interval_ns(tagger, period_ns, self.has_dead_time())
        rate = concrete(self.dark_count_rate_hz) or 0.0
        return sampling.poisson_capacity(n_shots * units.hz_to_per_ns(rate) * (b - a))


# --------------------------------------------------------------------- analog
def detect(detectors, batch, key, ctx, tagger: TimeTagger, dark_capacity, dead_time):
    """Candidate clicks of one chunk on every detector, before dead time.

    Each photon meets one categorical draw among all its fates: "detected by detector d
    via branch b" with probability weight_b * efficiency_d for the detector on branch b's
    path, and "not detected" for the rest. dark_capacity and dead_time are static
    tuples, one entry per detector (see `simulation.AnalogPlan`). Returns (shot, t_ns,
    channel, origin, valid), each of shape (photons + dark counts,): the shot, the
    histogram time (jitter and sync offset applied), the detector index, the origin
    index and whether it is a click; and the number of dark counts beyond capacity.
    """
    key_fate, key_e, key_jit, key_dark = jax.random.split(key, 4)
    channel_of = _channels(detectors, batch, ctx)  # static (photons, branches)
    effs = jnp.stack([probability(d.efficiency) for d in detectors])
    eff = jnp.where(channel_of >= 0, effs[np.maximum(channel_of, 0)], 0.0)
    index, hit = sampling.choose_branch(key_fate, batch.weight * eff)

    def pick(field):
        return jnp.take_along_axis(jnp.asarray(field), index[:, None], axis=1)[:, 0]

    kind, t_ref, width, origin, channel = map(
        pick, (batch.kind, batch.t_ref_ns, batch.width_ns, batch.origin, channel_of)
    )
    shape = hit.shape
    u = jax.random.uniform(key_e, shape, dtype=t_ref.dtype, minval=jnp.finfo(t_ref.dtype).tiny)
    all_exp = bool((batch.kind == EXP).all())  # static: no Gaussian packet without memory
    spread = sampling.wavepacket_delay(u, kind == EXP, width, all_exp=all_exp)
    t = t_ref + spread - tagger.sync_offset_ns
    if any(concrete(d.jitter_fwhm_ps) != 0.0 for d in detectors):
        sigmas = jnp.stack([d.jitter_sigma_ns for d in detectors])
        t = t + sigmas[jnp.maximum(channel, 0)] * jax.random.normal(key_jit, shape, t.dtype)
    parts = [(batch.shot, t, channel.astype(jnp.int32), origin, hit)]
    dropped = jnp.zeros((), jnp.int32)
    for i, (det, capacity) in enumerate(zip(detectors, dark_capacity, strict=True)):
        if not capacity:
            continue
        key_n, key_t = jax.random.split(jax.random.fold_in(key_dark, i))
        a, b = det.dark_interval_ns(tagger, ctx.period_ns, dead_time[i])
        if dead_time[i]:  # a plan shared with points without dead time (a sweep)
            b = jnp.where(det.dead_time_ns > 0, b, tagger.window_stop_ns)
        mean = units.hz_to_per_ns(det.dark_count_rate_hz) * (b - a)
        exists, dark_shot, lost = sampling.poisson_events(key_n, mean, ctx.n_shots, capacity)
        # two uniforms make one of 2^46 steps: a float32 uniform alone would put dark
        # counts on a grid of (b - a) 2^-23, 12 ps at a 10 kHz shot rate
        u1, u2 = jax.random.uniform(key_t, (2, *exists.shape), dtype=t.dtype)
        t_dark = a + (b - a) * jnp.minimum(u1 + u2 * 2.0**-23, 1.0 - 2.0**-24)
        parts.append(
            (
                dark_shot,
                t_dark,
                jnp.full(exists.shape, i, jnp.int32),
                jnp.full(exists.shape, DARK, origin.dtype),
                exists,
            )
        )
        dropped = dropped + lost
    shot, t, channel, origin, valid = (jnp.concatenate(x) for x in zip(*parts, strict=True))
    return shot, t, channel, origin, valid, dropped


def register(detectors, shot, t_ns, channel, valid, period_ns, dead_time, capacity: int):
    """Clicks that each detector registers under its own dead time (within the chunk)."""
    for i, det in enumerate(detectors):
        if dead_time[i]:
            mine = channel == i
            kept = registered_clicks(
                shot, t_ns, valid & mine, det.dead_time_ns, period_ns, capacity
            )
            valid = jnp.where(mine, kept, valid)
    return valid


def _channels(detectors, batch, ctx) -> np.ndarray:
    """Detector index of each wavepacket's path (-1 for a path without a detector)."""
    channel = np.full(batch.path.shape, -1, np.int32)
    for i, det in enumerate(detectors):
        channel[batch.path == ctx.paths[det.name]] = i
    return channel


# ------------------------------------------------------------------- expected
def expected_counts(detectors, batch, tagger: TimeTagger, paths, period_ns, feeding_ns=None):
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
        a = tagger.window_start_ns
        b = jnp.where(det.dead_time_ns > 0, a + period_ns, tagger.window_stop_ns)
        lo, hi = (
            jnp.asarray(tagger.bin_edges_ns[:-1], dtype),
            jnp.asarray(tagger.bin_edges_ns[1:], dtype),
        )
        counts = counts.at[DARK].add(rate * jnp.clip(jnp.minimum(hi, b) - jnp.maximum(lo, a), 0.0))
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
