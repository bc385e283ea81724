"""Stage construction: every bad value is refused with stage, field, value, unit and range."""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import memory_link

import photonmc as pmc
from photonmc import parameters as P
from photonmc.stages import STAGE_TYPES

QD = dict(rep_rate_mhz=80.0, lifetime_ns=0.6)
MEM = dict(
    write_time_ns=1.0,
    input_mode_fwhm_ns=1.0,
    output_mode_fwhm_ns=0.8,
    write_efficiency=0.5,
    read_efficiency=0.6,
    storage_time_ns=1.0,
    lifetime_ns=1.1,
)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: pmc.Fiber(length_km=-3.0), "Fiber 'fiber': length_km must be >= 0 km, got -3"),
        (
            lambda: pmc.Fiber(length_km=1.0, loss_db_per_km=-0.2),
            "loss_db_per_km must be >= 0 dB/km",
        ),
        (lambda: pmc.Fiber(length_km=1.0, group_index=0.9), "group_index must be >= 1, got 0.9"),
        (
            lambda: pmc.QuantumDot(**{**QD, "lifetime_ns": 0.0}),
            "QuantumDot 'qd': lifetime_ns must be > 0 ns, got 0",
        ),
        (
            lambda: pmc.QuantumDot(**{**QD, "lifetime_ns": -1.0}),
            "lifetime_ns must be > 0 ns, got -1",
        ),
        (lambda: pmc.QuantumDot(**{**QD, "rep_rate_mhz": 0.0}), "rep_rate_mhz must be > 0 MHz"),
        (
            lambda: pmc.QuantumDot(**QD, mean_photon_number=1.2),
            "mean_photon_number must be in [0, 1], got 1.2",
        ),
        (
            lambda: pmc.QuantumDot(**QD, mean_photon_number=0.9, g2=1.5),
            "g2 * mean_photon_number must be <= 1",
        ),
        (lambda: pmc.QuantumDot(**QD, dephasing_time_ns=0.0), "dephasing_time_ns must be > 0 ns"),
        (
            lambda: pmc.QuantumDot(**QD, feeding_time_ns=float("nan")),
            "feeding_time_ns must be a number",
        ),
        (lambda: pmc.QuantumDot(**QD, feeding_time_ns="fast"), "feeding_time_ns must be a number"),
        (
            lambda: pmc.LadderMemory(**{**MEM, "write_efficiency": 1.5}),
            "LadderMemory 'memory': write_efficiency must be in [0, 1], got 1.5",
        ),
        (
            lambda: pmc.LadderMemory(**{**MEM, "storage_time_ns": -1.0}),
            "storage_time_ns must be >= 0 ns",
        ),
        (
            lambda: pmc.LadderMemory(**MEM, decay="linear"),
            "decay must be one of 'gaussian', 'exponential'",
        ),
        (lambda: pmc.LadderMemory(**MEM, beat_terms=[[-0.1, 0.05, 0.0]]), "amplitudes a_k must be"),
        (
            lambda: pmc.LadderMemory(**MEM, beat_terms=[[1.0, 0.05, 3.14159265358979]]),
            "beating normalisation must not vanish",
        ),
        (
            lambda: pmc.Detector(efficiency=-0.1),
            "Detector 'detector': efficiency must be in [0, 1]",
        ),
        (lambda: pmc.Detector(efficiency=0.9, dead_time_ns=-5.0), "dead_time_ns must be >= 0 ns"),
        (
            lambda: pmc.Detector(efficiency=0.9, jitter_fwhm_ps=-1.0),
            "jitter_fwhm_ps must be >= 0 ps",
        ),
        (lambda: pmc.Attenuator(loss_db=-1.0), "Attenuator 'attenuator': loss_db must be >= 0 dB"),
        (
            lambda: pmc.BandpassFilter(fwhm_ghz=0.0),
            "BandpassFilter 'filter': fwhm_ghz must be > 0 GHz",
        ),
        (lambda: pmc.BandpassFilter(fwhm_ghz=1.0, shape="box"), "shape must be one of"),
        (
            lambda: pmc.TimeTagger(bin_width_ps=10.0, window_start_ns=5.0, window_stop_ns=5.0),
            "window_stop_ns must be > window_start_ns (5 ns), got 5 ns",
        ),
        (
            lambda: pmc.TimeTagger(bin_width_ps=10.0, window_start_ns=5.0, window_stop_ns=-1.0),
            "window_stop_ns must be > window_start_ns",
        ),
        (
            lambda: pmc.TimeTagger(bin_width_ps=0.0, window_start_ns=0.0, window_stop_ns=1.0),
            "bin_width_ps must be > 0 ps",
        ),
        (
            lambda: pmc.TimeTagger(bin_width_ps=1e-4, window_start_ns=0.0, window_stop_ns=1e4),
            "makes 1e+11 bins",
        ),
        (
            lambda: pmc.TimeTagger(bin_width_ps=30.0, window_start_ns=0.0, window_stop_ns=1.0),
            "whole number of 30 ps bins",
        ),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_link_structure_is_checked():
    qd, det = pmc.QuantumDot(**QD), pmc.Detector(efficiency=0.9)
    tagger = pmc.TimeTagger(bin_width_ps=10.0, window_start_ns=0.0, window_stop_ns=1.0)
    with pytest.raises(ValueError, match="first stage must be a QuantumDot"):
        pmc.Link([pmc.Fiber(length_km=1.0), det], tagger)
    with pytest.raises(ValueError, match="last stage must be a Detector"):
        pmc.Link([qd, pmc.Fiber(length_km=1.0)], tagger)
    with pytest.raises(ValueError, match="two stages are named 'fiber'"):
        pmc.Link([qd, pmc.Fiber(length_km=1.0), pmc.Fiber(length_km=2.0), det], tagger)
    link = pmc.Link(
        [qd, pmc.Fiber(length_km=1.0), pmc.Fiber(length_km=2.0, name="f2"), det], tagger
    )
    assert link.fixed_delay_ns == pytest.approx(3 * 4897.388, rel=1e-6)  # 4.897 us/km
    with pytest.raises(KeyError, match="no parameter"):
        link.get("f2.colour")
    with pytest.raises(ValueError, match="length_km must be >= 0 km"):
        link.set("f2.length_km", -1.0)


