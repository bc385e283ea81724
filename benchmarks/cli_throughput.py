"""Emitted photons per second of a whole `photonmc simulate` process, warm cache.

    python benchmarks/cli_throughput.py [CONFIG.toml] [--shots N] [--warmup-shots M]
                                        [--cache-dir DIR]

Runs `photonmc simulate CONFIG --shots N` (default: the seed config, 1e9 shots) as a
user does, in a fresh process, after the same command in another process has filled
the compilation cache (`--cache-dir`; default a new temporary directory, so the figure
never depends on what an earlier run left). `--warmup-shots` gives the warm-up run
another shot count; one that runs on fewer devices (`photonmc.analog.run_devices`)
leaves the timed run's kernel out of the cache. Prints the wall time of the timed
process, the emitted photons per second over that whole time (start-up, loading the
kernel, simulating, writing the result), and the simulation's own rate as the CLI
reports it. Nothing here asserts a time; on a busy machine the figure is a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"


def cli_command() -> list[str]:
    """The installed `photonmc` script beside this Python, else `python -m photonmc.cli`."""
    script = pathlib.Path(sys.executable).with_name("photonmc")
    if script.exists():
        return [str(script)]
    found = shutil.which("photonmc")
    return [found] if found else [sys.executable, "-m", "photonmc.cli"]


def run(config: str, shots: int, cache: str, out: str) -> tuple[float, dict]:
    command = [*cli_command(), "simulate", config, "--shots", str(shots), "--json"]
    command += ["--force", "--out", out, "--cache-dir", cache]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, json.loads(done.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--shots", type=float, default=1e9)
    parser.add_argument("--warmup-shots", type=float, default=None)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args(argv)
    config = str(pathlib.Path(args.config).resolve())
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache_dir or os.path.join(scratch, "cache")
        out = os.path.join(scratch, "result.h5")
        warm_wall, warm = run(config, int(args.warmup_shots or args.shots), cache, out)
        wall, s = run(config, int(args.shots), cache, out)
    sim_s = s["photons_emitted"] / s["photons_per_second"] if s["photons_per_second"] else 0.0
    print(f"config {config}; {os.cpu_count()} CPUs; command: photonmc simulate "
          f"{pathlib.Path(config).name} --shots {int(args.shots)}")  # fmt: skip
    print(f"warm-up run ({int(args.warmup_shots or args.shots):,} shots): {warm_wall:.2f} s, "
          f"compile {warm['compile_seconds']:.2f} s")  # fmt: skip
    print(
        f"timed run: {s['shots']:,} shots, {s['photons_emitted']:,} photons emitted, "
        f"wall {wall:.2f} s (kernel load {s['compile_seconds']:.2f} s, simulation "
        f"{sim_s:.2f} s, the rest {wall - sim_s - s['compile_seconds']:.2f} s)"
    )
    print(
        f"emitted photons per second over the whole process: {s['photons_emitted'] / wall:.3g}"
        f"  (target >= 5e6); the simulation's own: {s['photons_per_second']:.3g}"
    )
    return wall, s


if __name__ == "__main__":
    main()
