"""Minimisation for `fit` and `optimize`: optax L-BFGS in whitened coordinates.

The objective is a function `f(z, data)` of a parameter vector z and a PyTree of data
arrays; it is compiled once, inside one jitted L-BFGS step (`optax.lbfgs` with its zoom
line search and `optax.value_and_grad_from_state`), and new data or new values do not
recompile it. The same compiled step gives the value and gradient at any point (called
with a fresh optimiser state, its first action is to evaluate them), so the Hessian, by
central differences of these exact gradients, costs no second compilation. A separate
`jax.hessian` through the expected-mode kernels (series and continued fractions under a
custom JVP) compiles far more slowly (benchmarks/RECORDED.md); gradient differences in whitened
coordinates (where the Hessian is about 2 I and the step is 0.01) agree with it to about
1e-6 relative, far below what error bars need.

Whitening: z = S^-1 (u - u0), with S from the Hessian at the start, so that the
objective (-2 log L) has curvature about 2 in every direction and z counts standard
deviations; L-BFGS then converges in a few iterations whatever the parameters' units.

On CPU the step is compiled with `xla_backend_optimization_level = 0`: it about halves
the compile time of the expected-mode kernels and did not change their run time
(benchmarks/RECORDED.md).
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable, Hashable

import jax
import jax.numpy as jnp
import numpy as np
import optax

#: Relative eigenvalue floor of the start Hessian used for whitening
WHITEN_FLOOR = 1e-8
#: Largest change of an unconstrained coordinate per whitened unit (a trust cap for
#: directions the start Hessian barely constrains)
WHITEN_CAP = 10.0
#: Condition number of the unit-diagonal information matrix above which its near-null
#: directions are degenerate
DEGENERATE_CONDITION = 1e6
#: |correlation| above which two parameters are degenerate
DEGENERATE_CORRELATION = 0.9999
#: Compiled problems kept by each cache (`ProblemCache`)
CACHE_SIZE = 8


def compiler_options() -> dict | None:
    """XLA options of the compiled objective: a cheaper backend pass on CPU."""
    if jax.default_backend() == "cpu":
        return {"xla_backend_optimization_level": 0}
    return None


@dataclasses.dataclass
class Minimum:
    """Where `Minimiser.minimise` stopped: z, value and gradient there, iterations used,
    and whether the gradient test (max |grad| < gtol) was met."""

    z: np.ndarray
    value: float
    grad: np.ndarray
    iterations: int
    gradient_converged: bool
    stalled: bool


class Minimiser:
    """optax L-BFGS with a zoom line search on `objective(z, data)`, one compiled step."""

    def __init__(
        self,
        objective: Callable,
        *,
        memory_size: int = 10,
        max_linesearch_steps: int = 30,
    ):
        #: called as on_iteration(iteration, value) at each step (progress reports)
        self.on_iteration: Callable[[int, float], None] | None = None
        opt = optax.lbfgs(
            memory_size=memory_size,
            # Each iteration tries the full quasi-Newton step first ("one"); keeping the
            # previous step size ("keep", the default) made convergence merely linear.
            linesearch=optax.scale_by_zoom_linesearch(
                max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"
            ),
        )
        value_and_grad = optax.value_and_grad_from_state(objective)

        def step(z, state, data):
            value, grad = value_and_grad(z, data, state=state)
            updates, state = opt.update(
                grad, state, z, value=value, grad=grad, value_fn=objective, data=data
            )
            return optax.apply_updates(z, updates), state, value, grad

        self._opt = opt
        #: The compiled L-BFGS step: (z, state, data) -> (new z, state, value at z, grad at z)
        self.step = jax.jit(step, compiler_options=compiler_options())

    def init(self, z) -> optax.OptState:
        """A fresh optimiser state with strong dtypes (weak ones would recompile the step)."""
        state = self._opt.init(jnp.asarray(z))
        return jax.tree.map(lambda a: jnp.asarray(a, dtype=jnp.asarray(a).dtype), state)

    def value_and_grad(self, z, data) -> tuple[float, np.ndarray]:
        """Objective and gradient at z (the compiled step, from a fresh state)."""
        z = jnp.asarray(z, jnp.float64)
        _, _, value, grad = self.step(z, self.init(z), data)
        return float(value), np.asarray(grad, np.float64)

    def hessian(self, z, data, step) -> np.ndarray:
        """Central differences of exact gradients with one Richardson extrapolation.

        step: in units of z, a number or one per coordinate. The differences at step h
        and h / 2 are combined as (4 H(h/2) - H(h)) / 3, which removes the O(h^2) error
        (it matters along flat, curved valleys, where it would fake curvature).
        """
        z = np.asarray(z, np.float64)
        n = z.size
        steps = np.broadcast_to(np.asarray(step, np.float64), (n,))

        def differences(scale: float) -> np.ndarray:
            h = np.empty((n, n))
            for i in range(n):
                e = np.zeros(n)
                e[i] = steps[i] * scale
                g_plus = self.value_and_grad(z + e, data)[1]
                g_minus = self.value_and_grad(z - e, data)[1]
                h[:, i] = (g_plus - g_minus) / (2.0 * e[i])
            return h

        h = (4.0 * differences(0.5) - differences(1.0)) / 3.0
        return 0.5 * (h + h.T)

    def minimise(self, z0, data, *, max_iterations: int, gtol: float) -> Minimum:
        """L-BFGS from z0 until max |grad| < gtol, the value stalls, or max_iterations."""
        z = jnp.asarray(z0, jnp.float64)
        state = self.init(z)
        previous, flat = math.inf, 0
        value, grad = math.nan, np.full(z.shape, np.nan)
        for iteration in range(max_iterations + 1):
            z_new, state_new, value_j, grad_j = self.step(z, state, data)
            value, grad = float(value_j), np.asarray(grad_j, np.float64)
            if self.on_iteration is not None:
                self.on_iteration(iteration, value)
            if not (math.isfinite(value) and np.all(np.isfinite(grad))):
                return Minimum(np.asarray(z), value, grad, iteration, False, True)
            if grad.size == 0 or np.max(np.abs(grad)) < gtol:
                return Minimum(np.asarray(z), value, grad, iteration, True, False)
            # A value that no longer moves (line search at rounding level) ends the run;
            # whether that point is a minimum is judged from the Hessian afterwards.
            flat = flat + 1 if abs(previous - value) <= 1e-13 * max(1.0, abs(value)) else 0
            if flat >= 3 or iteration == max_iterations:
                return Minimum(np.asarray(z), value, grad, iteration, False, flat >= 3)
            if not bool(jnp.all(jnp.isfinite(z_new))):
                return Minimum(np.asarray(z), value, grad, iteration, False, True)
            previous, z, state = value, z_new, state_new
        raise AssertionError("unreachable")


def whitening(h: np.ndarray) -> np.ndarray:
    """S such that S^T h S is about 2 I (curvature 2 of -2 log L per standard deviation).

    Built from the eigen-decomposition of h in diagonal-normalised form, with |eigenvalues|
    floored at WHITEN_FLOOR of the largest (an indefinite or singular start Hessian still
    gives a usable scale), and each column capped at WHITEN_CAP in u.
    """
    n = h.shape[0]
    if n == 0:
        return np.zeros((0, 0))
    diag = np.abs(np.diag(h))
    top = np.max(diag) if np.all(np.isfinite(diag)) and np.max(diag) > 0 else 1.0
    d = np.sqrt(np.maximum(diag, 1e-12 * top))
    norm = h / np.outer(d, d)
    if not np.all(np.isfinite(norm)):
        norm = np.eye(n)
    lam, vec = np.linalg.eigh(0.5 * (norm + norm.T))
    lam = np.maximum(np.abs(lam), WHITEN_FLOOR * max(np.max(np.abs(lam)), 1e-300))
    s = (vec / d[:, None]) * np.sqrt(2.0 / lam)[None, :]
    col = np.max(np.abs(s), axis=0)
    s = s * np.minimum(1.0, WHITEN_CAP / np.maximum(col, 1e-300))[None, :]
    return s


class ProblemCache:
    """The last CACHE_SIZE compiled problems, by key: a second fit or optimisation of the
    same structure (new values or data) reuses the compiled one."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._problems: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: Hashable, build: Callable[[], object]):
        """The problem stored under `key`, or a new one from `build()` (then stored)."""
        problem = self._problems.get(key)
        if problem is None:
            problem = build()
            self._problems[key] = problem
            while len(self._problems) > self.size:
                self._problems.popitem(last=False)
        else:
            self._problems.move_to_end(key)
        return problem

    def clear(self) -> None:
        self._problems.clear()


