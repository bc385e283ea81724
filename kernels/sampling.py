"""Random draws of the analog estimator, and the latent-variable quadrature of the expected one.

Everything here is a pure function of a key (or of static sizes). Draws are float32
under the default configuration; a float32 uniform truncates an exponential tail at
about 16 lifetimes (PERF_NOTES), far below any histogram's resolution of interest.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np


def poisson_events(key, mean_per_shot, n_shots, capacity: int):
    """Poisson(mean_per_shot) events in each of n_shots shots, as one list of events.

    The total over the chunk is Poisson(mean_per_shot * n_shots) and each event picks its
    shot uniformly: by the splitting property of the Poisson process the per-shot counts
    are then independent Poisson(mean_per_shot), as drawing shot by shot would give, at
    the cost of one draw per event instead of one per shot. `capacity` (static, see
    `poisson_capacity`) bounds the events; returns (exists (capacity,), shot (capacity,),
    number of events beyond capacity, which are dropped and must be reported).
    """
    key_n, key_shot = jax.random.split(key)
    n = jax.random.poisson(key_n, mean_per_shot * n_shots)
    exists = jnp.arange(capacity) < n
    shot = jax.random.randint(key_shot, (capacity,), 0, jnp.maximum(n_shots, 1), jnp.int32)
    return exists, shot, jnp.maximum(n - capacity, 0)


def bernoulli_indices(key, q, n_shots, capacity: int):
    """Indices of the shots, among n_shots, that succeed with probability q each.

    The gaps between successes are Geometric(q), drawn by inversion and summed, so the
    work is `capacity` draws however many shots there are. Returns (index (capacity,),
    increasing, entries >= n_shots are past the end and must be ignored; 1 if the room
    ran out before the last shot, else 0: successes may then have been missed). Indices
    are summed in float32, exact while below 2^24 (chunks are at most 2^24 shots).
    """
    u = 1.0 - jax.random.uniform(key, (capacity,))  # in (0, 1]
    log_fail = jnp.log1p(-jnp.clip(q, 0.0, 1.0))
    gap = 1.0 + jnp.floor(jnp.log(u) / jnp.minimum(log_fail, -1e-30))
    gap = jnp.clip(gap, 1.0, 2.0**25)
    index = jnp.cumsum(gap) - 1.0
    short = (index[-1] < n_shots - 1).astype(jnp.int32)
    return jnp.minimum(index, 2.0**30).astype(jnp.int32), short


def round_capacity(n: int) -> int:
    """n rounded up to 4 steps per octave (8, 10, 12, 14, 16, 20, ...).

    Capacities are static shapes: rounding them keeps a small change of a rate from
    recompiling a run, at the cost of at most 25 % more room.
    """
    if n <= 8:
        return n
    step = 1 << (n.bit_length() - 3)
    return -(-n // step) * step


def poisson_capacity(mean: float, tail: float = 1e-15) -> int:
    """Smallest k with P(Poisson(mean) > k) < tail (0 for mean 0): room for the events.

    With tail = 1e-15, a run of 1e10 chunks overflows with probability below 1e-5. Above
    a mean of 1000, a normal bound with 9 standard deviations (tail ~1e-19) is used.
    """
    if mean <= 0.0:
        return 0
    if not mean < 2.0**60:  # also inf and nan: a room no run holds; callers refuse it
        return 1 << 62
    if mean > 1000.0:
        return round_capacity(int(math.ceil(mean + 9.0 * math.sqrt(mean) + 10.0)))
    term = math.exp(-mean)
    cdf, k = term, 0
    while 1.0 - cdf >= tail:
        k += 1
        term *= mean / k
        cdf += term
        if term < tail * 1e-3 and k > mean:
            break
    return round_capacity(max(k, 1))


def wavepacket_delay(u, is_exp, width_ns, *, all_exp: bool = False):
    """Delay of a detection after t_ref, by inversion of one uniform u in (0, 1).

    Exponential wavepackets (lifetime width_ns): -width ln u. Gaussian ones (intensity
    FWHM width_ns): sigma sqrt(2) erfinv(2u - 1), with 2u - 1 kept inside (-1, 1) so that
    the smallest uniform gives a large finite delay, not -inf. all_exp (static) skips
    the Gaussian branch.
    """
    exp_delay = -width_ns * jnp.log(u)
    if all_exp:
        return exp_delay
    one = 1.0 - jnp.finfo(u.dtype).eps
    z = jnp.sqrt(2.0) * jax.lax.erf_inv(jnp.clip(2.0 * u - 1.0, -one, one))
    sigma = width_ns / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    return jnp.where(is_exp, exp_delay, sigma * z)


def choose_branch(key, weights):
    """One categorical draw per photon among its branches, or none.

    weights: (photons, branches), each the probability of that exclusive fate; the
    rest, 1 - sum, is "no fate" (lost, not detected). Returns the index of the chosen
    branch and whether any was chosen, each of shape (photons,).
    """
    u = jax.random.uniform(key, weights.shape[:1], dtype=weights.dtype)
    cum = jnp.cumsum(weights, axis=-1)
    chosen = u[..., None] < cum
    hit = chosen[..., -1]
    index = jnp.argmax(chosen, axis=-1)
    return index, hit


def latent_nodes(n_feeding: int, n_nu: int):
    """Quadrature over the source's latent variables (feeding delay, spectral diffusion).

    Returns (e, z, w) as float64 numpy arrays of length n_feeding * n_nu: E' ~ Exp(1)
    nodes (Gauss-Laguerre), Z ~ N(0, 1) nodes (Gauss-Hermite, probabilists'), and
    weights summing to 1, so that E[f(E', Z)] = sum w f(e, z) (exact for polynomials of
    degree 2 n - 1 in each variable).
    """
    e, we = np.polynomial.laguerre.laggauss(n_feeding) if n_feeding > 1 else ([1.0], [1.0])
    z, wz = np.polynomial.hermite_e.hermegauss(n_nu) if n_nu > 1 else ([0.0], [1.0])
    e, we, z, wz = map(np.asarray, (e, we, z, wz))
    wz = wz / wz.sum()
    we = we / we.sum()
    ee, zz = np.meshgrid(e, z, indexing="ij")
    ww = np.outer(we, wz)
    return ee.ravel(), zz.ravel(), ww.ravel()
