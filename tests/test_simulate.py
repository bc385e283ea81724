"""Runs: reproducibility, compilation, invariants, and analog against expected mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import fiber_link, memory_link
from scipy import stats

import photonmc as pmc
import photonmc.analog as sim

CHUNK = 1 << 12


def test_same_seed_same_counts_and_grouping_does_not_matter(monkeypatch):
    link = memory_link(dead=20.0)
    a = pmc.simulate(link, 30_000, key=7, chunk_shots=CHUNK)
    b = pmc.simulate(link, 30_000, key=7, chunk_shots=CHUNK)
    np.testing.assert_array_equal(a.detector().counts, b.detector().counts)
    assert a.photons_emitted == b.photons_emitted
    assert a.memory_sums == b.memory_sums
    # Chunks grouped one per compiled block instead of all in one: same integers.
    monkeypatch.setattr(sim, "_block_chunks", lambda chunk_shots: 1)
    c = pmc.simulate(link, 30_000, key=7, chunk_shots=CHUNK)
    np.testing.assert_array_equal(a.detector().counts, c.detector().counts)
    np.testing.assert_array_equal(a.detector().totals, c.detector().totals)
    d = pmc.simulate(link, 30_000, key=8, chunk_shots=CHUNK)
    assert not np.array_equal(a.detector().counts, d.detector().counts)


def test_shot_count_does_not_recompile():
    link = fiber_link(dark=1e4)
    pmc.simulate(link, 5_000, key=1, chunk_shots=CHUNK)
    before = sim._analog_blocks._cache_size()
    for shots in (7_000, 12_345, 100):
        pmc.simulate(link, shots, key=1, chunk_shots=CHUNK)
    # changing a parameter value does not recompile either
    pmc.simulate(link.set("fiber.length_km", 3.0), 4_000, key=1, chunk_shots=CHUNK)
    assert sim._analog_blocks._cache_size() == before


def test_partial_last_chunk_counts_only_live_shots():
    link = fiber_link(mu=1.0, dark=0.0)
    res = pmc.simulate(link, CHUNK + 17, key=2, chunk_shots=CHUNK)
    assert res.photons_emitted == CHUNK + 17  # mu = 1, g2 = 0: exactly one photon per shot
    res_small = pmc.simulate(link, 17, key=2, chunk_shots=CHUNK)
    assert res_small.photons_emitted == 17


def test_count_types_and_invariants():
    link = memory_link()
    a = pmc.simulate(link, 20_000, key=4, chunk_shots=CHUNK)
    e = pmc.simulate(link, 20_000, mode="expected")
    assert a.detector().counts.dtype == np.int64 and e.detector().counts.dtype == np.float64
    for r in (a, e):
        d = r.detector()
        assert np.all(np.isfinite(d.counts)) and np.all(d.counts >= 0)
        assert np.all(d.totals >= d.counts.sum(axis=1) - 1e-9)
    mu = link.source.mean_photon_number
    assert abs(a.photons_emitted - mu * 20_000) < 5 * math.sqrt(20_000 * mu)
    assert e.photons_emitted == pytest.approx(mu * 20_000)
    assert a.counters[f"{link.memories[0].name}.noise_truncated"] == 0


def _chi2_agreement(analog, expected, rebin):
    """Chi-square of analog counts against expected counts, bins with >= 10 expected."""
    chi2, dof = 0.0, 0
    for origin in pmc.ORIGINS:
        obs = analog.histogram(origin=origin)
        exp = expected.histogram(origin=origin)
        n = obs.size // rebin * rebin
        obs = obs[:n].reshape(-1, rebin).sum(1)
        exp = exp[:n].reshape(-1, rebin).sum(1)
        keep = exp >= 10
        chi2 += float(np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep]))
        dof += int(keep.sum())
    return chi2, dof


@pytest.mark.parametrize(
    "make_link",
    [lambda: memory_link(), lambda: fiber_link(feeding=0.1, jitter=80.0, dark=3e5, sd=5.0)],
    ids=["memory", "fiber"],
)
def test_analog_mean_equals_expected(make_link):
    link = make_link()
    shots = 300_000
    analog = pmc.simulate(link, shots, key=13, chunk_shots=1 << 14)
    expected = pmc.simulate(link, shots, mode="expected")
    chi2, dof = _chi2_agreement(analog, expected, rebin=4)
    assert dof > 20
    assert stats.chi2.sf(chi2, dof) > 1e-3, (chi2, dof)
    for origin in pmc.ORIGINS:
        n_exp = expected.detector().total(origin)
        assert abs(analog.detector().total(origin) - n_exp) < 5 * math.sqrt(n_exp) + 1e-9


def test_summary_figures_have_errors():
    res = pmc.simulate(memory_link(), 50_000, key=9, chunk_shots=CHUNK)
    s = res.summary()
    for key in ("efficiency", "internal_efficiency", "leak_through", "snr", "leak_in_window"):
        assert s[key]["value"] is not None and s[key]["stderr"] is not None
        assert s[key]["stderr"] > 0
    e = pmc.simulate(memory_link(), 50_000, mode="expected")
    assert abs(res.snr().value - e.snr().value) < 5 * res.snr().stderr
    assert abs(res.efficiency.value - e.efficiency.value) < 5 * res.efficiency.stderr
    # the window moves with the storage time
    moved = pmc.simulate(memory_link(storage=2.0), 100, mode="expected")
    assert moved.retrieval_window_ns[0] == pytest.approx(res.retrieval_window_ns[0] + 1.0)


def test_bad_arguments():
    link = fiber_link()
    with pytest.raises(ValueError, match="mode"):
        pmc.simulate(link, 10, mode="exact")
    with pytest.raises(ValueError, match="shots"):
        pmc.simulate(link, 0)
    with pytest.raises(ValueError, match="chunk_shots"):
        pmc.simulate(link, 10, chunk_shots=0)


DEVICE_SCRIPT = """
import sys, json
sys.path.insert(0, {tests!r})
import jax, numpy as np
import photonmc as pmc
from conftest import memory_link
assert len(jax.local_devices()) == {n}
# every device, although a run this short would stay on one by default
res = pmc.simulate(memory_link(dead=20.0), 50_000, key=7, chunk_shots=4096,
                   devices=jax.local_devices())
