"""A results folder against hostile input: every cut, damaged or hand-edited file is one error line and exit
status 2 from `harness report`, `compare` and `mlflow` (a SpecError from `load_results`), and the reports already
in the folder stay byte for byte as they were; random damage either renders a report that matches the folder or
is refused in one line. No training: the folder is made from synthetic worker records by
`harness.results.tables.build`."""

import contextlib
import csv
import io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import one_error_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.core import atomic, folders
from harness.core.errors import SpecError
from harness.report.write import write_report
from harness.results import load as results
from harness.results import tables
from harness.sweep.report import write_sweep_report

FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
REPORTS = ("report.md", "report.html", "report.tex")
FILES = ("summary.csv", "history.csv", "manifest.json")
TRACEBACK = 'Traceback (most recent call last):\n  File "train.py", line 3, in fit\nValueError: bad "shape", (3,)'


def _record(framework: str, seed: int, status: str = "ok") -> dict:
    """A worker result of 3 epochs; a diverged run stops at epoch 3 without validating it, a failed one at once."""
    rng = np.random.default_rng([seed, len(framework)])
    epochs = []
    for epoch in range(1, 4):
        loss = 1.0 / epoch + rng.uniform(0, 0.1)
        row = {"epoch": epoch, "loss": loss, "metric": 0.3 * epoch, "epoch_seconds": 0.01 * epoch,
               "val_loss": loss * 1.1, "val_metric": 0.25 * epoch}
        if status == "diverged" and epoch == 3:
            row = {"epoch": 3, "loss": float("inf"), "metric": float("nan"), "epoch_seconds": 0.03}
        epochs.append(row)
    if status == "failed":
        return {"framework": framework, "seed": seed, "status": "failed", "error": TRACEBACK}
    return {"framework": framework, "seed": seed, "status": status, "epochs": epochs, "params": 131,
            "best_epoch": None, "peak_rss_mb": 300.5, "threads": {"intra_op_threads": 1},
            "test": {"test_loss": 0.9 + seed / 10, "test_accuracy": 0.5 + seed / 10} if status == "ok" else {},
            **({"error": "loss is inf"} if status == "diverged" else {})}


RECORDS = [_record("tensorflow", 0), _record("torch", 0), _record("tensorflow", 1), _record("torch", 1),
           _record("tensorflow", 2, "failed"), _record("torch", 2, "diverged")]


def _write_folder(out: Path) -> Path:
    """A results folder as `harness run` writes one (marker, tables, manifest, reports)."""
    folders.claim(out, "results")
    history, summary = tables.build(RECORDS, "accuracy", n_train=120)
    atomic.write_csv(out / "history.csv", history)
    atomic.write_csv(out / "summary.csv", summary)
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    atomic.write_json(out / "manifest.json", {**manifest, "name": "hostile"})
    write_report(out)
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return _write_folder(tmp_path_factory.mktemp("hostile") / "results")


def _copy(pristine: Path, parent: Path) -> Path:
    out = parent / "results"
    shutil.copytree(pristine, out)
    return out


def _reports(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in REPORTS}


# ---- corruptions, each a function of the file's bytes ----

def _cut_mid_last_row(data: bytes) -> bytes:
    return data[:data.rindex(b"\n", 0, len(data) - 1) + 12]


def _rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def _set_cell(row: int, column: str, value: str):
    """row: 1-based data row."""
    def corrupt(data: bytes) -> bytes:
        rows = _rows(data)
        rows[row][rows[0].index(column)] = value
        return _csv(rows)
    return corrupt


def _drop_column(column: str):
    def corrupt(data: bytes) -> bytes:
        rows = _rows(data)
        index = rows[0].index(column)
        return _csv([row[:index] + row[index + 1:] for row in rows])
    return corrupt


