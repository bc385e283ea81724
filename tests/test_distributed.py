"""Two processes on localhost, on JAX's distributed runtime, give the single-process result."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
from conftest import memory_link

import photonmc as pmc
from photonmc import distributed

SCRIPT = """
import sys, numpy as np
sys.path.insert(0, {tests!r})
from photonmc import distributed
# as the command line does: a CPU device per core (here 2), then the distributed runtime
assert distributed.use_cpu_cores(2) == 2
assert distributed.initialize()  # from the PHOTONMC_* environment
import photonmc as pmc
from conftest import memory_link
res = pmc.simulate(memory_link(dead=20.0), 50_000, key=7, chunk_shots=4096)
if distributed.is_writer():
    sums = res.memory_sums["memory"]
    np.savez({out!r}, counts=res.detector().counts, totals=res.detector().totals,
             sums=np.array([sums[k] for k in sorted(sums)]), emitted=res.photons_emitted)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    out = tmp_path / "two.npz"
    code = SCRIPT.format(tests=str(pathlib.Path(__file__).parent), out=str(out))
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            JAX_PLATFORMS="cpu",
            PHOTONMC_COORDINATOR=f"127.0.0.1:{port}",
            PHOTONMC_NUM_PROCESSES="2",
            PHOTONMC_PROCESS_ID=str(rank),
        )
        # outside the checkout, so the installed photonmc is imported, not the source tree
        procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, cwd=tmp_path))
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [0, 0]
    two = np.load(out)
    one = pmc.simulate(memory_link(dead=20.0), 50_000, key=7, chunk_shots=4096)
    sums = one.memory_sums["memory"]
    np.testing.assert_array_equal(one.detector().counts, two["counts"])
    np.testing.assert_array_equal(one.detector().totals, two["totals"])
    np.testing.assert_array_equal(np.array([sums[k] for k in sorted(sums)]), two["sums"])
    assert one.photons_emitted == int(two["emitted"])


def test_initialize_needs_all_three_settings(monkeypatch):
    for name in distributed.ENV:
        monkeypatch.delenv(name, raising=False)
    assert distributed.initialize() is False  # nothing configured: single process
    monkeypatch.setenv("PHOTONMC_COORDINATOR", "127.0.0.1:1")
    with pytest.raises(ValueError, match="number of processes"):
        distributed.initialize()
    monkeypatch.setenv("PHOTONMC_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="PHOTONMC_NUM_PROCESSES must be a whole number"):
        distributed.initialize()
    with pytest.raises(ValueError, match=r"process id must be in \[0, 1\]"):
        distributed.initialize("127.0.0.1:1", 2, 5)


CORES_SCRIPT = """
import sys, warnings, numpy as np, jax
sys.path.insert(0, {tests!r})
import photonmc as pmc
from conftest import memory_link
n = pmc.use_cpu_cores()
assert n == len(jax.devices("cpu")) == len(jax.local_devices()), (n, jax.devices())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert pmc.use_cpu_cores(n + 1) == n  # too late: JAX has its devices
assert "asked for" in str(caught[0].message), caught
# every device (a run this short would stay on one by default: `analog.run_devices`)
res = pmc.simulate(memory_link(dead=20.0), 50_000, key=7, chunk_shots=4096,
                   devices=jax.local_devices())
np.savez({out!r}, n=n, counts=res.detector().counts, totals=res.detector().totals)
"""


@pytest.mark.parametrize("setting, expected", [("3", 3), (None, None)])
def test_one_device_per_core_gives_the_one_device_result(tmp_path, setting, expected):
    out = tmp_path / "cores.npz"
    code = CORES_SCRIPT.format(tests=str(pathlib.Path(__file__).parent), out=str(out))
    env = {
        k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", distributed.CPU_DEVICES_ENV)
    }
    env["JAX_PLATFORMS"] = "cpu"
    if setting is not None:
        env[distributed.CPU_DEVICES_ENV] = setting
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300, cwd=tmp_path)
    many = np.load(out)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert int(many["n"]) == (expected or min(cores, distributed.MAX_CPU_DEVICES))
    one = pmc.simulate(memory_link(dead=20.0), 50_000, key=7, chunk_shots=4096)
    np.testing.assert_array_equal(one.detector().counts, many["counts"])
    np.testing.assert_array_equal(one.detector().totals, many["totals"])


def test_cpu_devices_refuses_a_count_below_one(monkeypatch):
    with pytest.raises(ValueError, match=r"number of CPU devices must be a whole number >= 1"):
        distributed.use_cpu_cores(0)
    monkeypatch.setenv(distributed.CPU_DEVICES_ENV, "0")
    with pytest.raises(ValueError, match=r"PHOTONMC_CPU_DEVICES must be a whole number >= 1"):
        distributed.use_cpu_cores()
    monkeypatch.setenv(distributed.CPU_DEVICES_ENV, "many")
    with pytest.raises(ValueError, match=r"PHOTONMC_CPU_DEVICES must be a whole number"):
        distributed.use_cpu_cores()


def test_a_run_takes_a_device_per_whole_block_of_chunks():
    from photonmc.analog import run_devices

    local = ["d0", "d1", "d2"]
    assert run_devices(10, 64, local) == ["d0"]  # shorter than a block: one device
    assert run_devices(127, 64, local) == ["d0"]
    assert run_devices(128, 64, local) == ["d0", "d1"]
    assert run_devices(10_000, 64, local) == local
    assert run_devices(10_000, 64, local[:1]) == ["d0"]