np.savez({out!r}, counts=res.detector().counts, totals=res.detector().totals,
         sums=np.array([res.memory_sums["memory"][k] for k in sorted(res.memory_sums["memory"])]))
"""


@pytest.mark.parametrize("n_devices", [2, 8])
def test_results_do_not_depend_on_device_count(tmp_path, n_devices):
    """Chunks spread over 2 or 8 host devices give the same integers and float sums as 1."""
    import os
    import pathlib
    import subprocess
    import sys

    tests = str(pathlib.Path(__file__).parent)
    out = tmp_path / "many.npz"
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={n_devices}",
        JAX_PLATFORMS="cpu",
    )
    code = DEVICE_SCRIPT.format(tests=tests, n=n_devices, out=str(out))
    # run outside the checkout, so the installed photonmc is imported, not the source tree
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300, cwd=tmp_path)
    many = np.load(out)
    one = pmc.simulate(memory_link(dead=20.0), 50_000, key=7, chunk_shots=4096)
    np.testing.assert_array_equal(one.detector().counts, many["counts"])
    np.testing.assert_array_equal(one.detector().totals, many["totals"])
    sums = np.array([one.memory_sums["memory"][k] for k in sorted(one.memory_sums["memory"])])
    np.testing.assert_array_equal(sums, many["sums"])


def test_expected_mode_warns_where_dead_time_matters():
    bright = fiber_link(mu=1.0, length=0.0, dead=20.0)
    with pytest.warns(UserWarning, match="neglects dead time"):
        res = pmc.simulate(bright, 1000, mode="expected")
    assert any("dead time" in w for w in res.warnings)
    assert res.summary()["warnings"] == res.warnings
    dim = fiber_link(mu=0.001, length=0.0, dead=20.0)  # 1e-4 clicks per shot: no warning
    assert pmc.simulate(dim, 1000, mode="expected").warnings == []


def test_click_records_are_the_histogrammed_clicks():
    """Time tags from an analog run: every registered click, in shot order, absolute time
    s * T_rep + t + D in ps, which histograms back to the run's own histogram."""
    link = memory_link(dead=20.0)
    blocks = []
    res = pmc.simulate(link, 60_000, key=3, chunk_shots=4096, on_records=blocks.append)
    rec = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    assert rec["time_ps"].dtype == np.int64 and rec["shot"].dtype == np.int64
    assert len(rec["shot"]) == res.detector().total()
    assert np.all(np.diff(rec["shot"]) >= 0) and np.all(rec["channel"] == 0)
    for i, origin in enumerate(pmc.ORIGINS):
        assert np.sum(rec["origin"] == i) == res.detector().total(origin)
    period_ps = 1e3 * float(link.source.period_ns)
    t_ns = (rec["time_ps"] - rec["shot"] * period_ps) / 1e3 - link.fixed_delay_ns
    # 1 ns bins: only clicks within 1 ps of an edge can change bin through rounding
    edges = link.tagger.bin_edges_ns[::20]
    from_records = np.histogram(t_ns, bins=edges)[0]
    from_run = res.histogram().reshape(-1, 20).sum(1)
    assert np.abs(from_records - from_run).max() <= 0.005 * from_run.max() + 3