def _extra_field(number: int):
    def corrupt(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        lines[number] = lines[number].rstrip(b"\n") + b",x\n"
        return b"".join(lines)
    return corrupt


def _drop_line(number: int):
    def corrupt(data: bytes) -> bytes:
        lines = data.splitlines(keepends=True)
        return b"".join(lines[:number] + lines[number + 1:])
    return corrupt


def _manifest(change):
    def corrupt(data: bytes) -> bytes:
        return json.dumps(change(json.loads(data))).encode()
    return corrupt


def _without(key: str):
    return _manifest(lambda manifest: {name: value for name, value in manifest.items() if name != key})


def _with(**values):
    return _manifest(lambda manifest: {**manifest, **values})


# (case, file damaged, damage, what the error line says: the file it blames, then the fault)
CORRUPTIONS = [
    ("summary cut mid-row", "summary.csv", _cut_mid_last_row,
     "summary.csv: expected the last line to end with a line break"),
    ("history cut mid-row", "history.csv", _cut_mid_last_row,
     "history.csv: expected the last line to end with a line break"),
    ("history cut at a line end", "history.csv", lambda data: b"".join(data.splitlines(True)[:-2]),
     "history.csv: framework torch, seed 2, epoch 3: expected 3 train rows"),
    ("history line lost", "history.csv", _drop_line(4),
     "history.csv: framework tensorflow, seed 0, epoch 1: expected 3 train rows"),
    ("summary row lost", "summary.csv", lambda data: b"".join(data.splitlines(True)[:-1]),
     "history.csv: row 61: expected every run to have its row in summary.csv; received framework torch, seed 2"),
    ("text in a numeric column", "summary.csv", _set_cell(3, "test_loss", "abc"),
     "summary.csv: row 3, column test_loss: expected a number or an empty cell; received 'abc'"),
    ("a number with underscores", "history.csv", _set_cell(2, "value", "1_000"),
     "history.csv: row 2, column value: expected a number"),
    ("unknown status", "summary.csv", _set_cell(1, "status", "done"),
     "summary.csv: row 1, column status: expected one of ok, diverged, failed, skipped; received 'done'"),
    ("unknown framework", "summary.csv", _set_cell(2, "framework", "jax"),
     "summary.csv: row 2, column framework: expected one of tensorflow, torch; received 'jax'"),
    ("negative seed", "summary.csv", _set_cell(1, "seed", "-1"),
     "summary.csv: row 1, column seed: expected a non-negative integer; received '-1'"),
    ("epoch zero", "history.csv", _set_cell(1, "epoch", "0"),
     "history.csv: row 1, column epoch: expected a positive integer; received '0'"),
    ("unknown split", "history.csv", _set_cell(5, "split", "test"),
     "history.csv: row 5, column split: expected one of train, val; received 'test'"),
    ("missing column", "summary.csv", _drop_column("status"),
     "summary.csv: header: expected the columns framework, seed, status, error, epochs_run; received none named "
     "status"),
    ("header only", "summary.csv", lambda data: data.splitlines(True)[0],
     "summary.csv: expected at least one row below the header; received the header alone"),
    ("empty file", "summary.csv", lambda data: b"", "summary.csv: expected a header line and at least one row"),
    ("extra field", "summary.csv", _extra_field(2),
     "summary.csv: row 2: expected 20 fields, as in the header; received 21"),
    ("unclosed quote", "history.csv", lambda data: data + b'torch,1,4,train,"loss,1\n',
     "history.csv: row 74: expected CSV as the harness writes it; received a line that does not parse"),
    ("duplicate row", "summary.csv", lambda data: data + data.splitlines(True)[1],
     "summary.csv: row 7: expected one row per run; received a second row for framework tensorflow, seed 0"),
    ("epochs_run disagrees", "summary.csv", _set_cell(1, "epochs_run", "2"),
     "history.csv: framework tensorflow, seed 0: expected epochs 1 to 2, as epochs_run in row 1 of summary.csv"),
    ("binary garbage", "summary.csv", lambda data: bytes(range(256)) * 4,
     "summary.csv: summary.csv is not UTF-8 text: byte 0x80 at offset 128"),
    ("NUL bytes", "history.csv", lambda data: data[:100] + b"\x00\x00" + data[100:],
     "history.csv: history.csv is binary, not text: NUL byte at offset 100"),
    ("latin-1 bytes", "summary.csv", lambda data: data.replace(b"loss is inf", "perte infinie é".encode("latin-1")),
     "summary.csv: summary.csv is not UTF-8 text: byte 0xe9"),
    ("manifest not JSON", "manifest.json", lambda data: data[:-20], "manifest.json is not valid JSON"),
    ("manifest a list", "manifest.json", lambda data: b"[1, 2]",
     "manifest.json: expected a JSON object (the manifest); received an array"),
    ("manifest without task", "manifest.json", _without("task"),
     "manifest.json: task: expected it (a results manifest has name, task, metric and spec)"),
    ("manifest without spec", "manifest.json", _without("spec"), "manifest.json: spec: expected it"),
    ("manifest name a number", "manifest.json", _with(name=3),
     "manifest.json: name: expected a valid string; received a number 3"),
    ("manifest differences a string", "manifest.json", _with(known_differences="none"),
     "manifest.json: known_differences: expected a valid list; received a string 'none'"),
    ("manifest dataset a list", "manifest.json", _with(spec={"data": {"dataset": ["iris"]}}),
     "manifest.json: spec.data.dataset: expected a valid string; received an array ['iris']"),
    ("manifest unknown task", "manifest.json", _with(task="ranking"),
     "manifest.json: task: expected 'classification' or 'regression'; received a string 'ranking'"),
    ("manifest metric of another task", "manifest.json", _with(metric="mae"),
     "manifest.json: metric: expected 'accuracy' for a classification task; received 'mae'"),
    ("manifest negative margin", "manifest.json", _with(analysis={"margins": {"test_accuracy": -1}}),
     "manifest.json: analysis.margins.test_accuracy"),
    ("history seed summary lacks", "history.csv", _set_cell(7, "seed", "9"),
     "history.csv: row 7: expected every run to have its row in summary.csv; received framework tensorflow, seed 9"),
]


def _corrupt(out: Path, name: str, corrupt) -> None:
    path = out / name
    path.write_bytes(corrupt(path.read_bytes()))


@pytest.mark.parametrize("case, name, corrupt, expected", CORRUPTIONS, ids=[case[0] for case in CORRUPTIONS])
def test_report_refuses_a_damaged_folder_and_keeps_its_reports(pristine, tmp_path, capsys, case, name, corrupt,
                                                                  expected):
    out = _copy(pristine, tmp_path)
    _corrupt(out, name, corrupt)
    before = _reports(out)
    assert main(["report", str(out)]) == 2
    assert expected in one_error_line(capsys)
    assert _reports(out) == before
    with pytest.raises(SpecError) as error:
        results.load_results(out)
    assert str(error.value).startswith(str(out)) and expected in str(error.value)  # the path of the file, then


@pytest.mark.parametrize("name, make", [
    ("summary.csv", lambda path: os.mkfifo(path)),  # a pipe would never end: refused before it is opened
    ("history.csv", lambda path: path.mkdir()),
], ids=["pipe", "folder"])
def test_a_table_that_is_not_a_regular_file_is_refused(pristine, tmp_path, capsys, name, make):
    out = _copy(pristine, tmp_path)
    (out / name).unlink()
    make(out / name)
    assert main(["report", str(out)]) == 2
    assert f"{out / name}: expected a" in one_error_line(capsys)


@pytest.mark.parametrize("make, expected", [
    (lambda tmp: tmp / "missing", "where there is nothing"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "where there is a file"),
], ids=["missing folder", "a file"])
def test_report_on_what_is_not_a_folder(tmp_path, capsys, make, expected):
    assert main(["report", str(make(tmp_path))]) == 2
    assert expected in one_error_line(capsys)


@pytest.mark.parametrize("case, name, corrupt, expected", [CORRUPTIONS[0], CORRUPTIONS[5], CORRUPTIONS[24]],
                         ids=["cut", "text cell", "no task"])
def test_compare_and_mlflow_refuse_a_damaged_folder(pristine, tmp_path, capsys, case, name, corrupt, expected):
    good, bad = _copy(pristine, tmp_path / "good"), _copy(pristine, tmp_path / "bad")
    _corrupt(bad, name, corrupt)
    assert main(["compare", str(good), str(bad)]) == 2
    assert f"{bad}/{expected}" in one_error_line(capsys)
    store = tmp_path / "mlflow.db"
    assert main(["mlflow", str(bad), "--tracking-uri", f"sqlite:///{store}"]) == 2
    assert expected in one_error_line(capsys)
    assert not store.exists()  # refused before MLflow was touched


@pytest.mark.parametrize("uri, expected", [
    ("bogus://x", "of the scheme 'bogus'"),
    ("sqlite://", "an sqlite URI without a file path"),
])
def test_mlflow_refuses_a_bad_uri_before_importing_mlflow(pristine, capsys, uri, expected):
    assert main(["mlflow", str(pristine), "--tracking-uri", uri]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --tracking-uri: expected sqlite:///<path>, http://<host>") and expected in line


def test_mlflow_refuses_a_pipe_among_the_report_files(pristine, tmp_path, capsys):
    out = _copy(pristine, tmp_path)
    (out / "loss_curves.png").unlink()
    os.mkfifo(out / "loss_curves.png")  # MLflow's copy of it would wait forever
    store = tmp_path / "mlflow.db"
    assert main(["mlflow", str(out), "--tracking-uri", f"sqlite:///{store}"]) == 2
    assert f"{out / 'loss_curves.png'}: expected a regular file" in one_error_line(capsys)
    assert not store.exists()


def test_mlflow_store_failure_is_one_line(pristine, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    assert main(["mlflow", str(pristine), "--tracking-uri", f"sqlite:///{tmp_path / 'a_file' / 'mlflow.db'}"]) == 2
    assert "error: --tracking-uri: expected a tracking store MLflow can log to" in one_error_line(capsys)


def _every_run_failed(out: Path) -> None:
    history, summary = tables.build([_record("tensorflow", 0, "failed"), _record("torch", 0, "failed")],
                                      "accuracy", n_train=120)
    atomic.write_csv(out / "history.csv", history)  # the header alone: no run finished an epoch
    atomic.write_csv(out / "summary.csv", summary)


UNUSUAL = [  # (case, change to the folder, what report.md then says)
    ("TeX and markup in the name", lambda out: _corrupt(out, "manifest.json", _with(name="$\\frac{ <b>|")),
     "# $\\frac{ <b>|\n"),
    ("Windows line ends", lambda out: _corrupt(out, "summary.csv", lambda data: data.replace(b"\n", b"\r\n")),
     "| runs "),
    ("blank lines", lambda out: _corrupt(out, "history.csv", lambda data: data.replace(b"\n", b"\n\n", 9)),
     "| runs "),
    ("keys the harness does not know", lambda out: _corrupt(out, "manifest.json", _with(notes=["x"], extra={})),
     "| runs "),
    ("every run failed", _every_run_failed, "| runs     | 0 ok, 1 failed | 0 ok, 1 failed |"),
]


@pytest.mark.parametrize("case, change, expected", UNUSUAL, ids=[case[0] for case in UNUSUAL])
def test_unusual_but_valid_folders_render(pristine, tmp_path, capsys, case, change, expected):
    out = _copy(pristine, tmp_path)
    change(out)
    assert main(["report", str(out)]) == 0
    assert expected in (out / "report.md").read_text()


def test_nan_and_inf_figures_render_as_dashes(pristine, tmp_path, capsys):
    out = _copy(pristine, tmp_path)
    for row in (1, 2, 3, 4):  # the ok runs: test loss inf or NaN (no figure at all), final val loss 0 (no margin)
        _corrupt(out, "summary.csv", _set_cell(row, "test_loss", "inf" if row % 2 else ""))
        _corrupt(out, "summary.csv", _set_cell(row, "final_val_loss", "0"))
    assert main(["report", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert re.search(r"^\| test loss +\| +— +\| +— +\|$", text, re.MULTILINE)
    statistics = text.split("## Statistics over seeds")[1].split("## Curves")[0]
    assert "| test_loss" not in statistics  # nothing finite to compare
    assert re.search(r"^\| final_val_loss +\| 0 \[0, 0\] +\| 0 \[0, 0\] +\| — +\| — +\| +2 \| — +\| — +\| — / — +\| "
                     r"— +\| not compared: no "
                     r"finite, nonzero mean", statistics, re.MULTILINE), statistics


# ---- random damage ----

def _runs_in_report(text: str) -> int:
    row = next(line for line in text.splitlines() if line.startswith("| runs "))
    return sum(int(count) for count in re.findall(r"(\d+) (?:ok|diverged|failed|skipped)", row))


@st.composite
def damage(draw, pristine: Path):
    """(file name, damaged bytes): cut at a byte, a byte changed, bytes inserted, a line deleted, a cell or a
    manifest value replaced with random text."""
    name = draw(st.sampled_from(FILES))
    data = (pristine / name).read_bytes()
    kind = draw(st.sampled_from(["cut", "flip", "insert", "delete line", "replace"]))
    at = draw(st.integers(0, len(data) - 1))
    if kind == "cut":
        return name, data[:at]
    if kind == "flip":
        return name, data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1:]
    if kind == "insert":
        return name, data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    lines = data.splitlines(keepends=True)
    if kind == "delete line":
        line = draw(st.integers(0, len(lines) - 1))
        return name, b"".join(lines[:line] + lines[line + 1:])
    text = draw(st.text(max_size=12))
    if name == "manifest.json":
        manifest = json.loads(data)
        return name, json.dumps({**manifest, draw(st.sampled_from(sorted(manifest))): text}).encode()
    rows = _rows(data)
    row, column = draw(st.integers(1, len(rows) - 1)), draw(st.integers(0, len(rows[0]) - 1))
    rows[row][column] = text
    return name, _csv(rows)


def _rows_in(path: Path) -> int:
    return sum(1 for record in csv.reader(io.StringIO(path.read_text(), newline="")) if record) - 1


@contextlib.contextmanager
def _damaged_copy(pristine: Path, name: str, damaged: bytes):
    with tempfile.TemporaryDirectory() as parent:  # hypothesis runs many examples in one test: a folder each
        out = _copy(pristine, Path(parent))
        (out / name).write_bytes(damaged)
        yield out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_is_refused_or_loaded_whole(pristine, data):
    name, damaged = data.draw(damage(pristine))
    with _damaged_copy(pristine, name, damaged) as out:
        try:
            loaded = results.load_results(out)
        except SpecError as error:
            assert "\n" not in str(error) and str(error).startswith(str(out))
            return
        assert len(loaded.summary) == _rows_in(out / "summary.csv")  # no row dropped or made up
        assert len(loaded.history) == _rows_in(out / "history.csv")
        assert loaded.manifest == json.loads((out / "manifest.json").read_text())


# Rendering an accepted folder draws two plots (about a second), so the command line gets fewer examples than
# the loader above; a refusal costs milliseconds.
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_is_reported_or_refused_in_one_line(pristine, capsys, data):
    name, damaged = data.draw(damage(pristine))
    with _damaged_copy(pristine, name, damaged) as out:
        before = _reports(out)
        capsys.readouterr()
        status = main(["report", str(out)])
        assert status in (0, 2)
        if status == 2:
            one_error_line(capsys)
            assert _reports(out) == before
        else:  # the report shows every run summary.csv holds, under the manifest's name
            text = (out / "report.md").read_text()
            assert _runs_in_report(text) == _rows_in(out / "summary.csv")
            assert text.startswith(f"# {json.loads((out / 'manifest.json').read_text())['name']}\n")


# ---- sweep folders ----

def _sweep_folder(out: Path) -> Path:
    """Two points of a learning-rate sweep, the tables as sweep_run writes them, and sweep.json."""
    out.mkdir()
    histories, summaries = [], []
    for point, rate in enumerate(["0.01", "0.1"]):
        history, summary = tables.build(RECORDS[:4], "accuracy", n_train=120)
        extra = {"point": point, "sweep:optimizer.learning_rate": rate, "key": f"{point:020x}", "attempts": 1,
                 "contended": False}
        histories.append(history.assign(**extra))
        summaries.append(summary.assign(**extra))
    atomic.write_csv(out / "history.csv", pd.concat(histories, ignore_index=True))
    atomic.write_csv(out / "summary.csv", pd.concat(summaries, ignore_index=True))
    atomic.write_json(out / "sweep.json", {"name": "lr", "description": "", "axes": {"optimizer.learning_rate":
                                           [0.01, 0.1]}, "mode": "product", "executor": "local", "jobs": 1,
                                           "git_commit": "abc", "machine": {}, "points": []})
    return out


@pytest.mark.parametrize("name, corrupt, expected", [
    (None, None, None),
    ("sweep.json", lambda data: b"{", "sweep.json is not valid JSON"),
    ("sweep.json", _without("axes"), "axes: expected it"),
    ("sweep.json", _with(mode="grid"), "mode: expected 'product' or 'zip'"),
    ("summary.csv", _drop_column("sweep:optimizer.learning_rate"), "header: expected the columns"),
    ("summary.csv", _set_cell(2, "point", "x"), "row 2, column point: expected a non-negative integer"),
    ("history.csv", _set_cell(3, "point", "5"), "point 5, framework tensorflow, seed 0, which summary.csv lacks"),
], ids=["valid", "not JSON", "no axes", "unknown mode", "axis column missing", "point text", "unknown point"])
def test_sweep_report_checks_its_files(tmp_path, name, corrupt, expected):
    out = _sweep_folder(tmp_path / "sweep")
    if name is None:
        text = write_sweep_report(out).read_text()
        assert re.search(r"^\| +1 \| +0\.1 +\| 55 ± 7\.1 +\| 55 ± 7\.1 +\| 4 ok", text, re.MULTILINE), text
        return
    _corrupt(out, name, corrupt)
    with pytest.raises(SpecError, match=re.escape(expected)):
        write_sweep_report(out)
    assert not (out / "sweep_report.md").exists()
