"""Fitting: parameter names and ranges, recovery from analog data, degeneracy, real data, CLI.

Links here have no feeding delay and no spectral diffusion (one quadrature node) and
coarse bins, so that each compiled objective takes seconds, not minutes.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import photonmc as pmc
from photonmc import parameters as P
from photonmc.cli import main
from photonmc.config import dump_config
from photonmc.expected import efficiency_curve
from photonmc.fit import FitError, build_problem, chi2_sf, deviance_terms
from photonmc.io.fit_hdf5 import read_fit
from photonmc.solver import Minimiser
from photonmc.stages import STAGE_TYPES, TimeTagger

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: Valid arguments of every stage type, for probing the ranges of their fields
STAGE_ARGS = {
    # a small mean photon number keeps g2 * mu <= 1 for any g2 probed
    "QuantumDot": dict(rep_rate_mhz=80.0, lifetime_ns=1.0, mean_photon_number=1e-7),
    "Fiber": dict(length_km=1.0),
    "Attenuator": dict(loss_db=1.0),
    "BandpassFilter": dict(fwhm_ghz=1.0),
    "LadderMemory": dict(
        write_time_ns=1.0,
        input_mode_fwhm_ns=1.0,
        output_mode_fwhm_ns=1.0,
        write_efficiency=0.5,
        read_efficiency=0.5,
        storage_time_ns=1.0,
        lifetime_ns=1.0,
    ),
    "OrcaMemory": dict(write_time_ns=0.0),
    "BeamSplitter": {},
    "HOMInterferometer": {},
    "Detector": dict(efficiency=0.5),
    "TimeTagger": dict(bin_width_ps=10.0, window_start_ns=0.0, window_stop_ns=1.0),
}
FREE = [
    "qd.lifetime_ns",
    "memory.write_efficiency",
    "memory.lifetime_ns",
    "detector.jitter_fwhm_ps",
    "detector.dark_count_rate_hz",
]
TRUTH = dict(lifetime=0.6, eta_w=0.6, mem=1.1, jitter=80.0, dark=2e4)
STORAGE_TIMES = (0.5, 1.0, 2.0)
SHOTS = 2_000_000


def memory_link(**kw) -> pmc.Link:
    """QD -> memory -> detector, one quadrature node, 100 ps bins over 8 ns."""
    p = {**TRUTH, **kw}
    return pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=p["lifetime"], mean_photon_number=0.5),
            pmc.LadderMemory(
                write_time_ns=0.9,
                input_mode_fwhm_ns=1.0,
                output_mode_fwhm_ns=0.8,
                write_efficiency=p["eta_w"],
                read_efficiency=0.7,
                storage_time_ns=1.0,
                lifetime_ns=p["mem"],
                transmission=0.9,
                read_noise_photons=0.01,
            ),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=p["dark"], jitter_fwhm_ps=p["jitter"]),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=7.0),
    )


def analog_datasets(link: pmc.Link, seed: int, shots: int = SHOTS) -> list[pmc.HistogramData]:
    """Analog histograms at each storage time, the storage time as each one's override."""
    out = []
    for i, tau in enumerate(STORAGE_TIMES):
        result = pmc.simulate(
            link.set("memory.storage_time_ns", tau), shots, key=1000 * seed + i, mode="analog"
        )
        out.append(
            pmc.HistogramData.from_result(
                result, overrides={"memory.storage_time_ns": tau}, name=f"tau_{tau}"
            )
        )
    return out


def curve(link: pmc.Link, sigma: float | None = 0.002, seed: int = 1) -> pmc.EfficiencyCurve:
    taus = np.linspace(0.2, 3.0, 12)
    eta = efficiency_curve(link, "memory.storage_time_ns", taus)
    y = eta + np.random.default_rng(seed).normal(0.0, 0.002, eta.size)
    err = None if sigma is None else np.full(eta.size, sigma)
    return pmc.EfficiencyCurve("memory.storage_time_ns", taus, y, err, name="curve")


@pytest.fixture(scope="module")
def recovery():
    truth = memory_link()
    data = analog_datasets(truth, seed=1)
    start = memory_link(lifetime=0.55, eta_w=0.5, mem=1.3, jitter=60.0, dark=3e4)
    return truth, data, start, pmc.fit(start, data, FREE)


