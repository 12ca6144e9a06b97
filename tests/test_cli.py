"""The command line end to end on small data, with real worker processes, and the fast-start promise."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.launch import local, pool

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORK_MODULES = ("tensorflow", "torch", "keras")

IRIS = {
    "name": "iris_small", "description": "end-to-end test",
    "data": {"dataset": "iris", "validation_split": 0.2},
    "model": {"input_shape": [4], "layers": [
        {"type": "dense", "units": 8, "activation": "relu", "kernel_regularizer": {"l2": 0.001}},
        {"type": "dense", "units": 3, "activation": "softmax"}]},
    "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    "training": {"epochs": 3, "batch_size": 16}, "seeds": [0],
}


def _harness(*args, cwd):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("code", [
    "import harness, harness.cli.commands, harness.run.experiment, harness.report.markdown, harness.jobs.train, "
    "harness.jobs.execute",
    "import harness.bench.run, harness.jobs.measure, harness.bench.report, harness.bench.plots, harness.core.flops",
])  # what the commands themselves load (--help, list, schema, validate, ...) is tests/test_layout.py's probe
def test_no_framework_is_imported(code):
    probe = code + ("\nimport sys\nprint('LOADED', sorted(m for m in sys.modules "
                    f"if m.split('.')[0] in {FRAMEWORK_MODULES}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED []"


def test_list_and_schema(capsys):
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    for fragment in ("datasets:", "mnist1d", "optimizers:", "adamw", "activations:", "gelu", "experiments:",
                     "experiments/mlp_mnist1d.yaml"):
        assert fragment in listing
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["required"]) >= {"name", "data", "model", "loss", "optimizer"}
    assert schema["additionalProperties"] is False


def test_run_end_to_end(tmp_path):
    spec = tmp_path / "iris.yaml"
    spec.write_text(yaml.safe_dump(IRIS))
    out = tmp_path / "out"
    done = _harness("run", str(spec), "--out", str(out), "--seeds", "0", "1", "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tensorflow" in done.stdout and "torch" in done.stdout and f"report: {out}/report.md" in done.stdout
    for name in ("history.csv", "summary.csv", "report.md", "loss_curves.png", "accuracy_curves.png",
                 "manifest.json"):
        assert (out / name).is_file(), name
    history = pd.read_csv(out / "history.csv")
    assert list(history.columns) == ["framework", "seed", "epoch", "split", "metric", "value"]
    # 2 frameworks x 2 seeds x 3 epochs x (train loss, accuracy, epoch_seconds + val loss, accuracy)
    assert len(history) == 2 * 2 * 3 * 5
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(zip(summary.framework, summary.seed)) == [("tensorflow", 0), ("tensorflow", 1), ("torch", 0),
                                                            ("torch", 1)]
    assert (summary.status == "ok").all() and (summary.params == 8 * 4 + 8 + 3 * 8 + 3).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["matched"]["threads"] == 1
    assert manifest["frameworks"]["torch"]["threads"]["intra_op_threads"] == 1
    assert manifest["frameworks"]["torch"]["hyperparameters"]["optimizer"]["momentum"] == 0.9
    assert manifest["frameworks"]["tensorflow"]["hyperparameters"]["optimizer"]["momentum"] == 0.9
    # Same weights, same batches, SGD and no dropout: the two frameworks' curves agree closely (float32).
    losses = history[history.metric == "loss"].pivot_table(index=["seed", "epoch", "split"], columns="framework",
                                                            values="value")
    assert (losses.tensorflow - losses.torch).abs().max() < 1e-5
    # Every run's final weights, in its framework's own file and as canonical .npz, listed in the manifest; the
    # two files hold the same weights (harness convert reads the framework's file back to canonical, exactly).
    assert [(entry["framework"], entry["seed"]) for entry in manifest["weights"]] == [
        ("tensorflow", 0), ("torch", 0), ("tensorflow", 1), ("torch", 1)]
    for entry in manifest["weights"]:
        assert (out / entry["file"]).is_file() and (out / entry["canonical"]).is_file()
    back = tmp_path / "back.npz"
    done = _harness("convert", str(spec), "--from", "torch", "--weights", str(out / "weights/torch-seed1.pt"), "--out",
                    str(back), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with np.load(back) as converted, np.load(out / "weights/torch-seed1.weights.npz") as saved:
        assert converted.files == saved.files == ["layers[0].kernel", "layers[0].bias", "layers[1].kernel",
                                                  "layers[1].bias"]
        assert all(np.array_equal(converted[key], saved[key]) for key in saved.files)
    report = (out / "report.md").read_text()
    (out / "report.md").unlink()
    done = _harness("report", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (out / "report.md").read_text() == report


def test_diverged_run_is_marked_and_reported(tmp_path):
    spec = {**IRIS, "name": "boom", "optimizer": {"type": "sgd", "learning_rate": 1e8}}
    path = tmp_path / "boom.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--frameworks", "torch", "--in-process"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.status) == ["diverged"] and summary.epochs_run[0] == 1
    assert "diverged" in (out / "report.md").read_text()
    assert not (out / "weights").exists()  # a diverged run's weights are not saved


def test_a_dead_worker_is_a_failed_run_and_the_others_go_on(tmp_path, monkeypatch):
    spec = {**IRIS, "name": "crash", "seeds": [0, 1]}
    path = tmp_path / "crash.yaml"
    path.write_text(yaml.safe_dump(spec))
    real = local.worker_command

    def crash_seed_1(job_path):  # the worker for seed 1 dies at once, as a killed process would
        if "seed1" in str(job_path):
            return [sys.executable, "-c", "import sys; sys.stderr.write('out of memory\\n'); sys.exit(137)"]
        return real(job_path)

    monkeypatch.setattr(local, "worker_command", crash_seed_1)
    monkeypatch.setattr(pool.Pool, "warm", lambda self, frameworks: None)  # every worker through worker_command
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--frameworks", "torch", "--no-save-weights"]) == 1
    assert not (out / "weights").exists() and json.loads((out / "manifest.json").read_text())["weights"] == []
    summary = pd.read_csv(out / "summary.csv").set_index("seed")
    assert summary.loc[0, "status"] == "ok"
    assert summary.loc[1, "status"] == "failed"
    assert "exit status 137" in summary.loc[1, "error"] and "out of memory" in summary.loc[1, "error"]
