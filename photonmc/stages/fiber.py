"""Optical fibre (docs/physics.md 3.2)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from photonmc import laws, units
from photonmc.batch import EXP, GAUSS
from photonmc.kernels import dispersion
from photonmc.stages._base import concrete, param, probability, stage, static, transmit

#: Dispersion reshapes exponential photons when the width sqrt|phi| of its chirp kernel
#: exceeds this fraction of T1 (below it only the first sqrt|phi| of the rise changes)
DISPERSION_NEGLECT = 1e-3

#: Nodes of the dispersed exponential's table, and its span in lifetimes
DISPERSION_TABLE_POINTS = 8193
DISPERSION_TABLE_LIFETIMES = 20.0


@stage
class Fiber:
    """A fibre span: loss, a fixed group delay, the chromatic shift of detuned photons
    and the dispersive spreading of the wavepacket.

    Survival 10^(-(alpha L + insertion)/10). Times are retarded (docs/physics.md section 1): the
    fixed delay L n_g / c is reported with the results, not added to t_ref; t_ref gets
    the chromatic shift D L dlambda of each photon's frequency offset. Group-delay
    dispersion phi = beta2 L spreads the wavepacket: a Gaussian one stays Gaussian and
    broadens (closed form); an exponential one gets the dispersed law of
    `kernels.dispersion` (tabulated once per parameter set on 8193 nodes over 20 T1), when the width
    sqrt|phi| of the chirp kernel exceeds 1e-3 T1 for the parameters the link was built
    with (`reshaping`); below that its shape is kept (0.6 ps for T1 = 0.6 ns: a 10 m
    patch cord is below, 1 km of D = 17 fibre above). An exponential photon an
    earlier stage reshaped (a filter) gets the dispersed law of its unreshaped photon.
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

    def gdd_ns2(self, wavelength_nm):
        """Group-delay dispersion phi = beta2 L (ns^2) at `wavelength_nm`."""
        return dispersion.gdd_ns2(self.dispersion_ps_per_nm_km, self.length_km, wavelength_nm)

    def max_transmission(self) -> float:
        return float(self.transmission)

    def reshaping(self, source):
        """ "dispersed" when the dispersion reshapes the source's photons (static choice)."""
        d, length = concrete(self.dispersion_ps_per_nm_km), concrete(self.length_km)
        lam, t1 = concrete(source.wavelength_nm), concrete(source.lifetime_ns)
        if d == 0.0 or length == 0.0:
            return None
        if None in (d, length, lam, t1):
            return "dispersed"
        phi = abs(float(dispersion.gdd_ns2(d, length, lam)))
        return "dispersed" if phi**0.5 > DISPERSION_NEGLECT * t1 else None

    def apply(self, batch, key, ctx):
        on = ctx.on_path(self, batch)
        shift = units.chromatic_shift_ns(
            self.dispersion_ps_per_nm_km, self.length_km, ctx.wavelength_nm, batch.nu_ghz
        )
        out = transmit(batch, on, self.transmission, shift)
        if ctx.reshapes(self) is None:
            return out, {}
        return self._disperse(out, ctx, on), {}

    def _disperse(self, batch, ctx, on):
        phi = self.gdd_ns2(ctx.wavelength_nm)
        here = np.ones(batch.kind.shape, bool) if on is None else on
        untouched = here & (batch.law == -1)
        gauss = untouched & (batch.kind == GAUSS)
        if gauss.any():
            wider = dispersion.dispersed_gauss_fwhm(batch.width_ns, phi).astype(
                batch.width_ns.dtype
            )
            batch = batch.replace(width_ns=jnp.where(gauss, wider, batch.width_ns))
        exp = here & (batch.kind == EXP)  # the last reshaping stage sets the shape
        if not exp.any():
            return batch
        where = np.flatnonzero(exp.ravel())
        # Every exponential photon of a link has the source's lifetime: one table.
        t1 = batch.width_ns.ravel()[where[0]]

        def build():
            cdf, t0, h = dispersion.dispersed_exp_table(
                t1, phi, n=DISPERSION_TABLE_POINTS, right_lifetimes=DISPERSION_TABLE_LIFETIMES
            )
            return laws.make(cdf, t0, h)

        law = laws.tables(self, ctx, build)
        return laws.set_law(batch, where, laws.register(ctx, law), law)
