"""Optical fibre (docs/physics.md 3.2)."""

from __future__ import annotations

from photonmc import units
from photonmc.stages._base import param, probability, stage, static, transmit


@stage
class Fiber:
    """A fibre span: loss, a fixed group delay, and a chromatic shift of detuned photons.

    Survival 10^(-(alpha L + insertion)/10). Times are retarded (docs/physics.md section 1): the
    fixed delay L n_g / c is reported with the results, not added to t_ref; t_ref gets
    the chromatic shift D L dlambda of each photon's frequency offset. Pulse broadening
    by dispersion is neglected (0.13 ps/km for a 1 GHz wide photon).
    """

    length_km: float = param(lo=0.0, unit="km", doc="fibre length")
    loss_db_per_km: float = param(0.2, lo=0.0, unit="dB/km", doc="attenuation (0.2 at 1550 nm)")
    insertion_loss_db: float = param(0.0, lo=0.0, unit="dB", doc="connector and coupling loss")
    group_index: float = param(1.4682, lo=1.0, doc="group index n_g")
    dispersion_ps_per_nm_km: float = param(
        17.0, limit=1e6, unit="ps/(nm km)", doc="chromatic dispersion D"
    )
    name: str = static("fiber")
    branch: str = static("")

    @property
    def transmission(self):
        loss_db = self.loss_db_per_km * self.length_km + self.insertion_loss_db
        return probability(units.db_to_transmission(loss_db))

    @property
    def delay_ns(self):
        """Fixed group delay (4.897 us/km at n_g = 1.4682)."""
        return units.fiber_delay_ns(self.length_km, self.group_index)

    def max_transmission(self) -> float:
        return float(self.transmission)

    def apply(self, batch, key, ctx):
        shift = units.chromatic_shift_ns(
            self.dispersion_ps_per_nm_km, self.length_km, ctx.wavelength_nm, batch.nu_ghz
        )
        return transmit(batch, ctx.on_path(self, batch), self.transmission, shift), {}
