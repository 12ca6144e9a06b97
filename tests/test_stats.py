"""Seed statistics: each function against scipy.stats or a hand-derived value on fixed inputs, the verdict's three
words and sentences, the edge cases (one seed, zero spread), default margins, and time-to-target on the iris
fixture. Tolerance: rtol 1e-12, since both sides evaluate the same float64 formulas in a different order."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as scipy_stats

from harness.results import comparison, stats

FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
RTOL = 1e-12
A = [0.81, 0.84, 0.79, 0.86, 0.83]
B = [0.80, 0.82, 0.78, 0.81, 0.79, 0.80]


def _welch_by_hand(a, b):
    """difference, standard error and Welch-Satterthwaite df from the textbook formulas."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return a.mean() - b.mean(), np.sqrt(va + vb), df


# summarize ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, confidence", [(A, 0.95), (B, 0.95), (A, 0.90), ([1.0, 3.0], 0.99)])
def test_summarize_matches_t_interval(values, confidence):
    values = np.asarray(values)
    n, mean, std = len(values), values.mean(), values.std(ddof=1)
    half = scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * std / np.sqrt(n)
    got = stats.summarize(values, confidence)
    assert got["n"] == n
    assert_allclose([got["mean"], got["std"], got["ci_low"], got["ci_high"]],
                    [mean, std, mean - half, mean + half], rtol=RTOL)


@pytest.mark.parametrize("values, expected", [
    ([0.5], {"n": 1, "mean": 0.5, "std": np.nan, "ci_low": np.nan, "ci_high": np.nan}),
    ([], {"n": 0, "mean": np.nan, "std": np.nan, "ci_low": np.nan, "ci_high": np.nan}),
    ([0.7, 0.7, 0.7], {"n": 3, "mean": 0.7, "std": 0.0, "ci_low": 0.7, "ci_high": 0.7}),
    ([1.0, np.nan, 3.0, np.inf], {"n": 2, "mean": 2.0, "std": np.sqrt(2), "ci_low": 2 - 12.706204736174698,
                                   "ci_high": 2 + 12.706204736174698}),  # t(0.975, 1) · sqrt(2) / sqrt(2)
])
def test_summarize_edges(values, expected):
    got = stats.summarize(values)
    assert got["n"] == expected["n"]
    keys = ["mean", "std", "ci_low", "ci_high"]
    assert_allclose([got[k] for k in keys], [expected[k] for k in keys], rtol=1e-9)


# welch ----------------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Precision loss")  # scipy's own call below, on the constant side
@pytest.mark.parametrize("a, b", [(A, B), (B, A), ([1.0, 2.0, 3.0], [2.0, 4.0, 5.0, 9.0]),
                                  ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])])  # the last: one side constant
def test_welch_matches_scipy(a, b):
    expected = scipy_stats.ttest_ind(a, b, equal_var=False)
    difference, _, df = _welch_by_hand(a, b)
    got = stats.welch(a, b)
    assert_allclose([got["difference"], got["t"], got["df"], got["p"]],
                    [difference, expected.statistic, df, expected.pvalue], rtol=RTOL)


@pytest.mark.parametrize("a, b, expected", [
    ([0.9, 0.9, 0.9], [0.9, 0.9], {"difference": 0.0, "t": 0.0, "df": np.nan, "p": 1.0}),
    ([1.0, 1.0], [2.0, 2.0], {"difference": -1.0, "t": -np.inf, "df": np.nan, "p": 0.0}),
    ([1.0], [1.0, 2.0], {"difference": -0.5, "t": np.nan, "df": np.nan, "p": np.nan}),
    ([], [1.0, 2.0], {"difference": np.nan, "t": np.nan, "df": np.nan, "p": np.nan}),
])
def test_welch_edges(a, b, expected):
    got = stats.welch(a, b)
    assert_allclose([got[k] for k in expected], list(expected.values()))


@pytest.mark.filterwarnings("error")
def test_a_constant_side_is_fair_input():
    assert stats.verdict([1.0, 1.0, 1.0], [1.0, 1.1, 1.2], 0.5)["word"] == stats.EQUIVALENT  # CI [-0.27, 0.07]


# equivalence ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, margin, alpha", [(A, B, 0.01, 0.05), (A, B, 0.05, 0.05), (B, A, 0.03, 0.10),
                                                 ([1.0, 2.0, 3.0], [2.0, 4.0, 5.0, 9.0], 1.0, 0.05)])
