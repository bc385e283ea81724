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
    n_corr = len(result.correlations)
    fig, axes = plt.subplots(n + n_corr, 1, figsize=(8, 3.2 * (n + n_corr) + 0.6), squeeze=False)
    unit = "counts" if result.analog else "expected counts"
    for ax, (name, d) in zip(axes[:n, 0], result.detectors.items(), strict=True):
        positive = d.counts[d.counts > 0]
        # what the detector really sees, drawn behind the origins it is made of
        ax.stairs(d.histogram(), d.bin_edges_ns, label="total", color="0.6", lw=2.0, zorder=0.5)
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
        ax.set_ylabel(f"{unit} per {_bin_label(d.bin_edges_ns)} bin")
        ax.set_xlabel("time since sync (ns)")
        ax.set_title(f"detector {name!r}")
        ax.legend(loc="upper right", fontsize="small")
    for ax, c in zip(axes[n:, 0], result.correlations.values(), strict=True):
        g2 = result.photon_statistics.get("g2_0") if n_corr == 1 else None
        _draw_correlation(ax, c.bin_edges_ns, c.counts, c.peak_delays_ns, c.peak_counts, g2)
        ax.set_title(f"coincidences {c.detector_b} - {c.detector_a}", fontsize="small")
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
        if d.kind in ("histogram", "g2"):
            top.stairs(d.data, d.bin_edges_ns, label="data", color="0.3")
            top.stairs(d.model, d.bin_edges_ns, label="model", color="C3")
            top.set_yscale("log")
            positive = d.data[d.data > 0]
            if positive.size:
                top.set_ylim(0.5 * max(positive.min(), positive.max() * 1e-8), 2 * positive.max())
            what = "coincidences" if d.kind == "g2" else "counts"
            top.set_ylabel(f"{what} per {_bin_label(d.bin_edges_ns)} bin")
            bottom.stairs(d.residuals, d.bin_edges_ns, color="0.3")
            bottom.set_ylabel("deviance resid.")
            bottom.set_xlabel("delay t_b - t_a (ns)" if d.kind == "g2" else "time since sync (ns)")
        elif d.kind == "hom":  # parallel rows, then orthogonal ones (if any)
            n = (
                d.data.size // 2
                if d.data.size > 1
                and d.x[: d.data.size // 2].tolist() == d.x[d.data.size // 2 :].tolist()
                else d.data.size
            )
            for label, part, colour in (
                ("parallel", slice(0, n), "C0"),
                ("orthogonal", slice(n, None), "C1"),
            ):
                if d.data[part].size:
                    order = np.argsort(d.x[part])
                    top.errorbar(
                        d.x[part][order],
                        d.data[part][order],
                        yerr=np.sqrt(d.data[part][order]),
                        fmt="o",
                        ms=3,
                        color=colour,
                        label=f"data, {label}",
                    )
                    top.plot(
                        d.x[part][order],
                        d.model[part][order],
                        color=colour,
                        marker="_",
                        ms=14,
                        label=f"model, {label}",
                    )
                    bottom.plot(d.x[part][order], d.residuals[part][order], "o", ms=3, color=colour)
            top.set_ylabel("centre-peak coincidences")
            bottom.set_ylabel("deviance resid.")
            bottom.set_xlabel("long-arm delay (ns)")
        else:
            top.errorbar(d.x, d.data, yerr=d.sigma, fmt="o", ms=3, color="0.3", label="data")
            dense = np.linspace(float(np.min(d.x)), float(np.max(d.x)), 400)
            try:
                if result.link is None:  # read from a file: the model at the data's x
                    raise ValueError
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
        what = "deviance" if d.kind in ("histogram", "g2", "hom") else "chi2"
        top.set_title(
            f"{d.name}: {what} {d.contribution:.4g} over {d.data.size} points{note}",
            fontsize="small",
        )
        top.legend(loc="best", fontsize="small")
    fig.suptitle(title.strip() or "photonmc fit")
    fig.tight_layout()
    return fig


def plot_sweep(result, title: str = ""):
    """A matplotlib Figure of a sweep (`SweepResult` or `io.sweep_hdf5.read_sweep`): one
    panel per figure of merit against the first swept parameter, with error bars; in a
    2-D sweep one line per value of the second parameter, each in the legend. Axes are
    labelled with the parameters' units; a figure whose positive values span more than
    two decades gets a log scale. `title` names the config."""
    import matplotlib.pyplot as plt

    figures = result.figures()
    x_name, x = result.names[0], np.asarray(result.axes[0])
    fig, axes = plt.subplots(len(figures), 1, figsize=(6.4, 2.2 * len(figures) + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    others = result.names[1:]
    labels = [""]
    if others:
        grids = np.meshgrid(*[np.asarray(a) for a in result.axes[1:]], indexing="ij")
        labels = [
            ", ".join(
                f"{n} = {g.ravel()[j]:.4g}{_unit_suffix(n)}"
                for n, g in zip(others, grids, strict=True)
            )
            for j in range(grids[0].size)
        ]
    for ax, (name, (value, stderr)) in zip(axes, figures.items(), strict=True):
        v = np.asarray(value, np.float64).reshape(len(x), -1)
        e = np.asarray(stderr, np.float64).reshape(len(x), -1)
        for j in range(v.shape[1]):
            ax.errorbar(x, v[:, j], yerr=e[:, j], marker=".", capsize=2, label=labels[j] or None)
        positive = v[np.isfinite(v) & (v > 0)]
        if (
            positive.size
            and positive.max() > 100 * positive.min()
            and np.all(v[np.isfinite(v)] > 0)
        ):
            ax.set_yscale("log")
        ax.set_ylabel(name.replace("_", " "), fontsize=8)
        if others:
            ax.legend(fontsize="x-small", loc="best")
    axes[-1].set_xlabel(f"{x_name}{_unit_suffix(x_name, parens=True)}")
    mode = f"{result.mode} sweep, {result.shots:,} shots per point"
    fig.suptitle(f"{title}: {mode}" if title else mode, fontsize="medium")
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


def plot_correlation(correlation: dict, title: str = ""):
    """A matplotlib Figure of a coincidence histogram (`io.correlation_hdf5.read_correlation`
    or a `result.PairCorrelation`): the histogram, its peaks marked with their areas, and
    g2(0) printed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.8))
    if isinstance(correlation, dict):
        edges = np.asarray(correlation["bin_edges_ps"]) * 1e-3
        delays = np.asarray(correlation["peak_delays_ps"]) * 1e-3
        _draw_correlation(
            ax,
            edges,
            correlation["counts"],
            delays,
            correlation["peak_counts"],
            correlation["g2_0"],
        )
    else:
        c = correlation
        _draw_correlation(ax, c.bin_edges_ns, c.counts, c.peak_delays_ns, c.peak_counts, c.g2_0())
    ax.set_title(title or "coincidence histogram", fontsize="medium")
    fig.tight_layout()
    return fig


def _draw_correlation(ax, edges_ns, counts, peak_delays_ns, peak_counts, g2=None) -> None:
    edges_ns = np.asarray(edges_ns, np.float64)
    ax.stairs(np.asarray(counts), edges_ns, color="0.25", label="coincidences")
    for i, (t, area) in enumerate(zip(peak_delays_ns, peak_counts, strict=True)):
        ax.axvline(t, color="C3", lw=0.6, ls=":", label="peak centres" if i == 0 else None)
        ax.annotate(
            f"{float(area):.4g}", (t, 1.0), xycoords=("data", "axes fraction"),
            ha="center", va="bottom", fontsize=6, color="C3",
        )  # fmt: skip
    if g2 is not None:
        ax.text(
            0.02, 0.9, f"g2(0) = {g2}", transform=ax.transAxes, fontsize="small",
            bbox={"facecolor": "white", "edgecolor": "0.7"},
        )  # fmt: skip
    ax.set_xlabel("delay t_b - t_a (ns)")
    ax.set_ylabel(f"coincidences per {_bin_label(edges_ns)} bin")
    ax.set_xlim(edges_ns[0], edges_ns[-1])
    ax.legend(loc="upper right", fontsize="x-small")


def plot_fit_file(fit: dict, title: str = ""):
    """`plot_fit` of a fit file read by `io.fit_hdf5.read_fit`."""
    from types import SimpleNamespace

    datasets = []
    for name, d in fit["datasets"].items():
        datasets.append(
            SimpleNamespace(
                name=name,
                kind=d["kind"],
                x=d["x"],
                data=d["data"],
                model=d["model"],
                residuals=d["residuals"],
                contribution=float(np.sum(np.asarray(d["residuals"]) ** 2)),
                bin_edges_ns=d.get("bin_edges_ns"),
                sigma=d.get("sigma"),
                sigma_estimated=bool(d.get("sigma_estimated", False)),
                x_name=d.get("x_name", ""),
                memory=None,
            )
        )
    return plot_fit(SimpleNamespace(datasets=datasets, link=None), title=title)


def _bin_label(edges_ns) -> str:
    """The bin width of uniform edges in ns, as '10 ps' or '1.5 ns'."""
    edges_ns = np.asarray(edges_ns, np.float64)
    w = float(edges_ns[-1] - edges_ns[0]) / (edges_ns.size - 1)
    return f"{w * 1e3:.4g} ps" if w < 1.0 else f"{w:.4g} ns"


def _unit_suffix(name: str, parens: bool = False) -> str:
    """' ns' (or ' (ns)') for a qualified parameter name, from its field's unit suffix."""
    from photonmc.ranges import SUFFIX_UNITS

    field = name.split(".")[-1].split("[")[0]
    for suffix, unit in SUFFIX_UNITS:
        if field.endswith(suffix):
            return f" ({unit})" if parens else f" {unit}"
    return ""
