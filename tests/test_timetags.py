"""Time tags: g2(0) of synthetic pulsed light against closed forms, histograms, streaming.

The synthetic tags are drawn here in numpy with fixed seeds: per shot, a single photon
with probability p_signal (so the signal alone has g2 = 0) plus Poisson(mu_noise) noise
photons, each sent to channel 0 or 1 with probability 1/2. Coincidences between the
channels then give g2(0) = (2 SNR + 1) / (SNR + 1)^2 with SNR = p_signal / mu_noise
(docs/physics.md section 7), and g2(0) = 1 for Poisson light alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from photonmc import timetags
from photonmc.io import timetag_files
from photonmc.observables import Estimate
from photonmc.timetags import (
    SYNC_CHANNEL,
    OrderedStream,
    TimeTags,
    coincidence_counts,
    concatenate,
    g2_from_peaks,
    shot_clock_ps,
)

PERIOD_PS = 12_500  # 80 MHz


def pulsed_tags(
    shots: int,
    p_signal: float,
    mu_noise: float,
    seed: int,
    period_ps: float = PERIOD_PS,
    first_shot: int = 0,
) -> TimeTags:
    """Synthetic HBT tags of single photons plus Poisson noise, sorted by time.

    Detection times lie 1000 + min(Exp(600), 5000) ps after the shot's sync, so every
    pair of one shot is within +- period / 2 of each other.
    """
    rng = np.random.default_rng(seed)
    n = (rng.random(shots) < p_signal).astype(np.int64) + rng.poisson(mu_noise, shots)
    shot = np.repeat(np.arange(first_shot, first_shot + shots, dtype=np.int64), n)
    rel = 1000 + np.minimum(rng.exponential(600.0, shot.size), 5000.0).astype(np.int64)
    channel = rng.integers(0, 2, shot.size).astype(np.uint8)
    t = shot_clock_ps(shot, period_ps) + rel
    order = np.argsort(t, kind="stable")
    return TimeTags(
        channel=channel[order],
        time_ps=t[order],
        shot=shot[order],
        period_ps=period_ps,
        channels=("a", "b"),
        duration_ps=round(shots * period_ps),
    )


def g2_closed_form(snr: float) -> float:
    return (2 * snr + 1) / (snr + 1) ** 2


# ------------------------------------------------------------------ closed forms
def test_poisson_light_has_g2_one():
    tags = pulsed_tags(400_000, 0.0, 0.2, seed=1)
    g2 = tags.g2_zero(0, 1)
    assert isinstance(g2, Estimate)
    assert abs(g2.value - 1.0) < 5 * g2.stderr
    assert 0.01 < g2.stderr < 0.05


@pytest.mark.parametrize("snr, seed", [(10.0, 2), (1.0, 3), (0.25, 4)])
def test_single_photons_plus_noise_match_closed_form(snr, seed):
    mu_noise = 0.04
    tags = pulsed_tags(400_000, snr * mu_noise, mu_noise, seed=seed)
    g2 = tags.g2_zero(0, 1, side_peaks=4)
    assert abs(g2.value - g2_closed_form(snr)) < 5 * g2.stderr
    assert g2.stderr < 0.1 * g2_closed_form(snr)


def test_g2_does_not_depend_on_the_order_of_channels_or_loss():
    tags = pulsed_tags(300_000, 0.4, 0.04, seed=5)
    ab, ba = tags.g2_zero(0, 1), tags.g2_zero(1, 0)
    assert ab.value == pytest.approx(ba.value, rel=1e-12)
    # Random loss (thinning each tag with probability 1/2) leaves g2(0) unchanged.
    keep = np.random.default_rng(6).random(len(tags)) < 0.5
    thinned = TimeTags(
        tags.channel[keep], tags.time_ps[keep], tags.shot[keep], PERIOD_PS, tags.channels
    )
    lossy = thinned.g2_zero(0, 1)
    assert abs(lossy.value - ab.value) < 5 * np.hypot(lossy.stderr, ab.stderr)


def test_g2_stderr_is_poisson():
    counts = np.array([100, 90, 400, 110, 100])
    g2 = g2_from_peaks(counts)
    side = 400.0
    assert g2.value == pytest.approx(400 / (side / 4))
    assert g2.stderr == pytest.approx(g2.value * np.sqrt(1 / 400 + 1 / side))
    zero = g2_from_peaks(np.array([10, 0, 10]))
    assert zero.value == 0.0 and zero.stderr > 0
    with pytest.raises(ValueError, match="no coincidences .* side peaks"):
        g2_from_peaks(np.array([0, 5, 0]))
    with pytest.raises(ValueError, match="2K \\+ 1"):
        g2_from_peaks(np.array([1, 2]))


# ------------------------------------------------------------------ histograms
def brute_force_delays(ta, tb, start, width, n_bins):
    d = (tb[None, :] - ta[:, None]).ravel()
    edges = start + width * np.arange(n_bins + 1)
    keep = (d >= edges[0]) & (d < edges[-1])
    return np.histogram(d[keep], bins=edges)[0]


@pytest.mark.parametrize("start, width, n_bins", [(-5000, 100, 100), (-4999.5, 333.3, 31)])
def test_coincidence_counts_match_all_pairs(monkeypatch, start, width, n_bins):
    rng = np.random.default_rng(7)
    ta = np.sort(rng.integers(0, 200_000, 400))
    tb = np.sort(rng.integers(0, 200_000, 500))
    expected = brute_force_delays(ta, tb, start, width, n_bins)
    assert np.array_equal(coincidence_counts(ta, tb, start, width, n_bins), expected)
    # Tiny blocks exercise every block boundary of the streaming loop.
    monkeypatch.setattr(timetags, "_BLOCK_TAGS", 7)
    monkeypatch.setattr(timetags, "_BLOCK_PAIRS", 5)
    assert np.array_equal(coincidence_counts(ta, tb, start, width, n_bins), expected)


def test_coincidence_histogram_integrates_to_the_peak_areas():
    tags = pulsed_tags(50_000, 0.3, 0.05, seed=8)
    counts, edges = tags.coincidences(0, 1, bin_ps=250, range_ps=5.5 * PERIOD_PS)
    assert edges[0] == -5.5 * PERIOD_PS and edges[-1] == 5.5 * PERIOD_PS
    assert counts.dtype == np.int64 and counts.size == 11 * PERIOD_PS // 250
    delays, peaks = tags.peak_areas(0, 1, side_peaks=5)
    assert np.array_equal(delays, PERIOD_PS * np.arange(-5, 6))
    assert np.array_equal(counts.reshape(11, -1).sum(axis=1), peaks)


def test_histogram_on_the_shot_clock_and_on_a_sync_channel():
    tags = pulsed_tags(20_000, 0.5, 0.05, seed=9, period_ps=13157.894736842105)
    counts, edges = tags.histogram(0, bin_ps=50, window_ps=(0, 7000))
    rel = (tags.time_ps - shot_clock_ps(tags.shot, tags.period_ps))[tags.channel == 0]
    assert np.array_equal(counts, np.histogram(rel, bins=edges)[0])
    assert counts.sum() == np.count_nonzero(tags.channel == 0)
    # The same tags as T2 data: no shots, a sync tag at every shot's clock.
    sync_t = shot_clock_ps(np.arange(20_000), tags.period_ps)
    t2 = TimeTags(
        channel=np.concatenate([tags.channel, np.full(sync_t.size, SYNC_CHANNEL)]),
        time_ps=np.concatenate([tags.time_ps, sync_t]),
        channels=tags.channels,
    )
    assert not t2.is_sorted and t2.shot is None
    by_sync, _ = t2.histogram(0, bin_ps=50, window_ps=(0, 7000), sync=SYNC_CHANNEL)
    assert np.array_equal(by_sync, counts)
    with pytest.raises(ValueError, match="sync="):
        t2.histogram(0, 50, (0, 7000))


def test_analyses_need_sorted_times_only_per_channel():
    tags = pulsed_tags(20_000, 0.3, 0.05, seed=10)
    shuffled_order = np.random.default_rng(11).permutation(len(tags))
    shuffled = TimeTags(
        tags.channel[shuffled_order],
        tags.time_ps[shuffled_order],
        tags.shot[shuffled_order],
        PERIOD_PS,
        tags.channels,
    )
    assert tags.is_sorted and not shuffled.is_sorted
    assert np.array_equal(shuffled.sorted().time_ps, tags.time_ps)
    a = tags.coincidences(0, 1, 500, 3 * PERIOD_PS)[0]
    assert np.array_equal(shuffled.coincidences(0, 1, 500, 3 * PERIOD_PS)[0], a)
    assert shuffled.g2_zero(0, 1) == tags.g2_zero(0, 1)


# ------------------------------------------------------------------ bad input
def test_construction_checks_arrays_and_metadata():
    with pytest.raises(ValueError, match="integers"):
        TimeTags(np.zeros(3, np.uint8), np.zeros(3, np.float64))
    with pytest.raises(ValueError, match="3 entries .* 2"):
        TimeTags(np.zeros(3, np.uint8), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="unknown channel 2"):
        TimeTags(np.array([0, 2]), np.array([1, 2]), channels=("a", "b"))
    with pytest.raises(ValueError, match="0..255"):
        TimeTags(np.array([0, 300]), np.array([1, 2]))
    with pytest.raises(ValueError, match="period_ps must be > 0"):
        TimeTags(np.array([0]), np.array([1]), period_ps=-1.0)
    with pytest.raises(ValueError, match="distinct"):
        TimeTags(np.array([0]), np.array([1]), channels=("a", "a"))
    tags = TimeTags(np.array([1, 0, SYNC_CHANNEL]), np.array([5, 3, 1]))
    assert tags.channels == ("ch0", "ch1") and tags.name(SYNC_CHANNEL) == "sync"
    assert tags.channel.dtype == np.uint8 and tags.time_ps.dtype == np.int64
    empty = TimeTags(np.zeros(0), np.zeros(0), channels=("a",))
    assert len(empty) == 0 and empty.is_sorted


def test_unknown_and_empty_channels_are_clear_errors():
    tags = pulsed_tags(1000, 0.3, 0.0, seed=12)
    with pytest.raises(ValueError, match=r"unknown channel 7: .* 0 \(a, \d+ tags\)"):
        tags.g2_zero(0, 7)
    with pytest.raises(ValueError, match="must differ"):
        tags.coincidences(1, 1, 100, 1000)
    with pytest.raises(ValueError, match="whole number"):
        tags.coincidences(0, 1, 300, 1000)
    with pytest.raises(ValueError, match="side_peaks must be >= 1"):
        tags.g2_zero(0, 1, side_peaks=0)
    only_a = tags.select([0])
    with pytest.raises(ValueError, match="no coincidences between channels 0 and 1"):
        only_a.g2_zero(0, 1)
    no_period = TimeTags(tags.channel, tags.time_ps, channels=tags.channels)
    with pytest.raises(ValueError, match="no shot period"):
        no_period.g2_zero(0, 1)
    assert no_period.g2_zero(0, 1, period_ps=PERIOD_PS) == tags.g2_zero(0, 1)


# ------------------------------------------------------------------ streaming
def split(tags: TimeTags, *bounds: int) -> list[TimeTags]:
    edges = [0, *bounds, len(tags)]
    return [timetags._slice(tags, i, j) for i, j in zip(edges[:-1], edges[1:], strict=True)]


def test_concatenate_and_ordered_stream_restore_time_order():
    tags = pulsed_tags(5000, 0.5, 0.1, seed=13)
    parts = split(tags, 700, 1500)
    assert np.array_equal(concatenate(parts).time_ps, tags.time_ps)
    # Swap a few tags across the chunk boundary (overlapping chunks).
    a, b = parts[0], parts[1]
    swapped_a = concatenate([timetags._slice(a, 0, len(a) - 3), timetags._slice(b, 0, 2)])
    swapped_b = concatenate([timetags._slice(a, len(a) - 3, len(a)), timetags._slice(b, 2, len(b))])
    stream = OrderedStream(channels=("a", "b"), period_ps=PERIOD_PS, reorder_window_ps=20_000)
    out = [stream.push(swapped_a), stream.push(swapped_b), stream.push(parts[2]), stream.flush()]
    merged = concatenate([o for o in out if o is not None])
    assert np.array_equal(merged.time_ps, tags.time_ps)
    assert np.array_equal(np.sort(merged.shot), np.sort(tags.shot))
    assert stream.duration_ps is None  # the chunks carried no duration

    strict = OrderedStream(channels=("a", "b"), period_ps=PERIOD_PS, reorder_window_ps=0)
    strict.push(swapped_a)
    with pytest.raises(ValueError, match="out of order: .* reorder_window_ps = 0"):
        strict.push(swapped_b)


def test_stream_refuses_foreign_chunks():
    stream = OrderedStream(channels=("a",), period_ps=PERIOD_PS)
    with pytest.raises(ValueError, match="unknown channel 1"):
        stream.push(TimeTags(np.array([1]), np.array([5]), np.array([0]), PERIOD_PS))
    with pytest.raises(ValueError, match="period_ps"):
        stream.push(TimeTags(np.array([0]), np.array([5]), np.array([0]), 1000.0))
    stream.push(TimeTags(np.array([0]), np.array([5]), np.array([0]), PERIOD_PS))
    with pytest.raises(ValueError, match="without them"):
        stream.push(TimeTags(np.array([0]), np.array([6]), None, PERIOD_PS))


# ------------------------------------------------------------------ files
@pytest.mark.parametrize("name", ["tags.ptu", "tags.h5", "tags.HDF5"])
def test_open_writer_and_read_timetags_choose_the_format(tmp_path, name):
    tags = pulsed_tags(20_000, 0.3, 0.03, seed=14)
    with timetag_files.open_writer(
        tmp_path / name, channels=("a", "b"), period_ps=PERIOD_PS
    ) as writer:
        assert isinstance(writer, timetags.TimeTagWriter)
        writer.write(split(tags, 1000)[0])
        writer.write(split(tags, 1000)[1])
    back = timetag_files.read_timetags(tmp_path / name)
    assert np.array_equal(back.time_ps, tags.time_ps)
    assert np.array_equal(back.shot, tags.shot)
    assert back.channels == ("a", "b")


def test_unknown_file_types_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown time-tag file type '.csv'"):
        timetag_files.read_timetags(tmp_path / "tags.csv")
    with pytest.raises(ValueError, match="unknown time-tag file type"):
        timetag_files.open_writer(tmp_path / "tags", channels=("a",), period_ps=PERIOD_PS)
    with pytest.raises(ValueError, match="PTU T3 records need the shot period"):
        timetag_files.open_writer(tmp_path / "tags.ptu", channels=("a",), period_ps=None)
    assert list(tmp_path.iterdir()) == []
