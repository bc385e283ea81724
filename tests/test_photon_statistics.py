"""Photon statistics from simulated time tags: HBT g2(0) against docs/physics.md's closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import photonmc as pmc
from photonmc.timetags import TimeTags

PERIOD_PS = 12_500.0  # 80 MHz


def hbt_link(*, mu=0.8, g2=0.2, loss_db=0.0, dark=0.0, memory=None):
    """Source, optional memory and loss, 50:50 splitter, two detectors."""
    stages = [pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=mu, g2=g2)]
    if memory is not None:
        stages.append(memory)
    stages += [
        pmc.Attenuator(loss_db=loss_db),
        pmc.BeamSplitter(reflectivity=0.5),
        pmc.Detector(efficiency=0.9, dark_count_rate_hz=dark, name="a", branch="bs.transmitted"),
        pmc.Detector(efficiency=0.8, dark_count_rate_hz=dark, name="b", branch="bs.reflected"),
    ]
    tagger = pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=11.0)
    return pmc.Link(stages, tagger)


def tags_of(link, shots, key):
    blocks = []
    res = pmc.simulate(link, shots, key=key, chunk_shots=1 << 15, on_records=blocks.append)
    rec = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    names = tuple(d.name for d in link.detectors)
    tags = TimeTags(
        rec["channel"], rec["time_ps"], shot=rec["shot"], period_ps=PERIOD_PS, channels=names
    )
    return res, tags, rec


def test_hbt_splits_counts_and_each_detector_has_its_histogram():
    link = hbt_link(g2=0.0, dark=1e5)
    res = pmc.simulate(link, 100_000, key=1, chunk_shots=1 << 14)
    assert set(res.detectors) == {"a", "b"}
    a, b = res.detector("a").total("source"), res.detector("b").total("source")
    # 0.8 photons per shot, half each way, efficiencies 0.9 and 0.8
    assert a == pytest.approx(100_000 * 0.8 * 0.5 * 0.9, rel=0.02)
    assert b == pytest.approx(100_000 * 0.8 * 0.5 * 0.8, rel=0.02)
    exp = pmc.simulate(link, 100_000, mode="expected")
    assert exp.detector("a").total("source") == pytest.approx(100_000 * 0.36, rel=1e-9)
    assert exp.detector("b").total("dark") == pytest.approx(100_000 * 1e5 * 1e-9 * 12.5, rel=1e-9)


@pytest.mark.parametrize("loss_db", [0.0, 6.0], ids=["lossless", "6dB"])
def test_g2_of_the_source_is_2p2_over_mu2_and_survives_loss(loss_db):
    link = hbt_link(mu=0.8, g2=0.2, loss_db=loss_db)
    shots = 400_000 if loss_db == 0 else 1_600_000
    _, tags, _ = tags_of(link, shots, key=2)
    g2 = tags.g2_zero(0, 1)
    # p2 = g2 mu^2 / 2 makes g2(0) = 2 p2 / mu^2 = 0.2 exactly (docs/physics.md 3.1)
    assert abs(g2.value - 0.2) < 5 * g2.stderr, g2


def test_g2_of_single_photons_mixed_with_poisson_noise():
    """Retrieved single photons (g2 = 0) plus memory noise (Poisson) at signal-to-noise
    ratio SNR: g2 = (2 SNR + 1) / (SNR + 1)^2 (docs/physics.md section 7)."""
    memory = pmc.LadderMemory(
        write_time_ns=0.6,
        input_mode_fwhm_ns=1.0,
        output_mode_fwhm_ns=0.8,
        write_efficiency=0.9,
        read_efficiency=0.9,
        storage_time_ns=40.0,
        lifetime_ns=1e4,
        transmission=0.0,
        read_noise_photons=0.15,
    )
    link = hbt_link(mu=1.0, g2=0.0, memory=memory)
    res, tags, rec = tags_of(link, 400_000, key=3)
    assert np.all(rec["origin"][:] != 0)  # no leak-through: transmission 0
    retrieved = res.detector("a").total("retrieved") + res.detector("b").total("retrieved")
    noise = res.detector("a").total("memory_noise") + res.detector("b").total("memory_noise")
    snr = retrieved / noise
    want = (2 * snr + 1) / (snr + 1) ** 2
    g2 = tags.g2_zero(0, 1, centre_ps=0.0)
    assert abs(g2.value - want) < 5 * g2.stderr, (g2, want, snr)


@pytest.mark.parametrize("suffix", [".ptu", ".h5"])
def test_simulated_time_tags_stream_to_files_that_read_back(tmp_path, suffix):
    from photonmc.io.timetag_files import read_timetags, simulation_writer

    link = hbt_link(mu=0.8, g2=0.2)
    path = tmp_path / f"hbt{suffix}"
    blocks = []
    writer, on_records = simulation_writer(path, link)
    with writer:
        res = pmc.simulate(
            link,
            200_000,
            key=2,
            chunk_shots=1 << 14,
            on_records=lambda r: (blocks.append(r), on_records(r)),
        )
    tags = read_timetags(path)
    rec = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    assert len(tags) == len(rec["time_ps"]) == res.detector("a").total() + res.detector("b").total()
    order = np.lexsort((rec["channel"], rec["time_ps"]))
    got = np.lexsort((tags.channel, tags.time_ps))
    np.testing.assert_array_equal(tags.time_ps[got], rec["time_ps"][order])
    np.testing.assert_array_equal(tags.channel[got], rec["channel"][order])
    g2 = tags.g2_zero(0, 1)
    assert abs(g2.value - 0.2) < 5 * g2.stderr


def hom_link(polarisation, *, sd=0.0, feeding=0.0, t2_star=None):
    stages = [
        pmc.QuantumDot(
            rep_rate_mhz=80.0,
            lifetime_ns=0.6,
            mean_photon_number=1.0,
            feeding_time_ns=feeding,
            spectral_diffusion_fwhm_ghz=sd,
            dephasing_time_ns=t2_star,
        ),
        pmc.HOMInterferometer(polarisation=polarisation),
        pmc.Detector(efficiency=0.9, name="c", branch="hom.transmitted"),
        pmc.Detector(efficiency=0.8, name="d", branch="hom.reflected"),
    ]
    tagger = pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=24.0)
    return pmc.Link(stages, tagger)


def mean_overlap_by_quadrature(t1, tau_f, sd_fwhm, t2_star):
    """E[|<psi_i|psi_j>|^2] over independent photon pairs (docs/physics.md 6.4), by quadrature:
    feeding delays tau_f E_i, frequency offsets N(0, sigma_sd^2) each."""
    from scipy import integrate

    t2 = t1 * 2 if t2_star is None else 1.0 / (1.0 / (2 * t1) + 1.0 / t2_star)
    if tau_f > 0:

        def f(e1, e2):
            return np.exp(-abs(tau_f * (e1 - e2)) / t1) * np.exp(-e1 - e2)

        time_part = integrate.dblquad(f, 0, 60, 0, 60, epsabs=1e-12)[0]
    else:
        time_part = 1.0
    sigma = np.sqrt(2.0) * sd_fwhm / (2 * np.sqrt(2 * np.log(2)))  # of the difference
    if sigma > 0:

        def g(dnu):
            gauss = np.exp(-0.5 * (dnu / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
            return gauss / (1.0 + (np.pi * dnu * t2) ** 2)

        freq_part = integrate.quad(g, -12 * sigma, 12 * sigma, epsabs=1e-13)[0]
    else:
        freq_part = 1.0
    return time_part * freq_part * t2 / (2 * t1)


@pytest.mark.parametrize(
    "latent",
    [dict(sd=0.5, feeding=0.05), dict(feeding=0.1, t2_star=2.0)],
    ids=["diffusion-and-feeding", "feeding-and-dephasing"],
)
def test_hom_visibility_is_the_mean_pair_overlap(latent):
    """V = 1 - C0(parallel) / C0(orthogonal) = E[M] (coincidence probability (1 - M) / 2
    per meeting pair), with the latent distributions integrated independently."""
    centre = {}
    for pol in ("parallel", "orthogonal"):
        _, tags, _ = tags_of(hom_link(pol, **latent), 200_000, key=4)
        _, counts = tags.peak_areas(0, 1, side_peaks=3)
        centre[pol] = counts[3]
    ratio = centre["parallel"] / centre["orthogonal"]
    err = ratio * np.sqrt(1 / centre["parallel"] + 1 / centre["orthogonal"])
    want = mean_overlap_by_quadrature(
        0.6, latent.get("feeding", 0.0), latent.get("sd", 0.0), latent.get("t2_star")
    )
    assert 0.3 < want < 0.95
    assert abs((1 - ratio) - want) < 5 * err, (1 - ratio, want, err)


def test_hom_single_counts_are_those_of_a_splitter():
    link = hom_link("parallel", feeding=0.05)
    exp = pmc.simulate(link, 100_000, mode="expected")
    ana = pmc.simulate(link, 100_000, key=6, chunk_shots=1 << 14)
    for det in ("c", "d"):
        n_exp = exp.detector(det).total()
        assert abs(ana.detector(det).total() - n_exp) < 5 * np.sqrt(n_exp)
    assert exp.detector("c").total() == pytest.approx(100_000 * 0.5 * 0.9, rel=1e-9)


def test_time_tag_files_load_as_fit_histograms(tmp_path):
    """A simulated PTU file histogrammed by the fit loader equals the run's histogram."""
    from photonmc.io.datasets import load_histogram
    from photonmc.io.timetag_files import simulation_writer

    link = hbt_link(mu=0.8, g2=0.0)
    path = tmp_path / "tags.ptu"
    writer, on_records = simulation_writer(path, link)
    with writer:
        res = pmc.simulate(link, 100_000, key=9, chunk_shots=1 << 14, on_records=on_records)
    data = load_histogram(path, detector="b", bin_ps=100.0, window_ns=(-1.0, 11.0))
    assert data.shots <= 100_000
    want = res.histogram("b")
    # tags are whole ps: only clicks within 1 ps of a 100 ps edge can change bin
    assert data.counts.sum() == want.sum()
    assert np.all(np.abs(data.counts - want) <= 0.02 * want + 3)


