"""The sweep report: sweep_report.md with one row per point (frameworks as columns, mean ± std over seeds)
and, per axis, the headline test figure against the axis value, one line per framework with its 95 %
confidence band; other axes become small multiples."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness import atomic

_COLORS = {"tensorflow": "#ff8f00", "torch": "#1f77b4"}


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    from harness.plots import write_figure

    others = [] if zipped else [a for a in axes if a != axis]
    groups = list(summary.groupby([f"sweep:{a}" for a in others])) if others else [((), summary)]
    panels = groups[:9]
    fig, plots = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
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
        axis_plot.set_xticks(np.arange(len(order)), order)
        key = key if isinstance(key, tuple) else (key,)
        axis_plot.set(xlabel=axis, title=", ".join(f"{a}={v}" for a, v in zip(others, key)) or None)
        axis_plot.grid(alpha=0.3)
    plots[0][0].set_ylabel(figure)
    plots[0][0].legend(title="mean, 95% CI over seeds", fontsize=8)
    fig.tight_layout()
    write_figure(fig, path)
    plt.close(fig)


def write_sweep_report(out_dir) -> Path:
    out = Path(out_dir)
    facts = json.loads((out / "sweep.json").read_text())
    # axis values as written ("None", "full", "{'l1': 0.001}"): only empty cells are missing
    summary = pd.read_csv(out / "summary.csv", dtype={f"sweep:{a}": str for a in facts["axes"]},
                          keep_default_na=False, na_values=[""])
    axes, figure = list(facts["axes"]), _headline(summary)
    plots = []
    # zip: the axes change together, so one plot against the first axis says it all
    for axis in axes[:1] if facts["mode"] == "zip" else axes:
        name = f"sweep_{axis.replace('.', '_')}.png"
        _facet_plot(summary, axis, axes, figure, out / name, facts["mode"] == "zip")
        plots.append(f"![{figure} against {axis}]({name})")
    table = point_table(summary, axes, figure)
    contended = summary["contended"].any()
    lines = [f"# Sweep: {facts['name']}", "", facts.get("description", ""), "",
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
