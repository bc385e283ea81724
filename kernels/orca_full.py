"""Tier C of the ORCA memory: the full three-level equations, standard ladder (ORCA_MODEL 1.2).

Per velocity class, with P_v = sqrt(rho) p_v and B_v = sqrt(rho) b_v (rho, frames, grids,
units and time references as in `orca_adiabatic`):

    dS/dtau   = i G sum_v w_v P_v                          (along the characteristic)
    dP_v/dtau = -Gamma2(v) P_v + i G S + (i/2) Omega^* B_v  (at fixed z)
    dB_v/dtau = -Gamma3(v) B_v + (i/2) Omega P_v

Scheme: the characteristic grid of Tier B with the polarisation added to each node's local
block. The fast diagonal -Gamma2 (rotation at Delta) is integrated exactly: P' = E P + (phi1 -
phi2) d_n + phi2 d_n+1 with E = exp(-Gamma2 dtau), phi1 = (1 - E) / Gamma2, phi2 = dtau
(x - 1 + e^-x) / x^2 at x = Gamma2 dtau (exponential time differencing with the drive d
linear over the step), so dtau need not resolve 1/Delta; S and B take the trapezoid rule.
The control is piecewise constant at its interval mean (square edges through the covered
fraction). Each node then solves a (1 + 2 Nv) system, eliminated class by class.

Validity: second order in dtau where the drive of P is smooth on the step; dtau must resolve
the control's Rabi frequency (|Omega| dtau <~ 0.3) and the transients of P, not Delta.
Only the standard ladder (signal on 1-2); the inverted scheme's full form is not built.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from .orca_adiabatic import (
    C_M_PER_NS,
    Config,
    Control,
    Medium,
    _exit_nodes,
    _pad_input,
    control_interval_means,
    decay_rates,
    rho,
    spin_weights,
    steps,
    time_step,
    time_weights,
)


class _Coefs(NamedTuple):
    e: object  # (nv,) exp(-Gamma2 dtau)
    phi1: object
    phi2: object
    gam3: object  # (nv,)
    om: object  # (n, 1, nzc) mean Omega of the step (per node when co-propagating)


def _phi2(x, dt):
    small = jnp.abs(x) < 1e-2
    xs = jnp.where(small, 1.0, x)
    series = 0.5 - x / 6.0 + x**2 / 24.0
    return dt * jnp.where(small, series, (xs - 1.0 + jnp.exp(-xs)) / xs**2)


def _coefficients(cfg: Config, medium: Medium, control: Control):
    if cfg.inverted:
        raise NotImplementedError("the full tier covers the standard ladder only")
    n_steps = steps(cfg)
    dt = time_step(cfg, medium)
    half = 0.5 * cfg.nt * dt
    gam2, gam3, _ = decay_rates(medium, cfg.nv)
    shift = cfg.nz - 1 if cfg.geometry == "co" else 0
    idx = jnp.arange(-shift, n_steps + 1)
    edges = -half + dt * jnp.concatenate([idx, idx[-1:] + 1]).astype(jnp.result_type(dt))
    om, _ = control_interval_means(cfg.shape, control, edges)
    x = gam2 * dt
    e = jnp.exp(-x)
    phi1 = dt * jnp.where(
        jnp.abs(x) < 1e-2, 1.0 - x / 2 + x**2 / 6, (1 - e) / jnp.where(jnp.abs(x) < 1e-2, 1.0, x)
    )
    phi2 = _phi2(x, dt)
    if cfg.geometry == "counter":
        om_n = om[:n_steps][:, None, None]
    else:
        k = jnp.arange(cfg.nz)
        n = jnp.arange(n_steps)[:, None]
        om_n = om[n - k + shift][:, None, :]
    return _Coefs(e, phi1, phi2, gam3, om_n)


def _propagate(cfg: Config, medium: Medium, coefs: _Coefs, s_in, p0, b0):
    dt = time_step(cfg, medium)
    h = 0.5 * dt
    g_big = jnp.sqrt(rho(cfg) * medium.kappa2 / (2.0 * C_M_PER_NS))
    _, _, w = decay_rates(medium, cfg.nv)
    e = coefs.e[:, None]
    phi1 = coefs.phi1[:, None]
    phi2 = coefs.phi2[:, None]
    gam3 = coefs.gam3[:, None]
    ig = 1j * g_big
    w_ = w[:, None]

    @jax.checkpoint
    def step(carry, xs):
        s, p, b = carry  # (M, nz), (M, nv, nz), (M, nv, nz)
        om, sin0, sin1 = xs  # (1, nzc)
        q = 0.5j * om
        r = 0.5j * jnp.conj(om)
        d_n = ig * s[:, None, :] + r * b
        p0_ = e * p + (phi1 - phi2) * d_n
        den_b = 1.0 + h * gam3 - h * q * phi2 * r
        bu = ((1.0 - h * gam3) * b + h * q * (p0_ + p)) / den_b
        bs = h * q * phi2 * ig / den_b
        pu = p0_ + phi2 * r * bu
        ps = phi2 * r * bs + phi2 * ig
        s_left = jnp.concatenate([sin0[:, None], s[:, :-1]], axis=1)
        p_left = jnp.concatenate([p[:, :, :1], p[:, :, :-1]], axis=2)
        num = s_left + h * ig * jnp.sum(w_ * (pu + p_left), axis=1)
        s_new = num / (1.0 - h * ig * jnp.sum(w_ * ps, axis=0))
        s_new = s_new.at[:, 0].set(sin1)
        p_new = pu + ps * s_new[:, None, :]
        b_new = bu + bs * s_new[:, None, :]
        return (s_new, p_new, b_new), s_new[:, -1]

    m = s_in.shape[1]
    s0 = jnp.zeros((m, cfg.nz), b0.dtype).at[:, 0].set(s_in[0])
    xs = (coefs.om, s_in[:-1], s_in[1:])
    (_, p_end, b_end), s_exit = jax.lax.scan(step, (s0, p0, b0), xs)
    return jnp.concatenate([s0[None, :, -1], s_exit], axis=0), p_end, b_end


@partial(jax.jit, static_argnums=0)
def write(cfg: Config, medium: Medium, control: Control, s_in):
    """As `orca_adiabatic.write`; returns (transmitted, P (M, nv, nz), B (M, nv, nz))."""
    s_in = jnp.asarray(s_in)
    dtype = jnp.result_type(s_in, medium.kappa2, 1j)
    z = jnp.zeros((s_in.shape[1], cfg.nv, cfg.nz), dtype)
    s_exit, p, b = _propagate(
        cfg, medium, _coefficients(cfg, medium, control), _pad_input(cfg, s_in.astype(dtype)), z, z
    )
    return _exit_nodes(cfg, s_exit), p, b


@partial(jax.jit, static_argnums=0)
def read(cfg: Config, medium: Medium, control: Control, b0, p0=None):
    """Read from spin waves b0 (M, nv, nz); returns (output (nt + 1, M), P end, B end)."""
    b0 = jnp.asarray(b0)
    dtype = jnp.result_type(b0, medium.kappa2, 1j)
    p0 = jnp.zeros(b0.shape, dtype) if p0 is None else jnp.asarray(p0, dtype)
    s_in = jnp.zeros((steps(cfg) + 1, b0.shape[0]), dtype)
    s_exit, p, b = _propagate(
        cfg, medium, _coefficients(cfg, medium, control), s_in, p0, b0.astype(dtype)
    )
    return _exit_nodes(cfg, s_exit), p, b


@partial(jax.jit, static_argnums=0)
def total_kernel(cfg: Config, medium: Medium, write_control, read_control, storage):
    """K~ = K~_r D K~_w (nt + 1, nt + 1) of the full equations (P is left to decay between)."""
    wt = time_weights(cfg, medium)
    dtype = jnp.result_type(medium.kappa2, 1j)
    _, _, b = write(cfg, medium, write_control, jnp.diag(1.0 / jnp.sqrt(wt)).astype(dtype))
    out, _, _ = read(cfg, medium, read_control, b * storage[None, :, None])
    return out * jnp.sqrt(wt)[:, None]


__all__ = ["write", "read", "total_kernel", "spin_weights"]