def test_hbt_dead_time_closed_form():
    """Dead time across shots at a high rate in an HBT run: each detector registers
    p / (1 + K p) clicks per shot, p its click probability, K the shots it stays dead."""
    link = hbt_link(mu=1.0, g2=0.0)
    link = link.replace({"a.dead_time_ns": 30.0, "b.dead_time_ns": 30.0, "qd.lifetime_ns": 0.1})
    res = pmc.simulate(link, 400_000, key=10, chunk_shots=1 << 16)
    for det, eff in (("a", 0.9), ("b", 0.8)):
        p, k = 0.5 * eff, 2  # half the photons, this efficiency; 30 ns = 2.4 periods
        rate = p / (1 + k * p)
        n = res.detector(det).total()
        assert abs(n - 400_000 * rate) < 5 * np.sqrt(400_000 * rate) + 400_000 / (1 << 16) * k


# ------------------------------------------------ simulate(..., correlations=True)
def test_simulate_records_the_coincidences_and_g2_of_every_detector_pair(tmp_path):
    from photonmc.io import read_result, write_result

    link = hbt_link(mu=0.8, g2=0.2)
    res = pmc.simulate(link, 200_000, key=2, chunk_shots=1 << 15, correlations=True)
    pair = res.correlations["a,b"]
    g2 = res.photon_statistics["g2_0"]
    assert abs(g2.value - 0.2) < 5 * g2.stderr, g2  # 2 p2 / mu^2 (docs/physics.md 3.1)
    assert pair.peak_counts.size == 11 and pair.counts.sum() <= pair.peak_counts.sum()
    # the streamed accumulator counts what a correlation of all the tags at once counts
    _, tags, _ = tags_of(link, 200_000, key=2)
    _, peaks = tags.peak_areas(0, 1, side_peaks=5)
    np.testing.assert_array_equal(pair.peak_counts, peaks)
    # expected mode: the same figure in closed form, and the expected histogram's peaks
    exp = pmc.simulate(link, 200_000, mode="expected", correlations=True)
    # up to the decay tails that spill past +-period/2 into the neighbouring peaks
    assert exp.photon_statistics["g2_0"].value == pytest.approx(0.2, rel=1e-3)
    want = exp.correlations["a,b"].peak_counts
    assert np.all(np.abs(pair.peak_counts - want) < 5 * np.sqrt(want))
    path = write_result(res, tmp_path / "r.h5")
    back = read_result(path)
    np.testing.assert_array_equal(back.correlations["a,b"].counts, pair.counts)
    assert back.photon_statistics["g2_0"] == g2
    assert back.summary()["g2_0"] == {"value": g2.value, "stderr": g2.stderr}


