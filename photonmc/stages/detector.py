"""Single-photon detector and time tagger (docs/physics.md 3.5): their parameters and laws.

The engines sample them (`photonmc.analog_detection`) or integrate them
(`photonmc.expected.detector_counts`).
"""

from __future__ import annotations

import math

import numpy as np

from photonmc import units
from photonmc.kernels import sampling
from photonmc.stages._base import (
    concrete,
    describe,
    param,
    stage,
    static,
)

#: Largest histogram a tagger may ask for (bins); beyond it a bin width is surely a typo.
MAX_BINS = 10_000_000


def _show(value) -> str:
    """repr of a plain number as a float (no numpy type names), else repr."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)


@stage
class TimeTagger:
    """Start-stop time tagger: one start per shot, histogram time t - sync_offset_ns.

    Bins of `bin_width_ps` from `window_start_ns` to `window_stop_ns` (a whole number of
    bins); the window may be longer than the shot period and is not folded. The bin
    layout is static; `sync_offset_ns` is a continuous (fittable) parameter.
    """

    bin_width_ps: float = static()
    window_start_ns: float = static()
    window_stop_ns: float = static()
    sync_offset_ns: float = param(0.0, limit=1e9, unit="ns", doc="time zero of the histogram")
    name: str = static("tagger")

    def __post_init__(self):
        width = self.bin_width_ps
        if not (isinstance(width, int | float) and not isinstance(width, bool) and width > 0):
            raise ValueError(f"{describe(self)}: bin_width_ps must be > 0 ps, got {_show(width)}")
        if not math.isfinite(width):
            raise ValueError(f"{describe(self)}: bin_width_ps must be finite, got {_show(width)}")
        for field in ("window_start_ns", "window_stop_ns"):
            value = getattr(self, field)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(
                    f"{describe(self)}: {field} must be a finite number of ns, got {_show(value)}"
                )
        if self.window_stop_ns <= self.window_start_ns:
            raise ValueError(
                f"{describe(self)}: window_stop_ns must be > window_start_ns "
                f"({self.window_start_ns:g} ns), got {self.window_stop_ns:g} ns"
            )
        n = self.window_ns * 1e3 / self.bin_width_ps
        if n > MAX_BINS:
            raise ValueError(
                f"{describe(self)}: bin_width_ps = {self.bin_width_ps:g} ps makes {n:.3g} bins "
                f"over the {self.window_ns:g} ns window; at most {MAX_BINS:.0e} bins are allowed"
            )
        # float64 must resolve the bins where the window lies (1e-6 of a bin at its ends)
        far = max(abs(float(self.window_start_ns)), abs(float(self.window_stop_ns)))
        if np.spacing(far) > 1e-6 * self.bin_width_ns:
            reach = 1e-6 * self.bin_width_ns / np.spacing(1.0)
            raise ValueError(
                f"{describe(self)}: a window at {far:g} ns is too far from 0 for "
                f"{self.bin_width_ps:g} ps bins: float64 resolves times there only to "
                f"{np.spacing(far):.3g} ns; keep the window within +-{reach:.3g} ns"
            )
        if abs(n - round(n)) > 1e-6 * max(1.0, n) or round(n) < 1:
            raise ValueError(
                f"{describe(self)}: the window ({self.window_start_ns:g} to "
                f"{self.window_stop_ns:g} ns) must hold a whole number of {self.bin_width_ps:g} ps "
                f"bins, got {n:.6g}"
            )

    @property
    def window_ns(self) -> float:
        return self.window_stop_ns - self.window_start_ns

    @property
    def n_bins(self) -> int:
        return int(round(self.window_ns * 1e3 / self.bin_width_ps))

    @property
    def bin_width_ns(self) -> float:
        return units.ps_to_ns(self.bin_width_ps)

    @property
    def bin_edges_ns(self) -> np.ndarray:
        """Histogram-time bin edges, float64, shape (n_bins + 1,)."""
        return self.window_start_ns + self.bin_width_ns * np.arange(self.n_bins + 1)


@stage
class Detector:
    """A single-photon detector: efficiency, dark counts, Gaussian jitter, dead time.

    Each wavepacket clicks with probability `efficiency` at a time drawn from its
    intensity plus Gaussian jitter. Dark counts are a Poisson process at
    `dark_count_rate_hz`, uniform in absolute time (`dark_interval_ns`). Dead time is
    non-paralysable and acts in analog mode only, across shots within each chunk of
    consecutive shots; every chunk starts with a live detector, so at most
    ceil(dead_time / T_rep) shots per chunk see a detector that should have been dead.
    Expected mode neglects dead time and click saturation (one click per detector per
    shot).
    """

    efficiency: float = param(lo=0.0, hi=1.0, doc="detection efficiency")
    dark_count_rate_hz: float = param(0.0, lo=0.0, unit="Hz", doc="dark-count rate")
    jitter_fwhm_ps: float = param(0.0, lo=0.0, unit="ps", doc="timing-jitter FWHM (Gaussian)")
    dead_time_ns: float = param(0.0, lo=0.0, unit="ns", doc="non-paralysable dead time")
    name: str = static("detector")
    branch: str = static("")

    @property
    def jitter_sigma_ns(self):
        return units.fwhm_to_sigma(units.ps_to_ns(self.jitter_fwhm_ps))

    def has_dead_time(self) -> bool:
        """Whether analog runs apply dead time; decided on the host, before tracing."""
        value = concrete(self.dead_time_ns)
        return value is None or value > 0.0

    def dark_interval_ns(self, tagger: TimeTagger, period_ns, dead_time: bool = False):
        """Histogram-time interval over which each shot's dark counts are drawn.

        One shot period from the window start, with or without dead time: the shots'
        intervals tile the time line once, so the dark counts form one Poisson stream of
        rate R in absolute time (R T_rep per shot). Each dark count belongs to the shot
        whose window start precedes it by less than a period, as a TCSPC card files a
        click under the latest sync (docs/physics.md 3.5): with a window longer than the
        period, the histogram beyond the first period holds no dark counts; with a
        shorter one, the dark counts after the window stop are late (overflow) clicks.
        `dead_time` is accepted for the callers that tell the cases apart; the law is
        the same.
        """
        del dead_time
        return tagger.window_start_ns, tagger.window_start_ns + period_ns

    def dark_capacity(self, tagger: TimeTagger, period_ns: float, n_shots: int) -> int:
        """Room for the dark counts of `n_shots` shots in analog mode."""
        a, b = self.dark_interval_ns(tagger, period_ns, self.has_dead_time())
        rate = concrete(self.dark_count_rate_hz) or 0.0
        return sampling.poisson_capacity(n_shots * units.hz_to_per_ns(rate) * (b - a))
