"""Running a link: `simulate` in analog or expected mode, and the Result it returns.

The engines live in `photonmc.analog` (sampled clicks, chunked over devices and
processes) and `photonmc.expected` (smooth expected histograms for gradients); this
module runs either and turns its histogram and counters into a `Result`.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
import time
import warnings
from collections.abc import Callable

import jax
import numpy as np

from photonmc import compile_cache
from photonmc._version import __version__
from photonmc.analog import (
    DEFAULT_CHUNK_SHOTS as DEFAULT_CHUNK_SHOTS,
)
from photonmc.analog import (
    MAX_SEED as MAX_SEED,
)
from photonmc.analog import (
    MAX_SHOTS as MAX_SHOTS,
)
from photonmc.analog import (
    PRNG_IMPL as PRNG_IMPL,
)
from photonmc.analog import (
    AnalogPlan as AnalogPlan,
)
from photonmc.analog import (
    Checkpointing as Checkpointing,
)
from photonmc.analog import (
    analog_plan as analog_plan,
)
from photonmc.analog import (
    check_shots,
    seed_key,
)
from photonmc.analog import (
    default_chunk_shots as default_chunk_shots,
)
from photonmc.analog import (
    merge_plans as merge_plans,
)
from photonmc.analog import (
    run_analog as run_analog,
)
from photonmc.batch import ORIGINS
from photonmc.expected import DEFAULT_NODES as DEFAULT_NODES
from photonmc.expected import expected_counts as expected_counts
from photonmc.expected import expected_counts_all as expected_counts_all
from photonmc.expected import run_expected as run_expected
from photonmc.link import Link
from photonmc.link import propagate as propagate
from photonmc.result import DetectorCounts, Result
from photonmc.stages.memory import MEMORY_STATS

#: Above this expected count rate x dead time, expected mode's neglect of dead time matters
DEAD_TIME_WARNING = 0.01


def simulate(
    link: Link,
    shots: int,
    key=0,
    mode: str = "analog",
    *,
    chunk_shots: int | None = None,
    retrieval_window_ns: tuple[float, float] | None = None,
    nodes: tuple[int, int] = DEFAULT_NODES,
    progress: bool | Callable[[int], None] | None = None,
    config_toml: str = "",
    on_records: Callable[[dict], None] | None = None,
    checkpoint: Checkpointing | None = None,
    correlations: bool = False,
    devices=None,
) -> Result:
    """Run `shots` shots of `link`.

    key: an integer seed in [0, 2^63 - 1] (every bit counts: `analog.seed_key`) or a JAX
    key. chunk_shots: shots per compiled chunk (analog results depend on it); default
    `default_chunk_shots()`, 2^18 on CPU and 2^22 on GPU. mode: "analog" (sampled
    clicks, integer counts) or "expected" (expected counts, float64, differentiable via
    `expected_counts`). retrieval_window_ns: histogram-time window of the SNR figures;
    default t_w + tau +- output_mode_fwhm_ns of the first memory (minus the sync offset).
    progress: True for a progress bar on stderr for runs longer than a few seconds, or a
    callable receiving the number of shots completed after each block. on_records
    (analog only): a callable that receives the click records (time tags) block by block,
    as `click_records` describes, so they can stream to disk in bounded memory.
    checkpoint (analog only): save the accumulators every so often and resume from them
    (`Checkpointing`). With progress=True, a compilation is announced on stderr and
    excluded from the bar's rate. The persistent compilation cache is turned on
    (`photonmc.compile_cache.ensure`; `PHOTONMC_CACHE_DIR=off` disables it). The result's
    elapsed_s is the simulation's time and compile_s the compilation's. correlations: for
    a link with several detectors, also the coincidence histogram of every detector pair
    and the two-photon figures (g2(0); HOM visibility and indistinguishability),
    `photonmc.photon_statistics`. devices (analog): the JAX devices that share the
    chunks, default the local ones that the run has whole blocks of chunks for
    (`analog.run_devices`; results are the same for any set; on CPUs,
    `photonmc.distributed.use_cpu_cores` makes one per core).
    """
    if mode not in ("analog", "expected"):
        raise ValueError(f"mode must be 'analog' or 'expected', got {mode!r}")
    if not (isinstance(shots, int | np.integer) and shots >= 1):
        raise ValueError(f"shots must be a whole number >= 1, got {shots!r}")
    if chunk_shots is None:
        chunk_shots = default_chunk_shots()
    if not (isinstance(chunk_shots, int | np.integer) and 1 <= chunk_shots <= 1 << 24):
        raise ValueError(f"chunk_shots must be a whole number in [1, 2^24], got {chunk_shots!r}")
    seed = None
    if isinstance(key, int | np.integer):
        seed = int(key)
        key = seed_key(seed)
    shots = int(shots)
    check_shots(shots, int(chunk_shots), mode)

    if checkpoint is not None and (checkpoint.read is None or checkpoint.write is None):
        checkpoint = _with_checkpoint_files(checkpoint)
    compile_cache.ensure()
    compile_cache.release_if_crowded()
    pairs = None
    if correlations and mode == "analog" and len(link.detectors) > 1:
        from photonmc.photon_statistics import pair_recorder

        pairs, on_records = pair_recorder(link, on_records)
    start = time.perf_counter()
    compiled = [0.0]
    if mode == "analog":
        with _progress_bar(progress, shots) as bar:

            def on_compile(seconds):
                if seconds is not None:
                    compiled[0] += seconds
                bar.compiling(seconds)

            hist, counters = run_analog(
                link,
                shots,
                key,
                int(chunk_shots),
                bar.update,
                on_records=on_records,
                checkpoint=checkpoint,
                devices=devices,
                on_compile=on_compile,
            )
    else:

        def on_compile(seconds):
            compiled[0] += seconds

        hist, counters = run_expected(link, shots, nodes, on_compile=on_compile)
    elapsed = time.perf_counter() - start - compiled[0]

    result = make_result(
        link,
        mode,
        shots,
        seed,
        int(chunk_shots),
        hist,
        counters,
        elapsed_s=elapsed,
        compile_s=compiled[0],
        retrieval_window_ns=retrieval_window_ns,
        config_toml=config_toml,
    )
    if correlations and len(link.detectors) > 1:
        from photonmc.photon_statistics import add_photon_statistics

        add_photon_statistics(result, link, pairs, key=key, chunk_shots=int(chunk_shots))
    return result


def make_result(
    link: Link,
    mode: str,
    shots: int,
    seed: int | None,
    chunk_shots: int,
    hist: np.ndarray,
    counters: dict,
    *,
    elapsed_s: float = float("nan"),
    compile_s: float = float("nan"),
    retrieval_window_ns: tuple[float, float] | None = None,
    config_toml: str = "",
) -> Result:
    """A Result from a run's histogram (n_detectors * n_origins, n_bins + 2) and counters."""
    counters = dict(counters)
    n_o = len(ORIGINS)
    detectors = {
        det.name: DetectorCounts(
            name=det.name,
            bin_edges_ns=link.tagger.bin_edges_ns,
            counts=hist[i * n_o : (i + 1) * n_o, 1:-1],
            totals=hist[i * n_o : (i + 1) * n_o].sum(axis=1),
        )
        for i, det in enumerate(link.detectors)
    }
    memory_sums = {
        m.name: {k: float(counters.pop(f"{m.name}.{k}")) for k in MEMORY_STATS}
        for m in link.memories
    }
    notes = run_warnings(link, mode, counters, {n: d.total() / shots for n, d in detectors.items()})
    for note in notes:
        warnings.warn(note, stacklevel=3)
    return Result(
        mode=mode,
        shots=shots,
        seed=seed,
        chunk_shots=chunk_shots,
        prng_impl=PRNG_IMPL if mode == "analog" else "none (quadrature)",
        detectors=detectors,
        photons_emitted=counters.pop("photons_emitted"),
        memory_sums=memory_sums,
        fixed_delay_ns=link.fixed_delay_ns,
        retrieval_window_ns=retrieval_window_ns or default_retrieval_window(link),
        elapsed_s=elapsed_s,
        compile_s=compile_s,
        config_toml=config_toml,
        versions=versions(),
        created_utc=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        counters=counters,
        warnings=notes,
        link=link,
    )


