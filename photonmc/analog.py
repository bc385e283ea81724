"""Analog mode: sampled clicks, integer histograms, chunked and spread over devices.

Shots are processed in fixed-size chunks inside a compiled loop. Chunk c uses the key
`fold_in(key, c)`, so a result depends on (key, chunk_shots) only, not on how the chunks
are grouped into compiled blocks or spread over devices and processes. The shot count
is a traced value: changing it does not recompile. Histograms are int32 per block and
int64 on the host; float sums are kept per chunk and added exactly on the host. Long
runs checkpoint their accumulators and resume bit for bit (`Checkpointing`); click
records (time tags) stream out block by block (`click_records`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import pickle
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import compile_cache
from photonmc._version import __version__
from photonmc.analog_detection import detect, register
from photonmc.batch import DARK, MEMORY_NOISE, ORIGINS, RETRIEVED, SOURCE
from photonmc.expected import prepare_tables
from photonmc.kernels import histogram, sampling, scan
from photonmc.link import Link, propagate
from photonmc.stages import Context

#: shots per chunk on CPUs (and the default of code that names no backend)
DEFAULT_CHUNK_SHOTS = 1 << 18
#: shots per chunk on GPUs and TPUs: larger chunks amortise the per-chunk sort and loop
#: overhead (2^22 ran 5x faster than 2^18 on an H100); 2^18 is the fastest on 2 CPU cores
ACCELERATOR_CHUNK_SHOTS = 1 << 22


def default_chunk_shots(backend: str | None = None) -> int:
    """The chunk size of runs that do not choose one: by backend (results depend on it,
    so a result file records it)."""
    backend = backend or jax.default_backend()
    return DEFAULT_CHUNK_SHOTS if backend == "cpu" else ACCELERATOR_CHUNK_SHOTS


#: Largest seed: every bit of it keys the run (threefry's 64-bit key), and result files
#: store it as int64
MAX_SEED = (1 << 63) - 1
#: Most chunks of a run: chunk indices are int32 (`fold_in(key, c)`)
MAX_CHUNKS = (1 << 31) - 1
#: Most shots of a run, in either mode: float64 counts them exactly up to here
MAX_SHOTS = 1 << 53
#: Most Poisson events (emitting shots, noise photons, dark counts) one chunk holds; a
#: chunk's memory grows with them (about 80 bytes each), so a run whose chunk needs more
#: is refused with a chunk size that fits
MAX_CHUNK_EVENTS = 1 << 25


def seed_key(seed: int):
    """The JAX key of an integer seed in [0, MAX_SEED], from all of its 64 bits.

    For seeds below 2^32 it is `jax.random.key(seed)`; larger seeds keep their high
    word (`jax.random.key` truncates them to 32 bits without 64-bit mode).
    """
    check_seed(seed)
    seed = int(seed)
    words = np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32)
    return jax.random.wrap_key_data(words, impl="threefry2x32")


def check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"the seed must be a whole number in [0, 2^63 - 1], got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"the seed must be in [0, 2^63 - 1 = {MAX_SEED}], got {int(seed)}")


def check_shots(shots: int, chunk_shots: int, mode: str) -> None:
    """Refuse a shot count no run can take: above MAX_SHOTS, or (analog) more chunks than
    MAX_CHUNKS of `chunk_shots`; the message says what would fit."""
    if int(shots) > MAX_SHOTS:
        raise ValueError(f"shots must be at most 2^53 = {MAX_SHOTS:,}, got {int(shots):,}")
    if mode == "analog" and -(-int(shots) // int(chunk_shots)) > MAX_CHUNKS:
        raise ValueError(
            f"shots = {int(shots):,} needs {-(-int(shots) // int(chunk_shots)):,} chunks of "
            f"{int(chunk_shots):,} shots; a run holds at most 2^31 - 1 chunks: give at most "
            f"{MAX_CHUNKS * int(chunk_shots):,} shots or larger chunks (--chunk-shots)"
        )


@dataclasses.dataclass(frozen=True)
class AnalogPlan:
    """Static shapes of an analog run (hashable: part of the compiled function's key).

    capacity: room for the Poisson events of one chunk, by stage name (memory noise:
    (write, read)); dark_capacity likewise for dark counts; click_capacity: room for the
    clicks of a chunk in the dead-time kernel's fast path (overflow takes an exact but
    slower path); hit_capacity: room for the photons of a chunk that are detected (0:
    every photon keeps its slot), so that their click times, the dead time and the
    histogram are computed for those only (`analog_detection.detect`).
    """

    chunk_shots: int
    capacity: tuple
    dark_capacity: int
    dead_time: bool
    click_capacity: int
    n_bins: int
    record_capacity: int = 0
    hit_capacity: int = 0


def analog_plan(
    link: Link, chunk_shots: int, records: bool = False, shots: int | None = None
) -> AnalogPlan:
    """Static shapes of an analog run of `link` in chunks of `chunk_shots`.

    shots: the run's shots, when known; a run shorter than one chunk whose full chunk
    would need more room than MAX_CHUNK_EVENTS gets room for its live shots only.
    Raises ValueError when a chunk needs room for more than MAX_CHUNK_EVENTS Poisson
    events, naming them and a chunk size that fits.
    """
    detectors, tagger = link.detectors, link.tagger
    period = float(link.source.period_ns)

    def rooms(n: int):
        capacity = ((link.source.name, link.source.emitting_capacity(n)),) + tuple(
            (m.name, m.noise_capacity(n)) for m in link.memories
        )
        return capacity, tuple(d.dark_capacity(tagger, period, n) for d in detectors)

    # Room for a whole chunk, so that the shot count never changes the compiled shapes;
    # only where that room is too large does a short run get room for its live shots.
    live = int(chunk_shots)
    capacity, dark_capacity = rooms(live)
    if (
        shots is not None
        and int(shots) < live
        and _events(capacity, dark_capacity) > (MAX_CHUNK_EVENTS)
    ):
        live = max(1, int(shots))
        capacity, dark_capacity = rooms(live)
    _check_room(link, live, capacity, dark_capacity)
    dead_time = tuple(d.has_dead_time() for d in detectors)
    # Mean clicks per chunk, bounded above (losses at their least, every detector at the
    # best efficiency): room for the clicks of a chunk.
    trans, path_of = 1.0, link.path_of
    for s in link.middle:
        if path_of[s.name] == 0:  # a stage on one branch does not bound the others
            trans *= s.max_transmission()
    photons = float(link.source.mean_photon_number) * trans + sum(
        float(m.read_noise_photons + m.write_noise_photons) for m in link.memories
    )
    darks = 0.0
    for d, dead in zip(detectors, dead_time, strict=True):
        a, b = d.dark_interval_ns(tagger, period, dead)
        darks += float(d.dark_count_rate_hz) * 1e-9 * (b - a)
    best = max(float(d.efficiency) for d in detectors)
    mean = live * (photons * best + darks)
    n_candidates = _events(capacity, dark_capacity)
    room = min(
        n_candidates, sampling.round_capacity(int(math.ceil(mean + 8 * math.sqrt(mean) + 64)))
    )
    # Detected photons of a chunk: mean at most live * photons * best, variance at most
    # twice the mean plus the noise's excess (E[n^2] <= 2 mu for the source with pairs,
    # 2 nbar + 2 nbar^2 for Poisson or thermal noise); room to 9 standard deviations, a
    # shortfall counted (hits_truncated) and reported like every other room's. The room
    # is the photon slots over a power of two, rounded up to a multiple of 64, so that
    # a changed loss rarely changes it (and recompiles) and XLA:CPU vectorises the
    # detected photons' arithmetic (erf_inv over 65537 float32 took 12 ns each, over
    # 65536 2 ns); none (0) when that would be every slot.
    hits = live * photons * best
    noise = sum(float(m.read_noise_photons) ** 2 + float(m.write_noise_photons) ** 2
                for m in link.memories)  # fmt: skip
    need = hits + 9.0 * math.sqrt(2.0 * hits + 2.0 * live * noise) + 64.0
    slots = n_candidates - sum(dark_capacity)  # the photons' slots
    k = 0
    while -(-slots // (2 << k)) >= need:
        k += 1
    hit_room = -(-slots // (64 << k)) * 64 if k else 0
    return AnalogPlan(
        chunk_shots=int(chunk_shots),
        capacity=capacity,
        dark_capacity=dark_capacity,
        dead_time=dead_time,
        click_capacity=room if any(dead_time) else 0,
        n_bins=tagger.n_bins,
        record_capacity=room if records else 0,
        hit_capacity=hit_room,
    )


def _events(capacity, dark_capacity) -> int:
    return sum(sum(c) for _, c in capacity) + sum(dark_capacity)


def _check_room(link: Link, live: int, capacity, dark_capacity) -> None:
    rooms = [(f"photons of {name!r}", sum(c)) for name, c in capacity]
    rooms += [
        (f"dark counts of detector {d.name!r}", c)
        for d, c in zip(link.detectors, dark_capacity, strict=True)
    ]
    total = sum(c for _, c in rooms)
    if total <= MAX_CHUNK_EVENTS:
        return
    what, most = max(rooms, key=lambda r: r[1])
    fits = 1 << max(0, int(math.floor(math.log2(live * MAX_CHUNK_EVENTS / total))))
    if most >= 1 << 62:  # an unbounded mean (a period of 1e300 ns, say)
        raise ValueError(
            f"one shot needs room for more Poisson events than any run holds (> 1e18 {what} "
            "per chunk): lower the rate, or shorten the period or the tagger window"
        )
    head = (
        f"a chunk of {live:,} shots needs room for {total:.3g} Poisson events (most of "
        f"them {what}: {most:.3g}), more than the {MAX_CHUNK_EVENTS:,} a chunk holds"
    )
    if live * MAX_CHUNK_EVENTS / total < 1:
        raise ValueError(
            f"{head}; one shot alone needs {total / live:.3g}: lower the rate, or shorten "
            "the period or the tagger window"
        )
    raise ValueError(f"{head}; use chunks of at most {fits:,} shots (--chunk-shots {fits})")


def merge_plans(plans) -> AnalogPlan:
    """One plan with room for each of `plans` (same link structure and chunk size)."""
    plans = list(plans)
    first = plans[0]

    def most(get):
        return max(get(p) for p in plans)

    capacity = tuple(
        (name, tuple(max(dict(p.capacity)[name][i] for p in plans) for i in range(len(c))))
        for name, c in first.capacity
    )
    dark = tuple(most(lambda p, i=i: p.dark_capacity[i]) for i in range(len(first.dark_capacity)))
    return dataclasses.replace(
        first,
        capacity=capacity,
        dark_capacity=dark,
        dead_time=tuple(any(p.dead_time[i] for p in plans) for i in range(len(first.dead_time))),
        click_capacity=most(lambda p: p.click_capacity),
        hit_capacity=most(lambda p: p.hit_capacity),
        record_capacity=most(lambda p: p.record_capacity),
    )


def analog_chunk(link: Link, key, n_shots, plan: AnalogPlan, tables=None):
    """One chunk of `plan.chunk_shots` shots, the first `n_shots` live.

    Returns the int32 histogram (n_detectors * n_origins, n_bins + 2), the info dict of
    counters and, when the plan records clicks, the registered clicks (shot in the chunk,
    histogram time, channel, origin; `plan.record_capacity` long, the first `count`
    valid), else None. tables: the reshaping stages' tables for this parameter set
    (`expected.prepare_tables`; built here when None).
    """
    period = link.source.period_ns
    ctx = Context(
        "analog",
        link.source.wavelength_nm,
        period,
        n_shots=n_shots,
        capacity=dict(plan.capacity),
        paths=link.path_of,
        chunk_shots=plan.chunk_shots,
        dephasing_time_ns=link.source.dephasing_time_ns,
        reshaping=link.reshaping,
        prepared=tables,
    )
    batch, info, key_det = propagate(link, key, plan.chunk_shots, ctx)
    detectors, tagger = link.detectors, link.tagger
    shot, t, channel, origin, valid, dropped = detect(
        detectors,
        batch,
        key_det,
        ctx,
        tagger,
        plan.dark_capacity,
        plan.dead_time,
        plan.hit_capacity,
    )
    info.update(dropped)
    if plan.click_capacity:
        valid = register(
            detectors, shot, t, channel, valid, period, plan.dead_time, plan.click_capacity
        )
    column = histogram.bin_index(t, tagger.window_start_ns, tagger.bin_width_ns, plan.n_bins)
    rows = channel * len(ORIGINS) + origin.astype(jnp.int32)
    hist = jnp.zeros((len(detectors) * len(ORIGINS), plan.n_bins + 2), jnp.int32)
    hist = histogram.accumulate(hist, column, rows, valid)
    info.update(batch_counts(link, hist, n_shots))
    records = None
    if plan.record_capacity:
        cap = plan.record_capacity
        index = scan.nonzero(valid, cap)
        count = jnp.sum(valid, dtype=jnp.int32)
        info["records_truncated"] = jnp.maximum(count - cap, 0)
        records = (shot[index], t[index], channel[index], origin[index], jnp.minimum(count, cap))
    return hist, info, records


#: Prefix of the per-chunk click counts from which the results' batch-means errors come
BATCH = "batch."


def batch_counts(link: Link, hist, n_shots) -> dict:
    """A chunk's click counts, all detectors together, for batch-means errors.

    batch.shots: live shots; batch.clicks: every click; batch.signal: in-window clicks of
    the signal (retrieved light with a memory, source light without); with a memory, in
    its default retrieval window (bins whose centre lies in it): batch.retrieved,
    batch.noise (memory noise and dark counts) and batch.leak (source light). Chunks
    start with live detectors, so their counts are independent (`batch_moments`).
    """
    h = hist.reshape(len(link.detectors), len(ORIGINS), -1).sum(axis=0)
    signal = RETRIEVED if link.memories else SOURCE
    out = {
        f"{BATCH}shots": n_shots,
        f"{BATCH}clicks": jnp.sum(h),
        f"{BATCH}signal": jnp.sum(h[signal, 1:-1]),
    }
    if link.memories:
        tagger = link.tagger
        a, b = link.memories[0].retrieval_window_ns(tagger.sync_offset_ns)
        centres = tagger.window_start_ns + tagger.bin_width_ns * (jnp.arange(h.shape[1] - 2) + 0.5)
        inside = (centres >= a) & (centres <= b)
        window = jnp.sum(jnp.where(inside, h[:, 1:-1], 0), axis=1)
        out[f"{BATCH}retrieved"] = window[RETRIEVED]
        out[f"{BATCH}noise"] = window[MEMORY_NOISE] + window[DARK]
        out[f"{BATCH}leak"] = window[SOURCE]
    return out


def batch_moments(table: np.ndarray, names: list[str]) -> dict:
    """Sums of products of the per-chunk batch counts (rows of `table`, columns `names`):
    `batch.a*b` = sum over chunks of a b, for every pair, and `batch.n`, the chunks (rows
    with live shots; rows of zeros pad distributed runs)."""
    cols = [j for j, k in enumerate(names) if k.startswith(BATCH)]
    short = {j: names[j][len(BATCH) :] for j in cols}
    shots = next((j for j in cols if short[j] == "shots"), None)
    if shots is None:
        return {}
    out = {f"{BATCH}n": float(np.count_nonzero(table[:, shots] > 0))}
    for i, a in enumerate(cols):
        for b in cols[i:]:
            out[f"{BATCH}{short[a]}*{short[b]}"] = math.fsum(table[:, a] * table[:, b])
    return out


def _analog_block(
    link, tables, run_key, first_chunk, n_chunks, last_chunk, last_shots, plan, per_block
):
    """Chunks first_chunk .. first_chunk + n_chunks - 1 on one device (n_chunks traced).

    Returns the summed int32 histogram and integer counters, the float counters of each
    chunk, (per_block, n_floats) float32 (rows past n_chunks are zero): the host adds
    those exactly (math.fsum), so float results do not depend on how chunks are grouped
    into blocks or spread over devices; and each chunk's click records (or None).
    """

    if tables is None:  # tabulated laws once per parameter set, not per chunk
        tables = prepare_tables(link)

    def chunk(c):
        n_valid = jnp.where(c == last_chunk, last_shots, plan.chunk_shots)
        key = jax.random.fold_in(run_key, c)
        hist, info, records = analog_chunk(link, key, n_valid, plan, tables)
        _INFO_NAMES[(jax.tree.structure(link), plan)] = tuple(info)  # saves _info_names a trace
        ints, floats = _split_info(info)
        floats = jnp.stack([floats[k] for k in sorted(floats)]) if floats else None
        return hist, ints, floats, records

    hist0, ints0, floats0, records0 = jax.eval_shape(chunk, first_chunk)
    # Zeros that vary with the device (they depend on first_chunk), as a loop carry
    # inside shard_map must; a plain constant would be replicated.
    varying = jnp.zeros((), jnp.int32) * first_chunk

    def zeros(shape_dtype, rows=None):
        shape = shape_dtype.shape if rows is None else (rows, *shape_dtype.shape)
        return jnp.zeros(shape, shape_dtype.dtype) + varying.astype(shape_dtype.dtype)

    per_chunk0 = None if floats0 is None else zeros(floats0, per_block)
    stacked0 = None if records0 is None else jax.tree.map(lambda r: zeros(r, per_block), records0)

    def body(i, carry):
        hist, ints, per_chunk, stacked = carry
        h, n, f, rec = chunk(first_chunk + i)
        if per_chunk is not None:
            per_chunk = per_chunk.at[i].set(f)
        if stacked is not None:
            stacked = jax.tree.map(lambda s_, r_: s_.at[i].set(r_), stacked, rec)
        return hist + h, jax.tree.map(jnp.add, ints, n), per_chunk, stacked

    init = (zeros(hist0), jax.tree.map(zeros, ints0), per_chunk0, stacked0)
    return jax.lax.fori_loop(0, n_chunks, body, init)


def _analog_blocks_impl(
    link_tables, run_key, firsts, counts, last_chunk, last_shots, plan, per_block, mesh
):
    """One block per device: device d runs chunks firsts[d] .. firsts[d] + counts[d] - 1.

    link_tables: (link, the reshaping stages' tables of `host_tables`, or None)."""
    link, tables = link_tables

    def local(firsts, counts):
        out = _analog_block(
            link, tables, run_key, firsts[0], counts[0], last_chunk, last_shots, plan, per_block
        )
        return jax.tree.map(lambda x: x[None], out)

    spec = jax.sharding.PartitionSpec("chunks")
    return jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=spec)(firsts, counts)


