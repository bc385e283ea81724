"""The physical ORCA memory from stage parameters: one call per parameter set.

Public units (as the future `OrcaMemory` stage's fields): temperature_c (deg C),
cell_length_cm, signal_waist_um, control_waist_um, detuning_ghz (one-photon, cycles/ns),
two_photon_detuning_mhz, write_energy_nj, read_energy_nj, control_fwhm_ns (intensity FWHM of
a Gaussian, duration of a square pulse), write_time_ns (centre of the write control as it
passes the cell centre, in the photon's retarded time at the memory), storage_time_ns (read
control centre minus write control centre), signal_dipole_ea0, control_dipole_ea0 (effective
dipoles, e a0), intermediate_lifetime_ns, storage_lifetime_ns, dephasing_time_ns (extra
Gaussian dephasing, efficiency factor exp(-(T_s / tau_d)^2); None = none), optical_pumping,
isotope_fraction. SI inside (`atomic_data`), ns and rad/ns in the solver (`orca_adiabatic`).

Choices (where ORCA_MODEL.md is silent):
- The signal is described by its amplitude psi(t) at the cell centre (retarded time, the same
  clock as write_time_ns), int |psi|^2 dt = 1; the kernel samples it at its own input nodes
  (analytic input, no interpolation). The retrieved mode is referred to the same clock, so a
  stage adds only its own delays.
- 1-D model with the control's on-axis intensity (ORCA_MODEL 6: no diffraction, no radial
  classes); signal_waist_um only enters the validity warnings (a signal wider than the
  control samples weaker control light).
- Tier A (analytic) takes a square control and a Gaussian signal of given FWHM; the storage
  factor is exp(-gamma3 T_s - (K sigma_v T_s)^2) times the dephasing and beat factors
  (ORCA_MODEL 1.7).
- The light shift reported is delta_AC at the write control's peak, in MHz (cycles/us):
  -|Omega|^2 / (4 Delta) for the standard ladder, + for the inverted one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import atomic_data as ad
from . import orca_adiabatic as ob
from . import orca_analytic as oa
from . import orca_full as of


class OrcaParams(NamedTuple):
    """Continuous parameters of the memory (every field may be traced)."""

    temperature_c: object = 115.0
    cell_length_cm: object = 8.0
    signal_waist_um: object = 100.0
    control_waist_um: object = 130.0
    detuning_ghz: object = 6.0
    two_photon_detuning_mhz: object = 0.0
    write_energy_nj: object = 1.0
    read_energy_nj: object = 1.0
    control_fwhm_ns: object = 0.5
    write_time_ns: object = 0.0
    storage_time_ns: object = 3.0
    signal_dipole_ea0: object = None  # None: the species' isotropic effective dipole
    control_dipole_ea0: object = None
    intermediate_lifetime_ns: object = None  # None: the species' tau2
    storage_lifetime_ns: object = None  # None: the species' tau3
    dephasing_time_ns: object = None  # None: no extra dephasing
    optical_pumping: object = 0.0
    isotope_fraction: object = 1.0
    control_table: object = None  # shape "table": the N envelope amplitudes (>= 0)


class Physics(NamedTuple):
    """Derived quantities (ORCA_MODEL 3.3), in the units their names say."""

    number_density_m3: object
    active_density_m3: object
    kappa2_per_ns2: object
    optical_depth: object
    write_rabi_rad_per_ns: object
    read_rabi_rad_per_ns: object
    critical_energy_nj: object
    light_shift_mhz: object
    doppler_time_ns: object
    medium: ob.Medium


def _or(value, default):
    return default if value is None else value


def physics(sp: ad.Species, p: OrcaParams, geometry: str = "counter", shape: str = "square"):
    """Medium, control Rabi frequencies, optical depth, E_crit and light shift of `p`."""
    t_k = p.temperature_c + ad.ZERO_C_K
    n = ad.number_density(sp, t_k)
    n_eff = n * ad.active_fraction(sp, p.isotope_fraction, p.optical_pumping)
    d_s = _or(p.signal_dipole_ea0, sp.signal_dipole_ea0)  # e a0
    d_c = _or(p.control_dipole_ea0, sp.control_dipole_ea0)
    omega_s = ad.angular_frequency(sp.signal_wavelength_m)
    kappa2 = ad.kappa_squared(n_eff, d_s, omega_s)  # s^-2
    tau2 = _or(p.intermediate_lifetime_ns, sp.tau2_s / ad.NS)
    tau3 = _or(p.storage_lifetime_ns, sp.tau3_s / ad.NS)
    gamma2 = 1.0 / tau2
    gamma3 = 1.0 / tau3
    length_m = p.cell_length_cm * ad.CM
    gamma_s = gamma2 + gamma3 if sp.inverted else gamma2
    depth = ad.optical_depth(kappa2, length_m, gamma_s / ad.NS)
    waist = p.control_waist_um * ad.UM
    fwhm_s = p.control_fwhm_ns * ad.NS
    if shape == "table":
        # P(t) = (E / T) A(t)^2 / <A^2>: the Rabi frequency at the mean power E / T, per unit
        # amplitude, times the largest amplitude (the peak); tau_eff = T <A>^2 / <A^2>
        m1, m2 = ob.table_moments(p.control_table)
        peak = jnp.max(jnp.asarray(p.control_table)) / jnp.sqrt(m2)
        rabi = [
            ad.rabi_frequency(e * ad.NJ / fwhm_s, d_c, waist) * ad.NS * peak
            for e in (p.write_energy_nj, p.read_energy_nj)
        ]
        tau_eff = fwhm_s * m1**2 / m2
    else:
        rabi = [
            ad.rabi_frequency(ad.peak_power_w(shape, e * ad.NJ, fwhm_s), d_c, waist) * ad.NS
            for e in (p.write_energy_nj, p.read_energy_nj)
        ]
        tau_eff = ad.effective_duration(shape, fwhm_s)
    delta = 2.0 * math.pi * p.detuning_ghz  # rad/ns
    e_crit = ad.critical_energy(kappa2, d_c, waist, delta / ad.NS, tau_eff)
    sign = 1.0 if sp.inverted else -1.0
    shift = sign * rabi[0] ** 2 / (4.0 * delta)  # rad/ns
    k_a, k_b = ad.wavevectors(sp, geometry)
    sigma_v = ad.thermal_velocity(sp, t_k) * ad.NS  # m/ns
    medium = ob.Medium(
        kappa2=kappa2 * ad.NS**2,
        gamma2=gamma2,
        gamma3=gamma3,
        gamma_d=0.0,
        detuning=delta,
        two_photon_detuning=2.0 * math.pi * p.two_photon_detuning_mhz * 1e-3,
        k_a=k_a,
        k_b=k_b,
        sigma_v=sigma_v,
        length=length_m,
    )
    return Physics(
        number_density_m3=n,
        active_density_m3=n_eff,
        kappa2_per_ns2=medium.kappa2,
        optical_depth=depth,
        write_rabi_rad_per_ns=rabi[0],
        read_rabi_rad_per_ns=rabi[1],
        critical_energy_nj=e_crit / ad.NJ,
        light_shift_mhz=shift / (2.0 * math.pi) * 1e3,
        doppler_time_ns=1.0 / (abs(k_a + k_b) * sigma_v),
        medium=medium,
    )


# ---- the regression case of ORCA_MODEL 4.1 ----------------------------------------------------
#: Case 4.1: square control of 300 ps, Gaussian signal of 600 ps (f = 2), Rb87 5D5/2
CASE41_CONTROL_NS = 0.3
CASE41_SIGNAL_NS = 0.6
#: L = 2 (1.6 f) tau_w (c / 2) / 1.05, cm
CASE41_LENGTH_CM = 2 * (1.6 * 2) * CASE41_CONTROL_NS * (ob.C_M_PER_NS / 2) / 1.05 * 100


def case41_params(at_critical_energy: bool = True) -> OrcaParams:
    """The inputs of ORCA_MODEL case 4.1 (OM21 README, 2021 conventions) as `OrcaParams`.

    Rb87 5S-5P3/2-5D5/2, 115 C, L = 27.41 cm, 131 um waists, Delta = 9 GHz, 300 ps square
    control, OM21's fitted dipoles and decay rates. at_critical_energy: both controls at
    E_crit (6.031 nJ) and storage_time_ns = T + tau_w / 2 with T = 3 tau_w / 2 + 2 L / c
    (the 4.1 protocol); otherwise the energies and storage time keep their defaults.
    The two-photon detuning stays 0 (the bare resonance; `matched_two_photon_detuning_mhz`
    gives the phase-matched one).
    """
    p = OrcaParams(
        temperature_c=115.0,
        cell_length_cm=CASE41_LENGTH_CM,
        control_waist_um=131.0,
        signal_waist_um=131.0,
        detuning_ghz=9.0,
        control_fwhm_ns=CASE41_CONTROL_NS,
        signal_dipole_ea0=1.58167299508e-10 * 0.2556521 / ad.A0,
        control_dipole_ea0=4.47619298768e-11 * 0.72474758 / ad.A0,
        intermediate_lifetime_ns=1e9 / 38107518.888,
        storage_lifetime_ns=1e9 / 3102649.47106,
        isotope_fraction=1.0,
    )
    if not at_critical_energy:
        return p
    sp = ad.species_data("Rb87", "5D5/2")
    e = physics(sp, p, "counter", "square").critical_energy_nj
    length_m = CASE41_LENGTH_CM * ad.CM
    t_half = 1.5 * CASE41_CONTROL_NS + 2 * length_m / ob.C_M_PER_NS
    return p._replace(
        write_energy_nj=e, read_energy_nj=e, storage_time_ns=t_half + CASE41_CONTROL_NS / 2
    )


# ---- grids -----------------------------------------------------------------------------------
def choose_grid(
    sp: ad.Species,
    p: OrcaParams,
    geometry: str = "counter",
    shape: str = "square",
    signal_extent_ns: float | None = None,
    signal_fwhm_ns: float | None = None,
    nv: int = 9,
    nz_min: int = 32,
    nz_max: int = 1024,
) -> ob.Config:
    """A static grid meeting ORCA_MODEL 2.3's rules at the (plain-number) parameters p.

    dtau <= min(tau_w, tau_s) / 10, |delta_AC| dtau <= 0.2, |delta_S| dtau <= 0.2 set nz (dz =
    rho dtau); the window is [-T, T] about the control centre with T = control half-extent
    (tau_w / 2 square, 2 FWHM Gaussian) + signal_extent_ns (default: the control FWHM) + the
    transit 2L/c (counter-propagating frame only).
    """
    ph = physics(sp, p, geometry, shape)
    cfg0 = ob.Config(geometry=geometry, inverted=sp.inverted, shape=shape, nz=2, nt=2, nv=nv)
    r = ob.rho(cfg0)
    fw = float(p.control_fwhm_ns)
    widths = [fw] + ([float(signal_fwhm_ns)] if signal_fwhm_ns else [])
    if shape == "table":  # dtau <= h / 4 for the table's node spacing h
        widths.append(2.5 * fw / (len(p.control_table) + 1))
    rabi = max(float(ph.write_rabi_rad_per_ns), float(ph.read_rabi_rad_per_ns))
    delta = abs(2.0 * math.pi * float(p.detuning_ghz))
    a_s = abs(complex(ob.signal_self_rate(cfg0._replace(nv=1), ph.medium)).imag)
    dt = min(
        min(widths) / 10.0,
        0.2 / max(rabi**2 / (4.0 * delta), 1e-30),
        0.2 / max(a_s, 1e-30),
    )
    length = float(ph.medium.length)
    nz = int(min(max(math.ceil(length / (r * dt)) + 1, nz_min), nz_max))
    dt = length / (nz - 1) / r
    extent = fw if signal_extent_ns is None else float(signal_extent_ns)
    half_c = 2.0 * fw if shape == "gaussian" else 0.5 * fw
    half = half_c + max(extent, fw) + (2.0 * length / ad.C / ad.NS if geometry == "counter" else 0)
    nt = int(math.ceil(2.0 * half / dt))
    return cfg0._replace(nz=nz, nt=nt)


# ---- the memory ---------------------------------------------------------------------------
class OrcaResult(NamedTuple):
    """One signal through the memory; times in ns on the signal's clock (cell centre)."""

    input_times_ns: object  # (nt + 1,) nodes where psi was sampled
    output_times_ns: object  # (nt + 1,) retrieved light at the exit
    transmitted_times_ns: object  # (nt + 1,) unstored light at the exit
    write_efficiency: object
    read_efficiency: object
    total_efficiency: object
    output_amplitude: object  # (nt + 1,) complex, sqrt(photons/ns)
    transmitted_amplitude: object  # (nt + 1,)
    spin_wave: object  # (nv, nz): B_v(z) after the write, normalised as the solver's
    z_m: object  # (nz,) node positions, m, cell centre at 0
    physics: Physics


