"""The statistics section of a report, shared by report.md and report.html: per figure and framework the mean,
std and 95 % confidence interval over seeds; the unpaired (Welch's t-test, TOST) and paired (by seed) tests
between the frameworks with a plain-words verdict from the design the runs follow; and the time each framework
took to reach a target, if one is set."""

import numpy as np
import pandas as pd

from harness.core import registry
from harness.results import comparison, stats

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


def paired_design(manifest: dict) -> tuple[bool, str]:
    """(use the paired verdict?, one sentence saying why) from the run's spec in the manifest."""
    spec = manifest.get("spec") or {}
    if spec.get("init", "matched") == "matched" or spec.get("init_weights"):
        return True, ("The verdict is the paired one: the same seed gave both frameworks the same initial weights "
                      "and batch order, so the per-seed differences cancel the spread the two runs share.")
    return False, ("The verdict is the unpaired one (Welch and TOST): with init: native each framework drew its "
                   "own initial weights, so a seed's two runs share only the data and batch order and pairing "
                   "them would spend degrees of freedom for little shared spread.")


def _seeds_needed(row) -> str:
    return " / ".join(DASH if pd.isna(row[key]) else str(row[key]) for key in ("seeds_needed", "paired_seeds_needed"))


def _other(row) -> str:
    """The verdict word of the design the verdict does not use, kept next to it."""
    other = "unpaired" if row["design"] == "paired" else "paired"
    return f"{other}: {row[f'{other}_word']}" if row["design"] else DASH


def _row(row, figure: str, frameworks: list[str]) -> dict:
    scale = 100.0 if "accuracy" in figure else 1.0  # accuracy in percent, as in the side-by-side table
    return {"figure": figure, **{f"{fw} mean [95% CI]": _interval(row, fw, scale) for fw in frameworks[:2]},
            "Welch p": _number(row["p_welch"], ".3g"), "TOST p": _number(row["p_tost"], ".3g"),
            "pairs": str(row["pairs"]), "paired p": _number(row["p_paired"], ".3g"),
            "paired TOST p": _number(row["p_paired_tost"], ".3g"),
            "seeds needed (unpaired / paired)": _seeds_needed(row),
            "margin": (f"±{row['margin'] * scale:.3g}" + (" points" if scale == 100 else "")
                       if np.isfinite(row["margin"]) else DASH),
            "verdict": row["text"], "other design": _other(row)}


def comparison_table(summary: pd.DataFrame, manifest: dict) -> tuple[pd.DataFrame, str]:
    """(table, note). One row per figure: each framework's mean [95 % CI], Welch p and TOST p (unpaired), the
    pairs and paired p and paired TOST p, the seeds each design needs, the margin, the verdict of the design
    `paired_design` picks and the other design's verdict word. An empty table and a note saying why when the
    comparison is not possible."""
    finished = summary[summary["status"] == "ok"]
    frameworks = list(dict.fromkeys(summary["framework"]))
    seeds = finished.groupby("framework")["seed"].nunique()
    if len(frameworks) < 2 or seeds.reindex(frameworks).fillna(0).min() < 2:
        return pd.DataFrame(), "The statistics need two frameworks with at least two finished seeds each."
    # a figure with no finite value (every run NaN or inf) has nothing to compare
    figures = [figure for figure in registry.COMPARED_FIGURES.get(manifest.get("task"), ())
               if figure in summary and _any_finite(finished[figure])]
    margins = (manifest.get("analysis") or {}).get("margins") or {}
    use_paired, why = paired_design(manifest)
    compared = comparison.compare_frameworks(summary, figures, margins=margins, use_paired=use_paired)
    rows = [_row(row, figure, frameworks) for figure, row in compared.iterrows()]
    note = (f"{frameworks[0]} − {frameworks[1]}; verdicts at α = 0.05. {why} Pairs: the seeds that finished "
            f"with a finite figure on both sides. Seeds needed: per framework, for the TOST to show equivalence at "
            f"the observed spread, where that design's verdict is inconclusive ({DASH}: settled, or no number can).")
    return pd.DataFrame(rows), note


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


def class_count_table(manifest: dict) -> pd.DataFrame:
    """One row per class: its samples in each split (the manifest's class_counts); empty for regression and for
    manifests written before the counts were recorded."""
    counts = manifest.get("class_counts") or {}
    if not counts:
        return pd.DataFrame()
    table = pd.DataFrame({split: pd.Series(values, dtype=float) for split, values in counts.items()})
    table = table.fillna(0).astype(int)  # a split with fewer entries has none of the last classes
    table.insert(0, "class", [str(index) for index in range(len(table))])
    total = {"class": "all", **{split: int(table[split].sum()) for split in counts}}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
