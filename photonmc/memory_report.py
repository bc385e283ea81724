"""The physics of a link's OrcaMemory for one input wavepacket (`photonmc memory`).

Inputs:
- "source": the source's photon averaged over its latent variables. The photon emitted
  after a feeding delay t_e (exponential, mean tau_f) has amplitude
  psi(t) = exp(-(t - t_e) / (2 T1)) / sqrt(T1) for t > t_e (retarded time, the memory's
  clock). Its density matrix rho = E[psi psi^dagger] is represented by Gauss-Laguerre nodes
  of t_e (16; one node when tau_f = 0), all solved as one batch; efficiencies are the
  node-weighted means, i.e. Tr(K rho K^dagger) for the total efficiency (write and read are
  the ratios of the weighted photon numbers).
- "gaussian:FWHM_NS": a real Gaussian of that intensity FWHM centred on the write control.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from photonmc.link import Link
from photonmc.stages.orca import OrcaMemory

#: Feeding-delay quadrature nodes of the "source" input
FEEDING_NODES = 16
#: Singular values reported
N_SINGULAR = 5


@dataclasses.dataclass(frozen=True)
class MemoryReport:
    """The memory's physics for one input (units in the names; `to_json` gives the keys)."""

    optical_depth: float
    critical_energy_nj: float
    efficiency: dict
    singular_values: list
    storage_1e_ns: float
    light_shift_mhz: float
    tier: str
    warnings: list
    stage: str = ""
    input: str = "source"
    curves: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict:
        return {
            "optical_depth": self.optical_depth,
            "critical_energy_nj": self.critical_energy_nj,
            "efficiency": dict(self.efficiency),
            "singular_values": list(self.singular_values),
            "storage_1e_ns": self.storage_1e_ns,
            "light_shift_mhz": self.light_shift_mhz,
            "tier": self.tier,
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        e = self.efficiency
        sv = ", ".join(f"{s:.4f}" for s in self.singular_values) or "-"
        lines = [
            f"memory {self.stage!r} ({self.tier} tier), input {self.input}",
            f"  optical depth          {self.optical_depth:.6g}",
            f"  critical energy        {self.critical_energy_nj:.6g} nJ",
            f"  efficiency             write {e['write']:.4f}  read {e['read']:.4f}  "
            f"total {e['total']:.4f}",
            f"  singular values^2      {sv}",
            f"  1/e storage time       {self.storage_1e_ns:.6g} ns",
            f"  light shift            {self.light_shift_mhz:.6g} MHz",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _memory_stage(link: Link, stage: str | None) -> OrcaMemory:
    found = [s for s in link.stages if isinstance(s, OrcaMemory)]
    if stage is not None:
        s = link[stage]
        if not isinstance(s, OrcaMemory):
            raise ValueError(f"stage {stage!r} is a {type(s).__name__}, not an OrcaMemory")
        return s
    if not found:
        raise ValueError("the link has no OrcaMemory stage")
    if len(found) > 1:
        names = ", ".join(repr(s.name) for s in found)
        raise ValueError(f"the link has several OrcaMemory stages ({names}); choose one by name")
    return found[0]


def parse_input(text: str) -> tuple[str, float | None]:
    """("source", None) or ("gaussian", FWHM_NS) from the --input text."""
    if text == "source":
        return "source", None
    kind, colon, value = text.partition(":")
    if kind == "gaussian" and colon:
        try:
            fwhm = float(value)
        except ValueError:
            fwhm = math.nan
        if math.isfinite(fwhm) and fwhm > 0:
            return "gaussian", fwhm
    raise ValueError(f"input must be 'source' or 'gaussian:FWHM_NS' with FWHM_NS > 0, got {text!r}")


def _gaussian(fwhm_ns: float, centre_ns):
    a = 2.0 * math.log(2.0) / fwhm_ns**2
    norm = (2.0 * a / math.pi) ** 0.25

    def psi(t):
        return norm * jnp.exp(-a * (t - centre_ns) ** 2)

    return psi


def _source(link: Link):
    src = link.source
    t1 = float(src.lifetime_ns)
    tau_f = float(src.feeding_time_ns)
    if tau_f > 0:
        x, w = np.polynomial.laguerre.laggauss(FEEDING_NODES)
        delays, weights = tau_f * x, w
    else:
        delays, weights = np.zeros(1), np.ones(1)
    delays_j = jnp.asarray(delays)

    def psi(t):
        dt = t[:, None] - delays_j[None, :]
        return jnp.where(dt >= 0, jnp.exp(-jnp.maximum(dt, 0) / (2 * t1)) / math.sqrt(t1), 0.0)

    extent_end = float(delays[-1]) + 7.0 * t1
    return psi, np.asarray(weights), t1, extent_end


def memory_report(link: Link, *, stage: str | None = None, input: str = "source") -> MemoryReport:
    """The physics of the link's OrcaMemory (`stage`, or the only one) for `input`."""
    m = _memory_stage(link, stage)
    kind, fwhm = parse_input(input)
    t_w = float(m.write_time_ns)
    ph = m.physics()
    warns: list[str] = []
    curves: dict = {}
    if kind == "gaussian":
        psi = _gaussian(fwhm, t_w)
        weights = np.ones(1)
        extent, sig_fwhm = 2.0 * fwhm, fwhm
    else:
        if m.tier == "analytic":
            raise ValueError(
                f"OrcaMemory {m.name!r}: tier 'analytic' takes a Gaussian input "
                "(--input gaussian:FWHM_NS), not the source's photon"
            )
        psi, weights, t1, end = _source(link)
        extent, sig_fwhm = max(abs(t_w), abs(end - t_w)), t1
    singular: list[float] = []
    if m.tier == "analytic":
        eff = [float(x) for x in m.analytic(fwhm)]
    else:
        cfg = m.grid(extent, sig_fwhm)
        wsig = psi if kind == "gaussian" else (lambda t: psi(t) @ jnp.asarray(np.sqrt(weights)))
        if kind == "gaussian":
            warns += m.warnings(cfg, psi)
        else:
            warns += m.warnings(cfg)
            _window_check(m, cfg, psi, weights, warns)
        res = m.memory(psi, cfg)
        eff = _efficiencies(res, m, cfg, psi, weights, kind)
        if m.tier == "adiabatic":
            k = m.kernel(cfg)
            singular = [float(s) for s in np.asarray(k.svd.efficiencies)[:N_SINGULAR]]
        curves = _curves(res, wsig, kind, weights)
    return MemoryReport(
        optical_depth=float(ph.optical_depth),
        critical_energy_nj=float(ph.critical_energy_nj),
        efficiency={"write": eff[0], "read": eff[1], "total": eff[2]},
        singular_values=singular,
        storage_1e_ns=float(m.storage_1e_ns()),
        light_shift_mhz=float(ph.light_shift_mhz),
        tier=m.tier,
        warnings=warns,
        stage=m.name,
        input=input,
        curves=curves,
    )


def _window_check(m, cfg, psi, weights, warns):
    from photonmc.kernels import orca

    t = orca.ob.input_times(cfg, m.physics().medium) + m.write_time_ns
    wt = orca.ob.time_weights(cfg, m.physics().medium)
    n = float(jnp.sum(wt[:, None] * jnp.abs(psi(t)) ** 2, axis=0) @ jnp.asarray(weights))
    if n < 1.0 - 1e-3:  # (above 1: the trapezoid rule on the photon's sharp rise)
        warns.append(
            f"the window [{float(t[0]):.4g}, {float(t[-1]):.4g}] ns holds {n:.6g} of the "
            "source's photon (should be 1 within 1e-3): set grid_nt larger"
        )


def _efficiencies(res, m, cfg, psi, weights, kind):
    if kind == "gaussian":
        return [
            float(res.write_efficiency),
            float(res.read_efficiency),
            float(res.total_efficiency),
        ]
    # weighted means over the feeding-delay nodes: ratios of mean photon numbers
    w = jnp.asarray(weights)
    from photonmc.kernels import orca

    med = m.physics().medium
    wt = orca.ob.time_weights(cfg, med)
    t = orca.ob.input_times(cfg, med) + m.write_time_ns
    n_in = jnp.sum(wt[:, None] * jnp.abs(psi(t)) ** 2, axis=0)
    # (a node whose photon misses the window has 0/0 ratios: it counts as nothing)
    stored = jnp.nan_to_num(res.write_efficiency * n_in)
    out = jnp.nan_to_num(res.total_efficiency * n_in)
    after = jnp.nan_to_num(out / res.read_efficiency)  # stored photons left after the storage
    n_in_m, stored_m, out_m, after_m = (float(jnp.sum(w * x)) for x in (n_in, stored, out, after))
    return [stored_m / n_in_m, out_m / after_m, out_m / n_in_m]


def _curves(res, wsig, kind, weights):
    """Input mode, output mode, transmitted wavepacket and spin wave for `plot_memory`."""
    if kind == "gaussian":
        inten = lambda a: np.abs(np.asarray(a)) ** 2  # noqa: E731
        out, trans = inten(res.output_amplitude), inten(res.transmitted_amplitude)
        spin = np.abs(np.asarray(res.spin_wave)) ** 2
    else:
        w = np.asarray(weights)
        out = np.abs(np.asarray(res.output_amplitude)) ** 2 @ w
        trans = np.abs(np.asarray(res.transmitted_amplitude)) ** 2 @ w
        spin = np.tensordot(w, np.abs(np.asarray(res.spin_wave)) ** 2, axes=1)
    t_in = np.asarray(res.input_times_ns)
    inp = np.abs(np.asarray(wsig(res.input_times_ns))) ** 2
    return {
        "input_times_ns": t_in,
        "input_intensity": inp,
        "output_times_ns": np.asarray(res.output_times_ns),
        "output_intensity": out,
        "transmitted_times_ns": np.asarray(res.transmitted_times_ns),
        "transmitted_intensity": trans,
        "z_m": np.asarray(res.z_m),
        "spin_wave": spin.sum(axis=0) if spin.ndim == 2 else spin,
    }
