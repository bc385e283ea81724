"""Random draws of the analog estimator, and the latent-variable quadrature of the expected one.

Everything here is a pure function of a key (or of static sizes). Draws are float32
under the default configuration; a float32 uniform truncates an exponential tail at
about 16 lifetimes (PERF_NOTES), far below any histogram's resolution of interest.

The analog hot path draws its per-photon uniforms as blocks (`uniforms`): word i of a
block is one output of the Threefry-2x32 block cipher (20 rounds, Salmon et al. 2011)
with the key's two words as cipher key and (i mod P, 0) as counter, P the number of
counter pairs. Written as plain integer array operations, it compiles into the code
that uses the numbers: on 2 CPU cores 500 M uniforms/s against 214 M/s for
`jax.random.uniform` (which jax 0.10.2 lowers to a loop that nothing fuses with).
A block depends on (key, shape) only, so results stay reproducible per chunk and
independent of device count.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
_PARITY = 0x1BD11BDA


def _rotl(x, r: int):
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32(k0, k1, c0, c1):
    """The Threefry-2x32 block cipher, 20 rounds: two uint32 words from a 64-bit counter.

    k0, k1: the key words; c0, c1: counter words (arrays, broadcast). Elementwise
    uint32 arithmetic only, so that XLA fuses it with what consumes the words.
    """
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(_PARITY))
    x0, x1 = c0 + ks[0], c1 + ks[1]
    for g in range(5):
        for r in _ROTATIONS[4 * (g % 2) : 4 * (g % 2) + 4]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(g + 1) % 3]
        x1 = x1 + ks[(g + 2) % 3] + np.uint32(g + 1)
    return x0, x1


def _key_words(key):
    """Two uint32 cipher-key words of a JAX key (every word of its data folded in)."""
    data = jax.random.key_data(key).reshape(-1).astype(jnp.uint32)
    k0, k1 = data[0], data[1 % data.shape[0]]
    for i in range(2, data.shape[0]):
        if i % 2:
            k1 = k1 ^ data[i]
        else:
            k0 = k0 ^ data[i]
    return k0, k1


def random_bits(key, shape) -> jax.Array:
    """uint32 words of `shape` from one counter block (module docstring)."""
    shape = tuple(shape)
    n = math.prod(shape)
    pairs = (n + 1) // 2
    k0, k1 = _key_words(key)
    counter = jnp.arange(pairs, dtype=jnp.uint32)
    x0, x1 = threefry2x32(k0, k1, counter, jnp.zeros_like(counter))
    return jnp.concatenate([x0, x1])[:n].reshape(shape)


def uniforms(key, shape, dtype=jnp.float32) -> jax.Array:
    """Uniforms in the open interval (0, 1), float32, from one counter block.

    The top 23 bits of each word, plus one half: values k 2^-23 + 2^-24, k = 0 ..
    2^23 - 1, so never 0 or 1 (ln u and erfinv(2u - 1) are finite; an exponential is
    cut at 16.6 means). float64 (x64 runs) falls back to `jax.random.uniform` in
    (tiny, 1).
    """
    if jnp.dtype(dtype) != jnp.float32:
        return jax.random.uniform(key, shape, dtype, minval=jnp.finfo(dtype).tiny)
    bits = random_bits(key, shape)
    return ((bits >> np.uint32(9)).astype(jnp.float32) + 0.5) * np.float32(2.0**-23)


def normal_from_uniform(u):
    """Standard normal by inversion of a uniform in (0, 1): sqrt(2) erfinv(2u - 1)."""
    return np.float32(math.sqrt(2.0)) * jax.lax.erf_inv(2.0 * u - 1.0)


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
    u = uniforms(key, (capacity,))  # in (0, 1)
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
    a mean of 500, a normal bound with 9 standard deviations (tail ~1e-19, skewness
    included) is used: the exact sum starts from exp(-mean), which underflows float64
    beyond a mean of ~745.
    """
    if mean <= 0.0:
        return 0
    if not mean < 2.0**60:  # also inf and nan: a room no run holds; callers refuse it
        return 1 << 62
    if mean > 500.0:
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
    return choose_branch_from(u, weights)


def choose_branch_from(u, weights):
    """`choose_branch` with the photons' uniforms u in [0, 1) given, shape (photons,)."""
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