def _controls(ph: Physics, p: OrcaParams):
    if p.control_table is not None:  # shape "table": Rabi frequency per unit amplitude
        table = jnp.asarray(p.control_table)
        top = jnp.max(table)
        return tuple(
            ob.Control(r / top, p.control_fwhm_ns, table)
            for r in (ph.write_rabi_rad_per_ns, ph.read_rabi_rad_per_ns)
        )
    return (
        ob.Control(ph.write_rabi_rad_per_ns, p.control_fwhm_ns),
        ob.Control(ph.read_rabi_rad_per_ns, p.control_fwhm_ns),
    )


def _medium(ph: Physics, p: OrcaParams):
    return ph.medium


def _storage(cfg, medium, p: OrcaParams, beat_terms):
    return ob.storage_factor(cfg, medium, p.storage_time_ns, p.dephasing_time_ns, beat_terms)


def memory(
    sp: ad.Species,
    p: OrcaParams,
    cfg: ob.Config,
    signal,
    beat_terms=None,
    tier: str = "adiabatic",
) -> OrcaResult:
    """Write, store and read a signal psi = signal(t_ns) (vectorised, complex or real).

    signal(t) may return (nt + 1,) for one wavepacket or (nt + 1, M) for a batch of M (e.g.
    a table over emission times); the efficiencies, amplitudes and spin waves then carry a
    trailing (amplitudes) or leading (spin waves) batch axis.

    tier: "adiabatic" (Tier B) or "full" (Tier C, standard ladder only; the polarisation left
    after the write is dropped, it decays within tau2 of the storage).

    Efficiencies: write = stored / incident (on the grid), read = retrieved / stored after the
    storage, total = retrieved / incident. Incident is the grid norm of the sampled psi
    (1 when the window contains the photon; see `grid_warnings`).
    """
    ph = physics(sp, p, cfg.geometry, cfg.shape)
    medium = ph.medium
    cw, cr = _controls(ph, p)
    t_rel = ob.input_times(cfg, medium)
    t_in = t_rel + p.write_time_ns
    psi = jnp.asarray(signal(t_in))
    single = psi.ndim == 1
    psi = psi[:, None] if single else psi
    wt = ob.time_weights(cfg, medium)
    n_in = jnp.sum(wt[:, None] * jnp.abs(psi) ** 2, axis=0)
    d = _storage(cfg, medium, p, beat_terms)
    if tier == "adiabatic":
        trans, b = ob.write(cfg, medium, cw, psi)
        b_store = b * d[None, :, None]
        out = ob.read(cfg, medium, cr, b_store, ob.read_a1_offset(cfg, cw))
    elif tier == "full":
        if sp.inverted:
            raise ValueError("tier 'full' covers the standard ladder only, not " + sp.storage_state)
        trans, _, b = of.write(cfg, medium, cw, psi)
        b_store = b * d[None, :, None]
        out, _, _ = of.read(cfg, medium, cr, b_store)
    else:
        raise ValueError(f"tier must be 'adiabatic' or 'full', got {tier!r}")
    wsp = ob.spin_weights(cfg, medium)
    n_b = jnp.sum(wsp * jnp.abs(b) ** 2, axis=(1, 2))
    n_b2 = jnp.sum(wsp * jnp.abs(b_store) ** 2, axis=(1, 2))
    n_out = jnp.sum(wt[:, None] * jnp.abs(out) ** 2, axis=0)
    pick = (lambda x: x[0]) if single else (lambda x: x)  # noqa: E731
    pick_t = (lambda x: x[:, 0]) if single else (lambda x: x)  # noqa: E731
    t_out = ob.output_times(cfg, medium)
    z = -0.5 * medium.length + medium.length / (cfg.nz - 1) * jnp.arange(cfg.nz)
    return OrcaResult(
        input_times_ns=t_in,
        output_times_ns=t_out + p.write_time_ns + p.storage_time_ns,
        transmitted_times_ns=t_out + p.write_time_ns,
        write_efficiency=pick(n_b / n_in),
        read_efficiency=pick(n_out / n_b2),
        total_efficiency=pick(n_out / n_in),
        output_amplitude=pick_t(out),
        transmitted_amplitude=pick_t(trans),
        spin_wave=pick(b),
        z_m=z,
        physics=ph,
    )


