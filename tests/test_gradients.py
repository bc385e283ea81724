"""Expected mode is differentiable: autodiff equals central finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import memory_link

import photonmc as pmc
from photonmc.observables import window_mask


def window_figures(link):
    """Retrieved counts and SNR in a fixed window, per shot, from expected counts."""
    counts, _, _ = pmc.expected_counts(link)
    mask = jnp.asarray(window_mask(link.tagger.bin_edges_ns, (1.0, 3.4)))
    c = jnp.sum(jnp.where(mask, counts, 0.0), axis=1)
    return c[1], c[1] / (c[2] + c[3])


def test_gradient_matches_central_differences():
    """d(figure)/d(parameter) for both figures and every parameter, one compiled Jacobian."""
    with jax.enable_x64(True):
        link = memory_link(dark=2e5)
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        f = jax.jit(lambda lk: jnp.stack(window_figures(lk)))
        jac = jax.jit(jax.jacrev(f))(link64)
        f0 = np.asarray(f(link64))
        checked = 0
        for name in link.parameter_names():
            x = float(link.get(name))
            g = np.asarray(jac.get(name))
            h = 1e-5 * max(abs(x), 1.0)

            def at(v, name=name):
                return np.asarray(f(link64.set(name, jnp.asarray(v, jnp.float64))))

            try:
                fd = (at(x + h) - at(x - h)) / (2 * h)
            except ValueError:  # x sits on the lower end of its range: one-sided, 2nd order
                fd = (-3 * at(x) + 4 * at(x + h) - at(x + 2 * h)) / (2 * h)
            assert np.all(np.isfinite(g)), name
            for i in range(2):
                if max(abs(fd[i]), abs(g[i])) < 1e-9 * abs(f0[i]):
                    continue  # no dependence (e.g. group index, pure dephasing)
                assert g[i] == pytest.approx(fd[i], rel=1e-3), (name, i)
                checked += 1
        assert checked >= 20