# ------------------------------------------------------------ names, ranges
def test_ranges_match_the_stage_constructors():
    """Every continuous field of every stage type has a range, and it is the one the
    constructor enforces: values just inside are accepted, just outside refused."""
    types = {**STAGE_TYPES, "TimeTagger": TimeTagger}
    for cls_name, cls in types.items():
        fields = [f for f in dataclasses.fields(cls) if not f.metadata.get("static", False)]
        for f in fields:
            if f.name == "beat_terms":
                continue
            assert (cls_name, f.name) in P.RANGES, f"add {cls_name}.{f.name} to RANGES"
            assert cls_name in STAGE_ARGS, f"add valid arguments of {cls_name} to STAGE_ARGS"
            rng = P.RANGES[(cls_name, f.name)]
            args = dict(STAGE_ARGS[cls_name])

            def build(value, args=args, cls=cls, field=f.name):
                return cls(**{**args, field: value})

            for (bound, is_open), side in ((rng.low, -1), (rng.high, 1)):  # limits included
                if math.isinf(bound):
                    build(side * 1e6)  # far out on an unbounded side: accepted
                    continue
                step = 1e-6 * max(1.0, abs(bound))
                build(bound - side * step)
                with pytest.raises(ValueError):
                    build(bound + side * step)
                if is_open:
                    with pytest.raises(ValueError):
                        build(bound)
                else:
                    build(bound)
    memory = pmc.LadderMemory(**STAGE_ARGS["LadderMemory"], beat_terms=[[0.1, 0.02, 0.0]])
    with pytest.raises(ValueError):
        dataclasses.replace(memory, beat_terms=[[-0.1, 0.02, 0.0]])
    assert P.RANGES[("LadderMemory", "beat_terms.a")].lo == 0.0


def test_qualified_names_and_beat_terms():
    link = memory_link()
    beat = pmc.Link(
        [*link.stages[:1], dataclasses.replace(link.stages[1], beat_terms=[[0.3, 0.03, 0.5]]),
         *link.stages[2:]],
        link.tagger,
    )  # fmt: skip
    names = P.fittable_names(beat)
    assert "memory.beat_terms[0].phi" in names and "tagger.sync_offset_ns" in names
    p = P.parameter(beat, "memory.beat_terms[0].f_ghz")
    assert p.unit == "GHz" and float(p.get(beat)) == pytest.approx(0.03)
    moved = P.set_values(beat, {"memory.beat_terms[0].a": 0.4, "qd.lifetime_ns": 0.7})
    assert float(P.parameter(moved, "memory.beat_terms[0].a").get(moved)) == 0.4
    assert moved.get("qd.lifetime_ns") == 0.7 and beat.get("qd.lifetime_ns") == 0.6
    with pytest.raises(ValueError):  # the memory validates a plain beat amplitude
        P.set_values(beat, {"memory.beat_terms[0].a": -1.0})
    for name, fragment in (
        ("memory.lifetme_ns", "did you mean 'memory.lifetime_ns'?"),
        ("memory.beat_terms[3].a", "has 1 beat term"),
        ("memory.beat_terms[0].b", "unknown beat-term component"),
        ("memory.beat_terms", "address one entry"),
        ("tagger.bin_width_ps", "structural setting"),
        ("qd.dephasing_time_ns", "not set"),
        ("nope", "unknown parameter"),
    ):
        with pytest.raises(P.ParameterError, match=None) as info:
            P.parameter(beat, name)
        assert fragment in str(info.value) and "\n" not in str(info.value)


def test_transforms_round_trip_and_stay_in_range():
    with jax.enable_x64(True):
        for rng, x in (
            (P.Range(0.0, 1.0), 0.3),
            (P.Range(0.0, math.inf, lo_open=True), 2.5),
            (P.Range(1.0, math.inf), 1.5),
            (P.Range(-math.inf, 3.0), -2.0),
            (P.Range(), -7.0),
        ):
            t = P.Transform.of(rng)
            u = t.to_u(x)
            lo, hi = (
                np.array([t.lo if math.isfinite(t.lo) else 0.0]),
                np.array([t.hi if math.isfinite(t.hi) else 0.0]),
            )
            back = float(P.to_x((t.kind,), jnp.asarray([u]), lo, hi)[0])
            assert back == pytest.approx(x, rel=1e-12)
            for far in (-50.0, 50.0):
                assert rng.contains(float(P.to_x((t.kind,), jnp.asarray([far]), lo, hi)[0]))


