"""The physical ORCA memory: a ladder memory computed from atomic physics (ORCA_MODEL.md).

`OrcaMemory` holds what a laboratory sets (species, cell, beams, detunings, control pulses)
and computes the memory's physics through `photonmc.kernels.orca`: optical depth, critical
control energy, write, read and total efficiency of a wavepacket, the kernel's singular
values, the 1/e storage time, the light shift and the validity warnings
(`photonmc.memory_report`, `photonmc memory`). The analog and expected engines run it
through `photonmc.stages.orca_engine`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from photonmc.kernels import atomic_data as ad
from photonmc.kernels import orca
from photonmc.ranges import Range
from photonmc.stages import orca_engine
from photonmc.stages._base import check_choice, concrete, describe, param, stage, static

#: Storage states of each species (ORCA_MODEL 3.2)
STORAGE_STATES = {"Rb87": ("4D5/2", "5D5/2"), "Cs133": ("6D5/2",)}
TIERS = ("analytic", "adiabatic", "full")
CONTROL_SHAPES = ("gaussian", "square", "table")
#: Number of amplitudes a table control may have
TABLE_SIZES = (2, 16)


@stage
class OrcaMemory:
    """A warm-vapour ladder memory (ORCA) computed from atomic data and the control pulses.

    The signal photon is written into a spin wave by a control pulse centred at
    `write_time_ns` (retarded time at the cell centre, the clock of `LadderMemory`), kept
    for `storage_time_ns` and read by a second control. Absent atomic-data overrides take
    the values of ORCA_MODEL 3.2 for (`species`, `storage_state`). `tier` picks the model:
    "analytic" (square control, infinite medium), "adiabatic" (Raman equations with
    `doppler_classes` velocity classes) or "full" (three-level equations, standard ladder).
    `grid_nz`, `grid_nt` = 0 let `kernels.orca.choose_grid` meet the grid rules.
    """

    write_time_ns: float = param(unit="ns", doc="centre of the write control (retarded time)")
    temperature_c: float = param(115.0, lo=0.0, hi=400.0, unit="C", doc="vapour temperature")
    cell_length_cm: float = param(8.0, lo=0.0, lo_open=True, unit="cm", doc="cell length L")
    signal_waist_um: float = param(
        100.0, lo=0.0, lo_open=True, limit=1e6, unit="um", doc="signal beam waist w_s"
    )
    control_waist_um: float = param(
        130.0, lo=0.0, lo_open=True, limit=1e6, unit="um", doc="control beam waist w_c"
    )
    isotope_fraction: float = param(
        1.0, lo=0.0, hi=1.0, lo_open=True, doc="fraction of the vapour in the active isotope"
    )
    optical_pumping: float = param(
        0.0, lo=0.0, hi=1.0, doc="degree of optical pumping into the active hyperfine level"
    )
    detuning_ghz: float = param(6.0, unit="GHz", doc="one-photon detuning Delta / 2 pi")
    two_photon_detuning_mhz: float = param(
        0.0, unit="MHz", doc="two-photon detuning delta / 2 pi (0: bare resonance)"
    )
    control_fwhm_ns: float = param(
        0.5,
        lo=0.0,
        lo_open=True,
        unit="ns",
        doc="control intensity FWHM (duration of a square pulse)",
    )
    write_energy_nj: float = param(1.0, lo=0.0, unit="nJ", doc="write control pulse energy")
    read_energy_nj: float = param(1.0, lo=0.0, unit="nJ", doc="read control pulse energy")
    storage_time_ns: float = param(
        3.0, lo=0.0, unit="ns", doc="read control centre minus write control centre"
    )
    signal_dipole_ea0: float | None = param(
        None,
        lo=0.0,
        lo_open=True,
        limit=1e3,
        unit="e a0",
        doc="effective signal dipole (absent: table)",
    )
    control_dipole_ea0: float | None = param(
        None,
        lo=0.0,
        lo_open=True,
        limit=1e3,
        unit="e a0",
        doc="effective control dipole (absent: table)",
    )
    intermediate_lifetime_ns: float | None = param(
        None, lo=0.0, lo_open=True, unit="ns", doc="lifetime tau_2 of nP3/2 (absent: table)"
    )
    storage_lifetime_ns: float | None = param(
        None, lo=0.0, lo_open=True, unit="ns", doc="lifetime tau_3 of the storage state"
    )
    dephasing_time_ns: float | None = param(
        None, lo=0.0, lo_open=True, unit="ns", doc="extra Gaussian spin-wave dephasing time"
    )
    # a 1-D array parameter: each entry is a parameter (`memory.control_table[k]`, the
    # "entry" component) with the range declared for the field
    control_table: np.ndarray = dataclasses.field(
        default=(),
        metadata={
            "unit": "",
            "doc": "control_shape 'table': N envelope amplitudes (>= 0) on a uniform grid "
            "inside control_fwhm_ns, interpolated by raised-cosine bumps",
            "range": Range(0.0),
            "components": {"entry": ("", Range(0.0))},
        },
    )
    beat_terms: np.ndarray = param(
        (),
        doc="hyperfine beating terms [a_k, f_k (GHz), phi_k (rad)]",
        components={"a": ("", Range(0.0)), "f_ghz": ("GHz", Range()), "phi": ("rad", Range())},
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
    species: str = static("Rb87")
    storage_state: str = static("4D5/2")
    geometry: str = static("counter")
    control_shape: str = static("gaussian")
    noise_statistics: str = static("poisson")
    tier: str = static("adiabatic")
    doppler_classes: int = static(9)
    grid_nz: int = static(0)
    grid_nt: int = static(0)
    name: str = static("memory")
    branch: str = static("")

    def __post_init__(self):
        check_choice(self, "species", tuple(STORAGE_STATES))
        check_choice(self, "storage_state", STORAGE_STATES[self.species])
        check_choice(self, "geometry", ("counter", "co"))
        check_choice(self, "control_shape", CONTROL_SHAPES)
        check_choice(self, "noise_statistics", ("poisson", "thermal"))
        self._check_control_table()
        check_choice(self, "tier", TIERS)
        for field, lo in (("doppler_classes", 1), ("grid_nz", 0), ("grid_nt", 0)):
            self._whole(field, lo)
        if self.grid_nz and self.grid_nz < 3:
            raise ValueError(
                f"{describe(self)}: grid_nz must be 0 (automatic) or >= 3, got {self.grid_nz}"
            )
        if self.tier == "analytic" and self.control_shape != "square":
            raise ValueError(
                f"{describe(self)}: tier 'analytic' needs control_shape 'square', got "
                f"{self.control_shape!r}"
            )
        if self.tier == "full" and self.species_data.inverted:
            raise ValueError(
                f"{describe(self)}: tier 'full' covers the standard ladder only, not "
                f"{self.species} {self.storage_state} (use tier 'adiabatic')"
            )
        from photonmc.stages.memory import LadderMemory

        LadderMemory._check_beat_terms(self)  # same triples, same checks

    def _check_control_table(self) -> None:
        table = self.control_table
        if isinstance(table, list | tuple):
            try:
                table = np.asarray(table, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{describe(self)}: control_table must be a list of amplitudes, got "
                    f"{self.control_table!r}"
                ) from None
            object.__setattr__(self, "control_table", table)
        if not isinstance(table, np.ndarray):
            return  # traced during a fit or an optimisation
        lo, hi = TABLE_SIZES
        if self.control_shape != "table":
            if table.size:
                raise ValueError(
                    f"{describe(self)}: control_table is for control_shape 'table', got "
                    f"{table.size} amplitudes with control_shape {self.control_shape!r}"
                )
            return
        if table.ndim != 1 or not lo <= table.size <= hi:
            raise ValueError(
                f"{describe(self)}: control_table must be a list of {lo} to {hi} amplitudes "
                f"for control_shape 'table', got shape {table.shape}"
            )
        if not np.all(np.isfinite(table)) or np.any(table < 0) or not np.any(table > 0):
            raise ValueError(
                f"{describe(self)}: control_table amplitudes must be finite and >= 0, at least "
                f"one > 0, got {table.tolist()}"
            )

    def _whole(self, field: str, lo: int) -> None:
        value = getattr(self, field)
        ok = isinstance(value, int | float | np.integer) and not isinstance(value, bool)
        if not (ok and math.isfinite(value) and float(value).is_integer() and value >= lo):
            raise ValueError(
                f"{describe(self)}: {field} must be a whole number >= {lo}, got {value!r}"
            )
        object.__setattr__(self, field, int(value))

    # ----------------------------------------------------------------- the engines
    def reshaping(self, source):
        """The static plan of the engines (`orca_engine.reshaping`)."""
        return orca_engine.reshaping(self, source)

    def apply(self, batch, key, ctx):
        return orca_engine.apply(self, batch, key, ctx)

    def equivalent_ladder(self):
        """The LadderMemory the analytic tier acts as (`orca_engine.equivalent_ladder`)."""
        return orca_engine.equivalent_ladder(self)

    @property
    def input_mode_fwhm_ns(self):
        """FWHM of the write noise's Gaussian mode: the control's duration."""
        return self.control_fwhm_ns

    @property
    def output_mode_fwhm_ns(self):
        """FWHM of the read noise's Gaussian mode: the control's duration."""
        return self.control_fwhm_ns

    def retrieval_window_ns(self, offset_ns=0.0):
        """t_w + T_s +- control_fwhm_ns, minus `offset_ns` (histogram time); traceable."""
        centre = self.retrieval_time_ns - offset_ns
        return centre - self.control_fwhm_ns, centre + self.control_fwhm_ns

    def max_transmission(self) -> float:
        return 1.0

    def noise_capacity(self, n_shots: int) -> tuple[int, int]:
        from photonmc.stages.memory import LadderMemory

        return LadderMemory.noise_capacity(self, n_shots)

    # ---------------------------------------------------------------- the physics
    @property
    def species_data(self) -> ad.Species:
        return ad.species_data(self.species, self.storage_state)

    @property
    def retrieval_time_ns(self):
        """Centre of the read control, t_w + T_s (retarded time; traceable)."""
        return self.write_time_ns + self.storage_time_ns

    def params(self) -> orca.OrcaParams:
        """The continuous parameters as `kernels.orca.OrcaParams` (leaves, traceable)."""
        values = {f: getattr(self, f) for f in orca.OrcaParams._fields}
        if self.control_shape != "table":
            values["control_table"] = None
        return orca.OrcaParams(**values)

    def _beats(self):
        terms = self.beat_terms
        return None if np.size(terms) == 0 else terms

    def physics(self) -> orca.Physics:
        """Density, optical depth, control Rabi frequencies, E_crit, light shift, tau_D."""
        return orca.physics(self.species_data, self.params(), self.geometry, self.control_shape)

    def optical_depth(self):
        return self.physics().optical_depth

    def critical_energy_nj(self):
        """Control energy of a pi pulse area in the analytic tier (ORCA_MODEL 3.3), nJ."""
        return self.physics().critical_energy_nj

    def light_shift_mhz(self):
        """Light shift of the two-photon resonance at the write control's peak, MHz."""
        return self.physics().light_shift_mhz

    def storage_1e_ns(self):
        """1/e time of the storage law exp(-gamma3 t - (K sigma_v t)^2 - (t/tau_d)^2), ns."""
        return orca.storage_1e_ns(self.physics(), self.params())

    def grid(self, signal_extent_ns=None, signal_fwhm_ns=None):
        """The static grid: `choose_grid`'s, with `grid_nz` / `grid_nt` where they are set."""
        cfg = orca.choose_grid(
            self.species_data,
            self.params(),
            self.geometry,
            self.control_shape,
            signal_extent_ns,
            signal_fwhm_ns,
            nv=self.doppler_classes,
        )
        if self.grid_nz:
            length = float(concrete(self.cell_length_cm)) * ad.CM
            r = orca.ob.rho(cfg)
            half = 0.5 * cfg.nt * length / (cfg.nz - 1) / r
            dt = length / (self.grid_nz - 1) / r
            cfg = cfg._replace(nz=self.grid_nz, nt=int(math.ceil(2.0 * half / dt)))
        if self.grid_nt:
            cfg = cfg._replace(nt=self.grid_nt)
        return cfg

    def memory(self, signal, cfg):
        """Write, store and read psi = signal(t_ns) (one, or a batch as (nt + 1, M))."""
        return orca.memory(
            self.species_data, self.params(), cfg, signal, self._beats(), tier=self.tier
        )

    def kernel(self, cfg) -> orca.OrcaKernel:
        """The total kernel and its SVD (adiabatic tier)."""
        return orca.kernel(self.species_data, self.params(), cfg, self._beats())

    def analytic(self, signal_fwhm_ns):
        """Analytic tier for a Gaussian signal: (eta_write, eta_read, eta_total)."""
        return orca.analytic(
            self.species_data, self.params(), signal_fwhm_ns, self.geometry, self._beats()
        )

    def warnings(self, cfg, signal=None) -> list[str]:
        """Grid rules and tier validity at these parameters, each with its numbers."""
        return orca.grid_warnings(self.species_data, self.params(), cfg, signal)
