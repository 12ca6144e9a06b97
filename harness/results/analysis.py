"""The statistics section of a report, shared by report.md and report.html: per figure and framework the mean,
std and 95 % confidence interval over seeds; Welch's t-test and an equivalence test (TOST) between the
frameworks with a plain-words verdict; and the time each framework took to reach a target, if one is set."""

import numpy as np
import pandas as pd

from harness.core import registry
from harness.results import stats

DASH = "—"  # as in the side-by-side table: no finite value to show


def _number(value: float, form: str, scale: float = 1.0) -> str:
    return f"{value * scale:{form}}" if np.isfinite(value) else DASH


def _interval(row, framework: str, scale: float) -> str:
    mean, low, high = (row[f"{framework}_{key}"] for key in ("mean", "ci_low", "ci_high"))
    if not (np.isfinite(low) and np.isfinite(high)):
        return _number(mean, ".4g", scale)
    return f"{_number(mean, '.4g', scale)} [{_number(low, '.4g', scale)}, {_number(high, '.4g', scale)}]"


def _any_finite(values: pd.Series) -> bool:
    return bool(np.isfinite(pd.to_numeric(values, errors="coerce").astype(float)).any())


def comparison_table(summary: pd.DataFrame, manifest: dict) -> tuple[pd.DataFrame, str]:
    """(table, note). One row per figure: each framework's mean [95 % CI], Welch p, TOST p and margin, verdict.
    An empty table and a note saying why when the comparison is not possible."""
    finished = summary[summary["status"] == "ok"]
    frameworks = list(dict.fromkeys(summary["framework"]))
    seeds = finished.groupby("framework")["seed"].nunique()
    if len(frameworks) < 2 or seeds.reindex(frameworks).fillna(0).min() < 2:
        return pd.DataFrame(), "The statistics need two frameworks with at least two finished seeds each."
    # a figure with no finite value (every run NaN or inf) has nothing to compare
    figures = [figure for figure in registry.COMPARED_FIGURES.get(manifest.get("task"), ())
               if figure in summary and _any_finite(finished[figure])]
    margins = (manifest.get("analysis") or {}).get("margins") or {}
    compared = stats.compare_frameworks(summary, figures, margins=margins)
    rows = []
    for figure, row in compared.iterrows():
        scale = 100.0 if "accuracy" in figure else 1.0  # accuracy in percent, as in the side-by-side table
        rows.append({"figure": figure, **{f"{fw} mean [95% CI]": _interval(row, fw, scale) for fw in frameworks[:2]},
                     "Welch p": _number(row["p_welch"], ".3g"), "TOST p": _number(row["p_tost"], ".3g"),
                     "margin": (f"±{row['margin'] * scale:.3g}" + (" points" if scale == 100 else "")
                                if np.isfinite(row["margin"]) else DASH),
                     "verdict": row["text"]})
    return pd.DataFrame(rows), f"{frameworks[0]} − {frameworks[1]}; verdicts at α = 0.05."


def target_table(history: pd.DataFrame, manifest: dict) -> tuple[pd.DataFrame, str]:
    """Per framework: runs that reached the target, mean epochs and mean training seconds to reach it."""
    target = (manifest.get("analysis") or {}).get("target")
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
