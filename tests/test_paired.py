"""The paired design (harness.results.paired, harness.results.comparison): the paired t-test and TOST against
scipy.stats.ttest_rel and against closed forms (with 2 degrees of freedom the t distribution has an elementary CDF
and quantile), the degenerate cases (zero spread, one pair, NaN), the seeds each design needs, pairing by seed in
compare_frameworks, and which verdict the report uses. Tolerance: rtol 1e-12, the same float64 formulas in
another order."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness.results import analysis, comparison, paired, stats

FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
RTOL = 1e-12
B = [0.50, 0.60, 0.70, 0.80, 0.90]  # a seed-to-seed spread both frameworks share
A = [b + d for b, d in zip(B, [0.001, -0.002, 0.002, 0.0, 0.001])]  # and a small per-seed difference


@pytest.mark.parametrize("a, b", [(A, B), (B, A), ([1.0, 2.0, 3.0], [0.5, 2.5, 2.0]),
                                  ([0.81, 0.84, 0.79, 0.86], [0.80, 0.82, 0.78, 0.81])])
def test_paired_ttest_matches_scipy(a, b):
    got, expected = paired.paired_ttest(a, b), scipy_stats.ttest_rel(a, b)
    assert got["pairs"] == len(a) and got["df"] == len(a) - 1
    np.testing.assert_allclose([got["t"], got["p"]], [expected.statistic, expected.pvalue], rtol=RTOL)
    assert got["std"] == pytest.approx(np.std(np.subtract(a, b), ddof=1), rel=RTOL)


def test_paired_tests_by_hand():
    """Differences [1, 2, 3]: mean 2, std 1, t = 2·sqrt(3) with 2 df, where the t CDF is 1/2 + t / (2 sqrt(t² + 2))
    and the quantile (2p - 1) / sqrt(2p(1 - p)). Margin 5: the upper one-sided test has t = -3·sqrt(3)."""
    a, b = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]
    test, tost = paired.paired_ttest(a, b), paired.paired_equivalence(a, b, margin=5.0)
    assert test["t"] == pytest.approx(2 * np.sqrt(3), rel=RTOL)
    assert test["p"] == pytest.approx(1 - np.sqrt(12 / 14), rel=1e-10)
    assert tost["p_upper"] == pytest.approx((1 - np.sqrt(27 / 29)) / 2, rel=1e-10)
    assert tost["p_lower"] == pytest.approx((1 - np.sqrt(147 / 149)) / 2, rel=1e-9)
    half = 0.9 / np.sqrt(2 * 0.95 * 0.05) / np.sqrt(3)  # t(0.95, 2) · std / sqrt(n)
    assert (tost["ci_low"], tost["ci_high"]) == pytest.approx((2 - half, 2 + half), rel=1e-10)
    assert tost["p"] == tost["p_upper"] and tost["equivalent"]


@pytest.mark.parametrize("a, b, margin, expected", [
    # identical results (a linear model's figures are bit-identical): the difference is exactly 0
    ([0.5, 0.7, 0.9], [0.5, 0.7, 0.9], 0.01,
     {"pairs": 3, "std": 0.0, "t": 0.0, "p": 1.0, "p_tost": 0.0, "ci_low": 0.0, "ci_high": 0.0,
      "word": stats.EQUIVALENT}),
    # the same exact difference on every seed, beyond the margin
    ([0.75, 1.0, 1.25], [0.5, 0.75, 1.0], 0.1,
     {"pairs": 3, "std": 0.0, "t": np.inf, "p": 0.0, "p_tost": 1.0, "ci_low": 0.25, "ci_high": 0.25,
      "word": stats.DIFFERENT}),
    # one pair: no spread to estimate
    ([0.5], [0.4], 0.01,
     {"pairs": 1, "std": np.nan, "t": np.nan, "p": np.nan, "p_tost": np.nan, "ci_low": np.nan, "ci_high": np.nan,
      "word": stats.INCONCLUSIVE}),
    # NaN on either side drops that pair; two pairs remain, (1, 0.5) and (4, 3.5): zero spread again
    ([1.0, np.nan, 3.0, 4.0], [0.5, 2.0, np.inf, 3.5], 1.0,
     {"pairs": 2, "std": 0.0, "t": np.inf, "p": 0.0, "p_tost": 0.0, "ci_low": 0.5, "ci_high": 0.5,
      "word": stats.EQUIVALENT}),
])
def test_paired_edges(a, b, margin, expected):
    test, tost = paired.paired_ttest(a, b), paired.paired_equivalence(a, b, margin)
    got = {"pairs": test["pairs"], "std": test["std"], "t": test["t"], "p": test["p"], "p_tost": tost["p"],
           "ci_low": tost["ci_low"], "ci_high": tost["ci_high"],
           "word": paired.paired_verdict(a, b, margin)["word"]}
    assert got == pytest.approx(expected, nan_ok=True)


def test_pairs_must_align():
    with pytest.raises(ValueError, match="same length"):
        paired.paired_ttest([1.0, 2.0], [1.0, 2.0, 3.0])


def test_pairing_settles_what_welch_cannot():
    """A shared seed-to-seed spread of 0.16 swamps Welch's interval; the differences' spread is 0.0016."""
    unpaired, matched = stats.verdict(A, B, 0.01), paired.paired_verdict(A, B, 0.01)
    assert (unpaired["word"], matched["word"]) == (stats.INCONCLUSIVE, stats.EQUIVALENT)
    assert matched["text"].startswith("equivalent within ±0.0100: paired difference 0.0004, 90% CI [")
    assert matched["text"].endswith(", 5 pairs")


@pytest.mark.parametrize("difference, std, margin, start, expected", [
    (0.0, 1.0, 1.0, 2, 5),       # t(0.95, 4) / sqrt(5) = 0.954 is the first below 1
    (0.5, 1.0, 1.0, 2, 13),      # t(0.95, 12) / sqrt(13) = 0.494 < 0.5; n = 12 gives 0.518
    (0.0, 1.0, 1.0, 7, 7),       # searched from start
    (0.0, 0.0, 1.0, 2, 2),       # no spread: two pairs already fit
    (1.0, 1.0, 1.0, 2, None),    # the difference is the margin: no number of seeds shows equivalence
    (0.0, np.nan, 1.0, 2, None),
    (0.0, 1.0, 0.01, 2, None),   # more than MAX_SEEDS
])
def test_paired_seeds_needed(difference, std, margin, start, expected):
    assert paired.paired_seeds_needed(difference, std, margin, start=start) == expected


def test_paired_seeds_needed_is_the_first_that_fits():
    n = paired.paired_seeds_needed(0.002, 0.02, 0.01)
    half_width = [scipy_stats.t.ppf(0.95, k - 1) * 0.02 / np.sqrt(k) for k in (n - 1, n)]
    assert 0.002 + half_width[0] >= 0.01 > 0.002 + half_width[1]


def _summary() -> pd.DataFrame:
    return pd.read_csv(FIXTURE / "summary.csv", dtype={"error": object})


def test_compare_frameworks_pairs_by_seed():
    """torch's rows in another seed order, a seed only tensorflow ran and a failed torch run: 3 pairs."""
    rows = [("tensorflow", seed, "ok", value) for seed, value in zip(range(5), [0.8, 0.7, 0.9, 0.6, 0.5])]
    rows += [("torch", 2, "ok", 0.88), ("torch", 0, "ok", 0.81), ("torch", 1, "ok", 0.72), ("torch", 3, "failed", 0.1)]
    summary = pd.DataFrame(rows, columns=["framework", "seed", "status", "test_accuracy"])
    row = comparison.compare_frameworks(summary, ["test_accuracy"]).loc["test_accuracy"]
    expected = scipy_stats.ttest_rel([0.8, 0.7, 0.9], [0.81, 0.72, 0.88])
    assert (row["pairs"], row["tensorflow_n"], row["torch_n"], row["design"]) == (3, 5, 3, "paired")
    assert row["p_paired"] == pytest.approx(expected.pvalue, rel=RTOL)
    assert row["paired_difference"] == pytest.approx(np.mean([-0.01, -0.02, 0.02]), rel=RTOL)
    assert row["p_welch"] == stats.welch([0.8, 0.7, 0.9, 0.6, 0.5], [0.88, 0.81, 0.72])["p"]


