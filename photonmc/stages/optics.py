"""Passive free-space optics: attenuators and bandpass filters (MODEL.md 3.3)."""

from __future__ import annotations

import math

import jax.numpy as jnp

from photonmc import units
from photonmc.stages._base import check_choice, check_range, param, stage, static


@stage
class Attenuator:
    """A neutral loss: survival 10^(-loss_db/10)."""

    loss_db: float = param(unit="dB", doc="loss")
    name: str = static("attenuator")

    def __post_init__(self):
        check_range(self, "loss_db", lo=0.0)

    @property
    def transmission(self):
        return units.db_to_transmission(self.loss_db)

    def max_transmission(self) -> float:
        return float(self.transmission)

    def apply(self, batch, key, ctx):
        return batch.replace(weight=batch.weight * self.transmission), {}


@stage
class BandpassFilter:
    """A spectral filter: survival peak * L(nu - centre), L = 1 at the centre.

    L is Lorentzian, 1 / (1 + (2 dnu / fwhm)^2), or Gaussian, exp(-4 ln 2 (dnu / fwhm)^2),
    in the photon's centre-frequency offset. Temporal reshaping of the transmitted
    wavepacket by the filter is neglected (MODEL.md 3.3).
    """

    fwhm_ghz: float = param(unit="GHz", doc="transmission FWHM")
    center_ghz: float = param(0.0, unit="GHz", doc="centre offset from the nominal line")
    peak_transmission: float = param(1.0, doc="transmission at the centre")
    shape: str = static("lorentzian")
    name: str = static("filter")

    def __post_init__(self):
        check_range(self, "fwhm_ghz", lo=0.0, lo_open=True)
        check_range(self, "center_ghz")
        check_range(self, "peak_transmission", lo=0.0, hi=1.0)
        check_choice(self, "shape", ("lorentzian", "gaussian"))

    def line_shape(self, nu_ghz):
        x = 2.0 * (nu_ghz - self.center_ghz) / self.fwhm_ghz
        if self.shape == "lorentzian":
            return 1.0 / (1.0 + x**2)
        return jnp.exp(-math.log(2.0) * x**2)

    def max_transmission(self) -> float:
        return float(self.peak_transmission)

    def apply(self, batch, key, ctx):
        t = jnp.clip(self.peak_transmission, 0.0, 1.0) * self.line_shape(batch.nu_ghz)
        return batch.replace(weight=batch.weight * t), {}
