"""The paired design: with `init: matched` the same seed gives both frameworks the same initial weights and batch
order, so the per-seed differences a[i] - b[i] cancel the seed-to-seed spread the two runs share. A paired t-test
(scipy.stats.ttest_rel) and a paired TOST (two one-sided one-sample t-tests of the differences, the same margins
as the unpaired ones) answer the same questions as `stats.welch` and `stats.equivalence` with n - 1 degrees of
freedom and the standard deviation of the differences. Nothing here imports a framework.
"""

import warnings

import numpy as np
from scipy import stats as distributions

from harness.results import stats


def pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (a[i], b[i]) where both values are finite; a and b are aligned by seed, same length."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"Invalid pairs. Expected a and b of the same length. Received: {len(a)} and {len(b)}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _one_sample(differences: np.ndarray, alternative: str = "two-sided"):
    """A one-sample t-test of mean(differences) == 0; a near-constant input is fair, so scipy's warning is
    silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        return distributions.ttest_1samp(differences, 0.0, alternative=alternative)


def paired_ttest(a, b) -> dict:
    """The paired t-test of mean(a - b) == 0, two-sided, over the pairs where both values are finite.

    Returns pairs (count), difference = mean(a - b), std (of the differences, ddof=1), t, df = pairs - 1, p; the
    same as scipy.stats.ttest_rel. Under 2 pairs: std, t, df and p NaN. Zero spread of the differences (every
    seed gives the same difference, e.g. bit-identical results): p = 1 with t = 0 when the difference is 0, p = 0
    with t = ±inf when not.
    """
    a, b = pair(a, b)
    d, n = a - b, len(a)
    difference = float(d.mean()) if n else np.nan
    if n < 2:
        return {"pairs": n, "difference": difference, "std": np.nan, "t": np.nan, "df": np.nan, "p": np.nan}
    std, df = (0.0 if np.ptp(d) == 0 else float(d.std(ddof=1))), float(n - 1)
    if std == 0:
        t, p = (0.0, 1.0) if difference == 0 else (float(np.copysign(np.inf, difference)), 0.0)
    else:
        result = _one_sample(d)
        t, p = float(result.statistic), float(result.pvalue)
    return {"pairs": n, "difference": difference, "std": std, "t": t, "df": df, "p": p}


def paired_equivalence(a, b, margin: float, alpha: float = 0.05) -> dict:
    """The paired TOST that mean(a - b) lies inside (-margin, +margin), margin absolute.

    p_lower tests H0: mean difference <= -margin, p_upper H0: >= +margin (one-sided one-sample t-tests of the
    differences, pairs - 1 df); p = max. ci_low, ci_high: the (1 - 2 alpha) t interval of the mean difference;
    equivalent is p < alpha. Under 2 pairs: NaN, not equivalent. Zero spread: the difference is exact, each p
    is 0 or 1 and the interval is [difference, difference].
    """
    stats.check_margin(margin, alpha)
    a, b = pair(a, b)
    d = a - b
    nan = {"p_lower": np.nan, "p_upper": np.nan, "p": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    if len(d) < 2:
        return {**nan, "equivalent": False}
    difference = float(d.mean())
    if np.ptp(d) == 0:
        p_lower, p_upper = float(difference <= -margin), float(difference >= margin)
        low = high = difference
    else:  # shifting the differences by the margin moves the null hypothesis from 0 to ∓margin
        p_lower = _one_sample(d + margin, "greater").pvalue
        p_upper = _one_sample(d - margin, "less").pvalue
        low, high = _one_sample(d).confidence_interval(1 - 2 * alpha)
    p = max(p_lower, p_upper)
    return {"p_lower": float(p_lower), "p_upper": float(p_upper), "p": float(p), "ci_low": float(low),
            "ci_high": float(high), "equivalent": bool(p < alpha)}


def paired_seeds_needed(difference: float, std: float, margin: float, alpha: float = 0.05,
                        start: int = 2) -> int | None:
    """The smallest number of pairs n (start..stats.MAX_SEEDS) at which the paired TOST interval would fit in
    ±margin, if the mean difference and the differences' std stay as observed: difference ±
    t(1 - alpha, n - 1) · std / sqrt(n). Seeds per framework, as each pair is one seed on both sides. None when
    |difference| >= margin or n > MAX_SEEDS."""
    if not (abs(difference) < margin and np.isfinite(std)):
        return None
    n = np.arange(max(start, 2), stats.MAX_SEEDS + 1)
    fits = abs(difference) + distributions.t.ppf(1 - alpha, n - 1) * std / np.sqrt(n) < margin
    return int(n[fits.argmax()]) if fits.any() else None


def paired_verdict(a, b, margin: float, alpha: float = 0.05, metric: str = "") -> dict:
    """`stats.verdict`'s three words from the paired tests: equivalent (paired TOST p < alpha), different (paired
    p < alpha and the interval entirely outside ±margin), else inconclusive with `paired_seeds_needed`.

    a, b: per-seed values aligned by seed. Returns word, text, pairs, difference, ci_low, ci_high, p_paired,
    p_tost, seeds_needed.
    """
    stats.check_margin(margin, alpha)
    test, tost = paired_ttest(a, b), paired_equivalence(a, b, margin, alpha)
    pairs, difference, low, high = test["pairs"], test["difference"], tost["ci_low"], tost["ci_high"]
    show, unit = stats.formatter(margin, "accuracy" in metric.lower())
    observed = (f"paired difference {show(difference)}{unit}, {100 * (1 - 2 * alpha):g}% CI [{show(low)}, "
                f"{show(high)}], {pairs} pairs")
    needed = None
    if tost["equivalent"]:
        word, text = stats.EQUIVALENT, f"equivalent within ±{show(margin)}{unit}: {observed}"
    elif test["p"] < alpha and (low > margin or high < -margin):
        word, text = stats.DIFFERENT, (f"different by more than ±{show(margin)}{unit}: {observed}, paired p = "
                                       f"{test['p']:.2g}")
    elif pairs < 2:
        word, text = stats.INCONCLUSIVE, f"{stats.INCONCLUSIVE} (at least 2 seeds finished on both sides to pair)"
    elif abs(difference) >= margin:
        word, text = stats.INCONCLUSIVE, (f"{stats.INCONCLUSIVE} to confirm a difference (none can show "
                                          f"equivalence: the observed difference is not inside ±{show(margin)}"
                                          f"{unit}): {observed}")
    else:
        word = stats.INCONCLUSIVE
        needed = paired_seeds_needed(difference, test["std"], margin, alpha, start=pairs)
        about = f"about {needed}" if needed else f"more than {stats.MAX_SEEDS}"
        text = (f"{stats.INCONCLUSIVE} ({about} seeds on both sides at the observed spread of the differences): "
                f"{observed}, margin ±{show(margin)}{unit}")
    return {"word": word, "text": text, "pairs": pairs, "difference": difference, "ci_low": low, "ci_high": high,
            "p_paired": test["p"], "p_tost": tost["p"], "seeds_needed": needed}
