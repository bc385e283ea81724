"""ORCA memory kernels against ORCA_MODEL.md: data, Tier A, Tier B regression, bounds, gradients."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from photonmc.kernels import atomic_data as ad
from photonmc.kernels import orca
from photonmc.kernels import orca_adiabatic as ob
from photonmc.kernels import orca_analytic as oa
from photonmc.kernels import orca_full as of
from photonmc.kernels import orca_gorshkov as og


@pytest.fixture(autouse=True)
def _float64():
    """Every check here runs in float64 (the scope keeps other test files' default)."""
    with jax.enable_x64(True):
        yield


RB5D = ad.species_data("Rb87", "5D5/2")
RB4D = ad.species_data("Rb87", "4D5/2")
CS = ad.species_data("Cs133", "6D5/2")
C = ob.C_M_PER_NS


# ---- atomic data (ORCA_MODEL 3) ---------------------------------------------------------------
def test_number_density_checks():
    assert float(ad.number_density(CS, 363.15)) == pytest.approx(8.397e18, rel=1e-4)
    assert float(ad.number_density(RB5D, 388.15)) == pytest.approx(1.5152e19, rel=1e-4)


def test_effective_dipoles_and_doppler_table():
    assert RB5D.signal_dipole_ea0 == pytest.approx(2.441, abs=1e-3)
    assert RB4D.signal_dipole_ea0 == pytest.approx(3.070, abs=1e-3)
    assert RB4D.control_dipole_ea0 == pytest.approx(2.441, abs=1e-3)
    assert RB5D.control_dipole_ea0 == pytest.approx(0.674, abs=1e-3)
    assert CS.signal_dipole_ea0 == pytest.approx(2.586, abs=1e-3)
    assert CS.control_dipole_ea0 == pytest.approx(1.770, abs=1e-3)
    for sp, t_c, counter, co in [
        (RB5D, 115, 117, 0.32),
        (RB4D, 120, 1.31, 0.42),
        (CS, 90, 12.7, 0.47),
    ]:
        t = t_c + 273.15
        assert float(ad.doppler_time(sp, t, "counter")) * 1e9 == pytest.approx(counter, rel=5e-3)
        assert float(ad.doppler_time(sp, t, "co")) * 1e9 == pytest.approx(co, rel=1e-2)
    with pytest.raises(ValueError, match="valid pairs"):
        ad.species_data("Rb85", "5D5/2")


def test_storage_time_law():
    p = orca.OrcaParams(temperature_c=120.0, storage_lifetime_ns=93.7)
    ph = orca.physics(RB4D, p)
    t = float(orca.storage_1e_ns(ph, p))
    tau_d = float(ad.doppler_time(RB4D, 393.15, "counter")) * 1e9
    assert t / 93.7 + (t / tau_d) ** 2 == pytest.approx(1.0, rel=1e-12)
    assert t == pytest.approx(1.30, abs=0.01)


def test_derived_quantities_hold_in_float32():
    """Constants are combined before they meet traced values: no SI underflow in float32."""
    p = orca.OrcaParams(write_energy_nj=1.0, read_energy_nj=1.0)
    with jax.enable_x64(False):
        f32 = orca.physics(RB5D, jax.tree.map(jnp.float32, p))
    f64 = orca.physics(RB5D, p)
    for name in ("kappa2_per_ns2", "optical_depth", "critical_energy_nj", "write_rabi_rad_per_ns"):
        assert float(getattr(f32, name)) == pytest.approx(float(getattr(f64, name)), rel=1e-5)


def test_gaussian_effective_duration():
    # (int sqrt(f) dt)^2 for a unit-area Gaussian power shape of FWHM 1
    f = lambda t: float(ad.gaussian_shape_norm_s(1.0)) * math.exp(-4 * math.log(2) * t**2)  # noqa: E731
    val = quad(lambda t: math.sqrt(f(t)), -20, 20)[0] ** 2
    assert ad.effective_duration("gaussian", 1.0) == pytest.approx(val, rel=1e-10)
    assert ad.effective_duration("gaussian", 1.0) == pytest.approx(2.129, abs=1e-3)


# ---- Tier A (ORCA_MODEL 1.6, 4.3) ------------------------------------------------------------
def _eta_a_quad(f):
    su = 2 * math.sqrt(math.log(2)) / (math.pi * f)

    def g(u):
        amp = (math.pi**2 / 4) * np.sinc(0.5 * math.sqrt(1 + u**2)) ** 2
        return math.exp(-(u**2) / su**2) / (math.sqrt(math.pi) * su) * amp**2

    return quad(g, -np.inf, np.inf, limit=400, epsabs=1e-13)[0]


def test_universal_efficiency_table():
    assert float(oa.universal_efficiency(1.0)) == pytest.approx(0.795318, abs=1e-6)
    assert float(oa.universal_efficiency(2.0)) == pytest.approx(0.935755, abs=1e-6)
    for f in (0.5, 3.0, 4.0, 8.0):
        assert float(oa.universal_efficiency(f)) == pytest.approx(_eta_a_quad(f), abs=1e-9)


def test_square_model_detuned_against_quadrature():
    om_w, om_r, tw, ts, d0w, d0r = 7.0, 9.0, 0.4, 0.7, 3.0, -2.0
    sig = math.sqrt(2 * math.log(2)) / ts

    def p(om, d):
        w = math.hypot(om, d)
        return (om / w) ** 2 * math.sin(w * tw / 2) ** 2

    dens = lambda x: math.exp(-(x**2) / (2 * sig**2)) / (math.sqrt(2 * math.pi) * sig)  # noqa: E731
    ew = quad(lambda x: dens(x) * p(om_w, d0w + x), -np.inf, np.inf)[0]
    et = quad(lambda x: dens(x) * p(om_w, d0w + x) * p(om_r, d0r + x), -np.inf, np.inf)[0]
    got = oa.square_efficiencies(om_w, om_r, tw, ts, d0w, d0r, 0.8)
    assert float(got[0]) == pytest.approx(ew, abs=1e-10)
    assert float(got[2]) == pytest.approx(0.8 * et, abs=1e-10)
    assert float(got[1]) == pytest.approx(et / ew, abs=1e-9)


# ---- case 4.1 (ORCA_MODEL 4.1), exact SI inputs ----------------------------------------------
TAU_W, TAU_S, WAIST = 0.3, 0.6, 131e-6
DELTA = 2 * math.pi * 9.0
L41 = 2 * (1.6 * 2) * TAU_W * (C / 2) / 1.05


def _case41():
    n = ad.number_density(RB5D, 388.15)
    d12 = 1.58167299508e-10 * 0.2556521 / ad.A0  # e a0
    d23 = 4.47619298768e-11 * 0.72474758 / ad.A0
    k2 = ad.kappa_squared(0.625 * n, d12, 2.41417295963e15)
    e_crit = ad.critical_energy(k2, d23, WAIST, DELTA * 1e9, TAU_W * 1e-9)
    rabi = ad.rabi_frequency(e_crit / (TAU_W * 1e-9), d23, WAIST) * 1e-9
    med = ob.Medium(k2 * 1e-18, 38107518.888e-9, 3102649.47106e-9, 0.0, DELTA, 0.0, 0, 0, 0, L41)
    return n, k2, e_crit, rabi, med


def test_case41_derived_quantities():
    n, k2, e_crit, rabi, med = _case41()
    assert float(n) == pytest.approx(1.5152e19, rel=1e-4)
    assert math.sqrt(float(k2)) == pytest.approx(3.2058e10, rel=1e-4)
    assert float(ad.optical_depth(k2, L41, 38107518.888)) == pytest.approx(2.466e4, rel=1e-3)
    assert float(rabi) / (2 * math.pi) == pytest.approx(5.880, abs=1e-3)
    assert float(e_crit) * 1e9 == pytest.approx(6.0307, abs=2e-4)
    assert float(e_crit) * 80e6 == pytest.approx(0.482, abs=1e-3)  # mean power at 80 MHz, W
    assert L41 == pytest.approx(0.274096, abs=1e-6)


def _case41_stage_params():
    return orca.case41_params(at_critical_energy=False)


def test_case41_from_stage_parameters():
    """The same case through the stage-style face (ARC wavelength instead of OM21's omega)."""
    p = _case41_stage_params()
    ph = orca.physics(RB5D, p)
    assert float(ph.critical_energy_nj) == pytest.approx(6.031, abs=1e-3)
    p = p._replace(write_energy_nj=ph.critical_energy_nj, read_energy_nj=ph.critical_energy_nj)
    ph = orca.physics(RB5D, p)
    # phase matching: the signal on the light-shifted two-photon resonance (D0 = 0)
    d_ac = -(ph.write_rabi_rad_per_ns**2) / (4 * DELTA)
    matched = -d_ac / (2 * math.pi) * 1e3
    assert float(orca.matched_two_photon_detuning_mhz(ph)) == pytest.approx(float(matched))
    q = p._replace(storage_time_ns=0.0, two_photon_detuning_mhz=matched)
    # gamma -> 0 in Tier A; the storage factor at T_s = 0 is 1
    assert float(orca.analytic(RB5D, q, TAU_S)[2]) == pytest.approx(0.935755, abs=2e-6)
    assert float(orca.analytic(RB5D, q, TAU_W)[2]) == pytest.approx(0.795318, abs=2e-6)
    # unmatched, the light shift costs efficiency
    assert float(orca.analytic(RB5D, q._replace(two_photon_detuning_mhz=0.0), TAU_S)[2]) < 0.93
    assert float(ph.write_rabi_rad_per_ns) / (2 * math.pi) == pytest.approx(5.880, abs=1e-3)


def test_case41_through_the_stage_face_needs_the_matched_two_photon_detuning():
    """A plain Gaussian through `orca.memory` on `choose_grid`'s grid: on the light-shifted
    two-photon resonance it reaches the 4.1 efficiency (within the grid's ~1e-3 and the
    protocol's input tilt); on the bare resonance, or shifted the wrong way, it does not."""
    p = orca.case41_params()  # the setup benchmarks/orca_kernel.py times
    e = orca.physics(RB5D, _case41_stage_params()).critical_energy_nj
    t_half = 1.5 * TAU_W + 2 * L41 / C
    assert float(p.write_energy_nj) == float(p.read_energy_nj) == pytest.approx(float(e))
    assert float(p.storage_time_ns) == pytest.approx(t_half + TAU_W / 2, rel=1e-12)
    ph = orca.physics(RB5D, p)
    cfg = orca.choose_grid(RB5D, p, "counter", "square", 1.5 * TAU_W, TAU_S, nv=1)
    assert cfg.nz - 1 >= L41 / (C / 2) / (TAU_W / 10)
    psi = _gauss(TAU_S)
    matched = orca.matched_two_photon_detuning_mhz(ph)
    eta = [
        float(orca.memory(RB5D, p._replace(two_photon_detuning_mhz=d), cfg, psi).total_efficiency)
        for d in (matched, 0.0, -matched)
    ]
    assert eta[0] == pytest.approx(0.9225, abs=3e-3)
    assert eta[1] < 0.6 and eta[2] < 0.1


def _run41(nz, om21=False, f=2.0, nv=1):
    """The 4.1 numerical protocol for tau_s = f tau_w: returns (eta, RS, TS, RB, TB), xi0."""
    _, _, _, rabi, med = _case41()
    tau_s = f * TAU_W
    length = 2 * (1.6 * f) * TAU_W * (C / 2) / 1.05
    med = med._replace(length=length)
    if nv > 1:
        k_a, k_b = ad.wavevectors(RB5D, "counter")
        sigma_v = ad.thermal_velocity(RB5D, 388.15) * 1e-9
        med = med._replace(k_a=k_a, k_b=k_b, sigma_v=sigma_v)
    t_half = 1.5 * TAU_W + 2 * length / C
    dt = length / (nz - 1) / (C / 2)
    cfg = ob.Config("counter", False, "square", nz, int(round(2 * t_half / dt)), nv, om21)
    ctl = ob.Control(rabi, TAU_W)
    a_s = ob.signal_self_rate(cfg, med) * (-1 if om21 else 1)
    d_ac, d_s = -(rabi**2) / (4 * DELTA), -med.kappa2 / (4 * DELTA)
    xi0 = -(d_ac + d_s) / (math.pi * C) if om21 else -(d_ac - d_s) / (math.pi * C)
    t = ob.input_times(cfg, med)
    wt = ob.time_weights(cfg, med)
    s = jnp.exp(-2 * math.log(2) * t**2 / tau_s**2 - 1j * math.pi * C * xi0 * t)
    s = s * jnp.exp(a_s * (t - length / C + TAU_W / 2))
    s = s / jnp.sqrt(jnp.sum(wt * jnp.abs(s) ** 2))
    trans, b = ob.write(cfg, med, ctl, s[:, None])
    w = ob.spin_weights(cfg, med)
    n_b = jnp.sum(w * jnp.abs(b[0]) ** 2)
    # no decay before the read control: storage time = T + tau_w / 2 between control centres
    d = ob.storage_factor(cfg, med, t_half + TAU_W / 2)
    out, b_end = ob.read(cfg, med, ctl, b * d[None, :, None], final=True)
    eta = jnp.sum(wt * jnp.abs(out[:, 0]) ** 2)
    ts_ = jnp.sum(wt * jnp.abs(trans[:, 0]) ** 2)
    tb = jnp.sum(w * jnp.abs(b_end[0]) ** 2) / n_b
    return [float(x) for x in (eta, n_b, ts_, eta / n_b, tb)], xi0


def test_case41_adiabatic_physical_signs():
    (eta, rs, ts_, rb, tb), xi0 = _run41(249)
    assert xi0 == pytest.approx(1.583, abs=1e-3)
    # ORCA_MODEL 2.3/4.1: 0.92236 at this grid, 0.92247 at nz = 993; the contract's 0.9225
    assert eta == pytest.approx(0.9225, abs=3e-4)
    assert rs == pytest.approx(0.9562, abs=5e-4)
    assert ts_ == pytest.approx(0.0335, abs=2e-4)
    assert rb == pytest.approx(0.9647, abs=5e-4)
    assert tb == pytest.approx(0.0313, abs=2e-4)


def test_case41_adiabatic_om21_signs():
    (eta, rs, ts_, rb, tb), xi0 = _run41(249, om21=True)
    assert xi0 == pytest.approx(11.231, abs=2e-3)
    # ORCA_MODEL 4.1: 0.93460 / 0.03135 / 0.96248 / 0.97103 / 0.03388 (nz = 993); 0.93448 at 249
    assert eta == pytest.approx(0.93460, abs=3e-4)
    assert rs == pytest.approx(0.96248, abs=5e-4)
    assert ts_ == pytest.approx(0.03388, abs=2e-4)
    assert rb == pytest.approx(0.97103, abs=5e-4)
    assert tb == pytest.approx(0.03135, abs=2e-4)


def test_inverted_scheme_light_shift_sign_and_phase_matching():
    """The inverted ladder at case 4.1's couplings: no signal self-term, light shift
    +|Omega|^2 / (4 Delta) (ORCA_MODEL 1.5), so the phase-matched input has xi0 =
    -delta_AC / (pi c) of the opposite sign; matched, it stores and retrieves like the
    standard ladder (which differs only by the small loss of its self-term)."""
    _, _, _, rabi, med = _case41()
    nz = 125
    t_half = 1.5 * TAU_W + 2 * L41 / C
    dt = L41 / (nz - 1) / (C / 2)
    cfg = ob.Config("counter", True, "square", nz, int(round(2 * t_half / dt)), 1)
    ctl = ob.Control(rabi, TAU_W)
    t = ob.input_times(cfg, med)
    wt = ob.time_weights(cfg, med)
    d = ob.storage_factor(cfg, med, t_half + TAU_W / 2)
    etas = []
    for sign in (1.0, -1.0):
        xi0 = -sign * rabi**2 / (4 * DELTA) / (math.pi * C)
        s = jnp.exp(-2 * math.log(2) * t**2 / TAU_S**2 - 1j * math.pi * C * xi0 * t)
        s = s / jnp.sqrt(jnp.sum(wt * jnp.abs(s) ** 2))
        _, b = ob.write(cfg, med, ctl, s[:, None])
        out = ob.read(cfg, med, ctl, b * d[None, :, None], ob.read_a1_offset(cfg, ctl))
        etas.append(float(jnp.sum(wt * jnp.abs(out[:, 0]) ** 2)))
    standard = _run41(nz)[0][0]
    assert etas[0] == pytest.approx(standard, abs=1e-2)
    assert etas[1] < 0.2


@pytest.mark.parametrize("om21,expected", [(False, 0.7933), (True, 0.7993)])
def test_case42_inputs_in_2021_conventions(om21, expected):
    """ORCA_MODEL 4.2's inputs (f = 1, L = 13.705 cm) in 2021 conventions."""
    (eta, *_), _ = _run41(125, om21=om21, f=1.0)
    assert eta == pytest.approx(expected, abs=5e-4)


@pytest.mark.slow
def test_case41_doppler_classes_lower_the_efficiency():
    """With velocity classes the 4.1 efficiency drops slightly below 0.9225, the same for
    nv = 9 and 21 (ORCA_MODEL 2.3: the Rb 780/776 case converges at nv = 9)."""
    e1 = _run41(249)[0][0]
    e9 = _run41(249, nv=9)[0][0]
    e21 = _run41(249, nv=21)[0][0]
    assert e9 < e1 - 5e-4
    assert e9 == pytest.approx(e21, abs=1e-5)


@pytest.mark.slow
def test_case41_grid_convergence():
    """Second-order convergence towards the nz = 993 reference (0.92247)."""
    e = [_run41(nz)[0][0] for nz in (125, 249, 497)]
    assert abs(e[2] - 0.92247) < 1e-4
    assert abs(e[1] - e[2]) < abs(e[0] - e[1]) / 2.5


# ---- the kernel (ORCA_MODEL 2.1) -------------------------------------------------------------
def _small_params(**kw):
    p = dict(
        temperature_c=100.0,
        cell_length_cm=6.0,
        control_waist_um=150.0,
        signal_waist_um=100.0,
        detuning_ghz=6.0,
        write_energy_nj=2.0,
        read_energy_nj=2.5,
        control_fwhm_ns=0.5,
        write_time_ns=0.1,
        storage_time_ns=2.0,
    )
    p.update(kw)
    return orca.OrcaParams(**p)


def _gauss(fwhm, t0=0.0, nu=0.0):
    def psi(t):
        a = jnp.exp(-2 * math.log(2) * (t - t0) ** 2 / fwhm**2 - 2j * math.pi * nu * t)
        return a * (4 * math.log(2) / (math.pi * fwhm**2)) ** 0.25

    return psi


def _small_cfg(geometry="counter", shape="gaussian", nv=5, nz=40, sp=RB5D, **kw):
    p = _small_params(**kw)
    cfg = orca.choose_grid(sp, p, geometry, shape, signal_extent_ns=1.5, nv=nv)
    return p, cfg._replace(nz=nz, nt=int(cfg.nt * (nz - 1) / max(cfg.nz - 1, 1)) + 1)


@pytest.mark.parametrize("geometry", ["counter", pytest.param("co", marks=pytest.mark.slow)])
def test_kernel_matches_direct_solve_and_density_matrix(geometry):
    p, cfg = _small_cfg(geometry, nz=12 if geometry == "co" else 16, nv=3)
    psi = _gauss(0.6)
    direct = orca.memory(RB5D, p, cfg, psi)
    k = orca.kernel(RB5D, p, cfg)
    x = psi(k.input_times_ns)
    eta_k, out_k = orca.kernel_efficiency(k, x)
    assert float(eta_k) == pytest.approx(float(direct.total_efficiency), rel=1e-9)
    np.testing.assert_allclose(out_k, direct.output_amplitude, atol=1e-9)
    sv = np.asarray(k.svd.efficiencies)
    assert np.all(np.diff(sv) <= 1e-12) and sv[0] <= 1.0
    assert sv[0] >= float(eta_k)  # the Gaussian is not the optimal input mode
    # the top input mode stores sigma_1^2 through the direct solve as well
    phi = k.svd.input_modes[:, 0]
    e1 = orca.kernel_efficiency(k, phi)[0]
    assert float(e1) == pytest.approx(sv[0], rel=1e-9)
    # a mixture of two wavepackets: Tr(K rho K^dagger) is the weighted mean
    x2 = _gauss(0.6, t0=0.3)(k.input_times_ns)
    rho = 0.3 * jnp.outer(x, jnp.conj(x)) + 0.7 * jnp.outer(x2, jnp.conj(x2))
    mix = orca.kernel_state_efficiency(k, rho)
    e2 = orca.kernel_efficiency(k, x2)[0]
    assert float(mix) == pytest.approx(0.3 * float(eta_k) + 0.7 * float(e2), rel=1e-9)
    # a batch of wavepackets gives the same numbers column by column
    both = orca.memory(RB5D, p, cfg, lambda t: jnp.stack([psi(t), _gauss(0.6, t0=0.3)(t)], 1))
    assert float(both.total_efficiency[0]) == pytest.approx(float(eta_k), rel=1e-9)
    assert float(both.total_efficiency[1]) == pytest.approx(float(e2), rel=1e-9)
    # a coarse grid may overshoot by its O(dtau^2) balance defect
    assert 0 < float(direct.write_efficiency) < 1.02 and 0 < float(direct.read_efficiency) < 1.02


# ---- energy conservation (ORCA_MODEL 1.2) -----------------------------------------------------
def _balance(sp, geometry, nz):
    p, cfg = _small_cfg(geometry, sp=sp, nz=nz, nv=5)
    ph = orca.physics(sp, p, geometry, cfg.shape)
    med = ph.medium._replace(gamma2=0.0, gamma3=0.0)
    cw = ob.Control(ph.write_rabi_rad_per_ns, p.control_fwhm_ns)
    t = ob.input_times(cfg, med)
    wt = ob.time_weights(cfg, med)
    s = _gauss(0.6)(t)
    trans, b = ob.write(cfg, med, cw, s[:, None])
    w = ob.spin_weights(cfg, med)
    n_in = jnp.sum(wt * jnp.abs(s) ** 2)
    n_t = jnp.sum(wt * jnp.abs(trans[:, 0]) ** 2)
    n_b = jnp.sum(w * jnp.abs(b[0]) ** 2)
    out, b_end = ob.read(cfg, med, cw, b, ob.read_a1_offset(cfg, cw), final=True)
    n_out = jnp.sum(wt * jnp.abs(out[:, 0]) ** 2)
    n_left = jnp.sum(w * jnp.abs(b_end[0]) ** 2)
    return float(n_b / n_in), float(n_t + n_b - n_in), float(n_out + n_left - n_b)


@pytest.mark.parametrize(
    "sp,geometry",
    [
        (RB5D, "counter"),
        (RB5D, "co"),
        (RB4D, "counter"),
        pytest.param(CS, "co", marks=pytest.mark.slow),
    ],
)
def test_photon_number_conserved_without_decay(sp, geometry):
    """gamma2 = gamma3 = 0, Doppler classes included: photons in = transmitted + stored after
    the write, stored = retrieved + left after the read. The characteristic Crank-Nicolson
    scheme conserves the balance to second order in dtau: the defect falls 4x per halving."""
    coarse = _balance(sp, geometry, 24)
    fine = _balance(sp, geometry, 48)
    assert 0.05 < fine[0] < 1.05  # a substantial part is stored
    for c_, f_ in zip(coarse[1:], fine[1:], strict=True):
        assert abs(f_) < 5e-2
        assert abs(f_) < abs(c_) / 3.0 or abs(f_) < 1e-9


def _balance_full(geometry, nz):
    p, cfg = _small_cfg(geometry, nz=nz, nv=3)
    ph = orca.physics(RB5D, p, geometry, cfg.shape)
    med = ph.medium._replace(gamma2=0.0, gamma3=0.0)
    cw = ob.Control(ph.write_rabi_rad_per_ns, p.control_fwhm_ns)
    t = ob.input_times(cfg, med)
    wt = ob.time_weights(cfg, med)
    s = _gauss(0.6)(t)
    trans, pol, b = of.write(cfg, med, cw, s[:, None])
    w = ob.spin_weights(cfg, med)
    n_t = jnp.sum(wt * jnp.abs(trans[:, 0]) ** 2)
    n_b = jnp.sum(w * jnp.abs(b[0]) ** 2)
    n_p = jnp.sum(w * jnp.abs(pol[0]) ** 2)
    out, pol_end, b_end = of.read(cfg, med, cw, b)
    n_out = jnp.sum(wt * jnp.abs(out[:, 0]) ** 2)
    rest = jnp.sum(w * (jnp.abs(b_end[0]) ** 2 + jnp.abs(pol_end[0]) ** 2))
    n_in = jnp.sum(wt * jnp.abs(s) ** 2)
    return float(n_b), float(n_t + n_b + n_p - n_in), float(n_out + rest - n_b)


@pytest.mark.parametrize("geometry", ["counter", pytest.param("co", marks=pytest.mark.slow)])
def test_full_tier_conserves_photons_without_decay(geometry):
    """Tier C, all decays zero: photons in = transmitted + spin wave + polarisation, to second
    order in dtau (the defect falls ~4x per halving)."""
    coarse = _balance_full(geometry, 24)
    fine = _balance_full(geometry, 48)
    assert fine[0] > 0.05
    for c_, f_ in zip(coarse[1:], fine[1:], strict=True):
        assert abs(f_) < 2e-2
        assert abs(f_) < abs(c_) / 3.0 or abs(f_) < 1e-9


def test_full_tier_approaches_adiabatic_tier_at_weak_control():
    """Tier B is Tier C's adiabatic limit: their difference vanishes as |Omega| / 2|Delta|
    falls (it is of order (Omega / 2 Delta)^2: 5 % at 0.2, below 1 % at 0.05)."""
    diffs = []
    for energy in (50.0, 3.125):
        p, cfg = _small_cfg(
            "counter", nz=64, nv=1, detuning_ghz=30.0, write_energy_nj=energy, read_energy_nj=energy
        )
        psi = _gauss(0.6)
        rb = orca.memory(RB5D, p, cfg, psi)
        rc = orca.memory(RB5D, p, cfg, psi, tier="full")
        diffs.append(abs(float(rc.write_efficiency) / float(rb.write_efficiency) - 1.0))
    assert diffs[1] < 0.01 < 0.03 < diffs[0]
    with pytest.raises(ValueError, match="standard ladder"):
        orca.memory(RB4D, p, cfg, psi, tier="full")


def test_full_tier_with_a_table_control_approaches_the_adiabatic_tier():
    """A free-envelope ("table") control in Tier C: at weak control (|Omega| / 2|Delta|
    small) it stores what Tier B stores with the same envelope, to within 1 %. The total
    differs by 1.7-2.2 % at 0.78-12.5 nJ and nz = 32-128 (Tier C lower), where a Gaussian
    control agrees to 0.3 %: an open difference of the read (docs/orca_memory.md 14)."""
    p, cfg = _small_cfg(
        "counter",
        shape="table",
        nz=64,
        nv=1,
        detuning_ghz=30.0,
        write_energy_nj=3.125,
        read_energy_nj=3.125,
        control_table=(0.3, 1.0, 0.6, 0.2),
    )
    psi = _gauss(0.6)
    rb = orca.memory(RB5D, p, cfg, psi)
    rc = orca.memory(RB5D, p, cfg, psi, tier="full")
    assert 0.0 < float(rb.write_efficiency) < 1.0
    assert float(rc.write_efficiency) == pytest.approx(float(rb.write_efficiency), rel=0.01)
    assert float(rc.total_efficiency) == pytest.approx(float(rb.total_efficiency), rel=0.03)


# ---- optical-depth bound (ORCA_MODEL 4.4) -----------------------------------------------------
def test_retrieval_kernel_eigenvalues():
    for d in (1.0, 10.0, 100.0):
        e = float(og.max_retrieval_efficiency(d, 64))
        assert e == pytest.approx(float(og.max_retrieval_efficiency(d, 128)), abs=1e-9)
        flat = float(og.retrieval_efficiency(d, jnp.ones_like))
        assert flat < e < 1.0
    # an independent numpy quadrature of the kernel for a flat spin wave at d = 10
    x, w = np.polynomial.legendre.leggauss(200)
    x, w = 0.5 * (x + 1), 0.5 * w
    k = 5.0 * np.exp(-5.0 * (x[:, None] + x[None, :])) * np.i0(10.0 * np.sqrt(np.outer(x, x)))
    val = w @ k @ w
    assert float(og.retrieval_efficiency(10.0, jnp.ones_like)) == pytest.approx(val, rel=1e-10)
    # (1 - eta_max) d grows towards its asymptote (~2.9)
    r = [(1 - float(og.max_retrieval_efficiency(d, 128))) * d for d in (10, 100, 1000)]
    assert r[0] < r[1] < r[2] < 2.95


@pytest.mark.parametrize(
    "d,delta_over_gamma_g,duration,rabi,nz", [(10, 300, 120, 63, 151), (100, 30, 60, 10, 101)]
)
def test_adiabatic_solver_reaches_gorshkov_retrieval(d, delta_over_gamma_g, duration, rabi, nz):
    """Tier B, one velocity class, co-propagating, constant control, Gamma3 = 0: complete
    retrieval of a flat spin wave gives <b|k_r|b>."""
    length, gamma2 = 0.3, 1.0
    med = ob.Medium(
        d * gamma2 * C / length,
        gamma2,
        0.0,
        0.0,
        delta_over_gamma_g * gamma2 / 2,
        0.0,
        0.0,
        0.0,
        0.0,
        length,
    )
    dt = length / (nz - 1) / C
    nt = int(duration / dt)
    cfg = ob.Config("co", False, "square", nz, nt, 1)
    w = ob.spin_weights(cfg, med)
    b0 = (jnp.ones((1, 1, nz)) / jnp.sqrt(jnp.sum(w))).astype(complex)
    out, b_end = ob.read(cfg, med, ob.Control(rabi, 0.98 * nt * dt), b0, final=True)
    eta = float(jnp.sum(ob.time_weights(cfg, med) * jnp.abs(out[:, 0]) ** 2))
    left = float(jnp.sum(w * jnp.abs(b_end[0]) ** 2))
    assert left < 1e-3
    assert eta == pytest.approx(float(og.retrieval_efficiency(d, jnp.ones_like)), abs=1e-3)


# ---- gradients -------------------------------------------------------------------------------
def test_gradients_match_central_differences():
    p, cfg = _small_cfg("counter", nz=24, nv=3)
    psi = _gauss(0.6)
    names = ["temperature_c", "write_energy_nj", "detuning_ghz", "write_time_ns"]

    def eta(x):
        q = p._replace(**dict(zip(names, x, strict=True)))
        return orca.memory(RB5D, q, cfg, psi).total_efficiency

    x0 = jnp.asarray([getattr(p, n) for n in names], dtype=jnp.float64)
    g = jax.jit(jax.grad(eta))(x0)
    f = jax.jit(eta)
    for i, h in enumerate([1e-3, 1e-5, 1e-5, 1e-5]):
        e = jnp.zeros(4).at[i].set(h)
        fd = (f(x0 + e) - f(x0 - e)) / (2 * h)
        assert float(g[i]) == pytest.approx(float(fd), rel=1e-5, abs=1e-8), names[i]
    assert np.all(np.abs(np.asarray(g)) > 0)


def test_gradients_square_control_through_interval_fractions():
    p, cfg = _small_cfg("counter", shape="square", nz=24, nv=3, control_fwhm_ns=0.37)
    psi = _gauss(0.6)
    names = [
        "cell_length_cm",
        "control_fwhm_ns",
        "storage_time_ns",
        "read_energy_nj",
        "two_photon_detuning_mhz",
    ]

    def eta(x):
        q = p._replace(**dict(zip(names, x, strict=True)))
        return orca.memory(RB5D, q, cfg, psi).total_efficiency

    x0 = jnp.asarray([getattr(p, n) for n in names], dtype=jnp.float64)
    g = jax.jit(jax.grad(eta))(x0)
    f = jax.jit(eta)
    for i, h in enumerate([1e-5, 1e-6, 1e-5, 1e-5, 1e-3]):
        e = jnp.zeros(len(names)).at[i].set(h)
        fd = (f(x0 + e) - f(x0 - e)) / (2 * h)
        assert float(g[i]) == pytest.approx(float(fd), rel=1e-4, abs=1e-8), names[i]


# ---- grid rules ------------------------------------------------------------------------------
def test_grid_warnings_name_the_numbers():
    p, cfg = _small_cfg("counter", nz=24)
    msgs = orca.grid_warnings(RB5D, p, cfg._replace(nz=6, nt=8), _gauss(0.6))
    text = "\n".join(msgs)
    assert "tau_w/10" in text and "window" in text and "holds" in text
    good = orca.choose_grid(
        RB5D, p, "counter", "gaussian", signal_extent_ns=1.5, signal_fwhm_ns=0.6
    )
    assert orca.grid_warnings(RB5D, p, good, _gauss(0.6)) == []
    hot = p._replace(write_energy_nj=500.0)
    assert any("adiabatic" in m for m in orca.grid_warnings(RB5D, hot, good))
