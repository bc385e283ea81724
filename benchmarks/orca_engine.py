"""Analog throughput of the seed link with the physical memory against the phenomenological one.

The seed config (configs/thomas2024_qd_torca.toml) is run as shipped (LadderMemory) and with
its memory replaced by the OrcaMemory of configs/thomas2024_qd_torca_physical.toml when that
config exists (else an OrcaMemory of the seed's timing: Rb87 4D5/2, default cell), both
compiled first and timed apart from compilation, in one process, alternating.

    python benchmarks/orca_engine.py [--shots 100000000] [--repeats 2]

Prints shots/s and emitted photons/s of each and the ratio of run times (the physical
memory may cost at most a factor 2), without and with the time to build the memory's
tables (the float64 solve on the grid of starts and offsets), which a run of a new
parameter set pays once (a later run of the same parameters in the process reuses them).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

import photonmc as pmc
from photonmc import analog
from photonmc.analog import host_tables
from photonmc.config import load_config
from photonmc.stages import OrcaMemory

ROOT = Path(__file__).resolve().parents[1]


def links():
    seed = load_config(str(ROOT / "configs" / "thomas2024_qd_torca.toml")).link
    physical = ROOT / "configs" / "thomas2024_qd_torca_physical.toml"
    if physical.exists():
        orca = load_config(str(physical)).link
    else:
        m = OrcaMemory(write_time_ns=0.65, storage_time_ns=0.8, control_fwhm_ns=0.5)
        orca = pmc.Link([m if s.name == "memory" else s for s in seed.stages], seed.tagger)
    return {"LadderMemory": seed, "OrcaMemory": orca}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shots", type=int, default=100_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    print(f"backend {jax.default_backend()}, {len(jax.devices())} device(s)")
    runs = links()
    tables = {}
    for name, link in runs.items():
        jax.block_until_ready(host_tables(link))  # compiles the solve
        analog._TABLES.clear()
        start = time.perf_counter()
        jax.block_until_ready(host_tables(link))
        tables[name] = time.perf_counter() - start
        r = pmc.simulate(link, 1 << 18, 1)
        print(
            f"{name}: tables {tables[name]:.2f} s; "
            f"kernel compile {r.compile_s:.1f} s; eta_int {r.internal_efficiency()}"
        )
    best = {name: float("inf") for name in runs}
    photons = {}
    for _ in range(args.repeats):
        for name, link in runs.items():
            r = pmc.simulate(link, args.shots, 2)
            best[name] = min(best[name], r.elapsed_s)
            photons[name] = r.photons_emitted
    for name in runs:
        print(
            f"{name}: {args.shots / best[name]:.3g} shots/s, "
            f"{photons[name] / best[name]:.3g} emitted photons/s ({best[name]:.2f} s)"
        )
    ratio = best["OrcaMemory"] / best["LadderMemory"]
    fresh = (best["OrcaMemory"] + tables["OrcaMemory"]) / (
        best["LadderMemory"] + tables["LadderMemory"]
    )
    print(
        f"OrcaMemory / LadderMemory time: {ratio:.2f} with the tables built, "
        f"{fresh:.2f} with their build (target <= 2)"
    )


if __name__ == "__main__":
    main()