# ------------------------------------------------------------- uncertainties
@dataclasses.dataclass
class Uncertainties:
    """Standard errors (None where not determined), covariance, correlation, the
    degenerate parameters, the condition number, the estimated distance to the minimum
    (in -2 ln L) and the warnings that go with them."""

    stderr: dict[str, float | None]
    covariance: np.ndarray
    correlation: np.ndarray
    degenerate: tuple[str, ...]
    condition: float
    edm: float
    warnings: list[str]


def uncertainties(names, h_z, grad_z, s, jac) -> Uncertainties:
    """Covariance, correlation and degeneracy from the whitened Hessian at the optimum.

    h_x = A^T h_z A with A = S^-1 diag(1 / (dx/du)): the Hessian in the natural
    parameters (exact at a stationary point). Analysed in unit-diagonal form N.
    """
    n = len(names)
    if n == 0:
        empty = np.zeros((0, 0))
        return Uncertainties({}, empty, empty, (), 1.0, 0.0, [])
    warnings: list[str] = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = np.linalg.solve(s, np.diag(1.0 / jac))
        h_x = a.T @ h_z @ a
    h_x = 0.5 * (h_x + h_x.T)
    if not np.all(np.isfinite(h_x)):
        nan = np.full((n, n), np.nan)
        warnings.append(
            "the Hessian at the end point is not finite (a parameter at an extreme value?); "
            "no uncertainties"
        )
        return Uncertainties({k: None for k in names}, nan, np.eye(n), tuple(names), math.inf,
                       math.inf, warnings)  # fmt: skip
    diag = np.diag(h_x).copy()
    flat = ~(np.isfinite(diag) & (diag > 0))
    d = np.sqrt(np.where(flat, 1.0, diag))
    norm = h_x / np.outer(d, d)
    norm[flat, :] = 0.0
    norm[:, flat] = 0.0
    if not np.all(np.isfinite(norm)):
        norm = np.where(np.isfinite(norm), norm, 0.0)
    lam, vec = np.linalg.eigh(norm)
    top = max(float(np.max(lam)), 1e-300)
    condition = top / float(lam[0]) if lam[0] > 0 else math.inf
    null = lam < top / DEGENERATE_CONDITION
    degenerate = set(np.flatnonzero(flat).tolist())
    for k in np.flatnonzero(null):
        degenerate.update(np.flatnonzero(np.abs(vec[:, k]) > 0.1).tolist())

    keep = ~null
    inv = (vec[:, keep] / lam[keep]) @ vec[:, keep].T
    # a floor that keeps 1 / floor finite when every eigenvalue is zero (all flat)
    reg = (vec / (np.maximum(lam, 0.0) + max(1e-10 * top, 1e-300))) @ vec.T
    rd = np.sqrt(np.maximum(np.diag(reg), 1e-300))
    corr = np.clip(reg / np.outer(rd, rd), -1.0, 1.0)
    np.fill_diagonal(corr, 1.0)
    for i in range(n):
        for j in range(i + 1, n):
            if abs(corr[i, j]) > DEGENERATE_CORRELATION:
                degenerate.update((i, j))

    cov = 2.0 * inv / np.outer(d, d)
    stderr: dict[str, float | None] = {}
    for i, name in enumerate(names):
        if i in degenerate or not cov[i, i] > 0:
            stderr[name] = None
            cov[i, :] = np.nan
            cov[:, i] = np.nan
        else:
            stderr[name] = float(math.sqrt(cov[i, i]))
    deg_names = tuple(names[i] for i in sorted(degenerate))
    if deg_names:
        cond = "inf" if math.isinf(condition) else f"{condition:.3g}"
        pairs = [
            f"{names[i]} ~ {names[j]} {corr[i, j]:+.4f}"
            for i in sorted(degenerate)
            for j in sorted(degenerate)
            if j > i and abs(corr[i, j]) > 0.99
        ]
        warnings.append(
            f"degenerate parameters (not separately determined by these data): "
            f"{', '.join(deg_names)}; condition number of the information matrix {cond}"
            + (f"; correlations {', '.join(pairs)}" if pairs else "")
            + "; fix some of them or add data that separates them"
        )
    # Estimated distance to the minimum, in -2 ln L, over the determined directions.
    h_pinv = np.linalg.pinv(h_z, rcond=1.0 / DEGENERATE_CONDITION, hermitian=True)
    edm = float(0.5 * grad_z @ h_pinv @ grad_z) if np.all(np.isfinite(grad_z)) else math.inf
    return Uncertainties(stderr, cov, corr, deg_names, float(condition), abs(edm), warnings)
