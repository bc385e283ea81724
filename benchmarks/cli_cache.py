"""Wall time of `photonmc simulate` with an empty, then a warm compilation cache.

    python benchmarks/cli_cache.py [CONFIG.toml] [--shots N] [--big-shots M] [--json OUT]

Runs the CLI on the config (default: the seed config, its own shot count unless --shots)
twice, each in a fresh process, with `--cache-dir` pointing at a new empty directory:
the first run compiles and fills the cache, the second loads from it. Prints both wall
times (the whole process, as a user sees it), the compile time each reported, and the
ratio second / first. --big-shots M then runs M shots with the warm cache and prints the
emitted photons per second over the whole process. Nothing here asserts a time; on a
busy machine compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"


def run_cli(config: str, cache: str, out: str, shots: int | None) -> dict:
    """One `photonmc simulate --json` in a fresh process: its summary and wall time."""
    command = [sys.executable, "-m", "photonmc.cli", "simulate", config, "--json", "--force"]
    command += ["--out", out, "--cache-dir", cache]
    if shots:
        command += ["--shots", str(shots)]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=os.path.dirname(out)
    )
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout)
    return {"wall_s": wall, "summary": summary, "stderr": done.stderr.strip()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--shots", type=int, default=None)
    parser.add_argument("--big-shots", type=float, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    config = str(pathlib.Path(args.config).resolve())

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        cache = os.path.join(scratch, "cache")
        out = os.path.join(scratch, "result.h5")
        for label in ("empty cache", "warm cache"):
            r = run_cli(config, cache, out, args.shots)
            rows.append((label, args.shots, r))
        if args.big_shots:
            shots = int(args.big_shots)
            rows.append(("warm cache, big run", shots, run_cli(config, cache, out, shots)))
        entries = len(os.listdir(cache))

    print(f"config {config}; `photonmc simulate` in fresh processes; {os.cpu_count()} CPUs")
    print(f"{'':22s} {'shots':>12s} {'wall s':>8s} {'compile s':>10s} {'sim s':>7s} "
          f"{'photons/s (process)':>20s}")  # fmt: skip
    for label, _, r in rows:
        s = r["summary"]
        sim = s["photons_emitted"] / s["photons_per_second"] if s["photons_per_second"] else 0
        print(
            f"{label:22s} {s['shots']:12.4g} {r['wall_s']:8.2f} {s['compile_seconds']:10.2f} "
            f"{sim:7.2f} {s['photons_emitted'] / r['wall_s']:20.3g}"
        )
    first, second = rows[0][2]["wall_s"], rows[1][2]["wall_s"]
    print(f"cache entries written: {entries}")
    print(f"ratio warm / empty cache (wall time): {second / first:.3f}  (target <= 0.30)")
    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "what": label,
                        "shots": r["summary"]["shots"],
                        "wall_s": r["wall_s"],
                        "summary": r["summary"],
                    }
                    for label, _, r in rows
                ],  # fmt: skip
                indent=1,
            )
        )
    return rows


if __name__ == "__main__":
    main()