class OrcaKernel(NamedTuple):
    """The total kernel in unit-norm coordinates and its SVD (ORCA_MODEL 2.1)."""

    kernel: object  # (nt + 1, nt + 1): K~ = K~_r D K~_w
    input_times_ns: object
    output_times_ns: object
    input_weights: object  # trapezoid weights w_t of the input nodes, ns
    output_weights: object
    svd: ob.Kernel  # efficiencies sigma_k^2, input and output modes


def kernel(sp: ad.Species, p: OrcaParams, cfg: ob.Config, beat_terms=None) -> OrcaKernel:
    """K~ and its SVD; eta(psi) = |K~ x_psi|^2 with x_psi = sqrt(w_t) psi(input_times)."""
    ph = physics(sp, p, cfg.geometry, cfg.shape)
    medium = ph.medium
    cw, cr = _controls(ph, p)
    d = _storage(cfg, medium, p, beat_terms)
    k = ob.total_kernel(cfg, medium, cw, cr, d)
    wt = ob.time_weights(cfg, medium)
    return OrcaKernel(
        kernel=k,
        input_times_ns=ob.input_times(cfg, medium) + p.write_time_ns,
        output_times_ns=ob.output_times(cfg, medium) + p.write_time_ns + p.storage_time_ns,
        input_weights=wt,
        output_weights=wt,
        svd=ob.kernel_svd(k, wt, wt),
    )


