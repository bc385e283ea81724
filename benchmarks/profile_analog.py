"""Where an analog chunk's time goes: RNG draws, stages, overlap, dead time, histogram.

    python benchmarks/profile_analog.py [CONFIG.toml] [--chunk-shots N] [--chunks K]
                                        [--mu MU] [--repeats R]

Times stripped-down variants of one chunk of the engine, each compiled as a loop over K
chunks (key fold_in(key, c), as runs do) in this one process:
- `random bits only`: exactly the random bits the full chunk draws (the `random_bits`
  primitives of its jaxpr and the counter blocks of `photonmc.kernels.sampling`, same
  shapes), summed;
- `emit`: the source alone; `propagate`: source and every stage up to the detectors;
- `propagate, overlap = const`: the same with the memory's mode overlap replaced by a
  constant (its cost is the difference);
- `detect`: plus the detection draws (fates, delays, jitter, dark counts);
- `dead time`: plus the dead-time kernel; `full chunk`: plus the histogram (the engine's
  `analog_chunk` itself).
Prints ns per shot and per emitted photon of each variant and the increments between
consecutive ones. Each variant reduces its outputs to a sum, so nothing is dead code;
the sums cost a little. Nothing here asserts a time; on a busy machine the shares are
what to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

from photonmc import analog
from photonmc import analog_detection as detector_stage
from photonmc.config import load_config
from photonmc.kernels import sampling
from photonmc.link import propagate
from photonmc.stages import Context, LadderMemory

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"


def _context(link, plan, n_shots, tables):
    return Context(
        "analog",
        link.source.wavelength_nm,
        link.source.period_ns,
        n_shots=n_shots,
        capacity=dict(plan.capacity),
        paths=link.path_of,
        chunk_shots=plan.chunk_shots,
        dephasing_time_ns=link.source.dephasing_time_ns,
        reshaping=link.reshaping,
        prepared=tables,
    )


def _total(tree):
    """One float32 number from every array of `tree` (keeps the work alive)."""
    out = jnp.zeros((), jnp.float32)
    for x in jax.tree.leaves(tree):
        if isinstance(x, np.ndarray):
            continue
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer):
            out = out + jnp.sum(x.astype(jnp.float32))
        elif x.dtype == jnp.bool_:
            out = out + jnp.sum(x, dtype=jnp.int32).astype(jnp.float32)
    return out


def variants(link, plan):
    """name -> chunk function (link, tables, key, n_shots) -> anything; cumulative
    stages. tables: the reshaping stages' tables, made once outside the loop as a run
    makes them (`analog.host_tables`)."""
    detectors, tagger = link.detectors, link.tagger

    def emit(lk, tables, key, n):
        return lk.source.emit(jax.random.split(key, len(lk.middle) + 2)[0], plan.chunk_shots,
                              _context(lk, plan, n, tables))  # fmt: skip

    def prop(lk, tables, key, n):
        return propagate(lk, key, plan.chunk_shots, _context(lk, plan, n, tables))

    def detect(lk, tables, key, n):
        ctx = _context(lk, plan, n, tables)
        batch, info, key_det = propagate(lk, key, plan.chunk_shots, ctx)
        clicks = detector_stage.detect(
            lk.detectors, batch, key_det, ctx, tagger, plan.dark_capacity, plan.dead_time,
            plan.hit_capacity,
        )  # fmt: skip
        return clicks, info

    def dead(lk, tables, key, n):
        (shot, t, channel, origin, valid, _), info = detect(lk, tables, key, n)
        if plan.click_capacity:
            valid = detector_stage.register(
                detectors, shot, t, channel, valid, lk.source.period_ns, plan.dead_time,
                plan.click_capacity,
            )  # fmt: skip
        return t, channel, origin, valid, info

    def full(lk, tables, key, n):
        return analog.analog_chunk(lk, key, n, plan, tables)

    return {
        "emit": emit,
        "propagate": prop,
        "propagate, overlap = const": prop,  # run with the overlap patched
        "detect": detect,
        "dead time": dead,
        "full chunk": full,
    }


@contextlib.contextmanager
def constant_overlap():
    original = LadderMemory.overlap
    LadderMemory.overlap = lambda self, batch, *args, **kw: jnp.full(batch.t_ref_ns.shape, 0.5,
                                                        batch.t_ref_ns.dtype)  # fmt: skip
    try:
        yield
    finally:
        LadderMemory.overlap = original


def random_bit_shapes(link, plan, tables):
    """Shapes of every random_bits draw of one full chunk (from its jaxpr)."""
    shapes = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "random_bits":
                shapes.append((tuple(eqn.params["shape"]), eqn.params["bit_width"], "jax"))
            for value in eqn.params.values():
                for sub in value if isinstance(value, tuple | list) else (value,):
                    if hasattr(sub, "jaxpr") and hasattr(sub.jaxpr, "eqns"):
                        walk(sub.jaxpr)
                    elif hasattr(sub, "eqns"):
                        walk(sub)

    # counter blocks of photonmc.kernels.sampling: noted as they are traced
    original = sampling.random_bits

    def noting(key, shape):
        shapes.append((tuple(shape), 32, "block"))
        return original(key, shape)

    sampling.random_bits = noting
    try:
        with analog._rng_mode():
            closed = jax.make_jaxpr(
                lambda k: analog.analog_chunk(link, k, plan.chunk_shots, plan, tables)
            )(jax.random.key(0))
    finally:
        sampling.random_bits = original
    walk(closed.jaxpr)
    return shapes


def timed_loop(fn, link, tables, chunks, repeats, n_shots):
    @jax.jit
    def run(lk, tables, key):
        def body(c, acc):
            return acc + _total(fn(lk, tables, jax.random.fold_in(key, c), n_shots))

        return jax.lax.fori_loop(0, chunks, body, jnp.zeros((), jnp.float32))

    with analog._rng_mode():
        key = jax.random.key(0)
        run(link, tables, key).block_until_ready()  # compile
        best = math.inf
        for r in range(repeats):
            t0 = time.perf_counter()
            run(link, tables, jax.random.key(r + 1)).block_until_ready()
            best = min(best, time.perf_counter() - t0)
    return best / chunks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--chunk-shots", type=int, default=None)
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mu", type=float, default=None, help="mean photon number instead")
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    link = cfg.link
    if args.mu is not None:
        link = link.set(f"{link.source.name}.mean_photon_number", args.mu)
    chunk = args.chunk_shots or cfg.chunk_shots
    plan = analog.analog_plan(link, chunk)
    photons = float(link.source.mean_photon_number) * chunk  # emitted per chunk (mean)
    tables = analog.host_tables(link)
    shapes = random_bit_shapes(link, plan, tables)
    n_bits = sum(math.prod(s) * (w // 32 or 1) for s, w, _ in shapes)
    print(f"config {args.config}, mu {float(link.source.mean_photon_number):g}, chunk {chunk}")
    print(
        f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs, PRNG "
        f"{analog.PRNG_IMPL}; {len(shapes)} random draws per chunk, "
        f"{n_bits / chunk:.3g} 32-bit words per shot, {n_bits / max(photons, 1):.3g} per photon"
    )

    def bits_only(lk, tables, key, n):
        keys = jax.random.split(key, len(shapes))
        return [
            sampling.random_bits(k, s)
            if kind == "block"
            else jax.random.bits(k, s, jnp.uint32 if w <= 32 else jnp.uint64)
            for k, (s, w, kind) in zip(keys, shapes, strict=True)
        ]

    rows = [
        ("random bits only", timed_loop(bits_only, link, tables, args.chunks, args.repeats, chunk))
    ]
    for name, fn in variants(link, plan).items():
        ctx = constant_overlap() if "overlap = const" in name else contextlib.nullcontext()
        with ctx:
            rows.append((name, timed_loop(fn, link, tables, args.chunks, args.repeats, chunk)))

    print(f"{'variant':30s} {'ns/shot':>9s} {'ns/photon':>10s} {'+ns/photon':>11s} {'share':>6s}")
    full = rows[-1][1]
    previous = None  # the previous cumulative variant (the constant-overlap one is aside)
    for name, t in rows:
        aside = name == "random bits only" or "overlap = const" in name
        inc = "" if aside or previous is None else f"{(t - previous) / photons * 1e9:11.1f}"
        print(
            f"{name:30s} {t / chunk * 1e9:9.2f} {t / max(photons, 1) * 1e9:10.1f} {inc:>11s} "
            f"{t / full:6.0%}"
        )
        if not aside:
            previous = t
    prop = dict(rows)["propagate"]
    const = dict(rows)["propagate, overlap = const"]
    print(f"overlap: {(prop - const) / max(photons, 1) * 1e9:.1f} ns per photon, "
          f"{(prop - const) / full:.0%} of the chunk")  # fmt: skip
    print(f"random bits: {dict(rows)['random bits only'] / full:.0%} of the chunk")
    print(f"chunk total: {full * 1e3:.2f} ms = {chunk / full:.3g} shots/s, "
          f"{photons / full:.3g} photons/s")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
