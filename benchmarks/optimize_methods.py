"""L-BFGS against Adam on a pulse-timing optimisation (expected mode, quadrature latents).

    python benchmarks/optimize_methods.py

Maximises the retrieved efficiency over the memory's write time (the link of
tests/test_optimize.py, t_w from 0.3 ns in [0, 2] ns), by
- `photonmc.optimize`: optax L-BFGS with a zoom line search on -ln(efficiency);
- optax Adam on the same compiled objective and coordinates, at several learning rates,
  until the write time is within 1e-4 ns of the L-BFGS optimum (or 2000 steps).
Prints iterations, objective evaluations and wall time (compilation excluded: each is
warmed up first). The expected mode integrates its latent variables by quadrature, so
the objective is deterministic: there are no keys to refresh, and a method that needs
noisy gradients' robustness (Adam with fresh keys per step) has nothing to gain here.
"""

from __future__ import annotations

import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import photonmc as pmc
from photonmc.config import load_config
from photonmc.optimize import build_problem

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from test_optimize import CONFIG  # noqa: E402

NAME = "memory.write_time_ns"
BOUNDS = {NAME: (0.0, 2.0)}


def main() -> None:
    link = load_config(CONFIG).link
    pmc.optimize(link, "retrieved_efficiency", [NAME], BOUNDS)  # compile
    t = time.perf_counter()
    best = pmc.optimize(link, "retrieved_efficiency", [NAME], BOUNDS)
    lbfgs_s = time.perf_counter() - t
    t_opt = best.optimum[NAME]
    print(f"L-BFGS: t_w = {t_opt:.6f} ns, efficiency {best.objective_value:.8g}, "
          f"{best.iterations} iterations, {lbfgs_s:.3f} s")  # fmt: skip

    problem = build_problem(link, "retrieved_efficiency", [NAME], BOUNDS)
    with jax.enable_x64(True):
        u0 = np.log(0.3 / 1.7)  # logit of t_w = 0.3 ns in [0, 2] ns
        data = {
            "u0": jnp.asarray([u0]),
            "S": jnp.eye(1),
            "lo": jnp.asarray([0.0]),
            "hi": jnp.asarray([2.0]),
        }
        value_and_grad = jax.jit(jax.value_and_grad(problem.loss))
        value_and_grad(jnp.zeros(1), data)
        for lr in (0.01, 0.03, 0.1, 0.3):
            opt = optax.adam(lr)
            z = jnp.zeros(1)
            state = opt.init(z)
            t = time.perf_counter()
            steps = 0
            for steps in range(1, 2001):  # noqa: B007
                _, g = value_and_grad(z, data)
                updates, state = opt.update(g, state, z)
                z = optax.apply_updates(z, updates)
                t_w = float(2.0 / (1.0 + np.exp(-(u0 + float(z[0])))))
                if abs(t_w - t_opt) < 1e-4:
                    break
            elapsed = time.perf_counter() - t
            print(f"Adam lr={lr:<5}: t_w = {t_w:.6f} ns after {steps} steps "
                  f"({steps} evaluations), {elapsed:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
