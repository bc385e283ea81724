"""Tests of photonmc.kernels.overlap against quadrature and closed forms.

See docs/physics.md 3.4 and 7.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special

from photonmc.kernels.overlap import overlap_exp, overlap_gauss

# QUADPACK warns where the carrier cancels the integral below its rounding; the error
# bound of _quad_amplitude accounts for that instead.
pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

# The docs/physics.md 3.4 range: T1 0.05-5 ns, mode FWHM 0.1-5 ns, |t_ref - t_w| <= 20 mode
# FWHM, |nu| <= 10 GHz. d is in units of the mode FWHM.
LIFETIMES = (0.05, 0.4, 5.0)
MODE_FWHMS = (0.1, 1.0, 5.0)
D_OVER_FWHM = (-20.0, -3.0, -0.5, 0.0, 0.7, 2.0, 5.0, 20.0)
NUS = (0.0, 0.05, -0.5, 3.0, 10.0)
T_W = 1.5


def _grid(widths):
    """Rows (t_ref, width, nu, t_w, mode_fwhm) over the docs/physics.md range.

    Rounded to float32, so that one float64 reference serves both dtypes: the kernel
    cannot know better than the inputs it is given.
    """
    rows = [
        (T_W - k * fw, w, nu, T_W, fw)
        for w, fw, k, nu in itertools.product(widths, MODE_FWHMS, D_OVER_FWHM, NUS)
    ]
    return np.array(rows).astype(np.float32).astype(np.float64)


def _gauss_mode(t, t_w, s):
    return (2.0 * np.pi * s**2) ** -0.25 * np.exp(-((t - t_w) ** 2) / (4.0 * s**2))


def _quad_amplitude(envelope, lo, hi, omega, breaks):
    """integral over [lo, hi] of envelope(u) exp(-i omega u), real and imaginary parts.

    QUADPACK's QAWO (weight='cos'/'sin') handles the carrier however fast it is; the
    envelope (>= 0) is split at its kinks and peaks (`breaks`). Returns the amplitude and
    an error bound: QUADPACK's estimate, but never below 1e-13 of integral |envelope|,
    since cancellation by the carrier cannot be resolved below the rounding of the
    unweighted integral (QUADPACK's estimate is too optimistic there).
    """
    edges = [lo] + sorted(b for b in breaks if lo < b < hi) + [hi]
    pieces = [
        integrate.quad(envelope, a, b, epsabs=0.0, epsrel=1e-13, limit=1000)
        for a, b in itertools.pairwise(edges)
    ]
    scale = sum(r for r, _ in pieces)
    if omega == 0.0:
        return complex(scale, 0.0), max(sum(e for _, e in pieces), 1e-13 * scale)
    opts = dict(epsabs=1e-15 * scale, epsrel=1e-13, limit=1000)
    re = im = err = 0.0
    for a, b in itertools.pairwise(edges):
        r, e1 = integrate.quad(envelope, a, b, weight="cos", wvar=omega, **opts)
        i, e2 = integrate.quad(envelope, a, b, weight="sin", wvar=omega, **opts)
        re, im, err = re + r, im - i, err + e1 + e2
    return complex(re, im), max(err, 1e-13 * scale)


def _quad_exp(t_ref, t1, nu, t_w, fwhm):
    """Reference |<phi_in|psi>|^2 for EXP by quadrature in u = t - t_ref >= 0."""
    s = fwhm / FWHM_PER_SIGMA
    d = t_w - t_ref

    def envelope(u):
        return _gauss_mode(u, d, s) * np.exp(-u / (2.0 * t1)) / np.sqrt(t1)

    # Past 40 s beyond the mode centre the integrand is below e^-400.
    hi = max(d, 0.0) + 40.0 * s
    breaks = [d - 8.0 * s, d, d + 8.0 * s, 30.0 * t1]
    amp, err = _quad_amplitude(envelope, 0.0, hi, 2.0 * np.pi * nu, breaks)
    return abs(amp) ** 2, err * (2.0 * abs(amp) + err)


def _quad_gauss(t_ref, fwhm, nu, t_w, mode_fwhm):
    """Reference |<phi_in|psi>|^2 for GAUSS by quadrature in u = t - t_ref."""
    sp, s = fwhm / FWHM_PER_SIGMA, mode_fwhm / FWHM_PER_SIGMA
    d = t_w - t_ref

    def envelope(u):
        return _gauss_mode(u, 0.0, sp) * _gauss_mode(u, d, s)

    # Each factor is below e^-400 beyond 40 of its sigmas: integrate where both are not.
    lo, hi = max(-40.0 * sp, d - 40.0 * s), min(40.0 * sp, d + 40.0 * s)
    if lo >= hi:
        return 0.0, 0.0
    amp, err = _quad_amplitude(envelope, lo, hi, 2.0 * np.pi * nu, [0.0, d])
    return abs(amp) ** 2, err * (2.0 * abs(amp) + err)


def _erfc_exp_nu0(t_ref, t1, t_w, fwhm):
    """EXP overlap at nu = 0 from the exponentially modified Gaussian amplitude.

    integral_0^inf exp(-(u - d)^2 / (4 s^2) - u / (2 T1)) du
      = s sqrt(pi) exp(a^2 - 2 a delta) erfc(a - delta),
    a = s / (2 T1), delta = d / (2 s) (complete the square). The log of erfc comes from
    log_ndtr, so no branch is needed anywhere.
    """
    s = fwhm / FWHM_PER_SIGMA
    a = s / (2.0 * t1)
    delta = (t_w - t_ref) / (2.0 * s)
    log_erfc = np.log(2.0) + special.log_ndtr(-np.sqrt(2.0) * (a - delta))
    log_amp = (
        -0.25 * np.log(2.0 * np.pi * s**2)
        - 0.5 * np.log(t1)
        + np.log(s * np.sqrt(np.pi))
        + a * (a - 2.0 * delta)
        + log_erfc
    )
    return np.exp(2.0 * log_amp)


def _eval(fn, rows, dtype):
    cols = [jnp.asarray(c, dtype) for c in np.asarray(rows).T]
    return np.asarray(jax.jit(fn)(*cols)).astype(np.float64)


# ---------------------------------------------------------------- EXP against quadrature


@pytest.fixture(scope="module")
def exp_quad64():
    rows = _grid(LIFETIMES)
    ref = np.array([_quad_exp(*r) for r in rows])
    return rows, ref[:, 0], ref[:, 1]


def test_exp_quadrature_float64(exp_quad64):
    rows, ref, err = exp_quad64
    with jax.enable_x64(True):
        got = _eval(overlap_exp, rows, jnp.float64)
    # Relative 1e-6, except where the quadrature itself cannot resolve the value.
    tol = 1e-6 * ref + 2.0 * err + 1e-300
    assert np.all(np.abs(got - ref) <= tol), np.max(np.abs(got - ref) / tol)
    # The check is not vacuous: most of the grid is in the relative regime.
    assert np.mean(2.0 * err < 1e-6 * ref) > 0.6


def test_exp_quadrature_float32(exp_quad64):
    rows, ref, _ = exp_quad64
    got = _eval(overlap_exp, rows, jnp.float32)
    assert np.all((np.abs(got - ref) <= 1e-5 * ref) | (np.abs(got - ref) <= 1e-9))


def test_exp_nu0_erfc_closed_form():
    k = np.linspace(-20.0, 20.0, 161)
    rows = np.array(
        [
            (T_W - kk * fw, t1, 0.0, T_W, fw)
            for t1, fw, kk in itertools.product((0.05, 0.2, 1.0, 5.0), (0.1, 0.5, 2.0, 5.0), k)
        ]
    )
    ref = _erfc_exp_nu0(rows[:, 0], rows[:, 1], rows[:, 3], rows[:, 4])
    with jax.enable_x64(True):
        got = _eval(overlap_exp, rows, jnp.float64)
    big = ref > 1e-280  # below, float64 underflow (of O or of exp(log_amp)) decides
    np.testing.assert_allclose(got[big], ref[big], rtol=1e-10)
    assert np.all(got[~big] < 1e-270)


def test_exp_high_precision_reference():
    """Deep tails, where quadrature cannot reach relative accuracy: 40-digit erfc form."""
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    n = 150
    t1 = np.exp(rng.uniform(np.log(0.05), np.log(5.0), n))
    fw = np.exp(rng.uniform(np.log(0.1), np.log(5.0), n))
    d = rng.uniform(-20.0, 20.0, n) * fw
    nu = rng.choice([-1.0, 1.0], n) * np.exp(rng.uniform(np.log(1e-3), np.log(10.0), n))
    rows = np.stack([T_W - d, t1, nu, np.full(n, T_W), fw], axis=1)

    def exact(t_ref, t1, nu, t_w, fwhm):
        t_ref, t1, nu, t_w, fwhm = map(mp.mpf, (t_ref, t1, nu, t_w, fwhm))
        s = fwhm / (2 * mp.sqrt(2 * mp.log(2)))
        d, b = t_w - t_ref, 1 / (2 * t1) + 2j * mp.pi * nu
        amp = (2 * mp.pi * s**2) ** (-0.25) / mp.sqrt(t1) * s * mp.sqrt(mp.pi)
        amp *= mp.exp(-b * d + s**2 * b**2) * mp.erfc(-d / (2 * s) + s * b)
        return float(abs(amp) ** 2)

    with mp.workdps(40):
        ref = np.array([exact(*r) for r in rows])
    with jax.enable_x64(True):
        got = _eval(overlap_exp, rows, jnp.float64)
    big = ref > 1e-250
    assert big.mean() > 0.5
    np.testing.assert_allclose(got[big], ref[big], rtol=1e-6)
    assert np.all(got[~big] < 1e-240)


def test_exp_branch_seam_float32():
    """Im z = 0 (delta = a) is where the reflected form takes over; no step there."""
    rel = np.linspace(-0.2, 0.2, 81)
    rows = []
    for t1, fw, nu in itertools.product((0.05, 0.5, 5.0), (0.1, 1.0, 5.0), (0.0, 0.3, -2.0)):
        s = fw / FWHM_PER_SIGMA
        d_seam = s**2 / t1  # delta = a  <=>  d = s^2 / T1
        rows += [(T_W - d_seam * (1.0 + r), t1, nu, T_W, fw) for r in rel]
    rows = np.array(rows).astype(np.float32).astype(np.float64)
    got32 = _eval(overlap_exp, rows, jnp.float32)
    with jax.enable_x64(True):
        got64 = _eval(overlap_exp, rows, jnp.float64)
    assert np.all((np.abs(got32 - got64) <= 1e-5 * got64) | (np.abs(got32 - got64) <= 1e-9))


def test_exp_even_in_nu_and_bounded():
    rows = _grid(LIFETIMES)
    flipped = rows.copy()
    flipped[:, 2] *= -1.0
    with jax.enable_x64(True):
        a, b = _eval(overlap_exp, rows, jnp.float64), _eval(overlap_exp, flipped, jnp.float64)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300)
    assert np.all((a >= 0.0) & (a <= 1.0))


# Best overlap of an exponential with any Gaussian mode, at nu = 0. It depends only on
# s / T1 and d / T1; maximising the quadrature overlap (and, to 30 digits, the erfc form
# with mpmath) gives O* = 0.80098205919309444 at mode FWHM = 1.6101804 T1 and
# t_w - t_ref = T1 (to every digit computed).
BEST_EXP_OVERLAP = 0.80098205919309444
BEST_FWHM_OVER_T1 = 1.6101803984443205


def test_exp_best_mode_match():
    from scipy import optimize

    t1 = 0.7
    with jax.enable_x64(True):
        f = jax.jit(lambda p: -overlap_exp(0.0, t1, 0.0, p[1] * t1, p[0] * t1))
        res = optimize.minimize(
            lambda p: float(f(jnp.asarray(p))),
            x0=[1.0, 0.5],
            jac=lambda p: np.asarray(jax.grad(f)(jnp.asarray(p))),
            method="BFGS",
            options=dict(gtol=1e-12),
        )
    assert -res.fun == pytest.approx(BEST_EXP_OVERLAP, rel=1e-10)
    np.testing.assert_allclose(res.x, [BEST_FWHM_OVER_T1, 1.0], rtol=1e-5)
    # The same optimum, by quadrature, pins the constant independently of the kernel.
    assert _quad_exp(0.0, t1, 0.0, t1, BEST_FWHM_OVER_T1 * t1)[0] == pytest.approx(
        BEST_EXP_OVERLAP, rel=1e-12
    )
    # Perturbing either parameter lowers the quadrature overlap.
    for fw, d in ((1.58, 1.0), (1.64, 1.0), (1.61, 0.97), (1.61, 1.03)):
        assert _quad_exp(0.0, t1, 0.0, d * t1, fw * t1)[0] < BEST_EXP_OVERLAP


# ---------------------------------------------------------------- GAUSS


def test_gauss_quadrature():
    rows = _grid((0.05, 5.0))
    ref = np.array([_quad_gauss(*r) for r in rows])
    with jax.enable_x64(True):
        got = _eval(overlap_gauss, rows, jnp.float64)
    tol = 1e-6 * ref[:, 0] + 2.0 * ref[:, 1] + 1e-300
    assert np.all(np.abs(got - ref[:, 0]) <= tol)
    assert np.mean(2.0 * ref[:, 1] < 1e-6 * ref[:, 0]) > 0.6
    got32 = _eval(overlap_gauss, rows, jnp.float32)
    err32 = np.abs(got32 - ref[:, 0])
    assert np.all((err32 <= 1e-5 * ref[:, 0]) | (err32 <= 1e-9))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gauss_identity_and_symmetry(dtype):
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.dtype(dtype)
        gauss = jax.jit(overlap_gauss)
        w = jnp.asarray([1e-3, 0.1, 1.0, 3.3, 50.0], dt)
        same = gauss(2.0, w, 0.0, 2.0, w)
        assert same.dtype == dt
        np.testing.assert_array_equal(np.asarray(same), 1.0)
        t_ref, nu = jnp.asarray(1.3, dt), jnp.asarray(0.2, dt)
        a = gauss(t_ref, w[:, None], nu, 2.0, w[None, :])
        b = gauss(t_ref, w[None, :], nu, 2.0, w[:, None])
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=10 * jnp.finfo(dt).eps)
        assert np.all((np.asarray(a) >= 0.0) & (np.asarray(a) <= 1.0))


# ---------------------------------------------------------------- dtype, jit, shapes


def test_dtype_follows_inputs_and_broadcasts():
    out = jax.jit(overlap_exp)(jnp.zeros((3, 1)), 1.0, jnp.zeros(4), 1.0, 1.0)
    assert out.shape == (3, 4) and out.dtype == jnp.float32
    with jax.enable_x64(True):
        for fn in (jax.jit(overlap_exp), jax.jit(overlap_gauss)):
            assert fn(0.0, 1.0, 0.0, 1.0, 1.0).dtype == jnp.float64
            # Python scalars are weak: float32 arrays stay float32 under x64.
            out = fn(jnp.zeros(2, jnp.float32), 1.0, 0.0, 1.0, 1.0)
            assert out.dtype == jnp.float32 and out.shape == (2,)


# ---------------------------------------------------------------- no NaN, gradients

EXTREME_ROWS = np.array(
    [
        (-k * fw, t1, nu, 0.0, fw)
        for fw, t1, nu, k in itertools.product(
            (1e-3, 0.1, 5.0, 1e3),
            (1e-6, 0.05, 1.0, 1e6, 0.0),
            (0.0, 0.3, -10.0, 100.0, 1e3),
            (-1e3, -40.0, -1.0, 0.0, 1.0, 40.0, 1e3),
        )
    ]
)


@pytest.mark.parametrize("fn", [overlap_exp, overlap_gauss], ids=["exp", "gauss"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_values_and_gradients(fn, dtype):
    with jax.enable_x64(dtype == "float64"):
        cols = [jnp.asarray(c, dtype) for c in EXTREME_ROWS.T]
        value, grads = jax.jit(jax.vmap(jax.value_and_grad(fn, argnums=tuple(range(5)))))(*cols)
        assert value.dtype == jnp.dtype(dtype)
        assert np.all(np.isfinite(value))
        assert np.all((np.asarray(value) >= 0.0) & (np.asarray(value) <= 1.0))
        for g in grads:
            assert np.all(np.isfinite(g))


@pytest.mark.parametrize("fn", [overlap_exp, overlap_gauss], ids=["exp", "gauss"])
def test_gradient_matches_central_differences(fn):
    points = [
        (0.0, 0.8, 0.0, 1.0, 1.2),  # direct branch (Im z > 0)
        (0.0, 0.3, 0.25, 2.5, 0.9),  # reflected branch (Im z < 0)
        (0.4, 0.05, -0.7, 0.3, 0.4),  # mode centred before the photon starts
        (0.0, 1.0, 0.1, 2.0, 1.0),  # sp = s for GAUSS
        (5.0, 2.0, 0.02, 1.0, 3.0),
    ]
    with jax.enable_x64(True):
        grad = jax.jit(jax.grad(fn, argnums=tuple(range(5))))
        value = jax.jit(fn)
        for p in points:
            g = np.array([float(x) for x in grad(*map(jnp.float64, p))])
            fd = np.empty(5)
            for i in range(5):
                h = 1e-5 * max(abs(p[i]), 0.1)
                up, dn = np.array(p), np.array(p)
                up[i] += h
                dn[i] -= h
                fd[i] = (float(value(*up)) - float(value(*dn))) / (2.0 * h)
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    "feeding_ns, sd_fwhm_ghz, detuning_ghz",
    [(0.03, 0.3, 0.0), (0.0, 0.0, 0.0), (0.05, 0.2, 0.1), (0.02, 0.0, 0.0)],
)
def test_interpolated_exp_overlap_within_its_tolerance(feeding_ns, sd_fwhm_ghz, detuning_ghz):
    """The table against the exact formula (float64) on a source's own draws."""
    from photonmc.kernels.overlap import TABLE_TOLERANCE, overlap_exp_interpolated

    rng = np.random.default_rng(3)
    n = 50_000
    t = (feeding_ns * rng.exponential(size=n)).astype(np.float32)
    nu = (detuning_ghz + sd_fwhm_ghz / 2.3548 * rng.normal(size=n)).astype(np.float32)
    o, used = jax.jit(overlap_exp_interpolated)(t, 0.6, nu, 0.65, 1.0)
    with jax.enable_x64(True):
        exact = np.asarray(overlap_exp(t.astype(np.float64), 0.6, nu.astype(np.float64), 0.65, 1.0))
    assert bool(used)
    assert np.max(np.abs(np.asarray(o, np.float64) - exact)) <= TABLE_TOLERANCE


def test_interpolated_exp_overlap_falls_back_where_a_table_is_too_coarse():
    from photonmc.kernels.overlap import overlap_exp_interpolated

    rng = np.random.default_rng(4)
    t = (0.5 * rng.exponential(size=20_000)).astype(np.float32)  # 8 ns of feeding tail
    nu = (3.0 * rng.normal(size=20_000)).astype(np.float32)
    o, used = jax.jit(overlap_exp_interpolated)(t, 0.6, nu, 0.65, 1.0)
    assert not bool(used)
    exact = jax.jit(overlap_exp)(t, 0.6, nu, 0.65, 1.0)
    np.testing.assert_allclose(np.asarray(o), np.asarray(exact), rtol=1e-5, atol=1e-7)
    # several lifetimes: no table either
    life = np.where(np.arange(t.size) % 2 == 0, 0.6, 0.7).astype(np.float32)
    _, used = jax.jit(overlap_exp_interpolated)(t * 0.01, life, nu * 0.01, 0.65, 1.0)
    assert not bool(used)
