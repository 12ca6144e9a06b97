"""The statistics section of a report, shared by report.md and report.html: per figure and framework the mean,
std and 95 % confidence interval over seeds; Welch's t-test and an equivalence test (TOST) between the
frameworks with a plain-words verdict; and the time each framework took to reach a target, if one is set."""

import numpy as np
import pandas as pd

from harness import registry, stats


def _interval(row, framework: str, scale: float) -> str:
    mean, low, high = (row[f"{framework}_{key}"] * scale for key in ("mean", "ci_low", "ci_high"))
    if np.isnan(low):
        return f"{mean:.4g}"
    return f"{mean:.4g} [{low:.4g}, {high:.4g}]"


def comparison_table(summary: pd.DataFrame, manifest: dict) -> tuple[pd.DataFrame, str]:
    """(table, note). One row per figure: each framework's mean [95 % CI], Welch p, TOST p and margin, verdict.
    An empty table and a note saying why when the comparison is not possible."""
    finished = summary[summary["status"] == "ok"]
    frameworks = list(dict.fromkeys(summary["framework"]))
    seeds = finished.groupby("framework")["seed"].nunique()
    if len(frameworks) < 2 or seeds.reindex(frameworks).fillna(0).min() < 2:
        return pd.DataFrame(), "The statistics need two frameworks with at least two finished seeds each."
    figures = [f for f in registry.COMPARED_FIGURES.get(manifest.get("task"), ()) if f in summary and finished[f].notna().any()]
    margins = manifest.get("analysis", {}).get("margins", {})
    compared = stats.compare_frameworks(summary, figures, margins=margins)
    rows = []
    for figure, row in compared.iterrows():
        scale = 100.0 if "accuracy" in figure else 1.0  # accuracy in percent, as in the side-by-side table
        rows.append({"figure": figure, **{f"{fw} mean [95% CI]": _interval(row, fw, scale) for fw in frameworks[:2]},
                     "Welch p": f"{row['p_welch']:.3g}", "TOST p": f"{row['p_tost']:.3g}",
                     "margin": f"±{row['margin'] * scale:.3g}" + (" points" if scale == 100 else ""),
                     "verdict": row["text"]})
    return pd.DataFrame(rows), f"{frameworks[0]} − {frameworks[1]}; verdicts at α = 0.05."


def target_table(history: pd.DataFrame, manifest: dict) -> tuple[pd.DataFrame, str]:
    """Per framework: runs that reached the target, mean epochs and mean training seconds to reach it."""
    target = manifest.get("analysis", {}).get("target")
    if not target:
        return pd.DataFrame(), ""
    metric = manifest.get("metric") if target["metric"] in ("accuracy", "mae") else "loss"
    reached = stats.time_to_target(history, metric, target["value"], target["split"])
    rows = []
    for framework, runs in reached.groupby("framework", sort=False):
        done = runs.dropna(subset=["epoch"])
        rows.append({"framework": framework, "runs reaching it": f"{len(done)} of {len(runs)}",
                     "epochs (mean)": f"{done['epoch'].mean():.3g}" if len(done) else "—",
                     "seconds (mean)": f"{done['seconds'].mean():.3g}" if len(done) else "—"})
    return pd.DataFrame(rows), f"Target: {target['split']} {metric} reaching {target['value']:g}."