#: compiled analog blocks of this process by signature (see _compile_blocks): each a
#: function of (link, key, firsts, counts, last_chunk, last_shots); the KEPT_KERNELS
#: most recent are kept (`compile_cache.clear_caches` releases them all)
_KERNELS: dict = compile_cache.in_memory({})
KEPT_KERNELS = 16


class _Blocks:
    """The jitted analog blocks, counting the programs this process compiled of them
    (`_cache_size`), whether through this jit or through a stored kernel."""

    def __init__(self, fn):
        self._fn = fn

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def _cache_size(self) -> int:
        return self._fn._cache_size() + len(_KERNELS)


_analog_blocks = _Blocks(
    jax.jit(_analog_blocks_impl, static_argnames=("plan", "per_block", "mesh"))
)


def _compile_blocks(link, tables, key, n_all, mine, last_shots, plan, per_block, mesh, on_compile):
    """The compiled blocks of this run: compiled (or loaded) in a call that runs no
    chunk (every device's count is 0), timed and announced through on_compile, unless
    this process has them already.

    The signature is what the compiled function depends on: the link's structure and
    leaf types, the key type, the static arguments and the x64 flag. Every process of
    a distributed run computes the same signature, so all make the same calls.
    A single-device run lowers the blocks once with `jax.export` and keeps the
    lowered module beside the persistent compilation cache (`compile_cache.load_kernel`),
    so a later process skips tracing and lowering as well as XLA's compilation; the
    program is the same, and so are the results.
    """
    leaves, treedef = jax.tree.flatten((link, tables))
    signature = (
        treedef,
        tuple(jax.typeof(x) for x in leaves),
        jax.typeof(key),
        plan,
        per_block,
        mesh,
        bool(jax.config.jax_enable_x64),
    )
    kernel = _KERNELS.get(signature)
    if kernel is not None:
        return kernel
    if on_compile is not None:
        on_compile(None)
    start = time.perf_counter()
    zeros = np.zeros(n_all, np.int32)[mine]
    args = ((link, tables), key, zeros, zeros, 0, last_shots)
    with _rng_mode():
        kernel = _exported_blocks(signature, args, plan, per_block, mesh)
        if kernel is None:
            kernel = partial(_analog_blocks, plan=plan, per_block=per_block, mesh=mesh)
        jax.block_until_ready(kernel(*args))
    while len(_KERNELS) >= KEPT_KERNELS:
        _KERNELS.pop(next(iter(_KERNELS)))
    _KERNELS[signature] = kernel
    if on_compile is not None:
        on_compile(time.perf_counter() - start)
    return kernel


