"""The photon's spectrum and coherence in filters, fibres and memories (docs/physics.md 3.2-3.4).

Closed forms and independent quadrature for the figures of the v2 model, the v1 limits,
analog against expected by chi-square on links that use each law, and gradients through
the tabulated laws against central differences.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate

import photonmc as pmc
from photonmc.kernels import dispersion, spectra
from photonmc.link import Link
from photonmc.stages import BandpassFilter, Detector, Fiber, LadderMemory, QuantumDot, TimeTagger

T1 = 0.6


def _link(*middle, jitter_ps=50.0, start=-1.05, stop=12.0, bin_ps=50.0, **source):
    src = dict(rep_rate_mhz=80.0, lifetime_ns=T1, mean_photon_number=1.0)
    src.update(source)
    stages = [QuantumDot(**src), *middle]
    stages.append(
        Detector(efficiency=1.0, dark_count_rate_hz=0.0, jitter_fwhm_ps=jitter_ps, dead_time_ns=0.0)
    )
    tagger = TimeTagger(bin_width_ps=bin_ps, window_start_ns=start, window_stop_ns=stop)
    return Link(stages, tagger)


def _memory(write=0.5, read=1.0, transmission=1.0):
    return LadderMemory(
        write_time_ns=0.65,
        input_mode_fwhm_ns=1.0,
        output_mode_fwhm_ns=0.6,
        write_efficiency=write,
        read_efficiency=read,
        storage_time_ns=5.0,
        lifetime_ns=1e12,
        transmission=transmission,
        decay="exponential",
    )


def _expected(link, shots=1):
    return pmc.simulate(link, shots, 1, "expected")


def _chi2_agrees(link, shots=400_000, seed=3):
    """Analog against expected histograms (bins with > 20 expected): chi2 below
    dof + 5 sqrt(2 dof), the 5-sigma bound of a chi-square with dof degrees."""
    e = pmc.simulate(link, shots, seed, "expected").histogram()
    a = pmc.simulate(link, shots, seed, "analog").histogram()
    m = e > 20
    chi2 = float(np.sum((a[m] - e[m]) ** 2 / e[m]))
    dof = int(m.sum())
    assert dof > 50
    assert chi2 < dof + 5 * math.sqrt(2 * dof), (chi2, dof)


# ------------------------------------------------------------------ filters
def test_lorentzian_filter_passes_the_spectral_overlap():
    # T1 = 0.6 ns: a Lorentzian line of FWHM 0.265 GHz; a filter as wide passes F/(F + g)
    g = 1.0 / (2 * math.pi * T1)
    r = _expected(_link(BandpassFilter(fwhm_ghz=0.265), jitter_ps=0.0, stop=40.0))
    assert r.clicks_per_shot.value == pytest.approx(0.265 / (0.265 + g), abs=2e-5)
    assert r.clicks_per_shot.value == pytest.approx(0.4998, abs=1e-4)


def test_broad_filter_is_the_v1_limit():
    plain = _expected(_link()).histogram()
    broad = _expected(_link(BandpassFilter(fwhm_ghz=1e5))).histogram()
    assert broad.sum() == pytest.approx(plain.sum(), rel=2e-5)
    np.testing.assert_allclose(broad, plain, atol=1e-5 * plain.max())


def test_filtered_shape_is_the_cascaded_decay():
    # no jitter: the expected bins are differences of the closed-form CDF
    link = _link(BandpassFilter(fwhm_ghz=0.4, center_ghz=0.1), jitter_ps=0.0, start=0.0)
    h = _expected(link).histogram()
    edges = link.tagger.bin_edges_ns
    with jax.enable_x64(True):
        cdf = np.asarray(spectra.lorentzian_exp_cdf(jnp.asarray(edges), T1, 0.0, 0.1, 0.4))
    np.testing.assert_allclose(h, np.diff(cdf), atol=2e-6)


def test_a_narrow_filter_lengthens_the_photon():
    wide = _expected(_link(jitter_ps=0.0, start=0.0, stop=20.0))
    narrow = _expected(_link(BandpassFilter(fwhm_ghz=0.1), jitter_ps=0.0, start=0.0, stop=20.0))
    centres = _link(start=0.0, stop=20.0).tagger.bin_edges_ns[:-1] + 0.025

    def mean(r):
        h = r.histogram()
        return float(np.sum(h * centres) / h.sum())

    # the coherent cascade: I ~ (exp(-G t/2) - exp(-k t/2))^2, G = 1/T1, k = 2 pi F
    g, k = 1.0 / T1, 2 * math.pi * 0.1
    norm = 1 / g - 4 / (g + k) + 1 / k
    first = 1 / g**2 - 8 / (g + k) ** 2 + 1 / k**2
    assert mean(wide) == pytest.approx(T1, abs=2e-3)
    assert mean(narrow) == pytest.approx(first / norm, rel=2e-3)
    assert mean(narrow) > T1 + 1 / k  # longer than an incoherent cascade


@pytest.mark.slow  # an analog and an expected compilation of their own
@pytest.mark.parametrize(
    "filt,source",
    [
        (dict(fwhm_ghz=0.265), dict(spectral_diffusion_fwhm_ghz=0.5)),
        (dict(fwhm_ghz=0.4, shape="gaussian"), dict(dephasing_time_ns=1.0)),
    ],
)
def test_filter_analog_agrees_with_expected(filt, source):
    _chi2_agrees(_link(BandpassFilter(**filt), **source))


@pytest.mark.slow
def test_filter_gradient_matches_finite_differences():
    def clicks(f):
        link = _link(BandpassFilter(fwhm_ghz=0.3), spectral_diffusion_fwhm_ghz=0.2)
        link = pmc.parameters.set_values(link, {"filter.fwhm_ghz": f})
        counts, _, _ = pmc.expected_counts(link, nodes=(8, 8))
        return jnp.sum(counts[0, 40:80])

    with jax.enable_x64(True):
        f0 = jnp.asarray(0.3)
        grad = float(jax.grad(clicks)(f0))
        eps = 1e-5
        fd = (float(clicks(f0 + eps)) - float(clicks(f0 - eps))) / (2 * eps)
    assert grad == pytest.approx(fd, rel=1e-5, abs=1e-9)


# -------------------------------------------------------------------- fibres
def test_dispersion_spreads_the_rise():
    # 100 km of D = 17 fibre: 2.1 % of the light before t = 0, 10-90 % rise ~ 107 ps
    link = _link(
        Fiber(length_km=100.0, loss_db_per_km=0.0), jitter_ps=0.0, start=-3.0, stop=3.0, bin_ps=1.0
    )
    assert dict(link.reshaping) == {"fiber": "dispersed"}
    h = _expected(link).histogram()
    cum = np.cumsum(h)
    edges = link.tagger.bin_edges_ns
    before = cum[np.searchsorted(edges, 0.0) - 1]
    phi = abs(float(dispersion.gdd_ns2(17.0, 100.0, 1550.0)))
    # the tail law below -3 ns is outside the window: add it (atan(a/X)/pi)
    outside = math.atan(phi / (2 * T1) / 3.0) / math.pi
    assert before + outside == pytest.approx(0.0214, abs=1e-3)
    # 10-90 % rise of the leading edge of the intensity
    peak = h.max()
    t10 = edges[np.argmax(h >= 0.1 * peak)]
    t90 = edges[np.argmax(h >= 0.9 * peak)]
    assert (t90 - t10) * 1e3 == pytest.approx(107.4, abs=2.0)


def test_short_fibre_keeps_the_v1_shape():
    assert _link(Fiber(length_km=0.01)).reshaping == ()
    plain = _expected(_link()).histogram()
    short = _expected(_link(Fiber(length_km=0.01, loss_db_per_km=0.0))).histogram()
    np.testing.assert_allclose(short, plain, atol=1e-9)


@pytest.mark.slow  # an analog and an expected compilation of their own
def test_dispersion_analog_agrees_with_expected():
    _chi2_agrees(_link(Fiber(length_km=100.0, loss_db_per_km=0.0), feeding_time_ns=0.05))


# ------------------------------------------------------------------ memories
@pytest.mark.parametrize("t2_star,stored", [(None, 0.7990), (3.0, 0.6865), (0.6, 0.4215)])
def test_memory_stores_the_mixed_state_overlap(t2_star, stored):
    r = _expected(_link(_memory(write=1.0), dephasing_time_ns=t2_star))
    assert r.internal_efficiency().value == pytest.approx(stored, abs=1e-4)


@pytest.mark.slow
def test_memory_stored_fraction_by_quadrature():
    # <phi|rho|phi> as a double integral of the first-order coherence (independent)
    t2s, tw, fw = 1.5, 0.65, 1.0
    s = fw / (2 * math.sqrt(2 * math.log(2)))

    def phi(t):
        return (2 * math.pi * s * s) ** -0.25 * math.exp(-((t - tw) ** 2) / (4 * s * s))

    def g1(t, u):
        return math.exp(-(t + u) / (2 * T1)) * math.exp(-abs(t - u) / t2s) / T1

    val, _ = integrate.dblquad(lambda u, t: phi(t) * g1(t, u) * phi(u), 0, 12, 0, 12)
    r = _expected(_link(_memory(write=1.0), dephasing_time_ns=t2s))
    assert r.internal_efficiency().value == pytest.approx(val, abs=1e-5)


def test_unstored_light_carries_the_write_dip():
    link = _link(_memory(write=0.5), jitter_ps=0.0, start=-1.05)
    r = _expected(link)
    h = r.histogram(origin="source")
    edges = link.tagger.bin_edges_ns
    window = (edges[:-1] >= 0.85 - 1e-9) & (edges[1:] <= 2.05 + 1e-9)
    assert h[window].sum() == pytest.approx(0.1015, abs=1e-4)
    # the norm is 1 - eta_w O exactly
    o = _expected(_link(_memory(write=1.0))).internal_efficiency().value
    assert r.detector().total("source") == pytest.approx(1 - 0.5 * o, abs=1e-6)


def test_dip_is_gone_without_a_write():
    plain = _expected(_link()).histogram()
    none = _expected(_link(_memory(write=0.0))).histogram(origin="source")
    np.testing.assert_allclose(none, plain, atol=1e-9)


@pytest.mark.slow  # an analog run through the dephased write dip: ~40 s on 2 cores
def test_memory_analog_agrees_with_expected():
    link = _link(
        _memory(write=0.5, read=0.8),
        dephasing_time_ns=1.0,
        feeding_time_ns=0.05,
        spectral_diffusion_fwhm_ghz=0.3,
    )
    assert dict(link.reshaping) == {"memory": (9, 17)}
    _chi2_agrees(link)


def test_retrieved_light_is_in_the_memorys_mode():
    # a filter after the memory passes the same fraction of the retrieved light whatever
    # the input's spectral diffusion (the carrier is the memory's)
    def retrieved(sd):
        link = _link(_memory(write=1.0, transmission=0.0), BandpassFilter(fwhm_ghz=0.5))
        link = link.set("qd.spectral_diffusion_fwhm_ghz", sd)
        r = _expected(link)
        return r.detector().total("retrieved") / r.internal_efficiency().value

    assert retrieved(2.0) == pytest.approx(retrieved(0.0), rel=1e-9)


def test_dip_gradient_matches_finite_differences():
    def leak(eta):
        link = _link(_memory(write=0.5), feeding_time_ns=0.05)
        link = pmc.parameters.set_values(link, {"memory.write_efficiency": eta})
        counts, _, _ = pmc.expected_counts(link, nodes=(8, 4))
        return jnp.sum(counts[0, 38:62])

    with jax.enable_x64(True):
        e0 = jnp.asarray(0.5)
        grad = float(jax.grad(leak)(e0))
        eps = 1e-5
        fd = (float(leak(e0 + eps)) - float(leak(e0 - eps))) / (2 * eps)
    assert grad == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.slow  # an analog and an expected compilation of their own
def test_filtered_detection_times_follow_the_closed_form():
    # analog draws of a filtered photon (no jitter) against the cascade's exact CDF (KS)
    link = _link(BandpassFilter(fwhm_ghz=0.4), jitter_ps=0.0, start=0.0, stop=30.0, bin_ps=10.0)
    d = pmc.simulate(link, 200_000, 11, "analog", chunk_shots=1 << 14).detector()
    n = d.total("source")
    ecdf = np.concatenate([[0.0], np.cumsum(d.histogram("source"))]) / n
    with jax.enable_x64(True):
        edges = jnp.asarray(link.tagger.bin_edges_ns)
        cdf = np.asarray(spectra.lorentzian_exp_cdf(edges, T1, 0.0, 0.0, 0.4))
    cdf = cdf / float(spectra.transmission_lorentzian_exp(T1, 0.0, 0.0, 0.4))
    assert np.max(np.abs(ecdf - cdf)) < 1.95 / math.sqrt(n)  # KS 0.1 % critical value
