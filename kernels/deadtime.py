"""Non-paralysable dead time on the candidate clicks of one chunk (docs/physics.md section 3.5).

Times in ns. A click of shot s at time t (from that shot's sync; t may be negative or
beyond the period) happens at s * period + t. After a registered click the detector
ignores every click for `dead_time_ns` (non-paralysable: ignored clicks do not extend
it); a click exactly dead_time_ns after a registered one IS registered. The detector is
live at the start of the chunk, so the first click is always registered, and a chunk's
result never depends on other chunks (docs/physics.md: the error is at most
ceil(dead_time / T_rep) shots per chunk). dead_time_ns <= 0 registers every valid click.

Algorithm (no sequential scan over clicks):
1. Compact the valid clicks into `capacity` slots (`scan.nonzero`), or,
   when there are more, take all N entries with the invalid ones as sentinels that
   sort last and are never registered (`lax.cond`; correct either way, the second
   slower).
2. Sort by time on the key (shot + floor(t / period), t mod period) carrying the
   original positions: the permutation of a stable `lax.sort` of (key, position), found
   faster through one packed uint32 key per click (`_chronological`). Normalising t
   makes the lexicographic order chronological even for t outside [0, period); the
   stable sort breaks exact ties by position. Times are never formed as absolute
   float32 numbers: a difference is (s_i - s_j) * period + (t_i - t_j), exact to
   float32 rounding of numbers below a period, so 2^18-shot chunks keep ps resolution
   (absolute times there would not).
3. Solve the fixed point r_i = [click i is registered] = [the latest registered click
   j < i is >= dead_time_ns before i, or there is none], with "latest registered j < i"
   an exclusive cumulative max (`scan.cummax`) of (j where r_j, else -1), iterating
   in a `lax.while_loop` from r = all valid until r stops changing. Registered clicks
   are >= dead apart, so only the latest one can block i; r_i depends on r_j, j < i
   only, so the correct prefix grows every iteration and the fixed point is the unique
   solution. Where every click has fewer than `_WINDOW` earlier clicks within dead,
   the update reads those neighbours directly instead (the same map, so the same
   iterates, in one fused pass each). A click >= dead after its predecessor is
   settled in the first iteration, so the count is set by the longest run of clicks
   each within dead of the previous one: about 2 iterations per registered click of
   that run.
   Measured (uncapped): sparse clicks 2-7; pulsed 2^17-shot chunks with p = 0.2 and
   K = 3 blocked shots 13, p = 0.5 and K = 3: 48, p = 0.9 and K = 7: 32311; a click in
   every shot of 4096 with K = 3: 2048.
4. So the loop is capped at `max_iterations` (static, default 16); if r is still
   changing, pointer doubling finishes the job: next(i) = the first click >= dead
   after i (vectorised bisection, ceil(log2 M) rounds), and the registered clicks are
   those reachable from the first click by repeated next(), marked in ceil(log2 M)
   rounds of next <- next[next]. Same answer; cost independent of run length. On 2
   CPU cores (jax 0.10.2) doubling costs about 10 fixed-point iterations at M = 2^15
   and 2^18 (43 ms at 2^18, against 60 ms for the sort), so a cap of 16 keeps the worst
   case within ~2.6x of the better method while sparse chunks stop after 2-7.
   One H200 (jax 0.11.2), a 2^18-shot chunk, one candidate per shot: 0.6 ms at p = 0.01
   (3 iterations), 0.9 ms at p = 0.2 (12), 1.7 ms at p = 0.5 (16 + doubling; 2.4 ms
   for the 58 iterations uncapped), 1.6 ms with a click in every shot.

Under `jax.vmap` the `lax.cond`s become selects: both paths run for every chunk.

Everything is traced except N (the input length), `capacity` and `max_iterations`:
one compilation serves every number of valid clicks, dead time and period.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax
from numpy.typing import ArrayLike

from . import gather, scan

__all__ = ["registered_clicks", "registered_clicks_with_info"]

_SENTINEL_SHOT = jnp.iinfo(jnp.int32).max
_DEFAULT_MAX_ITERATIONS = 16
#: rounds of tie placement and of transposition sweeps before the multi-operand sort
_ROUNDS = 32
#: earlier clicks within the dead time that the fixed point's direct update looks at
_WINDOW = 8
#: sorted keys read at once by the guided search of `_first_places`
_BLOCK = 16


def _gap(s: jax.Array, t: jax.Array, j: jax.Array, period: jax.Array) -> jax.Array:
    """Time of each click i minus that of click j[i] (same chunk), without absolute times."""
    return (s - s[j]).astype(t.dtype) * period + (t - t[j])


def _shift(x, k: int, fill):
    """x moved k places later: out[i] = x[i - k], fill for i < k."""
    return jnp.concatenate([jnp.full((k,), fill, x.dtype), x[:-k]])


def _fixed_point(s, t, ok, dead, period, max_iterations):
    """Iterate r <- f(r) from r = ok; returns (r, iterations, converged).

    f(r)_i = ok_i and no registered click j < i lies within dead before i (only the latest
    can: registered clicks are >= dead apart). Where every click has fewer than
    `_WINDOW` earlier clicks within dead (sparse clicks: at one photon per shot and a
    dead time of 1.6 periods, one or two), f reads those few neighbours directly, one
    fused pass per iteration; otherwise it finds the latest registered click by a
    prefix maximum over the chunk. The same f either way, so the same iterations.
    """
    m = s.shape[0]
    index = jnp.arange(m, dtype=jnp.int32)
    first = jnp.full((1,), -1, jnp.int32)
    k_max = min(_WINDOW, m - 1)
    # near[k - 1]: clicks i and i - k are valid, i - k within dead before i (sorted:
    # nested in k)
    near = [
        ok & _shift(ok, k, False) & ((s - _shift(s, k, 0)).astype(t.dtype) * period
                                + (t - _shift(t, k, 0.0)) < dead)
        for k in range(1, k_max + 1)
    ]  # fmt: skip
    local = ~jnp.any(near[-1]) if near else jnp.array(True)

    def update_local(r):
        blocked = jnp.zeros_like(ok)
        for k, near_k in enumerate(near, start=1):
            blocked = blocked | (near_k & _shift(r, k, False))
        return ok & ~blocked

    def update_scan(r):
        latest = scan.cummax(jnp.where(r, index, -1))
        before = jnp.concatenate([first, latest[:-1]])  # exclusive: latest j < i
        gap = _gap(s, t, jnp.maximum(before, 0), period)
        return ok & ((before < 0) | (gap >= dead))

    def iterate(update):
        def cond(carry):
            _, changed, n = carry
            return changed & (n < max_iterations)

        def body(carry):
            r, _, n = carry
            r_new = update(r)
            return r_new, jnp.any(r_new != r), n + 1

        # Initial flags derived from `ok`, so that they vary across devices like the
        # data (a loop carry inside shard_map must).
        n0 = jnp.sum(ok, dtype=jnp.int32) * 0
        r, changed, n = lax.while_loop(cond, body, (ok, n0 == 0, n0))
        return r, n, ~changed

    return lax.cond(local, lambda: iterate(update_local), lambda: iterate(update_scan))


def _pointer_doubling(s, t, ok, dead, period):
    """Registered clicks as the orbit of the first click under next(); O(M log M)."""
    m = s.shape[0]
    rounds = max(1, math.ceil(math.log2(m + 1)))
    index = jnp.arange(m, dtype=jnp.int32)

    # next(i): first j > i with time_j - time_i >= dead, m if none, by bisection.
    # Invariant: lo is "near" (lo = i at first: gap 0 < dead), hi is "far" (m, an
    # invalid sentinel, or a gap >= dead); sorted order makes "far" monotone in j.
    def bisect(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) // 2
        active = hi - lo > 1
        mid_c = jnp.minimum(mid, m - 1)
        far = ~ok[mid_c] | (-_gap(s, t, mid_c, period) >= dead)
        return jnp.where(active & ~far, mid, lo), jnp.where(active & far, mid, hi)

    zero = jnp.sum(ok, dtype=jnp.int32) * 0  # device-varying, as a loop carry must be
    _, nxt = lax.fori_loop(0, rounds, bisect, (index + zero, jnp.full((m,), m, jnp.int32) + zero))
    jump = jnp.where(ok, nxt, m)

    # After round r every click within 2^r steps of the first one is marked.
    def double(_, carry):
        marked, jump = carry
        marked = marked.at[jump].max(marked, mode="drop")
        jump = jnp.concatenate([jump, jnp.full((1,), m, jnp.int32)])[jump]
        return marked, jump

    marked, _ = lax.fori_loop(0, rounds, double, ((index == 0) & ok, jump))
    return marked & ok


def _multi_operand_sort(s_key, t_key, pos):
    return lax.sort((s_key, t_key, pos), num_keys=2, is_stable=True)


def _chronological(s_key, t_key, ok, pos, period):
    """`_multi_operand_sort` without its cost: the same permutation, exactly.

    XLA's CPU sort is ~10x faster on one uint32 array than on several operands (2^16
    entries: 3.5 against 44 ms, 2 cores). So each click gets one uint32 key, its period
    bucket (shot + floor(t / period), less the chunk's first) in the high bits and t
    mod period quantised in the low ones (as many as the bucket range leaves: 13 bits,
    1.5 ps at 12.5 ns, for 2^18-shot chunks); keys are sorted alone; each click finds
    its place by binary search (equal keys in input order, a few rounds of scatter-min
    on the rare ties); and odd-even transposition inside groups of equal keys puts
    clicks of one quantum in exact (shot, t) order. Distinct keys are already in time
    order, so the result is the stable sort by (shot key, t key). Invalid entries go
    last in input order, as the sentinel does. When the buckets do not fit 31 bits,
    or ties need more than `_ROUNDS` rounds or sweeps, the multi-operand sort is used.
    """
    m = s_key.shape[0]
    index = jnp.arange(m, dtype=jnp.int32)
    n_ok = jnp.sum(ok, dtype=jnp.int32)
    big = jnp.iinfo(jnp.int32).max
    lo = jnp.min(jnp.where(ok, s_key, big))
    hi = jnp.max(jnp.where(ok, s_key, -big))
    span = jnp.where(n_ok > 0, hi - lo, 0).astype(jnp.uint32) + 1  # buckets used, >= 1
    # bits for the bucket (span + 1 values: the largest key is kept for invalid entries)
    bucket_bits = 32 - lax.clz(span)
    frac_bits = 32 - bucket_bits
    fits = (hi - lo < (1 << 30)) & (frac_bits >= 1)
    frac_bits_c = jnp.maximum(frac_bits, 1).astype(jnp.uint32)
    bucket = jnp.where(ok, s_key - lo, 0).astype(jnp.uint32)
    scale = jnp.exp2(frac_bits_c.astype(t_key.dtype))
    frac = jnp.clip(jnp.floor(t_key / period * scale), 0.0, scale - 1.0).astype(jnp.uint32)
    key = jnp.where(ok, (bucket << frac_bits_c) | frac, jnp.uint32(0xFFFFFFFF))
    ordered = lax.sort(key)

    # Places: valid clicks at (number of smaller keys) + (rank among equal keys by
    # input order); invalid ones after every valid click, in input order.
    first = _first_places(ordered, key, ok)
    invalid_rank = scan.cumsum(~ok) - 1

    def place_cond(carry):
        _, unplaced, r = carry
        return jnp.any(unplaced) & (r < _ROUNDS)

    def place(carry):
        dest, unplaced, r = carry
        target = jnp.where(unplaced, first + r, m)
        claim = jnp.full((m + 1,), m, jnp.int32).at[target].min(jnp.where(unplaced, index, m))
        won = unplaced & (claim[jnp.minimum(target, m)] == index)
        return jnp.where(won, target, dest), unplaced & ~won, r + 1

    dest0 = jnp.where(ok, 0, n_ok + invalid_rank)
    dest, unplaced, _ = lax.while_loop(place_cond, place, (dest0, ok, n_ok * 0))
    perm = jnp.zeros((m,), jnp.int32).at[dest].set(index, mode="drop")
    s_p, t_p, pos_p, k_p = s_key[perm], t_key[perm], pos[perm], ordered

    # Odd-even transposition within groups of equal keys (stable: strict swaps only).
    def later(s, t):  # entry j later than entry j + 1
        s1, t1 = jnp.roll(s, -1), jnp.roll(t, -1)
        return (s > s1) | ((s == s1) & (t > t1))

    same = (k_p == jnp.roll(k_p, -1)) & (index < m - 1) & (k_p != jnp.uint32(0xFFFFFFFF))

    def sweep(carry):
        s, t, q, n, _ = carry
        swap = same & later(s, t) & ((index % 2) == (n % 2))
        right = jnp.roll(swap, 1)

        def move(x):
            return jnp.where(swap, jnp.roll(x, -1), jnp.where(right, jnp.roll(x, 1), x))

        return move(s), move(t), move(q), n + 1, jnp.any(same & later(s, t))

    def sweep_cond(carry):
        *_, n, dirty = carry
        return dirty & (n < _ROUNDS)

    dirty0 = jnp.any(same & later(s_p, t_p))
    s_p, t_p, pos_p, _, dirty = lax.while_loop(
        sweep_cond, sweep, (s_p, t_p, pos_p, n_ok * 0, dirty0)
    )
    good = fits & ~jnp.any(unplaced) & ~dirty
    return lax.cond(
        good,
        lambda: (s_p, t_p, pos_p),
        lambda: _multi_operand_sort(s_key, t_key, pos),
    )


def _first_places(ordered, key, ok):
    """searchsorted(ordered, key, side="left") where ok: the number of smaller valid keys.

    ordered: the sorted keys, the valid ones first. A guide over the top bits of the
    key, G >= 2 m cells (at most 2^20), counts the valid keys of each cell (a scatter-add
    and a prefix sum); a key's place is the start of its cell plus the keys of its cell
    below it, counted in one read of `_BLOCK` sorted keys from that start
    (`gather.blocks`). Clicks spread over the chunk's shots fill a cell with about
    one; a cell with more than `_BLOCK` (clicks crowded in time) falls back to
    bisection over all keys. Same integers either way.
    """
    m = key.shape[0]
    g_bits = max(1, min(20, (2 * m - 1).bit_length()))
    cell = (key >> jnp.uint32(32 - g_bits)).astype(jnp.int32)
    counts = jnp.zeros(((1 << g_bits) + 1,), jnp.int32).at[cell + 1].add(ok.astype(jnp.int32))
    start = scan.cumsum(counts)  # start[c]: valid keys in the cells before c
    bounds = gather.blocks(start, cell, 2)
    lo, n_in = bounds[:, 0], bounds[:, 1] - bounds[:, 0]
    padded = jnp.concatenate([ordered, jnp.full((_BLOCK - 1,), 0xFFFFFFFF, ordered.dtype)])
    block = gather.blocks(padded, lo, _BLOCK)
    below = (jnp.arange(_BLOCK) < n_in[:, None]) & (block < key[:, None])
    first = lo + jnp.sum(below, axis=1, dtype=jnp.int32)
    crowded = jnp.any(ok & (n_in > _BLOCK))
    return lax.cond(crowded, lambda: _bisection(ordered, key), lambda: first)


def _bisection(ordered, key):
    # unrolled: a loop of log2(m) steps costs 3x more on CPU (a thunk per step)
    found = jnp.searchsorted(ordered, key, side="left", method="scan_unrolled")
    return found.astype(jnp.int32)


def _solve(shot, t, ok, pos, dead, period, n_out, max_iterations):
    """Sort one set of candidates, solve, scatter back to positions `pos` (n_out = drop)."""
    shift = jnp.floor(t / period)
    s_key = jnp.where(ok, shot + shift.astype(jnp.int32), _SENTINEL_SHOT)
    t_key = jnp.where(ok, t - shift * period, 0.0)
    s_key, t_key, pos = _chronological(s_key, t_key, ok, pos, period)
    ok = pos < n_out
    r, n, converged = _fixed_point(s_key, t_key, ok, dead, period, max_iterations)
    r = lax.cond(converged, lambda: r, lambda: _pointer_doubling(s_key, t_key, ok, dead, period))
    out = jnp.zeros((n_out,), bool).at[pos].set(r, mode="drop")
    return out, n, ~converged


def registered_clicks_with_info(
    shot: ArrayLike,
    t_ns: ArrayLike,
    valid: ArrayLike,
    dead_time_ns: ArrayLike,
    period_ns: ArrayLike,
    capacity: int,
    max_iterations: int = _DEFAULT_MAX_ITERATIONS,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """`registered_clicks`, plus how it was solved.

    Returns (registered, info) with info = {"iterations": int32 fixed-point iterations
    (0 when dead_time_ns <= 0), "overflow": bool, more valid clicks than capacity (all
    N entries were sorted), "doubling": bool, the iteration cap was reached and pointer
    doubling finished the job}. max_iterations (static) >= 1 caps the fixed-point loop.
    """
    shot = jnp.asarray(shot, jnp.int32)
    t_ns = jnp.asarray(t_ns)
    if not jnp.issubdtype(t_ns.dtype, jnp.floating):
        t_ns = t_ns.astype(jnp.float32)
    # a time that is not finite cannot be ordered: it is no click (and would spoil a sort)
    valid = jnp.asarray(valid, bool) & jnp.isfinite(t_ns)
    t_ns = jnp.where(valid, t_ns, 0.0)
    dead = jnp.asarray(dead_time_ns, t_ns.dtype)
    period = jnp.asarray(period_ns, t_ns.dtype)
    (n,) = valid.shape
    capacity = int(capacity)
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1 click, got {capacity}")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations}")
    n_valid = jnp.sum(valid, dtype=jnp.int32)

    def compact():
        where = scan.nonzero(valid, capacity, fill_value=n)
        ok = where < n
        return _solve(
            jnp.take(shot, where, mode="clip"),
            jnp.take(t_ns, where, mode="clip"),
            ok,
            where.astype(jnp.int32),
            dead,
            period,
            n,
            max_iterations,
        )

    def everything():
        pos = jnp.where(valid, jnp.arange(n, dtype=jnp.int32), n)
        return _solve(shot, t_ns, valid, pos, dead, period, n, max_iterations)

    def solve():
        return lax.cond(n_valid <= capacity, compact, everything)

    def all_valid():
        zero = jnp.sum(valid, dtype=jnp.int32) * 0  # varies like the other branch
        return valid, zero, zero != 0

    registered, iterations, doubling = lax.cond(dead > 0, solve, all_valid)
    info = {
        "iterations": iterations,
        "overflow": n_valid > capacity,
        "doubling": doubling,
    }
    return registered, info


def registered_clicks(
    shot: ArrayLike,
    t_ns: ArrayLike,
    valid: ArrayLike,
    dead_time_ns: ArrayLike,
    period_ns: ArrayLike,
    capacity: int,
) -> jax.Array:
    """Valid clicks that a non-paralysable detector registers, within one chunk.

    shot: int32 (N,), shot index of each candidate within the chunk (0..C-1).
    t_ns: float (N,), click time from that shot's sync, ns; may be negative or beyond
        the period.
    valid: bool (N,), whether the candidate is a click at all (usually sparse).
    dead_time_ns: scalar >= 0; period_ns: scalar > 0, the shot period T_rep.
    capacity: static int, how many valid clicks the fast path holds; with more, the
        same algorithm runs on all N entries (correct, slower).
    Returns bool (N,): registered (always False where not valid). Clicks at equal
    times are taken in input order; clicks closer than float rounding may be ordered
    either way. Jit with capacity static; N is the only other static size.
    """
    return registered_clicks_with_info(shot, t_ns, valid, dead_time_ns, period_ns, capacity)[0]
