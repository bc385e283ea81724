"""Tier B of the ORCA memory: the adiabatic (Raman) equations with Doppler classes.

ORCA_MODEL.md 1.5 (equations), 1.4 (frames), 2.1 (maps, SVD), 2.2 (scheme), 2.3 (grids).

Units: time ns, rates and detunings rad/ns, lengths m, wavevectors rad/m, velocities m/ns.
|S|^2 is photons per ns through the beam; the spin wave is carried as B_v = sqrt(rho) b_v,
with rho the signal's speed along its grid characteristic (c/2 in the counter-propagating
control frame, c in the co-propagating lab frame), so that (1/rho) sum_v w_v int |B_v|^2 dz
counts stored excitations (OM21's normalisation for rho = c/2).

Equations, standard ladder (signal on 1-2), along the characteristic and at fixed z:

    dS/dtau  = a_S S + sum_v w_v c_SB,v B_v,     a_S = -(rho kappa^2 / 2c) sum_v w_v / Gamma2(v)
    dB_v/dtau = a_B,v B_v + c_BS,v S,            a_B,v = -Gamma3(v) - |Omega|^2 / (4 Gamma2(v))
    c_SB,v = -G Omega^* / (2 Gamma2(v)),  c_BS,v = -G Omega / (2 Gamma2(v)),  G = sqrt(rho) g

with Gamma2(v) = gamma2/2 - i (Delta - k_a v), Gamma3(v) = gamma3/2 + gamma_d - i (delta - K v),
K = k_a + k_b (physical signs: both self-terms are losses). Inverted ladder (signal on 2-3,
ORCA_MODEL 1.3 in its adiabatic form): a_S = 0, a_B,v = -Gamma3(v), and the couplings carry
the ground amplitude a1_v = exp(-int |Omega|^2 dt / (4 Gamma2(v))):
c_BS,v = -G Omega a1_v / (2 Gamma2(v)), c_SB,v = +G Omega^* a1_v^* / (2 Gamma2(v)^*).
a1 runs from before the write control on, through the storage, into the read control.

Scheme: characteristic Crank-Nicolson (ORCA_MODEL 2.2). dz = rho dtau, so the signal moves
one node per step; each node solves its own (1 + Nv) arrowhead system, all nodes in parallel.
Control coefficients are exact averages of Omega and |Omega|^2 over each time interval
(erf differences for a Gaussian, the covered fraction for a square), so square edges need
not fall on nodes and every continuous input stays differentiable. In the co-propagating
frame the signal's characteristic sits at a node time; its control value is the mean of the
two adjacent interval averages. Time stepping is a `lax.scan` with a `jax.checkpoint`ed
body; a batch of inputs is carried as a leading axis of the state.

Time references: the input and output times of the public functions are those at which the
light would pass the cell centre in vacuum (retarded time at z = 0), the convention of the
control's centre time; the window of a run is [t_c - T, t_c + T] in the frame's time at the
cell entrance (co) or everywhere (counter), T = nt dtau / 2.

Storage between the runs: D_v = exp(-Gamma3(v) (T_s - T_run)) with T_s the time between the
control centres and T_run the duration of one run (the spin wave only decays outside the
control windows in this model, so a negative gap is exact), times an optional Gaussian extra
dephasing exp(-(T_s / tau_d)^2 / 2) (efficiency 1/e at tau_d) and the hyperfine beat factor
(1 + sum a_k exp(i (2 pi f_k T_s + phi_k))) / (1 + sum a_k exp(i phi_k)).

Validity: |Delta| >> gamma2, k_a sigma_v and the signal and control bandwidths
(|Delta| t_rise >~ 5), |Omega_c| <~ |Delta| (ORCA_MODEL 1.5); `grid_warnings` checks these
and the grid rules of 2.3.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf

C_M_PER_NS = 0.299792458


class Medium(NamedTuple):
    """The atoms, in ns, rad/ns and m (every field may be traced)."""

    kappa2: object  # kappa^2 = n_eff d_s^2 omega_s / (hbar eps0), rad^2/ns^2
    gamma2: object  # population decay of |2>, 1/ns
    gamma3: object  # population decay of |3>, 1/ns
    gamma_d: object  # extra decay of the 1-3 coherence, 1/ns
    detuning: object  # one-photon detuning Delta, rad/ns
    two_photon_detuning: object  # delta, rad/ns
    k_a: object  # signed wavevector of the 1-2 field, rad/m
    k_b: object  # signed wavevector of the 2-3 field, rad/m
    sigma_v: object  # Maxwell-Boltzmann width, m/ns
    length: object  # cell length, m


class Control(NamedTuple):
    """A control pulse: peak Rabi frequency (rad/ns), intensity FWHM or duration (ns).

    Shape "table": `table` holds the N amplitudes of the envelope (`table_envelope`), the
    pulse lasts `fwhm` and `rabi` is the Rabi frequency per unit amplitude.
    """

    rabi: object
    fwhm: object
    table: object = None


class Config(NamedTuple):
    """Static choices: geometry ('counter' | 'co'), scheme, shape, grid sizes."""

    geometry: str = "counter"
    inverted: bool = False
    shape: str = "square"  # 'square' | 'gaussian' | 'table'
    nz: int = 125
    nt: int = 309  # time steps of the window (counter) or of its retarded span (co)
    nv: int = 9
    om21_signs: bool = False  # only to reproduce OM21's published number (sign errors)


def rho(cfg: Config):
    """Signal speed along its characteristic, m/ns."""
    return 0.5 * C_M_PER_NS if cfg.geometry == "counter" else C_M_PER_NS


def steps(cfg: Config) -> int:
    return cfg.nt if cfg.geometry == "counter" else cfg.nt + cfg.nz - 1


def time_step(cfg: Config, medium: Medium):
    """dtau = dz / rho, ns."""
    return medium.length / (cfg.nz - 1) / rho(cfg)


def run_duration(cfg: Config, medium: Medium):
    """Duration of one write or read run (lab time at fixed z), ns."""
    return steps(cfg) * time_step(cfg, medium)


def doppler_classes(nv: int, sigma_v):
    """Gauss-Hermite velocities (m/ns) and probability weights of the Maxwell-Boltzmann law."""
    x, w = np.polynomial.hermite.hermgauss(nv)
    return math.sqrt(2.0) * sigma_v * jnp.asarray(x), jnp.asarray(w / math.sqrt(math.pi))


def decay_rates(medium: Medium, nv: int):
    """(Gamma2(v), Gamma3(v), w_v), complex rad/ns, one entry per velocity class."""
    v, w = doppler_classes(nv, medium.sigma_v)
    gam2 = 0.5 * medium.gamma2 - 1j * (medium.detuning - medium.k_a * v)
    big_k = medium.k_a + medium.k_b
    gam3 = 0.5 * medium.gamma3 + medium.gamma_d - 1j * (medium.two_photon_detuning - big_k * v)
    return gam2, gam3, w


def signal_self_rate(cfg: Config, medium: Medium):
    """a_S (complex, 1/ns): the signal's self-term along its characteristic (0 if inverted)."""
    if cfg.inverted:
        return jnp.zeros((), jnp.result_type(medium.kappa2, 1j))
    gam2, _, w = decay_rates(medium, cfg.nv)
    return -(rho(cfg) * medium.kappa2 / (2.0 * C_M_PER_NS)) * jnp.sum(w / gam2)