def _exported_blocks(signature, args, plan, per_block, mesh):
    """The blocks as a jitted call of their `jax.export` lowering, loaded from the
    kernel store or lowered now (and stored); None for a multi-process run or where
    the lowering cannot be exported (the caller then jits the blocks directly). The
    call places its arguments on the mesh: the link, tables and scalars on every
    device, the chunk ranges one per device."""
    if jax.process_count() > 1:
        return None
    treedef = signature[0]
    try:
        structure = _structure_bytes(treedef)
    except Exception:
        structure = None
    name = None
    if structure is not None:
        avals = [repr(a) for a in signature[1:3]]
        name = compile_cache.kernel_name(
            "analog blocks", repr(treedef), structure, avals, repr(plan), per_block, repr(mesh)
        )
    stored = compile_cache.load_kernel(name) if name is not None else None
    if stored is not None:
        exported, meta = stored
        _INFO_NAMES[(treedef.children()[0], plan)] = tuple(meta["info_names"])
    else:

        def flat(leaves, key, firsts, counts, last_chunk, last_shots):
            link = jax.tree.unflatten(treedef, leaves)
            return _analog_blocks_impl(
                link, key, firsts, counts, last_chunk, last_shots, plan, per_block, mesh
            )

        link, *rest = args
        try:
            exported = jax.export.export(jax.jit(flat))(jax.tree.leaves(link), *rest)
        except Exception:
            return None
        meta = {"lapack": "lapack" in exported.mlir_module()}
        if name is not None:
            info = _INFO_NAMES.get((treedef.children()[0], plan))
            if info is not None:
                compile_cache.store_kernel(name, exported, dict(meta, info_names=list(info)))
    every = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    each = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("chunks"))
    call = jax.jit(
        exported.call,
        in_shardings=(every, every, each, each, every, every),
        out_shardings=each,
    )
    lowered = []

    def kernel(link, key, firsts, counts, last_chunk, last_shots):
        leaves = jax.tree.leaves(link)
        if lowered:
            return call(leaves, key, firsts, counts, last_chunk, last_shots)
        # the first call lowers; a module without LAPACK calls needs no LAPACK set-up
        with _without_lapack_setup(meta.get("lapack", True) is False):
            out = call(leaves, key, firsts, counts, last_chunk, last_shots)
        lowered.append(True)
        return out

    return kernel


