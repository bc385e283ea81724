"""Hong-Ou-Mandel interference: spectral diffusion with a correlation time, every photon
meeting on the splitter interfered, and the expected centre-peak coincidences
(docs/physics.md 3.1, 4.3, 6.4), against closed forms, quadrature, a Fock-space
calculation and analog runs."""

from __future__ import annotations

import dataclasses
import itertools
import math
import pathlib
from collections import Counter, defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import photonmc as pmc
from photonmc import parameters as P
from photonmc.config import load_config
from photonmc.expected import hom_coincidences, laplace_decay_mean, mean_pair_overlap, pair_overlap
from photonmc.stages import Context
from photonmc.stages.interferometer import output_distribution
from photonmc.timetags import TimeTags

PERIOD_NS = 12.5  # 80 MHz
HOM_QD = pathlib.Path(__file__).resolve().parents[1] / "configs" / "hom_qd.toml"

# ------------------------------------------------- the splitter's permanent rule
BS = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)  # rows: outputs t, r; columns: a, b


def fock_distribution(ports, states):
    """P(n_t = k) of photons in input `ports` with internal `states` (rows), by expanding
    the product of creation operators in the output modes (independent of the code)."""
    poly = {(): 1.0 + 0j}
    for port, phi in zip(ports, states, strict=True):
        new = defaultdict(complex)
        for mono, c in poly.items():
            for out in range(2):
                for x, amp in enumerate(phi):
                    if amp != 0:
                        new[tuple(sorted((*mono, (out, x))))] += c * BS[out, port] * amp
        poly = new
    p = np.zeros(len(ports) + 1)
    for mono, c in poly.items():
        norm = math.prod(math.factorial(v) for v in Counter(mono).values())
        p[sum(1 for o, _ in mono if o == 0)] += abs(c) ** 2 * norm
    return p / p.sum()  # normalises photons sharing a port and an internal state


def pairs_of(ports, gram):
    """E[n_t n_r] of the pair rule: 1/2 per same-port pair, (1 - |S_ij|^2) / 2 otherwise."""
    n = len(ports)
    return sum(
        0.5 if ports[i] == ports[j] else 0.5 * (1.0 - abs(gram[i, j]) ** 2)
        for i, j in itertools.combinations(range(n), 2)
    )


def test_two_photons_and_one_indistinguishable_give_three_eighths_and_one_eighth():
    """|2,1> of indistinguishable photons: P(3,0) = P(0,3) = 3/8, P(2,1) = P(1,2) = 1/8."""
    p = np.asarray(output_distribution(3, pairs_of([0, 0, 1], np.ones((3, 3)))))
    np.testing.assert_allclose(p[:4], [3 / 8, 1 / 8, 1 / 8, 3 / 8], atol=1e-7)
    np.testing.assert_allclose(fock_distribution([0, 0, 1], np.ones((3, 1))), p[:4], atol=1e-12)


@pytest.mark.parametrize(
    "ports, states",
    [
        ([0, 1], [[1, 0], [0.6, 0.8j]]),  # a pair, overlap 0.36
        ([0, 0, 1], [[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.5**0.5]]),  # one arm's photons orthogonal
        ([0, 0, 1], [[1], [1], [1]]),  # all identical
        ([0, 0, 1, 1], [[1], [1], [1], [1]]),  # |2,2>: 3/8, 0, 1/4, 0, 3/8
        ([0, 0, 1, 1], np.eye(4)),  # distinguishable: binomial
    ],
    ids=["1+1", "2+1-orthogonal-arm", "2+1-identical", "2+2-identical", "2+2-distinct"],
)
def test_output_distribution_is_the_permanent_rule(ports, states):
    """Against the Fock-space expansion of the 50:50 splitter, for the cases the rule is
    exact in: photons of one arm orthogonal or identical (two photons of one shot)."""
    states = np.asarray(states, complex)
    states = states / np.linalg.norm(states, axis=1)[:, None]
    gram = states.conj() @ states.T
    want = fock_distribution(ports, states)
    got = np.asarray(output_distribution(len(ports), pairs_of(ports, gram)))
    np.testing.assert_allclose(got[: len(ports) + 1], want, atol=1e-6)
    assert got[len(ports) + 1 :].sum() == 0.0


