"""The memory meets a partially coherent photon: mixed-state overlap and the write dip.

Units: times in ns, offsets in GHz. The input mode phi is real, unit norm, centred at
t_w, intensity FWHM `mode_fwhm_ns` (s = FWHM / (2 sqrt(2 ln 2))), at nu = 0, as in
`overlap`. An EXP photon (t_ref, T1, offset nu, pure-dephasing time T2*) has the
first-order coherence

    G1(t, t') = (1/T1) exp(-(t + t' - 2 t_ref)/(2 T1)) exp(-|t - t'|/T2*)
                exp(-i 2 pi nu (t - t')),   t, t' > t_ref,

which is exactly the Lorentzian mixture over carrier offsets nu + delta of pure
exponentials psi_delta, delta of HWHM 1/(2 pi T2*) GHz (module `_gauss_exp`).

Storage (`overlap_exp_mixed`): O = <phi|rho|phi> = int int phi G1 phi, the Lorentzian
average of the pure overlap `overlap.overlap_exp` over the carrier, by n_nodes (static,
default 128) Gauss-Legendre nodes in sinh-mapped offsets (`_gauss_exp.lorentz_average`).
dephasing_time_ns None is `overlap_exp` itself. Accuracy, measured in float64 against
scipy.integrate.quad of the Lorentzian average (itself checked against dblquad of the
two-time integral) on T1 in {0.1, 0.6, 3} ns, mode FWHM in {0.2, 1, 3} ns, T2* in
{0.05, 0.6, 3, 30} ns, t_w - t_ref in {0, 1} FWHM, nu in {0, +-1} GHz: worst 3.4e-7
absolute with 128 nodes (8.4e-5 with 64).
GAUSS wavepackets (retrieved photons) are pure: `overlap.overlap_gauss`.

Write dip (`dip_density_exp`): the write is a beam splitter on the mode phi, so the
unstored state is M rho M, M = 1 - r |phi><phi|, r = 1 - sqrt(1 - eta_w). For a pure
photon the unstored amplitude is psi - r <phi|psi> phi, and in general

    I(t) = G1(t, t) - 2 r phi(t) Re (G1 phi)(t) + r^2 O phi(t)^2,

with norm 1 - eta_w O exactly (2 r - r^2 = eta_w). Pure: closed form from the complex
overlap amplitude (`overlap_amplitude_exp`); dephased: its Lorentzian average, which
converges slowly because the cross term oscillates in the offset with period
1/(t - t_ref): measured against quadrature of the formula above (T1 = 0.6, T2* = 1 ns,
1 ns mode, eta_w = 0.5) 1.8e-4 absolute at 128 nodes, 8e-6 at 512 (density ~0.3); the
integrated table keeps the norm to 1e-8. A closed form of (G1 phi)(t) by half-line
Gaussian integrals would be exact and is the better route (not done yet). The
detection-time CDF is tabulated (`dip_table_exp`, `tabulated`; t_ref on a node, the
jump there resolved by left and right limits), and analog draws invert a per-photon
table with an exact exponential tail (`dip_sample_exp`). Note that the unstored light
starts before t_ref: the write removes a mode-shaped part, - r <phi|psi> phi, whose
square is there before the photon is.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _gauss_exp, tabulated
from .overlap import overlap_exp

__all__ = [
    "overlap_amplitude_exp",
    "overlap_exp_mixed",
    "mode_amplitude",
    "dip_density_exp",
    "dip_norm",
    "dip_table_exp",
    "dip_sample_exp",
]

_FWHM_PER_SIGMA = _gauss_exp.FWHM_PER_SIGMA
_FLOOR = 1e-9


def _arrays(*args):
    dtype = jnp.result_type(*args, 1.0)
    return jnp.broadcast_arrays(*[jnp.asarray(x, dtype) for x in args])


def _hwhm_ghz(dephasing_time_ns, dtype):
    return 0.5 / (np.pi * jnp.maximum(jnp.asarray(dephasing_time_ns, dtype), _FLOOR))


def _spectral_width_ghz(t1, s):
    """Scale (GHz) on which the pure overlap varies with the carrier."""
    return 1.0 / (2.0 * np.pi * jnp.minimum(s, 2.0 * t1))


def overlap_amplitude_exp(t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns):
    """(Re, Im) of <phi|psi> = int phi(t) psi(t) dt for an EXP photon (pure).

    = (2 pi)^(-1/4) sqrt(pi s / T1) A, A = exp(-delta^2) w(-kappa + i (a - delta)),
    a = s/(2 T1), delta = (t_w - t_ref)/(2 s), kappa = 2 pi nu s; |.|^2 = overlap_exp.
    """
    t_ref, t1, nu, t_w, fw = _arrays(t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns)
    s = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    t1 = jnp.maximum(t1, _FLOOR)
    re, im = _gauss_exp.amplitude((t_w - t_ref) / (2.0 * s), s / (2.0 * t1), 2.0 * np.pi * nu * s)
    norm = (2.0 * np.pi) ** -0.25 * jnp.sqrt(np.pi * s / t1)
    return norm * re, norm * im


def overlap_exp_mixed(
    t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns, dephasing_time_ns=None, *, n_nodes=128
):
    """<phi|rho|phi> of an EXP photon with pure dephasing T2* (None: `overlap_exp`)."""
    if dephasing_time_ns is None:
        return overlap_exp(t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns)
    t_ref, t1, nu, t_w, fw, t2s = _arrays(
        t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns, dephasing_time_ns
    )
    s = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    width = _spectral_width_ghz(jnp.maximum(t1, _FLOOR), s)
    return _gauss_exp.lorentz_average(
        lambda d: overlap_exp(t_ref, t1, nu + d, t_w, fw),
        _hwhm_ghz(t2s, t_ref.dtype),
        width,
        n_nodes,
        t_ref.dtype,
        centre=-nu,
    )


def mode_amplitude(t, t_w_ns, mode_fwhm_ns):
    """phi(t): the real unit-norm Gaussian amplitude of the input mode."""
    t, t_w, fw = _arrays(t, t_w_ns, mode_fwhm_ns)
    s = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    return (2.0 * np.pi * s**2) ** -0.25 * jnp.exp(-((t - t_w) ** 2) / (4.0 * s**2))


def dip_norm(overlap, write_efficiency):
    """Probability that the photon is not stored: 1 - eta_w O."""
    return 1.0 - write_efficiency * overlap


def _pure_dip_density(t, t_ref, t1, nu, t_w, fw, r, *, closed: bool = False):
    """|psi(t) - r <phi|psi> phi(t)|^2 for a pure EXP photon (t absolute, ns).

    At t = t_ref the density jumps: closed (static) gives the right limit there."""
    return _pure_dip_density_rel(t - t_ref, t_ref, t1, nu, t_w, fw, r, closed=closed)


def _pure_dip_density_rel(u, t_ref, t1, nu, t_w, fw, r, *, closed: bool = False):
    """The same at u = t - t_ref (exact zero at the jump, whatever t_ref)."""
    a_re, a_im = overlap_amplitude_exp(t_ref, t1, nu, t_w, fw)
    after = (u >= 0.0) if closed else (u > 0.0)
    up = jnp.where(after, u, 0.0)
    env = jnp.where(after, jnp.exp(-0.5 * up / t1) / jnp.sqrt(t1), 0.0)
    ph = 2.0 * np.pi * nu * up
    psi_re, psi_im = env * jnp.cos(ph), -env * jnp.sin(ph)
    m = mode_amplitude(u, t_w - t_ref, fw)
    d_re = psi_re - r * a_re * m
    d_im = psi_im - r * a_im * m
    return d_re**2 + d_im**2


def _dip_density_rel(u, t_ref, t1, nu, t_w, fw, eta, deph, n_nodes, closed=False):
    t1 = jnp.maximum(t1, _FLOOR)
    r = 1.0 - jnp.sqrt(jnp.clip(1.0 - eta, 0.0, 1.0))
    if deph is None:
        return _pure_dip_density_rel(u, t_ref, t1, nu, t_w, fw, r, closed=closed)
    s = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    shape = jnp.broadcast_shapes(u.shape, t_ref.shape, t1.shape, nu.shape, jnp.shape(deph))
    hwhm = jnp.broadcast_to(_hwhm_ghz(deph, u.dtype), shape)
    width = jnp.broadcast_to(_spectral_width_ghz(t1, s), shape)
    return _gauss_exp.lorentz_average(
        lambda d: _pure_dip_density_rel(u, t_ref, t1, nu + d, t_w, fw, r, closed=closed),
        hwhm,
        width,
        n_nodes,
        u.dtype,
        centre=-nu,
    )


def dip_density_exp(
    t,
    t_ref_ns,
    lifetime_ns,
    nu_ghz,
    t_w_ns,
    mode_fwhm_ns,
    write_efficiency,
    dephasing_time_ns=None,
    *,
    n_nodes=128,
):
    """Detection-time density (1/ns) at absolute time t (ns) of the unstored light.

    Integrates to 1 - eta_w O (O the mixed overlap); eta_w = 0 is the exponential.
    Broadcasts over every argument.
    """
    t, t_ref, t1, nu, t_w, fw, eta = _arrays(
        t, t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns, write_efficiency
    )
    return _dip_density_rel(t - t_ref, t_ref, t1, nu, t_w, fw, eta, dephasing_time_ns, n_nodes)


def dip_table_exp(
    t_ref_ns,
    lifetime_ns,
    nu_ghz,
    t_w_ns,
    mode_fwhm_ns,
    write_efficiency,
    dephasing_time_ns=None,
    *,
    n: int = 2049,
    span_lifetimes: float = 30.0,
    n_nodes: int = 128,
):
    """(cdf, t0, h): the unstored light's CDF tabulated with n nodes (Simpson per cell)
    from 8 s before the mode (or t_ref, if earlier) to max(span_lifetimes T1, 8 s after
    the mode), with t_ref on a node.

    Times of the table are relative to t_ref (shift = t_ref in `tabulated`). The mass
    beyond the table is e^-span of the exponential part (1e-13 at 30 lifetimes).
    """
    t_ref, t1, nu, t_w, fw, eta = _arrays(
        t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns, write_efficiency
    )
    s = jnp.maximum(fw, _FLOOR) / _FWHM_PER_SIGMA
    # Right of t_ref: the exponential and the mode; left of it the mode's own amplitude
    # -r <phi|psi> phi (the write removes a mode-shaped part, which extends before t_ref).
    right = jnp.maximum(jnp.maximum(span_lifetimes * t1, t_w - t_ref + 8.0 * s), 1e-6)
    left = jnp.maximum(8.0 * s - (t_w - t_ref), 0.0)
    h = (left + right) / (n - 2)
    # t_ref = 0 on a node (the density jumps there): t0 = -ceil(left / h) h.
    j0 = jnp.ceil(jax.lax.stop_gradient(left / h))
    t0 = -j0 * h
    # h times exact half-integers, so that t_ref is exactly the node j0.
    u = h[..., None] * (jnp.arange(2 * n - 1, dtype=h.dtype) * 0.5 - j0[..., None])
    e = lambda v: v[..., None]  # noqa: E731
    deph = dephasing_time_ns
    if deph is not None and jnp.ndim(deph):
        deph = jnp.asarray(deph)[..., None]
    args = (e(t_ref), e(t1), e(nu), e(t_w), e(fw), e(eta), deph, n_nodes)
    f = _dip_density_rel(u, *args)
    # Right limits at the nodes, for the start of each cell (the jump at t_ref).
    start = _dip_density_rel(u[..., 0:-1:2], *args, closed=True)
    return tabulated.cdf_from_density(f[..., 0::2], f[..., 1::2], h, start), t0, h


def dip_sample_exp(
    key,
    shape,
    t_ref_ns,
    lifetime_ns,
    nu_ghz,
    t_w_ns,
    mode_fwhm_ns,
    write_efficiency,
    dephasing_time_ns=None,
    *,
    n: int = 513,
    n_nodes: int = 128,
):
    """Detection times (absolute, ns) of unstored photons, by inversion of a table.

    shape: the draws; the parameters broadcast either to shape (one table per draw) or
    among themselves to () (one table shared by all draws, as without latent variables).

    The table (n nodes, static) runs from 8 s before the mode to max(6 T1, 8 s after
    it); beyond it the mode's amplitude is below e^-16 of its peak, so the law is the
    bare exponential tail, drawn exactly: t = right + T1 E. Error of a draw: that of the
    table's linear interpolation, ~ h^2 |f'| / (8 f) in time (h ~ 20 ps for T1 = 0.6 ns
    and a 1 ns mode with n = 513).
    """
    t_ref, t1, nu, t_w, fw, eta = _arrays(
        t_ref_ns, lifetime_ns, nu_ghz, t_w_ns, mode_fwhm_ns, write_efficiency
    )
    t1 = jnp.maximum(t1, _FLOOR)
    cdf, t0, h = dip_table_exp(
        t_ref, t1, nu, t_w, fw, eta, dephasing_time_ns, n=n, span_lifetimes=6.0, n_nodes=n_nodes
    )
    right = t0 + (n - 1) * h
    in_table = cdf[..., -1]
    tail = jnp.exp(-right / t1)
    total = in_table + tail
    u = jax.random.uniform(key, shape, t_ref.dtype, minval=jnp.finfo(t_ref.dtype).tiny)
    target = u * total
    inside = target < in_table
    q = jnp.where(inside, target / jnp.where(in_table > 0.0, in_table, 1.0), 0.5)
    t_tab = tabulated.sample(cdf, t0, h, q)
    # P(T > right + x) = tail e^(-x/T1): x = -T1 ln((total - target) / tail).
    rest = jnp.where(inside, tail, total - target)
    t_tail = right - t1 * jnp.log(jnp.clip(rest / jnp.where(tail > 0.0, tail, 1.0), 1e-300, 1.0))
    return t_ref + jnp.where(inside, t_tab, t_tail)
