"""The harness owns its folders: the user's files next to and inside an output folder survive every command byte
for byte, a rerun never replaces results with worse ones, and a killed driver leaves a folder the next command
makes whole. Trains the tiny iris network with PyTorch only, in this process where the case allows it."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import iris_mlp, one_error_line, write_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.core import folders
from harness.launch import local

IRIS = {**iris_mlp("safety", epochs=2), "frameworks": ["torch"]}
FAST = ["--in-process", "--threads", "1"]


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under folder."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def user_files(folder: Path) -> dict[str, str]:
    """Plants the files a user might keep where results go; returns their snapshot."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text("my own notes\n")
    (folder / "tensorboard").mkdir(exist_ok=True)
    (folder / "tensorboard" / "mine.txt").write_text("keep me\n")
    return snapshot(folder)


@pytest.fixture
def spec_path(tmp_path) -> Path:
    return write_spec(tmp_path, IRIS)


def test_a_folder_the_harness_does_not_own_is_refused_before_training(tmp_path, spec_path, capsys):
    out = tmp_path / "mine"
    before = user_files(out)
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 2
    line = one_error_line(capsys)
    assert "--out" in line and "not empty" in line and folders.MARKER in line
    assert snapshot(out) == before


def test_the_current_directory_is_never_a_results_folder_by_accident(tmp_path, spec_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = user_files(tmp_path / "here")
    monkeypatch.chdir(tmp_path / "here")
    assert main(["run", str(spec_path), "--out", ".", *FAST]) == 2
    assert "not empty" in one_error_line(capsys)
    assert snapshot(tmp_path / "here") == before


@pytest.mark.parametrize("case", ["a file", "a read-only folder", "a 300-character name", "a NUL"])
def test_an_unwritable_output_is_refused_before_training(tmp_path, spec_path, capsys, case):
    out = {"a file": tmp_path / "file.txt", "a read-only folder": tmp_path / "locked" / "out",
           "a 300-character name": tmp_path / ("x" * 300), "a NUL": tmp_path / "a\x00b"}[case]
    if case == "a file":
        out.write_text("data\n")
    if case == "a read-only folder":
        if os.geteuid() == 0:  # root writes into any folder mode allows; /proc refuses even root
            out = Path("/proc/harness-out")
        else:
            out.parent.mkdir()
            out.parent.chmod(0o500)
    started = time.perf_counter()
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 2
    assert "--out" in one_error_line(capsys)
    assert time.perf_counter() - started < 30  # refused at the edge: no training ran (which takes longer)
    if case == "a file":
        assert out.read_text() == "data\n"


def test_a_rerun_keeps_finished_runs_and_a_failed_rerun_keeps_the_good_results(tmp_path, spec_path, capsys,
                                                                              monkeypatch):
    out = tmp_path / "out"
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 0
    (out / "tensorboard" / "mine.txt").write_text("keep me\n")
    good = snapshot(out)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.status) == ["ok"]

    capsys.readouterr()
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 0  # nothing to redo
    assert "1 of 1 runs already finished" in capsys.readouterr().out
    assert pd.read_csv(out / "summary.csv").equals(summary)
    assert main(["run", str(spec_path), "--out", str(out), *FAST, "--seeds", "0", "1"]) == 0  # one more seed
    assert "1 of 2 runs already finished" in capsys.readouterr().out
    assert pd.read_csv(out / "summary.csv").iloc[:1].equals(summary)
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 0  # back to seed 0 alone: kept, not retrained
    assert "1 of 1 runs already finished" in capsys.readouterr().out
    good = snapshot(out)

    def crash(job, log):
        return {"framework": job.framework, "seed": job.seed, "status": "failed", "error": "boom"}

    monkeypatch.setattr(local, "run_in_process", crash)
    assert main(["run", str(spec_path), "--out", str(out), *FAST, "--force"]) == 1
    assert pd.read_csv(out / "summary.csv").equals(summary)  # the good row kept
    notes = json.loads((out / "manifest.json").read_text())["notes"]
    assert any("A rerun (--force) of torch seed 0 failed (boom); the finished run is kept" in note for note in notes)
    assert "A rerun (--force) of torch seed 0 failed (boom)" in (out / "report.md").read_text()
    kept = {name: digest for name, digest in snapshot(out).items()
            if name.startswith(("runs/", "tensorboard/")) and not name.endswith(".failed.json")}
    assert kept == {name: digest for name, digest in good.items() if name.startswith(("runs/", "tensorboard/"))}


