"""Scaling of analog runs: shots per second and peak memory against shot count and devices.

    python benchmarks/scaling.py [CONFIG.toml] [--shots 1e6,1e7,1e8,1e9] [--devices 1,2,4]
                                 [--numpy-shots 1e6] [--json OUT.json]

Each measurement runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is
its own; the compile is excluded from the timing (a warm-up run first) but not from the
memory. Device counts on CPU are host devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=N`), which share the machine's cores:
they show the overhead of spreading chunks, not a speed-up. The plain-numpy
implementation of the same model (numpy_reference.py) runs in its own subprocess as the
baseline, and every photonmc row prints its speed ratio to it. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"

PHOTONMC = """
import json, resource, time, jax, photonmc as pmc
from photonmc.config import load_config
cfg = load_config({config!r})
pmc.simulate(cfg.link, min({shots}, cfg.chunk_shots), key=0)
start = time.perf_counter()
res = pmc.simulate(cfg.link, {shots}, key=1)
elapsed = time.perf_counter() - start
print(json.dumps(dict(seconds=elapsed, photons=float(res.photons_emitted),
                      devices=len(jax.local_devices()), backend=jax.default_backend(),
                      peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""

NUMPY = """
import json, resource, sys, time
sys.path.insert(0, {here!r})
import numpy_reference as ref
cfg = ref.load_config({config!r})
chunk = cfg["run"]["chunk_shots"]  # the same chunks as photonmc (dead time depends on them)
ref.simulate_numpy(cfg, 1 << 16, seed=0, chunk_shots=chunk)
start = time.perf_counter()
out = ref.simulate_numpy(cfg, {shots}, seed=1, chunk_shots=chunk)
elapsed = time.perf_counter() - start
print(json.dumps(dict(seconds=elapsed, photons=float(out["photons_emitted"]), devices=1,
                      backend="numpy",
                      peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def measure(code: str, env: dict | None = None) -> dict:
    # from a scratch directory, so the installed photonmc is imported, not the checkout's
    # source tree (whose kernels/ only become photonmc.kernels when installed)
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=scratch,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--shots", default="1e6,1e7,1e8")
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--numpy-shots", type=float, default=1e6)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    shot_counts = [int(float(x)) for x in args.shots.split(",") if x]
    device_counts = [int(x) for x in args.devices.split(",") if x]

    rows = []
    base = None
    if args.numpy_shots:
        shots = int(args.numpy_shots)
        r = measure(NUMPY.format(here=str(HERE), config=args.config, shots=shots))
        base = shots / r["seconds"]
        rows.append(dict(what="numpy reference", shots=shots, **r))
    for shots in shot_counts:
        r = measure(PHOTONMC.format(config=args.config, shots=shots))
        rows.append(dict(what="photonmc analog", shots=shots, **r))
    largest = shot_counts[-1] if shot_counts else int(1e7)
    for n in device_counts:
        if n == 1:
            continue
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        r = measure(PHOTONMC.format(config=args.config, shots=largest), env)
        rows.append(dict(what=f"photonmc analog, {n} host devices", shots=largest, **r))

    print(f"config {args.config}, {os.cpu_count()} CPUs")
    print(
        f"{'':34s} {'shots':>10s} {'shots/s':>10s} {'photons/s':>10s} {'peak MiB':>9s} "
        f"{'x numpy':>8s}"
    )
    for r in rows:
        rate = r["shots"] / r["seconds"]
        ratio = f"{rate / base:8.2f}" if base else ""
        print(
            f"{r['what']:34s} {r['shots']:10.3g} {rate:10.3g} {r['photons'] / r['seconds']:10.3g} "
            f"{r['peak_mib']:9.0f} {ratio}"
        )
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
