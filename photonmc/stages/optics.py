"""Passive optics: attenuators, bandpass filters and beam splitters (docs/physics.md 3.3, 4.2)."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from photonmc import laws, units
from photonmc.batch import EXP, GAUSS, Batch
from photonmc.kernels import spectra, tabulated
from photonmc.stages._base import (
    check_choice,
    concrete,
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
    """A spectral filter acting on the photon's spectrum (docs/physics.md 3.3).

    Power transmission peak * L(x - centre), L = 1 at the centre: Lorentzian,
    1 / (1 + (2 dx / fwhm)^2) (a single filter mode, field response (F/2) / (F/2 - i dx)),
    or Gaussian, exp(-4 ln 2 (dx / fwhm)^2) (a real field response). A photon passes with
    the overlap of L with its own spectrum, in closed form (`kernels.spectra`): the
    Lorentzian line of an exponential photon (FWHM 1/(pi T2), with the source's pure
    dephasing) centred on its offset nu, or the Gaussian spectrum of a Fourier-limited
    Gaussian wavepacket; a Lorentzian filter as wide as the line passes half. The passed
    light is reshaped: an exponential photon gets the filtered law (the cascaded
    emitter-filter decay through a Lorentzian filter, the Gaussian-smoothed amplitude
    through a Gaussian one), tabulated once per parameter set on a grid of the offsets present
    (`reshaping`: 33 offsets with spectral diffusion, else 2; 4097 time nodes); a Gaussian
    wavepacket through a Gaussian filter stays Gaussian and lengthens (closed form).
    Neglected: the reshaping when the filter's response time 1/(2 pi fwhm) is below 1e-4
    of T1 for the parameters the link was built with, the reshaping of a Gaussian
    wavepacket by a Lorentzian filter, an earlier stage's reshaping of an exponential
    photon (the filtered law is that of the unreshaped photon), and the filter's
    group delay at its centre (a fixed delay).
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
        """L(nu - centre): the power transmission at one frequency offset (peak 1)."""
        x = 2.0 * (nu_ghz - self.center_ghz) / positive(self.fwhm_ghz)
        if self.shape == "lorentzian":
            return 1.0 / (1.0 + x**2)
        return jnp.exp(-math.log(2.0) * x**2)

    def max_transmission(self) -> float:
        return float(self.peak_transmission)

    def transmission(self, batch: Batch, dephasing_time_ns=None):
        """Fraction of each wavepacket that passes: peak times its spectral overlap."""
        f, c = positive(self.fwhm_ghz), self.center_ghz
        width, nu = batch.width_ns, batch.nu_ghz
        if self.shape == "lorentzian":
            exp = spectra.transmission_lorentzian_exp(width, nu, c, f, dephasing_time_ns)
            gauss = spectra.transmission_lorentzian_gauss(width, nu, c, f)
        else:
            exp = spectra.transmission_gaussian_exp(width, nu, c, f, dephasing_time_ns)
            gauss = spectra.transmission_gaussian_gauss(width, nu, c, f)
        is_exp = batch.kind == EXP  # static
        if is_exp.all():
            line = exp
        elif not is_exp.any():
            line = gauss
        else:
            line = jnp.where(is_exp, exp, gauss)
        return probability(self.peak_transmission) * line

    def reshaping(self, source):
        """Grid of offsets (n_nu) of the filtered law, or None when the filter is too wide
        to reshape the source's photons (static choice)."""
        f, t1 = concrete(self.fwhm_ghz), concrete(source.lifetime_ns)
        if f is not None and t1 is not None and 1.0 / (2.0 * math.pi * f) < FILTER_NEGLECT * t1:
            return None
        diffusion = concrete(source.spectral_diffusion_fwhm_ghz)
        return FILTER_OFFSETS if diffusion != 0.0 else 2

    def apply(self, batch, key, ctx):
        on = ctx.on_path(self, batch)
        out = transmit(batch, on, self.transmission(batch, ctx.dephasing_time_ns))
        n_nu = ctx.reshapes(self)
        if n_nu is None:
            return out, {}
        return self._reshape(out, ctx, on, n_nu), {}

    def _reshape(self, batch, ctx, on, n_nu: int):
        here = np.ones(batch.kind.shape, bool) if on is None else on
        untouched = here & (batch.law == -1)
        f, c = positive(self.fwhm_ghz), self.center_ghz
        gauss = untouched & (batch.kind == GAUSS)
        if gauss.any() and self.shape == "gaussian":
            longer = spectra.gaussian_gauss_fwhm(batch.width_ns, f).astype(batch.width_ns.dtype)
            batch = batch.replace(width_ns=jnp.where(gauss, longer, batch.width_ns))
        exp = here & (batch.kind == EXP)  # the last reshaping stage sets the shape
        if not exp.any():
            return batch
        where = np.flatnonzero(exp.ravel())
        nu = batch.nu_ghz.ravel()[where]
        t1 = batch.width_ns.ravel()[where[0]]  # every exponential photon has the source's T1
        deph = ctx.dephasing_time_ns

        def build():
            g = laws.grid(nu, batch.weight.ravel()[where] > 0.0, n_nu)
            offsets = laws.grid_points(g)[:, None]
            tau_f = 1.0 / (2.0 * math.pi * f)  # the filter's response time
            if self.shape == "lorentzian":
                density = lambda t: spectra.lorentzian_exp_density(t, t1, offsets, c, f, deph)  # noqa: E731
                t0 = jnp.zeros_like(t1)
            else:
                density = lambda t: spectra.gaussian_exp_density(t, t1, offsets, c, f, deph)  # noqa: E731
                t0 = -8.0 * tau_f
            t_end = FILTER_TABLE_LIFETIMES * (t1 + tau_f)
            cdf, t0, h = tabulated.table_from_density(density, t0, t_end, FILTER_TABLE_POINTS)
            return laws.make(cdf, t0, h, g)

        law = laws.tables(self, ctx, build)
        return laws.set_law(batch, where, laws.register(ctx, law), law, u=nu)


#: A filter reshapes exponential photons when its response time 1/(2 pi fwhm) exceeds
#: this fraction of T1
FILTER_NEGLECT = 1e-4

#: Offsets on the grid of a filtered law with spectral diffusion; time nodes; span in
#: lifetimes plus response times
FILTER_OFFSETS = 33
FILTER_TABLE_POINTS = 4097
FILTER_TABLE_LIFETIMES = 24.0


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
