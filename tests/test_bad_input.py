"""Bad input: one line naming the field, what is allowed and what was received; exit status 2; no traceback."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import one_error_line, write_spec

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
BASE = yaml.safe_load((ROOT / "experiments" / "mlp_mnist1d.yaml").read_text())


def _set(path: str, value):
    """A mutation that sets a dotted path ('model.layers.0.units') in a copy of the base spec."""
    def mutate(spec):
        *parents, last = path.split(".")
        node = spec
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return mutate


# (case, mutation, what the one line must contain)
CASES = [
    ("unknown layer", _set("model.layers.0.type", "conv9"),
     ["model.layers[0]", "unknown type 'conv9'", "'dense'", "'flatten'"]),
    ("unknown activation", _set("model.layers.0.activation", "swish2"),
     ["model.layers[0].activation", "'relu'", "received 'swish2'"]),
    ("unknown activation layer", _set("model.layers.1", {"type": "activation", "activation": "mish"}),
     ["model.layers[1].activation", "'gelu'", "received 'mish'"]),
    ("unknown loss", _set("loss", "hinge"), ["loss:", "'mse'", "received 'hinge'"]),
    ("unknown optimizer", _set("optimizer", {"type": "lbfgs"}), ["optimizer:", "'adam'", "'lbfgs'"]),
    ("unknown optimizer shorthand", _set("optimizer", "lbfgs"), ["optimizer:", "'sgd'", "'lbfgs'"]),
    ("unknown dataset", _set("data.dataset", "cifar"), ["data.dataset", "'mnist1d'", "received 'cifar'"]),
    ("zero units", _set("model.layers.0.units", 0), ["model.layers[0].units", "greater than 0", "received 0"]),
    ("negative units", _set("model.layers.2.units", -3), ["model.layers[2].units", "greater than 0", "received -3"]),
    ("dropout rate 1", _set("model.layers.1.rate", 1.0), ["model.layers[1].rate", "[0, 1)", "received 1.0"]),
    ("dropout rate negative", _set("model.layers.1.rate", -0.1), ["model.layers[1].rate", "[0, 1)", "-0.1"]),
    ("cce on one unit", _set("model.layers.2", {"type": "dense", "units": 1, "activation": "softmax"}),
     ["loss:", "categorical_crossentropy needs at least 2 output units", "[1]"]),
    ("cce on a linear output", _set("model.layers.2.activation", "linear"),
     ["loss:", "'softmax'", "activation 'linear'"]),
    ("bce on a softmax output", _set("loss", "binary_crossentropy"), ["loss:", "'sigmoid'", "'softmax'"]),
    ("labels do not fit the output", _set("model.layers.2.units", 5),
     ["data:", "10 classes", "outputs 5 units"]),
    ("input shape does not fit the data", _set("model.input_shape", [30]),
     ["model.input_shape", "[30]", "[40]"]),
    ("extra key", _set("colour", "blue"), ["colour", "not a known field"]),
    ("missing key", lambda spec: spec.pop("loss"), ["loss", "is required"]),
    ("negative learning rate", _set("optimizer.learning_rate", -1), ["optimizer.learning_rate", "received -1"]),
    ("bad batch size", _set("training.batch_size", "half"), ["training.batch_size", "'full'", "received 'half'"]),
    ("regression data with cross-entropy", _set("data.dataset", "diabetes"),
     ["loss:", "needs class labels", "regression dataset", "mse"]),
    ("repeated seeds", _set("seeds", [1, 1]), ["seeds", "[1, 1]"]),
    ("unknown framework", _set("frameworks", ["jax"]), ["frameworks[0]", "'torch'", "received 'jax'"]),
    ("early stopping without validation", _set("data.validation_split", 0.0),
     ["training.early_stopping.monitor", "validation_split"]),
    ("csv without a path", _set("data", {"dataset": "csv", "target": "y"}), ["data", "needs `path`"]),
    ("csv file missing", _set("data", {"dataset": "csv", "path": "/nonexistent.csv", "target": "y"}),
     ["data.path", "file not found"]),
]


@pytest.mark.parametrize("case,mutate,expected", CASES, ids=[case[0] for case in CASES])
def test_bad_spec_gets_one_line_and_status_2(tmp_path, capsys, case, mutate, expected):
    spec = copy.deepcopy(BASE)
    mutate(spec)
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: ")
    for fragment in expected:
        assert fragment in line, line


@pytest.mark.parametrize("text,expected", [
    ("name: x\nmodel: [unclosed\n", "not valid YAML at line 3"),
    ("name: x\n  bad: indent\n", "not valid YAML at line 2"),
    ("- just\n- a list\n", "must hold a mapping"),
])
def test_malformed_yaml(tmp_path, capsys, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    assert expected in one_error_line(capsys)


def test_malformed_json(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"name": "x",')
    assert main(["validate", str(path)]) == 2
    assert "not valid JSON" in one_error_line(capsys)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_missing_file(tmp_path, capsys, command):
    assert main([command, str(tmp_path / "nope.yaml")]) == 2
    assert "spec file not found" in one_error_line(capsys)


def _status(argv) -> int:
    """main's exit status; argparse refuses a bad command-line value by exiting (status 2, one line)."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


@pytest.mark.parametrize("arguments,expected", [
    (["--epochs", "0"], "--epochs: expected an integer in [1, 100,000]; received 0"),
    (["--threads", "0"], "--threads: expected an integer in [1, "),
])
def test_bad_command_line_values(tmp_path, capsys, arguments, expected):
    spec = write_spec(tmp_path, BASE)
    assert _status(["run", str(spec), *arguments, "--out", str(tmp_path / "out")]) == 2
    assert expected in one_error_line(capsys)


def test_report_on_a_folder_that_is_not_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a results folder" in one_error_line(capsys)


def test_bad_run_leaves_existing_results_untouched(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    (out / "summary.csv").write_text("framework,seed\ntorch,0\n")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    spec = copy.deepcopy(BASE)
    spec["model"]["layers"][2]["units"] = 7  # caught when the data are prepared, before anything is written
    assert main(["run", str(write_spec(tmp_path, spec)), "--out", str(out)]) == 2
    one_error_line(capsys)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_real_process_exit_status_and_no_traceback(tmp_path):
    spec = copy.deepcopy(BASE)
    spec["model"]["layers"][1]["rate"] = 1.5
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(write_spec(tmp_path, spec))],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ})
    assert done.returncode == 2
    assert done.stderr.strip() == "error: model.layers[1].rate: expected a float in [0, 1); received 1.5"
    assert done.stdout == ""
