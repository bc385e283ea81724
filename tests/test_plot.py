"""Figures: labels, legends and scales asserted on the matplotlib objects (Agg backend)."""

from __future__ import annotations

import numpy as np
import pytest

import photonmc as pmc
from photonmc import plot
from photonmc.cli import main
from photonmc.observables import Estimate

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def hbt_link():
    return pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.5, g2=0.1),
            pmc.BeamSplitter(),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=1e3, name="a", branch="bs.transmitted"),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=1e3, name="b", branch="bs.reflected"),
        ],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=9.0),
    )


def legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_result_plot_shows_total_bin_width_and_coincidences(tmp_path):
    result = pmc.simulate(hbt_link(), 100_000, mode="expected", correlations=True)
    fig = plot.plot_result(result, title="hbt")
    axes = fig.axes
    assert len(axes) == 3  # two detectors and one pair
    for ax in axes[:2]:
        assert ax.get_xlabel() == "time since sync (ns)"
        assert ax.get_ylabel() == "expected counts per 100 ps bin"
        assert ax.get_yscale() == "log"
        assert legend_texts(ax)[:2] == ["total", "source"] and "dark" in legend_texts(ax)
    corr = axes[2]
    assert corr.get_xlabel() == "delay t_b - t_a (ns)"
    assert corr.get_ylabel() == "coincidences per 100 ps bin"
    assert any(t.get_text().startswith("g2(0) = 0.10") for t in corr.texts)
    assert len([ln for ln in corr.get_lines() if ln.get_linestyle() == ":"]) == 11
    fig.savefig(tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_sweep_plot_has_units_a_legend_per_line_and_log_scales(tmp_path):
    link = hbt_link()
    sw = pmc.sweep(
        link,
        {"qd.mean_photon_number": [0.001, 0.01, 0.1, 1.0], "qd.lifetime_ns": [0.3, 0.9]},
        100_000,
        mode="expected",
    )
    fig = plot.plot_sweep(sw, title="hbt_qd.toml")
    assert fig.texts[0].get_text().startswith("hbt_qd.toml: expected sweep")
    assert fig.axes[-1].get_xlabel() == "qd.mean_photon_number"
    for ax in fig.axes:
        assert legend_texts(ax) == ["qd.lifetime_ns = 0.3 ns", "qd.lifetime_ns = 0.9 ns"]
    by_name = {ax.get_ylabel(): ax for ax in fig.axes}
    assert by_name["efficiency"].get_yscale() == "log"  # 4e-4 .. 0.8: three decades
    sw1 = pmc.sweep(link, {"qd.lifetime_ns": [0.3, 0.6]}, 1000, mode="expected")
    fig1 = plot.plot_sweep(sw1)
    assert fig1.axes[-1].get_xlabel() == "qd.lifetime_ns (ns)"
    assert fig1.axes[0].get_yscale() == "linear" and fig1.axes[0].get_legend() is None
    fig.savefig(tmp_path / "s.png")


def test_plot_command_draws_every_kind_of_file_and_keeps_existing_figures(tmp_path, capsys):
    from photonmc.io import write_result
    from photonmc.io.correlation_hdf5 import write_correlation
    from photonmc.io.fit_hdf5 import write_fit
    from photonmc.io.sweep_hdf5 import write_sweep

    link = hbt_link()
    res = pmc.simulate(link, 10_000, mode="expected", correlations=True)
    write_result(res, tmp_path / "r.h5")
    sw = pmc.sweep(link, {"qd.lifetime_ns": [0.3, 0.6]}, 10_000, mode="expected")
    write_sweep(sw, tmp_path / "s.h5")
    c = res.correlations["a,b"]
    write_correlation(
        tmp_path / "c.h5",
        bin_edges_ps=c.bin_edges_ns * 1e3,
        counts=np.rint(c.counts),
        peak_delays_ps=c.peak_delays_ns * 1e3,
        peak_counts=np.rint(c.peak_counts),
        g2_0=Estimate(0.1, 0.01),
        attrs={"channels": np.array([0, 1])},
    )
    x = 0.5 * (c.bin_edges_ns[1:] + c.bin_edges_ns[:-1])
    dataset = {
        "name": "g2", "kind": "g2", "x_name": "delay t_b - t_a (ns)", "sigma_estimated": False,
        "shots": None, "x": x, "bin_edges_ns": c.bin_edges_ns, "data": c.counts,
        "model": c.counts, "residuals": np.zeros_like(x), "sigma": None,
    }  # fmt: skip
    write_fit({"objective": 0.0}, [dataset], tmp_path / "f.h5")
    for name in ("r", "s", "c", "f"):
        out = tmp_path / f"{name}.png"
        assert main(["plot", str(tmp_path / f"{name}.h5"), "-o", str(out)]) == 0, name
        assert out.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "r.h5"), "-o", str(tmp_path / "r.png")]) == 2
    assert "already exists; use --force" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "r.h5"), "-o", str(tmp_path / "r.png"), "--force"]) == 0
