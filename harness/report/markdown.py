"""The report of a results folder: a side-by-side table (figures as rows, frameworks as columns, mean ± std over
the seeds that finished), training curves, and `report.md` saying what was matched, what was not, and what ran
where. Every number comes from history.csv, summary.csv and manifest.json, loaded and checked once by
`harness.results.load.load_results` and handed to every renderer; nothing here imports a framework."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core import atomic
from harness.report import plots
from harness.results.load import Results, load_results

DASH = "—"
STATUS_ORDER = ["ok", "diverged", "failed"]


def _significant(value: float, digits: int) -> str:
    """`digits` significant figures without exponent notation: 1.038, 0.0505, 0.500, 1230; zero is '0'."""
    if value == 0 or not np.isfinite(value):
        return f"{value:.0f}"
    decimals = digits - 1 - int(np.floor(np.log10(abs(value))))
    rounded = round(value, decimals)
    if rounded != 0 and int(np.floor(np.log10(abs(rounded)))) > digits - 1 - decimals:  # 0.09996 -> 0.1000
        decimals -= 1
    return f"{round(value, decimals):.{max(decimals, 0)}f}"


def _pair(mean: float, std, render) -> str:
    return render(mean) if std is None else f"{render(mean)} ± {render(std)}"


def _sig(digits: int):
    """The mean to `digits` significant figures and the std to the same decimals: 1.385 ± 0.004."""
    def render(mean: float, std) -> str:
        text = _significant(mean, digits)
        decimals = len(text.split(".")[1]) if "." in text else 0
        return text if std is None else f"{text} ± {std:.{decimals}f}"
    return render


def _count(mean: float, std) -> str:
    """Whole numbers as they are (3, 6,538), a constant over seeds without '± 0', else 3 s.f. (2.5 ± 0.707)."""
    return _pair(mean, None if std == 0 else std,
                 lambda value: f"{value:,.0f}" if value == round(value) else _significant(value, 3))


def _fixed(decimals: int, scale: float = 1.0, unit: str = ""):
    return lambda mean, std: _pair(mean, std, lambda value: f"{value * scale:,.{decimals}f}") + unit


# Columns of summary.csv and how each reads in the table, in table order. {metric} is the task metric.
_TEST_ROWS = {
    "classification": [("test_accuracy", "test accuracy", _fixed(2, 100.0, " %"))],
    "regression": [("test_mae", "test MAE", _sig(4)), ("test_rmse", "test RMSE", _sig(4)),
                   ("test_r2", "test R²", _fixed(4)),
                   # forecasting datasets only: the naive last-value forecast, the bar a model must clear
                   ("baseline_test_mae", "naive last-value MAE", _sig(4)),
                   ("baseline_test_rmse", "naive last-value RMSE", _sig(4))],
}
_METRIC_FORMATS = {"accuracy": _fixed(2, 100.0, " %"), "mae": _sig(4)}
_METRIC_LABELS = {"accuracy": "accuracy", "mae": "MAE"}


def _rows(task: str, metric: str) -> list[tuple]:
    label, render = _METRIC_LABELS.get(metric, metric), _METRIC_FORMATS.get(metric, _sig(4))
    return _TEST_ROWS.get(task, []) + [
        ("test_loss", "test loss", _sig(4)),
        ("final_train_loss", "final train loss", _sig(4)),
        ("final_val_loss", "final val loss", _sig(4)),
        (f"final_train_{metric}", f"final train {label}", render),
        (f"final_val_{metric}", f"final val {label}", render),
        ("epochs_run", "epochs run", _count),
        ("train_seconds", "train (s)", _sig(3)),
        ("median_epoch_seconds", "median epoch (s)", _sig(3)),
        ("first_epoch_seconds", "first epoch (s, incl. build/tracing)", _sig(3)),
        ("train_samples_per_second", "train samples/s", _fixed(0)),
        ("params", "parameters", _count),
        ("peak_rss_mb", "peak RSS (MB)", _fixed(1)),
    ]


def _cell(values: pd.Series, render) -> str:
    """mean ± std (ddof=1) over finite values; the mean alone for one value; a dash for none."""
    values = pd.to_numeric(values, errors="coerce").replace([np.inf, -np.inf], np.nan).dropna()
    if values.empty:
        return DASH
    mean, std = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None
    if not (np.isfinite(mean) and (std is None or np.isfinite(std))) or abs(mean) > 1e15:  # beyond any real figure
        return f"{mean:.3g}" if std is None else f"{mean:.3g} ± {std:.3g}"
    return render(mean, std)


def _runs_cell(statuses: pd.Series) -> str:
    """'2 ok' or '1 ok, 1 diverged, 1 failed': ok always shown, other statuses only when present."""
    counts = statuses.value_counts()
    order = STATUS_ORDER + sorted(set(counts.index) - set(STATUS_ORDER))
    return ", ".join(f"{counts.get(status, 0)} {status}" for status in order
                     if status == "ok" or counts.get(status, 0))


def side_by_side(summary: pd.DataFrame, manifest: dict) -> pd.DataFrame:
    """The comparison table: figures as rows, frameworks as columns (in summary order), strings as cells.

    Each cell is mean ± std over the framework's seeds with status ok; figures no framework has are left out;
    the last row, 'runs', counts runs by status. Index name: 'figure'.
    """
    frameworks = list(dict.fromkeys(summary["framework"]))
    finished = summary[summary["status"] == "ok"]
    table = {}
    for column, label, render in _rows(manifest.get("task", ""), manifest.get("metric", "")):
        if column in summary and pd.to_numeric(finished[column], errors="coerce").notna().any():
            table[label] = [_cell(finished.loc[finished["framework"] == fw, column], render) for fw in frameworks]
    table["runs"] = [_runs_cell(summary.loc[summary["framework"] == fw, "status"]) for fw in frameworks]
    frame = pd.DataFrame.from_dict(table, orient="index", columns=frameworks)
    frame.index.name = "figure"
    return frame


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


def _bullets(mapping: dict) -> list[str]:
    return [f"- **{key.replace('_', ' ')}**: {manifest_value(value)}" for key, value in mapping.items()]


def _pipe(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _header(manifest: dict, summary: pd.DataFrame) -> list[str]:
    spec = manifest.get("spec", {})
    seeds = ", ".join(str(seed) for seed in dict.fromkeys(summary["seed"]))
    facts = [f"seeds {seeds}", f"frameworks {', '.join(dict.fromkeys(summary['framework']))}",
             f"task {manifest.get('task')} ({manifest.get('metric')})"]
    optional = [("dataset", (spec.get("data") or {}).get("dataset")), ("created", manifest.get("created_utc")),
                ("commit", manifest.get("git_commit") and f"`{manifest['git_commit']}`")]
    facts += [f"{name} {value}" for name, value in optional if value]
    lines = [f"# {manifest.get('name', 'results')}", ""]
    if manifest.get("description"):
        lines += [manifest["description"], ""]
    return lines + [" · ".join(facts), ""]


def unfinished_runs(summary: pd.DataFrame) -> list[dict]:
    """The runs whose status is not ok, as {framework, seed, status, epochs, error}: what both renderers list."""
    runs = []
    for _, row in summary[summary["status"] != "ok"].iterrows():
        runs.append({"framework": row["framework"], "seed": row["seed"], "status": row["status"],
                     "epochs": int(row["epochs_run"]) if pd.notna(row.get("epochs_run")) else "?",
                     "error": "" if pd.isna(row.get("error")) else str(row["error"]).strip()})
    return runs


def _unfinished(summary: pd.DataFrame) -> list[str]:
    runs = unfinished_runs(summary)
    if not runs:
        return []
    lines = ["## Runs that did not finish", ""]
    for run in runs:
        error = run["error"]
        head = f"- **{run['framework']}** seed {run['seed']}: {run['status']} after {run['epochs']} epochs"
        if "\n" in error:  # a traceback keeps its lines in an indented block
            lines += [head, "", "  ```", *[f"  {line}" for line in error.splitlines()], "  ```"]
        else:
            lines.append(f"{head}: {error or '(no error message)'}")
    return lines + [""]


def _hyperparameters(manifest: dict) -> list[str]:
    if not manifest.get("frameworks"):
        return ["## Hyperparameters in force", "", "Not recorded (no run reached model building).", ""]
    lines = ["## Hyperparameters in force", "",
             "As each framework reported them after building the model (values as received).", ""]
    for framework, facts in manifest.get("frameworks", {}).items():
        versions = ", ".join(f"{name} {version}" for name, version in (facts.get("versions") or {}).items())
        threads = ", ".join(f"{name} {count}" for name, count in (facts.get("threads") or {}).items())
        settings = facts.get("hyperparameters") or {}
        rows = [(f"{part}.{key}", _pipe(manifest_value(value)))
                for part in ("optimizer", "loss") for key, value in (settings.get(part) or {}).items()]
        lines += [f"### {framework}", "", f"Versions: {versions or 'not recorded'}. "
                  f"Threads: {threads or 'not recorded'}.", ""]
        if rows:
            lines += [pd.DataFrame(rows, columns=["setting", "value"]).to_markdown(index=False), ""]
    return lines


def _statistics(history: pd.DataFrame, summary: pd.DataFrame, manifest: dict) -> list[str]:
    from harness.results.analysis import comparison_table, target_table

    table, note = comparison_table(summary, manifest)
    lines = ["## Statistics over seeds", "", note, ""]
    if not table.empty:
        lines += [table.to_markdown(index=False), ""]
    targets, target_note = target_table(history, manifest)
    if not targets.empty:
        lines += ["## Time to target", "", target_note, "", targets.to_markdown(index=False), ""]
    return lines


def _defaults_diff(manifest: dict) -> list[str]:
    rows = manifest.get("defaults_diff")
    if not rows:
        return []
    return ["## Defaults that differ between the frameworks", "",
            "What a naive port would use on each side, and what the harness set.", "",
            pd.DataFrame(rows).to_markdown(index=False), ""]


def _notes(manifest: dict) -> list[str]:
    """What the harness adjusted or kept (a batch larger than the data, no validation split, a failed rerun)."""
    notes = manifest.get("notes") or []
    return ["## Notes", "", *[f"- {note}" for note in notes], ""] if notes else []


def render_markdown(source) -> str:
    """report.md's text for a `Results` (or a results folder); links the curve PNGs `write_report` writes."""
    loaded = as_results(source)
    history, summary, manifest = loaded.history, loaded.summary, loaded.manifest
    table = side_by_side(summary, manifest)
    aligns = ("left",) + ("right",) * len(table.columns)
    plots_md = [f"![{name.removesuffix('.png').replace('_', ' ')}]({name})" for _, name in plot_files(manifest)]
    lines = _header(manifest, summary) + [
        "## Side by side", "",
        "Mean ± std over the seeds that finished (status ok); one seed shows the mean alone.", "",
        table.to_markdown(colalign=aligns), "",
        *_unfinished(summary),
        *_notes(manifest),
        *_statistics(history, summary, manifest),
        "## Curves", "", "Mean over seeds; the band is the 95 % confidence interval of the mean (t distribution).", "",
        *[f"{plot}\n" for plot in plots_md],
        "## What was matched", "", *_bullets(manifest.get("matched", {})), "",
        "## Known differences", "", *[f"- {note}" for note in manifest.get("known_differences", [])], "",
        *_defaults_diff(manifest),
        *_hyperparameters(manifest),
        "## Machine", "", *_bullets(manifest.get("machine", {})),
    ]
    return "\n".join(lines) + "\n"


def write_report(out_dir) -> Path:
    """Writes the curve PNGs, report.md, report.html (self-contained) and report.tex (a booktabs table) into
    `out_dir` (a folder or its `Results`), each atomically; returns the path of report.md.

    The folder is loaded and checked first and everything is rendered in memory before the first file is
    written, so a folder that fails its checks leaves the earlier reports as they were."""
    from harness.report.html import render_html
    from harness.report.latex import render_latex

    loaded = as_results(out_dir)
    name = loaded.manifest.get("name", "")
    images = {file: plots.curve_png(loaded.history, metric, f"{name}: {plots.METRIC_LABELS.get(metric, metric)}")
              for metric, file in plot_files(loaded.manifest)}
    texts = {"report.tex": render_latex(loaded), "report.html": render_html(loaded, images),
             "report.md": render_markdown(loaded)}
    for file, data in images.items():
        atomic.write_bytes(loaded.out_dir / file, data)
    for file, text in texts.items():
        atomic.write_text(loaded.out_dir / file, text)
    return loaded.out_dir / "report.md"