# ---- the control ------------------------------------------------------------------------
_SQ2 = math.sqrt(2.0)


def _gauss_cumulative(x, sigma):
    """int_-inf^x exp(-u^2 / (2 sigma^2)) du."""
    return sigma * math.sqrt(0.5 * math.pi) * (1.0 + erf(x / (_SQ2 * sigma)))


#: Gauss-Legendre nodes per step interval for the interval means of a table control
TABLE_QUADRATURE = 4


def table_envelope(amplitudes, duration, t):
    """A(t) = sum_k a_k cos^2(pi (t - t_k) / (2 h)) over |t - t_k| < h, with t_k = -T/2 +
    (k + 1) h, h = T / (N + 1): N amplitudes on a uniform grid inside the duration T,
    interpolated by raised-cosine bumps (a partition of unity: A(t_k) = a_k, A is C1 and
    vanishes at +-T/2 and outside)."""
    a = jnp.asarray(amplitudes)
    n = a.shape[0]
    h = duration / (n + 1)
    tk = -0.5 * duration + h * jnp.arange(1, n + 1)
    u = (jnp.asarray(t)[..., None] - tk) / h
    bump = jnp.where(jnp.abs(u) < 1.0, jnp.cos(0.5 * jnp.pi * jnp.clip(u, -1.0, 1.0)) ** 2, 0.0)
    return jnp.sum(bump * a, axis=-1)