def test_four_photons_keep_the_exact_mean_coincidence_number():
    """Two photons per arm between the limits (one identical pair across the arms, the
    others distinguishable): the split of P(n_t) is an interpolation, but E[n_t n_r], which
    sets the coincidence peak, is the Fock-space one."""
    ports = [0, 0, 1, 1]
    states = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], complex)
    want = fock_distribution(ports, states)
    got = np.asarray(output_distribution(4, pairs_of(ports, states.conj() @ states.T)))
    k = np.arange(5)
    assert np.sum(k * (4 - k) * got) == pytest.approx(np.sum(k * (4 - k) * want), abs=1e-6)
    assert np.sum(got) == pytest.approx(1.0) and np.all(got >= 0)
    np.testing.assert_allclose(got, got[::-1], atol=1e-7)


# --------------------------------------------- Ornstein-Uhlenbeck spectral diffusion
def emitted(qd, n_shots, key):
    """The analog photons of one chunk of `n_shots` shots (shot, nu, weight)."""
    ctx = Context(
        "analog",
        qd.wavelength_nm,
        qd.period_ns,
        n_shots=n_shots,
        capacity={qd.name: qd.emitting_capacity(n_shots)},
        chunk_shots=n_shots,
    )
    batch = jax.jit(lambda k: qd.emit(k, n_shots, ctx)[0])(jax.random.key(key))
    first = [
        np.asarray(x).reshape(len(x), -1)[:, 0] for x in (batch.shot, batch.nu_ghz, batch.weight)
    ]
    keep = first[2] > 0
    return (x[keep] for x in first)


@pytest.mark.parametrize("mu, g2", [(1.0, 0.5), (0.05, 0.0)], ids=["bright-pairs", "dim"])
def test_wandering_is_stationary_and_correlated_with_a_to_the_gap(mu, g2):
    """nu has the Gaussian marginal of sigma_sd; offsets g shots apart correlate as
    a^g = exp(-g T_rep / tau_c), over the emitting shots' actual gaps (a dim source
    draws only those); the two photons of a shot share their offset."""
    sd, tau_c = 0.4, 30.0
    qd = pmc.QuantumDot(
        rep_rate_mhz=80.0,
        lifetime_ns=0.6,
        mean_photon_number=mu,
        g2=g2,
        spectral_diffusion_fwhm_ghz=sd,
        spectral_diffusion_time_ns=tau_c,
    )
    shot, nu, _ = emitted(qd, 1 << 16, key=3)
    sigma = sd / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    n = nu.size
    assert abs(nu.mean()) < 5 * sigma * math.sqrt(2 * tau_c / PERIOD_NS / n) + 1e-3
    assert abs(nu.std() / sigma - 1.0) < 0.05
    order = np.argsort(shot, kind="stable")
    shot, nu = shot[order], nu[order]
    if g2 > 0:
        same = np.diff(shot) == 0
        assert same.sum() > 1000
        np.testing.assert_array_equal(nu[1:][same], nu[:-1][same])
        first = np.concatenate([[True], ~same])
        shot, nu = shot[first], nu[first]
    gap = np.diff(shot)
    x, y = nu[:-1] / sigma, nu[1:] / sigma
    a = np.exp(-gap * PERIOD_NS / tau_c)
    # y - a x is N(0, 1 - a^2) and independent of x (the Markov step)
    r = (y - a * x) / np.sqrt(1.0 - a**2)
    assert abs(r.mean()) < 5 / math.sqrt(r.size)
    assert abs(r.var() - 1.0) < 5 * math.sqrt(2.0 / r.size)
    assert abs(np.mean(r * x)) < 5 / math.sqrt(r.size)