def test_deviance_and_p_value():
    from scipy import stats

    with jax.enable_x64(True):
        n = jnp.asarray([0.0, 3.0, 10.0])
        mu = jnp.asarray([2.5, 3.0, 7.0])
        d = np.asarray(deviance_terms(n, mu))
    assert d[0] == pytest.approx(5.0)  # a zero-count bin: 2 mu
    assert d[1] == pytest.approx(0.0, abs=1e-12)
    assert d[2] == pytest.approx(2 * (7 - 10 + 10 * math.log(10 / 7)))
    for x, ndf in ((3.0, 5), (250.0, 235), (0.0, 1)):
        assert chi2_sf(x, ndf) == pytest.approx(stats.chi2.sf(x, ndf), rel=1e-10)


def test_solver_hessian_matches_autodiff():
    """The gradient-difference Hessian of the compiled step equals jax.hessian."""

    def f(z, data):
        return jnp.sum(data["a"] * jnp.exp(z) - data["b"] * z) + jnp.prod(jnp.sin(z))

    data = {"a": jnp.asarray([1.0, 2.0, 0.5]), "b": jnp.asarray([2.0, 1.0, 1.0])}
    with jax.enable_x64(True):
        data = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), data)
        m = Minimiser(f)
        z = np.array([0.3, -0.2, 0.5])
        h = m.hessian(z, data, step=1e-2)
        exact = np.asarray(jax.hessian(f)(jnp.asarray(z), data))
        np.testing.assert_allclose(h, exact, rtol=1e-8, atol=1e-10)
        minimum = m.minimise(np.zeros(3), data, max_iterations=50, gtol=1e-10)
        assert minimum.gradient_converged
        assert m.step._cache_size() == 1


# ------------------------------------------------------------------ recovery
def test_recovery_from_analog_histograms(recovery):
    """Three storage times fitted jointly: every free parameter within 3 standard errors."""
    truth, data, _, result = recovery
    assert result.converged, result.warnings
    assert result.deviance is not None and result.chi2 is None
    assert result.ndf == sum(d.n_points for d in data) - len(FREE)
    assert 0.001 < result.p_value <= 1.0
    for name in FREE:
        err = result.stderr[name]
        assert err is not None and err > 0, name
        pull = (result.values[name] - float(truth.get(name))) / err
        assert abs(pull) < 3.0, (name, pull)
    corr = result.correlation
    np.testing.assert_allclose(np.diag(corr), 1.0)
    np.testing.assert_allclose(corr, corr.T, atol=1e-12)
    fits = {d.name: d for d in result.datasets}
    assert set(fits) == {d.name for d in data}
    for d in data:
        f = fits[d.name]
        np.testing.assert_array_equal(f.data, d.counts)
        assert f.model.shape == d.counts.shape and np.all(f.model > 0)
        assert np.sum(f.residuals**2) == pytest.approx(f.contribution)
    assert result.deviance == pytest.approx(sum(f.contribution for f in result.datasets))


def test_refit_and_second_call_do_not_recompile(recovery):
    truth, data, start, _ = recovery
    problem = build_problem(start, data, FREE)
    step, predict = problem.minimiser.step, problem.predict
    assert step._cache_size() == 1 and predict._cache_size() == 1
    # new data of the same shapes (another seed's counts): same compiled objective
    scaled = [dataclasses.replace(d, counts=np.round(d.counts * 1.01)) for d in data]
    again = pmc.fit(start, scaled, FREE)
    assert again.converged
    assert build_problem(start, scaled, FREE) is problem
    with jax.enable_x64(True):
        n = len(FREE)
        d = problem.data(data, np.zeros(n), np.eye(n), [])
        problem.minimiser.value_and_grad(np.zeros(n), d)
        problem.minimiser.value_and_grad(np.full(n, 0.1), d)
    assert step._cache_size() == 1 and predict._cache_size() == 1


