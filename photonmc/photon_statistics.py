"""Two-photon figures of a run: coincidence histograms of every detector pair, g2(0), and
the HOM visibility and indistinguishability.

`simulate(..., correlations=True)` (and `photonmc simulate` on a link with several
detectors) fills `Result.correlations` and `Result.photon_statistics`:

- analog runs count the pairs of clicks of every detector pair from the click records as
  they stream (`PairAccumulator`, delays t_b - t_a over +-(K + 1/2) periods in bins of
  the tagger's width, K = 5 side peaks), as `photonmc correlate` does from a file;
  expected runs give the expected pairs (`expected.expected_coincidences`; links without
  a HOMInterferometer);
- g2_0 (links without a HOMInterferometer): centre-peak area over the mean side-peak
  area of the first detector pair (docs/physics.md 6.5), with its Poisson error (expected runs:
  the error a measurement of the same shots would have);
- on a link with a HOMInterferometer: hom_visibility = 1 - C0(parallel) / C0(orthogonal),
  C0 the centre-peak area. In analog runs the orthogonal reference is a second run of the
  same link with `polarisation = "orthogonal"`, the same shots and the same seed, made by
  the same call (the run takes twice as long); in expected runs it is the closed form of
  single-photon pairs, V = M. indistinguishability: M = E[|<psi_i|psi_j>|^2] of the
  source's photons in closed form (`expected.mean_pair_overlap`), what V tends to for
  single photons without noise. How each figure was obtained is in
  `photon_statistics["notes"]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from photonmc.expected import (
    expected_coincidences,
    has_interference,
    hom_coincidences,
    mean_pair_overlap,
)
from photonmc.link import Link
from photonmc.observables import Estimate, ratio_of_counts
from photonmc.result import PairCorrelation, Result
from photonmc.timetags import PairAccumulator

#: Side peaks on each side of the stored coincidence histograms
SIDE_PEAKS = 5


def pair_recorder(link: Link, on_records: Callable[[dict], None] | None):
    """A `PairAccumulator` for the link's detectors and the on_records callback feeding it
    (and `on_records`, when given)."""
    period_ps = 1e3 * float(link.source.period_ns)
    delays = [1e3 * float(link.delay_to(d)) for d in link.detectors]
    n = len(link.detectors)
    centre = {(a, b): delays[b] - delays[a] for a in range(n) for b in range(a + 1, n)}
    reach_ns = float(link.tagger.window_ns) + max(float(d.dead_time_ns) for d in link.detectors)
    acc = PairAccumulator(
        n,
        period_ps=period_ps,
        bin_ps=float(link.tagger.bin_width_ps),
        side_peaks=SIDE_PEAKS,
        centre_ps=centre,
        reorder_ps=1e3 * reach_ns,
    )

    def feed(records: dict) -> None:
        acc.add(records["channel"], records["time_ps"])
        if on_records is not None:
            on_records(records)

    return acc, feed


def correlations_of(link: Link, acc: PairAccumulator) -> dict[str, PairCorrelation]:
    names = [d.name for d in link.detectors]
    edges_ns = acc.bin_edges_ps() * 1e-3
    out = {}
    for a, b in acc.pairs:
        c = PairCorrelation(
            names[a],
            names[b],
            edges_ns,
            acc.counts[(a, b)].copy(),
            acc.peak_delays_ps((a, b)) * 1e-3,
            acc.peaks[(a, b)].copy(),
        )
        out[c.name] = c
    return out


def expected_correlations(link: Link, shots: int) -> dict[str, PairCorrelation]:
    """Expected coincidence histograms over `shots` shots of every detector pair (HBT)."""
    import jax
    import jax.numpy as jnp

    names = [d.name for d in link.detectors]
    period = float(link.source.period_ns)
    w = float(link.tagger.bin_width_ps) * 1e-3
    out = {}
    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                counts = np.asarray(
                    expected_coincidences(link64, a, b, side_peaks=SIDE_PEAKS), np.float64
                )
                counts = counts * shots
                r = 0.5 * counts.size * w
                edges = -r + w * np.arange(counts.size + 1)
                d_ab = float(link.delay_to(link[b]) - link.delay_to(link[a]))  # centre peak delay
                k = np.arange(-SIDE_PEAKS, SIDE_PEAKS + 1)
                peaks_at = d_ab + k * period
                centres = 0.5 * (edges[1:] + edges[:-1])
                peaks = np.array(
                    [
                        counts[(centres >= p - period / 2) & (centres < p + period / 2)].sum()
                        for p in peaks_at
                    ]
                )
                c = PairCorrelation(a, b, edges, counts, peaks_at, peaks)
                out[c.name] = c
    return out


def add_photon_statistics(
    result: Result,
    link: Link,
    acc: PairAccumulator | None,
    *,
    key=0,
    chunk_shots: int | None = None,
) -> None:
    """Fill `result.correlations` and `result.photon_statistics` (module docstring)."""
    notes: dict[str, str] = {}
    stats: dict = {}
    hom = has_interference(link)
    if result.analog:
        if acc is None:
            return
        result.correlations = correlations_of(link, acc)
    elif not hom:
        result.correlations = expected_correlations(link, result.shots)
    if result.correlations and not hom:
        first = next(iter(result.correlations.values()))
        stats["g2_0"] = first.g2_0()
        notes["g2_0"] = (
            f"centre peak / mean of {2 * SIDE_PEAKS} side peaks, detectors {first.name}"
            + ("" if result.analog else " (expected pairs; Poisson error of as many shots)")
        )
    if hom:
        source = link.source
        m = mean_pair_overlap(source)
        stats["indistinguishability"] = Estimate(m, 0.0)
        notes["indistinguishability"] = (
            "mean two-photon overlap of the source in closed form (docs/physics.md 6.4)"
        )
        if result.analog:
            stats["hom_visibility"] = _analog_visibility(result, link, key, chunk_shots)
            notes["hom_visibility"] = (
                "1 - C0(parallel) / C0(orthogonal); reference: a run with polarisation "
                "orthogonal, same shots and seed, made by this run"
            )
        else:
            stats["hom_visibility"] = _expected_visibility(link, result.shots)
            notes["hom_visibility"] = (
                "1 - C0(parallel) / C0(orthogonal) of the expected centre-peak coincidences "
                "(docs/physics.md 6.4; Poisson error of as many shots)"
            )
    if stats:
        stats["notes"] = notes
    result.photon_statistics = stats


def _expected_visibility(link: Link, shots: int) -> Estimate:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        link64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), link)
        parallel, orthogonal = (float(c) * shots for c in hom_coincidences(link64))
    r = ratio_of_counts(parallel, orthogonal)
    return Estimate(1.0 - r.value, r.stderr)


def _centre(c: PairCorrelation) -> float:
    return float(c.peak_counts[c.peak_counts.size // 2])


def _analog_visibility(result: Result, link: Link, key, chunk_shots) -> Estimate:
    from photonmc.simulation import simulate
    from photonmc.stages.interferometer import HOMInterferometer

    hom = next(s for s in link.stages if isinstance(s, HOMInterferometer))
    first = next(iter(result.correlations.values()))
    if hom.polarisation == "orthogonal":
        return Estimate(float("nan"), float("nan"))  # this run is the reference
    ortho = Link(
        [dataclasses.replace(s, polarisation="orthogonal") if s is hom else s for s in link.stages],
        link.tagger,
    )
    acc, feed = pair_recorder(ortho, None)
    simulate(
        ortho,
        result.shots,
        key,
        "analog",
        chunk_shots=chunk_shots or result.chunk_shots,
        on_records=feed,
    )
    reference = correlations_of(ortho, acc)[first.name]
    r = ratio_of_counts(_centre(first), _centre(reference))
    return Estimate(1.0 - r.value, r.stderr)
