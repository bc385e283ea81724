"""Speed of the adiabatic ORCA kernel at ORCA_MODEL case 4.1 (9 Doppler classes), and the
case's efficiency with Doppler classes (nv = 1, 9, 21) by the 4.1 protocol.

    python benchmarks/orca_kernel.py [--nz 125] [--nv 9]

Prints compile and run times separately (median of 3 runs after the first call) for the
single-input write/store/read solve, its gradient with respect to (temperature, write
energy, detuning, write time), and the full kernel K~ with its SVD. Figures are wall times
on whatever the machine is doing; compare them as ratios within one run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

from photonmc.kernels import atomic_data as ad  # noqa: E402
from photonmc.kernels import orca  # noqa: E402
from photonmc.kernels import orca_adiabatic as ob  # noqa: E402

SP = ad.species_data("Rb87", "5D5/2")
C = ob.C_M_PER_NS
TAU_W, TAU_S = 0.3, 0.6
L41 = 2 * (1.6 * 2) * TAU_W * (C / 2) / 1.05


def case41_params():
    return orca.case41_params()


def signal(p, xi0, a_s):
    def psi(t):
        s = jnp.exp(-2 * math.log(2) * t**2 / TAU_S**2 - 1j * math.pi * C * xi0 * t)
        return s * jnp.exp(a_s * (t - L41 / C + TAU_W / 2))

    return psi


def timed(f, *args):
    t0 = time.perf_counter()
    jax.block_until_ready(f(*args))
    first = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        runs.append(time.perf_counter() - t0)
    run = statistics.median(runs)
    return first - run, run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nz", type=int, default=125)
    ap.add_argument("--nv", type=int, default=9)
    args = ap.parse_args()
    p = case41_params()
    t_half = 1.5 * TAU_W + 2 * L41 / C
    ph = orca.physics(SP, p)
    dt = L41 / (args.nz - 1) / (C / 2)
    nt = int(round(2 * t_half / dt))
    d_ac = -(ph.write_rabi_rad_per_ns**2) / (4 * ph.medium.detuning)
    d_s = -ph.kappa2_per_ns2 / (4 * ph.medium.detuning)
    xi0 = float(-(d_ac - d_s) / (math.pi * C))

    print(f"case 4.1, counter-propagating, nz = {args.nz}, nt = {nt}, dtau = {dt * 1e3:.3g} ps")
    print(f"E_crit = {float(ph.critical_energy_nj):.5g} nJ, d_G = {float(ph.optical_depth):.4g}")
    for nv in (1, 9, 21):
        cfg = ob.Config("counter", False, "square", args.nz, nt, nv)
        a_s = ob.signal_self_rate(cfg, ph.medium)
        r = orca.memory(SP, p, cfg, signal(p, xi0, a_s))
        print(
            f"  nv = {nv:2d}: eta_total = {float(r.total_efficiency):.5f} "
            f"(write {float(r.write_efficiency):.5f}, read {float(r.read_efficiency):.5f})"
        )

    cfg = ob.Config("counter", False, "square", args.nz, nt, args.nv)
    a_s = ob.signal_self_rate(cfg, ph.medium)
    psi = signal(p, xi0, a_s)
    names = ["temperature_c", "write_energy_nj", "detuning_ghz", "write_time_ns"]

    def eta(x):
        q = p._replace(**dict(zip(names, x, strict=True)))
        return orca.memory(SP, q, cfg, psi).total_efficiency

    x0 = jnp.asarray([getattr(p, n) for n in names], dtype=jnp.float64)
    f = jax.jit(eta)
    g = jax.jit(jax.grad(eta))
    kern = jax.jit(lambda pp: orca.kernel(SP, pp, cfg).svd.efficiencies)
    c1, r1 = timed(f, x0)
    c2, r2 = timed(g, x0)
    c3, r3 = timed(kern, p)
    sv = kern(p)
    print(f"single solve, nv = {args.nv}: compile {c1:.2f} s, run {r1 * 1e3:.1f} ms")
    print(f"gradient (4 parameters):  compile {c2:.2f} s, run {r2 * 1e3:.1f} ms ({r2 / r1:.2f}x)")
    print(f"kernel + SVD ({nt + 1} inputs): compile {c3:.2f} s, run {r3:.2f} s")
    print(f"  sigma_k^2 = {', '.join(f'{float(s):.5f}' for s in sv[:4])}")
    print(f"  eta(Gaussian) = {float(f(x0)):.5f}; grad = {[float(v) for v in g(x0)]}")


if __name__ == "__main__":
    main()