def test_expected_coincidence_histogram_is_the_mean_of_analog_ones():
    link = hbt_link(mu=0.8, g2=0.3, dark=1e4)
    res = pmc.simulate(link, 200_000, key=5, chunk_shots=1 << 15, correlations=True)
    exp = pmc.simulate(link, 200_000, mode="expected", correlations=True)
    n, mu = res.correlations["a,b"].counts, exp.correlations["a,b"].counts
    np.testing.assert_allclose(
        res.correlations["a,b"].bin_edges_ns, exp.correlations["a,b"].bin_edges_ns
    )
    n, mu = n.reshape(-1, 8).sum(axis=1), mu.reshape(-1, 8).sum(axis=1)  # 0.8 ns bins
    keep = mu > 20
    chi2 = float(np.sum((n[keep] - mu[keep]) ** 2 / mu[keep]))
    dof = int(keep.sum())
    # the bin-triangle approximation of the model is far below this sample's noise
    assert chi2 < dof + 5 * np.sqrt(2 * dof), (chi2, dof)


def test_mean_pair_overlap_in_closed_form_matches_quadrature():
    from photonmc.expected import mean_pair_overlap

    for sd, feeding, t2_star in ((0.5, 0.05, None), (0.0, 0.1, 2.0), (0.3, 0.05, 3.0)):
        qd = pmc.QuantumDot(
            rep_rate_mhz=80.0,
            lifetime_ns=0.6,
            feeding_time_ns=feeding,
            spectral_diffusion_fwhm_ghz=sd,
            dephasing_time_ns=t2_star,
        )
        want = mean_overlap_by_quadrature(0.6, feeding, sd, t2_star)
        assert mean_pair_overlap(qd) == pytest.approx(want, rel=1e-5)  # quadrature tolerance


def test_hom_run_reports_visibility_against_its_orthogonal_reference():
    link = hom_link("parallel", sd=0.5, feeding=0.05)
    res = pmc.simulate(link, 100_000, key=4, chunk_shots=1 << 14, correlations=True)
    stats = res.photon_statistics
    v, m = stats["hom_visibility"], stats["indistinguishability"]
    assert "orthogonal" in stats["notes"]["hom_visibility"] and "g2_0" not in stats
    assert abs(v.value - m.value) < 5 * v.stderr, (v, m)
    exp = pmc.simulate(link, 100_000, mode="expected", correlations=True)
    assert exp.photon_statistics["hom_visibility"].value == pytest.approx(m.value)