@contextlib.contextmanager
def _without_lapack_setup(skip: bool):
    """While lowering a call of an exported module on CPU, jax sets up its LAPACK
    handlers, which imports scipy.linalg (about a second on 2 cores). A module with no
    LAPACK call does not need them: skip that set-up (a speed measure only; where jax's
    internals differ, nothing is skipped)."""
    try:
        from jax._src.export import _export

        original = _export._ensure_backends_initialized
    except (ImportError, AttributeError):
        skip = False
    if not skip:
        yield
        return
    _export._ensure_backends_initialized = lambda platforms: None
    try:
        yield
    finally:
        _export._ensure_backends_initialized = original


def _structure_bytes(treedef) -> bytes:
    """The link structure's static data (each node's type and aux data) as bytes:
    exact where a repr could abbreviate (a long array, say)."""
    parts = []

    def walk(t):
        node = t.node_data()
        if node is None:
            parts.append(b"*")
            return
        kind, aux = node
        parts.append(f"{kind.__module__}.{kind.__qualname__}".encode())
        parts.append(pickle.dumps(aux, protocol=4))
        for child in t.children():
            walk(child)

    walk(treedef)
    return b"\0".join(parts)


def host_tables(link: Link):
    """The reshaping stages' tables (`expected.prepare_tables`) computed once, in float64,
    outside the compiled run, then rounded to float32: analog chunks then use exactly the
    tables an expected run of the same link uses (the physical memory's solver needs
    float64). None when the link needs none."""
    if not link.reshaping and link.source.dephasing_time_ns is None:
        return None
    leaves, treedef = jax.tree.flatten(link)
    key = (treedef, tuple(np.asarray(x).tobytes() for x in leaves))
    if key in _TABLES:
        return _TABLES[key]
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        tables = _prepare_jit(link64)
    tables = jax.tree.map(
        lambda x: np.asarray(x, np.float32) if np.issubdtype(x.dtype, np.floating) else x,
        tables,
    )
    if len(_TABLES) >= 8:
        _TABLES.pop(next(iter(_TABLES)))
    _TABLES[key] = tables
    return tables