def test_no_correlation_time_draws_independent_offsets():
    qd = pmc.QuantumDot(
        rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=1.0, spectral_diffusion_fwhm_ghz=0.4
    )
    _, nu, _ = emitted(qd, 1 << 16, key=3)
    c = np.corrcoef(nu[:-1], nu[1:])[0, 1]
    assert abs(c) < 5 / math.sqrt(nu.size)
    slow = dataclasses.replace(qd, spectral_diffusion_time_ns=1e3)
    _, nu_slow, _ = emitted(slow, 1 << 16, key=3)
    assert np.corrcoef(nu_slow[:-1], nu_slow[1:])[0, 1] > 0.95


def overlap_by_quadrature(t1, tau_f, sd_fwhm, t2_star, rho, delay):
    """E[|<psi_i|psi_j>|^2] of photons whose offsets have correlation rho, the second
    delayed by `delay` ns: feeding delays tau_f E_i, offsets N(0, sigma^2) each."""
    from scipy import integrate

    t2 = 2 * t1 if t2_star is None else 1.0 / (1.0 / (2 * t1) + 1.0 / t2_star)
    if tau_f > 0:
        # tau_f (E_1 - E_2) is Laplace of scale tau_f; the kink at x = -delay is a break point
        time_part = sum(
            integrate.quad(
                lambda x: np.exp(-abs(x) / tau_f - abs(delay + x) / t1) / (2 * tau_f),
                a, b, epsabs=1e-14, epsrel=1e-12, limit=200,
            )[0]
            for a, b in ((-np.inf, min(0.0, -delay)), (min(0.0, -delay), max(0.0, -delay)),
                         (max(0.0, -delay), np.inf))
        )  # fmt: skip
    else:
        time_part = math.exp(-abs(delay) / t1)
    sigma = sd_fwhm / (2 * math.sqrt(2 * math.log(2)))
    s = math.sqrt(2.0 * (1.0 - rho)) * sigma  # of the difference
    if s > 0:
        freq_part = integrate.quad(
            lambda d: np.exp(-0.5 * (d / s) ** 2) / (math.sqrt(2 * np.pi) * s)
            / (1 + (np.pi * d * t2) ** 2),
            -12 * s, 12 * s, epsabs=1e-13, points=[0.0], limit=200,
        )[0]  # fmt: skip
    else:
        freq_part = 1.0
    return time_part * freq_part * t2 / (2 * t1)


@pytest.mark.parametrize(
    "tau_c, delay",
    [(None, 0.0), (5.0, 0.0), (100.0, 0.3), (1e5, -0.2)],
    ids=["uncorrelated", "fast", "slow-delayed", "frozen-delayed"],
)
def test_pair_overlap_against_quadrature(tau_c, delay):
    qd = pmc.QuantumDot(
        rep_rate_mhz=80.0,
        lifetime_ns=0.6,
        feeding_time_ns=0.05,
        spectral_diffusion_fwhm_ghz=0.3,
        dephasing_time_ns=3.0,
        spectral_diffusion_time_ns=tau_c,
    )
    rho = 0.0 if tau_c is None else math.exp(-PERIOD_NS / tau_c)
    want = overlap_by_quadrature(0.6, 0.05, 0.3, 3.0, rho, delay)
    with jax.enable_x64(True):
        qd64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), qd)
        got = float(pair_overlap(qd64, 1, delay))
    assert got == pytest.approx(want, rel=1e-7)
    if delay == 0.0:
        assert mean_pair_overlap(qd) == pytest.approx(got, rel=1e-12)


