"""Thermal (Bose-Einstein) photon numbers: the statistics of single-mode memory noise.

Four-wave-mixing noise emitted into one spatio-temporal mode is thermal: P(n) =
mu^n / (1 + mu)^(n + 1), mean mu, variance mu (1 + mu), g2(0) = 2. Mixed with a signal of
mean mu_s and g2 g_s (independent), the g2 of the sum is

    g2 = (g_s mu_s^2 + 2 mu_s mu_n + 2 mu_n^2) / (mu_s + mu_n)^2      (`g2_with_thermal`),

against (g_s mu_s^2 + 2 mu_s mu_n + mu_n^2) / (mu_s + mu_n)^2 for Poisson noise
(`g2_with_poisson`, docs/physics.md section 7 for g_s = 0).

`thermal_events` has the interface of `sampling.poisson_events`: the noise photons of a
chunk of shots as one list of events, each with its shot. Per shot n = floor(ln U /
ln(mu / (1 + mu))) (inversion of the geometric law); the events are the shots repeated
n times (a cumulative sum and a search), so the work is O(shots + capacity).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = [
    "thermal_numbers",
    "thermal_events",
    "thermal_capacity",
    "g2_with_thermal",
    "g2_with_poisson",
]


def thermal_numbers(key, mean, shape, dtype=jnp.int32):
    """Bose-Einstein photon numbers of mean `mean` (>= 0), by inversion of a uniform."""
    mu = jnp.maximum(jnp.asarray(mean, jnp.float32), 0.0)
    u = 1.0 - jax.random.uniform(key, shape)  # (0, 1]
    log_q = jnp.log(mu) - jnp.log1p(mu)  # ln(mu / (1 + mu)) < 0; -inf at mu = 0
    n = jnp.floor(jnp.log(u) / jnp.where(mu > 0.0, log_q, -1.0))
    return jnp.where(mu > 0.0, jnp.clip(n, 0.0, 2.0**30), 0.0).astype(dtype)


def thermal_events(key, mean_per_shot, n_shots, size_shots: int, capacity: int):
    """Thermal(mean_per_shot) events in each of n_shots (<= size_shots, static) shots.

    Returns (exists (capacity,), shot (capacity,), events beyond capacity), as
    `sampling.poisson_events` does.
    """
    n = thermal_numbers(key, mean_per_shot, (size_shots,))
    n = jnp.where(jnp.arange(size_shots) < n_shots, n, 0)
    ends = jnp.cumsum(n)
    total = ends[-1] if size_shots else jnp.zeros((), jnp.int32)
    slot = jnp.arange(capacity, dtype=ends.dtype)
    shot = jnp.searchsorted(ends, slot, side="right").astype(jnp.int32)
    exists = slot < total
    return exists, jnp.minimum(shot, max(size_shots - 1, 0)), jnp.maximum(total - capacity, 0)


def thermal_capacity(mean_per_shot: float, n_shots: int, tail_sigmas: float = 9.0) -> int:
    """Room for the events of n_shots thermal shots: mean + 9 sd (+ a margin for a mean
    so small that single shots dominate: 16 + 60 mu)."""
    if mean_per_shot <= 0.0 or n_shots <= 0:
        return 0
    m = n_shots * mean_per_shot
    sd = math.sqrt(n_shots * mean_per_shot * (1.0 + mean_per_shot))
    room = m + tail_sigmas * sd + 16.0 + 60.0 * mean_per_shot
    return int(math.ceil(room))


def g2_with_thermal(g_s, mu_s, mu_n):
    """g2(0) of a signal (g2 g_s, mean mu_s) plus independent thermal noise of mean mu_n."""
    total = mu_s + mu_n
    return (g_s * mu_s**2 + 2.0 * mu_s * mu_n + 2.0 * mu_n**2) / total**2


def g2_with_poisson(g_s, mu_s, mu_n):
    """g2(0) of a signal plus independent Poisson noise of mean mu_n."""
    total = mu_s + mu_n
    return (g_s * mu_s**2 + 2.0 * mu_s * mu_n + mu_n**2) / total**2
