"""Figures from results, sweeps and fits, as matplotlib Figures (matplotlib is optional).

Each function returns the Figure and saves nothing; `photonmc plot`, `sweep --plot` and
`fit --plot` save them. matplotlib is imported when a function is called.
"""

from __future__ import annotations

import numpy as np

from photonmc.batch import ORIGINS
from photonmc.expected import efficiency_curve
from photonmc.result import Result


def plot_result(result: Result, title: str = ""):
    """A matplotlib Figure: one panel per detector, counts per bin by origin, log y."""
    import matplotlib.pyplot as plt

    n = len(result.detectors)
    fig, axes = plt.subplots(n, 1, figsize=(8, 3.2 * n + 0.6), squeeze=False)
    unit = "counts" if result.analog else "expected counts"
    for ax, (name, d) in zip(axes[:, 0], result.detectors.items(), strict=True):
        positive = d.counts[d.counts > 0]
        # Dark counts are drawn underneath: they are flat and noisy, the rest is the signal.
        for origin, zorder in zip(ORIGINS, (3, 4, 2, 1), strict=True):
            h = d.histogram(origin)
            if np.any(h > 0):
                ax.stairs(h, d.bin_edges_ns, label=origin, zorder=zorder, linewidth=1.0)
        if result.retrieval_window_ns is not None:
            a, b = result.retrieval_window_ns
            ax.axvspan(a, b, color="0.85", zorder=0, label="retrieval window")
        ax.set_yscale("log")
        if positive.size:  # log scale: show eight decades at most, never zero
            top = positive.max()
            ax.set_ylim(0.5 * max(positive.min(), top * 1e-8), 2.0 * top)
        ax.set_xlim(d.bin_edges_ns[0], d.bin_edges_ns[-1])
        ax.set_ylabel(f"{unit} per bin")
        ax.set_title(f"detector {name!r}")
        ax.legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("histogram time (ns)")
    fig.suptitle(f"{title}  {result.mode}, {result.shots:,} shots".strip())
    fig.tight_layout()
    return fig


def plot_fit(result, title: str = ""):
    """A matplotlib Figure: per dataset, data and model above, residuals below."""
    import matplotlib.pyplot as plt

    n = len(result.datasets)
    fig, axes = plt.subplots(
        2,
        n,
        figsize=(6.0 * n, 5.2),
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": [3, 1]},
    )
    for col, d in enumerate(result.datasets):
        top, bottom = axes[0, col], axes[1, col]
        if d.kind == "histogram":
            top.stairs(d.data, d.bin_edges_ns, label="data", color="0.3")
            top.stairs(d.model, d.bin_edges_ns, label="model", color="C3")
            top.set_yscale("log")
            positive = d.data[d.data > 0]
            if positive.size:
                top.set_ylim(0.5 * max(positive.min(), positive.max() * 1e-8), 2 * positive.max())
            top.set_ylabel("counts per bin")
            bottom.stairs(d.residuals, d.bin_edges_ns, color="0.3")
            bottom.set_ylabel("deviance resid.")
            bottom.set_xlabel("histogram time (ns)")
        else:
            top.errorbar(d.x, d.data, yerr=d.sigma, fmt="o", ms=3, color="0.3", label="data")
            dense = np.linspace(float(np.min(d.x)), float(np.max(d.x)), 400)
            try:
                model = efficiency_curve(result.link, d.x_name, dense, memory=d.memory)
                top.plot(dense, model, color="C3", label="model")
            except ValueError:  # the x range leaves the parameter's valid range
                top.plot(d.x, d.model, color="C3", label="model")
            top.set_ylabel("internal efficiency")
            bottom.errorbar(d.x, d.residuals, yerr=1.0, fmt="o", ms=3, color="0.3")
            bottom.set_ylabel("(data - model) / sigma")
            bottom.set_xlabel(d.x_name)
        bottom.axhline(0.0, color="C3", lw=0.8)
        note = " (sigma estimated)" if d.sigma_estimated else ""
        what = "deviance" if d.kind == "histogram" else "chi2"
        top.set_title(
            f"{d.name}: {what} {d.contribution:.4g} over {d.data.size} points{note}",
            fontsize="small",
        )
        top.legend(loc="best", fontsize="small")
    fig.suptitle(title.strip() or "photonmc fit")
    fig.tight_layout()
    return fig


def plot_sweep(result):
    """A matplotlib Figure of a `SweepResult`: one panel per figure of merit against the
    first swept parameter, with error bars."""
    import matplotlib.pyplot as plt

    figures = result.figures()
    x_name, x = result.names[0], result.axes[0]
    fig, axes = plt.subplots(len(figures), 1, figsize=(6.4, 2.2 * len(figures)), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, (value, stderr)) in zip(axes, figures.items(), strict=True):
        v = value.reshape(len(x), -1)
        e = stderr.reshape(len(x), -1)
        for j in range(v.shape[1]):
            ax.errorbar(x, v[:, j], yerr=e[:, j], marker=".", capsize=2)
        ax.set_ylabel(name, fontsize=8)
    axes[-1].set_xlabel(x_name)
    fig.tight_layout()
    return fig


def plot_memory(report, title: str = ""):
    """Input mode, retrieved (output) mode, transmitted wavepacket and spin wave of a
    `photonmc.memory_report` (adiabatic or full tier); returns the Figure."""
    import matplotlib.pyplot as plt

    c = report.curves
    if not c:
        raise ValueError(f"the {report.tier} tier has no wavepackets to plot; use 'adiabatic'")
    figure, (ax_t, ax_z) = plt.subplots(1, 2, figsize=(10, 4))
    ax_t.plot(c["input_times_ns"], c["input_intensity"], label="input mode")
    ax_t.plot(c["output_times_ns"], c["output_intensity"], label="retrieved (output) mode")
    ax_t.plot(c["transmitted_times_ns"], c["transmitted_intensity"], label="transmitted")
    ax_t.set_xlabel("time at the memory (ns)")
    ax_t.set_ylabel("photon flux (1/ns)")
    ax_t.legend()
    ax_z.plot(1e2 * np.asarray(c["z_m"]), c["spin_wave"])
    ax_z.set_xlabel("z (cm, cell centre at 0)")
    ax_z.set_ylabel("|B(z)|^2 after the write (solver units)")
    e = report.efficiency
    figure.suptitle(
        f"{title} {report.tier}: write {e['write']:.3f}, read {e['read']:.3f}, "
        f"total {e['total']:.3f}".strip()
    )
    figure.tight_layout()
    return figure
