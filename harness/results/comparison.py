"""One table comparing two frameworks over seeds, figure by figure: each framework's summary, the unpaired
figures (harness.results.stats: Welch's t-test and TOST) and the paired ones (harness.results.paired: the runs of
one seed paired), and the verdict of the design the caller says the runs follow."""

import numpy as np
import pandas as pd

from harness.results import paired, stats

UNPAIRED_KEYS = ("difference", "ci_low", "ci_high", "p_welch", "p_tost", "seeds_needed")
PAIRED_KEYS = ("pairs", "paired_difference", "paired_ci_low", "paired_ci_high", "p_paired", "p_paired_tost",
               "paired_seeds_needed")


def _default_margin(metric: str, pooled: np.ndarray) -> float:
    """`stats.margin_for` with the mean over both frameworks; NaN where no relative margin exists (no finite
    value, a zero or overflowing mean). An unknown metric name still raises."""
    stats.metric_kind(metric)
    try:
        return stats.margin_for(metric, pooled.mean() if len(pooled) else np.nan)
    except ValueError:
        return np.nan


def _not_compared(metric: str) -> dict:
    text = (f"{stats.NOT_COMPARED}: no finite, nonzero mean to set the default margin from; set one with "
            f"--margin {metric}=VALUE")
    figures = {key: None if key.endswith("seeds_needed") else np.nan for key in UNPAIRED_KEYS + PAIRED_KEYS}
    return {**figures, "pairs": 0, "margin": np.nan, "design": "", "unpaired_word": stats.NOT_COMPARED,
            "paired_word": stats.NOT_COMPARED, "word": stats.NOT_COMPARED, "text": text}


def _by_seed(finished: pd.DataFrame, framework: str, metric: str) -> pd.Series:
    runs = finished[finished["framework"] == framework].drop_duplicates("seed", keep="last")
    return pd.to_numeric(runs.set_index("seed")[metric], errors="coerce").astype(float)


def _compared(a: pd.Series, b: pd.Series, margin: float, alpha: float, metric: str, use_paired: bool) -> dict:
    """The unpaired and the paired figures of one metric (a, b: values by seed), and the chosen verdict."""
    unpaired = stats.verdict(a.to_numpy(), b.to_numpy(), margin, alpha, metric)
    seeds = a.index.intersection(b.index, sort=False)
    matched = paired.paired_verdict(a[seeds].to_numpy(), b[seeds].to_numpy(), margin, alpha, metric)
    chosen = matched if use_paired else unpaired
    return {**{key: unpaired[key] for key in UNPAIRED_KEYS},
            **{key: matched[key.removeprefix("paired_")] for key in PAIRED_KEYS if key != "p_paired_tost"},
            "p_paired_tost": matched["p_tost"], "margin": margin, "design": "paired" if use_paired else "unpaired",
            "unpaired_word": unpaired["word"], "paired_word": matched["word"], "word": chosen["word"],
            "text": chosen["text"]}


def compare_frameworks(summary: pd.DataFrame, metrics: list[str], margins: dict | None = None,
                       alpha: float = 0.05, use_paired: bool = True) -> pd.DataFrame:
    """One row per metric (index 'metric') comparing the first two frameworks of `summary`, in summary order.

    Only runs with status "ok" count. Columns: per framework {fw}_n, {fw}_mean, {fw}_std, {fw}_ci_low,
    {fw}_ci_high (95 % t interval); unpaired: difference (first minus second), ci_low, ci_high (its (1 - 2 alpha)
    Welch interval), p_welch, p_tost, seeds_needed (per framework, where that verdict is inconclusive); paired
    (runs matched by seed, a pair dropped where either value is missing or non-finite): pairs,
    paired_difference, paired_ci_low, paired_ci_high, p_paired, p_paired_tost, paired_seeds_needed; then margin,
    design ('paired' when use_paired, else 'unpaired'), unpaired_word and paired_word (each design's verdict
    word), and the chosen design's word and text. margins: {metric:
    absolute margin}; metrics not in it get `stats.margin_for` with the mean over both frameworks, and where
    that cannot be formed the row says NOT_COMPARED with NaN figures.
    """
    frameworks = list(dict.fromkeys(summary["framework"]))[:2]
    if len(frameworks) < 2:
        raise ValueError(f"Comparing needs two frameworks in summary. Received: frameworks={frameworks}")
    missing = [metric for metric in metrics if metric not in summary]
    if missing:
        raise ValueError(f"Invalid metrics {missing}. Expected columns of summary: {list(summary.columns)}")
    finished, margins, rows = summary[summary["status"] == "ok"], margins or {}, []
    for metric in metrics:
        a, b = (_by_seed(finished, fw, metric) for fw in frameworks)
        row = {"metric": metric}
        for fw, values in zip(frameworks, (a, b)):
            row.update({f"{fw}_{key}": value for key, value in stats.summarize(values).items()})
        pooled = stats.finite(np.concatenate([a.to_numpy(), b.to_numpy()]))
        margin = margins[metric] if metric in margins else _default_margin(metric, pooled)
        seeds = a.index.intersection(b.index, sort=False)
        compared = (_compared(a, b, margin, alpha, metric, use_paired) if np.isfinite(margin)
                    else {**_not_compared(metric), "pairs": len(paired.pair(a[seeds], b[seeds])[0])})
        rows.append({**row, **compared})
    frame = pd.DataFrame(rows).set_index("metric")
    # None stays missing (<NA>) instead of turning the counts into floats
    return frame.astype({"seeds_needed": "Int64", "paired_seeds_needed": "Int64", "pairs": "int64"})
