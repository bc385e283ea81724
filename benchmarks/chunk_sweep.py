"""Shots and photons per second of analog runs against the chunk size, on this backend.

    python benchmarks/chunk_sweep.py [CONFIG.toml] [--chunks 2^14,2^16,...] [--shots N]
                                     [--mu-one] [--json OUT.json]

For each chunk size (powers of two; `2^k` or plain numbers) runs the config in analog
mode: one chunk to compile and warm up (the compile time is printed apart), then N shots
(default: the larger of 64 chunks and 2e7 shots) timed. --mu-one repeats every size
with one photon per shot (mean_photon_number = 1). Prints shots/s and emitted photons/s
and marks the fastest size, which is what `photonmc.analog.default_chunk_shots` should
pick for this backend. Results depend on the chunk size (chunk c uses fold_in(key, c)),
so this compares speeds, not answers. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib

import jax

import photonmc as pmc
from photonmc.config import load_config

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent / "configs" / "thomas2024_qd_torca.toml"


def parse_size(text: str) -> int:
    text = text.strip()
    if text.startswith("2^"):
        return 1 << int(text[2:])
    return int(float(text))


def measure(link, chunk: int, shots: int) -> dict:
    warm = pmc.simulate(link, chunk, key=0, chunk_shots=chunk)
    res = pmc.simulate(link, shots, key=1, chunk_shots=chunk)
    return {
        "chunk_shots": chunk,
        "shots": shots,
        "compile_s": warm.compile_s,
        "seconds": res.elapsed_s,
        "shots_per_s": shots / res.elapsed_s,
        "photons_per_s": res.photons_emitted / res.elapsed_s,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", default=str(DEFAULT_CONFIG))
    parser.add_argument("--chunks", default="2^14,2^16,2^18,2^20,2^22")
    parser.add_argument("--shots", type=float, default=None)
    parser.add_argument("--mu-one", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    sizes = [parse_size(x) for x in args.chunks.split(",") if x.strip()]

    cfg = load_config(args.config)
    links = [("config", cfg.link)]
    if args.mu_one:
        links.append(("mu = 1", cfg.link.set(f"{cfg.link.source.name}.mean_photon_number", 1.0)))
    print(f"config {args.config}")
    print(
        f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
        f"{len(jax.devices())} device(s), {os.cpu_count()} CPUs"
    )
    rows = []
    for label, link in links:
        print(f"{label}: {'chunk':>10s} {'compile s':>10s} {'shots/s':>10s} {'photons/s':>10s}")
        mine = []
        for chunk in sizes:
            shots = int(args.shots) if args.shots else max(64 * chunk, 20_000_000)
            r = measure(link, chunk, shots)
            r["link"] = label
            mine.append(r)
            print(
                f"{'':{len(label) + 1}s} {chunk:10d} {r['compile_s']:10.2f} "
                f"{r['shots_per_s']:10.3g} {r['photons_per_s']:10.3g}",
                flush=True,
            )
        best = max(mine, key=lambda r: r["photons_per_s"])
        print(f"{'':{len(label) + 1}s} fastest: chunk {best['chunk_shots']}")
        rows += mine
    if args.json:
        pathlib.Path(args.json).write_text(
            json.dumps({"backend": jax.default_backend(), "rows": rows}, indent=1)
        )
    return rows


if __name__ == "__main__":
    main()