def test_hom_qd_source_overlap_rises_when_the_wandering_is_slow():
    """configs/hom_qd.toml's source: M = 0.560 with a new offset every shot, toward 0.659
    (no spectral diffusion) as tau_c grows; the visibility M / (1 + g2) likewise."""
    link = load_config(HOM_QD).link
    fast = mean_pair_overlap(link.source)
    slow = mean_pair_overlap(dataclasses.replace(link.source, spectral_diffusion_time_ns=1e5))
    frozen = mean_pair_overlap(dataclasses.replace(link.source, spectral_diffusion_fwhm_ghz=0.0))
    assert fast == pytest.approx(0.5598, abs=1e-4)
    assert frozen == pytest.approx(0.6593, abs=1e-4)
    assert fast < slow < frozen and frozen - slow < 1e-3


@pytest.mark.parametrize("t", [0.0, 0.05, 0.3, 0.6, 2.0])
def test_laplace_decay_mean_regular_at_equal_times(t):
    with jax.enable_x64(True):
        got = float(laplace_decay_mean(jnp.float64(0.4), jnp.float64(t), jnp.float64(0.6)))
        near = float(laplace_decay_mean(jnp.float64(0.4), jnp.float64(t + 1e-7), jnp.float64(0.6)))
    assert np.isfinite(got) and abs(got - near) < 1e-6
    assert got == pytest.approx(overlap_by_quadrature(0.6, t, 0.0, None, 0.0, 0.4), rel=1e-7)


# -------------------------------------------------- analog against expected
def hom_link(qd, polarisation, delay=0.0):
    return pmc.Link(
        [
            qd,
            pmc.HOMInterferometer(polarisation=polarisation, delay_ns=delay),
            pmc.Detector(efficiency=0.9, name="c", branch="hom.transmitted"),
            pmc.Detector(efficiency=0.8, name="d", branch="hom.reflected"),
        ],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=24.0),
    )


def centre_peak(link, shots, key):
    """(centre-peak coincidences, their standard error). The error comes from the pairs
    per slot (a slot can give several, so the count is not Poisson): slot k holds the
    clicks at k T_rep - T_rep / 4 .. k T_rep + 3 T_rep / 4."""
    blocks = []
    pmc.simulate(link, shots, key=key, chunk_shots=1 << 15, on_records=blocks.append)
    rec = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    tags = TimeTags(
        rec["channel"], rec["time_ps"], shot=rec["shot"], period_ps=PERIOD_NS * 1e3,
        channels=("c", "d"),
    )  # fmt: skip
    _, counts = tags.peak_areas(0, 1, side_peaks=3)
    slot = np.floor(np.asarray(rec["time_ps"], np.float64) / (PERIOD_NS * 1e3) + 0.25)
    slot = slot.astype(np.int64)
    per = [np.bincount(slot[rec["channel"] == c], minlength=shots + 2) for c in (0, 1)]
    n = min(p.size for p in per)
    pairs = per[0][:n] * per[1][:n]
    err = math.sqrt(max(np.sum(pairs**2.0) - np.sum(pairs) ** 2 / n, 1.0))
    return float(counts[3]), err


def expected_centre(link, shots):
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        return tuple(float(c) * shots for c in hom_coincidences(link64))


def assert_centre_peaks_agree(qd, shots, key, delay=0.0):
    """Analog centre peaks of both settings equal the expected ones (Poisson, 5 sigma)."""
    out = {}
    for i, pol in enumerate(("parallel", "orthogonal")):
        link = hom_link(qd, pol, delay)
        analog, err = centre_peak(link, shots, key)
        expected = expected_centre(link, shots)[i]
        assert abs(analog - expected) < 5 * err, (pol, analog, expected, err)
        out[pol] = analog, expected, err
    return out