def test_fit_cli_on_histogram_files(recovery, tmp_path, capsys):
    """The recovery data as CSV files and a fit spec: the CLI gives the Python result."""
    _, data, start, result = recovery
    (tmp_path / "link.toml").write_text(dump_config(start, shots=1, seed=0, mode="expected"))
    spec = ['config = "link.toml"', f"free = {json.dumps(FREE)}"]
    for d in data:
        rows = "\n".join(
            f"{float(s)!r},{c:g}" for s, c in zip(d.bin_edges_ns[:-1], d.counts, strict=True)
        )
        (tmp_path / f"{d.name}.csv").write_text(f"# analog run\nbin_start_ns,counts\n{rows}\n")
        tau = d.overrides["memory.storage_time_ns"]
        spec += [
            "[[dataset]]",
            f'file = "{d.name}.csv"',
            'kind = "histogram"',
            f"shots = {d.shots}",
            'detector = "detector"',
            f'set = {{ "memory.storage_time_ns" = {tau!r} }}',
        ]
    (tmp_path / "spec.toml").write_text("\n".join(spec) + "\n")
    out = tmp_path / "fit.h5"
    assert main(["fit", str(tmp_path / "spec.toml"), "--json", "--out", str(out)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert set(got) == {
        "parameters", "correlation", "deviance", "objective", "ndf", "p_value", "converged",
        "warnings",
    }  # fmt: skip
    for name in FREE:
        assert got["parameters"][name]["value"] == pytest.approx(result.values[name], rel=1e-6)
        assert got["parameters"][name]["stderr"] == pytest.approx(result.stderr[name], rel=1e-3)
    assert got["deviance"] == pytest.approx(result.deviance, rel=1e-6)
    stored = read_fit(out)
    h = stored["datasets"]["tau_1.0"]
    assert h["kind"] == "histogram" and h["shots"] == SHOTS
    np.testing.assert_array_equal(h["data"], data[1].counts)
    assert h["bin_edges_ns"].shape == (81,) and h["model"].shape == (80,)


# ------------------------------------------------------------ curves, degeneracy
def test_efficiency_curve_with_and_without_error_bars():
    truth = memory_link()
    start = truth.set("memory.lifetime_ns", 1.4).set("memory.read_efficiency", 0.5)
    free = ["memory.lifetime_ns", "memory.read_efficiency"]
    with_err = pmc.fit(start, [curve(truth)], free)
    assert with_err.converged and with_err.p_value is not None and with_err.deviance is None
    assert (
        abs(with_err.values["memory.lifetime_ns"] - 1.1) < 3 * with_err.stderr["memory.lifetime_ns"]
    )
    no_err = pmc.fit(start, [curve(truth, sigma=None)], free)
    assert no_err.p_value is None
    assert any("no efficiency_err" in w and "sigma" in w for w in no_err.warnings)
    assert no_err.chi2 == pytest.approx(no_err.ndf, rel=1e-3)  # reduced chi-square 1
    sigma = no_err.datasets[0].sigma[0]
    assert 0.001 < sigma < 0.004  # the noise put in: 0.002
    assert no_err.values["memory.lifetime_ns"] == pytest.approx(
        with_err.values["memory.lifetime_ns"], rel=1e-6
    )


def test_degenerate_parameters_give_a_warning():
    """PERF_NOTES: an efficiency curve fixes only the product eta_w O(T1) eta_r, not
    the source lifetime and the write efficiency separately."""
    truth = memory_link()
    free = ["qd.lifetime_ns", "memory.write_efficiency", "memory.lifetime_ns"]
    result = pmc.fit(truth.set("memory.lifetime_ns", 1.3), [curve(truth)], free)
    assert result.stderr["qd.lifetime_ns"] is None
    assert result.stderr["memory.write_efficiency"] is None
    assert result.stderr["memory.lifetime_ns"] is not None
    assert set(result.degenerate) == {"qd.lifetime_ns", "memory.write_efficiency"}
    warning = next(w for w in result.warnings if "degenerate" in w)
    assert "qd.lifetime_ns" in warning and "condition number" in warning
    assert result.condition_number > 1e6
    assert abs(result.correlation[0, 1]) > 0.999
    assert json.dumps(result.as_dict(), allow_nan=False)  # null stderr, finite matrix


def test_bad_fit_inputs_are_one_line_errors():
    link = memory_link()
    c = curve(link)
    h = pmc.HistogramData(link.tagger.bin_edges_ns, np.ones(80), 10, name="h")
    cases = [
        (lambda: pmc.fit(link, [c], ["memory.lifetme_ns"]), "did you mean"),
        (lambda: pmc.fit(link, [c], []), "no free parameters"),
        (lambda: pmc.fit(link, [], ["memory.lifetime_ns"]), "no datasets"),
        (
            lambda: pmc.fit(link.set("memory.transmission", 1.0), [c], ["memory.transmission"]),
            "boundary of its range",
        ),
        (
            lambda: pmc.fit(link, [c], ["memory.lifetime_ns"], start={"qd.g2": 0.1}),
            "not free",
        ),
        (
            lambda: pmc.fit(link, [c], ["memory.lifetime_ns"], start={"memory.lifetime_ns": -1}),
            "must be > 0 ns",
        ),
        (lambda: pmc.fit(link, [c], ["memory.storage_time_ns"]), "cannot also be free"),
        (
            lambda: pmc.fit(
                link,
                [dataclasses.replace(h, overrides={"memory.lifetime_ns": 2.0})],
                ["memory.lifetime_ns"],
            ),  # fmt: skip
            "which is free",
        ),
        (
            lambda: pmc.fit(
                link,
                [dataclasses.replace(h, overrides={"memory.write_efficiency": 1.5})],
                ["memory.lifetime_ns"],
            ),  # fmt: skip
            "must be in [0, 1]",
        ),
        (
            lambda: pmc.fit(link, [dataclasses.replace(h, detector="apd")], ["qd.lifetime_ns"]),
            "no detector 'apd'",
        ),
        (lambda: pmc.fit(link, [c, c], ["memory.lifetime_ns"]), "distinct name"),
    ]
    for call, fragment in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert fragment in str(info.value), str(info.value)
        assert "\n" not in str(info.value)
    assert isinstance(FitError("x"), ValueError)


# ------------------------------------------------------------ real data, CLI
@pytest.fixture(scope="module")
def rb_fit(tmp_path_factory):
    """The shipped example: the Rb memory's efficiency versus storage time."""
    out = tmp_path_factory.mktemp("rb")
    return out, [str(CONFIGS / "rb_memory_beating_fit.toml"), "--out", str(out / "fit.h5")]


def test_real_rb_data_fit(rb_fit, capsys):
    out, argv = rb_fit
    assert main(["fit", *argv, "--json"]) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    keys = {"parameters", "correlation", "chi2", "objective", "ndf", "p_value", "converged"}
    assert set(result) == keys | {"warnings"}
    assert result["converged"] and result["p_value"] is None and result["ndf"] == 32
    values = {n: v["value"] for n, v in result["parameters"].items()}
    errors = {n: v["stderr"] for n, v in result["parameters"].items()}
    # the values the README quotes
    assert values["memory.lifetime_ns"] == pytest.approx(80.46, abs=0.05)
    assert errors["memory.lifetime_ns"] == pytest.approx(1.30, abs=0.05)
    assert values["memory.beat_terms[0].a"] == pytest.approx(0.514, abs=0.002)
    assert any("sigma = 0.005" in w for w in result["warnings"])
    assert result["correlation"]["names"] == list(result["parameters"])
    stored = read_fit(out / "fit.h5")
    assert stored["result"]["ndf"] == 32 and stored["result"]["converged"] is True
    ds = stored["datasets"]["rb_storage"]
    assert ds["kind"] == "efficiency_curve" and ds["data"].shape == (40,)
    np.testing.assert_allclose(ds["residuals"], (ds["data"] - ds["model"]) / ds["sigma"])
    assert stored["extra"]["covariance"].shape == (8, 8)
    assert "rb_ladder_memory.toml" in stored["attrs"]["spec"]


def test_fit_cli_start_plot_and_errors(rb_fit, tmp_path, capsys):
    _, argv = rb_fit
    spec = argv[0]
    pytest.importorskip("matplotlib")
    argv = ["fit", spec, "--start", "memory.lifetime_ns=90", "--plot", str(tmp_path / "f.png")]
    assert main(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "memory.lifetime_ns" in text and "converged" in text
    assert (tmp_path / "f.png").stat().st_size > 10_000

    def error(argv, fragment):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("photonmc: error: ") and fragment in err[0]

    error(["fit", spec, "--start", "memory.lifetime_ns"], "expected NAME=VALUE")
    error(["fit", spec, "--start", "memory.lifetime_ns=abc"], "not a number")
    error(["fit", spec, "--start", "qd.lifetime_ns=1"], "not free")
    error(["fit", str(tmp_path / "none.toml")], "no such fit spec")
    bad = tmp_path / "bad.toml"
    bad.write_text('config = "x.toml"\nfree = ["a.b"]\n[[dataset]]\nfile = "d.csv"\nkin = "x"\n')
    error(["fit", str(bad)], "kind must be")
    bad.write_text('config = "x.toml"\nfre = ["a.b"]\n')
    error(["fit", str(bad)], "did you mean 'free'?")
    bad.write_text(
        f'config = "{CONFIGS / "rb_ladder_memory.toml"}"\nfree = ["memory.lifetime_ns"]\n'
        '[[dataset]]\nfile = "missing.csv"\nkind = "efficiency_curve"\n'
    )
    error(["fit", str(bad)], "missing.csv: no such data file")
    error(["fit", spec, "--out", str(tmp_path / "no" / "f.h5")], "does not exist")


@pytest.mark.slow
def test_pulls_over_seeds():
    """Over repeated seeds the pulls of every parameter have mean ~0 and spread ~1."""
    truth = memory_link()
    start = memory_link(lifetime=0.55, eta_w=0.5, mem=1.3, jitter=60.0, dark=3e4)
    n_seeds = 40
    pulls = {n: [] for n in FREE}
    for seed in range(100, 100 + n_seeds):
        result = pmc.fit(start, analog_datasets(truth, seed, shots=500_000), FREE)
        assert result.converged
        for n in FREE:
            pulls[n].append((result.values[n] - float(truth.get(n))) / result.stderr[n])
    for n, p in pulls.items():
        p = np.asarray(p)
        # 4 sigma bands for a mean and a standard deviation of n_seeds unit normals
        assert abs(p.mean()) < 4 / math.sqrt(n_seeds), (n, p.mean())
        assert abs(p.std(ddof=1) - 1) < 4 / math.sqrt(2 * (n_seeds - 1)), (n, p.std(ddof=1))


@pytest.mark.slow  # about 2 minutes on a busy 2-core machine, mostly compilation
def test_g2_histogram_fit_recovers_g2_and_lifetime():
    """A g2 dataset (an HBT coincidence histogram) made of expected counts is fitted back
    to the values behind it (g2 and T1), with error bars from the Poisson model. (The
    shipped example, configs/hbt_g2_fit.toml, frees the jitter too.)"""
    from photonmc.expected import expected_coincidences
    from photonmc.io.datasets import CorrelationData

    def link_with(g2, t1):
        return pmc.Link(
            [
                pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=t1, mean_photon_number=0.5, g2=g2),
                pmc.BeamSplitter(),
                pmc.Detector(
                    efficiency=0.8, jitter_fwhm_ps=80.0, name="a", branch="bs.transmitted"
                ),
                pmc.Detector(efficiency=0.8, jitter_fwhm_ps=80.0, name="b", branch="bs.reflected"),
            ],
            pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=9.0),
        )

    truth = link_with(0.1, 0.6)
    with jax.enable_x64(True):
        per_shot = np.asarray(expected_coincidences(truth, "a", "b", range_ns=14.0))
    counts = 2e6 * per_shot  # expected counts of 2e6 shots: the fit lands on the truth
    edges = -14.0 + 0.1 * np.arange(counts.size + 1)
    data = CorrelationData(edges, counts, ("a", "b"), name="g2")
    res = pmc.fit(link_with(0.2, 0.5), [data], ["qd.g2", "qd.lifetime_ns"])
    assert res.converged, res.warnings
    assert res.values["qd.g2"] == pytest.approx(0.1, rel=1e-4)
    assert res.values["qd.lifetime_ns"] == pytest.approx(0.6, rel=1e-4)
    # the centre peak holds ~ 0.1 * 2e6 * 0.2^2 = 8000 pairs: g2's error ~ g2 / sqrt(8000)
    assert 0.3 < res.stderr["qd.g2"] / (0.1 / np.sqrt(8000)) < 3
    assert res.datasets[0].kind == "g2" and res.deviance == pytest.approx(0.0, abs=1e-6)


def test_shipped_g2_fit_spec_loads():
    from photonmc.fitspec import load_fit_spec

    spec = load_fit_spec(Path(__file__).parent.parent / "configs" / "hbt_g2_fit.toml")
    (d,) = spec.datasets
    assert d.kind == "g2" and d.detectors == ("det_t", "det_r") and d.shots is None
    assert d.bin_width_ns == pytest.approx(0.025) and d.bin_edges_ns[0] == pytest.approx(-20.0)


# ------------------------------------------------------------------ HOM data
def hom_fit_link(t2_star=3.0, sd=0.3, t1=0.6):
    return pmc.Link(
        [
            pmc.QuantumDot(
                rep_rate_mhz=80.0, lifetime_ns=t1, feeding_time_ns=0.05, mean_photon_number=0.8,
                g2=0.02, spectral_diffusion_fwhm_ghz=sd, spectral_diffusion_time_ns=200.0,
                dephasing_time_ns=t2_star,
            ),
            pmc.HOMInterferometer(),
            *(
                pmc.Detector(efficiency=0.85, dark_count_rate_hz=1e2, name=n, branch=f"hom.{b}")
                for n, b in (("c", "transmitted"), ("d", "reflected"))
            ),
        ],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=24.0),
    )  # fmt: skip