def test_a_killed_driver_leaves_a_folder_the_next_command_makes_whole(tmp_path):
    spec = {**IRIS, "name": "killed", "seeds": [0, 1], "training": {"epochs": 40, "batch_size": 16}}
    path = write_spec(tmp_path, spec)
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path), "--out", str(out), "--threads",
                               "1", "--jobs", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    deadline = time.time() + 240
    while time.time() < deadline and not list((out / "runs").glob("*.json")):
        time.sleep(0.2)
    work = [p for p in Path(tempfile.gettempdir()).glob(f"{folders.WORK_PREFIX}{driver.pid}-*")]
    driver.send_signal(signal.SIGKILL)  # no clean-up at all
    driver.wait()
    assert list((out / "runs").glob("*.json")), "the first run never finished"
    assert not (out / "summary.csv").exists() and work and all(p.exists() for p in work)

    assert main(["report", str(out)]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.status) == ["ok"] and list(summary.seed) == [0]  # the finished run, and only it
    assert "report.md" in snapshot(out)
    with folders.work_dir():  # the next start removes the killed driver's working folder
        pass
    assert not any(p.exists() for p in work)


def test_sigterm_stops_the_workers_and_removes_the_working_folder(tmp_path):
    spec = {**IRIS, "name": "terminated", "training": {"epochs": 2000, "batch_size": 16}}
    path = write_spec(tmp_path, spec)
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-m", "harness", "run", str(path), "--out", str(out), "--threads",
                               "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CI": "1"})
    for line in driver.stdout:  # wait until the worker trains
        if "epoch 1/" in line:
            break
    work = list(Path(tempfile.gettempdir()).glob(f"{folders.WORK_PREFIX}{driver.pid}-*"))
    driver.terminate()
    assert driver.wait(timeout=60) == 130
    assert work and not any(p.exists() for p in work)
    assert json.loads((out / folders.MARKER).read_text())["written_by"] == "harness"


def test_report_refuses_a_folder_that_is_not_a_results_folder(tmp_path, capsys):
    before = user_files(tmp_path / "mine")
    assert main(["report", str(tmp_path / "mine")]) == 2
    assert "not a results folder" in one_error_line(capsys)
    assert snapshot(tmp_path / "mine") == before


@pytest.mark.parametrize("command", ["convert", "compare"])
def test_an_existing_output_file_is_not_overwritten(tmp_path, spec_path, capsys, command):
    target = tmp_path / ("trained.pt" if command == "convert" else "table.md")
    target.write_text("mine\n")
    weights = tmp_path / "w.weights.h5"
    weights.write_text("x")
    argv = (["convert", str(spec_path), "--from", "tensorflow", "--weights", str(weights), "--out", str(target)]
            if command == "convert" else ["compare", str(tmp_path), "--save", str(target)])
    assert main(argv) == 2
    assert "exists" in one_error_line(capsys) and target.read_text() == "mine\n"


# ----------------------------------------------------------------------------- random damage to a run store

REPORTS = ("report.md", "report.html", "report.tex")


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """A results folder of two stored runs (torch, seeds 0 and 1), trained once for the module."""
    folder = tmp_path_factory.mktemp("stored")
    path = write_spec(folder, {**IRIS, "name": "stored", "seeds": [0, 1]})
    assert main(["run", str(path), "--out", str(folder / "out"), *FAST, "--no-tensorboard"]) == 0
    return folder / "out"


def _damage(data: bytes, how: str, where: float, junk: bytes) -> bytes:
    cut = int(where * len(data))
    return {"truncate": data[:cut], "insert": data[:cut] + junk + data[cut:],
            "overwrite": data[:cut] + junk + data[cut + len(junk):], "empty": b""}[how]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["runs/0", "runs/1", "manifest.json", "summary.csv", "history.csv"]),
       how=st.sampled_from(["truncate", "insert", "overwrite", "empty"]),
       where=st.floats(0, 1), junk=st.binary(min_size=1, max_size=12), delete_tables=st.booleans())