def test_stages_are_pytrees_and_gradients_are_not_validated():
    link = memory_link(sd=0.0, feeding=0.0)  # one quadrature node: a quick compile
    leaves = jax.tree.leaves(link)
    assert len(leaves) == 8 + 5 + 11 + 1 + 4 + 1  # qd, fiber, memory, attenuator, detector, tagger
    # gradients carry zeros for e.g. rep_rate_mhz: rebuilding the tree must not validate
    grad = jax.grad(lambda lk: jnp.sum(pmc.expected_counts(lk)[0][1]))(link)
    assert float(grad.get("memory.read_efficiency")) > 0
    assert float(grad.get("fiber.group_index")) == 0.0
    doubled = jax.tree.map(lambda x: 2 * x, link)
    assert float(doubled.get("memory.write_efficiency")) == pytest.approx(1.2)  # not refused


# ------------------------------------------- parameters declared once, on the field
README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _readme_rows() -> dict[tuple[str, str], list[str]]:
    text = README.read_text(encoding="utf-8")
    table = text.split("### Stage parameters", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[1].startswith("`"):
            rows[(cells[0], cells[1].strip("`"))] = cells[2:]
    return rows


def test_readme_parameter_table_matches_the_declared_fields():
    """Every continuous parameter's row in the README states its declared unit, default,
    range and doc; a field added, renamed or re-ranged without the README fails here."""
    rows = _readme_rows()
    types = {**STAGE_TYPES, "TimeTagger": pmc.TimeTagger}
    for cls_name, cls in types.items():
        for f in dataclasses.fields(cls):
            if f.metadata.get("static", False):
                continue
            assert (cls_name, f.name) in rows, f"README lacks a row for {cls_name}.{f.name}"
            unit, default, valid, meaning = rows[(cls_name, f.name)]
            assert unit == (P.unit_of(f) or "-"), (cls_name, f.name, unit)
            assert meaning == f.metadata["doc"], (cls_name, f.name, meaning)
            if f.default is dataclasses.MISSING:
                assert default == "required", (cls_name, f.name, default)
            elif f.default is None:
                assert default == "absent", (cls_name, f.name, default)
            elif isinstance(f.default, float):
                assert float(default) == f.default, (cls_name, f.name, default)
            rng = P.range_of(f)
            if rng is not None:
                text = rng.text().removeprefix("in ").replace("any value", "any")
                assert valid.startswith(text), (cls_name, f.name, valid, text)


def test_ranges_are_derived_from_the_fields():
    for cls in {**STAGE_TYPES, "TimeTagger": pmc.TimeTagger}.values():
        for f in dataclasses.fields(cls):
            if P.range_of(f) is not None:
                assert P.RANGES[(cls.__name__, f.name)] is P.range_of(f)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_non_finite_values_are_refused_even_where_any_value_is_valid(value):
    with pytest.raises(ValueError, match=f"dispersion_ps_per_nm_km must be finite, got {value}"):
        pmc.Fiber(length_km=1.0, dispersion_ps_per_nm_km=value)
    with pytest.raises(ValueError, match="sync_offset_ns must be finite"):
        pmc.TimeTagger(
            bin_width_ps=100.0, window_start_ns=0.0, window_stop_ns=1.0, sync_offset_ns=value
        )
    with pytest.raises(ValueError, match="detuning_ghz must be a number, got nan"):
        pmc.QuantumDot(**QD, detuning_ghz=math.nan)


def test_values_in_messages_are_exact():
    with pytest.raises(ValueError) as info:
        pmc.QuantumDot(**QD, mean_photon_number=1.0000000000000002)
    assert str(info.value).endswith("got 1.0000000000000002")
    with pytest.raises(ValueError) as info:
        pmc.Fiber(length_km=np.float64(-1.5))
    assert str(info.value).endswith("got -1.5")