def expected_hom_data(link, delays, shots, name, overrides=None):
    from photonmc.expected import hom_coincidences
    from photonmc.io.datasets import HOMData

    rows = []
    with jax.enable_x64(True):
        for d in delays:
            lk = P.as_float64(P.set_values(link, {"hom.delay_ns": d, **(overrides or {})}))
            rows.append([float(c) * shots for c in hom_coincidences(lk)])
    par, orth = np.asarray(rows).T
    return HOMData(np.asarray(delays), par, orth, ("c", "d"), shots, overrides or {}, name)


@pytest.mark.slow  # compiles the vmapped coincidences of two datasets
def test_hom_fit_recovers_t2_star_and_spectral_diffusion():
    """Expected coincidences of a dip at 80 MHz and of zero delay at 1 MHz (where the slow
    wandering has decorrelated) are fitted back to T1, T2* and the spectral diffusion."""
    truth = hom_fit_link()
    dip = expected_hom_data(truth, [-0.8, -0.3, 0.0, 0.3, 0.8], 200_000, "dip")
    slow = expected_hom_data(truth, [0.0], 400_000, "slow", {"qd.rep_rate_mhz": 1.0})
    free = ["qd.lifetime_ns", "qd.dephasing_time_ns", "qd.spectral_diffusion_fwhm_ghz"]
    res = pmc.fit(hom_fit_link(2.0, 0.5, 0.5), [dip, slow], free)
    assert res.converged, res.warnings
    for name, want in zip(free, (0.6, 3.0, 0.3), strict=True):
        assert res.values[name] == pytest.approx(want, rel=1e-4), name
        assert res.stderr[name] is not None and 0 < res.stderr[name] < 0.5 * want
    assert [d.kind for d in res.datasets] == ["hom", "hom"]
    assert res.deviance == pytest.approx(0.0, abs=1e-6) and res.ndf == 12 - 3


