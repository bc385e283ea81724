"""Errors of analog figures with dead time: batch means over chunks (docs/physics.md 6.1).

With dead time, clicks of consecutive shots are anticorrelated and a Poisson error of a
click rate is too large. Analog results take their errors from the per-chunk counts
(chunks start with live detectors, so they are independent): checked against the
renewal-process closed form and against the spread of the figures over seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import photonmc as pmc
from photonmc import observables
from photonmc.result import MIN_BATCHES

P_CLICK, K_DEAD = 0.8, 3
#: one chunk size per link, so that the tests share their compilations
CHUNK = 1 << 14
MEMORY_CHUNK = 1 << 10


def renewal_link(dead_time_ns=42.0):
    """One photon per shot (mu = 1, g2 = 0) of T1 = 0.1 ns onto a detector of efficiency
    0.8: click probability p = 0.8 per live shot. A 42 ns dead time at a 12.5 ns period
    blocks the next K = 3 shots after a click (37.5 ns + a few T1 < 42 ns < 50 ns)."""
    return pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.1, mean_photon_number=1.0),
            pmc.Detector(efficiency=P_CLICK, dead_time_ns=dead_time_ns),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=0.0, window_stop_ns=10.0),
    )


def renewal_sigma(p: float, k: int, shots: int) -> float:
    """Standard deviation of the clicks per shot over `shots` shots of the pulsed renewal
    process: intervals X = K + G, G ~ Geometric(p) on 1, 2, ..., so E X = K + 1/p,
    var X = (1 - p) / p^2, and var(clicks) = shots var X / (E X)^3 (renewal theorem)."""
    mean, var = k + 1.0 / p, (1.0 - p) / p**2
    return math.sqrt(var / mean**3 / shots)


def test_renewal_closed_form_is_the_one_quoted():
    # 4e6 shots at p = 0.8, K = 3: 3.2e-5 where Poisson says 2.4e-4, 7.6 times more
    shots = 4_000_000
    rate = P_CLICK / (1 + K_DEAD * P_CLICK)
    sigma = renewal_sigma(P_CLICK, K_DEAD, shots)
    poisson = math.sqrt(rate * shots) / shots
    assert sigma == pytest.approx(3.19e-5, rel=1e-3)
    assert poisson == pytest.approx(2.42e-4, rel=1e-2)
    assert poisson / sigma == pytest.approx(7.6, rel=0.01)


def test_clicks_per_shot_error_with_dead_time_is_the_renewal_error():
    shots = 1 << 20
    res = pmc.simulate(renewal_link(), shots, key=3, chunk_shots=CHUNK)
    batches = shots // CHUNK
    assert res.counters["batch.n"] == batches
    rate = P_CLICK / (1 + K_DEAD * P_CLICK)
    sigma = renewal_sigma(P_CLICK, K_DEAD, shots)
    for figure in (res.clicks_per_shot, res.efficiency):  # every click is in the window
        # the batch estimate of a standard deviation from B independent batch sums has a
        # relative standard deviation 1 / sqrt(2 (B - 1))
        assert abs(figure.stderr / sigma - 1.0) < 4.0 / math.sqrt(2 * (batches - 1))
        # live chunk starts: at most K shots per chunk of extra clicks
        bias = batches * K_DEAD * rate / shots
        assert abs(figure.value - rate - bias / 2) < 5 * sigma + bias / 2
    poisson = observables.rate_per_shot(res.detector().total(), shots).stderr
    assert poisson / res.clicks_per_shot.stderr > 5.0  # what was reported before


def test_without_dead_time_rare_clicks_keep_a_poisson_error():
    # p = 0.02 per shot, no dead time: the clicks are Bernoulli, var = p (1 - p), so the
    # batch error equals the Poisson one to sqrt(1 - p) and the batches' own spread.
    link = renewal_link(0.0).set("qd.mean_photon_number", 0.025)
    shots, chunk = 1 << 19, 1 << 13
    res = pmc.simulate(link, shots, key=5, chunk_shots=chunk)
    batches = shots // chunk
    poisson = observables.rate_per_shot(res.detector().total(), shots).stderr
    ratio = res.clicks_per_shot.stderr / (poisson * math.sqrt(1 - 0.02))
    assert abs(ratio - 1.0) < 4.0 / math.sqrt(2 * (batches - 1))


def test_too_few_chunks_or_other_counts_fall_back_to_poisson(tmp_path):
    link = renewal_link()
    shots = (MIN_BATCHES - 1) * CHUNK
    few = pmc.simulate(link, shots, key=1, chunk_shots=CHUNK)
    assert few.counters["batch.n"] == MIN_BATCHES - 1
    total = few.detector().total()
    assert few.clicks_per_shot == observables.rate_per_shot(total, shots)
    # expected runs: the Poisson error of a measurement of as many shots
    exp = pmc.simulate(link.set("detector.dead_time_ns", 0.0), shots, mode="expected")
    assert not any(k.startswith("batch.") for k in exp.counters)
    assert exp.clicks_per_shot == observables.rate_per_shot(exp.detector().total(), shots)
    # enough chunks: the batch error, also after the result is written and read back
    from photonmc.io.hdf5 import read_result, write_result

    shots = 16 * CHUNK
    many = pmc.simulate(link, shots, key=1, chunk_shots=CHUNK)
    assert many.clicks_per_shot.stderr < 0.5 * math.sqrt(many.detector().total()) / shots
    back = read_result(write_result(many, tmp_path / "r.h5"))
    assert back.clicks_per_shot == many.clicks_per_shot
    assert back.efficiency == many.efficiency


def memory_link(dead_time_ns=30.0):
    """A memory with leak-through and read noise before a detector with dark counts."""
    mem = pmc.LadderMemory(
        write_time_ns=1.0,
        input_mode_fwhm_ns=1.0,
        output_mode_fwhm_ns=0.8,
        write_efficiency=0.9,
        read_efficiency=0.9,
        storage_time_ns=2.0,
        lifetime_ns=1e4,
        transmission=0.3,
        read_noise_photons=0.3,
    )
    return pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=1.0),
            mem,
            pmc.Detector(efficiency=0.9, dead_time_ns=dead_time_ns, dark_count_rate_hz=2e7),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=0.0, window_stop_ns=10.0),
    )


def test_snr_and_leak_use_the_batches_of_the_default_window_only():
    res = pmc.simulate(memory_link(0.0), 1 << 15, key=2, chunk_shots=MEMORY_CHUNK)
    c = res._window_counts(None, None)
    assert res.counters["batch.retrieved"] == c[1] and res.counters["batch.leak"] == c[0]
    assert res.counters["batch.noise"] == c[2] + c[3]
    snr, leak = res.snr(), res.leak_in_window()
    assert snr.value == c[1] / (c[2] + c[3]) and leak.value == c[0] / res.shots
    assert snr != observables.snr(c[1], c[2] + c[3])  # the batch error, not Poisson's
    # another window has no batches: the Poisson error
    window = (1.5, 3.0)
    w = res._window_counts(window, None)
    assert res.snr(window) == observables.snr(w[1], w[2] + w[3])
    assert res.leak_in_window(window) == observables.rate_per_shot(w[0], res.shots)


@pytest.mark.slow
def test_reported_errors_with_dead_time_match_the_spread_over_seeds():
    """Clicks per shot, efficiency, SNR and leak of a memory link with dead time, memory
    noise and dark counts: the mean reported error over M seeds agrees with the standard
    deviation of the figures over the seeds (relative precision 1 / sqrt(2 (M - 1))),
    where the Poisson errors of clicks and efficiency are 5x and 1.7x too large."""
    link = memory_link()
    m, shots, chunk = 30, 1 << 15, MEMORY_CHUNK
    figures = {"clicks": [], "efficiency": [], "snr": [], "leak": []}
    poisson = {"clicks": [], "efficiency": []}
    for seed in range(m):
        r = pmc.simulate(link, shots, key=100 + seed, chunk_shots=chunk)
        figures["clicks"].append(r.clicks_per_shot)
        figures["efficiency"].append(r.efficiency)
        figures["snr"].append(r.snr())
        figures["leak"].append(r.leak_in_window())
        poisson["clicks"].append(math.sqrt(r.detector().total()) / shots)
        poisson["efficiency"].append(math.sqrt(r.detector().in_window("retrieved")) / shots)
    tol = 4.0 / math.sqrt(2 * (m - 1))
    for name, estimates in figures.items():
        spread = np.std([e.value for e in estimates], ddof=1)
        reported = np.mean([e.stderr for e in estimates])
        assert abs(reported / spread - 1.0) < tol, (name, reported, spread)
        if name in poisson:
            assert np.mean(poisson[name]) / spread > 1.0 + tol, name