def test_equivalence_matches_hand_tost(a, b, margin, alpha):
    difference, se, df = _welch_by_hand(a, b)
    p_lower = scipy_stats.t.sf((difference + margin) / se, df)  # H0: difference <= -margin
    p_upper = scipy_stats.t.cdf((difference - margin) / se, df)  # H0: difference >= +margin
    half = scipy_stats.t.ppf(1 - alpha, df) * se
    got = stats.equivalence(a, b, margin, alpha)
    assert_allclose([got["p_lower"], got["p_upper"], got["p"], got["ci_low"], got["ci_high"]],
                    [p_lower, p_upper, max(p_lower, p_upper), difference - half, difference + half], rtol=1e-9)
    assert got["equivalent"] == (-margin < difference - half and difference + half < margin)


def test_equivalence_decides_both_ways():
    # difference 0.026, 90 % CI [-0.0002, 0.0522]: inside ±0.06, not inside ±0.05
    assert not stats.equivalence(A, B, 0.05)["equivalent"]
    assert stats.equivalence(A, B, 0.06)["equivalent"]


@pytest.mark.parametrize("a, b, margin, expected", [
    ([1.0, 1.0], [1.0, 1.0], 0.1, {"p_lower": 0.0, "p_upper": 0.0, "ci_low": 0.0, "ci_high": 0.0, "equivalent": True}),
    ([1.2, 1.2], [1.0, 1.0], 0.1, {"p_lower": 0.0, "p_upper": 1.0, "ci_low": 0.2, "ci_high": 0.2, "equivalent": False}),
    ([1.0], [1.0, 1.1], 0.1, {"p_lower": np.nan, "p_upper": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                              "equivalent": False}),
])
def test_equivalence_edges(a, b, margin, expected):
    got = stats.equivalence(a, b, margin)
    assert got["equivalent"] == expected.pop("equivalent")
    assert_allclose([got[k] for k in expected], list(expected.values()), rtol=1e-12)


@pytest.mark.parametrize("margin, alpha, match", [(0.0, 0.05, "margin"), (-0.1, 0.05, "margin"),
                                                  (np.nan, 0.05, "margin"), (0.1, 0.5, "alpha"), (0.1, 0.0, "alpha")])
def test_equivalence_rejects_bad_arguments(margin, alpha, match):
    with pytest.raises(ValueError, match=match):
        stats.equivalence(A, B, margin, alpha)


# margin_for -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("metric, pooled_mean, options, expected", [
    ("test_accuracy", 0.9, {}, 0.01),
    ("final_val_accuracy", 0.9, {"accuracy_points": 0.5}, 0.005),
    ("test_loss", 2.0, {}, 0.1),
    ("final_train_loss", -2.0, {}, 0.1),  # the margin is a size: |mean|
    ("test_mae", 0.4, {}, 0.02),
    ("test_rmse", 4.0, {"relative": 0.1}, 0.4),
    ("test_r2", 0.8, {}, 0.01),
    ("test_r2", 0.8, {"r2_absolute": 0.02}, 0.02),
])
def test_margin_for(metric, pooled_mean, options, expected):
    assert stats.margin_for(metric, pooled_mean, **options) == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("metric, pooled_mean, match", [("train_seconds", 1.0, "accuracy, r2, loss"),
                                                        ("test_loss", 0.0, "nonzero mean"),
                                                        ("test_mae", np.nan, "nonzero mean")])
def test_margin_for_rejects(metric, pooled_mean, match):
    with pytest.raises(ValueError, match=match):
        stats.margin_for(metric, pooled_mean)


# verdict --------------------------------------------------------------------------------------------------------

BASE = np.array([0.900, 0.901, 0.902, 0.903, 0.904])
SPREAD = np.array([0.80, 0.82, 0.84])  # std 0.02 exactly