def kernel_efficiency(k: OrcaKernel, psi):
    """(total efficiency, output amplitude on output_times) of psi sampled at input_times."""
    x = jnp.sqrt(k.input_weights) * psi
    y = k.kernel @ x
    return jnp.sum(jnp.abs(y) ** 2), y / jnp.sqrt(k.output_weights)


def kernel_state_efficiency(k: OrcaKernel, rho):
    """Tr(K~ rho~ K~^dagger) for a density matrix rho(t, t') sampled on input_times (1/ns)."""
    s = jnp.sqrt(k.input_weights)
    return ob.efficiency_of_state(k.kernel, s[:, None] * rho * s[None, :])


def analytic(
    sp: ad.Species,
    p: OrcaParams,
    signal_fwhm_ns,
    geometry: str = "counter",
    beat_terms=None,
):
    """Tier A (square control, Gaussian signal): (eta_write, eta_read, eta_total)."""
    ph = physics(sp, p, geometry, "square")
    m = ph.medium
    kappa = jnp.sqrt(m.kappa2)
    delta = m.detuning
    sign = 1.0 if sp.inverted else -1.0
    bs, mism = [], []
    for rabi in (ph.write_rabi_rad_per_ns, ph.read_rabi_rad_per_ns):
        bs.append(kappa * jnp.abs(rabi) / (2.0 * jnp.abs(delta)))
        # the carrier's spatial frequency inside the medium, pi c xi = delta_S, cancels the
        # -delta_S of D(xi): a signal on the light-shifted two-photon resonance is matched
        mism.append(m.two_photon_detuning + sign * rabi**2 / (4.0 * delta))
    t_s = p.storage_time_ns
    big_k = m.k_a + m.k_b
    store = jnp.exp(-m.gamma3 * t_s - (big_k * m.sigma_v * t_s) ** 2)
    if p.dephasing_time_ns is not None:
        store = store * jnp.exp(-((t_s / p.dephasing_time_ns) ** 2))
    if beat_terms is not None and len(beat_terms):
        a = jnp.asarray(beat_terms)
        num = 1.0 + jnp.sum(a[:, 0] * jnp.exp(1j * (2 * jnp.pi * a[:, 1] * t_s + a[:, 2])))
        den = 1.0 + jnp.sum(a[:, 0] * jnp.exp(1j * a[:, 2]))
        store = store * jnp.abs(num / den) ** 2
    return oa.square_efficiencies(
        bs[0], bs[1], p.control_fwhm_ns, signal_fwhm_ns, mism[0], mism[1], store
    )


