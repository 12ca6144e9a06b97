"""PyTorch's compiled_step mode trains what eager mode trains, compiles once per batch shape, and is reachable from
`harness run --execution` and `harness parity --modes`; bad execution settings are one line and exit 2.

A compile costs seconds per graph on this machine (tens on a cold inductor cache), so the in-process case packs
most options into one spec: batch normalization, SGD with Nesterov momentum under a per-batch schedule, clipnorm,
class weights, and a last partial batch (150 iris samples, 120 for training, batch 32: 24 samples in the last).
"""

import json
import subprocess
import sys

import pytest
import yaml
from conftest import SEED, dense, make_spec

from harness.core import data, init
from harness.jobs.train import fit
from harness.parity.modes import TOLERANCE

EPOCHS = 3
COMPILED = ("compiled_step", {"compiled_step": True})


def _options_spec():
    return make_spec([dense(16, "relu"), {"type": "batch_normalization"}, dense(3, "softmax")],
                     optimizer={"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": True,
                                "clipnorm": 1.0, "schedule": {"type": "exponential_decay", "decay_steps": 4,
                                                              "decay_rate": 0.8}},
                     data={"validation_split": 0.1}, training={"epochs": EPOCHS, "batch_size": 32,
                                                               "class_weight": "balanced"})


def test_compiled_step_trains_what_eager_trains_and_compiles_once_per_shape(torch_adapter):
    import torch._dynamo.utils

    spec = _options_spec()
    dataset, weights = data.prepare(spec), init.initial_weights(spec.model, SEED)
    eager = fit(torch_adapter, spec, dataset, SEED, weights, execution=("eager", {}))
    graphs = []
    compiled = fit(torch_adapter, spec, dataset, SEED, weights, execution=COMPILED,
                   on_epoch=lambda row: graphs.append(torch._dynamo.utils.counters["stats"]["unique_graphs"]))
    assert compiled["execution"] == {"mode": "compiled_step", "compile": False, "compiled_step": True}
    for ours, theirs in zip(compiled["epochs"], eager["epochs"]):
        for key in ("loss", "val_loss", "learning_rate"):
            assert abs(ours[key] - theirs[key]) <= TOLERANCE * max(1.0, abs(theirs[key])), (ours["epoch"], key)
        assert len(ours["batch_losses"]) == len(theirs["batch_losses"]) == 4  # 3 full batches and a partial one
    # the full and the partial batch: two graphs in the first epoch, none after it
    assert graphs[1:] == graphs[:1] * (EPOCHS - 1), graphs


def _write_spec(tmp_path, spec_dict) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict))
    return str(path)


SMALL = {"name": "modes_small", "data": {"dataset": "iris", "validation_split": 0.1},
         "loss": "categorical_crossentropy", "optimizer": {"type": "adam", "learning_rate": 0.01},
         "frameworks": ["torch"], "seeds": [0],
         "model": {"input_shape": [4], "layers": [dense(8, "relu"), {"type": "dropout", "rate": 0.2},
                                                  dense(3, "softmax")]},
         "training": {"epochs": 2, "batch_size": 32}}


def _cli(*arguments, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness", *arguments], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_harness_parity_modes_passes_and_run_records_the_mode(tmp_path):
    spec_path = _write_spec(tmp_path, SMALL)
    done = _cli("parity", spec_path, "--modes", "torch:compiled_step", "--epochs", "2", "--out",
                str(tmp_path / "modes"))
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads((tmp_path / "modes" / "modes.json").read_text())
    assert [(row["mode"], row["passed"]) for row in found["rows"]] == [("eager", True), ("compiled_step", True)]
    assert "dropout layers removed" in (tmp_path / "modes" / "modes.md").read_text()
    done = _cli("run", spec_path, "--execution", "torch=compiled_step", "--out", str(tmp_path / "run"),
                "--no-tensorboard", "--threads", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(next((tmp_path / "run" / "runs").glob("*.json")).read_text())
    assert record["execution"]["mode"] == "compiled_step" and record["status"] == "ok"


@pytest.mark.parametrize("arguments, expected", [
    (["run", "{spec}", "--execution", "torch=fast"],
     "training.execution: expected a mode of torch among eager, compile, compiled_step; received 'fast'"),
    (["run", "{spec}", "--execution", "torch"], "--execution: expected FRAMEWORK=MODE"),
    (["run", "{spec}", "--execution", "jax=eager"],
     "training.execution: expected frameworks among tensorflow, torch, keras_torch; received 'jax'"),
    (["parity", "{spec}", "--modes", "warp"], "--modes: expected modes of torch"),
], ids=["unknown-mode", "no-equals", "unknown-framework", "parity-unknown-mode"])
def test_bad_execution_settings_are_one_line(tmp_path, arguments, expected):
    spec_path = _write_spec(tmp_path, SMALL)
    done = _cli(*[argument.format(spec=spec_path) for argument in arguments], cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert expected in done.stderr, done.stderr
    assert not (tmp_path / "results").exists()
