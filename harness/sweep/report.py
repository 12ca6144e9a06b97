"""The sweep report: sweep_report.md with one row per point (frameworks as columns, mean ± std over seeds)
and, per axis, the headline test figure against the axis value, one line per framework with its 95 %
confidence band; other axes become small multiples. sweep.json, summary.csv and history.csv are read once
and checked (`harness.results.checks.read_tables`) before anything is drawn or written."""

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core import atomic, guard
from harness.core.errors import SpecError
from harness.results.checks import read_tables
from harness.results.load import schema_message
from harness.results.tables import TASK_METRICS

_COLORS = {"tensorflow": "#ff8f00", "torch": "#1f77b4"}
_METRICS = ("loss", "epoch_seconds", *TASK_METRICS.values())  # a sweep may hold points of either task


class _SweepFacts(BaseModel):
    """The keys of sweep.json this report reads; others are kept and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str
    description: Optional[str] = None
    axes: Annotated[dict[str, list[Any]], Field(min_length=1)]
    mode: Literal["product", "zip"]
    executor: str
    jobs: int
    git_commit: str


def read_sweep(out: Path) -> tuple[dict, pd.DataFrame]:
    """(sweep.json's facts, summary.csv) of a sweep folder, every value checked; else the one-line error."""
    path = out / "sweep.json"
    facts = guard.read_json(path, str(path), "record", allow_nan=True)  # written by json.dumps, which allows NaN
    if not isinstance(facts, dict):
        raise SpecError(str(path), f"expected a JSON object (the sweep's facts); received {type(facts).__name__}")
    try:
        _SweepFacts.model_validate(facts)
    except ValidationError as error:
        raise SpecError(str(path), schema_message(
            error, "sweep.json has name, axes, mode, executor, jobs and git_commit")) from None
    # axis values as written ("None", "full", "{'l1': 0.001}"): text columns keep their cells as they are
    columns = ("point", "contended", "final_train_loss", *(f"sweep:{axis}" for axis in facts["axes"]))
    summary, _ = read_tables(out, _METRICS, columns)
    return facts, summary


def _headline(summary: pd.DataFrame) -> str:
    for column in ("test_accuracy", "test_mae", "test_loss"):
        if column in summary and summary[column].notna().any():
            return column
    return "final_train_loss"


def _cell(values: pd.Series, scale: float) -> str:
    values = values.dropna() * scale
    if values.empty:
        return "—"
    return f"{values.mean():.4g}" if len(values) == 1 else f"{values.mean():.4g} ± {values.std(ddof=1):.2g}"


def point_table(summary: pd.DataFrame, axes: list[str], figure: str) -> pd.DataFrame:
    scale = 100.0 if "accuracy" in figure else 1.0
    ok = summary[summary["status"] == "ok"]
    rows = []
    for point, runs in summary.groupby("point", sort=True):
        row = {"point": point, **{axis: runs[f"sweep:{axis}"].iloc[0] for axis in axes}}
        for framework in dict.fromkeys(summary["framework"]):
            row[framework] = _cell(ok[(ok["point"] == point) & (ok["framework"] == framework)][figure], scale)
        row["runs"] = ", ".join(f"{n} {status}" for status, n in runs["status"].value_counts().items())
        row["contended timing"] = "yes" if runs["contended"].any() else "no"
        rows.append(row)
    return pd.DataFrame(rows)


def _axis_values(summary: pd.DataFrame, axis: str) -> list[str]:
    values = list(dict.fromkeys(summary[f"sweep:{axis}"]))
    try:
        return sorted(values, key=float)
    except ValueError:
        return values  # e.g. batch sizes [1, 32, 'full']: kept in the sweep's order


def _facet_plot(summary: pd.DataFrame, axis: str, axes: list[str], figure: str, path: Path, zipped: bool) -> None:
    from matplotlib.figure import Figure  # not pyplot: the caller's backend and figures stay as they are
    from scipy import stats

    from harness.report.plots import write_figure

    others = [] if zipped else [a for a in axes if a != axis]
    groups = list(summary.groupby([f"sweep:{a}" for a in others])) if others else [((), summary)]
    panels = groups[:9]
    fig = Figure(figsize=(4.2 * len(panels), 3.6))
    plots = fig.subplots(1, len(panels), squeeze=False, sharey=True)
    order = _axis_values(summary, axis)
    for axis_plot, (key, rows) in zip(plots[0], panels):
        ok = rows[rows["status"] == "ok"]
        for framework, runs in ok.groupby("framework", sort=False):
            by_value = runs.groupby(f"sweep:{axis}")[figure]
            means = by_value.mean().reindex(order)
            counts, stds = by_value.count().reindex(order), by_value.std(ddof=1).reindex(order)
            half = stats.t.ppf(0.975, (counts - 1).clip(lower=1)) * stds / np.sqrt(counts)
            x = np.arange(len(order))
            # the frameworks often coincide: tensorflow wide and solid, torch thin and dashed on top
            wide = framework == "tensorflow"
            axis_plot.plot(x, means, marker="o", label=framework, color=_COLORS.get(framework),
                           linewidth=3.5 if wide else 1.5, linestyle="-" if wide else "--", zorder=2 if wide else 3)
            axis_plot.fill_between(x, means - half.fillna(0), means + half.fillna(0), alpha=0.15,
                                   color=_COLORS.get(framework), linewidth=0)
        # axis names and values are text as written: a '$' in them is no TeX
        axis_plot.set_xticks(np.arange(len(order)), order, parse_math=False)
        key = key if isinstance(key, tuple) else (key,)
        axis_plot.set_xlabel(axis, parse_math=False)
        axis_plot.set_title(", ".join(f"{a}={v}" for a, v in zip(others, key)), parse_math=False)
        axis_plot.grid(alpha=0.3)
    plots[0][0].set_ylabel(figure)
    plots[0][0].legend(title="mean, 95% CI over seeds", fontsize=8)
    fig.tight_layout()
    write_figure(fig, path)


def write_sweep_report(out_dir) -> Path:
    """sweep_report.md and one PNG per axis from a sweep folder's checked files; returns the report's path."""
    out = Path(out_dir)
    facts, summary = read_sweep(out)
    axes, figure = list(facts["axes"]), _headline(summary)
    summary = summary.assign(**{figure: summary[figure].where(np.isfinite(summary[figure]))})  # inf: no figure
    plots = []
    # zip: the axes change together, so one plot against the first axis says it all
    for axis in axes[:1] if facts["mode"] == "zip" else axes:
        name = f"sweep_{axis.replace('.', '_')}.png"
        _facet_plot(summary, axis, axes, figure, out / name, facts["mode"] == "zip")
        plots.append(f"![{figure} against {axis}]({name})")
    table = point_table(summary, axes, figure)
    contended = summary["contended"].any()
    lines = [f"# Sweep: {facts['name']}", "", facts.get("description") or "", "",
             f"Axes ({facts['mode']}): " + "; ".join(f"`{a}` {v}" for a, v in facts["axes"].items()) +
             f". {len(table)} points × frameworks × seeds = {len(summary)} runs; executor {facts['executor']}"
             f" ({facts['jobs']} at a time); commit `{facts['git_commit']}`.", "",
             f"## {figure} per point", "",
             f"Mean ± std over seeds{' (accuracy in %)' if 'accuracy' in figure else ''}.", "",
             table.to_markdown(index=False), "",
             *(["Timing figures of runs that shared the machine are contended: compare them with care "
                "(`harness bench` measures speed alone).", ""] if contended else []),
             "## Against each axis", "", *plots, ""]
    return atomic.write_text(out / "sweep_report.md", "\n".join(lines))
