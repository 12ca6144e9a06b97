"""What every renderer of a results folder shares: the `Results` it renders, the plot files, how a manifest value
and an unfinished run read."""

import json

import pandas as pd

from harness.results.load import load_results
from harness.results.tables import Results


def as_results(source) -> Results:
    """A `Results` as it is, or a results folder loaded (and checked) by `harness.results.load.load_results`."""
    return source if isinstance(source, Results) else load_results(source)


def plot_files(manifest: dict) -> list[tuple[str, str]]:
    """(metric, file name) of each curve plot; the task metric plot is named after it."""
    metric = "accuracy" if manifest.get("task") == "classification" else manifest.get("metric", "mae")
    return [("loss", "loss_curves.png"), (metric, f"{metric}_curves.png")]


def manifest_value(value) -> str:
    """A manifest value as received: strings as they are, everything else as JSON (null, false, [0.9, 0.999])."""
    return value if isinstance(value, str) else json.dumps(value)


def execution_text(facts: dict) -> str:
    """A framework's execution mode with the adapter's settings, "graph (run_eagerly false, jit_compile false)";
    'not recorded' for runs of older versions."""
    execution = facts.get("execution") or {}
    if not execution.get("mode"):
        return "not recorded"
    settings = ", ".join(f"{key} {manifest_value(value)}" for key, value in execution.items() if key != "mode")
    return f"{execution['mode']} ({settings})" if settings else str(execution["mode"])


def unfinished_runs(summary: pd.DataFrame) -> list[dict]:
    """The runs whose status is not ok, as {framework, seed, status, epochs, error}: what both renderers list."""
    runs = []
    for _, row in summary[summary["status"] != "ok"].iterrows():
        runs.append({"framework": row["framework"], "seed": row["seed"], "status": row["status"],
                     "epochs": int(row["epochs_run"]) if pd.notna(row.get("epochs_run")) else "?",
                     "error": "" if pd.isna(row.get("error")) else str(row["error"]).strip()})
    return runs
