"""Runs over several processes and hosts, on JAX's own distributed runtime.

`initialize()` joins this process to a run of `num_processes` processes coordinated at
`coordinator` (host:port of process 0), from its arguments or the environment:

    PHOTONMC_COORDINATOR=host:port PHOTONMC_NUM_PROCESSES=N PHOTONMC_PROCESS_ID=i

(or what `jax.distributed.initialize` detects by itself on a cluster, e.g. SLURM).
Afterwards every `photonmc.simulate` spreads its chunks over the devices of all
processes and gathers the results on every process, bit-identical to a single-process
run; only process 0 writes files (`is_writer()`). On CPU the processes talk through
gloo, JAX's CPU collectives.
"""

from __future__ import annotations

import os

import jax

ENV = ("PHOTONMC_COORDINATOR", "PHOTONMC_NUM_PROCESSES", "PHOTONMC_PROCESS_ID")


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
