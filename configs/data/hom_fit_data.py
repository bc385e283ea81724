"""Generate the data of configs/hom_fit.toml with photonmc (analog runs, not measured).

For each long-arm delay and polarisation: `photonmc.simulate` of configs/hom_dip_qd.toml
(with `hom.delay_ns` and `hom.polarisation` set, 80 MHz; and at 1 MHz for the second
dataset), the clicks' time tags, and the centre coincidence peak of det_c and det_d
(`TimeTags.peak_areas`, delays within +- T_rep / 2). Run from the repository root:

    python configs/data/hom_fit_data.py
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

import photonmc as pmc
from photonmc import parameters as P
from photonmc.config import load_config
from photonmc.timetags import TimeTags

HERE = pathlib.Path(__file__).resolve().parent
DELAYS_NS = (-1.0, -0.6, -0.3, -0.15, 0.0, 0.15, 0.3, 0.6, 1.0)
DIP_SHOTS, ZERO_SHOTS = 200_000, 400_000


def centre_peak(link, shots: int, seed: int) -> int:
    blocks = []
    pmc.simulate(link, shots, key=seed, chunk_shots=1 << 16, on_records=blocks.append)
    rec = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    period_ps = 1e3 * float(link.source.period_ns)
    tags = TimeTags(
        rec["channel"], rec["time_ps"], shot=rec["shot"], period_ps=period_ps,
        channels=tuple(d.name for d in link.detectors),
    )  # fmt: skip
    return int(tags.peak_areas(0, 1, side_peaks=3)[1][3])


def rows(link, delays, shots, seed):
    out = []
    for i, d in enumerate(delays):
        counts = []
        for j, pol in enumerate(("parallel", "orthogonal")):
            stages = [
                dataclasses.replace(s, polarisation=pol) if s.name == "hom" else s
                for s in link.stages
            ]
            lk = P.set_values(pmc.Link(stages, link.tagger), {"hom.delay_ns": d})
            counts.append(centre_peak(lk, shots, seed + 2 * i + j))
        out.append((d, *counts))
        print(d, counts, flush=True)
    return out


def write(path, rows_, header):
    with open(path, "w", encoding="utf-8") as f:
        f.write(header)
        f.write("delay_ns,coincidences_parallel,coincidences_orthogonal\n")
        for d, a, b in rows_:
            f.write(f"{d:g},{a},{b}\n")


if __name__ == "__main__":
    link = load_config(HERE.parent / "hom_dip_qd.toml").link
    common = (
        "# generated with photonmc itself, not measured (configs/data/hom_fit_data.py):\n"
        "# analog runs of configs/hom_dip_qd.toml, centre-peak coincidences of det_c and\n"
        "# det_d (delays within +- T_rep / 2) for each long-arm delay and polarisation.\n"
        "# True values: T1 = 0.6 ns, tau_f = 0.05 ns, T2* = 3 ns, spectral diffusion 0.3 GHz\n"
        "# FWHM with a correlation time of 200 ns, g2 = 0.02, mu = 0.8.\n"
    )
    write(
        HERE / "hom_dip_80mhz.csv",
        rows(link, DELAYS_NS, DIP_SHOTS, 100),
        f"# HOM dip at 80 MHz, {DIP_SHOTS} shots per row and setting, seeds 100 + 2 i + j;\n"
        + common,
    )
    slow = P.set_values(link, {"qd.rep_rate_mhz": 1.0})
    write(
        HERE / "hom_zero_delay_1mhz.csv",
        rows(slow, (0.0,), ZERO_SHOTS, 200),
        f"# HOM at zero delay at 1 MHz, {ZERO_SHOTS} shots per setting, seeds 200, 201;\n" + common,
    )
