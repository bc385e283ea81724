"""Time tags: click records (channel, absolute time, shot) and their correlations.

A time tag is one detector click: its channel, its absolute time in integer picoseconds
(docs/physics.md section 1: `s * T_rep + t + D`, rounded to the nearest ps, as int64) and,
for pulsed data, the index of its shot (the sync it belongs to). `TimeTags` holds a set
of them with their metadata; the files that real setups write (PicoQuant PTU,
Photon-HDF5) are read into it and written from it by `photonmc.io.ptu` and
`photonmc.io.photon_hdf5`; this module knows nothing of files.

Analyses, all in integer ps and all streaming over sorted times in blocks, so that
memory stays bounded for 1e8 tags:

- `TimeTags.histogram`: detection-time histogram of one channel, relative to the shot
  clock (`time_ps - round(shot * period_ps)`) or to the latest tag of a sync channel
  (T2 data, where the sync is recorded as a tag);
- `TimeTags.coincidences`: histogram of the delays `t_b - t_a` between every pair of
  tags of two channels, from -R to +R;
- `TimeTags.g2_zero`: for pulsed light, the centre-peak area over the mean side-peak
  area (docs/physics.md 6.5), each peak integrated over its shot delay k * period +-
  period / 2, with its Poisson standard error.

`TimeTagWriter` is the protocol of the streaming writers (chunk by chunk, bounded
memory, atomic) and `OrderedStream` puts their chunks in time order; the files
themselves live in `photonmc.io` (`photonmc.io.timetag_files.open_writer` and
`read_timetags` choose the format by extension).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from photonmc.observables import Estimate, ratio_of_counts

#: Channel number of sync events recorded as tags (T2 files); never a detector channel
SYNC_CHANNEL = 255
#: Extensions read and written as PicoQuant PTU and as Photon-HDF5
#: Tags per block and pairs per block of the streaming analyses (memory per block:
#: a few arrays of this many int64)
_BLOCK_TAGS = 1 << 18
_BLOCK_PAIRS = 1 << 21


def shot_clock_ps(shot: np.ndarray, period_ps: float) -> np.ndarray:
    """Absolute time in ps of the sync of each shot, `round(shot * period_ps)` (int64).

    Exact integer arithmetic when the period is a whole number of ps; otherwise float64,
    the nearest ps up to 2^50 ps (19 minutes) and within 1 ps up to 2^53 ps (2.5 h).
    Writers and readers use this one clock, so their round trips are exact.
    """
    shot = np.asarray(shot, np.int64)
    if float(period_ps).is_integer():
        return shot * np.int64(period_ps)
    return np.rint(shot * float(period_ps)).astype(np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class TimeTags:
    """Click records: channel, absolute time (int64 ps) and shot index, with metadata.

    Fields:
        channel: (n,) uint8 detector channel, 0 .. len(channels) - 1, or SYNC_CHANNEL
            (255) for sync events recorded as tags.
        time_ps: (n,) int64 absolute time in ps (docs/physics.md section 1).
        shot: (n,) int64 shot (sync) index of each tag, or None (T2-like data).
        period_ps: shot period in ps (1e6 / rep_rate_mhz), or None when unknown.
        channels: channel names, one per detector channel (default "ch0", "ch1", ...).
        resolution_ps: time resolution of the tags in ps (the tagger's bin), > 0.
        duration_ps: length of the acquisition in ps, or None when unknown.

    Tags need not be sorted (`is_sorted` says, `sorted()` sorts); analyses sort each
    channel's times when needed. Arrays are converted to the dtypes above; a channel
    without a name, a float time or mismatched lengths is a ValueError.
    """

    channel: np.ndarray
    time_ps: np.ndarray
    shot: np.ndarray | None = None
    period_ps: float | None = None
    channels: tuple[str, ...] = ()
    resolution_ps: float = 1.0
    duration_ps: int | None = None

    def __post_init__(self) -> None:
        channel = _integer_array(self.channel, "channel")
        time_ps = _integer_array(self.time_ps, "time_ps")
        if channel.shape != time_ps.shape:
            raise ValueError(
                f"TimeTags: channel has {channel.size} entries but time_ps has {time_ps.size}"
            )
        if channel.size and (channel.min() < 0 or channel.max() > SYNC_CHANNEL):
            raise ValueError(
                f"TimeTags.channel must be in 0..{SYNC_CHANNEL}, got values "
                f"{int(channel.min())}..{int(channel.max())}"
            )
        channel = channel.astype(np.uint8, copy=False)
        time_ps = time_ps.astype(np.int64, copy=False)
        shot = self.shot
        if shot is not None:
            shot = _integer_array(shot, "shot").astype(np.int64, copy=False)
            if shot.shape != time_ps.shape:
                raise ValueError(
                    f"TimeTags: shot has {shot.size} entries but time_ps has {time_ps.size}"
                )
        period = self.period_ps
        if period is not None:
            period = float(period)
            if not (math.isfinite(period) and period > 0):
                raise ValueError(f"TimeTags.period_ps must be > 0 ps, got {self.period_ps}")
        resolution = float(self.resolution_ps)
        if not (math.isfinite(resolution) and resolution > 0):
            raise ValueError(f"TimeTags.resolution_ps must be > 0 ps, got {self.resolution_ps}")
        duration = self.duration_ps
        if duration is not None:
            if not float(duration).is_integer() or duration < 0:
                raise ValueError(
                    f"TimeTags.duration_ps must be a whole number of ps >= 0, got {duration}"
                )
            duration = int(duration)
        names = _channel_names(self.channels, channel)
        object.__setattr__(self, "channel", channel)
        object.__setattr__(self, "time_ps", time_ps)
        object.__setattr__(self, "shot", shot)
        object.__setattr__(self, "period_ps", period)
        object.__setattr__(self, "resolution_ps", resolution)
        object.__setattr__(self, "duration_ps", duration)
        object.__setattr__(self, "channels", names)

    # ------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.time_ps.size)

    def __repr__(self) -> str:
        period = "None" if self.period_ps is None else f"{self.period_ps:g}"
        shots = "with shots" if self.shot is not None else "no shots"
        return (
            f"TimeTags({len(self)} tags, channels={list(self.channels)}, "
            f"period_ps={period}, resolution_ps={self.resolution_ps:g}, {shots})"
        )

    @cached_property
    def is_sorted(self) -> bool:
        """Whether the tags are in non-decreasing time order."""
        t = self.time_ps
        return bool(t.size < 2 or np.all(t[1:] >= t[:-1]))

    def sorted(self) -> TimeTags:
        """The same tags in time order (stable: equal times keep their order)."""
        if self.is_sorted:
            return self
        order = np.argsort(self.time_ps, kind="stable")
        shot = None if self.shot is None else self.shot[order]
        return self._replace(self.channel[order], self.time_ps[order], shot)

    def counts(self) -> dict[int, int]:
        """Number of tags per channel present, {channel: count}."""
        n = np.bincount(self.channel, minlength=SYNC_CHANNEL + 1)
        return {int(c): int(n[c]) for c in np.flatnonzero(n)}

    def name(self, channel: int) -> str:
        """Name of a channel ("sync" for SYNC_CHANNEL)."""
        self._check_channel(channel)
        return "sync" if channel == SYNC_CHANNEL else self.channels[channel]

    def select(self, channels: Sequence[int]) -> TimeTags:
        """The tags of the given channels only (order kept, metadata kept)."""
        for c in channels:
            self._check_channel(c)
        mask = np.isin(self.channel, np.asarray(list(channels), np.int64))
        shot = None if self.shot is None else self.shot[mask]
        return self._replace(self.channel[mask], self.time_ps[mask], shot)

    def times(self, channel: int) -> np.ndarray:
        """Sorted absolute times (int64 ps) of one channel's tags."""
        self._check_channel(channel)
        t = self.time_ps[self.channel == channel]
        return t if self.is_sorted else np.sort(t)

    def _replace(self, channel, time_ps, shot) -> TimeTags:
        return TimeTags(
            channel=channel,
            time_ps=time_ps,
            shot=shot,
            period_ps=self.period_ps,
            channels=self.channels,
            resolution_ps=self.resolution_ps,
            duration_ps=self.duration_ps,
        )

    def _check_channel(self, channel: int) -> None:
        if isinstance(channel, bool) or not isinstance(channel, int | np.integer):
            raise ValueError(f"a channel is an integer, got {channel!r}")
        if channel == SYNC_CHANNEL or 0 <= channel < len(self.channels):
            return
        raise ValueError(f"unknown channel {channel}: these tags have {self.describe_channels()}")

    def describe_channels(self) -> str:
        """'channels 0 (a), 1 (b)' with the tag count of each, for messages."""
        counts = self.counts()
        parts = [f"{i} ({name}, {counts.get(i, 0)} tags)" for i, name in enumerate(self.channels)]
        if SYNC_CHANNEL in counts:
            parts.append(f"{SYNC_CHANNEL} (sync, {counts[SYNC_CHANNEL]} tags)")
        return "channels " + ", ".join(parts) if parts else "no channels"

    def _period(self, period_ps: float | None) -> float:
        period = self.period_ps if period_ps is None else float(period_ps)
        if period is None:
            raise ValueError("these tags have no shot period (period_ps); give the repetition rate")
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"period_ps must be > 0 ps, got {period_ps}")
        return period

    # ------------------------------------------------------------ histograms
    def histogram(
        self,
        channel: int,
        bin_ps: float,
        window_ps: tuple[float, float],
        sync: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Detection-time histogram of one channel: (counts int64, bin_edges_ps float64).

        Times are relative to the tag's shot clock, `time_ps - round(shot * period_ps)`
        (sync=None; needs shots and a period), or to the latest tag of channel `sync` at
        or before it (tags before the first sync are left out). `window_ps` = (start,
        stop) in ps is a whole number of bins of `bin_ps`; bins are [a, b).
        """
        start, n_bins = _bins(bin_ps, window_ps[0], window_ps[1], "window_ps")
        self._check_channel(channel)
        mask = self.channel == channel
        counts = np.zeros(n_bins, np.int64)
        if sync is None:
            if self.shot is None:
                raise ValueError(
                    "a histogram on the shot clock needs shot indices, and these tags "
                    "have none (T2 data): give sync=<the sync channel>"
                )
            period = self._period(None)
            t, s = self.time_ps[mask], self.shot[mask]
            for i in range(0, t.size, _BLOCK_TAGS):
                rel = t[i : i + _BLOCK_TAGS] - shot_clock_ps(s[i : i + _BLOCK_TAGS], period)
                _accumulate(counts, rel, start, bin_ps)
        else:
            self._check_channel(sync)
            if sync == channel:
                raise ValueError("the sync channel must differ from the histogram channel")
            syncs = self.times(sync)
            t = self.time_ps[mask]
            for i in range(0, t.size, _BLOCK_TAGS):
                block = t[i : i + _BLOCK_TAGS]
                k = np.searchsorted(syncs, block, side="right") - 1
                keep = k >= 0
                _accumulate(counts, block[keep] - syncs[k[keep]], start, bin_ps)
        return counts, start + bin_ps * np.arange(n_bins + 1, dtype=np.float64)

    def coincidences(
        self, a: int, b: int, bin_ps: float, range_ps: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Coincidence histogram of delays t_b - t_a: (counts int64, bin_edges_ps float64).

        Every pair of a tag of channel `a` and a tag of channel `b` with
        -range_ps <= t_b - t_a < range_ps counts once; 2 * range_ps is a whole number of
        bins of `bin_ps`. Streams over the sorted times in blocks (memory bounded).
        """
        start, n_bins = _bins(bin_ps, -range_ps, range_ps, "range_ps")
        ta, tb = self._pair_times(a, b)
        counts = coincidence_counts(ta, tb, start, bin_ps, n_bins)
        return counts, start + bin_ps * np.arange(n_bins + 1, dtype=np.float64)

    def peak_areas(
        self,
        a: int,
        b: int,
        side_peaks: int = 5,
        period_ps: float | None = None,
        centre_ps: float = 0.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pulsed-light coincidence peak areas: (delays_ps float64, counts int64).

        Peak k (k = -side_peaks .. side_peaks) counts the pairs with
        t_b - t_a in [centre_ps + k T - T/2, centre_ps + k T + T/2), T the period
        (`period_ps`, default the tags' own). `centre_ps` is the delay of the centre
        peak (the detectors' delay difference; 0 when they are matched).
        """
        period = self._period(period_ps)
        k = _side_peaks(side_peaks)
        ta, tb = self._pair_times(a, b)
        start = float(centre_ps) - (k + 0.5) * period
        counts = coincidence_counts(ta, tb, start, period, 2 * k + 1)
        return float(centre_ps) + period * np.arange(-k, k + 1, dtype=np.float64), counts

    def g2_zero(
        self,
        a: int,
        b: int,
        side_peaks: int = 5,
        period_ps: float | None = None,
        centre_ps: float = 0.0,
    ) -> Estimate:
        """g2(0) of pulsed light: centre-peak area over the mean side-peak area.

        Peaks as in `peak_areas`, `side_peaks` on each side (docs/physics.md 6.5). The error is
        Poisson: relative variances 1/C_0 + 1/sum(C_k) added. Shots near the ends of the
        record have fewer neighbours, a relative bias of about side_peaks / shots. A
        ValueError when no pair falls in a side peak (g2(0) undefined).
        """
        _, counts = self.peak_areas(a, b, side_peaks, period_ps, centre_ps)
        return g2_from_peaks(counts, (a, b), self)

    def _pair_times(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        self._check_channel(a)
        self._check_channel(b)
        if a == b:
            raise ValueError(f"the two channels of a correlation must differ, got {a} and {b}")
        return self.times(a), self.times(b)


def g2_from_peaks(counts: np.ndarray, channels=None, tags: TimeTags | None = None) -> Estimate:
    """g2(0) = C_0 / mean(C_k, k != 0) from 2K + 1 peak areas, with its Poisson error."""
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size < 3 or counts.size % 2 == 0:
        raise ValueError(f"g2(0) needs 2K + 1 >= 3 peak areas, got {counts.size}")
    k = counts.size // 2
    centre = float(counts[k])
    side = float(counts.sum() - counts[k])
    if side <= 0:
        which = "" if channels is None else f" between channels {channels[0]} and {channels[1]}"
        have = "" if tags is None else f" ({tags.describe_channels()})"
        raise ValueError(f"no coincidences{which} in the side peaks: g2(0) is undefined{have}")
    estimate = ratio_of_counts(centre, side)
    return Estimate(2 * k * estimate.value, 2 * k * estimate.stderr)


def coincidence_counts(
    ta: np.ndarray, tb: np.ndarray, start_ps: float, width_ps: float, n_bins: int
) -> np.ndarray:
    """counts[k] = pairs (i, j) with start + k w <= tb[j] - ta[i] < start + (k + 1) w.

    `ta`, `tb`: sorted int64 times in ps. Pairs are found with searchsorted, a block of
    `ta` at a time, and expanded at most _BLOCK_PAIRS at a time, so memory stays
    bounded however many tags and pairs there are. Returns int64 counts.
    """
    ta = np.asarray(ta, np.int64)
    tb = np.asarray(tb, np.int64)
    counts = np.zeros(n_bins, np.int64)
    if ta.size == 0 or tb.size == 0:
        return counts
    # Integer times: tb >= ta + x  <=>  tb >= ta + ceil(x), and tb < ta + y <=> tb < ta + ceil(y).
    lo_off = np.int64(math.ceil(start_ps))
    hi_off = np.int64(math.ceil(start_ps + n_bins * width_ps))
    for i in range(0, ta.size, _BLOCK_TAGS):
        block = ta[i : i + _BLOCK_TAGS]
        lo = np.searchsorted(tb, block + lo_off, side="left")
        n = np.searchsorted(tb, block + hi_off, side="left") - lo
        ends = np.cumsum(n)
        total = int(ends[-1])
        for p0 in range(0, total, _BLOCK_PAIRS):
            p = np.arange(p0, min(total, p0 + _BLOCK_PAIRS), dtype=np.int64)
            owner = np.searchsorted(ends, p, side="right")
            j = lo[owner] + (p - (ends[owner] - n[owner]))
            _accumulate(counts, tb[j] - block[owner], start_ps, width_ps)
    return counts


def _accumulate(counts: np.ndarray, values: np.ndarray, start: float, width: float) -> None:
    """Add the int64 `values` falling in the bins [start + k w, start + (k + 1) w)."""
    if values.size == 0:
        return
    n_bins = counts.size
    if float(start).is_integer() and float(width).is_integer():
        idx = (values - np.int64(start)) // np.int64(width)
    else:
        idx = np.floor((values - start) / width).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins)
    counts += np.bincount(idx[keep], minlength=n_bins)


def _bins(width: float, start: float, stop: float, what: str) -> tuple[float, int]:
    width, start, stop = float(width), float(start), float(stop)
    if not (math.isfinite(width) and width > 0):
        raise ValueError(f"the bin width must be > 0 ps, got {width:g}")
    if not (math.isfinite(start) and math.isfinite(stop) and stop > start):
        raise ValueError(f"{what} must span a positive range of ps, got [{start:g}, {stop:g})")
    n = (stop - start) / width
    if n > 10_000_000:  # before rounding: n may be beyond any integer worth printing
        raise ValueError(f"{what} with {width:g} ps bins gives {n:.3g} bins; at most 1e7")
    n_bins = round(n)
    if abs(n - n_bins) > 1e-9 * max(1.0, n) or n_bins < 1:
        raise ValueError(
            f"{what} [{start:g}, {stop:g}) ps is not a whole number of {width:g} ps bins"
        )
    return start, n_bins


def _side_peaks(side_peaks: int) -> int:
    if isinstance(side_peaks, bool) or not isinstance(side_peaks, int | np.integer):
        raise ValueError(f"side_peaks is an integer >= 1, got {side_peaks!r}")
    if side_peaks < 1:
        raise ValueError(f"side_peaks must be >= 1, got {side_peaks}")
    return int(side_peaks)


def _integer_array(x, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"TimeTags.{what} must be a 1-D array, got shape {a.shape}")
    if a.size and a.dtype.kind not in "iu":
        raise ValueError(f"TimeTags.{what} must hold integers, got dtype {a.dtype}")
    if (
        a.dtype.kind == "u"
        and a.dtype.itemsize == 8
        and a.size
        and a.max() > np.iinfo(np.int64).max
    ):
        raise ValueError(f"TimeTags.{what} has values beyond the int64 range")
    return a if a.size else a.astype(np.int64)


def _channel_names(names, channel: np.ndarray) -> tuple[str, ...]:
    detectors = channel[channel != SYNC_CHANNEL] if channel.size else channel
    highest = int(detectors.max()) if detectors.size else -1
    if names is None or len(names) == 0:
        return tuple(f"ch{i}" for i in range(highest + 1))
    if isinstance(names, str):
        raise ValueError(f"TimeTags.channels is a list of names, got the string {names!r}")
    names = tuple(names)
    for n in names:
        if not isinstance(n, str) or not n or n == "sync":
            raise ValueError(
                "TimeTags.channels: a channel name is a non-empty string other than "
                f"'sync', got {n!r}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"TimeTags.channels: names must be distinct, got {list(names)}")
    if len(names) > SYNC_CHANNEL:
        raise ValueError(f"TimeTags.channels: at most {SYNC_CHANNEL} channels, got {len(names)}")
    if highest >= len(names):
        raise ValueError(
            f"unknown channel {highest}: the tags name {len(names)} channels "
            f"(0..{len(names) - 1}: {', '.join(names)})"
        )
    return names


# ----------------------------------------------------------------- combining
def concatenate(parts: Sequence[TimeTags]) -> TimeTags:
    """One TimeTags from several with the same metadata (order kept, not re-sorted).

    Durations add up when every part has one (consecutive chunks of one run).
    """
    parts = list(parts)
    if not parts:
        raise ValueError("concatenate needs at least one TimeTags")
    first = parts[0]
    for p in parts[1:]:
        _check_compatible(first, p)
    shot = None
    if first.shot is not None:
        shot = np.concatenate([p.shot for p in parts])
    durations = [p.duration_ps for p in parts]
    return TimeTags(
        channel=np.concatenate([p.channel for p in parts]),
        time_ps=np.concatenate([p.time_ps for p in parts]),
        shot=shot,
        period_ps=first.period_ps,
        channels=first.channels,
        resolution_ps=first.resolution_ps,
        duration_ps=None if None in durations else sum(durations),
    )


def _same_float(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is None and y is None
    return abs(x - y) <= 1e-12 * max(abs(x), abs(y))


def _check_compatible(expected: TimeTags, tags: TimeTags) -> None:
    if not _same_float(expected.period_ps, tags.period_ps):
        raise ValueError(
            f"time tags with period_ps {tags.period_ps} cannot join tags with "
            f"period_ps {expected.period_ps}"
        )
    if (expected.shot is None) != (tags.shot is None):
        raise ValueError("time tags with shot indices cannot join tags without them")
    if not _same_float(expected.resolution_ps, tags.resolution_ps):
        raise ValueError(
            f"time tags with resolution_ps {tags.resolution_ps} cannot join tags with "
            f"resolution_ps {expected.resolution_ps}"
        )
    if tags.channels != expected.channels[: len(tags.channels)]:
        raise ValueError(
            f"time tags with channels {list(tags.channels)} cannot join tags with "
            f"channels {list(expected.channels)}"
        )


# ----------------------------------------------------------------- streaming
@runtime_checkable
class TimeTagWriter(Protocol):
    """A file that time tags stream into, chunk by chunk, in bounded memory.

    `write(tags)` appends a chunk (every chunk has the writer's channels, period and
    resolution; chunks may overlap in time by at most the writer's reorder window, and
    the file gets them in time order); `close()` finishes the file and moves it into
    place atomically, returning its path; `abort()` (or an exception inside a `with`
    block) removes the unfinished file and leaves any earlier file at the path intact.
    """

    path: Path

    def write(self, tags: TimeTags) -> None: ...

    def close(self) -> Path: ...

    def abort(self) -> None: ...

    def __enter__(self) -> TimeTagWriter: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...


class OrderedStream:
    """Puts chunks of tags into time order for a streaming writer.

    Chunks may overlap in time (consecutive chunks of shots whose windows are longer
    than a period): the stream holds back the tags within `reorder_window_ps` of the
    latest time seen, and releases the rest in order. A tag earlier than one already
    released is an error naming the window. Memory: the held-back tags only.
    """

    def __init__(
        self,
        *,
        channels: Sequence[str],
        period_ps: float | None,
        resolution_ps: float | None = 1.0,
        shots: bool | None = None,
        reorder_window_ps: int = 1_000_000,
    ) -> None:
        self.template = TimeTags(
            channel=np.zeros(0, np.uint8),
            time_ps=np.zeros(0, np.int64),
            shot=None if shots is False else np.zeros(0, np.int64),
            period_ps=period_ps,
            channels=tuple(channels),
            resolution_ps=1.0 if resolution_ps is None else resolution_ps,
        )
        self.check_resolution = resolution_ps is not None
        if not len(self.template.channels):
            raise ValueError("a time-tag file needs at least one channel name")
        if reorder_window_ps < 0:
            raise ValueError(f"reorder_window_ps must be >= 0 ps, got {reorder_window_ps}")
        self.shots = shots
        self.reorder_window_ps = int(reorder_window_ps)
        self.released_until: int | None = None
        self.latest: int | None = None
        self.duration_ps: int | None = 0
        self._held: TimeTags | None = None

    def push(self, tags: TimeTags) -> TimeTags | None:
        """Take a chunk; return the tags now safe to write, in time order (or None)."""
        if not isinstance(tags, TimeTags):
            raise TypeError(f"a writer takes TimeTags, got {type(tags).__name__}")
        if self.shots is None:
            self.shots = tags.shot is not None
            if not self.shots:
                self.template = dataclasses.replace(self.template, shot=None)
        _check_stream_chunk(self.template, tags, self.check_resolution)
        if self.duration_ps is not None:
            self.duration_ps = (
                None if tags.duration_ps is None else self.duration_ps + tags.duration_ps
            )
        if len(tags) == 0:
            return None
        tags = dataclasses.replace(
            tags,
            channels=self.template.channels,
            resolution_ps=self.template.resolution_ps,
            duration_ps=None,
        )
        tags = tags.sorted()
        earliest = int(tags.time_ps[0])
        if self.released_until is not None and earliest < self.released_until:
            raise ValueError(
                f"time tags out of order: a tag at {earliest} ps arrived after tags up to "
                f"{self.released_until} ps were written; chunks may overlap by at most "
                f"reorder_window_ps = {self.reorder_window_ps} ps"
            )
        if self._held is not None:
            tags = concatenate([self._held, tags]).sorted()
        last = int(tags.time_ps[-1])
        self.latest = last if self.latest is None else max(self.latest, last)
        cutoff = self.latest - self.reorder_window_ps
        split = int(np.searchsorted(tags.time_ps, cutoff, side="left"))
        self._held = _slice(tags, split, len(tags)) if split < len(tags) else None
        if split == 0:
            return None
        out = _slice(tags, 0, split)
        self.released_until = int(out.time_ps[-1])
        return out

    def flush(self) -> TimeTags | None:
        """Release every held-back tag (at close)."""
        out, self._held = self._held, None
        if out is not None:
            self.released_until = int(out.time_ps[-1])
        return out


def _check_stream_chunk(template: TimeTags, tags: TimeTags, check_resolution: bool) -> None:
    # A chunk's channel names are not compared: the file's names are the writer's.
    resolution = template.resolution_ps if check_resolution else tags.resolution_ps
    _check_compatible(
        dataclasses.replace(template, channels=tags.channels, resolution_ps=resolution), tags
    )
    detectors = tags.channel[tags.channel != SYNC_CHANNEL]
    if detectors.size and int(detectors.max()) >= len(template.channels):
        raise ValueError(
            f"unknown channel {int(detectors.max())}: the file has "
            f"{len(template.channels)} channels ({', '.join(template.channels)})"
        )


def _slice(tags: TimeTags, i: int, j: int) -> TimeTags:
    """Tags i..j-1; a part of the record has no known duration."""
    shot = None if tags.shot is None else tags.shot[i:j]
    part = tags._replace(tags.channel[i:j], tags.time_ps[i:j], shot)
    return dataclasses.replace(part, duration_ps=None)


class PairAccumulator:
    """Coincidence histograms of every pair of channels (a < b), fed block by block.

    Blocks are click records in shot order (as `photonmc.simulate` streams them): each
    block's pairs are counted with the tail of the earlier blocks that lies within the
    histogram's reach (range plus `reorder_ps`), so pairs across blocks count once and
    memory stays bounded. Delays are t_b - t_a from -range_ps to +range_ps in bins of
    bin_ps; peaks are the pairs within +- period / 2 of centre_ps[(a, b)] + k * period,
    k = -side_peaks .. side_peaks.
    """

    def __init__(
        self,
        n_channels: int,
        *,
        period_ps: float,
        bin_ps: float,
        side_peaks: int = 5,
        centre_ps: dict[tuple[int, int], float] | None = None,
        reorder_ps: float = 0.0,
    ):
        self.period_ps, self.bin_ps = float(period_ps), float(bin_ps)
        self.side_peaks = _side_peaks(side_peaks)
        self.range_ps = self.bin_ps * math.ceil(
            (self.side_peaks + 0.5) * self.period_ps / self.bin_ps - 1e-9
        )
        self.start_ps, self.n_bins = _bins(self.bin_ps, -self.range_ps, self.range_ps, "range")
        self.pairs = [(a, b) for a in range(n_channels) for b in range(a + 1, n_channels)]
        self.centre_ps = {p: float((centre_ps or {}).get(p, 0.0)) for p in self.pairs}
        self.counts = {p: np.zeros(self.n_bins, np.int64) for p in self.pairs}
        self.peaks = {p: np.zeros(2 * self.side_peaks + 1, np.int64) for p in self.pairs}
        self.reach_ps = self.range_ps + self.period_ps + float(reorder_ps)
        self._tail_channel = np.zeros(0, np.uint8)
        self._tail_time = np.zeros(0, np.int64)

    def _count(self, channel, time_ps, sign: int) -> None:
        order = np.argsort(time_ps, kind="stable")
        channel, time_ps = channel[order], time_ps[order]
        k = self.side_peaks
        for a, b in self.pairs:
            ta, tb = time_ps[channel == a], time_ps[channel == b]
            self.counts[(a, b)] += sign * coincidence_counts(
                ta, tb, self.start_ps, self.bin_ps, self.n_bins
            )
            start = self.centre_ps[(a, b)] - (k + 0.5) * self.period_ps
            self.peaks[(a, b)] += sign * coincidence_counts(
                ta, tb, start, self.period_ps, 2 * k + 1
            )

    def add(self, channel: np.ndarray, time_ps: np.ndarray) -> None:
        """Count the pairs of one block of tags with each other and with the tail."""
        channel = np.asarray(channel, np.uint8)
        time_ps = np.asarray(time_ps, np.int64)
        if time_ps.size == 0:
            return
        all_ch = np.concatenate([self._tail_channel, channel])
        all_t = np.concatenate([self._tail_time, time_ps])
        # pairs within the tail were counted with the block that brought them
        self._count(all_ch, all_t, +1)
        if self._tail_time.size:
            self._count(self._tail_channel, self._tail_time, -1)
        keep = all_t >= all_t.max() - self.reach_ps
        self._tail_channel, self._tail_time = all_ch[keep], all_t[keep]

    def bin_edges_ps(self) -> np.ndarray:
        return self.start_ps + self.bin_ps * np.arange(self.n_bins + 1, dtype=np.float64)

    def peak_delays_ps(self, pair: tuple[int, int]) -> np.ndarray:
        k = self.side_peaks
        return self.centre_ps[pair] + self.period_ps * np.arange(-k, k + 1, dtype=np.float64)
