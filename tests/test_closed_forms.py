"""The engine against the closed forms of docs/physics.md section 7, in both modes.

Statistical tests use fixed keys and tolerances of 5 standard deviations of the
estimate for the run's size, so they fail only if the physics is wrong.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import fiber_link, memory_link

import photonmc as pmc
from photonmc import units
from photonmc.kernels.bin_integrals import hypoexp_gauss_cdf

N = 200_000
CHUNK = 1 << 14


def straight_link_click_probability(link: pmc.Link) -> float:
    """mu * T_fiber * T_other * efficiency, the signal part of docs/physics.md 7's first line,
    from the parameters (float64)."""
    qd, fiber, att, filt, det = link.stages
    loss_db = fiber.loss_db_per_km * fiber.length_km + fiber.insertion_loss_db + att.loss_db
    # detuning 0, no spectral diffusion: the Lorentzian filter passes the overlap with
    # the photon's Lorentzian line, F / (F + g), g = 1 / (2 pi T1)
    g = 1.0 / (2.0 * math.pi * qd.lifetime_ns)
    t_filter = filt.peak_transmission * filt.fwhm_ghz / (filt.fwhm_ghz + g)
    return qd.mean_photon_number * 10 ** (-loss_db / 10) * t_filter * det.efficiency


def test_efficiency_chain_analog_and_expected():
    link = fiber_link(dark=1e5)
    p = straight_link_click_probability(link)
    dark = 1e5 * 1e-9 * link.source.period_ns  # R T_rep per shot (docs/physics.md 3.5)
    expected = pmc.simulate(link, N, mode="expected")
    assert expected.clicks_per_shot.value == pytest.approx(p + dark, rel=1e-9)
    analog = pmc.simulate(link, N, key=3, mode="analog", chunk_shots=CHUNK)
    d = analog.detector()
    for origin, mean in (("source", p), ("dark", dark)):
        # per-shot counts are at most 2 and at most Poisson-dispersed: var <= mean
        assert abs(d.total(origin) - N * mean) < 5 * math.sqrt(N * mean)


def test_dark_count_accidentals_per_shot():
    link = fiber_link(mu=0.0, dark=2e6)
    res = pmc.simulate(link, N, key=5, chunk_shots=CHUNK)
    mean = 2e6 * 1e-9 * link.source.period_ns  # R T_rep per shot, the window's and later
    assert abs(res.detector().total("dark") - N * mean) < 5 * math.sqrt(N * mean)
    # uniform in time: every bin has the same expectation, R x bin width per shot
    h = res.histogram(origin="dark")
    per_bin = N * 2e6 * 1e-9 * link.tagger.bin_width_ns
    chi2 = np.sum((h - per_bin) ** 2 / per_bin)
    assert chi2 < h.size + 5 * math.sqrt(2 * h.size)


def _ks_distance(link, res, cdf):
    """Largest gap between the empirical CDF at the bin edges and the exact law.

    The window starts well before any click, and clicks after it count in n, so the
    empirical CDF at the edges is exact (no binning error at the edges themselves).
    """
    d = res.detector()
    n = d.total("source")
    ecdf = np.concatenate([[0.0], np.cumsum(d.histogram("source"))]) / n
    edges = d.bin_edges_ns + float(link.tagger.sync_offset_ns)
    return np.max(np.abs(ecdf - cdf(edges))), n


def test_detection_times_exponential_without_feeding_or_jitter():
    # a filter far wider than the line: the v1 limit, no reshaping
    link = fiber_link(length=0.0, bin_ps=10.0, stop=14.0, filter_ghz=1e6)
    assert link.reshaping == ()
    res = pmc.simulate(link, N, key=11, chunk_shots=CHUNK)
    dist, n = _ks_distance(link, res, lambda x: np.where(x > 0, -np.expm1(-x / 0.6), 0.0))
    assert dist < 1.95 / math.sqrt(n)  # KS 0.1 % critical value


def test_detection_times_hypoexponential_with_jitter():
    link = fiber_link(length=0.0, feeding=0.2, jitter=120.0, bin_ps=10.0, stop=14.0, filter_ghz=1e6)
    sigma = units.fwhm_to_sigma(0.120)
    res = pmc.simulate(link, N, key=12, chunk_shots=CHUNK)
    dist, n = _ks_distance(link, res, lambda x: hypoexp_gauss_cdf(x, 0.0, 0.2, 0.6, sigma))
    assert dist < 1.95 / math.sqrt(n)


def test_pulsed_dead_time():
    # T1 = 0.1 ns clicks, dead time 30 ns at 12.5 ns period: the two shots after a
    # registered click are always blocked and the third never, so K = 2.
    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.1, mean_photon_number=0.9),
            pmc.Detector(efficiency=0.8, dead_time_ns=30.0),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=0.0, window_stop_ns=10.0),
    )
    p, k = 0.9 * 0.8, 2
    res = pmc.simulate(link, N, key=21, chunk_shots=CHUNK)
    rate = p / (1 + k * p)
    clicks = res.detector().total()
    # Chunk starts are live: at most K shots per chunk of extra clicks, a known bias.
    bias = (N / CHUNK) * k * rate
    assert abs(clicks - N * rate - bias / 2) < 5 * math.sqrt(N * rate) + bias / 2
    # and without dead time, p per shot
    free = pmc.simulate(link.set("detector.dead_time_ns", 0.0), N, key=21, chunk_shots=CHUNK)
    assert abs(free.detector().total() - N * p) < 5 * math.sqrt(N * p)


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_storage_decay(tau):
    base = memory_link(storage=0.0)
    link = base.set("memory.storage_time_ns", tau)
    decay = math.exp(-((tau / 1.1) ** 2))
    e0 = pmc.simulate(base, 1000, mode="expected").internal_efficiency()
    e1 = pmc.simulate(link, 1000, mode="expected").internal_efficiency()
    assert e1.value / e0.value == pytest.approx(decay, rel=1e-10)
    a0 = pmc.simulate(base, N, key=31, chunk_shots=CHUNK).internal_efficiency()
    a1 = pmc.simulate(link, N, key=32, chunk_shots=CHUNK).internal_efficiency()
    ratio = a1.value / a0.value
    err = ratio * math.hypot(a0.stderr / a0.value, a1.stderr / a1.value)
    assert abs(ratio - decay) < 5 * err
    # analog and expected agree on eta_int itself
    assert abs(a0.value - e0.value) < 5 * a0.stderr


def test_hyperfine_beating_decay():
    mem = memory_link().set("memory.beat_terms", [[0.4, 0.0518, 0.0], [0.2, 0.0677, 1.0]])["memory"]
    tau = np.array([0.0, 3.0, 7.5, 20.0])
    a = np.array([1.0, 0.4, 0.2])
    f = np.array([0.0, 0.0518, 0.0677])
    phi = np.array([0.0, 0.0, 1.0])
    beat = np.abs((a * np.exp(1j * (2 * np.pi * f * tau[:, None] + phi))).sum(1)) ** 2
    beat /= np.abs((a * np.exp(1j * phi)).sum()) ** 2
    want = np.exp(-((tau / 1.1) ** 2)) * beat
    got = np.array([float(mem.decay_factor(t)) for t in tau])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-30)


def test_memory_fates_add_up():
    """Every photon arriving at the memory is retrieved, leaked or lost: P_r + P_t <= 1."""
    res = pmc.simulate(memory_link(), 1000, mode="expected")
    eta, leak = res.internal_efficiency().value, res.leak_through().value
    assert 0 < eta < 1 and 0 < leak < 1 and eta + leak <= 1


@pytest.mark.parametrize("jitter_ps", [0.0, 20.0])
def test_expected_histogram_with_feeding_is_the_exact_hypoexponential_law(jitter_ps):
    """Without a memory the feeding delay is integrated exactly, not by quadrature nodes
    (which would make a staircase of the rise at 10 ps bins)."""
    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, feeding_time_ns=0.3),
            pmc.Detector(efficiency=1.0, jitter_fwhm_ps=jitter_ps),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=10.0, window_start_ns=-1.0, window_stop_ns=9.0),
    )
    got = pmc.simulate(link, 1, mode="expected").histogram()
    sigma = units.fwhm_to_sigma(1e-3 * jitter_ps)
    exact = np.diff(hypoexp_gauss_cdf(link.tagger.bin_edges_ns, 0.0, 0.3, 0.6, sigma))
    keep = exact > 1e-9
    np.testing.assert_allclose(got[keep], exact[keep], rtol=1e-6)


@pytest.mark.parametrize("window_ns", [25.0, 5.0], ids=["longer-than-period", "shorter"])
def test_dark_counts_with_dead_time_agree_between_modes(window_ns):
    """With dead time, dark counts are one stream in absolute time: each shot draws them
    over one period from the window start, in both modes (docs/physics.md 3.5)."""
    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.0),
            pmc.Detector(efficiency=0.9, dark_count_rate_hz=1e6, dead_time_ns=1e-3),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=2500.0, window_start_ns=0.0, window_stop_ns=window_ns),
    )
    shots = 200_000
    analog = pmc.simulate(link, shots, key=8, chunk_shots=CHUNK)
    expected = pmc.simulate(link, shots, mode="expected")
    mean = shots * 1e6 * 1e-9 * 12.5  # R * T_rep per shot
    assert expected.detector().total() == pytest.approx(mean, rel=1e-12)
    assert abs(analog.detector().total() - mean) < 5 * math.sqrt(mean)
    e, a = expected.histogram(), analog.histogram()
    assert np.all(a[e == 0] == 0)
    keep = e > 0
    chi2 = np.sum((a[keep] - e[keep]) ** 2 / e[keep])
    assert chi2 < keep.sum() + 5 * math.sqrt(2 * keep.sum())


def test_retrieval_never_exceeds_certainty_with_beating():
    """Beat terms with phases can make the decay ratio exceed 1 at some storage times;
    eta_r D is a probability and is limited to 1."""
    link = memory_link(storage=1.667, sd=0.0, feeding=0.0)
    link = link.replace(
        {
            "memory.beat_terms": [[0.5, 0.3, math.pi]],
            "memory.read_efficiency": 1.0,
            "memory.lifetime_ns": 1e4,
        }
    )
    assert float(link["memory"].decay_factor()) > 1.0  # the ratio itself
    res = pmc.simulate(link, 1000, mode="expected")
    eta, leak = res.internal_efficiency().value, res.leak_through().value
    assert 0 < eta <= 0.6 + 1e-12  # at most eta_w, the stored fraction
    assert eta + leak <= 1.0 + 1e-12
