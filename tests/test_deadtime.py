"""Tests of kernels/deadtime.py: non-paralysable dead time on the clicks of one chunk.

Every case is checked against a plain sequential reference (`reference`), in exact
arithmetic: times are on a 2^-10 ns grid and the period is 12.5 ns, so that float64
holds every absolute time exactly and the kernel's float32 differences of times within
a few periods are exact too. Compilations are shared (N = 4096 padded inputs) to keep
the file fast.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from photonmc.kernels.deadtime import registered_clicks, registered_clicks_with_info

PERIOD_NS = 12.5
N = 4096
GRID_NS = 2.0**-10  # ~1 ps

_solve = jax.jit(registered_clicks_with_info, static_argnames=("capacity", "max_iterations"))


def reference(shot, t_ns, valid, dead_time_ns, period_ns):
    """Sequential non-paralysable dead time: visit clicks in time order (ties by index)."""
    clicks = [i for i in range(len(shot)) if valid[i]]
    clicks.sort(key=lambda i: (int(shot[i]) * float(period_ns) + float(t_ns[i]), i))
    out = np.zeros(len(shot), bool)
    last = None
    for i in clicks:
        time = int(shot[i]) * float(period_ns) + float(t_ns[i])
        if dead_time_ns <= 0 or last is None or time - last >= dead_time_ns:
            out[i] = True
            last = time
    return out


def pad(shot, t_ns, valid, n=N):
    """Pad to n candidates with invalid entries (garbage times), to reuse a compilation."""
    k = len(shot)
    shot_p = np.zeros(n, np.int32)
    t_p = np.full(n, np.nan, np.float32)  # invalid entries are never read as times
    valid_p = np.zeros(n, bool)
    shot_p[:k], t_p[:k], valid_p[:k] = shot, t_ns, valid
    return shot_p, t_p, valid_p


def random_clicks(rng, n, n_shots, p_valid, t_lo, t_hi):
    shot = np.sort(rng.integers(0, n_shots, n)).astype(np.int32)
    # Unsorted input order: the kernel must not rely on it.
    order = rng.permutation(n)
    t = np.round(rng.uniform(t_lo, t_hi, n) / GRID_NS) * GRID_NS
    valid = rng.random(n) < p_valid
    return shot[order], t[order].astype(np.float32), valid


@pytest.mark.parametrize(
    "seed, n_shots, p_valid, t_range, dead, capacity",
    [
        (0, 2000, 0.05, (0.0, 12.5), 50.0, 1024),  # sparse
        (1, 4096, 0.2, (0.0, 12.5), 40.0, 1024),  # sparse-ish, runs of a few clicks
        (2, 1500, 0.5, (-30.0, 45.0), 37.5, 4096),  # dense, t outside [0, period)
        (3, 300, 0.9, (0.0, 12.5), 12.5, 4096),  # many clicks per shot, ties in time
        (4, 4096, 0.2, (-5.0, 20.0), 3.0, 1024),  # dead time shorter than the period
    ],
)
def test_matches_sequential_reference(seed, n_shots, p_valid, t_range, dead, capacity):
    rng = np.random.default_rng(seed)
    shot, t, valid = random_clicks(rng, N, n_shots, p_valid, *t_range)
    if seed == 3:  # force exact ties in time within shots
        t = (np.round(t / 2.0) * 2.0).astype(np.float32)
    registered, info = _solve(shot, t, valid, dead, PERIOD_NS, capacity=capacity)
    np.testing.assert_array_equal(
        np.asarray(registered), reference(shot, t, valid, dead, PERIOD_NS)
    )
    assert not bool(info["overflow"])


def test_boundary_ties_and_representation():
    # (shot, t): a click exactly dead after a registered one is registered; 1 grid step
    # (~1 ps) less is not; equal times go by input position; (0, 12.5) and (1, 0.0)
    # are the same absolute time.
    dead = 20.0
    cases = [  # ((shot, t_ns), registered); absolute time = 12.5 shot + t
        ((0, 1.0), True),  # at 1.0, the first click
        ((1, 8.5), True),  # at 21.0: exactly dead after -> registered
        ((1, 8.5), False),  # at 21.0 again: equal time, later in the input -> blocked
        ((3, 3.5 - GRID_NS), False),  # 20 ns - 1 step after 21.0 -> blocked
        ((5, 0.0), True),  # at 62.5
        ((4, 12.5), False),  # also at 62.5 (t = period), later in the input -> blocked
        ((6, 7.5 - GRID_NS), False),  # 1 step short of 82.5 -> blocked
        ((6, 7.5), True),  # at 82.5, exactly dead after 62.5
        ((5, 40.0), True),  # at 102.5 (t > 3 periods), exactly dead after 82.5
    ]
    shot = np.array([c[0][0] for c in cases], np.int32)
    t = np.array([c[0][1] for c in cases], np.float32)
    valid = np.ones(len(cases), bool)
    expected = np.array([c[1] for c in cases])
    np.testing.assert_array_equal(reference(shot, t, valid, dead, PERIOD_NS), expected)
    registered, _ = _solve(*pad(shot, t, valid), dead, PERIOD_NS, capacity=1024)
    np.testing.assert_array_equal(np.asarray(registered)[: len(cases)], expected)
    assert not np.asarray(registered)[len(cases) :].any()


def test_overflowing_capacity_falls_back_to_all_entries():
    rng = np.random.default_rng(5)
    shot, t, valid = random_clicks(rng, N, 3000, 0.3, -10.0, 30.0)
    registered, info = _solve(shot, t, valid, 30.0, PERIOD_NS, capacity=1024)
    assert valid.sum() > 1024 and bool(info["overflow"])
    np.testing.assert_array_equal(
        np.asarray(registered), reference(shot, t, valid, 30.0, PERIOD_NS)
    )


def test_long_runs_finish_by_pointer_doubling():
    # A click in every shot and dead = 3.5 periods: one run of 4096 clicks, which the
    # fixed point would need 2 x 1024 iterations for; the cap hands over to doubling.
    shot = np.arange(N, dtype=np.int32)
    t = np.full(N, 2.0, np.float32)
    valid = np.ones(N, bool)
    expected = reference(shot, t, valid, 3.5 * PERIOD_NS, PERIOD_NS)
    assert expected.sum() == N // 4
    registered, info = _solve(shot, t, valid, 3.5 * PERIOD_NS, PERIOD_NS, capacity=4096)
    assert bool(info["doubling"])
    np.testing.assert_array_equal(np.asarray(registered), expected)
    # Same answer from the fixed point alone, and its iteration count: 2 per
    # registered click in the run (the figure quoted in the module docstring).
    registered, info = _solve(
        shot, t, valid, 3.5 * PERIOD_NS, PERIOD_NS, capacity=4096, max_iterations=10**6
    )
    assert not bool(info["doubling"])
    np.testing.assert_array_equal(np.asarray(registered), expected)
    assert int(info["iterations"]) == 2 * (N // 4)


def test_dense_random_runs_via_doubling_match_reference():
    rng = np.random.default_rng(6)
    shot, t, valid = random_clicks(rng, N, 2000, 0.8, -20.0, 40.0)
    registered, info = _solve(shot, t, valid, 100.0, PERIOD_NS, capacity=4096)
    assert bool(info["doubling"])
    np.testing.assert_array_equal(
        np.asarray(registered), reference(shot, t, valid, 100.0, PERIOD_NS)
    )


@pytest.mark.parametrize("dead", [0.0, -1.0])
def test_zero_dead_time_registers_every_valid_click(dead):
    rng = np.random.default_rng(7)
    shot, t, valid = random_clicks(rng, N, 100, 0.5, 0.0, 1.0)
    t = np.zeros_like(t)  # all equal times within a shot
    registered, info = _solve(shot, t, valid, dead, PERIOD_NS, capacity=1024)
    np.testing.assert_array_equal(np.asarray(registered), valid)
    assert int(info["iterations"]) == 0


def test_all_invalid():
    shot = np.arange(N, dtype=np.int32)
    t = np.full(N, np.nan, np.float32)
    registered, info = _solve(shot, t, np.zeros(N, bool), 50.0, PERIOD_NS, capacity=1024)
    assert not np.asarray(registered).any()
    assert int(info["iterations"]) == 1 and not bool(info["overflow"])


def test_long_chunk_keeps_picosecond_resolution():
    # Pairs of clicks in shots s and s + 1 near 2^18, 20 ns apart exactly (the second is
    # registered) or 1 grid step (~1 ps) less (blocked). Absolute float32 times there
    # have a 0.25 ns resolution and get many of these wrong; differences of (shot, t)
    # do not.
    rng = np.random.default_rng(8)
    n_pairs = N // 2
    first = np.sort(
        rng.choice(np.arange(2**18 - 4 * n_pairs, 2**18 - 1, 4), n_pairs, replace=False)
    )
    t_a = np.round(rng.uniform(0.0, 4.0, n_pairs) / GRID_NS) * GRID_NS
    short = rng.random(n_pairs) < 0.5
    t_b = t_a + 7.5 - np.where(short, GRID_NS, 0.0)
    shot = np.stack([first, first + 1], 1).ravel().astype(np.int32)
    t = np.stack([t_a, t_b], 1).ravel().astype(np.float32)
    valid = np.ones(N, bool)
    expected = reference(shot, t, valid, 20.0, PERIOD_NS)
    np.testing.assert_array_equal(expected[1::2], ~short)
    registered, _ = _solve(shot, t, valid, 20.0, PERIOD_NS, capacity=4096)
    np.testing.assert_array_equal(np.asarray(registered), expected)
    # The test has teeth: float32 absolute times disagree with the truth.
    absolute = shot.astype(np.float32) * np.float32(PERIOD_NS) + t
    naive_second = (absolute[1::2] - absolute[0::2]) >= np.float32(20.0)
    assert np.sum(naive_second != ~short) > n_pairs // 10


@pytest.mark.parametrize(
    "p, dead_periods, blocked",
    [
        (0.2, 3.5, 3),  # dead just above 3 periods: shots s+1..s+3 blocked
        (0.2, 3.0, 2),  # exactly 3 periods: the click 3 shots later is registered
        (0.05, 10.5, 10),
    ],
)
def test_pulsed_clicks_follow_closed_form(p, dead_periods, blocked):
    """Clicks with probability p per shot at a fixed time: rate p / (1 + K p).

    K = number of later shots m >= 1 with m * period < dead (= ceil(dead/period) - 1).
    After a registered click, K shots are dead, then the wait for the next click is
    geometric: cycles X = K + G, G ~ Geom(p) on {1, 2, ...}, mean mu = K + 1/p, variance
    (1 - p) / p^2. The renewal count over C shots has mean C / mu (+ at most 1 from the
    live start) and variance ~ C var(X) / mu^3. Tolerance: 5 sigma + 1.
    """
    assert blocked == math.ceil(dead_periods) - 1
    n_shots = 2**17
    key = jax.random.fold_in(jax.random.key(2024), blocked)
    valid = jax.random.bernoulli(key, p, (n_shots,))
    shot = jnp.arange(n_shots, dtype=jnp.int32)
    t = jnp.full((n_shots,), 3.0, jnp.float32)
    registered = jax.jit(registered_clicks, static_argnames="capacity")(
        shot, t, valid, dead_periods * PERIOD_NS, PERIOD_NS, capacity=2**15
    )
    count = int(registered.sum())
    mu = blocked + 1.0 / p
    sd = math.sqrt(n_shots * ((1.0 - p) / p**2) / mu**3)
    expected = n_shots * p / (1.0 + blocked * p)
    assert abs(count - expected) <= 5.0 * sd + 1.0, (count, expected, sd)


def test_one_compilation_serves_any_number_of_valid_clicks():
    traces = []

    def counted(shot, t, valid, dead, period):
        traces.append(None)
        return registered_clicks(shot, t, valid, dead, period, capacity=256)

    f = jax.jit(counted)
    rng = np.random.default_rng(9)
    n = 1024
    shot = np.sort(rng.integers(0, 2000, n)).astype(np.int32)
    t = (np.round(rng.uniform(0, 12.5, n) / GRID_NS) * GRID_NS).astype(np.float32)
    for p_valid, dead, period in [
        (0.01, 50.0, 12.5),
        (0.1, 20.0, 12.5),
        (0.6, 40.0, 10.0),
        (0.0, 50.0, 12.5),
        (0.3, 0.0, 12.5),
    ]:
        valid = rng.random(n) < p_valid  # 0.6: more than capacity, the other branch
        out = f(shot, t, valid, dead, period)
        np.testing.assert_array_equal(np.asarray(out), reference(shot, t, valid, dead, period))
    assert len(traces) == 1


def test_bad_capacity():
    with pytest.raises(ValueError, match="capacity"):
        registered_clicks(np.zeros(4, np.int32), np.zeros(4), np.ones(4, bool), 1.0, 12.5, 0)


@pytest.mark.parametrize(
    "n_shots, p_valid, t_range, grid",
    [
        (2000, 0.5, (-30.0, 45.0), GRID_NS),  # t outside [0, period): buckets shift
        (10, 0.9, (0.0, 12.5), 0.5),  # ~370 clicks per shot, many exact ties
        (2**18, 0.9, (-2.0, 10.0), 1e-6),  # a long chunk: 13 bits left for t mod period
    ],
)
def test_packed_key_order_is_the_stable_sort(monkeypatch, n_shots, p_valid, t_range, grid):
    from photonmc.kernels import deadtime

    rng = np.random.default_rng(11)
    shot = rng.integers(0, n_shots, N).astype(np.int32)
    t = (np.round(rng.uniform(*t_range, N) / grid) * grid).astype(np.float32)
    ok = rng.random(N) < p_valid
    shift = np.floor(t / PERIOD_NS)
    s_key = np.where(ok, shot + shift.astype(np.int32), np.iinfo(np.int32).max).astype(np.int32)
    t_key = np.where(ok, t - shift * PERIOD_NS, 0.0).astype(np.float32)
    pos = np.where(ok, np.arange(N), N).astype(np.int32)
    expected = jax.jit(deadtime._multi_operand_sort)(s_key, t_key, pos)
    # with the fallback made wrong, a right answer shows that the packed path was taken
    monkeypatch.setattr(deadtime, "_multi_operand_sort", lambda s, t, p: (s * 0, t * 0, p * 0))
    got = jax.jit(deadtime._chronological)(s_key, t_key, ok, pos, np.float32(PERIOD_NS))
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("window", [1, 2, 64])
def test_direct_and_prefix_updates_agree(monkeypatch, window):
    """The fixed point's update reads the few clicks within dead directly, or falls back
    to a prefix maximum over the chunk when a click has `_WINDOW` or more of them: the
    same clicks and the same number of iterations for any window."""
    from photonmc.kernels import deadtime

    rng = np.random.default_rng(11)
    shot, t, valid = random_clicks(rng, N, 2000, 0.4, 0.0, 12.5)
    dead = 30.0  # 2.4 periods: runs of a few clicks, some with 3+ within dead
    want = reference(shot, t, valid, dead, PERIOD_NS)
    base, base_info = registered_clicks_with_info(shot, t, valid, dead, PERIOD_NS, 1024)
    monkeypatch.setattr(deadtime, "_WINDOW", window)
    got, info = registered_clicks_with_info(shot, t, valid, dead, PERIOD_NS, 1024)
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(np.asarray(base), want)
    assert int(info["iterations"]) == int(base_info["iterations"]) >= 3


@pytest.mark.parametrize("crowded", [False, True])
def test_guided_places_are_the_bisection_places(monkeypatch, crowded):
    """A click's place among the sorted keys comes from a guide over the keys' top bits
    and one read of a few sorted keys; where a guide cell holds more keys than that read,
    bisection. Both give numpy's searchsorted (ties to the left), and spread keys never
    need the bisection."""
    from photonmc.kernels import deadtime

    rng = np.random.default_rng(5)
    m = 5000
    if crowded:  # a few hundred keys in each of a few cells, exact ties among them
        key = (rng.integers(0, 4, m).astype(np.uint32) << 30) | rng.integers(0, 64, m)
    else:
        key = rng.integers(0, 2**32 - 1, m, dtype=np.uint32)
    ok = rng.random(m) < 0.8
    key = np.where(ok, key, 0xFFFFFFFF).astype(np.uint32)
    ordered = np.sort(key)
    want = np.searchsorted(ordered, key, side="left")
    if not crowded:  # a wrong fallback: the guided path alone must give the places
        monkeypatch.setattr(deadtime, "_bisection", lambda o, k: jnp.zeros(k.shape, jnp.int32))
    # a fresh function: the patched bisection must not reach a cached compilation
    got = np.asarray(jax.jit(lambda *a: deadtime._first_places(*a))(ordered, key, ok))
    np.testing.assert_array_equal(got[ok], want[ok])
