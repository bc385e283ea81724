"""Tier A of the ORCA memory: square control, infinite medium (ORCA_MODEL.md 1.6).

The control is constant for a duration tau_w; in the Fourier basis S, B ~ exp(2 pi i xi z)
each spatial frequency is a two-mode beam splitter with rate Omega_BS = kappa |Omega_c| /
(2 |Delta|) and mismatch D = delta + delta_AC - delta_S + pi c xi. The swap probability of
one component is the Rabi formula

    P(D) = (Omega_BS / W)^2 sin^2(W tau_w / 2),   W = sqrt(Omega_BS^2 + D^2),

which at theta = Omega_BS tau_w is (theta^2 / 4) sinc^2(theta beta / 2), beta = W / Omega_BS
(ORCA_MODEL's |Gamma'(xi)|). A signal of spectral intensity |psi(omega)|^2 maps a frequency
offset omega onto a mismatch D = D0 + omega, so the write efficiency is the spectral average
of P_w and the total efficiency that of P_w P_r (read with its own rate and light shift, the
same spatial frequency). Decays are neglected (gamma -> 0), as in the contract; a storage
factor multiplies the total.

Units: any consistent time unit (ns and rad/ns in photonmc). Spectral averages use the
trapezoid rule on +-12 sigma of the Gaussian spectrum with 2049 nodes (spectrally accurate
for these smooth integrands: eta_A(1), eta_A(2) agree with the contract to 1e-6).
"""

from __future__ import annotations

import math

import jax.numpy as jnp

_N_QUAD = 2049
_SPAN_SIGMA = 12.0


def swap_probability(omega_bs, mismatch, duration):
    """(Omega_BS / W)^2 sin^2(W tau / 2): one spatial frequency's write (or read) efficiency."""
    w2 = omega_bs**2 + mismatch**2
    w = jnp.sqrt(w2)
    # (Omega/W)^2 sin^2(W t/2) = (Omega t/2)^2 sinc^2(W t/2), finite at W = 0
    x = 0.5 * w * duration
    sinc = jnp.sinc(x / math.pi)
    return (0.5 * omega_bs * duration) ** 2 * sinc**2


def _spectral_nodes(signal_fwhm):
    """Angular-frequency offsets and trapezoid probability weights of a Gaussian signal.

    The signal's intensity has FWHM tau_s in time; its spectral intensity is a Gaussian of
    standard deviation sigma_omega = sqrt(2 ln 2) / tau_s.
    """
    sigma = math.sqrt(2.0 * math.log(2.0)) / signal_fwhm
    x = jnp.linspace(-_SPAN_SIGMA, _SPAN_SIGMA, _N_QUAD)
    dx = 2.0 * _SPAN_SIGMA / (_N_QUAD - 1)
    w = jnp.exp(-0.5 * x**2) * dx / math.sqrt(2.0 * math.pi)
    return sigma * x, w


def square_efficiencies(
    omega_bs_write,
    omega_bs_read,
    duration,
    signal_fwhm,
    mismatch_write=0.0,
    mismatch_read=0.0,
    storage_factor=1.0,
):
    """(eta_write, eta_read, eta_total) of a Gaussian signal in the square-control model.

    omega_bs_*: beam-splitter rates (rad per time unit); duration: control duration tau_w;
    signal_fwhm: the signal's intensity FWHM tau_s; mismatch_*: D0 = delta + delta_AC - delta_S
    at the signal's carrier for the write and read controls (rad per time unit);
    storage_factor: |D|^2 of the storage between the controls. eta_read is eta_total /
    (eta_write storage_factor), the retrieval efficiency of the stored excitation.
    """
    omega, w = _spectral_nodes(signal_fwhm)
    pw = swap_probability(omega_bs_write, mismatch_write + omega, duration)
    pr = swap_probability(omega_bs_read, mismatch_read + omega, duration)
    eta_w = jnp.sum(w * pw)
    eta_t = storage_factor * jnp.sum(w * pw * pr)
    eta_r = eta_t / jnp.maximum(eta_w * storage_factor, 1e-300)
    return eta_w, eta_r, eta_t


def universal_efficiency(f):
    """eta_A(f): total efficiency at theta = pi, D0 = 0, for tau_s = f tau_w (ORCA_MODEL 1.6).

    eta_A(1) = 0.795318, eta_A(2) = 0.935755 (ORCA_MODEL 4.3).
    """
    tau_w = 1.0
    _, _, eta = square_efficiencies(math.pi / tau_w, math.pi / tau_w, tau_w, f * tau_w)
    return eta
