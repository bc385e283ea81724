"""Dark counts in absolute time (docs/physics.md 3.5): one Poisson stream of the configured
rate R, in the time tags and in both modes, whether the tagger window is shorter or longer
than the shot period and with or without dead time.

Each shot draws its dark counts over one period from the window start, so the shots tile
the time line once: R T_rep dark counts per shot, R x bin width per bin in the first
period of the window, none beyond it (a TCSPC card files a click under the latest sync).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import photonmc as pmc
from photonmc.batch import ORIGINS

DARK = ORIGINS.index("dark")
RATE_HZ = 1e6
PERIOD_NS = 12.5  # 80 MHz
BIN_PS = 2500.0  # five bins per period
CHUNK = 1 << 16


def dark_link(window_ns: float, dead_ns: float = 0.0, mu: float = 0.0, start_ns: float = 0.0):
    return pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=mu),
            pmc.Fiber(length_km=2.0),  # a fixed delay in the tags, not in the histogram
            pmc.Detector(efficiency=0.9, dark_count_rate_hz=RATE_HZ, dead_time_ns=dead_ns),
        ],
        tagger=pmc.TimeTagger(
            bin_width_ps=BIN_PS, window_start_ns=start_ns, window_stop_ns=start_ns + window_ns
        ),
    )


def dark_tags(link, shots: int, key: int) -> tuple[pmc.Result, np.ndarray]:
    """The run and the absolute times (ps) of its dark-count tags."""
    parts = []

    def keep(records):
        parts.append(records["time_ps"][records["origin"] == DARK])

    res = pmc.simulate(link, shots, key=key, chunk_shots=CHUNK, on_records=keep)
    return res, np.sort(np.concatenate(parts))


@pytest.mark.parametrize(
    "window_ns, dead_ns",
    [(25.0, 0.0), (5.0, 0.0), (25.0, 2.0), (5.0, 2.0)],
    ids=["long-window", "short-window", "long-window-dead-time", "short-window-dead-time"],
)
def test_tag_stream_holds_the_configured_rate(window_ns, dead_ns):
    """Issue of the old law: a 25 ns window at 80 MHz held 2 R in the tags. A non-paralysable
    dead time tau registers R / (1 + R tau) (each chunk starts live: 1 in 10^4 here)."""
    shots = 1 << 18
    link = dark_link(window_ns, dead_ns, start_ns=-1.0)
    res, t = dark_tags(link, shots, key=11)
    rate = RATE_HZ / (1.0 + RATE_HZ * 1e-9 * dead_ns)
    mean = rate * 1e-9 * shots * PERIOD_NS
    assert abs(t.size - mean) < 5 * math.sqrt(mean)
    # the run's totals count the same clicks (late ones in the overflow column)
    assert res.detector().total("dark") == t.size
    # uniform in absolute time: no part of the period holds more than its share
    phase = np.mod(t, PERIOD_NS * 1e3)
    counts, _ = np.histogram(phase, bins=25, range=(0.0, PERIOD_NS * 1e3))
    per_bin = t.size / 25
    chi2 = np.sum((counts - per_bin) ** 2 / per_bin)
    assert chi2 < 25 + 5 * math.sqrt(2 * 25)
    if not dead_ns:  # and the gaps between dark counts are exponential at rate R
        gaps = np.diff(t) * 1e-12
        assert abs(gaps.mean() * RATE_HZ - 1.0) < 5 / math.sqrt(gaps.size)


@pytest.mark.parametrize("dead_ns", [0.0, 1e-3], ids=["no-dead-time", "dead-time"])
@pytest.mark.parametrize("window_ns", [10.0, 25.0], ids=["shorter", "longer"])
def test_expected_dark_level_is_rate_times_bin_width(window_ns, dead_ns):
    shots = 1000
    link = dark_link(window_ns, dead_ns)
    det = pmc.simulate(link, shots, mode="expected").detector()
    h = det.histogram("dark")
    edges = link.tagger.bin_edges_ns
    first_period = edges[:-1] < PERIOD_NS - 1e-9
    level = shots * RATE_HZ * 1e-9 * link.tagger.bin_width_ns
    np.testing.assert_allclose(h[first_period], level, rtol=1e-9)
    assert np.all(h[~first_period] == 0.0)  # the window past one period: no dark counts
    assert det.total("dark") == pytest.approx(shots * RATE_HZ * 1e-9 * PERIOD_NS, rel=1e-12)
    # folded modulo the period (what a TCSPC card shows), the level is flat: R x bin width
    if window_ns > PERIOD_NS:
        folded = h.reshape(-1, 5).sum(axis=0)  # 25 ns = two periods of five bins
        np.testing.assert_allclose(folded, level, rtol=1e-9)


@pytest.mark.parametrize("dead_ns", [0.0, 1e-3], ids=["no-dead-time", "dead-time"])
@pytest.mark.parametrize("window_ns", [10.0, 25.0], ids=["shorter", "longer"])
def test_analog_and_expected_agree_on_a_link_with_darks_and_photons(window_ns, dead_ns):
    """Chi-square of the analog histogram (all origins, in-window bins and the overflow
    columns) against the expected one. A 1 ps dead time changes nothing measurable."""
    shots = 100_000
    link = dark_link(window_ns, dead_ns, mu=0.3, start_ns=-0.5)
    analog = pmc.simulate(link, shots, key=21, chunk_shots=CHUNK).detector()
    expected = pmc.simulate(link, shots, mode="expected").detector()
    for origin in ("source", "dark"):
        a = np.append(analog.histogram(origin), analog.total(origin) - analog.in_window(origin))
        e = np.append(
            expected.histogram(origin), expected.total(origin) - expected.in_window(origin)
        )
        keep = e > 1.0
        assert np.all(a[e == 0.0] == 0)
        chi2 = np.sum((a[keep] - e[keep]) ** 2 / e[keep])
        assert chi2 < keep.sum() + 5 * math.sqrt(2 * keep.sum()), origin


def test_dark_interval_is_one_period_with_or_without_dead_time():
    tagger = pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=24.0)
    det = pmc.Detector(efficiency=0.5, dark_count_rate_hz=100.0)
    for dead in (False, True):
        assert det.dark_interval_ns(tagger, 12.5, dead) == (-1.0, 11.5)
