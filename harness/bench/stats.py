"""Statistics of repeated timings, kept apart from the timing itself so a test can check them on known samples.

Quartiles and percentiles use numpy's default (linear interpolation between order statistics, type 7 in
Hyndman & Fan), the definition pandas and R's default quantile share.
"""

import numpy as np


def summarize(samples) -> dict:
    """n, median, quartiles, IQR, p50/p95, min, max and the spread (IQR / median, in percent) of raw samples."""
    values = np.asarray(samples, dtype=float)
    if values.size == 0:
        raise ValueError("no samples to summarize")
    q1, median, q3, p95 = np.percentile(values, [25, 50, 75, 95])
    return {"n": int(values.size), "median": float(median), "q1": float(q1), "q3": float(q3),
            "iqr": float(q3 - q1), "p50": float(median), "p95": float(p95), "min": float(values.min()),
            "max": float(values.max()), "spread_percent": float(100 * (q3 - q1) / median) if median else float("nan")}


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is missing or the denominator is zero."""
    if not (np.isfinite(numerator) and np.isfinite(denominator)) or denominator == 0:
        return float("nan")
    return float(numerator / denominator)


def within(a: float, b: float, fraction: float) -> bool:
    """True when a and b differ by at most `fraction` of the smaller one (the repeatability check of two runs)."""
    return abs(a - b) <= fraction * min(abs(a), abs(b))
