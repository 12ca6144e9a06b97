"""Is one framework's figure the same as the other's? Per-seed results (one value per seed and framework) are
summarized with t intervals, compared with Welch's t-test (is there a difference at all?) and with two one-sided
tests, TOST (is the difference inside a stated margin?), and the two answers become one word: equivalent,
different, or inconclusive with an estimate of how many seeds would settle it. This is the unpaired design;
harness.results.paired has the paired one and harness.results.comparison puts both in one table. Every
distribution comes from scipy.stats; nothing here imports a framework.
"""

import warnings

import numpy as np
import pandas as pd
from scipy import stats

EQUIVALENT, DIFFERENT, INCONCLUSIVE = "equivalent", "different", "inconclusive: more seeds needed"
NOT_COMPARED = "not compared"  # no margin could be set: no finite values, or a zero mean for a relative one
MAX_SEEDS = 1000  # the search for seeds_needed stops here
# Metric kinds by a word in the metric's name, checked in this order ('val_accuracy' is accuracy, 'test_rmse' error).
_KINDS = [("accuracy", ("accuracy",)), ("r2", ("r2",)), ("error", ("loss", "mae", "mse"))]


def metric_kind(metric: str) -> str:
    """'accuracy', 'r2' or 'error' by a word in the metric's name; a ValueError listing the words otherwise."""
    name = metric.lower()
    for kind, words in _KINDS:
        if any(word in name for word in words):
            return kind
    allowed = ", ".join(word for _, words in _KINDS for word in words)
    raise ValueError(f"Invalid metric. Expected a name containing one of: {allowed}. Received: metric={metric!r}")