def test_hom_datasets_are_checked(tmp_path):
    from photonmc.config import ConfigError
    from photonmc.fit import FitError
    from photonmc.fitspec import load_fit_spec
    from photonmc.io.datasets import DatasetError, load_hom

    good = tmp_path / "hom.csv"
    good.write_text(
        "# zero delay\ndelay_ns,coincidences_parallel,coincidences_orthogonal\n0,10,20\n"
    )
    d = load_hom(good, shots=100)
    assert d.kind == "hom" and d.n_points == 2 and d.orthogonal[0] == 20.0
    for text, what in [
        ("delay_ns,counts\n0,1\n", "missing coincidences_parallel"),
        ("delay_ns,coincidences_parallel\n0,-1\n", "must be >= 0"),
        ("delay_ns,coincidences_parallel\n0,1\n0,2\n", "same delay_ns"),
    ]:
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(DatasetError, match=what):
            load_hom(bad)
    link = hom_fit_link()
    with pytest.raises(FitError, match="hom.delay_ns is the data's delay_ns column"):
        pmc.fit(link, [d], ["hom.delay_ns"])
    hbt = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6),
            pmc.BeamSplitter(),
            pmc.Detector(efficiency=0.8, name="a", branch="bs.transmitted"),
            pmc.Detector(efficiency=0.8, name="b", branch="bs.reflected"),
        ],
        link.tagger,
    )
    with pytest.raises(FitError, match="needs a HOMInterferometer"):
        pmc.fit(hbt, [d], ["qd.lifetime_ns"])
    spec = tmp_path / "fit.toml"
    (tmp_path / "link.toml").write_text("")
    spec.write_text(
        'config = "link.toml"\nfree = ["qd.dephasing_time_ns"]\n'
        '[[dataset]]\nfile = "hom.csv"\nkind = "hom"\nshots = 100\nbins = 3\n'
    )
    with pytest.raises(ConfigError, match="unknown key 'bins'"):
        load_fit_spec(spec)


