"""Run results as tidy tables: `history.csv` (one row per framework, seed, epoch, split, metric) and
`summary.csv` (one row per framework and seed)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ["framework", "seed", "epoch", "split", "metric", "value"]


def history_rows(run: dict, metric: str) -> list[dict]:
    """run: a worker result; metric: 'accuracy' or 'mae'. Splits: train, val; timing is split 'train'."""
    rows = []
    for epoch in run.get("epochs", []):
        base = {"framework": run["framework"], "seed": run["seed"], "epoch": epoch["epoch"]}
        values = [("train", "loss", epoch["loss"]), ("train", metric, epoch["metric"]),
                  ("train", "epoch_seconds", epoch["epoch_seconds"])]
        if "val_loss" in epoch:
            values += [("val", "loss", epoch["val_loss"]), ("val", metric, epoch["val_metric"])]
        rows += [{**base, "split": split, "metric": name, "value": value} for split, name, value in values]
    return rows


def summary_row(run: dict, metric: str, n_train: int) -> dict:
    epochs = run.get("epochs", [])
    seconds = [e["epoch_seconds"] for e in epochs]
    last = epochs[-1] if epochs else {}
    median = float(np.median(seconds)) if seconds else float("nan")
    return {
        "framework": run["framework"], "seed": run["seed"], "status": run["status"], "error": run.get("error", ""),
        "epochs_run": len(epochs), "stopped_early": run.get("stopped_early", False),
        "best_epoch": run.get("best_epoch"),
        "final_train_loss": last.get("loss", np.nan), f"final_train_{metric}": last.get("metric", np.nan),
        "final_val_loss": last.get("val_loss", np.nan), f"final_val_{metric}": last.get("val_metric", np.nan),
        **run.get("test", {}),
        "train_seconds": float(np.sum(seconds)) if seconds else np.nan,
        "first_epoch_seconds": seconds[0] if seconds else np.nan,
        "median_epoch_seconds": median,
        "train_samples_per_second": n_train / median if seconds and median > 0 else np.nan,
        "params": run.get("params", np.nan), "peak_rss_mb": run.get("peak_rss_mb", np.nan),
        "threads": run.get("threads", {}).get("intra_op_threads", np.nan),
    }


def tables(runs: list[dict], metric: str, n_train: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    history = pd.DataFrame([row for run in runs for row in history_rows(run, metric)], columns=HISTORY_COLUMNS)
    summary = pd.DataFrame([summary_row(run, metric, n_train) for run in runs])
    return history, summary


@dataclass
class Results:
    """What `harness.run` returns: the tables as DataFrames, the manifest, and where they were written."""

    history: pd.DataFrame
    summary: pd.DataFrame
    manifest: dict
    out_dir: Path

    def table(self) -> pd.DataFrame:
        """The side-by-side table: figures as rows, frameworks as columns, mean ± std over seeds."""
        from harness.report import side_by_side

        return side_by_side(self.summary, self.manifest)

    def _repr_html_(self):
        return self.table().to_html()

    def __repr__(self):
        return f"Results({self.out_dir})\n{self.table().to_string()}"


def require_folder(out_dir) -> Path:
    """out_dir, if it holds what `harness run` writes; else the one-line error naming what is missing."""
    from harness.errors import SpecError

    out_dir = Path(out_dir)
    missing = [name for name in ("history.csv", "summary.csv", "manifest.json") if not (out_dir / name).is_file()]
    if missing:
        raise SpecError("out", f"{out_dir} is not a results folder: missing {', '.join(missing)}")
    return out_dir


def load_results(out_dir) -> Results:
    """Reads a results folder back: history.csv, summary.csv and manifest.json."""
    import json

    out_dir = Path(out_dir)
    summary = pd.read_csv(out_dir / "summary.csv")
    summary["error"] = summary["error"].astype(object).where(summary["error"].notna(), "")  # "" reads back as NaN
    return Results(pd.read_csv(out_dir / "history.csv"), summary, json.loads((out_dir / "manifest.json").read_text()),
                   out_dir)
