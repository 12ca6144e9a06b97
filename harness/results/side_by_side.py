"""The side-by-side table: figures as rows, frameworks as columns, each cell mean ± std over the seeds that
finished, rounded so the digits shown are the digits that mean something. Every report format shows this table."""

import numpy as np
import pandas as pd

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


# The rows that time the training: marked when a run they average shared the machine with another run's worker.
TIMING_COLUMNS = ("train_seconds", "median_epoch_seconds", "first_epoch_seconds", "train_samples_per_second")
CONTENDED_MARK = "†"
# Appended to the time-to-target note when the seconds it averages come from contended runs.
CONTENDED_SECONDS = f" {CONTENDED_MARK} Its seconds come from contended runs (see the note under the side-by-side " \
                    f"table)."


def _contended(summary: pd.DataFrame) -> pd.Series:
    """Per finished (ok) run, whether it was contended; False where the folder does not say (older versions)."""
    finished = summary[summary["status"] == "ok"]
    if "contended" not in summary:
        return pd.Series(False, index=finished.index)
    return finished["contended"].eq(True)  # an empty cell (NaN) is not a yes


def _whole(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def _sharing(manifest: dict) -> str:
    """"the machine's 2 cores (2 runs at a time, 1 thread each)", from what the manifest states."""
    matched, machine = manifest.get("matched") or {}, manifest.get("machine") or {}
    at_once, threads = matched.get("runs_at_once"), matched.get("threads")
    how = (f" ({_whole(at_once)} runs at a time, {_whole(threads)} thread{'' if threads == 1 else 's'} each)"
           if isinstance(at_once, int) and isinstance(threads, int) else "")
    return f"the machine's {_whole(machine.get('logical_cores'))} cores{how}"


def contention_note(summary: pd.DataFrame, manifest: dict) -> str:
    """The timing rows' footnote when a finished run shared the machine with another run's worker, else ''."""
    flags = _contended(summary)
    if not flags.any():
        return ""
    frameworks = summary.loc[flags.index, "framework"]
    counts = ", ".join(f"{name} {int(flags[frameworks == name].sum())} of {int((frameworks == name).sum())}"
                       for name in dict.fromkeys(frameworks))
    return (f"{CONTENDED_MARK} contended: {int(flags.sum())} of {len(flags)} runs ({counts}) trained while another "
            f"run's worker shared {_sharing(manifest)}: their timings measure the sharing too. `harness run --jobs 1` "
            f"times each run alone.")


def execution_note(manifest: dict) -> str:
    """'Execution: tensorflow graph, torch eager.', the mode each framework trained in (harness.core.execution);
    '' for a folder whose runs did not record it."""
    facts = manifest.get("frameworks") or {}
    modes = {framework: (fact.get("execution") or {}).get("mode") for framework, fact in facts.items()}
    if not any(modes.values()):
        return ""
    return "Execution: " + ", ".join(f"{framework} {mode or 'not recorded'}" for framework, mode in modes.items()) + "."


def side_by_side(summary: pd.DataFrame, manifest: dict) -> pd.DataFrame:
    """The comparison table: figures as rows, frameworks as columns (in summary order), strings as cells.

    Each cell is mean ± std over the framework's seeds with status ok; figures no framework has are left out;
    the last row, 'runs', counts runs by status. The timing rows' labels end in CONTENDED_MARK when a run they
    average was contended (`contention_note` says how). Index name: 'figure'.
    """
    frameworks = list(dict.fromkeys(summary["framework"]))
    finished = summary[summary["status"] == "ok"]
    mark = f" {CONTENDED_MARK}" if _contended(summary).any() else ""
    table = {}
    for column, label, render in _rows(manifest.get("task", ""), manifest.get("metric", "")):
        if column in summary and pd.to_numeric(finished[column], errors="coerce").notna().any():
            label += mark if column in TIMING_COLUMNS else ""
            table[label] = [_cell(finished.loc[finished["framework"] == fw, column], render) for fw in frameworks]
    table["runs"] = [_runs_cell(summary.loc[summary["framework"] == fw, "status"]) for fw in frameworks]
    frame = pd.DataFrame.from_dict(table, orient="index", columns=frameworks)
    frame.index.name = "figure"
    return frame
