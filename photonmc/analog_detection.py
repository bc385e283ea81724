"""Analog detection: the candidate clicks of a chunk on every detector, and dead time.

The detectors' parameters and laws live in `photonmc.stages.detector`; this is how the
analog engine samples them (docs/physics.md 3.5): one categorical fate per photon among the
detectors on its path, its click time drawn from its wavepacket plus jitter, Poisson
dark counts over one shot period per shot (a stream of rate R in absolute time), and
each detector's non-paralysable dead time within the chunk.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import laws, units
from photonmc.batch import DARK, EXP
from photonmc.kernels import gather, sampling, scan
from photonmc.kernels.deadtime import registered_clicks
from photonmc.stages._base import concrete, probability
from photonmc.stages.detector import TimeTagger


def detect(
    detectors, batch, key, ctx, tagger: TimeTagger, dark_capacity, dead_time, hit_capacity=0
):
    """Candidate clicks of one chunk on every detector, before dead time.

    Each photon meets one categorical draw among all its fates: "detected by detector d
    via branch b" with probability weight_b * efficiency_d for the detector on branch b's
    path, and "not detected" for the rest. dark_capacity and dead_time are static
    tuples, one entry per detector (see `simulation.AnalogPlan`). hit_capacity (static):
    room for the detected photons; when it is under half the photons, only the
    detected ones (in their order) go on to their click times, the rest are never
    looked at again. A photon's draws are its own whatever its slot, so the clicks are
    the same either way. Returns (shot, t_ns, channel, origin, valid), each of shape
    (photon slots + dark counts,): the shot, the histogram time (jitter and sync offset
    applied), the detector index, the origin index and whether it is a click; and the
    counts of events beyond their room, {"dark_truncated", "hits_truncated"}.
    """
    key_fate, key_dark = jax.random.split(key)
    channel_of = _channels(detectors, batch, ctx)  # static (photons, branches)
    effs = jnp.stack([probability(d.efficiency) for d in detectors])
    eff = jnp.where(channel_of >= 0, effs[np.maximum(channel_of, 0)], 0.0)
    # one block of uniforms per photon: its fate, its delay and its jitter
    n_photons = batch.weight.shape[0]
    u_fate, u_delay, u_jitter = sampling.uniforms(key_fate, (3, n_photons), batch.t_ref_ns.dtype)
    tabulated_laws = bool(ctx.laws) and bool((batch.law >= 0).any())  # static
    if tabulated_laws:
        u_row = sampling.uniforms(jax.random.fold_in(key_fate, 1), u_delay.shape, u_delay.dtype)
    index, hit = sampling.choose_branch_from(u_fate, batch.weight * eff)
    fields = dict(
        kind=batch.kind,
        t_ref=batch.t_ref_ns,
        width=batch.width_ns,
        origin=batch.origin,
        channel=channel_of,
    )
    if tabulated_laws:
        fields.update(law=batch.law.astype(np.int32), law_u=batch.law_u, law_v=batch.law_v)
    shot = batch.shot
    hits_dropped = jnp.zeros((), jnp.int32)
    if 0 < hit_capacity <= n_photons // 2:
        # the detected photons, in their order, padded with photon 0 (not a click)
        slot = scan.nonzero(hit, hit_capacity)
        n_hit = jnp.sum(hit, dtype=jnp.int32)
        hits_dropped = jnp.maximum(n_hit - hit_capacity, 0)
        fields = {k: jnp.asarray(v)[slot] for k, v in fields.items()}
        index, u_delay, u_jitter, shot = index[slot], u_delay[slot], u_jitter[slot], shot[slot]
        if tabulated_laws:
            u_row = u_row[slot]
        hit = jnp.arange(hit_capacity) < n_hit
        # the detected photons' inputs as buffers, so that the arithmetic on them runs
        # vectorised, not inside the gathers (`kernels.gather`)
        fields, index, u_delay, u_jitter, u_row = gather.apart(
            n_hit >= 0, fields, index, u_delay, u_jitter, u_row if tabulated_laws else None
        )

    def pick(field):
        # a select per branch (a handful) instead of a gather
        field = jnp.asarray(field)
        out = field[:, 0]
        for b in range(1, field.shape[1]):
            out = jnp.where(index == b, field[:, b], out)
        return out

    kind, t_ref, width, origin, channel = (
        pick(fields[k]) for k in ("kind", "t_ref", "width", "origin", "channel")
    )
    all_exp = bool((batch.kind == EXP).all())  # static: no Gaussian packet without memory
    spread = sampling.wavepacket_delay(u_delay, kind == EXP, width, all_exp=all_exp)
    if tabulated_laws:
        law, law_u, law_v = (pick(fields[k]) for k in ("law", "law_u", "law_v"))
        tabulated = laws.sample_delays(ctx.laws, law, law_u, law_v, u_row, u_delay)
        spread = jnp.where(law >= 0, tabulated, spread)
    t = t_ref + spread - tagger.sync_offset_ns
    if any(concrete(d.jitter_fwhm_ps) != 0.0 for d in detectors):
        sigma = jnp.zeros_like(t) + detectors[0].jitter_sigma_ns
        for i, d in enumerate(detectors[1:], start=1):  # a select per detector, no gather
            sigma = jnp.where(channel == i, d.jitter_sigma_ns, sigma)
        t = t + sigma * sampling.normal_from_uniform(u_jitter)
    parts = [(shot, t, channel.astype(jnp.int32), origin, hit)]
    dropped = jnp.zeros((), jnp.int32)
    for i, (det, capacity) in enumerate(zip(detectors, dark_capacity, strict=True)):
        if not capacity:
            continue
        key_n, key_t = jax.random.split(jax.random.fold_in(key_dark, i))
        # one shot period per shot, with or without dead time: a stream of rate R
        a, b = det.dark_interval_ns(tagger, ctx.period_ns, dead_time[i])
        mean = units.hz_to_per_ns(det.dark_count_rate_hz) * (b - a)
        exists, dark_shot, lost = sampling.poisson_events(key_n, mean, ctx.n_shots, capacity)
        # two uniforms make one of 2^46 steps: a float32 uniform alone would put dark
        # counts on a grid of (b - a) 2^-23, 12 ps at a 10 kHz shot rate
        u1, u2 = sampling.uniforms(key_t, (2, *exists.shape), t.dtype)
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
    return (
        shot,
        t,
        channel,
        origin,
        valid,
        {"dark_truncated": dropped, "hits_truncated": hits_dropped},
    )


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
