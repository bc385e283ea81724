"""Passive free-space optics: attenuators and bandpass filters (docs/physics.md 3.3)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from photonmc import units
from photonmc.stages._base import (
    check_choice,
    param,
    positive,
    probability,
    stage,
    static,
    transmit,
)


@stage
class Attenuator:
    """A neutral loss: survival 10^(-loss_db/10)."""

    loss_db: float = param(lo=0.0, unit="dB", doc="loss")
    name: str = static("attenuator")
    branch: str = static("")

    @property
    def transmission(self):
        return probability(units.db_to_transmission(self.loss_db))

    def max_transmission(self) -> float:
        return float(self.transmission)

    def apply(self, batch, key, ctx):
        return transmit(batch, ctx.on_path(self, batch), self.transmission), {}


@stage
class BandpassFilter:
    """A spectral filter: survival peak * L(nu - centre), L = 1 at the centre.

    L is Lorentzian, 1 / (1 + (2 dnu / fwhm)^2), or Gaussian, exp(-4 ln 2 (dnu / fwhm)^2),
    in the photon's centre-frequency offset. Temporal reshaping of the transmitted
    wavepacket by the filter is neglected (docs/physics.md 3.3).
    """

    fwhm_ghz: float = param(lo=0.0, lo_open=True, unit="GHz", doc="transmission FWHM")
    center_ghz: float = param(0.0, limit=1e6, unit="GHz", doc="centre offset from the nominal line")
    peak_transmission: float = param(1.0, lo=0.0, hi=1.0, doc="transmission at the centre")
    shape: str = static("lorentzian")
    name: str = static("filter")
    branch: str = static("")

    def __post_init__(self):
        check_choice(self, "shape", ("lorentzian", "gaussian"))

    def line_shape(self, nu_ghz):
        x = 2.0 * (nu_ghz - self.center_ghz) / positive(self.fwhm_ghz)
        if self.shape == "lorentzian":
            return 1.0 / (1.0 + x**2)
        return jnp.exp(-math.log(2.0) * x**2)

    def max_transmission(self) -> float:
        return float(self.peak_transmission)

    def apply(self, batch, key, ctx):
        t = probability(self.peak_transmission) * self.line_shape(batch.nu_ghz)
        return transmit(batch, ctx.on_path(self, batch), t), {}


@stage
class BeamSplitter:
    """A lossless splitter: each photon leaves by the reflected output with probability R.

    Its outputs are the paths "<name>.transmitted" and "<name>.reflected"; the stages
    after it name the output they sit on with `branch`. Analog mode draws the output
    with the photon's other fates (one categorical draw); expected mode splits weights.
    A single photon does not interfere with itself here; two-photon interference is
    `HOMInterferometer`'s.
    """

    reflectivity: float = param(
        0.5, lo=0.0, hi=1.0, doc="probability of leaving by the reflected output"
    )
    name: str = static("bs")
    branch: str = static("")

    def max_transmission(self) -> float:
        return 1.0

    def outputs(self) -> tuple[str, str]:
        return f"{self.name}.transmitted", f"{self.name}.reflected"

    def apply(self, batch, key, ctx):
        r = probability(self.reflectivity)
        on = batch.path == ctx.paths[self.name]
        p_t, p_r = (ctx.paths[o] for o in self.outputs())
        transmitted = batch.replace(
            weight=jnp.where(on, (1.0 - r) * batch.weight, batch.weight),
            path=np.where(on, p_t, batch.path).astype(batch.path.dtype),
        )
        reflected = batch.replace(
            weight=jnp.where(on, r * batch.weight, 0.0),
            path=np.where(on, p_r, batch.path).astype(batch.path.dtype),
        )
        return transmitted.concat_branches(reflected), {}