_prepare_jit = jax.jit(prepare_tables)

#: host_tables of recent parameter sets (a second run of the same link reuses them)
_TABLES: dict = compile_cache.in_memory({})


def _split_info(info: dict):
    ints = {k: jnp.asarray(v).astype(jnp.int32) for k, v in info.items() if _is_int_counter(k)}
    floats = {k: jnp.asarray(v, jnp.float32) for k, v in info.items() if not _is_int_counter(k)}
    return ints, floats


def _is_int_counter(name: str) -> bool:
    return name == "photons_emitted" or name.endswith(("_truncated", ".pairs"))


#: The random-number generator of analog runs. Keys are jax.random threefry keys,
#: split and folded per chunk and stage; the per-photon uniforms are counter blocks of
#: the same cipher computed in photonmc.kernels.sampling (fusable, 2.3x faster on CPU);
#: the few remaining jax.random draws (Poisson totals, event shots) are threefry in its
#: non-partitionable form: a chunk's draws never span devices, and that form is twice
#: as fast on CPU (352 against 169 M uniforms/s, 2 cores).
PRNG_IMPL = "threefry2x32 (partitionable=False) with photonmc counter blocks"


def _rng_mode():
    """Context in which analog blocks are traced and run (see PRNG_IMPL)."""
    return jax.threefry_partitionable(False)


