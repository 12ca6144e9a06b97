"""`harness compare DIR1 DIR2 ...`: several results folders in one table, one row per experiment, the
frameworks as columns (the headline test figure, mean ± std over seeds) and the statistical verdict."""

from pathlib import Path

import pandas as pd

from harness.results.analysis import comparison_table
from harness.results.load import load_results
from harness.results.side_by_side import side_by_side

_HEADLINE = {"classification": "test accuracy", "regression": "test MAE"}


def _row(out_dir: Path) -> dict:
    results = load_results(out_dir)  # every folder checked before any row is made: a bad one names its path
    manifest, table = results.manifest, side_by_side(results.summary, results.manifest)
    figure = _HEADLINE.get(manifest.get("task"), "test loss")
    row = {"experiment": manifest.get("name", out_dir.name), "figure": figure}
    row.update({framework: table.loc[figure, framework] if figure in table.index else "—"
                for framework in table.columns})
    verdicts, note = comparison_table(results.summary, manifest)
    row["verdict"] = verdicts["verdict"].iloc[0].split(":")[0] if not verdicts.empty else note
    return row


def compare(out_dirs) -> pd.DataFrame:
    """One row per results folder: experiment, figure, one column per framework, verdict. Each folder is
    loaded and checked by `harness.results.load.load_results`; the first that fails is the one-line error."""
    rows = [_row(Path(out_dir)) for out_dir in out_dirs]
    columns = ["experiment", "figure"]
    columns += [c for row in rows for c in row if c not in columns and c != "verdict"] + ["verdict"]
    return pd.DataFrame(rows).reindex(columns=list(dict.fromkeys(columns))).fillna("—")
