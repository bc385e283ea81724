"""How the analog and expected engines run an `OrcaMemory` (docs/orca_memory.md section 12).

Analytic tier: the memory acts as the `LadderMemory` whose efficiencies are Tier A's for a
signal as long as the square control and whose input and output modes are Gaussians of
the control's duration (`equivalent_ladder`), so it shares that stage's laws exactly
(overlap, mixed states, write dip, noise).

Kernel tiers (adiabatic, full): the memory's physics is computed once per parameter set
on a grid of the arriving photons' starts t_ref and offsets nu (9 starts with feeding,
spanning at most max(T1, control FWHM) and 8 standard deviations of the starts past
the earliest, and 17 offsets with spectral
diffusion, else 2 of each): for every grid point the photon's amplitude
sqrt(1/T1) exp(-(t - t_ref)/(2 T1) - i 2 pi nu (t - t_ref)) for t > t_ref is written,
stored and read by `kernels.orca.memory`, giving its retrieved probability and its
unstored-and-transmitted probability (both per incident photon on the solver's grid, as
that function's efficiencies) (the light that leaves the cell unstored, with the
dip the write cuts into it and the cell's resonant absorption), and the intensities of
both at the cell's exit on the solver's time grid. Pure dephasing of the source is the
Lorentzian average of pure photons over the carrier (`kernels.coherence`), here on 16
nodes uniform in the Lorentzian's CDF (midpoint rule). Each photon's probabilities are
the bilinear interpolation of the grid's, and its detection-time law the bilinear
mixture of the grid's rows (`photonmc.laws`), so a photon's retrieved and transmitted
shapes follow its own start and offset; the tables are made once per parameter set from
the expected-mode quadrature nodes, as the other reshaping stages'. The retrieved light is
at the memory's carrier (nu = 0), its law in absolute retarded time (its t_ref is 0); the
unstored light's law is relative to the photon's start, as any exponential photon's.

Neglected: storage of Gaussian wavepackets (light read out of an earlier memory, noise):
they pass with the stage's `transmission`; light another stage reshaped (a narrow filter)
is stored as its unreshaped photon.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from photonmc import laws
from photonmc.batch import EXP, GAUSS, MEMORY_NOISE, RETRIEVED
from photonmc.kernels import tabulated
from photonmc.stages._base import concrete, probability

#: Grid of the kernel tiers' tables: starts (with feeding), offsets (with spectral diffusion)
STARTS = 9
OFFSETS = 17

#: Carrier nodes of the pure-dephasing average
DEPHASING_NODES = 16

#: Refinement of the solver's time grid for the tabulated laws (even), at most 16 and
#: at most about LAW_POINTS nodes per row
UPSAMPLE = 16
LAW_POINTS = 4096

#: Largest solver grid, (nt + nz) nz nv cells, that a run may ask for
MAX_GRID_CELLS = 5e7

#: Span of the source's photon given to the grid rules: the feeding delay's 1 - 1e-11
#: quantile plus this many lifetimes
PHOTON_LIFETIMES = 12.0


def equivalent_ladder(m):
    """The LadderMemory with the analytic tier's efficiencies for a signal of the control's
    duration, Gaussian input and output modes of that duration, the same times, noise
    and transmission (no extra storage decay: Tier A's is in the read efficiency)."""
    from photonmc.stages.memory import LadderMemory

    eta_w, _, eta_total = m.analytic(m.control_fwhm_ns)
    read = jnp.where(eta_w > 0, eta_total / jnp.where(eta_w > 0, eta_w, 1.0), 0.0)
    plain = concrete(m.control_fwhm_ns) is not None
    as_float = float if plain else (lambda x: x)
    return LadderMemory(
        write_time_ns=m.write_time_ns,
        input_mode_fwhm_ns=m.control_fwhm_ns,
        output_mode_fwhm_ns=m.control_fwhm_ns,
        write_efficiency=as_float(jnp.clip(eta_w, 0.0, 1.0)),
        read_efficiency=as_float(jnp.clip(read, 0.0, 1.0)),
        storage_time_ns=m.storage_time_ns,
        lifetime_ns=1e12,
        decay="exponential",
        transmission=m.transmission,
        read_noise_photons=m.read_noise_photons,
        write_noise_photons=m.write_noise_photons,
        name=m.name,
        branch=m.branch,
    )


def reshaping(m, source):
    """The static plan of the stage: ("analytic", the equivalent ladder's choice) or
    ("kernel", grid config, n_starts, n_offsets)."""
    if m.tier == "analytic":
        return ("analytic", equivalent_ladder(m).reshaping(source))
    t1 = concrete(source.lifetime_ns)
    tau_f = concrete(source.feeding_time_ns)
    diffusion = concrete(source.spectral_diffusion_fwhm_ghz)
    if t1 is None or tau_f is None:
        raise ValueError(
            f"OrcaMemory {m.name!r}: the source's lifetime and feeding time must be plain "
            "numbers when the link is built (they set the memory's grid)"
        )
    end = 25.0 * tau_f + PHOTON_LIFETIMES * t1
    t_w = float(concrete(m.write_time_ns))
    extent = max(abs(t_w), abs(end - t_w))
    if not extent < 1e6:
        raise ValueError(
            f"OrcaMemory {m.name!r}: the source's photon and the write control span "
            f"{extent:.4g} ns (write_time_ns = {t_w:.4g} ns, photon up to {end:.4g} ns); "
            "the solver's window must be shorter than 1e6 ns"
        )
    cfg = m.grid(extent, t1)
    cells = (cfg.nt + cfg.nz) * cfg.nz * cfg.nv
    if cells > MAX_GRID_CELLS:
        raise ValueError(
            f"OrcaMemory {m.name!r}: the solver's grid needs nt = {cfg.nt} time steps, "
            f"nz = {cfg.nz} cells and nv = {cfg.nv} velocity classes ({cells:.3g} cells, "
            f"more than {MAX_GRID_CELLS:.0g}) for control_fwhm_ns = "
            f"{float(concrete(m.control_fwhm_ns)):.4g} ns over a {extent:.4g} ns window: "
            "use a shorter window (write time, source lifetime) or the analytic tier"
        )
    return ("kernel", cfg, STARTS if tau_f != 0.0 else 2, OFFSETS if diffusion != 0.0 else 2)


def apply(m, batch, key, ctx):
    plan = ctx.reshapes(m)
    if plan[0] == "analytic":
        # the equivalent ladder's own reshaping choice, under this stage's name
        own = tuple((n, plan[1] if n == m.name else c) for n, c in ctx.reshaping)
        return equivalent_ladder(m).apply(batch, key, dataclasses.replace(ctx, reshaping=own))
    _, cfg, n_t, n_nu = plan
    on = ctx.on_path(m, batch)
    here = np.ones(batch.kind.shape, bool) if on is None else on
    exp = here & (batch.kind == EXP)
    where = np.flatnonzero(exp.ravel())
    t_ref, nu = batch.t_ref_ns.ravel()[where], batch.nu_ghz.ravel()[where]
    t1 = batch.width_ns.ravel()[where[0]] if where.size else None
    weight = batch.weight.ravel()[where]

    def build():
        return _tables(m, cfg, t_ref, t1, nu, weight, n_t, n_nu, ctx.dephasing_time_ns)

    tabs = laws.tables(m, ctx, build) if where.size else None
    dtype = batch.weight.dtype
    p_r = jnp.zeros(batch.weight.shape, dtype)
    p_t = jnp.where(jnp.asarray(here), probability(m.transmission), 1.0).astype(dtype)
    retrieved = batch.replace(
        kind=np.full_like(batch.kind, GAUSS),
        t_ref_ns=jnp.zeros_like(batch.t_ref_ns),
        width_ns=jnp.broadcast_to(m.control_fwhm_ns, batch.width_ns.shape).astype(
            batch.width_ns.dtype
        ),
        nu_ghz=jnp.zeros_like(batch.nu_ghz),
        origin=np.where(batch.origin == MEMORY_NOISE, MEMORY_NOISE, RETRIEVED).astype(np.int8),
        law=np.full_like(batch.law, -1),
    )
    transmitted = batch
    if tabs is not None:
        law_r, law_t = tabs["retrieved"], tabs["transmitted"]
        x, y = law_r.positions(t_ref, nu)
        pr = _bilinear(tabs["p_r"], x, y)
        pt = _bilinear(tabs["p_t"], x, y) * probability(m.transmission)
        p_r, p_t = laws.put(p_r, where, pr), laws.put(p_t, where, pt)
        j_r, j_t = laws.register(ctx, law_r), laws.register(ctx, law_t)
        retrieved = laws.set_law(retrieved, where, j_r, law_r, u=t_ref, v=nu)
        transmitted = laws.set_law(transmitted, where, j_t, law_t, u=t_ref, v=nu)
    retrieved = retrieved.replace(weight=batch.weight * p_r)
    transmitted = transmitted.replace(weight=batch.weight * p_t)
    out = retrieved.concat_branches(transmitted)
    from photonmc.stages.memory import LadderMemory

    info = LadderMemory._stats(m, batch, p_r, p_t, on)
    noise, noise_info = LadderMemory._noise(
        m, key, out.shape[1], ctx, m.retrieval_time_ns, out.weight.dtype
    )
    if noise is not None:
        out = out.concat_photons(noise)
    info.update(noise_info)
    return out, info


def _upsample(values, factor: int):
    """Linear interpolation of samples on a uniform grid at `factor` points per interval:
    (..., n) -> (..., (n - 1) factor + 1). Linear keeps a sampled edge (the rise of
    unstored light) free of ringing, and the density continuous."""
    n = values.shape[-1]
    q = jnp.arange(factor, dtype=values.dtype) / factor
    lo, hi = values[..., :-1, None], values[..., 1:, None]
    out = (lo + (hi - lo) * q).reshape(values.shape[:-1] + ((n - 1) * factor,))
    return jnp.concatenate([out, values[..., -1:]], axis=-1)


def _bilinear(table, x, y):
    n_t, n_nu = table.shape
    i = jnp.minimum(jnp.floor(x), max(n_t - 2, 0)) if n_t > 1 else jnp.zeros_like(x)
    j = jnp.minimum(jnp.floor(y), max(n_nu - 2, 0)) if n_nu > 1 else jnp.zeros_like(y)
    fx, fy = x - i, y - j
    i, j = i.astype(jnp.int32), j.astype(jnp.int32)
    i1 = jnp.minimum(i + 1, n_t - 1)
    j1 = jnp.minimum(j + 1, n_nu - 1)
    v0 = table[i, j] + fy * (table[i, j1] - table[i, j])
    v1 = table[i1, j] + fy * (table[i1, j1] - table[i1, j])
    return v0 + fx * (v1 - v0)


def _carrier_nodes(dephasing_time_ns, dtype):
    """(offsets (n,), weights (n,)): the Lorentzian of HWHM 1/(2 pi T2*) GHz at the
    midpoints of n equal-probability cells; one node at 0 without dephasing."""
    if dephasing_time_ns is None:
        return jnp.zeros(1, dtype), jnp.ones(1, dtype)
    n = DEPHASING_NODES
    u = (np.arange(n) + 0.5) / n
    hwhm = 0.5 / (math.pi * jnp.asarray(dephasing_time_ns, dtype))
    return hwhm * jnp.asarray(np.tan(math.pi * (u - 0.5)), dtype), jnp.full(n, 1.0 / n, dtype)


def _tables(m, cfg, t_ref, t1, nu, weight, n_t, n_nu, deph):
    """Retrieved and transmitted probabilities (n_t, n_nu) and laws on the grid."""
    span = jnp.maximum(t1, m.control_fwhm_ns)
    alive = weight > 0.0
    g_t = laws.grid(t_ref, alive, n_t, span=span, weights=weight)
    g_nu = laws.grid(nu, alive, n_nu)
    starts, offsets = laws.grid_points(g_t), laws.grid_points(g_nu)
    delta, w_d = _carrier_nodes(deph, t_ref.dtype)
    n_d = delta.shape[0]
    s = starts[:, None, None]
    carrier = offsets[None, :, None] + delta[None, None, :]
    s, carrier = (jnp.broadcast_to(a, (n_t, n_nu, n_d)).reshape(-1) for a in (s, carrier))

    def signal(t):
        u = t[:, None] - s[None, :]
        after = u > 0.0
        up = jnp.where(after, u, 0.0)
        env = jnp.where(after, jnp.exp(-0.5 * up / t1) / jnp.sqrt(t1), 0.0)
        return env * jnp.exp(-2j * jnp.pi * carrier[None, :] * up)

    res = m.memory(signal, cfg)
    dt = res.output_times_ns[1] - res.output_times_ns[0]
    weights = jnp.full(res.output_times_ns.shape, dt).at[0].mul(0.5).at[-1].mul(0.5)

    def average(x):  # (..., M) -> (..., n_t, n_nu), the dephasing average
        x = x.reshape(x.shape[:-1] + (n_t, n_nu, n_d))
        return jnp.sum(x * w_d, axis=-1)

    out = average(jnp.abs(res.output_amplitude) ** 2)  # (nt + 1, n_t, n_nu)
    trans = average(jnp.abs(res.transmitted_amplitude) ** 2)
    # Per incident photon on the solver's grid (as `kernels.orca.memory` defines its
    # efficiencies): the sampled norm of the instant rise depends on where it falls
    # between input nodes, to O(dt / T1), and the ratio cancels that.
    incident = average(jnp.abs(signal(res.input_times_ns)) ** 2)
    n_in = jnp.maximum(jnp.tensordot(weights, incident, axes=1), 1e-30)
    p_r = jnp.clip(jnp.tensordot(weights, out, axes=1) / n_in, 0.0, 1.0)
    p_t = jnp.clip(jnp.tensordot(weights, trans, axes=1) / n_in, 0.0, 1.0)

    def law(intensity, t0):
        # The solver's step (L / (nz - 1) / rho, tens of ps) is coarse for a detection-time
        # law read through ps jitter: the intensity is refined (linearly) to about
        # LAW_POINTS nodes, at most UPSAMPLE times.
        factor = max(2, min(UPSAMPLE, 2 * (LAW_POINTS // (2 * intensity.shape[0]))))
        rows = _upsample(jnp.maximum(jnp.moveaxis(intensity, 0, -1), 0.0), factor)
        h = dt / factor
        cdf = tabulated.cdf_from_density(rows[..., 0::2], rows[..., 1::2], 2.0 * h)
        return laws.make(cdf, t0, 2.0 * h, g_t, g_nu)

    start = jnp.broadcast_to(starts[:, None], (n_t, n_nu))
    return {
        "p_r": p_r,
        "p_t": p_t,
        # retrieved light in absolute retarded time (its t_ref is 0), the unstored light
        # relative to each row's start, as every exponential photon's law
        "retrieved": law(out, res.output_times_ns[0]),
        "transmitted": law(trans, res.transmitted_times_ns[0] - start),
    }
