"""Throughput of photonmc on a config, both modes, against plain numpy in the same process.

    python benchmarks/throughput.py [CONFIG.toml] [--shots N] [--numpy-shots M]
                                    [--mu-one] [--cpu-devices D] [--json OUT.json]

Prints shots per second and emitted photons per second of
- analog mode (compiled once, warmed up, then timed over N shots),
- expected mode (one expected histogram over all bins, and value + gradient of a
  summary with respect to every parameter),
- the independent numpy implementation of the same analog model
  (`numpy_reference.py`), over M shots,
and the ratio of analog photonmc to numpy in emitted photons per second. `--mu-one`
also times the link with one photon per shot (mean_photon_number = 1), both photonmc
and numpy, which measures the per-photon cost that a dim source hides behind its empty
shots. On CPUs the process makes one JAX device per core first, as the `photonmc`
command does (`photonmc.use_cpu_cores`; --cpu-devices D chooses), and analog mode is
timed both on one device and spread over all of them, each against numpy. Nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import photonmc as pmc
from photonmc.config import load_config

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import numpy_reference  # noqa: E402

DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"


def time_analog(link, shots, chunk_shots, devices=None):
    # compile and warm up every device
    warm = min(shots, chunk_shots * len(devices or jax.local_devices()))
    pmc.simulate(link, warm, key=0, chunk_shots=chunk_shots, devices=devices)
    start = time.perf_counter()
    res = pmc.simulate(link, shots, key=1, chunk_shots=chunk_shots, devices=devices)
    elapsed = time.perf_counter() - start
    return elapsed, res.photons_emitted


def time_expected(link, repeats=5):
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        value = jax.jit(lambda lk: pmc.expected_counts(lk)[0])
        grad = jax.jit(jax.grad(lambda lk: jnp.sum(pmc.expected_counts(lk)[0][1])))
        jax.block_until_ready(value(link64))
        jax.block_until_ready(grad(link64))
        t0 = time.perf_counter()
        for _ in range(repeats):
            jax.block_until_ready(value(link64))
        t_value = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            jax.block_until_ready(grad(link64))
        t_grad = (time.perf_counter() - t0) / repeats
    return t_value, t_grad


def time_numpy(config_path, shots, chunk_shots, mu=None):
    cfg = numpy_reference.load_config(config_path)
    if mu is not None:
        for stage in cfg["stage"]:
            if stage["type"] == "QuantumDot":
                stage["mean_photon_number"] = mu
    numpy_reference.simulate_numpy(cfg, min(shots, 1 << 16), seed=0, chunk_shots=chunk_shots)
    start = time.perf_counter()
    out = numpy_reference.simulate_numpy(cfg, shots, seed=1, chunk_shots=chunk_shots)
    return time.perf_counter() - start, out["photons_emitted"]


def row(name, shots, elapsed, photons):
    return {
        "what": name,
        "shots": shots,
        "seconds": elapsed,
        "shots_per_s": shots / elapsed,
        "photons_per_s": photons / elapsed,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--shots", type=int, default=20_000_000)
    parser.add_argument("--numpy-shots", type=int, default=2_000_000)
    parser.add_argument("--chunk-shots", type=int, default=None)
    parser.add_argument("--mu-one", action="store_true")
    parser.add_argument("--cpu-devices", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    n_cpu = pmc.use_cpu_cores(args.cpu_devices)

    cfg = load_config(args.config)
    chunk = args.chunk_shots or cfg.chunk_shots
    print(f"config {args.config}")
    print(
        f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{os.cpu_count()} CPUs, PRNG {jax.config.jax_default_prng_impl}, chunk {chunk}; "
        f"{len(jax.local_devices())} local device(s), {n_cpu} CPU device(s)"
    )

    rows = []
    links = [("", cfg.link)]
    if args.mu_one:
        bright = cfg.link.set(f"{cfg.link.source.name}.mean_photon_number", 1.0)
        links.append((", mu = 1", bright))
    several = len(jax.local_devices()) > 1
    for suffix, link in links:
        if several:
            one = jax.local_devices()[:1]
            elapsed, photons = time_analog(link, args.shots, chunk, devices=one)
            rows.append(row("photonmc analog, one device" + suffix, args.shots, elapsed, photons))
        # every device (a run shorter than a block per device would default to fewer)
        elapsed, photons = time_analog(link, args.shots, chunk, devices=jax.local_devices())
        rows.append(row("photonmc analog" + suffix, args.shots, elapsed, photons))
    t_value, t_grad = time_expected(cfg.link)
    rows.append({"what": "photonmc expected, one histogram", "seconds": t_value})
    rows.append({"what": "photonmc expected, value + gradient", "seconds": t_grad})
    if args.numpy_shots:
        elapsed, photons = time_numpy(args.config, args.numpy_shots, chunk)
        rows.append(row("numpy reference analog", args.numpy_shots, elapsed, photons))
        if args.mu_one:
            shots = max(1, args.numpy_shots // 10)  # 20x the photons per shot
            elapsed, photons = time_numpy(args.config, shots, chunk, mu=1.0)
            rows.append(row("numpy reference analog, mu = 1", shots, elapsed, photons))

    print(f"{'':42s} {'shots/s':>11s} {'photons/s':>11s} {'seconds':>9s}")
    for r in rows:
        if "shots_per_s" in r:
            print(
                f"{r['what']:42s} {r['shots_per_s']:11.3e} {r['photons_per_s']:11.3e} "
                f"{r['seconds']:9.3f}"
            )
        else:
            print(f"{r['what']:42s} {'':11s} {'':11s} {r['seconds']:9.4f}")
    by_name = {r["what"]: r for r in rows}
    for suffix in ("", ", mu = 1"):
        theirs = by_name.get("numpy reference analog" + suffix)
        for which, label in (
            ("photonmc analog, one device", "one device"),
            ("photonmc analog", f"{len(jax.local_devices())} device(s)"),
        ):
            ours = by_name.get(which + suffix)
            if ours and theirs:
                ratio = ours["photons_per_s"] / theirs["photons_per_s"]
                what = suffix.lstrip(", ") or "config"
                print(
                    f"ratio photonmc analog, {label} / numpy ({what}, emitted photons per "
                    f"second): {ratio:.2f}"
                )
    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps(
                {
                    "rows": rows,
                    "backend": jax.default_backend(),
                    "device": jax.devices()[0].device_kind,
                    "devices": len(jax.local_devices()),
                },
                indent=1,
            )
        )
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
