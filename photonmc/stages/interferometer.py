"""Hong-Ou-Mandel interferometer: two-photon interference of consecutive shots.

See docs/physics.md 6.4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from photonmc.batch import EXP, Batch
from photonmc.kernels.overlap import overlap_exp, overlap_gauss
from photonmc.stages._base import check_choice, param, probability, stage, static


@stage
class HOMInterferometer:
    """An unbalanced Mach-Zehnder whose long arm delays by one shot period (plus `delay_ns`).

    A photon takes the short or the long arm with probability 1/2 each, so the photons
    of shot s on the long arm and those of shot s + 1 on the short arm meet on the
    output splitter. All photons that meet are interfered (docs/physics.md 4.3, 6.4):
    the number n_t leaving by the transmitted output follows the 50:50 splitter's
    permanent rule, which for the at most two photons per arm of this source is fixed by
    the mean number of coincident pairs E[n_t n_r] = sum over pairs of 1/2 (two photons
    of one arm) or (1 - M_ij) / 2 (photons of different arms, M_ij = |<psi_i|psi_j>|^2
    their overlap, with pure dephasing for the source's exponential wavepackets). Two
    single photons thus coincide with probability (1 - M) / 2. `polarisation =
    "orthogonal"` makes the arms' photons distinguishable (M = 0): the reference
    measurement of a visibility. `delay_ns` shifts the long arm against the short one
    (a HOM dip versus delay).

    Outputs are the paths "<name>.transmitted" and "<name>.reflected", as a splitter's.
    Analog mode draws each photon's arrival at the interferometer before interfering it,
    so later losses and detection are drawn after; a slot with more than two photons on
    one arm (noise) sends each photon to either output with probability 1/2. The long
    arm of a chunk's last shot meets nothing (a boundary effect of 1 / chunk_shots of
    the pairs). Expected mode splits weights a quarter to each output and arm
    (single-detector histograms are not changed by interference); the coincidences are
    `expected.hom_coincidences`.
    """

    delay_ns: float = param(
        0.0, limit=1e6, unit="ns", doc="extra delay of the long arm beyond one shot period"
    )
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
            for long in (False, True):
                shift = period + self.delay_ns if long else 0.0
                out.append(
                    batch.replace(
                        t_ref_ns=jnp.where(on, batch.t_ref_ns + shift, batch.t_ref_ns),
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
        key_in, key_arm, key_n, key_pick, key_out = jax.random.split(key, 5)
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
        t_meet = t_ref + jnp.where(long, self.delay_ns, 0.0)  # in the slot's frame
        # The slot where the photon meets the output splitter: its shot, plus one on the
        # long arm. Up to two photons per arm and slot: their indices, first and last.
        n_slots = ctx.chunk_shots + 1
        slot = jnp.where(hit, batch.shot + long.astype(jnp.int32), n_slots)
        photon = jnp.arange(n, dtype=jnp.int32)
        ones = hit.astype(jnp.int32)
        arms = []
        for arm in (~long, long):
            at = jnp.where(arm, slot, n_slots)
            count = jnp.zeros(n_slots + 1, jnp.int32).at[at].add(ones)
            first = jnp.full(n_slots + 1, n, jnp.int32).at[at].min(photon)
            last = jnp.full(n_slots + 1, -1, jnp.int32).at[at].max(photon)
            arms.append((count, first, last))
        (c_s, f_s, l_s), (c_l, f_l, l_l) = arms
        # Positions 0, 1: short arm; 2, 3: long arm. (n_slots + 1, 4)
        members = jnp.stack([f_s, l_s, f_l, l_l], axis=1)
        present = jnp.stack([c_s >= 1, c_s == 2, c_l >= 1, c_l == 2], axis=1)
        members = jnp.clip(members, 0, n - 1)
        interfere = (c_s <= 2) & (c_l <= 2)
        t_p, w_p, nu_p, k_p = (x[members] for x in (t_meet, width, nu, kind))
        exp_only = bool(np.all(np.asarray(batch.kind)[on] == EXP))
        pairs = 0.0
        for p, q in ((0, 1), (2, 3), (0, 2), (0, 3), (1, 2), (1, 3)):
            both = present[:, p] & present[:, q]
            if q - p == 1 and p % 2 == 0:  # two photons of one arm: 1/2 whatever they are
                c = 0.5
            else:
                m = self._overlap(
                    t_p[:, p], w_p[:, p], nu_p[:, p], k_p[:, p],
                    t_p[:, q], w_p[:, q], nu_p[:, q], k_p[:, q], ctx, exp_only,
                )  # fmt: skip
                c = 0.5 * (1.0 - m)
            pairs = pairs + jnp.where(both, c, 0.0)
        size = jnp.sum(present, axis=1)
        probs = output_distribution(size, pairs)  # (n_slots + 1, 5): P(n_t = k)
        v = jax.random.uniform(key_n, (n_slots + 1, 1), dtype=probs.dtype)
        n_t = jnp.sum(jnp.cumsum(probs, axis=1)[:, :-1] < v, axis=1)
        # Which of the slot's photons leave by the transmitted output: n_t of them,
        # chosen uniformly (equal wavepacket laws, so only the number matters).
        r = jnp.where(present, jax.random.uniform(key_pick, present.shape), 2.0)
        rank = jnp.sum(r[:, None, :] < r[:, :, None], axis=2)
        to_t = rank < n_t[:, None]
        position = jnp.where(long, 2, 0) + jnp.where(
            long, (photon == l_l[slot]) & (c_l[slot] == 2), (photon == l_s[slot]) & (c_s[slot] == 2)
        ).astype(jnp.int32)
        slot_c = jnp.minimum(slot, n_slots)
        interfered = ~to_t[slot_c, position]
        single_out = jax.random.uniform(key_out, (n,)) < 0.5
        out_b = jnp.where(hit & interfere[slot_c], interfered, single_out)  # True: reflected
        paired = hit & interfere[slot_c] & (c_s[slot_c] >= 1) & (c_l[slot_c] >= 1)

        p_t, p_r = (ctx.paths[o] for o in self.outputs())
        branch = jnp.arange(batch.shape[1])[None, :] == index[:, None]
        others = jnp.where(on, 0.0, batch.weight)
        rest = jnp.maximum(1.0 - arrive, jnp.finfo(arrive.dtype).tiny)
        weight = jnp.where(
            hit[:, None],
            jnp.where(branch, 1.0, 0.0),
            others / rest[:, None],  # not here: its other fates, conditioned on that
        )
        shift = jnp.where(long, ctx.period_ns + self.delay_ns, 0.0)[:, None]
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

    def _overlap(self, t1, w1, nu1, k1, t2, w2, nu2, k2, ctx, exp_only=False):
        """|<psi_1|psi_2>|^2 of two wavepackets (0 for orthogonal polarisations).

        exp_only: every wavepacket is known before tracing to be EXP (skips the others)."""
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
        if exp_only:
            return probability(m_exp)
        m_gauss = overlap_gauss(t1, w1, dnu, t2, w2)
        m_mixed = jnp.where(
            k1 == EXP, overlap_exp(t1, w1, dnu, t2, w2), overlap_exp(t2, w2, -dnu, t1, w1)
        )
        m = jnp.where(both_exp, m_exp, jnp.where((k1 != EXP) & (k2 != EXP), m_gauss, m_mixed))
        return probability(m)


def output_distribution(n, pairs):
    """P(n_t = k), k = 0 .. 4, for n <= 4 photons meeting on a 50:50 splitter, at most two
    per input port (docs/physics.md 6.4).

    pairs: E[n_t n_r], the mean number of photon pairs leaving by different outputs,
    sum over pairs of 1/2 (same port) or (1 - M_ij) / 2 (different ports). The splitter
    is symmetric in its outputs, P(k) = P(n - k), so for n <= 3 the distribution follows
    from E[n_t n_r] alone: n = 2: P(1) = E; n = 3: P(1) = P(2) = E / 4. For n = 4 (two
    photons per port) it is the mixture of the distinguishable (binomial) and the
    indistinguishable (|2,2> -> 3/8, 0, 1/4, 0, 3/8) limits that has this E, exact in
    both limits. Shapes broadcast; n is an integer array, pairs a float array.
    """
    e = jnp.asarray(pairs)
    n = jnp.asarray(n)[..., None]
    k = jnp.arange(5)
    e_ = e[..., None]
    binomial = jnp.asarray([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    bunched = jnp.asarray([3.0, 0.0, 2.0, 0.0, 3.0]) / 8.0
    w = jnp.clip((3.0 - e_) / 2.0, 0.0, 1.0)
    p = jnp.select(
        [n == 0, n == 1, n == 2, n == 3],
        [
            jnp.where(k == 0, 1.0, 0.0),
            jnp.where(k <= 1, 0.5, 0.0),
            jnp.where(k == 1, e_, jnp.where(k <= 2, 0.5 * (1.0 - e_), 0.0)),
            jnp.where((k == 1) | (k == 2), 0.25 * e_, jnp.where(k <= 3, 0.5 - 0.25 * e_, 0.0)),
        ],
        (1.0 - w) * binomial + w * bunched,
    )
    p = jnp.clip(p, 0.0, 1.0)
    return p / jnp.sum(p, axis=-1, keepdims=True)
