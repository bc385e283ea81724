"""The ORCA-type ladder quantum memory, single-mode beam-splitter model (docs/physics.md 3.4)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import laws
from photonmc.batch import EXP, GAUSS, MEMORY_NOISE, RETRIEVED, Batch, wavepackets
from photonmc.kernels import sampling, thermal
from photonmc.kernels.coherence import dip_table_exp, overlap_exp_mixed
from photonmc.kernels.overlap import (
    TABLE_POINTS,
    overlap_exp,
    overlap_exp_interpolated,
    overlap_gauss,
)
from photonmc.ranges import Range, check_value
from photonmc.stages._base import (
    check_choice,
    concrete,
    describe,
    param,
    positive,
    probability,
    stage,
    static,
)


def _interpolate(table, t_ref, nu):
    """Bilinear interpolation of a (values, t grid, nu grid) table at (t_ref, nu)."""
    values, (t_lo, t_step), (q_lo, q_step) = table
    n_t, n_nu = values.shape
    x = jnp.clip((t_ref - t_lo) / t_step, 0.0, n_t - 1.0)
    y = jnp.clip((nu - q_lo) / q_step, 0.0, n_nu - 1.0)
    i = jnp.minimum(jnp.floor(x), n_t - 2.0)
    j = jnp.minimum(jnp.floor(y), n_nu - 2.0)
    fx, fy = x - i, y - j
    flat = values.ravel()
    k = i.astype(jnp.int32) * n_nu + j.astype(jnp.int32)
    v0 = flat[k] + fy * (flat[k + 1] - flat[k])
    v1 = flat[k + n_nu] + fy * (flat[k + n_nu + 1] - flat[k + n_nu])
    return (v0 + fx * (v1 - v0)).astype(t_ref.dtype)


#: Grid (starts, offsets) of the mixed-state overlap table of analog chunks
MIXED_OVERLAP_GRID = (65, 33)

#: The dip law: grid rows in the photons' starts (with feeding) and offsets (with
#: spectral diffusion), time nodes, span in lifetimes, and Lorentzian nodes of the
#: pure-dephasing average
DIP_STARTS = 9
DIP_OFFSETS = 17
DIP_POINTS = 2049
DIP_LIFETIMES = 24.0
DIP_DEPHASING_NODES = 64

#: Sums over signal photons kept by the memory for eta_int and the leak-through fraction:
#: x = P(arrives), y = x P_r, z = x P_t per photon, and their second moments (ratio errors).
MEMORY_STATS = ("x", "y", "z", "xx", "yy", "zz", "xy", "xz")
#: Photon-number laws of memory noise per shot and mode: Poisson, or Bose-Einstein (thermal)
NOISE_STATISTICS = ("poisson", "thermal")


@stage
class LadderMemory:
    """A write-store-read memory with a fixed Gaussian input and output mode.

    A photon is stored with P_s = eta_w * O, O its overlap with the input mode (a real
    Gaussian of intensity FWHM `input_mode_fwhm_ns` centred at `write_time_ns`, at the
    memory's resonance nu = 0): the mixed-state overlap <phi|rho|phi> of the photon's
    first-order coherence when the source has pure dephasing, the pure-state one
    otherwise. It is retrieved after `storage_time_ns` with P_r = P_s * eta_r * D(tau)
    in the memory's output mode: a Gaussian wavepacket centred at t_w + tau of FWHM
    `output_mode_fwhm_ns` at the memory's carrier (nu = 0), whatever the input's
    offset. Otherwise it passes unstored with P_t = (1 - P_s) * transmission, and the
    write cuts its dip into it: the unstored amplitude is psi - r <phi|psi> phi,
    r = 1 - sqrt(1 - eta_w) (a beam splitter on the mode), whose norm is 1 - eta_w O
    exactly; the shape is tabulated once per parameter set on a grid of the photons' starts and
    offsets (`reshaping`; docs/physics.md 3.4). The dip is not cut into Gaussian
    wavepackets (light already retrieved by an earlier memory); light an earlier stage
    reshaped is dipped as its unreshaped photon. The decay D is Gaussian,
    exp(-(tau/tau_s)^2), or exponential, exp(-tau/tau_s), times the hyperfine beating
    |1 + sum a_k exp(i(2 pi f_k tau + phi_k))|^2 / |1 + sum a_k exp(i phi_k)|^2.
    Read and write noise: Gaussian wavepackets in the output mode and in the input mode,
    at nu = 0, their number per shot Poisson or, with `noise_statistics = "thermal"`,
    Bose-Einstein (the four-wave-mixing noise of one mode; docs/physics.md 3.4).
    """

    write_time_ns: float = param(
        limit=1e9, unit="ns", doc="centre of the input mode t_w (retarded time)"
    )
    input_mode_fwhm_ns: float = param(
        lo=0.0, lo_open=True, unit="ns", doc="intensity FWHM of the input mode"
    )
    output_mode_fwhm_ns: float = param(
        lo=0.0, lo_open=True, unit="ns", doc="intensity FWHM of the retrieved mode"
    )
    write_efficiency: float = param(
        lo=0.0, hi=1.0, doc="storage efficiency of a mode-matched photon, eta_w"
    )
    read_efficiency: float = param(
        lo=0.0, hi=1.0, doc="read-out efficiency at zero storage time, eta_r"
    )
    storage_time_ns: float = param(lo=0.0, unit="ns", doc="storage time tau")
    lifetime_ns: float = param(lo=0.0, lo_open=True, unit="ns", doc="memory lifetime tau_s (1/e)")
    beat_terms: np.ndarray = param(
        (),
        doc="hyperfine beating terms [a_k, f_k (GHz), phi_k (rad)]",
        components={
            "a": ("", Range(0.0, limit=1e3)),
            "f_ghz": ("GHz", Range(limit=1e6)),
            "phi": ("rad", Range(limit=1e6)),
        },
    )
    transmission: float = param(
        1.0, lo=0.0, hi=1.0, doc="survival of light that is not stored, T_mem"
    )
    read_noise_photons: float = param(
        0.0, lo=0.0, doc="mean noise photons per shot in the output mode"
    )
    write_noise_photons: float = param(
        0.0, lo=0.0, doc="mean noise photons per shot in the input mode"
    )
    decay: str = static("gaussian")
    noise_statistics: str = static("poisson")
    name: str = static("memory")
    branch: str = static("")

    def __post_init__(self):
        check_choice(self, "decay", ("gaussian", "exponential"))
        check_choice(self, "noise_statistics", NOISE_STATISTICS)
        self._check_beat_terms()

    def _check_beat_terms(self):
        terms = self.beat_terms
        if isinstance(terms, list | tuple):
            try:
                terms = np.asarray(terms, dtype=np.float64).reshape(-1, 3)
            except ValueError:
                raise ValueError(
                    f"{describe(self)}: beat_terms must be a list of [a_k, f_k_ghz, phi_k] "
                    f"triples, got {self.beat_terms!r}"
                ) from None
            object.__setattr__(self, "beat_terms", terms)
        if not isinstance(terms, np.ndarray):
            return  # traced during a fit
        if terms.ndim != 2 or terms.shape[1] != 3:
            raise ValueError(
                f"{describe(self)}: beat_terms must be [a_k, f_k_ghz, phi_k] triples, got "
                f"an array of shape {terms.shape}"
            )
        if np.any(terms[:, 0] < 0):
            raise ValueError(
                f"{describe(self)}: beat_terms amplitudes a_k must be finite and >= 0, "
                f"got {terms[:, 0].tolist()}"
            )
        components = next(f for f in dataclasses.fields(self) if f.name == "beat_terms").metadata[
            "components"
        ]
        for k, row in enumerate(terms):
            for (comp, (unit, rng)), x in zip(components.items(), row, strict=True):
                check_value(describe(self), f"beat_terms[{k}].{comp}", float(x), rng, unit)
        norm = abs(1.0 + np.sum(terms[:, 0] * np.exp(1j * terms[:, 2]))) ** 2
        if norm < 1e-6:
            raise ValueError(
                f"{describe(self)}: beat_terms give |1 + sum a_k exp(i phi_k)|^2 = {norm:.3g} "
                "at zero storage time; the beating normalisation must not vanish"
            )

    @property
    def retrieval_time_ns(self):
        """Centre of the retrieved mode, t_w + tau (retarded time; traceable)."""
        return self.write_time_ns + self.storage_time_ns

    def retrieval_window_ns(self, offset_ns=0.0):
        """The retrieval window t_w + tau +- output_mode_fwhm_ns, minus `offset_ns` (a
        tagger's sync offset gives histogram time); (a, b), traceable."""
        centre = self.retrieval_time_ns - offset_ns
        return centre - self.output_mode_fwhm_ns, centre + self.output_mode_fwhm_ns

    def decay_factor(self, storage_time_ns=None):
        """D(tau), the retrieval efficiency relative to tau = 0 (1 at tau = 0)."""
        tau = self.storage_time_ns if storage_time_ns is None else storage_time_ns
        r = tau / positive(self.lifetime_ns)
        d = jnp.exp(-(r**2)) if self.decay == "gaussian" else jnp.exp(-r)
        terms = jnp.asarray(self.beat_terms)
        if terms.size:
            a, f, phi = terms[:, 0], terms[:, 1], terms[:, 2]
            tau_ = jnp.asarray(tau)[..., None]
            phase = 2.0 * jnp.pi * f * tau_ + phi
            num = (1.0 + jnp.sum(a * jnp.cos(phase), -1)) ** 2 + jnp.sum(
                a * jnp.sin(phase), -1
            ) ** 2
            den = (1.0 + jnp.sum(a * jnp.cos(phi))) ** 2 + jnp.sum(a * jnp.sin(phi)) ** 2
            d = d * num / den
        return d

    def overlap(self, batch: Batch, interpolate: bool = False, dephasing_time_ns=None, table=None):
        """Overlap O of every wavepacket with the input mode.

        Exponential wavepackets with pure dephasing (the source's T2*, `dephasing_time_ns`)
        have the mixed-state overlap <phi|rho|phi> of `kernels.coherence`; without it
        the pure one. interpolate (static; analog mode): exponential wavepackets from a
        table, worth it only when there are many more wavepackets than table points:
        without dephasing one of the chunk's own range when that is within its
        tolerance (`overlap_exp_interpolated`, 1e-4 absolute); with it `table`, the mixed
        overlap on a grid of starts and offsets (`_overlap_table`), bilinear. Gaussian
        wavepackets always from their closed form.
        """
        is_exp = batch.kind == EXP  # static: known from the link's structure
        args = (batch.t_ref_ns, batch.width_ns, batch.nu_ghz)
        mode = (self.write_time_ns, self.input_mode_fwhm_ns)
        if dephasing_time_ns is not None and is_exp.any():
            if interpolate and table is not None:
                o_exp = _interpolate(table, batch.t_ref_ns, batch.nu_ghz)
            else:
                o_exp = overlap_exp_mixed(*args, *mode, dephasing_time_ns)
            if is_exp.all():
                return o_exp
            return jnp.where(is_exp, o_exp, overlap_gauss(*args, *mode))
        n_exp = int(is_exp.sum())
        # a table of at most a quarter as many points as wavepackets (static choice)
        points = TABLE_POINTS if n_exp >= 8 * math.prod(TABLE_POINTS) else (32, 64)
        if interpolate and n_exp >= 4 * math.prod(points):
            where = np.nonzero(is_exp.ravel())[0]
            o_exp, _ = overlap_exp_interpolated(
                *(a.ravel()[where] for a in args), *mode, points=points
            )
            if n_exp == is_exp.size:
                return o_exp.reshape(is_exp.shape)
            o = overlap_gauss(*args, *mode).ravel().at[where].set(o_exp)
            return o.reshape(is_exp.shape)
        if is_exp.all():
            return overlap_exp(*args, *mode)
        if not is_exp.any():
            return overlap_gauss(*args, *mode)
        return jnp.where(is_exp, overlap_exp(*args, *mode), overlap_gauss(*args, *mode))

    def _overlap_table(self, t_ref, t1, nu, weight, deph):
        """The mixed overlap on a grid of 65 starts (at most 8 mode FWHM) and 33 offsets
        spanning the given exponential wavepackets: (values, t grid, nu grid)."""
        n_t, n_nu = MIXED_OVERLAP_GRID
        alive = weight > 0.0
        g_t = laws.grid(t_ref, alive, n_t, span=8.0 * self.input_mode_fwhm_ns)
        g_nu = laws.grid(nu, alive, n_nu)
        values = overlap_exp_mixed(
            laws.grid_points(g_t)[:, None],
            t1,
            laws.grid_points(g_nu)[None, :],
            self.write_time_ns,
            self.input_mode_fwhm_ns,
            deph,
        )
        return values, g_t[:2], g_nu[:2]

    def fate_probabilities(
        self, batch: Batch, interpolate: bool = False, dephasing_time_ns=None, table=None
    ):
        """(P_r, P_t): retrieved and transmitted-unstored probabilities of each wavepacket."""
        overlap = self.overlap(batch, interpolate, dephasing_time_ns, table)
        p_s = probability(self.write_efficiency) * overlap
        # eta_r D(tau) is a probability: beating terms with phases can push the ratio of
        # docs/physics.md 3.4 above 1 at some tau, which no memory can retrieve more than all of.
        p_r = p_s * probability(probability(self.read_efficiency) * self.decay_factor())
        p_t = (1.0 - p_s) * probability(self.transmission)
        return p_r, p_t

    def reshaping(self, source):
        """Grid (n_t, n_nu) of starts and offsets of the transmitted light's dip law, or
        None when no light can be stored or pass (static choice)."""
        if concrete(self.write_efficiency) == 0.0 or concrete(self.transmission) == 0.0:
            return None
        feeding = concrete(source.feeding_time_ns) != 0.0
        diffusion = concrete(source.spectral_diffusion_fwhm_ghz) != 0.0
        return (DIP_STARTS if feeding else 2, DIP_OFFSETS if diffusion else 2)

    def max_transmission(self) -> float:
        """The most of a photon that leaves (retrieved or unstored): P_r + P_t = s R +
        (1 - s) T, linear in the stored fraction s = eta_w O in [0, eta_w], so largest at
        s = 0 or s = eta_w (R = eta_r D(tau), clipped to 1 as in `fate_probabilities`)."""
        t = float(self.transmission)
        r = min(1.0, float(self.read_efficiency * self.decay_factor()))
        w = float(self.write_efficiency)
        return max(t, w * r + (1.0 - w) * t)

    def noise_capacity(self, n_shots: int) -> tuple[int, int]:
        """Room for the (write, read) noise photons of `n_shots` shots in analog mode."""
        means = (concrete(self.write_noise_photons), concrete(self.read_noise_photons))
        if self.noise_statistics == "thermal":
            return tuple(
                sampling.round_capacity(thermal.thermal_capacity(m or 0.0, n_shots)) for m in means
            )
        return tuple(sampling.poisson_capacity(n_shots * (m or 0.0)) for m in means)

    def apply(self, batch: Batch, key, ctx):
        tabs = self._tables(batch, ctx)
        p_r, p_t = self.fate_probabilities(
            batch,
            interpolate=ctx.mode == "analog",
            dephasing_time_ns=ctx.dephasing_time_ns,
            table=tabs.get("overlap"),
        )
        on = ctx.on_path(self, batch)
        if on is not None:  # light on other paths passes untouched
            p_r, p_t = jnp.where(on, p_r, 0.0), jnp.where(on, p_t, 1.0)
        t_out = self.retrieval_time_ns
        dtype = batch.t_ref_ns.dtype
        # The retrieved photon is in the memory's output mode, at the memory's carrier.
        retrieved = batch.replace(
            kind=np.full_like(batch.kind, GAUSS),
            t_ref_ns=jnp.broadcast_to(t_out, batch.t_ref_ns.shape).astype(dtype),
            width_ns=jnp.broadcast_to(self.output_mode_fwhm_ns, batch.width_ns.shape).astype(
                batch.width_ns.dtype
            ),
            nu_ghz=jnp.zeros_like(batch.nu_ghz),
            weight=batch.weight * p_r,
            origin=np.where(batch.origin == MEMORY_NOISE, MEMORY_NOISE, RETRIEVED).astype(np.int8),
            law=np.full_like(batch.law, -1),
        )
        transmitted = batch.replace(weight=batch.weight * p_t)
        if "dip" in tabs:
            transmitted = self._dip(transmitted, on, ctx, tabs["dip"])
        out = retrieved.concat_branches(transmitted)
        info = self._stats(batch, p_r, p_t, on)

        noise, noise_info = self._noise(key, out.shape[1], ctx, t_out, out.weight.dtype)
        if noise is not None:
            out = out.concat_photons(noise)
        info.update(noise_info)
        return out, info

    def _exp_photons(self, batch, on):
        """Flat indices (static) of the exponential wavepackets here (whatever shape an
        earlier stage gave them: the last reshaping stage sets the shape)."""
        here = np.ones(batch.kind.shape, bool) if on is None else on
        return np.flatnonzero((here & (batch.kind == EXP)).ravel())

    def _tables(self, batch, ctx) -> dict:
        """The memory's tables for this parameter set (`photonmc.laws.tables`): "dip", the
        unstored light's law, when the link's reshaping includes it, and "overlap", the
        mixed-state overlap on a grid, for analog chunks of a source with pure dephasing."""
        grid = ctx.reshapes(self)
        deph = ctx.dephasing_time_ns
        want_overlap = deph is not None and (ctx.mode == "analog" or ctx.collected is not None)
        where = self._exp_photons(batch, ctx.on_path(self, batch))
        if where.size == 0 or (grid is None and not want_overlap):
            return {}
        t_ref, nu = batch.t_ref_ns.ravel()[where], batch.nu_ghz.ravel()[where]
        t1 = batch.width_ns.ravel()[where[0]]  # every exponential photon has the source's T1
        weight = batch.weight.ravel()[where]

        def build():
            out = {}
            if want_overlap:
                out["overlap"] = self._overlap_table(t_ref, t1, nu, weight, deph)
            if grid is not None:
                out["dip"] = self._dip_law(t_ref, t1, nu, weight, deph, grid)
            return out

        return laws.tables(self, ctx, build)

    def _dip_law(self, t_ref, t1, nu, weight, deph, grid):
        """The unstored light's law: the write's dip cut into exponential wavepackets
        (`kernels.coherence.dip_table_exp`), on a grid of their starts (at most one mode
        FWHM and 8 standard deviations of the starts past the earliest; later starts share
        the last row) and offsets."""
        n_t, n_nu = grid
        alive = weight > 0.0
        g_t = laws.grid(t_ref, alive, n_t, span=self.input_mode_fwhm_ns, weights=weight)
        g_nu = laws.grid(nu, alive, n_nu)
        offsets = laws.grid_points(g_nu)

        def rows(start):  # one start at a time: the dephasing average of a row is large
            return dip_table_exp(
                start,
                t1,
                offsets,
                self.write_time_ns,
                self.input_mode_fwhm_ns,
                probability(self.write_efficiency),
                deph,
                n=DIP_POINTS,
                span_lifetimes=DIP_LIFETIMES,
                n_nodes=DIP_DEPHASING_NODES,
            )

        cdf, t0, h = jax.lax.map(rows, laws.grid_points(g_t))
        return laws.make(cdf, t0, h, g_t, g_nu)

    def _dip(self, batch, on, ctx, law):
        """The unstored exponential wavepackets, given the dip law `law`."""
        where = self._exp_photons(batch, on)
        if where.size == 0:
            return batch
        t_ref, nu = batch.t_ref_ns.ravel()[where], batch.nu_ghz.ravel()[where]
        return laws.set_law(batch, where, laws.register(ctx, law), law, u=t_ref, v=nu)

    def _stats(self, batch, p_r, p_t, on):
        signal = batch.origin != MEMORY_NOISE
        if on is not None:
            signal = signal & on
        w = jnp.where(signal, batch.weight, 0.0)
        x = jnp.sum(w, axis=-1)
        y = jnp.sum(w * p_r, axis=-1)
        z = jnp.sum(w * p_t, axis=-1)
        values = dict(x=x, y=y, z=z, xx=x * x, yy=y * y, zz=z * z, xy=x * y, xz=x * z)
        # one reduction of the stacked values: XLA:CPU (jax 0.10) summed a product over
        # (slots, 1) arrays 17x slower than over 1-D ones, 1.4 ms per statistic here
        sums = jnp.sum(jnp.stack([values[k].reshape(-1) for k in MEMORY_STATS]), axis=1)
        return {f"{self.name}.{k}": sums[i] for i, k in enumerate(MEMORY_STATS)}

    def _noise(self, key, n_branches, ctx, t_out, dtype):
        """Write- and read-noise photons: Poisson or thermal (Bose-Einstein) numbers per shot
        and mode (analog), or their means (expected: the single-detector histograms depend
        on the means alone; the coincidences of thermal noise are `expected_coincidences`')."""
        modes = (
            # (mean per shot, centre, FWHM) of write noise, then read noise
            (self.write_noise_photons, self.write_time_ns, self.input_mode_fwhm_ns),
            (self.read_noise_photons, t_out, self.output_mode_fwhm_ns),
        )
        if ctx.mode == "analog":
            sizes = ctx.capacity[self.name]
            keys = jax.random.split(key, 2)
        else:
            sizes = tuple(0 if concrete(m) == 0.0 else 1 for m, _, _ in modes)
        parts, truncated = [], jnp.zeros((), jnp.int32)
        for i, ((mean, centre, fwhm), size) in enumerate(zip(modes, sizes, strict=True)):
            if size == 0:
                continue
            shot = 0
            if ctx.mode == "analog":
                if self.noise_statistics == "thermal":
                    exists, shot, dropped = thermal.thermal_events(
                        keys[i], mean, ctx.n_shots, ctx.chunk_shots, size
                    )
                else:
                    exists, shot, dropped = sampling.poisson_events(
                        keys[i], mean, ctx.n_shots, size
                    )
                weight = exists.astype(dtype)
                truncated = truncated + dropped
            else:
                weight = mean
            parts.append(
                wavepackets(
                    size,
                    shot=shot,
                    kind=GAUSS,
                    t_ref_ns=centre,
                    width_ns=fwhm,
                    nu_ghz=0.0,
                    weight=weight,
                    origin=MEMORY_NOISE,
                    path=ctx.paths[self.name],
                    dtype=dtype,
                ).pad_branches(n_branches)
            )
        info = {f"{self.name}.noise_truncated": truncated} if ctx.mode == "analog" else {}
        if not parts:
            return None, info
        noise = parts[0]
        for p in parts[1:]:
            noise = noise.concat_photons(p)
        return noise, info
