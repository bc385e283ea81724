"""The optical-depth bound of a Lambda/ladder memory (Gorshkov et al. 2007; ORCA_MODEL.md 4.4).

For complete retrieval in the forward direction from a spin wave b(x) (x = distance from the
exit in units of L, int |b|^2 dx = 1), the retrieved fraction is eta_r = <b|k_r|b> with

    k_r(x, x') = (d/2) exp(-d (x + x')/2) I0(d sqrt(x x')),

independent of the control and of the detuning; d = d_G (resonant intensity transmission
exp(-2 d)). eta_r,max(d) is the top eigenvalue of k_r. Quadrature: Gauss-Legendre on [0, 1],
symmetric eigenproblem of sqrt(w) k sqrt(w); the exponentials are folded into i0e,
exp(-d (x + x')/2) I0(d sqrt(x x')) = i0e(d sqrt(x x')) exp(-d (sqrt x - sqrt x')^2 / 2),
so nothing overflows at large d.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import i0e


def retrieval_kernel(d, x, xp):
    """k_r(x, x') (broadcasting)."""
    r = jnp.sqrt(x * xp)
    return 0.5 * d * i0e(d * r) * jnp.exp(-0.5 * d * (jnp.sqrt(x) - jnp.sqrt(xp)) ** 2)


def _nodes(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return jnp.asarray(0.5 * (x + 1.0)), jnp.asarray(0.5 * w)


def retrieval_matrix(d, n: int = 128):
    """(x nodes, weights, symmetric matrix sqrt(w_i) k_r(x_i, x_j) sqrt(w_j))."""
    x, w = _nodes(n)
    s = jnp.sqrt(w)
    return x, w, s[:, None] * retrieval_kernel(d, x[:, None], x[None, :]) * s[None, :]


def max_retrieval_efficiency(d, n: int = 128):
    """eta_r,max(d): the largest eigenvalue of k_r (the optimal spin wave's retrieval)."""
    _, _, m = retrieval_matrix(d, n)
    return jnp.linalg.eigvalsh(m)[-1]


def retrieval_efficiency(d, b, n: int = 128):
    """<b|k_r|b> for a spin-wave function b(x) (vectorised callable), normalised here."""
    x, w, m = retrieval_matrix(d, n)
    v = jnp.sqrt(w) * b(x)
    return jnp.real(jnp.vdot(v, m @ v)) / jnp.real(jnp.vdot(v, v))
