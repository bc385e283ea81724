"""The `photonmc correlate` command: g2(0) and a coincidence histogram from a tag file.

    photonmc correlate TAGS [--channels A,B] [--bin-ps W] [--range-ns R] [--out FILE.h5]
                       [--json] [--rep-rate-mhz F] [--force]

TAGS is a PicoQuant PTU file (.ptu, T2 or T3 records) or a Photon-HDF5 file (.h5,
.hdf5). The histogram counts every pair of a tag of channel A and a tag of channel B by
its delay t_B - t_A, from -R to +R in bins of W ps; g2(0) is the centre-peak area over
the mean side-peak area, each peak the pairs within +- period / 2 of k * period
(docs/physics.md 6.5), for the side peaks that lie wholly inside +-R. The period comes from
the file, or from --rep-rate-mhz. The histogram is written to an HDF5 file
(`photonmc.io.correlation_hdf5.write_correlation`; default `<TAGS stem>_correlation.h5` in
the working directory; an existing file is an error unless --force).

`correlate_file` is the command (its arguments are parsed by photonmc.cli); `correlate`
is the same analysis for tags already in memory. User errors are ValueError or
FileNotFoundError with a one-line message.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from photonmc.io.correlation_hdf5 import write_correlation
from photonmc.io.hdf5 import check_writable
from photonmc.io.timetag_files import read_timetags
from photonmc.observables import Estimate
from photonmc.timetags import TimeTags, g2_from_peaks
from photonmc.units import ns_to_ps, period_ns, ps_to_ns

#: Defaults: histogram bin (ps) and side peaks on each side when --range-ns is not given
DEFAULT_BIN_PS = 100.0
DEFAULT_SIDE_PEAKS = 5


@dataclasses.dataclass(frozen=True)
class Correlation:
    """A coincidence histogram of channels (a, b) and the g2(0) of its peaks.

    bin_edges_ps: (n + 1,) delays t_b - t_a in ps; counts: (n,) int64 pairs per bin;
    peak_delays_ps, peak_counts: the 2K + 1 peak centres k * period and areas (pairs
    within +- period / 2); g2_0: centre over mean side peak, with its Poisson error.
    """

    channels: tuple[int, int]
    channel_names: tuple[str, str]
    tag_counts: tuple[int, int]
    period_ps: float
    bin_ps: float
    range_ps: float
    bin_edges_ps: np.ndarray
    counts: np.ndarray
    peak_delays_ps: np.ndarray
    peak_counts: np.ndarray
    g2_0: Estimate

    @property
    def side_peaks(self) -> int:
        return self.peak_counts.size // 2

    def summary(self) -> dict:
        """The --json object, less the file names."""
        i = int(np.argmax(self.counts)) if self.counts.size else 0
        centres = 0.5 * (self.bin_edges_ps[1:] + self.bin_edges_ps[:-1])
        return {
            "g2_0": self.g2_0.as_dict(),
            "channels": list(self.channels),
            "channel_names": list(self.channel_names),
            "tags": list(self.tag_counts),
            "period_ps": self.period_ps,
            "side_peaks": self.side_peaks,
            "histogram": {
                "bin_ps": self.bin_ps,
                "range_ps": self.range_ps,
                "bins": int(self.counts.size),
                "coincidences": int(self.counts.sum()),
                "max_counts": int(self.counts[i]) if self.counts.size else 0,
                "max_delay_ps": float(centres[i]) if self.counts.size else 0.0,
            },
            "peaks": {
                "delay_ps": self.peak_delays_ps.tolist(),
                "counts": self.peak_counts.tolist(),
            },
        }


def correlate(
    tags: TimeTags,
    channels: tuple[int, int] = (0, 1),
    bin_ps: float = DEFAULT_BIN_PS,
    range_ps: float | None = None,
    period_ps: float | None = None,
) -> Correlation:
    """Coincidence histogram and g2(0) of two channels of `tags`.

    `range_ps` (R) defaults to (DEFAULT_SIDE_PEAKS + 1/2) periods, rounded up to a whole
    number of bins; g2(0) uses the side peaks that lie wholly inside +-R (at least one
    on each side). `period_ps` overrides the tags' own period.
    """
    a, b = channels
    names = (tags.name(a), tags.name(b))  # unknown channels are errors here
    if a == b:
        raise ValueError(f"the two channels must differ, got {a} and {b}")
    tag_counts = tags.counts()
    for c, name in zip(channels, names, strict=True):
        if tag_counts.get(c, 0) == 0:
            raise ValueError(
                f"channel {c} ({name}) has no tags; the tags have {tags.describe_channels()}"
            )
    period = tags.period_ps if period_ps is None else float(period_ps)
    if period is None:
        raise ValueError("the tags record no repetition period; give the repetition rate")
    _check_positive(period, "the period", "ps")
    if period < 1.0:  # tag times are whole ps
        raise ValueError(
            f"the period must be >= 1 ps (tag times are whole ps), got {period:g} ps"
            + (" from the repetition rate" if period_ps is not None else "")
        )
    _check_positive(bin_ps, "the bin width", "ps")
    if range_ps is None:
        range_ps = bin_ps * math.ceil((DEFAULT_SIDE_PEAKS + 0.5) * period / bin_ps - 1e-9)
    _check_positive(range_ps, "the range", "ps")
    side_peaks = math.floor(range_ps / period - 0.5 + 1e-9)
    if side_peaks < 1:
        raise ValueError(
            f"a range of +-{ps_to_ns(range_ps):g} ns holds no whole side peak: g2(0) needs "
            f"at least 1.5 periods ({ps_to_ns(1.5 * period):g} ns)"
        )
    counts, edges = tags.coincidences(a, b, bin_ps, range_ps)
    delays, peaks = tags.peak_areas(a, b, side_peaks, period)
    return Correlation(
        channels=(a, b),
        channel_names=names,
        tag_counts=(tag_counts[a], tag_counts[b]),
        period_ps=period,
        bin_ps=float(bin_ps),
        range_ps=float(range_ps),
        bin_edges_ps=edges,
        counts=counts,
        peak_delays_ps=delays,
        peak_counts=peaks,
        g2_0=g2_from_peaks(peaks, (a, b), tags),
    )


def _check_positive(x: float, what: str, unit: str) -> None:
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{what} must be > 0 {unit}, got {x:g}")


def correlate_file(
    tags: str | os.PathLike,
    *,
    channels: tuple[int, int] = (0, 1),
    bin_ps: float = DEFAULT_BIN_PS,
    range_ns: float | None = None,
    rep_rate_mhz: float | None = None,
    out: str | os.PathLike | None = None,
    force: bool = False,
) -> tuple[Correlation, Path, Path]:
    """`photonmc correlate`: correlate a time-tag file and write the histogram file.

    Returns (result, source, out). Fails before the analysis if `out` (default
    `<TAGS stem>_correlation.h5` in the working directory) exists, unless `force`.
    """
    source = Path(tags)
    out = Path(out) if out is not None else Path(f"{source.stem}_correlation.h5")
    if out.resolve() == source.resolve():
        raise ValueError(f"--out {out} would overwrite the input file")
    check_writable(out, force)  # fail before the analysis, not after it
    period_ps = None
    if rep_rate_mhz is not None:
        _check_positive(rep_rate_mhz, "--rep-rate-mhz", "MHz")
        period_ps = ns_to_ps(period_ns(rep_rate_mhz))
    range_ps = None
    if range_ns is not None:
        _check_positive(range_ns, "--range-ns", "ns")
        range_ps = ns_to_ps(range_ns)

    record = read_timetags(source)
    if period_ps is None and record.period_ps is None:
        raise ValueError(f"{source} records no repetition period; give --rep-rate-mhz")
    try:
        result = correlate(record, channels, bin_ps, range_ps, period_ps)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None
    write_correlation(
        out,
        bin_edges_ps=result.bin_edges_ps,
        counts=result.counts,
        peak_delays_ps=result.peak_delays_ps,
        peak_counts=result.peak_counts,
        g2_0=result.g2_0,
        attrs={
            "source": os.fspath(source),
            "channels": np.asarray(result.channels, np.int64),
            "channel_names": list(result.channel_names),
            "period_ps": result.period_ps,
            "bin_ps": result.bin_ps,
            "range_ps": result.range_ps,
            "side_peaks": result.side_peaks,
        },
        force=force,
    )
    return result, source, out


def format_correlation(result: Correlation, source=None, output=None) -> str:
    """The readable summary printed by `photonmc correlate`."""
    r = result
    (a, b), (na, nb) = r.channels, r.channel_names

    def row(label: str, value, note: str = "") -> str:
        return f"{label:<28}{value}" + (f"  ({note})" if note else "")

    head = f"photonmc correlate {source}:" if source is not None else "photonmc correlate:"
    lines = [
        f"{head} channels {a} ({na}) and {b} ({nb}), period {ps_to_ns(r.period_ps):g} ns",
        row("tags", f"{r.tag_counts[0]:,} and {r.tag_counts[1]:,}"),
        row(
            f"coincidences in +-{ps_to_ns(r.range_ps):g} ns",
            f"{int(r.counts.sum()):,}",
            f"{r.counts.size} bins of {r.bin_ps:g} ps",
        ),
        row(
            f"peak areas, k = -{r.side_peaks}..{r.side_peaks}",
            " ".join(f"{int(c)}" for c in r.peak_counts),
        ),
        row("g2(0)", r.g2_0, f"centre peak / mean of {2 * r.side_peaks} side peaks"),
    ]
    if output is not None:
        lines.append(row("output", os.fspath(output)))
    return "\n".join(lines)