def test_shipped_hom_fit_spec_loads():
    from photonmc.fitspec import load_fit_spec

    spec = load_fit_spec(Path(__file__).parent.parent / "configs" / "hom_fit.toml")
    dip, slow = spec.datasets
    assert dip.kind == slow.kind == "hom" and dip.detectors == ("det_c", "det_d")
    assert dip.delay_ns.size >= 5 and 0.0 in dip.delay_ns and dip.orthogonal is not None
    assert slow.overrides == {"qd.rep_rate_mhz": 1.0}


@pytest.mark.slow  # a fit of the shipped example (compilation and about 20 iterations)
def test_shipped_hom_fit_recovers_the_values_behind_its_data():
    """configs/hom_fit.toml on its photonmc-generated data (analog runs, configs/data/
    hom_fit_data.py): T1, T2* and the spectral diffusion within 4 standard errors of the
    values the data were made with."""
    from photonmc.config import load_config
    from photonmc.fitspec import load_fit_spec

    spec = load_fit_spec(Path(__file__).parent.parent / "configs" / "hom_fit.toml")
    link = load_config(spec.config).link
    start = {
        "qd.lifetime_ns": 0.5,
        "qd.dephasing_time_ns": 2.0,
        "qd.spectral_diffusion_fwhm_ghz": 0.5,
    }
    res = pmc.fit(link, spec.datasets, spec.free, start=start)
    assert res.converged, res.warnings
    truth = {
        "qd.lifetime_ns": 0.6,
        "qd.dephasing_time_ns": 3.0,
        "qd.spectral_diffusion_fwhm_ghz": 0.3,
    }
    for name, want in truth.items():
        err = res.stderr[name]
        assert err is not None and abs(res.values[name] - want) < 4 * err, (name, res.values, err)
    assert res.p_value is not None and res.p_value > 1e-4


