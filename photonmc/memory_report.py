"""The physics of a link's OrcaMemory for one input wavepacket (`photonmc memory`).

Inputs:
- "source": the source's photon averaged over its latent variables. The photon emitted
  after a feeding delay t_e (exponential, mean tau_f) has amplitude
  psi(t) = exp(-(t - t_e) / (2 T1)) / sqrt(T1) for t > t_e (retarded time, the memory's
  clock). Its density matrix rho = E[psi psi^dagger] is represented by Gauss-Laguerre nodes
  of t_e (16; one node when tau_f = 0), all solved as one batch; efficiencies are the
  node-weighted means, i.e. Tr(K rho K^dagger) for the total efficiency (write and read are
  the ratios of the weighted photon numbers).
- "gaussian:FWHM_NS": a real Gaussian of that intensity FWHM centred on the write control;
  "gaussian:FWHM_NS@T_NS" centres it at T_NS instead (the memory's clock), so that the write
  time is an offset from the signal (a timing parameter a fit can free).

`memory_model` gives the same efficiencies as traceable functions of the link (fits and
optimisation): the grid is chosen once, at plain-number parameters, and kept static.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np

from photonmc.kernels import atomic_data as ad
from photonmc.kernels import orca_adiabatic as ob
from photonmc.link import Link
from photonmc.ranges import concrete
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

    @property
    def output_mode(self) -> dict:
        """The retrieved light's intensity: {"peak_ns", "fwhm_ns"} on the memory's clock (its
        time of largest intensity and full width at half maximum, linear interpolation
        between grid nodes); {} without curves (analytic tier). Not a `--json` key."""
        c = self.curves
        if not c:
            return {}
        t = np.asarray(c["output_times_ns"], np.float64)
        y = np.asarray(c["output_intensity"], np.float64)
        return {"peak_ns": float(t[np.argmax(y)]), "fwhm_ns": fwhm(t, y)}

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
        if self.output_mode:
            o = self.output_mode
            lines.append(
                f"  output mode            peak at {o['peak_ns']:.4g} ns, "
                f"FWHM {o['fwhm_ns']:.4g} ns"
            )
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def fwhm(t: np.ndarray, y: np.ndarray) -> float:
    """Full width at half maximum of samples y(t) (outermost half-maximum crossings,
    linearly interpolated); nan if y has no positive peak."""
    top = float(np.max(y)) if y.size else 0.0
    if not top > 0:
        return math.nan
    above = np.flatnonzero(y >= 0.5 * top)
    i, j = int(above[0]), int(above[-1])

    def cross(a, b):
        ya, yb = y[a] - 0.5 * top, y[b] - 0.5 * top
        return t[a] + (t[b] - t[a]) * ya / (ya - yb) if ya != yb else t[a]

    left = cross(i - 1, i) if i > 0 else t[i]
    right = cross(j, j + 1) if j + 1 < y.size else t[j]
    return float(right - left)


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


def split_centre(text: str) -> tuple[str, float | None]:
    """("gaussian:FWHM_NS", T_NS) from "gaussian:FWHM_NS@T_NS"; (text, None) without "@"."""
    head, at, tail = text.partition("@")
    if not at:
        return text, None
    try:
        centre = float(tail)
    except ValueError:
        centre = math.nan
    if head.startswith("gaussian:") and math.isfinite(centre):
        return head, centre
    raise ValueError(
        f"input must be 'source', 'gaussian:FWHM_NS' or 'gaussian:FWHM_NS@T_NS' with a finite "
        f"centre T_NS, got {text!r}"
    )


def parse_input(text: str) -> tuple[str, float | None]:
    """("source", None) or ("gaussian", FWHM_NS) from the --input text ("@T_NS" ignored)."""
    text = split_centre(text)[0]
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
    """The source's photon as a batch over feeding-delay nodes: (psi, weights, T1, end).

    psi(t) -> (len(t), nodes); traceable in the source's lifetime and feeding time (the
    node count is fixed by whether the feeding time is 0, a plain-number choice).
    """
    src = link.source
    t1 = src.lifetime_ns
    tau_f = src.feeding_time_ns
    tau_f_value = concrete(tau_f)
    if tau_f_value is None or tau_f_value > 0:
        x, w = np.polynomial.laguerre.laggauss(FEEDING_NODES)
    else:
        x, w = np.zeros(1), np.ones(1)
    delays = tau_f * jnp.asarray(x) if len(x) > 1 else jnp.zeros(1)

    def psi(t):
        dt = t[:, None] - delays[None, :]
        return jnp.where(dt >= 0, jnp.exp(-jnp.maximum(dt, 0) / (2 * t1)) / jnp.sqrt(t1), 0.0)

    t1_value = concrete(t1) or 1.0
    end = (tau_f_value or 0.0) * float(x[-1]) + 7.0 * t1_value
    return psi, np.asarray(w), t1_value, end


@dataclasses.dataclass(frozen=True)
class MemoryInput:
    """The wavepacket a memory is evaluated for: the --input text, parsed.

    kind: "source" or "gaussian"; fwhm_ns: the Gaussian's intensity FWHM; centre_ns: its
    centre on the memory's clock (None: on the write control).
    """

    kind: str = "source"
    fwhm_ns: float | None = None
    centre_ns: float | None = None

    @classmethod
    def parse(cls, text: str) -> MemoryInput:
        head, centre = split_centre(text)
        kind, fwhm = parse_input(head)
        return cls(kind, fwhm, centre)

    def wavepacket(self, link: Link, m: OrcaMemory):
        """(psi(t) -> (len(t), M), weights (M,), extent_ns, signal_fwhm_ns): traceable psi;
        extent (how far the photon reaches from the write control) and width are plain
        numbers for the grid."""
        t_w = concrete(m.write_time_ns)
        t_w = 0.0 if t_w is None else t_w
        if self.kind == "gaussian":
            centre = m.write_time_ns if self.centre_ns is None else self.centre_ns
            g = _gaussian(self.fwhm_ns, centre)
            offset = 0.0 if self.centre_ns is None else abs(self.centre_ns - t_w)
            return (lambda t: g(t)[:, None]), np.ones(1), 2.0 * self.fwhm_ns + offset, self.fwhm_ns
        psi, weights, t1, end = _source(link)
        return psi, weights, max(abs(t_w), abs(end - t_w)), t1


def memory_stage(link: Link, stage: str | None = None) -> OrcaMemory:
    """The link's OrcaMemory called `stage`, or its only one (ValueError otherwise)."""
    return _memory_stage(link, stage)