@pytest.mark.parametrize("use_paired", [True, False])
def test_compare_frameworks_word_is_the_chosen_design(use_paired):
    summary = _summary()
    table = comparison.compare_frameworks(summary, ["test_accuracy", "final_val_loss"], use_paired=use_paired)
    for metric in table.index:
        tf, torch = (summary.loc[summary["framework"] == fw, metric].to_numpy() for fw in ("tensorflow", "torch"))
        margin = table.loc[metric, "margin"]
        matched, unpaired = paired.paired_verdict(tf, torch, margin, metric=metric), stats.verdict(tf, torch, margin)
        chosen = matched if use_paired else stats.verdict(tf, torch, margin, metric=metric)
        assert (table.loc[metric, "word"], table.loc[metric, "text"]) == (chosen["word"], chosen["text"])
        assert (table.loc[metric, "paired_word"], table.loc[metric, "unpaired_word"]) == (matched["word"],
                                                                                          unpaired["word"])
    # the fixture's frameworks agree to 1e-6 on every seed: paired, both figures are settled as equivalent
    assert list(table["paired_word"]) == [stats.EQUIVALENT] * 2
    assert list(table["unpaired_word"]) == [stats.INCONCLUSIVE] * 2


@pytest.mark.parametrize("spec, expected", [
    ({"init": "matched"}, True), ({"init": "native"}, False), ({"init": "native", "init_weights": "w.npz"}, True),
    ({}, True),  # Spec's default init is matched
])
def test_paired_design(spec, expected):
    use_paired, why = analysis.paired_design({"spec": spec})
    assert use_paired is expected
    assert why.startswith("The verdict is the paired one" if expected else "The verdict is the unpaired one")


@pytest.mark.parametrize("init, design, other", [("matched", "paired", "unpaired: inconclusive"),
                                                 ("native", "unpaired", "paired: equivalent")])
def test_comparison_table_states_the_design(init, design, other):
    table, note = analysis.comparison_table(_summary(), {"task": "classification", "spec": {"init": init}})
    assert f"The verdict is the {design} one" in note
    assert list(table["pairs"]) == ["2"] * len(table)
    assert table["other design"].str.startswith(other).all()
    assert table.loc[table["figure"] == "final_val_loss", "seeds needed (unpaired / paired)"].item() == "52 / —"