@pytest.mark.parametrize("a, b, margin, metric, word, text, seeds_needed", [
    # 0.1 points apart, std 0.16 points: the 90 % CI sits well inside ±1 point.
    (BASE, BASE - 0.001, 0.01, "test_accuracy", stats.EQUIVALENT,
     "equivalent within ±1.00 points: difference 0.10 points, 90% CI [-0.09, 0.29]", None),
    # 10 points apart with 1 point of spread.
    ([0.90, 0.91, 0.92], [0.80, 0.81, 0.82], 0.01, "test_accuracy", stats.DIFFERENT,
     "different by more than ±1.00 points: difference 10.00 points, 90% CI [8.26, 11.74], Welch p = 0.00026", None),
    ([1.0, 1.1, 1.2], [1.5, 1.6, 1.7], 0.05, "test_loss", stats.DIFFERENT,
     "different by more than ±0.0500: difference -0.5000, 90% CI [-0.6741, -0.3259], Welch p = 0.0036", None),
    # Difference 0.002, pooled std 0.02, margin 0.01: the half-width t(0.95, 2n - 2) · 0.02 · sqrt(2 / n) must be
    # below 0.008, i.e. t · sqrt(2 / n) < 0.4. n = 34: t(0.95, 66) = 1.66827 · 0.24254 = 0.40462, too wide;
    # n = 35: t(0.95, 68) = 1.66757 · 0.23905 = 0.39863, fits. So 35 seeds per framework.
    (SPREAD, SPREAD - 0.002, 0.01, "test_accuracy", stats.INCONCLUSIVE,
     "inconclusive: more seeds needed (about 35 per framework at the observed spread): difference 0.20 points, "
     "90% CI [-3.28, 3.68], margin ±1.00 points", 35),
    # Welch p = 0.013 < 0.05, yet the 90 % CI [0.73, 1.67] points reaches inside ±1 point: not "different" under
    # the rule that the whole CI must lie beyond the margin; and |difference| >= margin, so no seed count helps.
    ([0.909, 0.912, 0.915], [0.899, 0.900, 0.901], 0.01, "test_accuracy", stats.INCONCLUSIVE,
     "inconclusive: more seeds needed to confirm a difference (none can show equivalence: the observed "
     "difference is not inside ±1.00 points): difference 1.20 points, 90% CI [0.73, 1.67]", None),
    ([0.5], [0.5, 0.6], 0.01, "test_accuracy", stats.INCONCLUSIVE,
     "inconclusive: more seeds needed (at least 2 per framework to estimate the spread)", None),
    ([1.0, 1.0], [1.0, 1.0], 0.05, "test_loss", stats.EQUIVALENT,
     "equivalent within ±0.0500: difference 0.0000, 90% CI [0.0000, 0.0000]", None),
    ([1.0, 1.0], [2.0, 2.0], 0.05, "test_loss", stats.DIFFERENT,
     "different by more than ±0.0500: difference -1.0000, 90% CI [-1.0000, -1.0000], Welch p = 0", None),
])
def test_verdict(a, b, margin, metric, word, text, seeds_needed):
    got = stats.verdict(a, b, margin, metric=metric)
    assert (got["word"], got["text"], got["seeds_needed"]) == (word, text, seeds_needed)


def test_verdict_different_rule_is_stricter_than_welch():
    a, b = [0.909, 0.912, 0.915], [0.899, 0.900, 0.901]
    got = stats.verdict(a, b, 0.01)
    assert got["p_welch"] < 0.05 and got["ci_low"] < 0.01 < got["ci_high"]  # the case the rule exists for
    assert got["word"] == stats.INCONCLUSIVE
    assert stats.verdict(a, b, 0.005)["word"] == stats.DIFFERENT  # the same data against a smaller margin


def test_verdict_numbers_come_from_welch_and_tost():
    got, test, tost = stats.verdict(A, B, 0.02), stats.welch(A, B), stats.equivalence(A, B, 0.02)
    assert (got["difference"], got["p_welch"], got["p_tost"]) == (test["difference"], test["p"], tost["p"])
    assert (got["ci_low"], got["ci_high"]) == (tost["ci_low"], tost["ci_high"])


@pytest.mark.parametrize("difference, pooled_std, margin, start, expected", [
    (0.002, 0.02, 0.01, 3, 35),     # the inconclusive verdict case above
    # Pins df = 2n - 2: half-width t(0.95, 2n - 2) · sqrt(2 / n) is 2.920 at n = 2, 2.132 · 0.8165 = 1.741 at
    # n = 3 (> 1.7), 1.943 · 0.7071 = 1.374 at n = 4. With df = 2n, n = 3 would already fit (1.943 · 0.8165 = 1.587).
    (0.0, 1.0, 1.7, 2, 4),
    (0.002, 0.02, 0.01, 40, 40),    # already enough at the current seed count
    (0.0, 0.0, 0.01, 5, 5),         # no spread: the current count
    (0.01, 0.02, 0.01, 3, None),    # |difference| == margin
    (0.02, 0.001, 0.01, 3, None),   # beyond the margin
    (0.0, 1.0, 0.01, 3, None),      # needs about 2 · (1.645 / 0.01)² = 54,000 > MAX_SEEDS
    (0.0, np.nan, 0.01, 3, None),
])
def test_seeds_needed(difference, pooled_std, margin, start, expected):
    assert stats.seeds_needed(difference, pooled_std, margin, start=start) == expected


def test_seeds_needed_is_the_first_that_fits():
    n = stats.seeds_needed(0.002, 0.02, 0.01)
    half = [scipy_stats.t.ppf(0.95, 2 * k - 2) * 0.02 * np.sqrt(2 / k) for k in (n - 1, n)]
    assert 0.002 + half[0] >= 0.01 > 0.002 + half[1]


# compare_frameworks ---------------------------------------------------------------------------------------------

