"""Hong-Ou-Mandel interferometer: two-photon interference of consecutive shots.

See docs/physics.md 6.4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.batch import EXP, Batch
from photonmc.kernels.overlap import overlap_exp, overlap_gauss
from photonmc.stages._base import check_choice, probability, stage, static


@stage
class HOMInterferometer:
    """An unbalanced Mach-Zehnder whose long arm delays by one shot period.

    A photon takes the short or the long arm with probability 1/2 each, so the photon
    of shot s on the long arm and the photon of shot s + 1 on the short arm meet on the
    output splitter. Two single photons that meet leave by different outputs (a
    coincidence) with probability (1 - M) / 2 and together by either output with
    (1 + M) / 4 each, M = |<psi_i|psi_j>|^2 their overlap (docs/physics.md 6.4, with pure
    dephasing for the source's exponential wavepackets). Any other photon leaves by
    either output with probability 1/2. `polarisation = "orthogonal"` makes the arms'
    photons distinguishable (M = 0): the reference measurement of a visibility.

    Outputs are the paths "<name>.transmitted" and "<name>.reflected", as a splitter's.
    Analog mode draws each photon's arrival at the interferometer before pairing it, so
    later losses and detection are drawn after; a photon meeting more than one other
    (multi-photon shots, noise) is not interfered. The long arm of a chunk's last shot
    meets nothing (a boundary effect of 1 / chunk_shots of the pairs). Expected mode
    splits weights a quarter to each output and arm (single-detector histograms are not
    changed by the interference of pairs).
    """

    polarisation: str = static("parallel")
    name: str = static("hom")
    branch: str = static("")

    def __post_init__(self):
        check_choice(self, "polarisation", ("parallel", "orthogonal"))

    def max_transmission(self) -> float:
        return 1.0

    def outputs(self) -> tuple[str, str]:
        return f"{self.name}.transmitted", f"{self.name}.reflected"

    def apply(self, batch: Batch, key, ctx):
        if ctx.mode == "expected":
            return self._expected(batch, ctx), {}
        return self._analog(batch, key, ctx)

    # ---------------------------------------------------------------- expected
    def _expected(self, batch: Batch, ctx) -> Batch:
        on = batch.path == ctx.paths[self.name]
        period = ctx.period_ns
        out = []
        for output in self.outputs():
            for delay in (0.0, 1.0):  # short, long arm
                out.append(
                    batch.replace(
                        t_ref_ns=jnp.where(on, batch.t_ref_ns + delay * period, batch.t_ref_ns),
                        weight=jnp.where(on, 0.25 * batch.weight, batch.weight if not out else 0.0),
                        path=np.where(on, ctx.paths[output], batch.path).astype(batch.path.dtype),
                    )
                )
        result = out[0]
        for b in out[1:]:
            result = result.concat_branches(b)
        return result

    # ------------------------------------------------------------------ analog
    def _analog(self, batch: Batch, key, ctx):
        key_in, key_arm, key_pair, key_side, key_out = jax.random.split(key, 5)
        on = batch.path == ctx.paths[self.name]  # static (photons, branches)
        w_on = jnp.where(on, batch.weight, 0.0)
        arrive = jnp.sum(w_on, axis=1)
        # Does the photon reach the interferometer, and by which branch? One draw among
        # its branches on the input path; if not, its other fates keep their conditional
        # probabilities.
        u = jax.random.uniform(key_in, arrive.shape, dtype=arrive.dtype)
        cum = jnp.cumsum(w_on, axis=1)
        chosen = u[:, None] < cum
        hit = chosen[:, -1]
        index = jnp.argmax(chosen, axis=1)
        n = batch.shape[0]

        def pick(field):
            return jnp.take_along_axis(jnp.asarray(field), index[:, None], axis=1)[:, 0]

        t_ref, width, nu, kind = map(
            pick, (batch.t_ref_ns, batch.width_ns, batch.nu_ghz, batch.kind)
        )
        long = jax.random.uniform(key_arm, (n,)) < 0.5
        # The slot where the photon meets the output splitter: its shot, plus one on the
        # long arm. Pairs: slots holding exactly one short and one long photon.
        n_slots = ctx.chunk_shots + 1
        slot = jnp.where(hit, batch.shot + long.astype(jnp.int32), n_slots)
        ones = hit.astype(jnp.int32)
        n_short = jnp.zeros(n_slots + 1, jnp.int32).at[slot].add(ones * ~long)
        n_long = jnp.zeros(n_slots + 1, jnp.int32).at[slot].add(ones * long)
        photon = jnp.arange(n, dtype=jnp.int32)
        short_of = jnp.zeros(n_slots + 1, jnp.int32).at[jnp.where(long, n_slots, slot)].set(photon)
        long_of = jnp.zeros(n_slots + 1, jnp.int32).at[jnp.where(long, slot, n_slots)].set(photon)
        paired_slot = (n_short == 1) & (n_long == 1)
        paired = hit & paired_slot[slot]
        partner = jnp.where(long, short_of[slot], long_of[slot])

        m = self._overlap(
            t_ref, width, nu, kind, t_ref[partner], width[partner], nu[partner], kind[partner], ctx
        )
        # One joint draw per pair, made by the slot's short photon and read by both.
        v = jax.random.uniform(key_pair, (n,))[jnp.where(long, partner, photon)]
        side = jax.random.uniform(key_side, (n,))[jnp.where(long, partner, photon)] < 0.5
        coincidence = v < 0.5 * (1.0 - m)  # m is symmetric: both photons see the same
        paired_out = jnp.where(long, side ^ coincidence, side)
        single_out = jax.random.uniform(key_out, (n,)) < 0.5
        out_b = jnp.where(paired, paired_out, single_out)  # True: reflected output

        p_t, p_r = (ctx.paths[o] for o in self.outputs())
        branch = jnp.arange(batch.shape[1])[None, :] == index[:, None]
        others = jnp.where(on, 0.0, batch.weight)
        rest = jnp.maximum(1.0 - arrive, jnp.finfo(arrive.dtype).tiny)
        weight = jnp.where(
            hit[:, None],
            jnp.where(branch, 1.0, 0.0),
            others / rest[:, None],  # not here: its other fates, conditioned on that
        )
        shift = jnp.where(long, ctx.period_ns, 0.0)[:, None]
        # Outputs as two branch copies: the photon sits in the one its draw chose.
        to_t = batch.replace(
            t_ref_ns=jnp.where(on, batch.t_ref_ns + shift, batch.t_ref_ns),
            weight=jnp.where(on, jnp.where(out_b[:, None], 0.0, weight), weight),
            path=np.where(on, p_t, batch.path).astype(batch.path.dtype),
        )
        to_r = batch.replace(
            t_ref_ns=jnp.where(on, batch.t_ref_ns + shift, batch.t_ref_ns),
            weight=jnp.where(on, jnp.where(out_b[:, None], weight, 0.0), 0.0),
            path=np.where(on, p_r, batch.path).astype(batch.path.dtype),
        )
        info = {f"{self.name}.pairs": jnp.sum(paired & ~long).astype(jnp.int32)}
        return to_t.concat_branches(to_r), info

    def _overlap(self, t1, w1, nu1, k1, t2, w2, nu2, k2, ctx):
        """|<psi_1|psi_2>|^2 of two wavepackets (0 for orthogonal polarisations)."""
        if self.polarisation == "orthogonal":
            return jnp.zeros_like(t1)
        dt, dnu = t1 - t2, nu1 - nu2
        both_exp = (k1 == EXP) & (k2 == EXP)
        # Two exponentials of one source (equal T1), with pure dephasing (docs/physics.md 6.4).
        t_1 = w1
        t2_star = ctx.dephasing_time_ns
        if t2_star is None:
            m_exp = jnp.exp(-jnp.abs(dt) / t_1) / (1.0 + (2.0 * jnp.pi * dnu * t_1) ** 2)
        else:
            t_2 = 1.0 / (1.0 / (2.0 * t_1) + 1.0 / t2_star)
            m_exp = (
                jnp.exp(-jnp.abs(dt) / t_1)
                * (t_2 / (2.0 * t_1))
                / (1.0 + (jnp.pi * dnu * t_2) ** 2)
            )
        m_gauss = overlap_gauss(t1, w1, dnu, t2, w2)
        m_mixed = jnp.where(
            k1 == EXP, overlap_exp(t1, w1, dnu, t2, w2), overlap_exp(t2, w2, -dnu, t1, w1)
        )
        m = jnp.where(both_exp, m_exp, jnp.where((k1 != EXP) & (k2 != EXP), m_gauss, m_mixed))
        return probability(m)