def memory_grid(links, stage: str | None, inp: MemoryInput):
    """One static grid for the memory of every link in `links` (plain-number parameters):
    the finest step any of them needs and the widest window; None for the analytic tier."""
    cfgs, spans = [], []
    for lk in links:
        m = _memory_stage(lk, stage)
        if m.tier == "analytic":
            return None
        _, _, extent, fwhm = inp.wavepacket(lk, m)
        cfg = m.grid(extent, fwhm)
        length = float(m.cell_length_cm) * ad.CM
        r = ob.rho(cfg)
        cfgs.append(cfg)
        spans.append((cfg.nt * length / (cfg.nz - 1) / r, length, r))
    best = max(cfgs, key=lambda c: c.nz)
    nt = max(math.ceil(span / (length / (best.nz - 1) / r) - 1e-9) for span, length, r in spans)
    return best._replace(nt=max(int(nt), best.nt))


def memory_efficiencies(link: Link, stage: str | None, inp: MemoryInput, cfg):
    """(write, read, total) efficiency of the memory for `inp`, traceable in every continuous
    parameter of the link; cfg from `memory_grid` (None: analytic tier). Also returns the
    solve (None in the analytic tier) and the node weights."""
    m = _memory_stage(link, stage)
    if m.tier == "analytic":
        if inp.kind != "gaussian":
            raise ValueError(
                f"OrcaMemory {m.name!r}: tier 'analytic' takes a Gaussian input "
                "(--input gaussian:FWHM_NS), not the source's photon"
            )
        return tuple(m.analytic(inp.fwhm_ns)), None, np.ones(1)
    psi, weights, _, _ = inp.wavepacket(link, m)
    res = m.memory(psi, cfg)
    from photonmc.kernels import orca

    med = m.physics().medium
    wt = orca.ob.time_weights(cfg, med)
    t = orca.ob.input_times(cfg, med) + m.write_time_ns
    n_in = jnp.sum(wt[:, None] * jnp.abs(psi(t)) ** 2, axis=0)
    w = jnp.asarray(weights)
    # weighted means over the input's nodes: ratios of mean photon numbers (a node whose
    # photon misses the window has 0/0 ratios: it counts as nothing)
    stored = jnp.nan_to_num(res.write_efficiency * n_in)
    out = jnp.nan_to_num(res.total_efficiency * n_in)
    after = jnp.nan_to_num(out / res.read_efficiency)  # stored photons left after the storage
    n_in_m, stored_m, out_m, after_m = (jnp.sum(w * x) for x in (n_in, stored, out, after))
    safe = lambda a: jnp.where(a > 0, a, 1.0)  # noqa: E731
    return (stored_m / safe(n_in_m), out_m / safe(after_m), out_m / safe(n_in_m)), res, weights


def memory_report(link: Link, *, stage: str | None = None, input: str = "source") -> MemoryReport:
    """The physics of the link's OrcaMemory (`stage`, or the only one) for `input`."""
    m = _memory_stage(link, stage)
    inp = MemoryInput.parse(input)
    ph = m.physics()
    warns: list[str] = []
    curves: dict = {}
    if inp.kind == "source" and m.tier == "analytic":
        raise ValueError(
            f"OrcaMemory {m.name!r}: tier 'analytic' takes a Gaussian input "
            "(--input gaussian:FWHM_NS), not the source's photon"
        )
    singular: list[float] = []
    cfg = memory_grid([link], stage, inp)
    eff, res, weights = memory_efficiencies(link, stage, inp, cfg)
    eff = [float(x) for x in eff]
    if cfg is not None:
        psi, weights, _, _ = inp.wavepacket(link, m)
        if inp.kind == "gaussian":
            warns += m.warnings(cfg, lambda t: psi(t)[:, 0])
        else:
            warns += m.warnings(cfg)
            _window_check(m, cfg, psi, weights, warns)
        if m.tier == "adiabatic":
            k = m.kernel(cfg)
            singular = [float(s) for s in np.asarray(k.svd.efficiencies)[:N_SINGULAR]]
        wsig = lambda t: psi(t) @ jnp.asarray(np.sqrt(weights))  # noqa: E731
        curves = _curves(res, wsig, inp.kind, weights)
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


def _curves(res, wsig, kind, weights):
    """Input mode, output mode, transmitted wavepacket and spin wave for `plot_memory`."""
    if kind == "gaussian":
        inten = lambda a: np.abs(np.asarray(a)) ** 2  # noqa: E731
        out, trans = inten(res.output_amplitude)[:, 0], inten(res.transmitted_amplitude)[:, 0]
        spin = np.abs(np.asarray(res.spin_wave))[0] ** 2
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
