"""Every unit factor of photonmc, in one place (docs/physics.md section 1).

Internal units: time in ns, frequency offsets in GHz (cycles per ns), rates in MHz or
Hz as named, lengths in km, wavelengths in nm, losses in dB. Nothing outside this
module multiplies by a unit factor.
"""

from __future__ import annotations

import math

#: speed of light in m/ns
C_M_PER_NS = 0.299792458
#: speed of light in nm/ns (for dlambda = -lambda^2 nu / c with nu in GHz = 1/ns)
C_NM_PER_NS = 2.99792458e8
#: intensity FWHM / standard deviation of a Gaussian
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def period_ns(rep_rate_mhz):
    """Shot period in ns of a repetition rate in MHz."""
    return 1e3 / rep_rate_mhz


def db_to_transmission(loss_db):
    """Power transmission of a loss in dB: 10^(-loss/10)."""
    return 10.0 ** (-loss_db / 10.0)


#: picoseconds per second, per millisecond; metres per nanometre (time-tag file headers)
PS_PER_S = 1e12
PS_PER_MS = 1e9
M_PER_NM = 1e-9


def ps_to_ns(x_ps):
    return 1e-3 * x_ps


def ns_to_ps(x_ns):
    return 1e3 * x_ns


def hz_to_per_ns(rate_hz):
    """A rate in Hz (counts per second) as counts per ns."""
    return 1e-9 * rate_hz


def fwhm_to_sigma(fwhm):
    """Standard deviation of a Gaussian of intensity FWHM `fwhm` (same unit)."""
    return fwhm / FWHM_PER_SIGMA


def fiber_delay_ns(length_km, group_index):
    """Group delay of a fibre: 1e3 * L * n_g / c, with L in km and c in m/ns."""
    return 1e3 * length_km * group_index / C_M_PER_NS


def chromatic_shift_ns(dispersion_ps_per_nm_km, length_km, wavelength_nm, nu_ghz):
    """Arrival-time shift of a photon detuned by nu_ghz: D * L * dlambda, in ns.

    dlambda_nm = -lambda_nm^2 * nu_ghz / c_nm_per_ns (a blue-detuned photon has a
    shorter wavelength); D in ps/(nm km) times km times nm gives ps, hence 1e-3.
    """
    dlambda_nm = -(wavelength_nm**2) * nu_ghz / C_NM_PER_NS
    return 1e-3 * dispersion_ps_per_nm_km * length_km * dlambda_nm
