"""The checks of a results folder's two tables, each read once with the csv module in strict mode: structure
first, then every cell against its column's kind, then what the two tables must agree on. A cut, damaged or
hand-edited file is one `SpecError` line naming the file, the row and the column."""

import csv
import io
import re
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from harness.core import guard, registry
from harness.core.errors import SpecError
from harness.core.history import SPLITS
from harness.results.store import STATUSES
from harness.results.tables import HISTORY_COLUMNS, SUMMARY_COLUMNS, shown

# ---- CSV tables: structure first (csv module, strict), then every cell against its column's kind ----

# What a column holds, by name; any other column holds numbers (a figure, a timing, a count), empty for none.
# Sweep folders add point, key, attempts, contended and one sweep:<axis> column per axis (text, as written).
TEXT_COLUMNS = {"framework", "status", "error", "split", "metric", "key"}
FLAG_COLUMNS = {"stopped_early", "contended"}
COUNT_COLUMNS = {"seed": 0, "epochs_run": 0, "epoch": 1, "point": 0, "attempts": 1}  # the smallest value allowed
_COUNT = re.compile(r"[0-9]{1,18}")  # an int64 with room to spare; the count columns never hold more
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,4})?|[+-]?inf|nan", re.IGNORECASE)
_FLAGS = {"True": True, "False": False, "true": True, "false": False, "TRUE": True, "FALSE": False}


