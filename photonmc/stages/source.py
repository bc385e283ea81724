"""The quantum-dot single-photon source (docs/physics.md 3.1)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import units
from photonmc.batch import EXP, SOURCE, Batch, wavepackets
from photonmc.kernels import sampling
from photonmc.ranges import fmt
from photonmc.stages._base import (
    concrete,
    describe,
    param,
    positive,
    probability,
    stage,
    static,
)


@stage
class QuantumDot:
    """A pulsed quantum-dot source emitting at most two photons per shot.

    Photon number n in {0, 1, 2} with p2 = g2 mu^2 / 2 and p1 = mu - 2 p2, so that
    <n> = mu and g2(0) = 2 p2 / mu^2 exactly. Each photon is a one-sided exponential of
    lifetime T1 starting after a feeding delay tau_f * Exp(1), at a frequency offset
    detuning + Gaussian spectral diffusion. Pure dephasing (T2*) only enters
    indistinguishability, not the memory overlap.

    Spectral diffusion without `spectral_diffusion_time_ns` draws a fresh offset for
    every photon. With a correlation time tau_c the offset is an Ornstein-Uhlenbeck
    process from shot to shot, nu_{s+1} = a nu_s + sqrt(1 - a^2) sigma z, a = exp(-T_rep /
    tau_c), shared by the photons of one shot (docs/physics.md 3.1). Analog mode draws it
    over the emitting shots with their actual gaps (a^gap per step, exact), each chunk
    starting from the stationary law: the correlation restarts at chunk boundaries, for
    1 / chunk_shots of the consecutive pairs. The marginal law of nu is the same Gaussian,
    so single-detector histograms do not depend on tau_c; two-photon overlaps of photons
    g shots apart do (their offset difference has variance 2 sigma^2 (1 - a^g)).
    """

    rep_rate_mhz: float = param(lo=0.0, lo_open=True, limit=1e6, unit="MHz", doc="repetition rate")
    lifetime_ns: float = param(lo=0.0, lo_open=True, unit="ns", doc="radiative lifetime T1")
    wavelength_nm: float = param(1550.0, lo=1.0, limit=1e6, unit="nm", doc="emission wavelength")
    feeding_time_ns: float = param(
        0.0, lo=0.0, limit=1e9, unit="ns", doc="feeding (relaxation) time tau_f"
    )
    mean_photon_number: float = param(
        1.0, lo=0.0, hi=1.0, doc="mean photons per shot into the first fibre, mu"
    )
    g2: float = param(0.0, lo=0.0, doc="second-order correlation g2(0)")
    detuning_ghz: float = param(
        0.0, limit=1e6, unit="GHz", doc="centre-frequency offset from the line"
    )
    spectral_diffusion_fwhm_ghz: float = param(
        0.0, lo=0.0, limit=1e6, unit="GHz", doc="FWHM of the Gaussian spectral wandering"
    )
    dephasing_time_ns: float | None = param(
        None,
        lo=0.0,
        lo_open=True,
        unit="ns",
        doc="pure-dephasing time T2* (absent: none)",
    )
    spectral_diffusion_time_ns: float | None = param(
        None,
        lo=0.0,
        lo_open=True,
        unit="ns",
        doc="correlation time tau_c of the spectral wandering (absent: a new offset every shot)",
    )
    name: str = static("qd")

    def __post_init__(self):
        mu, g2 = concrete(self.mean_photon_number), concrete(self.g2)
        if mu is not None and g2 is not None and g2 * mu > 1.0:
            raise ValueError(
                f"{describe(self)}: g2 * mean_photon_number must be <= 1 (so that "
                f"p1 = mu - g2 mu^2 >= 0), got g2 = {fmt(g2)} and mean_photon_number = {fmt(mu)}"
            )

    @property
    def period_ns(self):
        return units.period_ns(self.rep_rate_mhz)

    def photon_probabilities(self):
        """(p0, p1, p2): probabilities of 0, 1 and 2 photons per shot."""
        mu = probability(self.mean_photon_number)
        p2 = jnp.clip(0.5 * self.g2 * mu**2, 0.0, 0.5 * mu)
        p1 = mu - 2.0 * p2
        return 1.0 - p1 - p2, p1, p2

    def emitting_capacity(self, n_shots: int) -> tuple[int, int]:
        """Room for the shots that emit, and for their second photons, out of `n_shots`.

        The emitting shots are Binomial(n_shots, 1 - p0), the second photons
        Binomial(emitting, p2 / (1 - p0)); each room is the mean plus 9 standard deviations
        (every shot when that is not much smaller), and 0 for second photons when g2 is 0.
        """
        p0, p1, p2 = (float(p) for p in self.photon_probabilities())
        q = 1.0 - p0
        first = _binomial_room(n_shots, q)
        first = n_shots if first >= n_shots // 2 else first
        second = _binomial_room(first, p2 / q) if p2 > 0.0 else 0
        return first, min(second, first)

    def emit(self, key, n_shots_static: int, ctx) -> tuple[Batch, dict]:
        """Photons of a chunk of shots (analog) or of the latent quadrature nodes (expected)."""
        if ctx.mode == "analog":
            return self._emit_analog(key, n_shots_static, ctx)
        return self._emit_expected(ctx)

    def _emit_analog(self, key, n_shots_static, ctx):
        key_shots, key_pairs, key_feed = jax.random.split(key, 3)
        p0, p1, p2 = self.photon_probabilities()
        q = 1.0 - p0
        first, second = ctx.capacity[self.name]
        if first >= n_shots_static:
            # Every shot gets a slot: a bright source wastes little on empty shots.
            shot = jnp.arange(n_shots_static, dtype=jnp.int32)
            emits = sampling.uniforms(key_shots, (n_shots_static,)) < q
            short = jnp.zeros((), jnp.int32)
        else:
            # Only the shots that emit: their gaps are Geometric(1 - p0), so the cost
            # follows the photons, not the shots, for a dim source.
            shot, short = sampling.bernoulli_indices(key_shots, q, ctx.n_shots, first)
            emits = jnp.ones(first, bool)
        emits = emits & (shot < ctx.n_shots)
        shots, exists = [shot], [emits]
        if second:
            # Pairs: each emitting shot holds a second photon with probability p2 / q,
            # so that P(n = 2) = p2 and P(n = 1) = p1 per shot.
            pair = jnp.where(q > 0.0, p2 / jnp.where(q > 0.0, q, 1.0), 0.0)
            slot, short2 = sampling.bernoulli_indices(key_pairs, pair, first, second)
            slot_ok = slot < first
            slot = jnp.minimum(slot, first - 1)
            shots.append(shot[slot])
            exists.append(slot_ok & emits[slot])
            short = short + short2
        shot, exists = jnp.concatenate(shots), jnp.concatenate(exists)
        size = exists.shape[0]
        # Latent draws only where the latent is on (a zero known before tracing skips
        # them), both from one block of uniforms.
        t_ref, nu = 0.0, self.detuning_ghz
        feeding = concrete(self.feeding_time_ns) != 0.0
        diffusion = concrete(self.spectral_diffusion_fwhm_ghz) != 0.0
        if feeding or diffusion:
            u = sampling.uniforms(key_feed, (size, 2))
        if feeding:
            t_ref = self.feeding_time_ns * -jnp.log(u[:, 0])
        if diffusion:
            sigma_sd = units.fwhm_to_sigma(self.spectral_diffusion_fwhm_ghz)
            z = sampling.normal_from_uniform(u[:, 1])
            if self.spectral_diffusion_time_ns is not None:
                # One offset per emitting shot, correlated along the shots; a shot's
                # second photon takes its shot's offset.
                z_shot = self._wandering(shot[:first], z[:first], ctx.period_ns)
                z = z_shot if not second else jnp.concatenate([z_shot, z_shot[slot]])
            nu = nu + sigma_sd * z
        batch = wavepackets(
            size,
            shot=jnp.minimum(shot, n_shots_static - 1),
            kind=EXP,
            t_ref_ns=t_ref,
            width_ns=self.lifetime_ns,
            nu_ghz=nu,
            weight=exists.astype(jnp.result_type(float)),
            origin=SOURCE,
        )
        info = {"photons_emitted": jnp.sum(exists), f"{self.name}.emitting_truncated": short}
        return batch, info

    def _wandering(self, shot, z, period_ns):
        """Standardised Ornstein-Uhlenbeck offsets at increasing shot indices `shot`.

        x_0 = z_0 (stationary), x_i = a_i x_{i-1} + sqrt(1 - a_i^2) z_i with a_i =
        exp(-gap_i T_rep / tau_c): the linear recurrence runs as an associative scan.
        """
        tau_c = positive(self.spectral_diffusion_time_ns)
        gap = jnp.diff(shot).astype(z.dtype)
        x = gap * (period_ns / tau_c)
        a = jnp.concatenate([jnp.zeros(1, z.dtype), jnp.exp(-x)])
        b = jnp.concatenate([z[:1], jnp.sqrt(-jnp.expm1(-2.0 * x)) * z[1:]])

        def combine(first, then):
            a1, b1 = first
            a2, b2 = then
            return a1 * a2, a2 * b1 + b2

        return jax.lax.associative_scan(combine, (a, b))[1]

    def shot_correlation(self, gap_shots=1):
        """Correlation a^g of the frequency offsets of photons `gap_shots` shots apart (0
        without a correlation time: independent offsets)."""
        if self.spectral_diffusion_time_ns is None:
            return 0.0
        tau_c = positive(self.spectral_diffusion_time_ns)
        return jnp.exp(-gap_shots * self.period_ns / tau_c)

    def _emit_expected(self, ctx):
        # One photon per quadrature node of (feeding delay, spectral diffusion), of
        # weight mu * node weight: expected clicks of a detector are linear in the
        # number of photons, so mu enters as a weight (docs/physics.md section 5).
        e, z, w = ctx.latent
        t_ref = self.feeding_time_ns * e
        nu = self.detuning_ghz + units.fwhm_to_sigma(self.spectral_diffusion_fwhm_ghz) * z
        mu = probability(self.mean_photon_number)
        batch = wavepackets(
            w.shape[0],
            kind=EXP,
            t_ref_ns=t_ref,
            width_ns=self.lifetime_ns,
            nu_ghz=nu,
            weight=mu * w,
            origin=SOURCE,
            dtype=w.dtype,
        )
        return batch, {"photons_emitted": mu}

    def latent_grid(self, n_feeding: int, n_nu: int):
        """Quadrature nodes (e, z, w) for expected mode; one node per latent that is off."""
        tau_f = concrete(self.feeding_time_ns)
        sd = concrete(self.spectral_diffusion_fwhm_ghz)
        n_f = 1 if tau_f == 0.0 else n_feeding
        n_z = 1 if sd == 0.0 else n_nu
        e, z, w = sampling.latent_nodes(n_f, n_z)
        if n_f == 1:
            e = np.zeros_like(e)
        return e, z, w


def _binomial_room(n: int, p: float) -> int:
    """Mean of Binomial(n, p) plus 9 standard deviations plus 16, rounded up (static room)."""
    room = n * p + 9.0 * math.sqrt(n * p * (1.0 - p)) + 16.0
    return sampling.round_capacity(int(math.ceil(room)))