def test_report_on_a_damaged_store_is_whole_or_one_line(stored, capsys, target, how, where, junk, delete_tables):
    """`report` on a store folder rebuilds the tables from runs/: a damaged record or manifest is refused in one
    line with the reports unchanged; damaged or deleted tables are rebuilt (they are derived, never the source)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out"
        shutil.copytree(stored, out)
        records = sorted(p for p in (out / "runs").glob("*.json"))
        path = records[int(target[-1])] if target.startswith("runs/") else out / target
        path.write_bytes(_damage(path.read_bytes(), how, where, junk))
        if delete_tables:
            for name in ("summary.csv", "history.csv"):
                (out / name).unlink(missing_ok=True)
        reports = {name: (out / name).read_bytes() for name in REPORTS}
        capsys.readouterr()
        status = main(["report", str(out)])
        captured = capsys.readouterr()
        assert status in (0, 2), captured.err
        if status == 2:
            assert len(captured.err.strip().splitlines()) == 1 and captured.err.startswith("error: ")
            assert {name: (out / name).read_bytes() for name in REPORTS} == reports
        else:
            summary = pd.read_csv(out / "summary.csv")
            assert sorted(summary.seed) == [0, 1] and set(summary.status) == {"ok"}


def test_a_folder_that_only_looks_like_a_stale_working_folder_survives(tmp_path):
    """The clean-up at start removes a dead driver's working folder only if its marker says so."""
    root = Path(tempfile.gettempdir())
    dead = 2 ** 22 + 12345  # above Linux's default pid_max: no such process
    lookalikes = {root / f"{folders.WORK_PREFIX}{dead}-mine": {"written_by": "harness", "kind": "results"},
                  root / f"{folders.WORK_PREFIX}{dead}-other": {"written_by": "harness", "kind": "work", "pid": 1}}
    stale = root / f"{folders.WORK_PREFIX}{dead}-stale"
    try:
        for folder, marker in {**lookalikes, stale: {"written_by": "harness", "kind": "work", "pid": dead}}.items():
            folder.mkdir()
            (folder / folders.MARKER).write_text(json.dumps(marker))
            (folder / "notes.txt").write_text("precious\n")
        assert stale in folders.clean_stale()
        assert not stale.exists() and all((folder / "notes.txt").read_text() == "precious\n" for folder in lookalikes)
    finally:
        for folder in [*lookalikes, stale]:
            shutil.rmtree(folder, ignore_errors=True)


def test_a_linked_tensorboard_folder_is_never_followed(tmp_path, spec_path):
    out = tmp_path / "out"
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 0
    mine = tmp_path / "mytb"
    mine.mkdir()
    (mine / "events.out.tfevents.123.host.1.0").write_text("my events\n")
    shutil.rmtree(out / "tensorboard" / "torch-seed0")
    (out / "tensorboard" / "torch-seed0").symlink_to(mine)
    assert main(["run", str(spec_path), "--out", str(out), *FAST, "--force"]) == 0
    assert snapshot(mine) == {"events.out.tfevents.123.host.1.0": hashlib.sha256(b"my events\n").hexdigest()}
    assert [p.name for p in (out / "tensorboard").iterdir() if p.name.startswith("torch-seed0-")]  # events beside


@pytest.mark.parametrize("damage", ["another run's record", "a folder", "a pipe", "no epochs"])
def test_report_refuses_a_record_that_is_not_its_run(stored, tmp_path, capsys, damage):
    out = tmp_path / "out"
    shutil.copytree(stored, out)
    first, second = sorted((out / "runs").glob("*.json"))
    if damage == "another run's record":
        first.write_bytes(second.read_bytes())
    elif damage == "no epochs":
        first.write_text(json.dumps({**json.loads(first.read_text()), "epochs": []}))
    else:
        first.unlink()
        first.mkdir() if damage == "a folder" else os.mkfifo(first)
    reports = {name: (out / name).read_bytes() for name in REPORTS}
    assert main(["report", str(out)]) == 2
    assert first.name in one_error_line(capsys)
    assert {name: (out / name).read_bytes() for name in REPORTS} == reports


def test_a_dangling_link_is_an_existing_output(tmp_path, capsys):
    save = tmp_path / "table.md"
    save.symlink_to(tmp_path / "elsewhere.md")
    assert main(["compare", str(tmp_path), "--save", str(save)]) == 2
    assert "exists" in one_error_line(capsys) and not (tmp_path / "elsewhere.md").exists()


def test_another_experiment_is_not_written_over_a_results_folder(tmp_path, spec_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(spec_path), "--out", str(out), *FAST]) == 0
    before = snapshot(out)
    other = write_spec(tmp_path, {**IRIS, "name": "other"}, name="other.yaml")
    capsys.readouterr()
    assert main(["run", str(other), "--out", str(out), *FAST]) == 2
    assert "holds the results of experiment 'safety', not 'other'" in one_error_line(capsys)
    assert snapshot(out) == before
