"""Sweeps: axes validated like the spec, one file per finished run, no run repeated after the driver is killed,
a run whose worker dies is retried."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.validate import parse_spec
from harness.launch import local
from harness.results import store
from harness.sweep import expand as sweep
from harness.sweep.run import run_sweep

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "name": "tiny_sweep", "data": {"dataset": "iris"},
    "model": {"input_shape": [4], "layers": [{"type": "dense", "units": 6, "activation": "relu"},
                                             {"type": "dense", "units": 3, "activation": "softmax"}]},
    "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "momentum": 0.9},
    "training": {"epochs": 2, "batch_size": 16}, "seeds": [0],
    "sweep": {"optimizer.learning_rate": [0.01, 0.1]},
}


def _points(raw):
    return sweep.expand(parse_spec(raw), raw)


def test_axes_expand_to_complete_specs():
    raw = {**BASE, "sweep": {"optimizer.learning_rate": [0.01, 0.1], "training.batch_size": [1, "full"]}}
    points = _points(raw)
    assert [p.params for p in points] == [
        {"optimizer.learning_rate": 0.01, "training.batch_size": 1},
        {"optimizer.learning_rate": 0.01, "training.batch_size": "full"},
        {"optimizer.learning_rate": 0.1, "training.batch_size": 1},
        {"optimizer.learning_rate": 0.1, "training.batch_size": "full"}]
    assert points[3].spec.optimizer.learning_rate == 0.1 and points[3].spec.training.batch_size == "full"
    assert points[3].spec.sweep is None
    zipped = _points({**raw, "mode": "zip"})
    assert [p.params["training.batch_size"] for p in zipped] == [1, "full"]


@pytest.mark.parametrize("axes,mode,expected", [
    ({"optimizer.learning_rate": [0.1, -1.0]}, "product", "sweep.optimizer.learning_rate: point"),
    ({"optimizer.learning_rte": [0.1]}, "product", "learning_rte: is not a known field"),
    ({"model.layers.7.units": [3]}, "product", "sweep.model.layers.7.units: is not a path into the spec"),
    ({"training.batch_size": ["half"]}, "product", "expected a positive integer or 'full'; received 'half'"),
    ({"seeds": [[0], [1]]}, "product", "sweep.seeds: seeds are swept automatically"),
    ({"optimizer.learning_rate": [0.1, 0.2], "training.epochs": [1]}, "zip", "mode zip needs axes of equal length"),
])
def test_bad_axes_are_one_line_errors(axes, mode, expected):
    with pytest.raises(SpecError) as error:
        _points({**BASE, "sweep": axes, "mode": mode})
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_run_keys_change_with_what_determines_the_result():
    spec = _points(BASE)[0].spec
    key = store.run_key(spec, "torch", 0)
    assert key == store.run_key(parse_spec(spec_dump(spec)), "torch", 0)
    assert len({key, store.run_key(spec, "tensorflow", 0), store.run_key(spec, "torch", 1),
                store.run_key(_points(BASE)[1].spec, "torch", 0)}) == 4
    # the run list, the report's analysis and the names do not change what one run computes
    raw = spec_dump(spec)
    same = {**raw, "name": "other", "description": "x", "seeds": [0, 5], "frameworks": ["torch"],
            "analysis": {"margins": {"test_accuracy": 0.02}}}
    assert store.run_key(parse_spec(same), "torch", 0) == key


def test_a_worker_killed_mid_run_is_recorded_and_retried(tmp_path, monkeypatch):
    """The first worker of one run kills itself with SIGKILL (as the OOM killer would); the retry finishes it."""
    marker = tmp_path / "killed-once"
    def dying_once(job_path):
        script = ("import os, signal, sys\n"
                  f"marker = {str(marker)!r}\n"
                  "if not os.path.exists(marker):\n"
                  "    open(marker, 'w').close(); os.kill(os.getpid(), signal.SIGKILL)\n"
                  "from harness.jobs.execute import main; sys.exit(main([sys.argv[1]]))\n")
        return [sys.executable, "-c", script, str(job_path)]

    monkeypatch.setattr(local, "worker_command", dying_once)
    lines = []
    raw = {**BASE, "frameworks": ["torch"], "sweep": {"optimizer.learning_rate": [0.1]}}
    out, _ = run_sweep(parse_spec(raw), raw, tmp_path / "out", log=lines.append)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["status"]) == ["ok"] and list(summary["attempts"]) == [2]
    assert any("worker process died (exit status -9)" in line and "retrying (attempt 2 of 3)" in line
               for line in lines)


def test_the_metric_is_the_datas_whatever_the_loss(tmp_path):
    """A classification dataset trained with mse tracks accuracy, also for a stored run that does not name its
    metric (a record from before records carried one): the sweep asks the data, not a rule of the loss."""
    raw = {**BASE, "loss": "mse", "frameworks": ["torch"], "training": {"epochs": 1, "batch_size": 16},
           "sweep": {"optimizer.learning_rate": [0.1]}}
    out, _ = run_sweep(parse_spec(raw), raw, tmp_path / "out", log=lambda line: None)
    assert "final_val_accuracy" in pd.read_csv(out / "summary.csv")
    [record_path] = (out / "runs").glob("*.json")
    record = json.loads(record_path.read_text())
    del record["metric"]
    record_path.write_text(json.dumps(record))
    run_sweep(parse_spec(raw), raw, out, log=lambda line: None)  # the run is finished: kept, tables rebuilt
    summary = pd.read_csv(out / "summary.csv")
    assert "final_val_accuracy" in summary and "final_val_mae" not in summary
    assert set(pd.read_csv(out / "history.csv")["metric"]) == {"loss", "accuracy", "epoch_seconds"}


def test_killing_the_driver_then_restarting_finishes_every_run_exactly_once(tmp_path):
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "harness", "run", str(spec_path), "--out", str(out), "--threads", "1"]
    driver = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "runs").glob("*.json")):
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
    driver.wait()
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in (out / "runs").glob("*.json")}
    assert 1 <= len(before) < 4, "the kill came after the first and before the last run"
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already finished, {4 - len(before)} to run" in done.stdout
    after = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in (out / "runs").glob("*.json")}
    assert len(after) == 4
    assert all(after[name] == before[name] for name in before)  # finished runs were not run again
    records = [json.loads(path.read_text()) for path in (out / "runs").glob("*.json")]
    assert all(record["status"] == "ok" and record["attempts"] == 1 for record in records)
    assert len(pd.read_csv(out / "summary.csv")) == 4


def test_sweep_from_the_command_line(tmp_path, capsys):
    spec_path = tmp_path / "sweep.yaml"
    spec_path.write_text(yaml.safe_dump({**BASE, "frameworks": ["torch"]}))
    assert main(["run", str(spec_path), "--out", str(tmp_path / "out"), "--jobs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "| optimizer.learning_rate |" in printed.replace("   ", " ") or "optimizer.learning_rate" in printed
    assert (tmp_path / "out" / "sweep_optimizer_learning_rate.png").stat().st_size > 5000
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert sorted(summary["sweep:optimizer.learning_rate"]) == [0.01, 0.1] and summary["contended"].all()


def test_local_and_ray_executors_give_identical_final_metrics(tmp_path):
    """mlp_mnist1d over 2 learning rates x 2 frameworks x 2 seeds, 2 epochs: local processes, then a real local
    Ray instance. Same worker code, one fresh process per run, one thread each: bit-identical figures."""
    raw = yaml.safe_load((ROOT / "experiments" / "mlp_mnist1d.yaml").read_text())
    raw.update(seeds=[0, 1], training={**raw["training"], "epochs": 2},
               sweep={"optimizer.learning_rate": [0.001, 0.01]})
    spec = parse_spec(raw)
    figures = ["final_train_loss", "final_val_loss", "test_loss", "test_accuracy"]
    tables = {}
    for executor in ("local", "ray"):
        out, _ = run_sweep(spec, raw, tmp_path / executor, executor=executor, jobs=2, threads=1, log=lambda line: None)
        summary = pd.read_csv(out / "summary.csv").sort_values(["key"]).reset_index(drop=True)
        assert len(summary) == 8 and (summary["status"] == "ok").all()
        tables[executor] = summary
    assert list(tables["local"]["key"]) == list(tables["ray"]["key"])
    pd.testing.assert_frame_equal(tables["local"][figures], tables["ray"][figures], check_exact=True)