def _records(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, data rows) of a CSV file, every row as long as the header; blank lines are skipped."""
    field = str(path)
    text = guard.read_text(path, field, "table")
    if not text.strip():
        raise SpecError(field, "expected a header line and at least one row; received an empty file")
    if not text.endswith(("\n", "\r")):  # the harness ends every line, so a last line without an end was cut
        raise SpecError(field, "expected the last line to end with a line break, as the harness writes it; "
                               "received a last line that stops short (the file was cut)")
    records, reader = [], csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            if record:
                records.append(record)
    except csv.Error as error:  # the header is records[0], so the bad row's number is len(records)
        raise SpecError(field, f"row {len(records)}: expected CSV as the harness writes it; received a line "
                               f"that does not parse ({error})") from None
    header, rows = records[0], records[1:]
    _check_header(header, field)
    for number, row in enumerate(rows, 1):
        if len(row) != len(header):
            raise SpecError(field, f"row {number}: expected {len(header)} fields, as in the header; received "
                                   f"{len(row)} (a cut or damaged line)")
    return header, rows


def _check_header(header: list[str], field: str) -> None:
    for index, name in enumerate(header, 1):
        if not name.strip():
            raise SpecError(field, f"header: expected a name for every column; received none for column {index}")
        if header.index(name) != index - 1:
            raise SpecError(field, f"header: expected each column once; received {shown(name)} twice")


def _bad(field: str, number: int, column: str, allowed: str, cell: str) -> SpecError:
    return SpecError(field, f"row {number}, column {column}: expected {allowed}; received {shown(cell)}")


def _first_bad(ok: np.ndarray) -> int:
    return int(np.flatnonzero(~ok)[0])


def _text_column(cells: np.ndarray, column: str, field: str, allowed: Optional[tuple]) -> np.ndarray:
    if allowed is not None:
        ok = np.isin(cells, allowed)
        if not ok.all():
            index = _first_bad(ok)
            raise _bad(field, index + 1, column, f"one of {', '.join(allowed)}", cells[index])
    return cells


def _count_column(cells: np.ndarray, column: str, field: str) -> np.ndarray:
    low = COUNT_COLUMNS[column]
    ok = np.array([bool(_COUNT.fullmatch(cell)) for cell in cells], dtype=bool)
    values = np.array([int(cell) if good else -1 for cell, good in zip(cells, ok)], dtype=np.int64)
    ok &= values >= low
    if not ok.all():
        index = _first_bad(ok)
        raise _bad(field, index + 1, column, "a non-negative integer" if low == 0 else "a positive integer",
                   cells[index])
    return values


def _flag_column(cells: np.ndarray, column: str, field: str):
    ok = np.array([cell in _FLAGS or cell == "" for cell in cells], dtype=bool)
    if not ok.all():
        index = _first_bad(ok)
        raise _bad(field, index + 1, column, "True, False or an empty cell", cells[index])
    values = [_FLAGS.get(cell, np.nan) for cell in cells]
    return np.array(values, dtype=bool if "" not in cells else object)


def _number_column(cells: np.ndarray, column: str, field: str) -> np.ndarray:
    """Numbers as pandas reads them: int64 when every cell is an integer, else float64 with NaN for empty cells."""
    ok = np.array([cell == "" or bool(_NUMBER.fullmatch(cell)) for cell in cells], dtype=bool)
    if not ok.all():
        index = _first_bad(ok)
        raise _bad(field, index + 1, column, "a number or an empty cell", cells[index])
    if len(cells) and all(_INTEGER.fullmatch(cell) for cell in cells):
        return cells.astype(np.int64)
    return np.where(cells == "", "nan", cells).astype(float)


def _column(cells: np.ndarray, column: str, field: str, allowed: dict) -> np.ndarray:
    if column in allowed:
        return _text_column(cells, column, field, allowed[column])
    if column in TEXT_COLUMNS or column.startswith("sweep:"):
        return _text_column(cells, column, field, None)
    if column in FLAG_COLUMNS:
        return _flag_column(cells, column, field)
    if column in COUNT_COLUMNS:
        return _count_column(cells, column, field)
    return _number_column(cells, column, field)


def read_table(path: Path, required: list[str], allowed: dict, min_rows: int) -> pd.DataFrame:
    """A results table with every cell checked: `required` columns present, at least `min_rows` rows, text
    columns in `allowed` ({column: allowed values}) holding one of them, the others by kind (see TEXT_COLUMNS)."""
    field = str(path)
    header, rows = _records(path)
    missing = [name for name in required if name not in header]
    if missing:
        raise SpecError(field, f"header: expected the columns {', '.join(required)}; received none named "
                               f"{', '.join(missing)}")
    if len(rows) < min_rows:
        raise SpecError(field, "expected at least one row below the header; received the header alone")
    # object arrays of str: a fixed-width array would give every cell the longest cell's size
    columns = [np.array(column, dtype=object) for column in zip(*rows)] or [np.array([], dtype=object)] * len(header)
    return pd.DataFrame({name: _column(cells, name, field, allowed) for name, cells in zip(header, columns)})


# ---- What the two tables must agree on: one row per run, and exactly the epochs each run reports ----

def _run_keys(frame: pd.DataFrame) -> list[str]:
    return (["point"] if "point" in frame else []) + ["framework", "seed"]


def _name_run(row, keys: list[str]) -> str:
    return ", ".join(f"{key} {row[key]}" for key in keys)


def _first_row(mask) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def check_summary(summary: pd.DataFrame, field: str) -> None:
    keys = _run_keys(summary)
    twice = summary.duplicated(keys)
    if twice.any():
        index = _first_row(twice)
        raise SpecError(field, f"row {index + 1}: expected one row per run; received a second row for "
                               f"{_name_run(summary.iloc[index], keys)}")


def _check_rows(history: pd.DataFrame, summary: pd.DataFrame, field: str, keys: list[str]) -> None:
    twice = history.duplicated(keys + ["epoch", "split", "metric"])
    if twice.any():
        index = _first_row(twice)
        raise SpecError(field, f"row {index + 1}: expected each (run, epoch, split, metric) once; received a "
                               f"second row for {_name_run(history.iloc[index], keys + ['epoch', 'split', 'metric'])}")
    timing = (history["split"] == "val") & (history["metric"] == "epoch_seconds")
    if timing.any():
        raise _bad(field, _first_row(timing) + 1, "split", "train for the epoch_seconds rows", "val")
    known = pd.MultiIndex.from_frame(history[keys]).isin(pd.MultiIndex.from_frame(summary[keys]))
    if not known.all():
        index = _first_row(~known)
        raise SpecError(field, f"row {index + 1}: expected every run to have its row in summary.csv; received "
                               f"{_name_run(history.iloc[index], keys)}, which summary.csv lacks")


def _epochs(history: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per (run, epoch): how many train and val rows it has. Columns: keys, epoch, train, val."""
    counts = history.assign(train=history["split"] == "train", val=history["split"] == "val")
    return counts.groupby(keys + ["epoch"], sort=False)[["train", "val"]].sum().reset_index()