def test_multi_photon_slots_interfere_by_the_permanent_rule():
    """A high-g2 source (half the shots hold two photons; 3- and 4-photon meetings are
    common) of identical photons: analog centre peaks match the exact expectation,
    C0 = S_c S_d (1 + g2 - M) / 2, in both settings; pairs-only interference would not."""
    qd = pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=1.0, g2=1.0)
    out = assert_centre_peaks_agree(qd, 60_000, key=5)
    # the multi-photon part is large: without it the parallel peak would be g2/(1 + g2) lower
    par, orth = out["parallel"][1], out["orthogonal"][1]
    assert out["parallel"][2] > 1.1 * math.sqrt(par)  # slots with several pairs
    assert par / orth == pytest.approx(1.0 / 2.0, rel=1e-9)


def test_slow_wandering_raises_the_analog_visibility_as_expected():
    """hom_qd.toml's source with tau_c = 1e5 ns: analog visibility = expected, and above
    the uncorrelated one (0.549 -> 0.646)."""
    src = load_config(HOM_QD).link.source
    slow = dataclasses.replace(src, spectral_diffusion_time_ns=1e5)
    out = assert_centre_peaks_agree(slow, 100_000, key=7)
    (ap, ep, sp), (ao, eo, so) = out["parallel"], out["orthogonal"]
    v_analog, v_exp = 1 - ap / ao, 1 - ep / eo
    err = (ap / ao) * math.hypot(sp / ap, so / ao)
    assert abs(v_analog - v_exp) < 5 * err
    v_fast = 1 - np.divide(*expected_centre(hom_link(src, "parallel"), 1))
    assert v_fast == pytest.approx(0.549, abs=2e-3)
    assert v_exp == pytest.approx(0.646, abs=2e-3)


def test_hom_dip_versus_delay_analog_and_expected():
    """A long-arm delay of 0.4 ns: the overlap falls by E[exp(-|d + tau_f dE| / T1)]."""
    qd = pmc.QuantumDot(
        rep_rate_mhz=80.0, lifetime_ns=0.6, feeding_time_ns=0.1, mean_photon_number=1.0,
        dephasing_time_ns=2.0,
    )  # fmt: skip
    assert_centre_peaks_agree(qd, 60_000, key=9, delay=0.4)


# ------------------------------------------------------------------ gradients
GRADIENT_AT = {
    "qd.dephasing_time_ns": 3.0,
    "qd.spectral_diffusion_fwhm_ghz": 0.3,
    "qd.spectral_diffusion_time_ns": 40.0,
    "qd.feeding_time_ns": 0.05,
    "qd.lifetime_ns": 0.6,
    "qd.g2": 0.05,
    "hom.delay_ns": 0.2,
}


def test_coincidence_gradients_match_central_differences():
    """d(C0 parallel / C0 orthogonal) by autodiff against central differences, for every
    parameter of the new laws (the OU correlation time, the delay) and the old ones."""
    qd = pmc.QuantumDot(
        rep_rate_mhz=80.0, lifetime_ns=0.6, feeding_time_ns=0.05, mean_photon_number=0.8,
        g2=0.05, spectral_diffusion_fwhm_ghz=0.3, dephasing_time_ns=3.0,
        spectral_diffusion_time_ns=40.0,
    )  # fmt: skip
    names = list(GRADIENT_AT)
    x0 = np.array([GRADIENT_AT[n] for n in names])
    with jax.enable_x64(True):
        link64 = P.as_float64(hom_link(qd, "parallel", delay=0.2))

        @jax.jit
        def f(x):
            lk = P.set_values(link64, {n: x[i] for i, n in enumerate(names)})
            c_par, c_orth = hom_coincidences(lk)
            return c_par / c_orth

        grad = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(x0)))
        for i, n in enumerate(names):
            h = 1e-5 * max(abs(x0[i]), 1.0)
            up, down = x0.copy(), x0.copy()
            up[i] += h
            down[i] -= h
            fd = (float(f(jnp.asarray(up))) - float(f(jnp.asarray(down)))) / (2 * h)
            assert np.isfinite(grad[i]) and grad[i] == pytest.approx(fd, rel=1e-5, abs=1e-9), n