RESUME_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import photonmc as pmc
import photonmc.analog as sim
from conftest import fiber_link
sim._block_chunks = lambda chunk_shots: 2  # many small blocks, a checkpoint after each
calls = []

def progress(n):
    calls.append(n)
    if len(calls) == 5:  # mid-run: die without any chance to clean up
        os.kill(os.getpid(), signal.SIGKILL)

pmc.simulate(fiber_link(dark=1e5, dead=20.0), {shots}, key=5, chunk_shots=4096,
             checkpoint=sim.Checkpointing({path!r}, every_s=0.0), progress=progress)
"""


def test_killed_run_resumes_to_the_same_result(tmp_path):
    """kill -9 in the middle of a run, resume from its checkpoint: the same bits."""
    import pathlib
    import signal
    import subprocess
    import sys

    from photonmc.simulation import Checkpointing

    ckpt, shots = tmp_path / "run.partial.h5", 4096 * 20 + 123
    code = RESUME_SCRIPT.format(
        tests=str(pathlib.Path(__file__).parent), shots=shots, path=str(ckpt)
    )
    proc = subprocess.run([sys.executable, "-c", code], timeout=300, cwd=tmp_path)
    assert proc.returncode == -signal.SIGKILL and ckpt.exists()

    link = fiber_link(dark=1e5, dead=20.0)
    resumed = pmc.simulate(
        link, shots, key=5, chunk_shots=4096, checkpoint=Checkpointing(str(ckpt), resume=True)
    )
    assert not ckpt.exists()  # removed once the run is complete
    whole = pmc.simulate(link, shots, key=5, chunk_shots=4096)
    np.testing.assert_array_equal(resumed.detector().counts, whole.detector().counts)
    np.testing.assert_array_equal(resumed.detector().totals, whole.detector().totals)
    assert resumed.photons_emitted == whole.photons_emitted
    assert resumed.counters == whole.counters


def test_interrupted_run_leaves_a_checkpoint_only_its_own_run_resumes(tmp_path, monkeypatch):
    from photonmc.io.checkpoint import CheckpointError
    from photonmc.simulation import Checkpointing

    monkeypatch.setattr(sim, "_block_chunks", lambda chunk_shots: 1)
    link, path = fiber_link(dark=1e5, dead=20.0), str(tmp_path / "c.h5")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        pmc.simulate(
            link, 20_000, key=5, chunk_shots=4096, checkpoint=Checkpointing(path, resume=True)
        )

    def ctrl_c(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after the first block: state saved
        pmc.simulate(
            link, 20_000, key=5, chunk_shots=4096, checkpoint=Checkpointing(path), progress=ctrl_c
        )
    with pytest.raises(CheckpointError, match="differs in key"):
        pmc.simulate(
            link, 20_000, key=6, chunk_shots=4096, checkpoint=Checkpointing(path, resume=True)
        )
    resumed = pmc.simulate(
        link, 20_000, key=5, chunk_shots=4096, checkpoint=Checkpointing(path, resume=True)
    )
    whole = pmc.simulate(link, 20_000, key=5, chunk_shots=4096)
    np.testing.assert_array_equal(resumed.detector().counts, whole.detector().counts)


def test_poisson_events_reach_every_shot_of_a_long_chunk():
    """Event shots are uniform integers: none is left out by float rounding."""
    import jax

    from photonmc.kernels.sampling import poisson_events

    exists, shot, _ = poisson_events(jax.random.key(0), 1e-3, 1 << 24, 40_000)
    shot = np.asarray(shot)[np.asarray(exists)]
    assert shot.size > 15_000 and 0.45 < np.mean(shot % 2) < 0.55
    assert shot.max() < 1 << 24


def test_detection_delays_are_finite_for_every_uniform():
    """The smallest and largest float32 uniforms give finite delays of both kinds."""
    import jax.numpy as jnp

    from photonmc.kernels.sampling import wavepacket_delay

    tiny, top = np.finfo(np.float32).tiny, 1.0 - np.finfo(np.float32).epsneg
    u = jnp.array([tiny, tiny, top, top, 0.5, 0.5], jnp.float32)
    is_exp = jnp.array([True, False, True, False, True, False])
    delay = np.asarray(wavepacket_delay(u, is_exp, jnp.float32(1.0)))
    assert np.all(np.isfinite(delay))
    assert delay[1] < -2.0 and delay[3] > 2.0  # 5 sigma: the float32 tail, in FWHM units
    assert delay[4] == pytest.approx(np.log(2.0)) and delay[5] == pytest.approx(0.0, abs=1e-6)
