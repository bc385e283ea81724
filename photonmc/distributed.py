"""Runs over several processes and hosts, on JAX's own distributed runtime.

`initialize()` joins this process to a run of `num_processes` processes coordinated at
`coordinator` (host:port of process 0), from its arguments or the environment:

    PHOTONMC_COORDINATOR=host:port PHOTONMC_NUM_PROCESSES=N PHOTONMC_PROCESS_ID=i

(or what `jax.distributed.initialize` detects by itself on a cluster, e.g. SLURM).
Afterwards every `photonmc.simulate` spreads its chunks over the devices of all
processes and gathers the results on every process, bit-identical to a single-process
run; only process 0 writes files (`is_writer()`). On CPU the processes talk through
gloo, JAX's CPU collectives.

`use_cpu_cores()` makes one JAX device of each CPU core (up to `MAX_CPU_DEVICES`), so
that an analog run on CPUs works on one chunk per core: XLA runs a single program's
sorts, loops and gathers largely on one thread, so chunks side by side use a multi-core
CPU better than one chunk at a time (on 2 cores about 1.5x the photons per second).
Results are the same for any number of devices. The `photonmc` command does this by
default (`--cpu-devices`, `PHOTONMC_CPU_DEVICES`); a script calls it before its first
JAX operation.
"""

from __future__ import annotations

import os
import re
import warnings

import jax

ENV = ("PHOTONMC_COORDINATOR", "PHOTONMC_NUM_PROCESSES", "PHOTONMC_PROCESS_ID")
#: The environment variable that sets the number of CPU devices (`use_cpu_cores`)
CPU_DEVICES_ENV = "PHOTONMC_CPU_DEVICES"
#: Most CPU devices `use_cpu_cores` makes by itself: each holds a chunk's arrays at once
#: (tens of MB at 2^18 shots), so a many-core host keeps some cores for XLA's own threads
MAX_CPU_DEVICES = 16


def use_cpu_cores(n: int | None = None) -> int:
    """Make `n` JAX CPU devices, one per core; returns the number of CPU devices in effect.

    n: default `PHOTONMC_CPU_DEVICES`, else the cores this process may use, at most
    MAX_CPU_DEVICES; 1 keeps JAX's single CPU device. It must run before JAX runs
    anything (JAX fixes its devices then): afterwards, or where XLA_FLAGS already sets
    --xla_force_host_platform_device_count, it changes nothing and returns the count
    that JAX has (with a warning when n was asked for explicitly). On a GPU host the GPUs
    stay the default devices and the CPU devices are only JAX's host devices.
    """
    asked, what = n is not None, "the number of CPU devices"
    if n is None and os.environ.get(CPU_DEVICES_ENV) is not None:
        asked, what, n = True, CPU_DEVICES_ENV, _int_env(CPU_DEVICES_ENV)
    if n is None:
        n = min(_usable_cores(), MAX_CPU_DEVICES)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a whole number >= 1 (devices), got {n!r}")
    forced = re.search(
        r"xla_force_host_platform_device_count=(\d+)", os.environ.get("XLA_FLAGS", "")
    )
    if forced:
        have = int(forced.group(1))
    else:
        try:
            # sets the count without starting JAX's backends (so that
            # jax.distributed.initialize may still follow)
            jax.config.update("jax_num_cpu_devices", n)
            have = n
        except (RuntimeError, AttributeError):  # JAX has run something (or lacks it)
            have = len(jax.devices("cpu"))
    if asked and have != n:
        warnings.warn(
            f"{n} CPU devices were asked for, but JAX runs with {have} (they must be set "
            "before JAX's first operation)",
            stacklevel=2,
        )
    return have


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Join a multi-process run if one is configured; returns whether one is.

    Arguments override the environment variables of the module docstring. With none
    given and none set, nothing happens (a single-process run).
    """
    coordinator = coordinator if coordinator is not None else os.environ.get(ENV[0])
    num_processes = num_processes if num_processes is not None else _int_env(ENV[1])
    process_id = process_id if process_id is not None else _int_env(ENV[2])
    if coordinator is None and num_processes is None and process_id is None:
        return False
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"the number of processes must be >= 1, got {num_processes}")
    if not coordinator or num_processes is None or process_id is None:
        raise ValueError(
            "a multi-process run needs the coordinator address, the number of processes "
            f"and this process's id (flags or {', '.join(ENV)})"
        )
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process id must be in [0, {num_processes - 1}], got {process_id}")
    if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes=num_processes, process_id=process_id)
    return True


def is_writer() -> bool:
    """Whether this process writes the run's files (process 0)."""
    return jax.process_index() == 0


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
