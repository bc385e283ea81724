"""How many quadrature nodes a fit of a histogram needs: model differences in data sigmas.

    python benchmarks/fit_nodes.py [CONFIG.toml] [--shots N] [--nodes F,Z ...]

The expected-mode model of a histogram integrates the source's feeding delay and
spectral diffusion by quadrature (feeding x diffusion nodes). For each node count this
prints the model's largest per-bin difference from a 64 x 32 reference, in standard
deviations of a bin's Poisson count at N shots (|mu - mu_ref| / sqrt(mu_ref)), their
root sum of squares over the bins (a bound on how far the difference can move fitted
values, in standard errors: for a linearised fit the shift is the projection of that
vector on the model's derivatives, never longer than the vector), and the time of one
histogram (compiled). Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import pathlib
import time

import jax
import numpy as np

from photonmc.config import load_config
from photonmc.expected import expected_counts

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"
REFERENCE = (64, 32)


def model(link, nodes):
    f = jax.jit(lambda lk: expected_counts(lk, nodes=nodes).counts.sum(axis=0))
    with jax.enable_x64(True):
        counts = np.asarray(f(link))  # compile
        start = time.perf_counter()
        counts = np.asarray(jax.block_until_ready(f(link)))
    return counts, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--shots", type=float, default=2e7)
    parser.add_argument("--nodes", action="append", default=None)
    args = parser.parse_args(argv)
    nodes = [tuple(int(v) for v in n.split(",")) for n in (args.nodes or [])] or [
        (32, 16),
        (16, 8),
        (8, 4),
        (4, 2),
    ]
    link = load_config(args.config).link
    ref, _ = model(link, REFERENCE)
    mu_ref = args.shots * ref
    sigma = np.sqrt(np.maximum(mu_ref, 1e-300))
    print(f"config {args.config}; {args.shots:.3g} shots, {ref.size} bins; "
          f"reference {REFERENCE[0]} x {REFERENCE[1]} nodes")  # fmt: skip
    print(f"{'nodes':>8s} {'max |d|/sigma':>14s} {'rss d/sigma':>12s} {'histogram s':>12s}")
    for n in nodes:
        counts, seconds = model(link, n)
        d = (args.shots * counts - mu_ref) / sigma
        print(
            f"{n[0]:>3d} x {n[1]:<3d} {np.max(np.abs(d)):14.3g} "
            f"{np.sqrt(np.sum(d**2)):12.3g} {seconds:12.3g}"
        )


if __name__ == "__main__":
    main()