def run_warnings(link: Link, mode: str, counters: dict, clicks_per_shot: dict) -> list[str]:
    """What limits a run's validity, in words (empty when nothing does)."""
    notes = []
    period = float(link.source.period_ns)
    for det in link.detectors:
        load = clicks_per_shot[det.name] / period * float(det.dead_time_ns)
        if mode == "expected" and load > DEAD_TIME_WARNING:
            notes.append(
                f"detector {det.name!r}: count rate x dead time = {load:.3g} > "
                f"{DEAD_TIME_WARNING:g}; expected mode neglects dead time and click "
                "saturation, so its counts are too high here (analog mode models them)"
            )
    for name, value in counters.items():
        if name.endswith("_truncated") and value > 0:
            notes.append(f"{name} = {value:g}: Poisson events beyond their room were dropped")
    notes += physical_memory_warnings(link)
    return notes


def physical_memory_warnings(link: Link) -> list[str]:
    """The grid and validity warnings of every OrcaMemory of a kernel tier at the grid its
    run used (`OrcaMemory.warnings`), each naming the memory."""
    from photonmc.stages.orca import OrcaMemory

    notes = []
    for name, plan in link.reshaping:
        m = link[name]
        if isinstance(m, OrcaMemory) and plan[0] == "kernel":
            notes += [f"OrcaMemory {name!r}: {w}" for w in m.warnings(plan[1])]
    return notes