def finite(values) -> np.ndarray:
    """The finite values of `values`, flattened, as floats."""
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def summarize(values, confidence: float = 0.95) -> dict:
    """Mean over seeds and how sure it is. Non-finite values are dropped.

    Returns n (finite values), mean, std (sample standard deviation, ddof=1: the seed-to-seed spread) and
    ci_low, ci_high: the `confidence` t interval of the mean (n - 1 degrees of freedom). One value: std and CI
    NaN. Zero spread: the CI is [mean, mean].
    """
    values = finite(values)
    n = len(values)
    mean = float(values.mean()) if n else np.nan
    if n < 2:
        return {"n": n, "mean": mean, "std": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    std = 0.0 if np.ptp(values) == 0 else float(values.std(ddof=1))  # the mean's round-off is no spread
    low, high = (mean, mean) if std == 0 else stats.t.interval(confidence, n - 1, loc=mean, scale=std / np.sqrt(n))
    return {"n": n, "mean": mean, "std": std, "ci_low": float(low), "ci_high": float(high)}


def _ttest(a: np.ndarray, b: np.ndarray, **options):
    """Welch's t-test. A side whose seeds agree exactly is a fair input (accuracy 1.0 on every seed), so scipy's
    warning that such data are 'nearly identical' is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        return stats.ttest_ind(a, b, equal_var=False, **options)


def _constant(a: np.ndarray, b: np.ndarray) -> bool:
    return np.ptp(a) == 0 and np.ptp(b) == 0


def welch(a, b) -> dict:
    """Welch's unequal-variance t-test of mean(a) == mean(b), two-sided.

    Returns difference = mean(a) - mean(b), t, df (Welch-Satterthwaite) and p. Fewer than 2 values on either
    side: everything but the difference is NaN. Both sides constant (zero spread): the data leave no doubt, so
    p = 1 with t = 0 when the means are equal and p = 0 with t = ±inf when not; df is then NaN (0/0).
    """
    a, b = finite(a), finite(b)
    difference = float(a.mean() - b.mean()) if len(a) and len(b) else np.nan
    if len(a) < 2 or len(b) < 2:
        return {"difference": difference, "t": np.nan, "df": np.nan, "p": np.nan}
    if _constant(a, b):
        return {"difference": difference, "t": 0.0 if difference == 0 else np.copysign(np.inf, difference),
                "df": np.nan, "p": 1.0 if difference == 0 else 0.0}
    result = _ttest(a, b)
    return {"difference": difference, "t": float(result.statistic), "df": float(result.df), "p": float(result.pvalue)}


def check_margin(margin: float, alpha: float) -> None:
    """A ValueError naming the argument unless margin is finite and > 0 and alpha is in (0, 0.5)."""
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"Invalid value for argument margin. Expected a finite number > 0. Received: margin={margin}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"Invalid value for argument alpha. Expected a float in (0, 0.5). Received: alpha={alpha}")


def equivalence(a, b, margin: float, alpha: float = 0.05) -> dict:
    """Two one-sided Welch tests (TOST) that mean(a) - mean(b) lies inside (-margin, +margin), margin absolute.

    p_lower tests H0: difference <= -margin, p_upper H0: difference >= +margin; p = max of the two. ci_low,
    ci_high: the (1 - 2 alpha) Welch interval of the difference (90 % for alpha 0.05); equivalent is p < alpha,
    the same as that interval lying inside ±margin. Fewer than 2 values a side: NaN, not equivalent. Both sides
    constant: the difference is exact, each p is 0 or 1 and the interval is [difference, difference].
    """
    check_margin(margin, alpha)
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2:
        return {"p_lower": np.nan, "p_upper": np.nan, "p": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                "equivalent": False}
    if _constant(a, b):
        difference = float(a.mean() - b.mean())
        p_lower, p_upper, low, high = float(difference <= -margin), float(difference >= margin), difference, difference
    else:  # shifting a by the margin moves the null hypothesis from 0 to ∓margin
        p_lower = _ttest(a + margin, b, alternative="greater").pvalue
        p_upper = _ttest(a - margin, b, alternative="less").pvalue
        low, high = _ttest(a, b).confidence_interval(1 - 2 * alpha)
    p = max(p_lower, p_upper)
    return {"p_lower": float(p_lower), "p_upper": float(p_upper), "p": float(p), "ci_low": float(low),
            "ci_high": float(high), "equivalent": bool(p < alpha)}


def margin_for(metric: str, pooled_mean: float, accuracy_points: float = 1.0, relative: float = 0.05,
               r2_absolute: float = 0.01) -> float:
    """The default equivalence margin (absolute, in the metric's units) for a metric name.

    Accuracy (values in [0, 1]): accuracy_points percentage points, 0.01 by default. Losses and errors (loss,
    mae, rmse, mse): `relative` times |pooled_mean|, 5 % of the mean over both frameworks by default. R²:
    r2_absolute, 0.01 by default.
    """
    kind = metric_kind(metric)
    if kind == "accuracy":
        return accuracy_points / 100.0
    if kind == "r2":
        return r2_absolute
    margin = relative * abs(pooled_mean)
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"A relative margin for {metric!r} needs a finite, nonzero mean. Received: "
                         f"pooled_mean={pooled_mean}; pass an absolute margin instead.")
    return float(margin)


def seeds_needed(difference: float, pooled_std: float, margin: float, alpha: float = 0.05,
                 start: int = 2) -> int | None:
    """The smallest seeds per framework n (start..MAX_SEEDS) at which the TOST interval would fit in ±margin.

    Assumes the observed difference and pooled std stay as they are with n seeds on each side: the interval is
    difference ± t(1 - alpha, 2n - 2) · pooled_std · sqrt(2 / n), Welch's df for equal n and equal spreads.
    None when |difference| >= margin (no number of seeds can then show equivalence) or n > MAX_SEEDS.
    """
    if not (abs(difference) < margin and np.isfinite(pooled_std)):
        return None
    n = np.arange(max(start, 2), MAX_SEEDS + 1)
    fits = abs(difference) + stats.t.ppf(1 - alpha, 2 * n - 2) * pooled_std * np.sqrt(2 / n) < margin
    return int(n[fits.argmax()]) if fits.any() else None


def _pooled_std(a: np.ndarray, b: np.ndarray) -> float:
    dof = len(a) + len(b) - 2
    return float(np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / dof))


def formatter(margin: float, points: bool):
    """Numbers to the decimals that show the margin to 3 significant figures; accuracy as percentage points."""
    scale, unit = (100.0, " points") if points else (1.0, "")
    decimals = max(0, 2 - int(np.floor(np.log10(margin * scale))))
    return lambda value: f"{value * scale:.{decimals}f}", unit


def verdict(a, b, margin: float, alpha: float = 0.05, metric: str = "") -> dict:
    """One word for mean(a) vs mean(b): equivalent, different, or inconclusive, and a sentence saying why.

    - "equivalent": TOST rejects |difference| >= margin at alpha (the (1 - 2 alpha) interval is inside ±margin).
    - "different": Welch's p < alpha AND that interval lies entirely outside ±margin, so the difference is both
      real and larger than the margin. A significant difference that might still be smaller than the margin is
      not called different.
    - "inconclusive: more seeds needed" otherwise; seeds_needed (see `seeds_needed`, searched from the larger
      seed count) estimates how many seeds per framework would show equivalence, None when the observed
      difference is at or beyond the margin, more than MAX_SEEDS would be needed, or there are under 2 seeds.

    Returns word, text, difference, ci_low, ci_high, p_welch, p_tost, seeds_needed. With 'accuracy' in
    `metric`, text shows percentage points, else the metric's units.
    """
    check_margin(margin, alpha)
    a, b = finite(a), finite(b)
    test, tost = welch(a, b), equivalence(a, b, margin, alpha)
    difference, low, high = test["difference"], tost["ci_low"], tost["ci_high"]
    show, unit = formatter(margin, "accuracy" in metric.lower())
    level = f"{100 * (1 - 2 * alpha):g}% CI [{show(low)}, {show(high)}]"
    observed = f"difference {show(difference)}{unit}, {level}"
    needed = None
    if tost["equivalent"]:
        word, text = EQUIVALENT, f"equivalent within ±{show(margin)}{unit}: {observed}"
    elif test["p"] < alpha and (low > margin or high < -margin):
        word, text = DIFFERENT, f"different by more than ±{show(margin)}{unit}: {observed}, Welch p = {test['p']:.2g}"
    elif len(a) < 2 or len(b) < 2:
        word, text = INCONCLUSIVE, f"{INCONCLUSIVE} (at least 2 per framework to estimate the spread)"
    elif abs(difference) >= margin:
        word, text = INCONCLUSIVE, (f"{INCONCLUSIVE} to confirm a difference (none can show equivalence: the "
                                    f"observed difference is not inside ±{show(margin)}{unit}): {observed}")
    else:
        word = INCONCLUSIVE
        needed = seeds_needed(difference, _pooled_std(a, b), margin, alpha, start=max(len(a), len(b)))
        about = f"about {needed}" if needed else f"more than {MAX_SEEDS}"
        text = (f"{INCONCLUSIVE} ({about} per framework at the observed spread): {observed}, "
                f"margin ±{show(margin)}{unit}")
    return {"word": word, "text": text, "difference": difference, "ci_low": low, "ci_high": high,
            "p_welch": test["p"], "p_tost": tost["p"], "seeds_needed": needed}


def time_to_target(history: pd.DataFrame, metric: str, target: float, split: str = "val") -> pd.DataFrame:
    """Per (framework, seed): the first epoch whose `metric` on `split` reaches `target`, and the training time to it.

    Reaching is >= for accuracy and R², <= for losses and errors. Columns: framework, seed, epoch, seconds (the
    sum of train epoch_seconds over epochs 1..epoch, so the first epoch's build/tracing time is included). Runs
    that never reach the target get NaN in both.
    """
    higher = metric_kind(metric) in ("accuracy", "r2")
    rows = []
    for (framework, seed), run in history.groupby(["framework", "seed"], sort=False):
        curve = run[(run["split"] == split) & (run["metric"] == metric)].sort_values("epoch")
        reached = curve[curve["value"] >= target] if higher else curve[curve["value"] <= target]
        epoch = reached["epoch"].iloc[0] if len(reached) else np.nan
        timing = run[(run["split"] == "train") & (run["metric"] == "epoch_seconds") & (run["epoch"] <= epoch)]
        seconds = float(timing["value"].sum()) if len(reached) else np.nan
        rows.append({"framework": framework, "seed": seed, "epoch": epoch, "seconds": seconds})
    return pd.DataFrame(rows, columns=["framework", "seed", "epoch", "seconds"])
