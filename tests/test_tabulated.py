"""Tests of photonmc.kernels.tabulated against exact laws (EXP, EMG) and its own inverse."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from photonmc.kernels import bin_integrals, tabulated


def _exp_table(tau, n=2049, span=30.0, left=0.0, dtype=jnp.float64):
    """Exponential law of lifetime tau tabulated on [-left, span tau] (0 on a node)."""

    def density(t):
        return jnp.where(t >= 0.0, jnp.exp(-jnp.maximum(t, 0.0) / tau) / tau, 0.0)

    if left:
        # A static number of cells left of the jump, so that 0 stays on a node when tau
        # is traced: n_left cells of h cover at least `left` ns.
        n_left = int(np.ceil((n - 1) * left / (left + span * 0.3)))
        h = span * tau / (n - 1 - n_left)
        t0 = -n_left * h
        # h times exact half-integers: the node at the jump is exactly 0 under any fusion.
        x = jnp.arange(2 * n - 1, dtype=dtype) * 0.5 - n_left
        f = density(h * x)
        nodes = f[0::2]
        # The jump at 0: left limit at the node, right limit at the start of its cell.
        start = nodes[:-1]
        nodes = nodes.at[n_left].set(0.0)
        return tabulated.cdf_from_density(nodes, f[1::2], h, start), t0 + 0.0 * tau, h
    return tabulated.table_from_density(
        density, jnp.asarray(0.0, dtype), jnp.asarray(span * tau, dtype), n
    )


def test_simpson_table_matches_exponential_cdf():
    with jax.enable_x64(True):
        tau = 0.6
        cdf, t0, h = _exp_table(tau)
        x = np.linspace(0.0, 10.0, 101)
        got = np.asarray(tabulated.cdf_at(cdf, t0, h, x))
        # Between nodes the linear interpolation errs by <= h^2 max|f'| / 8.
        bound = float(h) ** 2 / tau**2 / 8.0 + 1e-12
        np.testing.assert_allclose(got, -np.expm1(-x / tau), atol=bound)
        nodes = float(t0) + float(h) * np.arange(cdf.shape[-1])
        # At nodes, Simpson: h^4 / 2880 |f''''| per cell, summed.
        np.testing.assert_allclose(np.asarray(cdf), -np.expm1(-nodes / tau), atol=1e-10)


def test_sample_inverts_the_table_and_follows_the_law():
    with jax.enable_x64(True):
        tau = 0.6
        cdf, t0, h = _exp_table(tau)
        u = jax.random.uniform(jax.random.key(3), (20000,), jnp.float64)
        t = tabulated.sample(cdf, t0, h, u)
        back = tabulated.cdf_at(cdf, t0, h, t[None])[0]
        np.testing.assert_allclose(np.asarray(back), np.asarray(u) * float(cdf[-1]), atol=1e-12)
        ks = stats.kstest(np.asarray(t), "expon", args=(0.0, tau))
        assert ks.pvalue > 1e-3


def test_sample_broadcasts_over_tables():
    with jax.enable_x64(True):
        taus = jnp.array([0.3, 1.0, 2.0])
        cdfs, t0s, hs = jax.vmap(lambda tau: _exp_table(tau, n=1025))(taus)
        u = jax.random.uniform(jax.random.key(1), (3, 4000), jnp.float64)
        t = np.asarray(tabulated.sample(cdfs, t0s, hs, u))
        for row, tau in zip(t, np.asarray(taus), strict=True):
            assert stats.kstest(row, "expon", args=(0.0, tau)).pvalue > 1e-3


@pytest.mark.parametrize("sigma", [0.0, 0.01, 0.05, 0.3])
def test_jittered_bins_match_the_emg(sigma):
    with jax.enable_x64(True):
        tau = 0.6
        cdf, t0, h = _exp_table(tau, n=2049, left=1.0)
        edges = np.linspace(-0.5, 8.0, 426)
        got = np.asarray(tabulated.bin_probs(cdf, t0, h, edges, sigma, shift=0.25))
        want = np.asarray(bin_integrals.emg_bin_probs(edges, 0.25, tau, sigma))
        # Module docstring: h^2 |f'| / 8 per edge from the piecewise-constant density, and
        # J h^4 / (384 sigma^3) next to the jump J = 1 / tau (interpolation); twice per bin.
        hh = float(h)
        atol = 2.0 * (hh**2 / tau**2 / 8.0 + (hh**4 / (384.0 * sigma**3) if sigma else 0.0))
        np.testing.assert_allclose(got, want, atol=atol)
        np.testing.assert_allclose(got.sum(), want.sum(), atol=1e-6)


def test_bin_probs_padding_gives_room_for_the_jitter():
    with jax.enable_x64(True):
        tau, sigma = 0.6, 0.2
        cdf, t0, h = _exp_table(tau, n=2049)  # starts exactly at the jump
        edges = np.linspace(-1.5, 6.0, 751)
        want = np.asarray(bin_integrals.emg_bin_probs(edges, 0.0, tau, sigma))
        got = np.asarray(tabulated.bin_probs(cdf, t0, h, edges, sigma, pad_cells=200))
        np.testing.assert_allclose(got, want, atol=2e-6)


def test_bin_probs_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        edges = jnp.linspace(-0.5, 4.0, 46)

        def total_in_window(params):
            tau, sigma, shift = params
            cdf, t0, h = _exp_table(tau, n=1025, left=1.5)
            p = tabulated.bin_probs(cdf, t0, h, edges, sigma, shift=shift)
            return jnp.sum(p * jnp.arange(p.shape[-1]))

        x = jnp.array([0.6, 0.08, 0.2])
        g = np.asarray(jax.jit(jax.grad(total_in_window))(x))
        total_in_window = jax.jit(total_in_window)
        eps = 1e-5
        for i in range(3):
            dx = jnp.zeros(3).at[i].set(eps)
            fd = (total_in_window(x + dx) - total_in_window(x - dx)) / (2 * eps)
            np.testing.assert_allclose(g[i], float(fd), rtol=1e-4, atol=1e-8)


def test_float32_is_finite_and_close():
    cdf, t0, h = _exp_table(0.6, n=1025, left=1.0, dtype=jnp.float32)
    assert cdf.dtype == jnp.float32
    edges = np.linspace(-0.5, 5.0, 111).astype(np.float32)
    p = tabulated.bin_probs(cdf, t0, h, edges, np.float32(0.05))
    assert p.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(p)))
    want = np.asarray(bin_integrals.emg_bin_probs(edges, 0.0, 0.6, 0.05))
    hh = float(h)
    np.testing.assert_allclose(np.asarray(p), want, atol=2.0 * hh**2 / 0.6**2 / 8.0 + 1e-6)
    u = jax.random.uniform(jax.random.key(0), (1000,))
    t = tabulated.sample(cdf, t0, h, u)
    assert t.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(t)))


def test_guided_draws_invert_the_table():
    """`sample_guided` against the exact inverse of the piecewise-linear CDF (`sample`):
    the same times where the guide's bracket holds fewer than GUIDE_BLOCK cells; across
    a wider one (a gap of zero density between two guide points) the CDF at the drawn
    time still lies within the guide interval of u."""
    n, k = 2049, 4097
    t = np.linspace(0.0, 20.0, n)
    smooth = -np.expm1(-t / 1.3)
    # two bumps with nothing between them: the gap is hundreds of cells wide
    gap = np.where(t < 6.0, t / 6.0, np.where(t < 14.0, 1.0, 1.0 + (t - 14.0) / 6.0)) / 2.0
    rows = jnp.asarray(np.stack([smooth / smooth[-1], gap]), jnp.float32)
    guide = tabulated.guide_table(rows, k)
    h = np.float32(t[1] - t[0])
    m = 200_000
    row = jax.random.randint(jax.random.key(0), (m,), 0, 2)
    u = jax.random.uniform(jax.random.key(1), (m,), jnp.float32, 1e-7, 1.0 - 1e-7)
    zeros = jnp.zeros((m,), jnp.float32)
    draw = jax.jit(tabulated.sample_guided, static_argnums=(3, 4))
    got = np.asarray(draw(rows.reshape(-1), guide.reshape(-1), row, n, k, zeros, h, u))
    r, uu, c_rows = np.asarray(row), np.asarray(u), np.asarray(rows)
    exact = np.empty(m)
    for i in range(2):  # the exact inverse of each piecewise-linear CDF (`sample`)
        c_i, x = c_rows[i].astype(np.float64), uu[r == i]
        cell = np.clip(np.searchsorted(c_i, x, side="right") - 1, 0, n - 2)
        step = c_i[cell + 1] - c_i[cell]
        frac = np.where(step > 0, (x - c_i[cell]) / np.where(step > 0, step, 1.0), 0.0)
        exact[r == i] = h * (cell + np.clip(frac, 0.0, 1.0))
    # brackets of each draw, from the guide as the sampler reads it
    g = np.asarray(guide)
    v = np.log(uu.astype(np.float64)) - np.log1p(-uu.astype(np.float64))
    j = np.minimum(np.floor((v + 20.0) * (k - 1) / 40.0).astype(int), k - 2)
    width = np.minimum(g[r, j + 1] + 1, n - 1) - g[r, j]
    narrow = width < tabulated.GUIDE_BLOCK
    assert (~narrow).sum() > 100  # the wide case is exercised
    np.testing.assert_allclose(got[narrow], exact[narrow], atol=2e-6 * 20.0)
    # anywhere: the drawn time's CDF is within the guide interval that holds u
    c = np.select([r == 0, r == 1], [np.interp(got, h * np.arange(n), c_rows[i]) for i in range(2)])
    lo_u = 1.0 / (1.0 + np.exp(-(-20.0 + j * 40.0 / (k - 1))))
    hi_u = 1.0 / (1.0 + np.exp(-(-20.0 + (j + 1) * 40.0 / (k - 1))))
    assert np.all((c >= lo_u - 1e-6) & (c <= hi_u + 1e-6))
