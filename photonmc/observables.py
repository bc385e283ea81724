"""Summary figures with statistical errors (docs/physics.md 6.1-6.3), from counts and sums.

Pure numpy on host-side arrays. Analog results give the error of the estimate from
the run itself; expected results give the error that a measurement of the same number
of shots would have (Poisson counting statistics), so both read the same way.
"""

from __future__ import annotations

import html
import math
from typing import NamedTuple

import numpy as np


class Estimate(NamedTuple):
    """A figure and its one-standard-deviation statistical error."""

    value: float
    stderr: float

    def __str__(self) -> str:
        """The value to the error's first two significant digits: `0.1290 \u00b1 0.0004`
        (`0.129 \u00b1 0.012`)."""
        if not math.isfinite(self.value):
            return str(self.value)
        if self.stderr == 0.0 or not math.isfinite(self.stderr):
            return f"{self.value:.6g}"
        digits = _decimals(abs(self.stderr))
        if abs(self.value) >= 1e5 or (0 < abs(self.value) < 1e-3):
            return f"{self.value:.4g} \u00b1 {self.stderr:.2g}"
        err = round(abs(self.stderr), digits)
        return f"{self.value:.{digits}f} \u00b1 {err:.{digits}f}"

    def _repr_html_(self) -> str:
        return f"<span>{html.escape(str(self))}</span>"

    def as_dict(self) -> dict:
        """{"value", "stderr"}, JSON-ready: a non-finite number is None, and a figure
        that is +inf (an SNR without noise) adds "infinite": True, one that is undefined
        (NaN: a ratio over nothing) adds "undefined": True."""
        out = {"value": _json_float(self.value), "stderr": _json_float(self.stderr)}
        if math.isinf(self.value) and self.value > 0:
            out["infinite"] = True
        elif math.isnan(self.value):
            out["undefined"] = True
        return out


def _decimals(err: float) -> int:
    """Decimals that show an error to the Particle Data Group's significant digits: two
    when its three leading digits are 100-354, one for 355-949, two of the next decade
    (rounded up) for 950-999."""
    exponent = math.floor(math.log10(err))
    leading = int(err / 10.0 ** (exponent - 2) + 1e-9)
    if leading >= 1000:  # rounding of the power
        exponent, leading = exponent + 1, leading // 10
    if leading <= 354:
        sig = 2
    elif leading <= 949:
        sig = 1
    else:
        exponent, sig = exponent + 1, 2
    return max(0, sig - 1 - exponent)


def _json_float(x: float):
    return float(x) if math.isfinite(x) else None


def rate_per_shot(counts: float, shots: int) -> Estimate:
    """Counts per shot with a Poisson error (counts are rare events per shot)."""
    return Estimate(counts / shots, math.sqrt(max(counts, 0.0)) / shots)


def ratio_of_counts(num: float, den: float) -> Estimate:
    """num / den for independent Poisson counts: relative errors add in quadrature."""
    if den <= 0:
        return Estimate(math.inf if num > 0 else math.nan, math.nan)
    value = num / den
    rel = math.sqrt((1.0 / num if num > 0 else 0.0) + 1.0 / den)
    return Estimate(value, abs(value) * rel if num > 0 else math.sqrt(1.0) / den)


def ratio_of_sums(sums: dict, num: str, den: str, *, analog: bool, shots: int) -> Estimate:
    """Ratio estimator R = sum(y) / sum(x) over photons, with its delta-method error.

    `sums` holds sum x, sum y, sum x^2, sum y^2 and sum x y under the keys x, y, xx, yy,
    xy (num = "y", den = "x"). For expected results, where the sums are expectations per
    shot, the error is the binomial error of R over shots * sum(x) arrivals.
    """
    sx, sy = sums[den], sums[num]
    if sx <= 0:
        return Estimate(math.nan, math.nan)
    r = sy / sx
    if not analog:
        n = shots * sx
        return Estimate(r, math.sqrt(max(r * (1.0 - r), 0.0) / n))
    sxx, syy, sxy = sums[den * 2], sums[num * 2], sums[den + num]
    var = (syy - 2.0 * r * sxy + r * r * sxx) / sx**2
    return Estimate(r, math.sqrt(max(var, 0.0)))


def window_mask(bin_edges_ns: np.ndarray, window_ns: tuple[float, float]) -> np.ndarray:
    """Bins whose centre lies inside [a, b] (histogram time)."""
    a, b = window_ns
    centres = 0.5 * (bin_edges_ns[1:] + bin_edges_ns[:-1])
    return (centres >= a) & (centres <= b)


#: Upper limit (95 % confidence) of a Poisson mean when no event was seen: -ln(0.05)
ZERO_COUNT_LIMIT_95 = -math.log(0.05)


def snr(retrieved: float, noise: float) -> Estimate:
    """Signal-to-noise: retrieved counts over noise counts (memory noise plus dark).

    Without noise counts it is +inf (stderr 0) when there are retrieved counts, and 0
    (stderr 0) when there are none either; `snr_lower_bound` gives the 95 % lower limit
    that zero noise counts of an analog run allow.
    """
    if noise <= 0:
        return Estimate(math.inf, 0.0) if retrieved > 0 else Estimate(0.0, 0.0)
    return ratio_of_counts(retrieved, noise)


def snr_lower_bound(retrieved: float) -> float:
    """95 % lower limit of the SNR when no noise count was seen: retrieved / 3.0 (the
    noise mean is below -ln 0.05 = 3.0 counts at 95 % confidence)."""
    return retrieved / ZERO_COUNT_LIMIT_95