def default_retrieval_window(link: Link) -> tuple[float, float] | None:
    """t_w + tau +- output_mode_fwhm_ns of the first memory, in histogram time."""
    if not link.memories:
        return None
    a, b = link.memories[0].retrieval_window_ns(link.tagger.sync_offset_ns)
    return (float(a), float(b))


def versions() -> dict[str, str]:
    import jaxlib

    return {
        "photonmc": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
    }


class _progress_bar:
    """A tqdm bar on stderr that appears only once a run has taken a few seconds.

    With progress=True, a compilation is announced on stderr ("photonmc: compiling the
    analog kernel ... done in X s") and the bar starts after it, so its rate and ETA
    are the simulation's. `update` is None when there is nothing to report to.
    """

    def __init__(self, progress, total: int, delay_s: float = 3.0, stream=None):
        self.callback = progress if callable(progress) else None
        self.enabled = progress is True
        self.total, self.delay_s, self.bar = total, delay_s, None
        self.stream = stream

    def __enter__(self):
        self.started = time.time()  # tqdm's clock; moved past a compilation
        return self

    @property
    def update(self):
        if self.callback is not None:
            return self.callback
        if not self.enabled:
            return None
        return self._update

    def _update(self, n: int) -> None:
        if self.bar is None:
            self._start()
        self.bar.update(n)

    def _start(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.total,
            unit="shot",
            unit_scale=True,
            delay=self.delay_s,
            dynamic_ncols=True,
            leave=False,
            file=self.stream,
        )
        # the bar's clock starts with the simulation, not with its first update
        self.bar.start_t = self.bar.last_print_t = self.started

    def compiling(self, seconds: float | None) -> None:
        """Announce a compilation (seconds None) and its end; start the bar after it."""
        if not self.enabled:
            return
        stream = self.stream or sys.stderr
        if seconds is None:
            print("photonmc: compiling the analog kernel ...", end="", file=stream, flush=True)
        else:
            print(f" done in {seconds:.1f} s", file=stream, flush=True)
            self.started = time.time()

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
        return False


def _with_checkpoint_files(checkpoint: Checkpointing) -> Checkpointing:
    """The checkpoint with photonmc's HDF5 checkpoint format as its read and write."""
    from photonmc.io import checkpoint as checkpoint_io  # io/ sits above this module

    return dataclasses.replace(
        checkpoint,
        read=checkpoint.read or checkpoint_io.read_checkpoint,
        write=checkpoint.write or checkpoint_io.write_checkpoint,
    )
