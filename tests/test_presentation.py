"""Notebook-friendly objects: Estimate, Result and FitResult print as short tables."""

from __future__ import annotations

import numpy as np
import pytest

import photonmc as pmc
from photonmc.observables import Estimate


def small_link():
    return pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6),
            pmc.Fiber(length_km=1.0),
            pmc.Detector(efficiency=0.8),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=5.0),
    )


@pytest.mark.parametrize(
    "estimate, text",
    [
        (Estimate(0.12903, 0.0004), "0.1290 \u00b1 0.0004"),
        (Estimate(0.129, 0.012), "0.129 \u00b1 0.012"),
        (Estimate(0.12903, 0.00097), "0.1290 \u00b1 0.0010"),
        (Estimate(18.21, 0.53), "18.2 \u00b1 0.5"),
        (Estimate(1234.5, 25.0), "1234 \u00b1 25"),
    ],
)
def test_estimate_shows_the_digits_its_error_allows(estimate, text):
    assert str(estimate) == text
    assert text in estimate._repr_html_()


def test_result_repr_is_a_short_summary_not_an_array_dump():
    result = pmc.simulate(small_link(), 10_000, mode="expected")
    text = repr(result)
    assert text.startswith("Result(expected, 10,000 shots") and "efficiency" in text
    assert "array" not in text and len(text) < 300
    html = result._repr_html_()
    assert html.startswith("<table>") and "efficiency" in html and html.count("<tr>") < 12


def test_expected_counts_is_a_named_tuple_that_unpacks():
    ec = pmc.expected_counts(small_link())
    counts, totals, info = ec
    assert ec.counts is counts and ec.totals is totals and ec.info is info
    assert float(ec.total("source")) == pytest.approx(float(totals[0]))
    np.testing.assert_array_equal(ec.origin("dark"), counts[3])
    assert list(ec.by_origin()) == ["source", "retrieved", "memory_noise", "dark"]


def test_fit_result_repr_and_html():
    from photonmc.fit import FitResult

    r = FitResult(
        names=("qd.g2",),
        values={"qd.g2": 0.0497},
        stderr={"qd.g2": 0.0006},
        covariance=np.eye(1),
        correlation=np.eye(1),
        deviance=1484.0,
        chi2=None,
        objective=1484.0,
        ndf=1597,
        p_value=0.98,
        converged=True,
        iterations=20,
        warnings=[],
        degenerate=(),
        condition_number=1.0,
        datasets=[],
        link=None,
    )
    assert repr(r) == (
        "FitResult(converged; qd.g2 = 0.0497 \u00b1 0.0006; objective 1484, ndf 1597)"
    )
    assert "<td>qd.g2</td><td>0.0497 \u00b1 0.0006</td>" in r._repr_html_()


def test_result_to_dataframe_and_xarray():
    result = pmc.simulate(small_link(), 10_000, mode="expected")
    pd = pytest.importorskip("pandas")
    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 60
    np.testing.assert_allclose(frame["total"], result.histogram())
    xr = pytest.importorskip("xarray")
    arr = result.to_xarray()
    assert isinstance(arr, xr.DataArray) and arr.dims == ("detector", "origin", "time_ns")
