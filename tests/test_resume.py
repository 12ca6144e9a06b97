"""Checkpoints and `harness run --resume`: a run killed with SIGKILL in the middle of an epoch, in each framework,
and resumed, ends with the same history.csv (timings aside) and bit-identical final weights as a run that was
never interrupted; and a damaged or foreign checkpoint is refused with one line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.core import checkpoint
from harness.core.errors import SpecError

HARNESS = [sys.executable, "-m", "harness"]
# Dropout (each framework's own RNG stream), Adam's slots and counter, a per-batch schedule's step, early
# stopping's counters and the best weights it keeps: every piece of state a resumed run must restore to continue
# bit for bit.
SPEC = {
    "name": "resume", "data": {"dataset": "digits", "validation_split": 0.2},
    "model": {"input_shape": [64], "layers": [{"type": "dense", "units": 32, "activation": "relu"},
                                              {"type": "dropout", "rate": 0.3},
                                              {"type": "dense", "units": 10, "activation": "softmax"}]},
    "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.003, "schedule": {
        "type": "exponential_decay", "decay_steps": 50, "decay_rate": 0.7}},
    "training": {"epochs": 4, "batch_size": 8, "checkpoint_every": 1,
                 "early_stopping": {"patience": 10, "restore_best_weights": True}},
    "seeds": [0],
}
TIMINGS = ("epoch_seconds",)  # history.csv's metrics that are wall-clock times


def _untimed(path: Path) -> pd.DataFrame:
    history = pd.read_csv(path)
    return history[~history["metric"].isin(TIMINGS)].reset_index(drop=True)


def _write_spec(tmp_path: Path, **training) -> Path:
    spec = {**SPEC, "training": {**SPEC["training"], **training}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _run(spec: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HARNESS, "run", str(spec), "--out", str(out), "--threads", "1", "--jobs", "1", *extra],
                          capture_output=True, text=True, timeout=600)


def _kill_at_checkpoint(spec: Path, out: Path, key: str, *extra: str) -> None:
    """Starts `harness run`, and kills its whole process group with SIGKILL shortly after run `key`'s first
    checkpoint appears: in the middle of the next epoch."""
    process = subprocess.Popen([*HARNESS, "run", str(spec), "--out", str(out), "--threads", "1", "--jobs", "1", *extra],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoints" / f"{key}.npz").is_file():
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before its checkpoint"
            time.sleep(0.02)
        time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _keys(out: Path) -> dict:
    planned = json.loads((out / "manifest.json").read_text())["planned_runs"]
    return {run["framework"]: run["key"] for run in planned}


def _wait_for_manifest(spec: Path, out: Path) -> dict:
    """The run keys, from a dry start that is stopped at once (the manifest is written before training)."""
    process = subprocess.Popen([*HARNESS, "run", str(spec), "--out", str(out), "--threads", "1", "--jobs", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while not (out / "manifest.json").is_file():
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return _keys(out)


def test_a_run_killed_mid_epoch_and_resumed_equals_an_uninterrupted_run(tmp_path):
    spec = _write_spec(tmp_path)
    reference = _run(spec, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-2000:]
    out = tmp_path / "killed"
    keys = _wait_for_manifest(spec, out)
    _kill_at_checkpoint(spec, out, keys["tensorflow"])  # TensorFlow killed in epoch 2
    assert not (out / "runs").exists() or not list((out / "runs").glob("*.json")), "killed before any run finished"
    _kill_at_checkpoint(spec, out, keys["torch"], "--resume")  # TensorFlow resumed and finished; torch killed
    finished = _run(spec, out, "--resume")
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "torch seed 0: resumes from its checkpoint after epoch" in finished.stdout
    expected, found = (_untimed(folder / "history.csv") for folder in (tmp_path / "reference", out))
    assert set(expected["metric"]) >= {"loss", "accuracy", "learning_rate"}
    pd.testing.assert_frame_equal(found, expected, check_exact=True)
    for framework in ("tensorflow", "torch"):
        name = f"weights/{framework}-seed0.weights.npz"
        with np.load(tmp_path / "reference" / name) as a, np.load(out / name) as b:
            assert a.files == b.files
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{framework} {key}")
    assert not list((out / "checkpoints").iterdir()), "a finished run's checkpoint is removed"


# ------------------------------------------------------------------------------------- hostile checkpoints

KEY = "0123456789abcdef0123"


def _saved(tmp_path: Path, loop: dict | None = None, **arrays) -> Path:
    path = tmp_path / f"{KEY}.npz"
    checkpoint.save(path, KEY, loop or {"rows": []}, arrays or {"model/0": np.zeros((2, 3), np.float32)})
    return path


EXPECTED = {"model/0": ((2, 3), np.dtype("float32"))}


def _text_file(tmp_path):
    path = tmp_path / f"{KEY}.npz"
    path.write_text("not a checkpoint")
    return path


def _pickled(tmp_path):
    path = tmp_path / f"{KEY}.npz"
    np.savez(path, loop=np.array(json.dumps({"format": 1, "key": KEY})), **{"model/0": np.array([object()])})
    return path


def _not_json(tmp_path):
    path = tmp_path / f"{KEY}.npz"
    np.savez(path, loop=np.array("{not json"), **{"model/0": np.zeros((2, 3), np.float32)})
    return path


def _truncated(tmp_path):
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    return path


def _foreign(tmp_path):
    path = tmp_path / f"{KEY}.npz"
    checkpoint.save(path, "ffffffffffffffffffff", {"rows": []}, {"model/0": np.zeros((2, 3), np.float32)})
    return path


BAD = [
    ("another kind of file", _text_file, "another kind of file"),
    ("a foreign run", _foreign, "is not a checkpoint of this run"),
    ("an object array", _pickled, "must be float32 of shape [2, 3]"),
    ("no JSON", _not_json, ""),
    ("a truncated archive", _truncated, ""),
    ("a missing array", lambda tmp: _saved(tmp, **{"model/1": np.zeros(3, np.float32)}), "missing 'model/0'"),
    ("another shape", lambda tmp: _saved(tmp, **{"model/0": np.zeros((3, 2), np.float32)}), "of shape [2, 3]"),
    ("another dtype", lambda tmp: _saved(tmp, **{"model/0": np.zeros((2, 3), np.float64)}), "must be float32"),
]


@pytest.mark.parametrize("make, words", [(make, words) for _, make, words in BAD], ids=[case for case, *_ in BAD])
def test_a_bad_checkpoint_is_one_line_naming_the_file(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(SpecError) as caught:
        checkpoint.load(path, KEY, EXPECTED, field="--resume")
    message = str(caught.value)
    assert "\n" not in message and words in message and message.startswith("--resume")


def test_a_good_checkpoint_round_trips(tmp_path):
    loop, arrays = checkpoint.load(_saved(tmp_path, {"rows": [{"epoch": 1, "loss": float("nan")}]}), KEY, EXPECTED)
    assert loop["rows"][0]["epoch"] == 1 and np.isnan(loop["rows"][0]["loss"])
    assert checkpoint.layout(arrays) == EXPECTED


def test_resume_refuses_a_damaged_checkpoint_before_training(tmp_path):
    spec = _write_spec(tmp_path)
    out = tmp_path / "out"
    keys = _wait_for_manifest(spec, out)
    (out / "checkpoints").mkdir(exist_ok=True)
    (out / "checkpoints" / f"{keys['tensorflow']}.npz").write_bytes(b"PK\x03\x04 damaged")
    result = _run(spec, out, "--resume")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("error: --resume:") and "damaged" in result.stderr


def test_resume_and_force_contradict(tmp_path):
    result = _run(_write_spec(tmp_path), tmp_path / "out", "--resume", "--force")
    assert result.returncode == 2 and "--resume" in result.stderr and "Traceback" not in result.stderr
