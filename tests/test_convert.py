"""`harness convert`: Keras .weights.h5 <-> torch .pt through the canonical layout. Real frameworks, no mocks.

Random weights (not the initializers' draws: zero biases or ones would hide a misplaced block) are saved by one
framework's own file writer, converted, converted back, and must come back bit for bit (the conversion only moves
and reshapes values). A round trip alone cannot see a mapping that is its own inverse (GRU gate blocks swapped or
not, a flatten order), so the converted model must also compute what the original computes: with either of those
broken, the outputs differ by 0.4 to 1.0.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import SEED, dense, forward
from harness import init, validate
from harness.cli import main
from harness.convert import convert

ROOT = Path(__file__).resolve().parent.parent
# Converted models compute the same function with the same float32 weights: only summation order differs.
FORWARD_TOLERANCE = 1e-5
VOCABULARY = 12
SUFFIX = {"tensorflow": ".weights.h5", "torch": ".pt"}
OTHER = {"tensorflow": "torch", "torch": "tensorflow"}


def _raw(name, input_shape, layers, standardize=True):
    return {"name": name, "data": {"dataset": "iris", "standardize": standardize},  # data is never loaded here
            "model": {"input_shape": input_shape, "layers": layers},
            "loss": "categorical_crossentropy", "optimizer": "sgd"}


# name -> raw spec: every layer type with weights, moving statistics included
SPECS = {
    "conv2d_batch_normalization": _raw("conv", [8, 8, 2], [
        {"type": "conv2d", "filters": 4, "kernel_size": [3, 2], "activation": "relu"},
        {"type": "batch_normalization"}, {"type": "max_pool2d"},
        {"type": "conv2d", "filters": 3, "kernel_size": 2, "padding": "same", "use_bias": False},
        {"type": "batch_normalization", "center": False}, {"type": "flatten"}, dense(3, "softmax")]),
    "conv1d_dense": _raw("conv1d", [10, 3], [
        {"type": "conv1d", "filters": 4, "kernel_size": 3, "strides": 2, "activation": "tanh"},
        {"type": "flatten"}, dense(5, "relu"), dense(3, "softmax")]),
    "gru_stack": _raw("gru", [6, 3], [{"type": "gru", "units": 5, "return_sequences": True},
                                      {"type": "gru", "units": 4}, dense(3, "softmax")]),
    "embedding_lstm_simple_rnn": _raw("lstm", [6], [
        {"type": "embedding", "input_dim": VOCABULARY, "output_dim": 4},
        {"type": "lstm", "units": 5, "return_sequences": True}, {"type": "simple_rnn", "units": 4},
        dense(3, "softmax")], standardize=False),
}


def _random_weights(spec) -> list[np.ndarray]:
    """Every canonical weight drawn at random (moving variances positive), float32."""
    rng = np.random.default_rng([SEED, 5])
    return [(rng.uniform(0.5, 2.0, array.shape) if name.endswith("moving_variance") else rng.normal(size=array.shape))
            .astype(np.float32) for name, array, _ in init.canonical_weights(spec.model, SEED)]


def _inputs(spec) -> np.ndarray:
    rng = np.random.default_rng([SEED, 6])
    shape = (16, *spec.model.input_shape)
    if spec.model.layers[0].type == "embedding":
        return rng.integers(0, VOCABULARY, shape).astype(np.float32)
    return rng.normal(size=shape).astype(np.float32)


def _saved(adapter, spec, weights, path: Path):
    model = adapter.build_model(spec.model, seed=SEED)
    adapter.set_weights(model, weights)
    adapter.save_weights(model, path)
    return model


def _loaded(adapter, spec, path: Path):
    model = adapter.build_model(spec.model, seed=SEED + 1)  # other initial weights: the file must replace them all
    adapter.load_weights(model, path)
    return model


def _assert_identical(got: list, expected: list, what: str) -> None:
    assert [w.shape for w in got] == [w.shape for w in expected], what
    for index, (a, b) in enumerate(zip(got, expected)):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"{what}: weight {index} differs"


@pytest.mark.parametrize("source", ["tensorflow", "torch"])
@pytest.mark.parametrize("case", SPECS)
def test_a_round_trip_is_bit_identical_and_computes_the_same(adapters, tmp_path, case, source):
    spec = validate.parse_spec(SPECS[case])
    target = OTHER[source]
    weights = _random_weights(spec)
    original = tmp_path / f"original{SUFFIX[source]}"
    converted, back = tmp_path / f"converted{SUFFIX[target]}", tmp_path / f"back{SUFFIX[source]}"
    source_model = _saved(adapters[source], spec, weights, original)

    assert convert(spec, source, original, converted, in_process=True, log=lambda line: None) == converted
    convert(spec, target, converted, back, in_process=True, log=lambda line: None)

    target_model = _loaded(adapters[target], spec, converted)
    _assert_identical(adapters[target].get_weights(target_model), weights, f"{target} after conversion")
    _assert_identical(adapters[source].get_weights(_loaded(adapters[source], spec, back)), weights, "round trip")
    outputs = forward({source: source_model, target: target_model}, _inputs(spec))
    np.testing.assert_allclose(outputs["torch"], outputs["tensorflow"], rtol=0, atol=FORWARD_TOLERANCE)


def test_harness_convert_round_trip_in_worker_processes(adapters, tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPECS["conv2d_batch_normalization"]))
    spec = validate.load_spec(spec_path)
    weights = _random_weights(spec)
    _saved(adapters["tensorflow"], spec, weights, tmp_path / "model.weights.h5")
    for source, weights_file, out in (("tensorflow", "model.weights.h5", "model.pt"),
                                      ("torch", "model.pt", "back.weights.h5")):
        done = subprocess.run([sys.executable, "-m", "harness", "convert", str(spec_path), "--from", source,
                               "--weights", str(tmp_path / weights_file), "--out", str(tmp_path / out)],
                              capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"wrote {tmp_path / out}" in done.stdout
    _assert_identical(adapters["torch"].get_weights(_loaded(adapters["torch"], spec, tmp_path / "model.pt")),
                      weights, "torch")
    back = _loaded(adapters["tensorflow"], spec, tmp_path / "back.weights.h5")
    _assert_identical(adapters["tensorflow"].get_weights(back), weights, "round trip")


# (source, weights file name, whether it exists, out file name) -> the one line on stderr
BAD_INPUT = {
    "weights_suffix": (("tensorflow", "model.h5", True, "model.pt"),
                       "error: --weights: a tensorflow weights file must end in .weights.h5; received model.h5"),
    "out_suffix": (("tensorflow", "model.weights.h5", True, "model.pth"),
                   "error: --out: a torch weights file must end in .pt; received model.pth"),
    "torch_weights_suffix": (("torch", "model.weights.h5", True, "back.weights.h5"),
                             "error: --weights: a torch weights file must end in .pt; received model.weights.h5"),
    "missing_file": (("torch", "missing.pt", False, "model.weights.h5"), "error: --weights: file not found: "),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, case):
    (source, weights_name, exists, out_name), message = BAD_INPUT[case]
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPECS["conv1d_dense"]))
    if exists:
        (tmp_path / weights_name).write_bytes(b"not read: the names are checked first")
    status = main(["convert", str(spec_path), "--from", source, "--weights", str(tmp_path / weights_name),
                   "--out", str(tmp_path / out_name)])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.startswith(message) and captured.err.count("\n") == 1, captured.err
    assert not (tmp_path / out_name).exists()