def matched_two_photon_detuning_mhz(ph: Physics):
    """The two-photon detuning that puts the signal on the write control's light-shifted
    two-photon resonance (D = 0 at the carrier): -delta_AC, MHz."""
    return -ph.light_shift_mhz


def storage_1e_ns(ph: Physics, p: OrcaParams):
    """1/e storage time of ORCA_MODEL 1.7's law exp(-gamma3 t - (K sigma_v t)^2 - (t/tau_d)^2),
    ns (beat terms left out: they modulate, they do not set the envelope)."""
    m = ph.medium
    a = ((m.k_a + m.k_b) * m.sigma_v) ** 2
    if p.dephasing_time_ns is not None:
        a = a + 1.0 / p.dephasing_time_ns**2
    g = m.gamma3
    return jnp.where(
        a > 0, (jnp.sqrt(g**2 + 4.0 * a) - g) / (2.0 * jnp.where(a > 0, a, 1.0)), 1.0 / g
    )


def grid_warnings(sp: ad.Species, p: OrcaParams, cfg: ob.Config, signal=None) -> list[str]:
    """ORCA_MODEL 2.3 grid rules and 1.5 validity at plain-number p, with the numbers.

    signal: optional psi(t); warns when the window misses more than 1e-3 of the photon.
    """
    ph = physics(sp, p, cfg.geometry, cfg.shape)
    cw, cr = _controls(ph, p)
    out = ob.grid_warnings(cfg, ph.medium, (cw, cr), storage_time=p.storage_time_ns)
    if float(p.signal_waist_um) > float(p.control_waist_um):
        out.append(
            f"signal waist {float(p.signal_waist_um):.4g} um > control waist "
            f"{float(p.control_waist_um):.4g} um: the on-axis control overestimates the coupling"
        )
    if float(p.storage_time_ns) < float(p.control_fwhm_ns) * (
        4.0 if cfg.shape == "gaussian" else 1
    ):
        out.append(
            f"storage_time_ns = {float(p.storage_time_ns):.4g} ns: write and read controls overlap"
        )
    if signal is not None:
        t = ob.input_times(cfg, ph.medium) + p.write_time_ns
        n = float(jnp.sum(ob.time_weights(cfg, ph.medium) * jnp.abs(signal(t)) ** 2))
        if abs(1.0 - n) > 1e-3:
            out.append(
                f"the window [{float(t[0]):.4g}, {float(t[-1]):.4g}] ns holds {n:.6g} of the "
                "signal (should be 1 within 1e-3): widen it (signal_extent_ns)"
            )
    return out


def optical_depth_bound(optical_depth: float) -> float:
    """eta_r,max(d)^2, the bound on store-then-retrieve efficiency at optical depth d
    (ORCA_MODEL 4.4; plain numbers). The kernel's width in x is ~ 2 / sqrt(d), so the
    Gauss-Legendre order grows as 4 sqrt(d) (128 at least); beyond d = 5e5 (order 2828)
    the asymptote 1 - 2.9 / d of the top eigenvalue is used."""
    from . import orca_gorshkov as og

    d = float(optical_depth)
    if d > 5e5:
        return (1.0 - 2.9 / d) ** 2
    n = max(128, int(math.ceil(4.0 * math.sqrt(max(d, 0.0)))))
    with jax.enable_x64(True):  # the eigenvalue's 1 - eta ~ 3 / d needs double precision
        eta = float(og.max_retrieval_efficiency(jnp.asarray(d, jnp.float64), n))
    return min(eta, 1.0) ** 2