def table_moments(amplitudes):
    """(int A dt / T, int A^2 dt / T) of `table_envelope` in closed form (bump integrals h,
    3h/4 and overlaps h/8)."""
    a = jnp.asarray(amplitudes)
    n = a.shape[0]
    m1 = jnp.sum(a) / (n + 1)
    m2 = (0.75 * jnp.sum(a**2) + 0.25 * jnp.sum(a[1:] * a[:-1])) / (n + 1)
    return m1, m2


def control_interval_means(shape: str, control: Control, edges):
    """Mean Omega and mean |Omega|^2 over [edges[i], edges[i+1]] for a control centred at 0."""
    a, b = edges[:-1], edges[1:]
    width = b - a
    if shape == "table":
        x, w = np.polynomial.legendre.leggauss(TABLE_QUADRATURE)
        t = 0.5 * (a + b)[:, None] + 0.5 * width[:, None] * jnp.asarray(x)
        env = table_envelope(control.table, control.fwhm, t)
        w = 0.5 * jnp.asarray(w)
        return control.rabi * (env @ w), control.rabi**2 * (env**2 @ w)
    if shape == "square":
        half = 0.5 * control.fwhm
        frac = jnp.clip(jnp.minimum(b, half) - jnp.maximum(a, -half), 0.0, None) / width
        return control.rabi * frac, control.rabi**2 * frac
    if shape == "gaussian":
        # Omega = Omega0 exp(-2 ln2 t^2 / fwhm^2): sigma of the amplitude fwhm / (2 sqrt(ln 2))
        s_amp = control.fwhm / (2.0 * math.sqrt(math.log(2.0)))
        s_int = s_amp / _SQ2
        m1 = (_gauss_cumulative(b, s_amp) - _gauss_cumulative(a, s_amp)) / width
        m2 = (_gauss_cumulative(b, s_int) - _gauss_cumulative(a, s_int)) / width
        return control.rabi * m1, control.rabi**2 * m2
    raise ValueError(f"control shape must be 'square' or 'gaussian', got {shape!r}")


def control_energy_integral(shape: str, control: Control, t):
    """int_-inf^t |Omega|^2 dt' (rad^2/ns) for a control centred at 0."""
    if shape == "square":
        half = 0.5 * control.fwhm
        return control.rabi**2 * jnp.clip(t + half, 0.0, control.fwhm)
    s_int = control.fwhm / (2.0 * math.sqrt(math.log(2.0))) / _SQ2
    return control.rabi**2 * _gauss_cumulative(t, s_int)


def control_pulse_integral(shape: str, control: Control):
    """int |Omega|^2 dt over the whole pulse, rad^2/ns."""
    if shape == "table":
        return control.rabi**2 * control.fwhm * table_moments(control.table)[1]
    if shape == "square":
        return control.rabi**2 * control.fwhm
    s_int = control.fwhm / (2.0 * math.sqrt(math.log(2.0))) / _SQ2
    return control.rabi**2 * s_int * math.sqrt(2.0 * math.pi)


# ---- coefficients of one run --------------------------------------------------------------
class _Coefs(NamedTuple):
    a_s: object  # (): signal self-term
    a_b: object  # (n, nv, nzc): spin-wave diagonal of step n
    c_bs: object  # (n, nv, nzc)
    c_sb: object  # (n, nv, nzc): weighted by w_v already


