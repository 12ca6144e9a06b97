"""Run results as tidy tables: `history.csv` has one row per framework, seed, epoch, split and metric;
`summary.csv` one row per framework and seed. `Results` holds both with the manifest, as every command returns
them and every renderer takes them."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.history import history_rows
from harness.results.side_by_side import side_by_side

HISTORY_COLUMNS = ["framework", "seed", "epoch", "split", "metric", "value"]
SUMMARY_COLUMNS = ["framework", "seed", "status", "error", "epochs_run"]  # the ones summary_row always writes
FILES = ("history.csv", "summary.csv", "manifest.json")
TASK_METRICS = {"classification": "accuracy", "regression": "mae"}  # the metric tracked per epoch, by task


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
        # another run's worker shared the machine while this one trained; a record of an older version says nothing
        **({"contended": run["contended"]} if "contended" in run else {}),
    }


def build(runs: list[dict], metric: str, n_train: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    history = pd.DataFrame([row for run in runs for row in history_rows(run, metric)], columns=HISTORY_COLUMNS)
    summary = pd.DataFrame([summary_row(run, metric, n_train) for run in runs])
    return history, summary


@dataclass
class Results:
    """What `harness.run` and `load_results` return: the tables as DataFrames, the manifest, and their folder."""

    history: pd.DataFrame
    summary: pd.DataFrame
    manifest: dict
    out_dir: Path

    def table(self) -> pd.DataFrame:
        """The side-by-side table: figures as rows, frameworks as columns, mean ± std over seeds."""
        return side_by_side(self.summary, self.manifest)

    def _repr_html_(self):
        return self.table().to_html()

    def __repr__(self):
        return f"Results({self.out_dir})\n{self.table().to_string()}"


def shown(value, limit: int = 60) -> str:
    """A received value for a one-line message: repr (so newlines stay escaped), cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