def _check_epochs(epochs: pd.DataFrame, field: str, keys: list[str]) -> None:
    # an epoch has train loss, metric, epoch_seconds (and learning_rate with a schedule), and val loss and metric
    # when there is validation data
    incomplete = ~epochs["train"].isin([3, 4]) | ~epochs["val"].isin([0, 2])
    if incomplete.any():
        row = epochs.iloc[_first_row(incomplete)]
        raise SpecError(field, f"{_name_run(row, keys)}, epoch {row['epoch']}: expected 3 train rows (loss, "
                               f"metric, epoch_seconds; 4 with learning_rate) and 2 val rows or none; received "
                               f"{row['train']} train and {row['val']} val rows (a line was lost or cut)")


def _check_epoch_counts(epochs: pd.DataFrame, summary: pd.DataFrame, field: str, keys: list[str]) -> None:
    """Every summary run has history epochs 1..epochs_run, and validation rows in all of them or none (a
    diverged run stops before validating its last epoch)."""
    per_run = epochs.groupby(keys, sort=False)["epoch"].agg(["count", "max"])
    runs = summary[keys + ["epochs_run", "status"]].join(per_run, on=keys).fillna({"count": 0, "max": 0})
    wrong = (runs["count"] != runs["epochs_run"]) | (runs["max"] != runs["epochs_run"])
    if wrong.any():
        index = _first_row(wrong)
        run = runs.iloc[index]
        raise SpecError(field, f"{_name_run(run, keys)}: expected epochs 1 to {run['epochs_run']}, as epochs_run "
                               f"in row {index + 1} of summary.csv says; received {int(run['count'])} epochs "
                               f"(one of the files was cut or edited)")
    flat = epochs.merge(runs[keys + ["epochs_run", "status"]], on=keys)
    excused = (flat["status"] == "diverged") & (flat["epoch"] == flat["epochs_run"])
    spread = flat[~excused].groupby(keys, sort=False)["val"].agg(["min", "max"])
    uneven = spread[spread["min"] != spread["max"]]
    if len(uneven):
        run = dict(zip(keys, uneven.index[0] if len(keys) > 1 else [uneven.index[0]]))
        raise SpecError(field, f"{_name_run(run, keys)}: expected val rows in every epoch or in none; received "
                               f"them in some epochs only (a line was lost)")


def check_history(history: pd.DataFrame, summary: pd.DataFrame, field: str) -> None:
    """history.csv against summary.csv: no repeated row, no run summary lacks, every run's epochs whole."""
    keys = _run_keys(summary)
    _check_rows(history, summary, field, keys)
    epochs = _epochs(history, keys)
    _check_epochs(epochs, field, keys)
    _check_epoch_counts(epochs, summary, field, keys)


def read_tables(out_dir: Path, metrics: tuple, summary_columns: tuple = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, history) of a results or sweep folder, each cell and their agreement checked.

    metrics: the names history.csv's metric column may hold; summary_columns: columns required beyond
    SUMMARY_COLUMNS (a sweep's point and axes; its history then needs point too)."""
    frameworks = tuple(registry.FRAMEWORKS)
    summary_path, history_path = out_dir / "summary.csv", out_dir / "history.csv"
    summary = read_table(summary_path, SUMMARY_COLUMNS + list(summary_columns),
                         {"framework": frameworks, "status": STATUSES}, min_rows=1)
    check_summary(summary, str(summary_path))
    history = read_table(history_path, HISTORY_COLUMNS + (["point"] if "point" in summary else []),
                         {"framework": frameworks, "split": SPLITS, "metric": metrics}, min_rows=0)
    check_history(history, summary, str(history_path))
    return summary, history