def _coefficients(cfg: Config, medium: Medium, control: Control, a1_offset=0.0):
    """Per-step, per-class (and, co-propagating, per-node) coefficients of a run.

    The control is centred at 0 and the run's window is [-T, T] at the entrance (co) or at
    every z (counter). a1_offset: int |Omega|^2 dt of earlier controls (inverted scheme).
    """
    n_steps = steps(cfg)
    dt = time_step(cfg, medium)
    half = 0.5 * cfg.nt * dt
    gam2, gam3, w = decay_rates(medium, cfg.nv)
    g_big = jnp.sqrt(rho(cfg) * medium.kappa2 / (2.0 * C_M_PER_NS))
    shift = cfg.nz - 1 if cfg.geometry == "co" else 0
    # interval i spans [tau_i, tau_i+1], tau_i = -T + i dt, i = -shift .. n_steps
    idx = jnp.arange(-shift, n_steps + 1)
    edges = -half + dt * jnp.concatenate([idx, idx[-1:] + 1]).astype(jnp.result_type(dt))
    om, om2 = control_interval_means(cfg.shape, control, edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    om = om[:, None]
    om2 = om2[:, None]
    if cfg.inverted:
        if cfg.shape == "table":  # the cumulative of the interval means, to each middle
            piece = om2[:, 0] * (edges[1:] - edges[:-1])
            cum = jnp.cumsum(piece) - 0.5 * piece
        else:
            cum = control_energy_integral(cfg.shape, control, mid)
        energy = cum[:, None] + a1_offset
        a1 = jnp.exp(-energy / (4.0 * gam2[None, :]))
        a_b = jnp.broadcast_to(-gam3[None, :], om2.shape[:1] + gam3.shape)
        c_bs = -g_big * om * a1 / (2.0 * gam2)
        c_sb = g_big * jnp.conj(om * a1) / (2.0 * jnp.conj(gam2))
    else:
        if cfg.om21_signs:
            # OM21: the gamma3 term has the wrong sign inside the control window
            frac = om2 / jnp.maximum(control.rabi**2, 1e-300)
            a_b = -gam3 * (1.0 - 2.0 * frac) - om2 / (4.0 * gam2)
        else:
            a_b = -gam3 - om2 / (4.0 * gam2)
        c_bs = -g_big * om / (2.0 * gam2)
        c_sb = -g_big * jnp.conj(om) / (2.0 * gam2)
    c_sb = c_sb * w
    a_s = signal_self_rate(cfg, medium)
    if cfg.om21_signs:
        a_s = -a_s
    if cfg.geometry == "counter":
        # all nodes share the step's interval
        n = jnp.arange(n_steps)
        return _Coefs(a_s, a_b[n][..., None], c_bs[n][..., None], c_sb[n][..., None])
    # co: node k at step n uses interval n - k for B and the node time n + 1 - k for S
    k = jnp.arange(cfg.nz)
    n = jnp.arange(n_steps)[:, None]
    ib = n - k + shift  # (n_steps, nz) into the table that starts at i = -shift
    c_sb_point = 0.5 * (c_sb[ib] + c_sb[ib + 1])
    tr = lambda x: jnp.moveaxis(x, -1, 1)  # (n, nz, nv) -> (n, nv, nz)  # noqa: E731
    return _Coefs(a_s, tr(a_b[ib]), tr(c_bs[ib]), tr(c_sb_point))


def _propagate(cfg: Config, coefs: _Coefs, dt, s_in, b0):
    """One run. s_in: (n_steps + 1, M) entrance amplitudes; b0: (M, nv, nz) spin waves.

    Returns (S at the exit at every step (n_steps + 1, M), final B (M, nv, nz)).
    """
    h = 0.5 * dt
    a_s = coefs.a_s

    @jax.checkpoint
    def step(carry, xs):
        s, b = carry  # (M, nz), (M, nv, nz)
        a_b, c_bs, c_sb, sin0, sin1 = xs  # (nv, nzc) x3, (M,), (M,)
        den = 1.0 - h * a_b
        beta = h * c_bs / den  # (nv, nzc)
        alpha = ((1.0 + h * a_b) * b + h * c_bs * s[:, None, :]) / den  # (M, nv, nz)
        s_left = jnp.concatenate([sin0[:, None], s[:, :-1]], axis=1)
        b_left = jnp.concatenate([b[:, :, :1], b[:, :, :-1]], axis=2)
        num = (1.0 + h * a_s) * s_left + h * jnp.sum(c_sb * (alpha + b_left), axis=1)
        s_new = num / (1.0 - h * a_s - h * jnp.sum(c_sb * beta, axis=0))
        s_new = s_new.at[:, 0].set(sin1)
        b_new = alpha + beta * s_new[:, None, :]
        return (s_new, b_new), s_new[:, -1]

    m = s_in.shape[1]
    s0 = jnp.zeros((m, cfg.nz), b0.dtype).at[:, 0].set(s_in[0])
    xs = (coefs.a_b, coefs.c_bs, coefs.c_sb, s_in[:-1], s_in[1:])
    (_, b_end), s_exit = jax.lax.scan(step, (s0, b0), xs)
    return jnp.concatenate([s0[None, :, -1], s_exit], axis=0), b_end


# ---- grids and weights -------------------------------------------------------------------
def trapezoid(n: int, step):
    w = jnp.ones(n) * step
    return w.at[0].multiply(0.5).at[-1].multiply(0.5)


def input_times(cfg: Config, medium: Medium):
    """Times (ns, at the cell centre, relative to the control centre) of the input nodes."""
    dt = time_step(cfg, medium)
    tau = -0.5 * cfg.nt * dt + dt * jnp.arange(cfg.nt + 1)
    return tau + medium.length / C_M_PER_NS if cfg.geometry == "counter" else tau


def output_times(cfg: Config, medium: Medium):
    """Times (ns, at the cell centre, relative to the control centre) of the output nodes."""
    dt = time_step(cfg, medium)
    tau = -0.5 * cfg.nt * dt + dt * jnp.arange(cfg.nt + 1)
    return tau - medium.length / C_M_PER_NS if cfg.geometry == "counter" else tau


def time_weights(cfg: Config, medium: Medium):
    return trapezoid(cfg.nt + 1, time_step(cfg, medium))


def spin_weights(cfg: Config, medium: Medium):
    """(nv, nz) weights W with sum W |B|^2 = stored excitations."""
    _, w = doppler_classes(cfg.nv, medium.sigma_v)
    wz = trapezoid(cfg.nz, medium.length / (cfg.nz - 1))
    return w[:, None] * wz[None, :] / rho(cfg)


def _pad_input(cfg: Config, s_in):
    """(nt + 1, M) input nodes -> (n_steps + 1, M) entrance values (zero past the window)."""
    extra = steps(cfg) - cfg.nt
    if extra:
        s_in = jnp.concatenate([s_in, jnp.zeros((extra,) + s_in.shape[1:], s_in.dtype)])
    return s_in


def _exit_nodes(cfg: Config, s_exit):
    """Exit values at the output nodes (retarded times of the window)."""
    return s_exit[cfg.nz - 1 :] if cfg.geometry == "co" else s_exit


# ---- the runs -----------------------------------------------------------------------------
@partial(jax.jit, static_argnums=0)
def write(cfg: Config, medium: Medium, control: Control, s_in):
    """Write run for inputs s_in (nt + 1, M) at the input times (photons^(1/2) per ns^(1/2)).

    Returns (transmitted amplitude at the output times (nt + 1, M), spin wave (M, nv, nz)).
    """
    s_in = jnp.asarray(s_in)
    dtype = jnp.result_type(s_in, medium.kappa2, 1j)
    coefs = _coefficients(cfg, medium, control)
    b0 = jnp.zeros((s_in.shape[1], cfg.nv, cfg.nz), dtype)
    s_exit, b = _propagate(
        cfg, coefs, time_step(cfg, medium), _pad_input(cfg, s_in.astype(dtype)), b0
    )
    return _exit_nodes(cfg, s_exit), b


@partial(jax.jit, static_argnums=0, static_argnames="final")
def read(cfg: Config, medium: Medium, control: Control, b0, a1_offset=0.0, final=False):
    """Read run from spin waves b0 (M, nv, nz); returns the output amplitude (nt + 1, M).

    final=True returns (output, spin wave left after the read (M, nv, nz)).
    """
    b0 = jnp.asarray(b0)
    dtype = jnp.result_type(b0, medium.kappa2, 1j)
    coefs = _coefficients(cfg, medium, control, a1_offset)
    s_in = jnp.zeros((steps(cfg) + 1, b0.shape[0]), dtype)
    s_exit, b_end = _propagate(cfg, coefs, time_step(cfg, medium), s_in, b0.astype(dtype))
    out = _exit_nodes(cfg, s_exit)
    return (out, b_end) if final else out


def storage_factor(
    cfg: Config,
    medium: Medium,
    storage_time,
    dephasing_time=None,
    beat_terms=None,
):
    """D_v (nv,): amplitude factor of the spin wave between the write and the read run."""
    _, gam3, _ = decay_rates(medium, cfg.nv)
    d = jnp.exp(-gam3 * (storage_time - run_duration(cfg, medium)))
    if dephasing_time is not None:
        d = d * jnp.exp(-0.5 * (storage_time / dephasing_time) ** 2)
    if beat_terms is not None and np.size(beat_terms):
        terms = jnp.asarray(beat_terms)
        a, f, phi = terms[:, 0], terms[:, 1], terms[:, 2]
        num = 1.0 + jnp.sum(a * jnp.exp(1j * (2.0 * jnp.pi * f * storage_time + phi)))
        den = 1.0 + jnp.sum(a * jnp.exp(1j * phi))
        d = d * num / den
    return d


def read_a1_offset(cfg: Config, write_control: Control):
    """int |Omega_w|^2 dt carried into the read (inverted scheme's ground amplitude)."""
    return control_pulse_integral(cfg.shape, write_control) if cfg.inverted else 0.0


# ---- maps and the kernel (ORCA_MODEL 2.1) --------------------------------------------------
@partial(jax.jit, static_argnums=0)
def write_map(cfg: Config, medium: Medium, control: Control):
    """K~_w (nv nz, nt + 1) in unit-norm coordinates (x = sqrt(w_t) S_in, y = sqrt(W) B)."""
    wt = time_weights(cfg, medium)
    dtype = jnp.result_type(medium.kappa2, 1j)
    s_in = jnp.diag(1.0 / jnp.sqrt(wt)).astype(dtype)
    _, b = write(cfg, medium, control, s_in)
    y = b * jnp.sqrt(spin_weights(cfg, medium))[None]
    return y.reshape(y.shape[0], -1).T


@partial(jax.jit, static_argnums=0)
def read_map(cfg: Config, medium: Medium, control: Control, a1_offset=0.0):
    """K~_r (nt + 1, nv nz) in unit-norm coordinates."""
    wsp = spin_weights(cfg, medium).reshape(-1)
    dtype = jnp.result_type(medium.kappa2, 1j)
    b0 = jnp.diag(1.0 / jnp.sqrt(wsp)).astype(dtype).reshape(-1, cfg.nv, cfg.nz)
    s_out = read(cfg, medium, control, b0, a1_offset)
    return s_out * jnp.sqrt(time_weights(cfg, medium))[:, None]


@partial(jax.jit, static_argnums=0)
def total_kernel(cfg: Config, medium: Medium, write_control, read_control, storage):
    """K~ = K~_r D K~_w (nt + 1, nt + 1), computed as reads of the columns of D K~_w.

    storage: D_v (nv,) from `storage_factor`.
    """
    kw = write_map(cfg, medium, write_control)  # (nv nz, nt+1)
    wsp = spin_weights(cfg, medium)
    y = kw.T.reshape(-1, cfg.nv, cfg.nz) * storage[None, :, None]
    s_out = read(
        cfg, medium, read_control, y / jnp.sqrt(wsp)[None], read_a1_offset(cfg, write_control)
    )
    return s_out * jnp.sqrt(time_weights(cfg, medium))[:, None]


class Kernel(NamedTuple):
    """SVD of a unit-norm kernel: K~ = U diag(sigma) V^dagger."""

    efficiencies: object  # sigma_k^2, descending
    input_modes: object  # (nt + 1, k): phi_k(t) = V[:, k] / sqrt(w_t), at input_times
    output_modes: object  # (nt + 1, k): U[:, k] / sqrt(w_t), at output_times


def kernel_svd(kernel, wt_in, wt_out) -> Kernel:
    u, s, vh = jnp.linalg.svd(kernel)
    return Kernel(
        s**2,
        jnp.conj(vh.T) / jnp.sqrt(wt_in)[:, None],
        u / jnp.sqrt(wt_out)[:, None],
    )


def efficiency_of_state(kernel, rho_unit):
    """Tr(K~ rho K~^dagger) for a density matrix in unit-norm coordinates."""
    return jnp.real(jnp.trace(kernel @ rho_unit @ jnp.conj(kernel.T)))


def grid_warnings(
    cfg: Config,
    medium: Medium,
    controls,
    signal_fwhm=None,
    storage_time=None,
) -> list[str]:
    """The grid and validity rules of ORCA_MODEL 2.3 and 1.5, as messages with the numbers.

    Plain numbers only (call outside jit). controls: the write and read `Control`s.
    """
    out = []
    dt = float(time_step(cfg, medium))
    delta = abs(float(medium.detuning))
    for name, c in zip(("write", "read"), controls, strict=False):
        fw = float(c.fwhm)
        rabi = float(c.rabi)
        if cfg.shape == "table":  # the peak: rabi per unit amplitude x the largest amplitude
            rabi *= float(np.max(np.abs(np.asarray(c.table))))
        if dt > fw / 10:
            out.append(
                f"{name} control: dtau = {dt * 1e3:.3g} ps > tau_w/10 = {fw * 100:.3g} ps; "
                f"increase nz (now {cfg.nz})"
            )
        shift = rabi**2 / (4 * delta)
        if shift * dt > 0.2:
            out.append(
                f"{name} control: |delta_AC| dtau = {shift * dt:.3g} > 0.2 "
                f"(delta_AC = {shift / (2 * math.pi) * 1e3:.4g} MHz); increase nz"
            )
        if rabi > delta:
            out.append(
                f"{name} control: |Omega_c| = 2pi x {rabi / (2 * math.pi):.3g} GHz > |Delta| = "
                f"2pi x {delta / (2 * math.pi):.3g} GHz: outside the adiabatic tier"
            )
        if cfg.shape == "table":
            h = fw / (np.shape(c.table)[0] + 1)
            if dt > h / 4:
                out.append(
                    f"{name} control: dtau = {dt * 1e3:.3g} ps > h/4 = {h * 250:.3g} ps (table "
                    f"node spacing h = {h:.4g} ns); increase nz (now {cfg.nz})"
                )
        if cfg.shape in ("gaussian", "table"):
            t_rise = 0.5 * fw if cfg.shape == "gaussian" else fw / (np.shape(c.table)[0] + 1)
            if delta * t_rise < 5:
                out.append(
                    f"{name} control: |Delta| t_rise = {delta * t_rise:.3g} < 5: "
                    "outside the adiabatic tier"
                )
        if 2.0 * 1.5 * fw > cfg.nt * dt:
            out.append(
                f"{name} control: window {cfg.nt * dt:.4g} ns shorter than 3 control "
                f"durations ({3 * fw:.4g} ns); increase nt (now {cfg.nt})"
            )
    if signal_fwhm is not None and dt > float(signal_fwhm) / 10:
        out.append(
            f"signal: dtau = {dt * 1e3:.3g} ps > tau_s/10 = {float(signal_fwhm) * 100:.3g} ps; "
            "increase nz"
        )
    a_s = abs(complex(signal_self_rate(cfg, medium)).imag)
    if a_s * dt > 0.2:
        out.append(f"signal: |delta_S| dtau = {a_s * dt:.3g} > 0.2; increase nz")
    if float(medium.gamma2) > delta / 10:
        out.append(
            f"|Delta| = {delta:.3g} rad/ns is not >> gamma2 = {float(medium.gamma2):.3g} /ns"
        )
    if storage_time is not None:
        k = abs(float(medium.k_a + medium.k_b))
        t_total = float(storage_time) + cfg.nt * dt
        a = k * float(medium.sigma_v) * t_total
        # largest a = K sigma_v t with an error of <exp(i a X)> below ~1e-3 by Gauss-Hermite
        # (ORCA_MODEL 2.3: nv = 9 to 2.5, 15 to 3.7, 21 to 5; one class: 1 - exp(-a^2/2))
        lim = 0.045 if cfg.nv == 1 else 0.2083 * cfg.nv + 0.625
        if a > lim:
            out.append(
                f"Doppler: K sigma_v t = {a:.3g} over {t_total:.4g} ns needs more velocity "
                f"classes than nv = {cfg.nv} (9 to a = 2.5, 15 to 3.7, 21 to 5)"
            )
    return out
