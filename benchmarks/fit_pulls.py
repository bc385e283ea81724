"""Pull distribution of the histogram fit over many seeds, and fit timings.

    python benchmarks/fit_pulls.py [--seeds N] [--shots S] [--first-seed K]

Analog data at three storage times (the recovery test's link, tests/test_fit.py) are
fitted jointly for five parameters (source lifetime, write efficiency, memory lifetime,
detector jitter, dark-count rate), N times with fresh seeds. Prints, per parameter, the
mean and standard deviation of the pulls (fitted - true) / stderr, which should be
~0 and ~1, and the time of the first fit (compiling) against the later ones (the
compiled objective is reused). Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

import numpy as np

import photonmc as pmc

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from test_fit import FREE, analog_datasets, memory_link  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--shots", type=int, default=500_000)
    parser.add_argument("--first-seed", type=int, default=1000)
    args = parser.parse_args()

    truth = memory_link()
    start = memory_link(lifetime=0.55, eta_w=0.5, mem=1.3, jitter=60.0, dark=3e4)
    pulls = {n: [] for n in FREE}
    fit_times, sim_times, iterations, p_values = [], [], [], []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        data = analog_datasets(truth, seed + args.first_seed, shots=args.shots)
        t1 = time.perf_counter()
        result = pmc.fit(start, data, FREE)
        t2 = time.perf_counter()
        sim_times.append(t1 - t0)
        fit_times.append(t2 - t1)
        iterations.append(result.iterations)
        p_values.append(result.p_value)
        if not result.converged:
            print(f"seed {seed}: not converged: {result.warnings}")
        for n in FREE:
            pulls[n].append((result.values[n] - float(truth.get(n))) / result.stderr[n])
    n = args.seeds
    print(f"{n} seeds, {args.shots:,} shots per storage time x {len(data)}, {len(FREE)} free")
    print(f"{'parameter':<32}{'mean pull':>12}{'sd pull':>10}   (expected 0 +- "
          f"{1 / math.sqrt(n):.2f}, 1 +- {1 / math.sqrt(2 * (n - 1)):.2f})")  # fmt: skip
    for name, p in pulls.items():
        p = np.asarray(p)
        print(f"{name:<32}{p.mean():>12.3f}{p.std(ddof=1):>10.3f}")
    later = np.asarray(fit_times[1:]) if n > 1 else np.asarray(fit_times)
    print(
        f"first fit (compiles): {fit_times[0]:.2f} s; later fits: median {np.median(later):.3f} s"
    )
    print(f"iterations: median {int(np.median(iterations))}, max {max(iterations)}")
    print(f"p-values: mean {np.mean(p_values):.3f} (uniform: 0.5)")
    print(f"analog data per seed: median {np.median(sim_times[1:] or sim_times):.2f} s")


if __name__ == "__main__":
    main()