def _summary() -> pd.DataFrame:
    return pd.read_csv(FIXTURE / "summary.csv", dtype={"error": object})


def test_compare_frameworks_on_fixture():
    summary = _summary()
    table = comparison.compare_frameworks(summary, ["test_accuracy", "final_val_loss"], use_paired=False)
    assert list(table.index) == ["test_accuracy", "final_val_loss"]
    for metric in table.index:
        tf, torch = (summary.loc[summary["framework"] == fw, metric] for fw in ("tensorflow", "torch"))
        row, expected = table.loc[metric], stats.verdict(tf, torch, table.loc[metric, "margin"], metric=metric)
        for fw, values in (("tensorflow", tf), ("torch", torch)):
            for key, value in stats.summarize(values).items():
                assert row[f"{fw}_{key}"] == pytest.approx(value, rel=RTOL, nan_ok=True)
        assert (row["word"], row["text"], row["p_welch"]) == (expected["word"], expected["text"], expected["p_welch"])
    assert table.loc["test_accuracy", "margin"] == 0.01
    assert table.loc["final_val_loss", "margin"] == pytest.approx(0.05 * summary["final_val_loss"].mean(), rel=RTOL)
    # Seeds 0 and 1 differ by 30 accuracy points, so Welch's unpaired interval is far wider than ±1 point.
    assert pd.isna(table.loc["test_accuracy", "seeds_needed"])
    assert table.loc["final_val_loss", "seeds_needed"] == 52


def test_compare_frameworks_counts_only_finished_runs_and_takes_margins():
    summary = _summary()
    failed = summary.iloc[[0]].assign(status="failed", test_accuracy=0.99, seed=2)
    table = comparison.compare_frameworks(pd.concat([summary, failed]), ["test_accuracy"], {"test_accuracy": 0.5})
    assert table.loc["test_accuracy", "tensorflow_n"] == 2
    assert table.loc["test_accuracy", "tensorflow_mean"] == pytest.approx(summary["test_accuracy"].iloc[::2].mean())
    assert table.loc["test_accuracy", "margin"] == 0.5


@pytest.mark.parametrize("summary, metrics, match", [
    (_summary(), ["nope"], "Invalid metrics"),
    (_summary().query("framework == 'torch'"), ["test_accuracy"], "two frameworks"),
])
def test_compare_frameworks_rejects(summary, metrics, match):
    with pytest.raises(ValueError, match=match):
        comparison.compare_frameworks(summary, metrics)


# time_to_target -------------------------------------------------------------------------------------------------

# Seed 0 reaches val accuracy 0.583 at epoch 2 on both frameworks; seed 1 stays at 0.167. Val loss falls to
# 1.0356 at epoch 3 (seed 0) and never below 1.28 (seed 1). Seconds: train epoch_seconds from history.csv.
TF_SECONDS = [0.4528396219999422, 0.04866228299999875, 0.05046171200001481]
TORCH_SECONDS = [0.00975126299999829, 0.0022360269999808224, 0.0019886589999487114]


@pytest.mark.parametrize("metric, target, split, epochs, seconds", [
    ("accuracy", 0.55, "val", [2, 2, np.nan, np.nan], [sum(TF_SECONDS[:2]), sum(TORCH_SECONDS[:2]), np.nan, np.nan]),
    ("accuracy", 0.5, "val", [1, 1, np.nan, np.nan], [TF_SECONDS[0], TORCH_SECONDS[0], np.nan, np.nan]),
    ("loss", 1.05, "val", [3, 3, np.nan, np.nan], [sum(TF_SECONDS), sum(TORCH_SECONDS), np.nan, np.nan]),
    ("loss", 1.5, "val", [1, 1, 1, 1], [TF_SECONDS[0], TORCH_SECONDS[0], 0.47380612299991753, 0.005295824999961951]),
    ("accuracy", 0.99, "train", [np.nan] * 4, [np.nan] * 4),
])
def test_time_to_target_on_fixture(metric, target, split, epochs, seconds):
    table = stats.time_to_target(pd.read_csv(FIXTURE / "history.csv"), metric, target, split)
    assert list(zip(table["framework"], table["seed"])) == [("tensorflow", 0), ("torch", 0), ("tensorflow", 1),
                                                           ("torch", 1)]
    assert_allclose(table["epoch"], epochs)
    assert_allclose(table["seconds"], seconds, rtol=RTOL)


def test_time_to_target_rejects_unknown_metric():
    with pytest.raises(ValueError, match="Received: metric='epoch_seconds'"):
        stats.time_to_target(pd.read_csv(FIXTURE / "history.csv"), "epoch_seconds", 1.0)


def test_importing_stats_loads_no_framework():
    code = ("import sys, harness.results.stats; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'torch', 'keras'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"
