"""Speed of a 3-parameter histogram fit of a seed-config result: compile and iterations.

    python benchmarks/fit_speed.py [CONFIG.toml] [--shots N] [--nodes F,Z ...]

Simulates the config in analog mode (N shots), then fits three parameters (the source
lifetime, the write efficiency and the dark-count rate, started off their true values)
to the detector's histogram in expected mode. For each quadrature node count (feeding x
spectral diffusion; default the engine's) prints: the time of the first objective +
gradient (trace and compile), of one more (one evaluation), of one L-BFGS step (its
line search evaluates the objective more than once), the whole fit with the compiled
problem reused (iterations, seconds per iteration) and the fitted values, so that a
smaller node count can be judged by what it changes in the answer. --default first
times the fit as a user runs it (nodes chosen from the data by `choose_nodes`, the
choice and every compilation included) and compares it with the first --nodes row.
Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import math
import os
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import photonmc as pmc
from photonmc.config import load_config
from photonmc.fit import build_problem
from photonmc.simulation import DEFAULT_NODES

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"
FREE = ("qd.lifetime_ns", "memory.write_efficiency", "detector.dark_count_rate_hz")
START_FACTOR = {"qd.lifetime_ns": 1.08, "memory.write_efficiency": 0.9,
                "detector.dark_count_rate_hz": 1.2}  # fmt: skip


def time_default_fit(link, data):
    """The fit as a user runs it: nodes chosen by `choose_nodes`, everything compiled
    within the timed call (run it first, before other rows build problems)."""
    start = {n: float(link.get(n)) * START_FACTOR[n] for n in FREE}
    t0 = time.perf_counter()
    result = pmc.fit(link, data, FREE, start=start)
    t_fit = time.perf_counter() - t0
    return {
        "nodes": result.nodes,
        "label": "auto",
        "build_s": math.nan,
        "first_eval_s": math.nan,
        "eval_s": math.nan,
        "step_s": math.nan,
        "fit_s": t_fit,
        "iterations": result.iterations,
        "converged": result.converged,
        "values": dict(result.values),
        "stderr": dict(result.stderr),
    }


def time_fit(link, data, nodes):
    start = {n: float(link.get(n)) * START_FACTOR[n] for n in FREE}
    t0 = time.perf_counter()
    problem = build_problem(link, data, FREE, nodes=nodes)
    t_build = time.perf_counter() - t0
    n = len(FREE)
    with jax.enable_x64(True):
        # the same data PyTree the fit builds, at the start point
        x0 = np.array([start[name] for name in FREE])
        u0 = np.array([t.to_u(x) for t, x in zip(problem.transforms, x0, strict=True)])
        tree = problem.data(data, u0, np.eye(n), [])
        z = np.zeros(n)
        t0 = time.perf_counter()
        problem.minimiser.value_and_grad(z, tree)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        repeats = 3
        for _ in range(repeats):
            problem.minimiser.value_and_grad(z, tree)
        t_eval = (time.perf_counter() - t0) / repeats
        state = problem.minimiser.init(jnp.asarray(z))
        step = problem.minimiser.step
        jax.block_until_ready(step(jnp.asarray(z), state, tree))
        t0 = time.perf_counter()
        jax.block_until_ready(step(jnp.asarray(z), state, tree))
        t_step = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = pmc.fit(link, data, FREE, start=start, nodes=nodes)
    t_fit = time.perf_counter() - t0
    return {
        "nodes": nodes,
        "label": "x".join(map(str, nodes)),
        "build_s": t_build,
        "first_eval_s": t_first,
        "eval_s": t_eval,
        "step_s": t_step,
        "fit_s": t_fit,
        "iterations": result.iterations,
        "converged": result.converged,
        "values": dict(result.values),
        "stderr": dict(result.stderr),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--shots", type=int, default=20_000_000)
    parser.add_argument(
        "--nodes",
        action="append",
        default=None,
        metavar="F,Z",
        help="quadrature nodes (feeding, spectral diffusion); repeatable",
    )
    parser.add_argument(
        "--default",
        action="store_true",
        help="first time the fit with its default nodes (chosen from the data), "
        "compile included, and compare it with the rows of --nodes",
    )
    args = parser.parse_args(argv)
    nodes_list = [tuple(int(v) for v in s.split(",")) for s in args.nodes or []]
    nodes_list = nodes_list or [tuple(DEFAULT_NODES)]

    cfg = load_config(args.config)
    t0 = time.perf_counter()
    result = pmc.simulate(cfg.link, args.shots, key=cfg.seed)
    t_sim = time.perf_counter() - t0
    data = [pmc.HistogramData.from_result(result)]
    print(
        f"config {args.config}: {args.shots:,} analog shots in {t_sim:.2f} s, "
        f"{data[0].n_points} bins, {int(data[0].counts.sum()):,} counts; free {', '.join(FREE)}"
    )
    print(f"jax {jax.__version__} on {jax.default_backend()}, {os.cpu_count()} CPUs")
    auto = [time_default_fit(cfg.link, data)] if args.default else []
    rows = [time_fit(cfg.link, data, nodes) for nodes in nodes_list]
    print(
        f"{'nodes':>8s} {'build s':>8s} {'1st eval s':>10s} {'eval s':>8s} {'step s':>8s} "
        f"{'fit s':>8s} {'iter':>5s} {'s/iter':>7s}  fitted (stderr)"
    )
    for r in auto + rows:
        fitted = "; ".join(
            f"{n.split('.')[-1]} {r['values'][n]:.6g} ({r['stderr'][n] or float('nan'):.2g})"
            for n in FREE
        )
        print(
            f"{r['label']:>8s} {r['build_s']:8.3f} {r['first_eval_s']:10.2f} "
            f"{r['eval_s']:8.3f} {r['step_s']:8.3f} {r['fit_s']:8.2f} {r['iterations']:5d} "
            f"{r['fit_s'] / max(r['iterations'], 1):7.2f}  {fitted}"
            + ("" if r["converged"] else "  NOT CONVERGED")
        )
    truth = "; ".join(f"{n.split('.')[-1]} {float(cfg.link.get(n)):.6g}" for n in FREE)
    print(f"true values: {truth}")
    for r in auto:
        print(f"default fit: nodes {r['nodes'][0]} x {r['nodes'][1]} chosen from the data")
    if len(rows) + len(auto) > 1:
        ref = rows[0]
        for r in auto + rows[1:]:
            shift = max(
                abs(r["values"][n] - ref["values"][n]) / (ref["stderr"][n] or np.inf) for n in FREE
            )
            print(
                f"nodes {r['nodes']} against {ref['nodes']}: fit {ref['fit_s'] / r['fit_s']:.2f}x "
                f"faster, fitted values moved by at most {shift:.3g} stderr"
            )
    return rows


if __name__ == "__main__":
    main()
