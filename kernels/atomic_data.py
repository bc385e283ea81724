"""Atomic data and derived quantities of the ORCA ladder memory (ORCA_MODEL.md section 3).

Everything here is in SI (m, s, kg, K, J, C) unless a name says otherwise; the adiabatic
solver converts to ns and rad/ns. Functions are pure `jax.numpy` and differentiable in every
continuous argument (temperature, energies, waists, detunings, dipoles).

Choices made where the contract is silent:
- Physical constants are CODATA 2018 exact or recommended values, kept in this one module.
- Vapour pressure: ORCA_MODEL 3.1 (the Steck/OM21 fit), solid below the melting point and
  liquid above; the switch is a `where` on T, so the density is differentiable on each side
  (it is continuous to 0.2 % at the melting point, where its derivative jumps).
- The default dipoles of a species are the isotropic effective dipoles of 3.2,
  d_eff^2 = |<J||er||J'>_ARC|^2 / (3 (2J + 1)) with J the lower level of the transition
  (unpolarised atoms, fixed polarisations, far from the intermediate hyperfine structure);
  real couplings depend on polarisations and are meant to be calibrated (section 5).
- Lifetimes are total lifetimes: gamma = 1/tau (population); the coherence of |1>-|2> decays
  at gamma2/2, that of |1>-|3> at gamma3/2 (+ gamma_d).
- Rb87 4D5/2 is the inverted (telecom) scheme: the control (780 nm) drives 1-2, the signal
  (1529 nm) 2-3 (ORCA_MODEL 1.3). The signal's optical depth there is defined with the decay
  of the 2-3 coherence, gamma_s = gamma2 + gamma3 (the depth the signal would see with all
  atoms in |2>); in the standard scheme gamma_s = gamma2 (ORCA_MODEL 1.1).
- Optical pumping p in [0, 1] interpolates the active fraction from the thermal hyperfine
  fraction (p = 0) to one (p = 1): f = f_hf + p (1 - f_hf).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp

# ---- physical constants (CODATA 2018), SI ----------------------------------------------
C = 299792458.0  # m/s
HBAR = 1.054571817e-34  # J s
EPS0 = 8.8541878128e-12  # F/m
E_CHARGE = 1.602176634e-19  # C
A0 = 5.29177210903e-11  # m (Bohr radius)
KB = 1.380649e-23  # J/K
EA0 = E_CHARGE * A0  # C m: atomic unit of dipole moment
TORR_PA = 101325.0 / 760.0
ZERO_C_K = 273.15

# unit factors used by the kernels' public faces (ns, GHz, nJ, cm, um)
NS = 1e-9
NJ = 1e-9
CM = 1e-2
UM = 1e-6
GHZ = 1e9
MHZ = 1e6


class Species(NamedTuple):
    """One species and storage state: ORCA_MODEL 3.2 (SI)."""

    name: str
    storage_state: str
    lambda12_m: float  # 1-2 (ground to intermediate nP3/2)
    lambda23_m: float  # 2-3 (intermediate to storage nD5/2)
    dipole12_arc_ea0: float  # reduced element, ARC convention
    dipole23_arc_ea0: float
    j_ground: float  # J of |1>
    j_intermediate: float  # J of |2>
    tau2_s: float  # total lifetime of |2>
    tau3_s: float  # total lifetime of |3>
    mass_kg: float
    nuclear_spin: float
    f_upper: float  # the active (upper) ground hyperfine level F
    inverted: bool  # True: control on 1-2, signal on 2-3 (telecom scheme)
    vapour_a_solid: float
    vapour_b_solid: float
    vapour_a_liquid: float
    vapour_b_liquid: float
    melting_k: float

    @property
    def hyperfine_fraction(self) -> float:
        """Thermal fraction of atoms in the active ground level, (2F+1) / (2 (2I+1))."""
        return (2.0 * self.f_upper + 1.0) / (2.0 * (2.0 * self.nuclear_spin + 1.0))

    @property
    def dipole12_eff_ea0(self) -> float:
        return isotropic_dipole(self.dipole12_arc_ea0, self.j_ground)

    @property
    def dipole23_eff_ea0(self) -> float:
        return isotropic_dipole(self.dipole23_arc_ea0, self.j_intermediate)

    @property
    def signal_dipole_ea0(self) -> float:
        """Isotropic effective dipole of the transition that carries the signal."""
        return self.dipole23_eff_ea0 if self.inverted else self.dipole12_eff_ea0

    @property
    def control_dipole_ea0(self) -> float:
        return self.dipole12_eff_ea0 if self.inverted else self.dipole23_eff_ea0

    @property
    def signal_wavelength_m(self) -> float:
        return self.lambda23_m if self.inverted else self.lambda12_m

    @property
    def control_wavelength_m(self) -> float:
        return self.lambda12_m if self.inverted else self.lambda23_m


def isotropic_dipole(reduced_arc_ea0: float, j_lower: float) -> float:
    """Isotropic effective dipole (e a0) from an ARC-convention reduced element."""
    return reduced_arc_ea0 / math.sqrt(3.0 * (2.0 * j_lower + 1.0))


_RB = dict(
    lambda12_m=780.2415e-9,
    dipole12_arc_ea0=5.978,
    j_ground=0.5,
    j_intermediate=1.5,
    tau2_s=26.24e-9,
    mass_kg=1.443161e-25,
    nuclear_spin=1.5,
    f_upper=2.0,
    vapour_a_solid=4.857,
    vapour_b_solid=4215.0,
    vapour_a_liquid=4.312,
    vapour_b_liquid=4040.0,
    melting_k=312.45,
)

SPECIES: dict[tuple[str, str], Species] = {
    ("Rb87", "4D5/2"): Species(
        name="Rb87",
        storage_state="4D5/2",
        lambda23_m=1529.366e-9,
        dipole23_arc_ea0=10.634,
        tau3_s=93.7e-9,
        inverted=True,
        **_RB,
    ),
    ("Rb87", "5D5/2"): Species(
        name="Rb87",
        storage_state="5D5/2",
        lambda23_m=775.979e-9,
        dipole23_arc_ea0=2.334,
        tau3_s=238.5e-9,
        inverted=False,
        **_RB,
    ),
    ("Cs133", "6D5/2"): Species(
        name="Cs133",
        storage_state="6D5/2",
        lambda12_m=852.347e-9,
        lambda23_m=917.483e-9,
        dipole12_arc_ea0=6.334,
        dipole23_arc_ea0=6.130,
        j_ground=0.5,
        j_intermediate=1.5,
        tau2_s=30.462e-9,
        tau3_s=60.6e-9,
        mass_kg=2.206947e-25,
        nuclear_spin=3.5,
        f_upper=4.0,
        inverted=False,
        vapour_a_solid=4.711,
        vapour_b_solid=3999.0,
        vapour_a_liquid=4.165,
        vapour_b_liquid=3830.0,
        melting_k=301.65,
    ),
}


def species_data(species: str, storage_state: str) -> Species:
    """The atomic data of (species, storage_state); ValueError naming the valid pairs."""
    try:
        return SPECIES[(species, storage_state)]
    except KeyError:
        valid = ", ".join(f"{a} {b}" for a, b in SPECIES)
        raise ValueError(
            f"no atomic data for species {species!r}, storage_state {storage_state!r}; "
            f"valid pairs: {valid}"
        ) from None


# ---- 3.1 number density ------------------------------------------------------------------
def vapour_pressure_pa(sp: Species, temperature_k):
    """Saturated vapour pressure in Pa (ORCA_MODEL 3.1)."""
    t = jnp.asarray(temperature_k)
    liquid = t > sp.melting_k
    a = jnp.where(liquid, sp.vapour_a_liquid, sp.vapour_a_solid)
    b = jnp.where(liquid, sp.vapour_b_liquid, sp.vapour_b_solid)
    return 10.0 ** (2.881 + a - b / t) * TORR_PA


def number_density(sp: Species, temperature_k):
    """Total atomic number density of the saturated vapour, m^-3: n = P / (k_B T)."""
    return vapour_pressure_pa(sp, temperature_k) / (KB * jnp.asarray(temperature_k))


def active_fraction(sp: Species, isotope_fraction=1.0, optical_pumping=0.0):
    """n_eff / n = f_iso (f_hf + p (1 - f_hf))."""
    f_hf = sp.hyperfine_fraction
    return isotope_fraction * (f_hf + optical_pumping * (1.0 - f_hf))


# ---- 3.3 derived quantities ----------------------------------------------------------------
def angular_frequency(wavelength_m):
    return 2.0 * math.pi * C / wavelength_m


# Constant factors are combined in Python (double) before they meet a traced value, so every
# intermediate stays inside float32's range (hbar^2 or d^2 in SI would underflow it).
_KAPPA2 = EA0**2 / (HBAR * EPS0)  # kappa^2 per (n_eff [m^-3] d^2 [(e a0)^2] omega [rad/s])
_RABI = 2.0 * EA0 / HBAR / math.sqrt(math.pi * C * EPS0)
_CRIT = math.pi**3 * HBAR**2 * C * EPS0 / EA0**2


def kappa_squared(n_eff, signal_dipole_ea0, omega_s):
    """kappa^2 = n_eff d_s^2 omega_s / (hbar eps0), s^-2 (OM21's kappa; 2 c g^2); d_s in e a0."""
    return (n_eff * 1e-20) * signal_dipole_ea0**2 * (omega_s * 1e-15) * (_KAPPA2 * 1e35)


def coupling_squared(kappa2):
    """g^2 = kappa^2 / (2 c), m^-1 s^-1."""
    return kappa2 / (2.0 * C)


def optical_depth(kappa2, length_m, gamma_s):
    """d_G = kappa^2 L / (c gamma_s): resonant intensity transmission exp(-2 d_G)."""
    return kappa2 * length_m / (C * gamma_s)


def gaussian_shape_norm_s(fwhm_s):
    """Peak of the unit-area Gaussian power shape of intensity FWHM `fwhm_s`, 1/s."""
    return 2.0 * jnp.sqrt(jnp.log(2.0) / jnp.pi) / fwhm_s


def effective_duration(shape: str, fwhm_s):
    """tau_eff = (integral sqrt(f_c) dt)^2 for unit-area f_c: tau_w (square), 2.129 FWHM."""
    if shape == "square":
        return fwhm_s
    if shape == "gaussian":
        return math.sqrt(math.pi / math.log(2.0)) * fwhm_s
    raise ValueError(f"control shape must be 'square' or 'gaussian', got {shape!r}")


def peak_power_w(shape: str, energy_j, fwhm_s):
    """Peak power of a pulse of energy E: E / tau_w (square), E x Gaussian peak density."""
    if shape == "square":
        return energy_j / fwhm_s
    if shape == "gaussian":
        return energy_j * gaussian_shape_norm_s(fwhm_s)
    raise ValueError(f"control shape must be 'square' or 'gaussian', got {shape!r}")


def rabi_frequency(power_w, control_dipole_ea0, waist_m):
    """On-axis Rabi frequency Omega_c = (2 d_c / (hbar w_c)) sqrt(P / (pi c eps0)), rad/s."""
    return _RABI * control_dipole_ea0 * jnp.sqrt(power_w) / waist_m


def critical_energy(kappa2, control_dipole_ea0, waist_m, detuning_rad_s, tau_eff_s):
    """E_crit = pi^3 hbar^2 w_c^2 Delta^2 c eps0 / (kappa^2 d_c^2 tau_eff), J (pulse area pi)."""
    x = waist_m * detuning_rad_s * 1e-6
    return (_CRIT * 10.0) * x**2 / ((kappa2 * 1e-20) * control_dipole_ea0**2 * (tau_eff_s * 1e9))


def thermal_velocity(sp: Species, temperature_k):
    """sigma_v = sqrt(k_B T / m), m/s (axial Maxwell-Boltzmann width)."""
    return jnp.sqrt(KB * jnp.asarray(temperature_k) / sp.mass_kg)


def wavevectors(sp: Species, geometry: str):
    """Signed wavevectors (k_a on 1-2, k_b on 2-3) along z, rad/m; the signal goes along +z.

    Counter-propagating: the control goes along -z; co-propagating: along +z.
    K = k_a + k_b is the two-photon wavevector (|k_s - k_c| or k_s + k_c).
    """
    if geometry not in ("counter", "co"):
        raise ValueError(f"geometry must be 'counter' or 'co', got {geometry!r}")
    k_s = 2.0 * math.pi / sp.signal_wavelength_m
    k_c = 2.0 * math.pi / sp.control_wavelength_m
    k_c = -k_c if geometry == "counter" else k_c
    return (k_c, k_s) if sp.inverted else (k_s, k_c)


def doppler_time(sp: Species, temperature_k, geometry: str):
    """tau_D = 1 / (|K| sigma_v), s: Doppler dephasing alone gives exp(-(t / tau_D)^2)."""
    k_a, k_b = wavevectors(sp, geometry)
    return 1.0 / (abs(k_a + k_b) * thermal_velocity(sp, temperature_k))