def _block_chunks(chunk_shots: int) -> int:
    """Chunks per device and block: ~2^24 shots, int32 counters far from overflow."""
    return max(1, (1 << 24) // chunk_shots)


@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Where and how often a long analog run saves its accumulators, and whether to resume.

    path: the checkpoint file (HDF5, written atomically). every_s: seconds between saves
    (also saved on Ctrl-C). resume: continue from the file instead of starting over; the
    result is bit for bit the one of an uninterrupted run. The file is removed when the
    run completes. read(path, identity) -> state and write(path, state): the file format,
    passed in (`photonmc.simulate` supplies `photonmc.io.checkpoint`'s when they are None).
    """

    path: str
    every_s: float = 300.0
    resume: bool = False
    read: Callable[[str, dict], dict] | None = dataclasses.field(default=None, compare=False)
    write: Callable[[str, dict], None] | None = dataclasses.field(default=None, compare=False)


def run_devices(n_chunks: int, per_block: int, local) -> list:
    """The devices among `local` that a run of n_chunks takes by default: one per whole
    block of per_block chunks, at least one. A short run stays on one device, whose
    lowered kernel a warm process only loads (a mesh of several is traced and lowered
    in every process); results are the same on any number."""
    local = list(local)
    return local[: max(1, min(len(local), n_chunks // per_block))]


def run_analog(
    link: Link,
    shots: int,
    key,
    chunk_shots: int = DEFAULT_CHUNK_SHOTS,
    progress: Callable[[int], None] | None = None,
    devices=None,
    on_records: Callable[[dict], None] | None = None,
    checkpoint: Checkpointing | None = None,
    plan: AnalogPlan | None = None,
    on_compile: Callable[[float | None], None] | None = None,
):
    """Analog counts of a run: (histogram int64 (n_origins, n_bins + 2), counters).

    Chunks are spread over `devices` (default: the local devices, as many as the run
    has whole blocks of chunks for, so a short run uses one), each device taking
    consecutive chunks of a block. Integer results are the same for any number of
    devices, and so are the float sums, which are added exactly on the host.
    on_records: called, in shot order, with the registered clicks of consecutive chunks
    as `click_records` gives them. checkpoint: see `Checkpointing`. plan: static shapes
    to use instead of this link's own (a sweep passes one plan that fits every point).
    on_compile: called with None before this process compiles (or loads from the
    persistent cache) the kernel of this plan and link structure, then with the seconds
    that took; the compilation is a separate call that runs no chunk, so the time of
    the blocks after it is the simulation's alone.
    """
    check_shots(shots, chunk_shots, "analog")
    plan = plan or analog_plan(link, chunk_shots, records=on_records is not None, shots=shots)
    n_chunks = -(-shots // chunk_shots)
    per_block = _block_chunks(chunk_shots)  # static: the same for every run of this plan
    if plan.record_capacity:
        # keep each block's records (per_block x capacity per device) to ~2^22 clicks
        per_block = max(1, min(per_block, (1 << 22) // plan.record_capacity))
    if devices is None:
        devices = jax.local_devices()
        if jax.process_count() == 1:
            devices = run_devices(n_chunks, per_block, devices)
    devices = list(devices)
    mesh = jax.sharding.Mesh(np.array(devices), ("chunks",))
    n_dev = len(devices)
    # Several processes (jax.distributed): each takes the chunks of its devices' places
    # among all devices; the results are gathered at the end (`_gather`).
    n_proc, rank = jax.process_count(), jax.process_index()
    if n_proc > 1 and (on_records is not None or checkpoint is not None):
        raise ValueError("time tags and checkpoints need a single-process run")
    if checkpoint is not None and (checkpoint.read is None or checkpoint.write is None):
        raise ValueError("Checkpointing needs its read and write functions (simulate gives them)")
    n_all = n_dev * n_proc
    mine = slice(rank * n_dev, (rank + 1) * n_dev)
    last_shots = shots - (n_chunks - 1) * chunk_shots
    tables = host_tables(link)
    kernel = _compile_blocks(
        link, tables, key, n_all, mine, last_shots, plan, per_block, mesh, on_compile
    )
    float_names = sorted(k for k in _info_names(link, plan) if not _is_int_counter(k))
    state = {
        "next_chunk": 0,
        "hist": np.zeros((len(link.detectors) * len(ORIGINS), plan.n_bins + 2), np.int64),
        "ints": {},
        "float_rows": np.zeros((0, len(float_names))),
        "float_names": float_names,
        "identity": _run_identity(link, shots, key, plan),
    }
    if checkpoint is not None and checkpoint.resume:
        if on_records is not None:
            raise ValueError("a run that writes time tags cannot be resumed; start it again")
        state = checkpoint.read(checkpoint.path, state["identity"])
        if progress is not None:
            progress(min(shots, state["next_chunk"] * chunk_shots))
    rows = [state["float_rows"]]
    last_save = time.monotonic()

    def save():
        if checkpoint is not None:
            state["float_rows"] = np.concatenate(rows)
            checkpoint.write(checkpoint.path, state)

    try:
        for first in range(state["next_chunk"], n_chunks, per_block * n_all):
            # The block's chunks in consecutive runs of equal length, one run per device
            # of every process; this process runs those of its own devices.
            share = -(-min(per_block * n_all, n_chunks - first) // n_all)
            firsts_all = first + share * np.arange(n_all, dtype=np.int32)
            counts_all = np.clip(n_chunks - firsts_all, 0, share).astype(np.int32)
            firsts, counts = firsts_all[mine], counts_all[mine]
            with _rng_mode():
                h, ints, per_chunk, records = kernel(
                    (link, tables), key, firsts, counts, n_chunks - 1, last_shots
                )
            h = np.asarray(h, np.int64).sum(axis=0)
            ints = {k: int(np.asarray(v, np.int64).sum()) for k, v in ints.items()}
            if per_chunk is not None:
                per_chunk = np.asarray(per_chunk, np.float64)
                rows.extend(per_chunk[d, : counts[d]] for d in range(n_dev))
            if records is not None:
                on_records(click_records(link, records, firsts, counts, chunk_shots))
            # The block is complete: fold it into the state in one step.
            state["hist"] = state["hist"] + h
            state["ints"] = {k: state["ints"].get(k, 0) + v for k, v in ints.items()}
            state["next_chunk"] = first + int(counts_all.sum())
            if progress is not None:
                done = min(shots, state["next_chunk"] * chunk_shots)
                progress(done - min(shots, first * chunk_shots))
            if checkpoint is not None and time.monotonic() - last_save > checkpoint.every_s:
                save()
                last_save = time.monotonic()
    except KeyboardInterrupt:
        save()
        raise
    table = np.concatenate(rows)
    if n_proc > 1:
        state["hist"], state["ints"], table = _gather(state["hist"], state["ints"], table)
    counters: dict[str, float] = dict(state["ints"])
    for j, k in enumerate(float_names):
        counters[k] = math.fsum(table[:, j])
    counters.update(batch_moments(table, float_names))
    if checkpoint is not None:
        Path(checkpoint.path).unlink(missing_ok=True)
    return state["hist"], counters


def _gather(hist: np.ndarray, ints: dict, table: np.ndarray):
    """Sum histograms and counters over processes; collect every process's float rows
    (zero rows pad them to one length, which the exact sums ignore)."""
    from jax.experimental import multihost_utils

    names = sorted(ints)
    with jax.enable_x64(True):
        hist = np.asarray(multihost_utils.process_allgather(hist), np.int64).sum(axis=0)
        values = np.array([ints[k] for k in names], np.int64)
        values = np.asarray(multihost_utils.process_allgather(values), np.int64).sum(axis=0)
        n = np.asarray(multihost_utils.process_allgather(np.int64(table.shape[0])))
        padded = np.zeros((int(n.max()), table.shape[1]))
        padded[: table.shape[0]] = table
        tables = np.asarray(multihost_utils.process_allgather(padded), np.float64)
    return (
        hist,
        dict(zip(names, (int(v) for v in values), strict=True)),
        tables.reshape(-1, table.shape[1]),
    )


def _run_identity(link: Link, shots: int, key, plan: AnalogPlan) -> dict:
    """What makes a run this run, for checking that a checkpoint belongs to it."""
    leaves = [np.asarray(x, np.float64).ravel().tolist() for x in jax.tree.leaves(link)]
    return {
        "link": repr(jax.tree.structure(link)),
        "parameters": leaves,
        "key": np.asarray(jax.random.key_data(key)).ravel().tolist(),
        "shots": int(shots),
        "plan": repr(plan),
        "prng": PRNG_IMPL,
        "photonmc": __version__,
    }


def click_records(link: Link, records, firsts, counts, chunk_shots: int) -> dict:
    """The registered clicks of one block as time tags (docs/physics.md section 1).

    Returns numpy arrays sorted by absolute time within each chunk: `shot` (int64, the
    shot index in the run), `channel` (uint8; detectors are channels 0, 1, ... in link
    order), `time_ps` (int64 absolute time s * T_rep + t + D, rounded to the nearest ps;
    t is the retarded click time and D the fixed fibre delay to that detector), `origin`
    (int8 index into ORIGINS, what the simulation knows and a real tagger does not).
    Chunks are in shot order; a click later than the next chunk's first click (possible
    only for windows longer than the shot period) stays with its own chunk.
    """
    shot, t, channel, origin, n = (np.asarray(x) for x in records)
    period_ps = float(link.source.period_ns) * 1e3
    # sync offset and the fixed fibre delay to each detector, ps
    offset_ps = 1e3 * (
        float(link.tagger.sync_offset_ns) + np.array([link.delay_to(d) for d in link.detectors])
    )
    parts = []
    for d in range(len(firsts)):
        for j in range(int(counts[d])):
            m = int(n[d, j])
            s = shot[d, j, :m].astype(np.int64) + (int(firsts[d]) + j) * chunk_shots
            ch = channel[d, j, :m]
            t_ps = t[d, j, :m].astype(np.float64) * 1e3 + offset_ps[ch]
            time_ps = np.rint(s * period_ps + t_ps).astype(np.int64)
            order = np.argsort(time_ps, kind="stable")
            parts.append((s[order], ch[order], time_ps[order], origin[d, j, :m][order]))
    cat = [np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(4)]
    return {
        "shot": cat[0].astype(np.int64),
        "channel": cat[1].astype(np.uint8),
        "time_ps": cat[2].astype(np.int64),
        "origin": cat[3].astype(np.int8),
    }


#: names of a chunk's info counters by (link structure, plan), noted while tracing
_INFO_NAMES: dict = {}


def _info_names(link: Link, plan: AnalogPlan) -> list[str]:
    """Names of the info counters of a chunk (noted when the blocks were traced, else
    from an abstract evaluation)."""
    known = _INFO_NAMES.get((jax.tree.structure(link), plan))
    if known is not None:
        return list(known)
    _, info, _ = jax.eval_shape(
        lambda lk: analog_chunk(lk, jax.random.key(0), plan.chunk_shots, plan), link
    )
    return list(info)