def test_quadrature_shift_is_the_linear_fit_of_the_model_error():
    from photonmc.fit import _quadrature_shift

    # orthonormal derivatives: unit standard errors, shift = J^T r
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert _quadrature_shift(jac, np.array([0.1, -0.2, 5.0])) == pytest.approx(0.2)
    # scaled derivatives: the shift in standard errors does not change
    assert _quadrature_shift(3.0 * jac, np.array([0.1, -0.2, 5.0])) == pytest.approx(0.2)
    # degenerate derivatives: the bound |r|
    flat = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert _quadrature_shift(flat, np.array([0.3, 0.0, 0.4])) == pytest.approx(0.5)


@pytest.mark.slow
def test_fit_nodes_follow_the_data():
    from photonmc.fit import DEFAULT_NODES, FIT_NODE_LADDER, NODE_SHIFT_TOLERANCE, choose_nodes
    from photonmc.io.datasets import HistogramData

    tagger = TimeTagger(bin_width_ps=200.0, window_start_ns=-1.0, window_stop_ns=7.0)
    link = pmc.Link(
        [
            pmc.QuantumDot(
                rep_rate_mhz=80.0,
                lifetime_ns=0.6,
                feeding_time_ns=0.1,
                spectral_diffusion_fwhm_ghz=0.5,
                mean_photon_number=0.5,
            ),
            pmc.LadderMemory(
                write_time_ns=0.9,
                input_mode_fwhm_ns=1.0,
                output_mode_fwhm_ns=0.8,
                write_efficiency=0.6,
                read_efficiency=0.7,
                storage_time_ns=1.0,
                lifetime_ns=1.1,
            ),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=1e4),
        ],
        tagger=tagger,
    )
    free = ["qd.lifetime_ns", "memory.write_efficiency"]

    def data(shots):
        res = pmc.simulate(link, 1000, mode="expected")
        counts = np.round(res.histogram() / 1000 * shots)
        edges = res.detector().bin_edges_ns
        return [HistogramData(counts=counts, bin_edges_ns=edges, shots=int(shots))]

    few, shift = choose_nodes(link, data(100), free)
    assert few == FIT_NODE_LADDER[0] and shift <= NODE_SHIFT_TOLERANCE
    # far more shots: the data resolve the quadrature error, more nodes are needed
    many, _ = choose_nodes(link, data(1e15), free)
    assert FIT_NODE_LADDER.index(many) > FIT_NODE_LADDER.index(few)
    # latents off: the quadrature is exact, the fewest nodes are taken
    exact = link.set("qd.spectral_diffusion_fwhm_ghz", 0.0).set("qd.feeding_time_ns", 0.0)
    assert choose_nodes(exact, data(1e15), free) == (FIT_NODE_LADDER[0], 0.0)
    assert DEFAULT_NODES == FIT_NODE_LADDER[-1]
