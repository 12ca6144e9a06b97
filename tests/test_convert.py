"""`harness convert`: Keras .weights.h5 <-> torch .pt through the canonical layout. Real frameworks, no mocks.

Random weights (not the initializers' draws: zero biases or ones would hide a misplaced block) are saved by one
framework's own file writer, converted, converted back, and must come back bit for bit (the conversion only moves
and reshapes values). A round trip alone cannot see a mapping that is its own inverse (GRU gate blocks swapped or
not, a flatten order), so the converted model must also compute what the original computes: with either of those
broken, the outputs differ by 0.4 to 1.0.

A hostile weights file (a pickle, code inside a torch archive, a truncated or foreign file, another network's
weights) is one `--weights` line naming the first tensor that does not fit, and nothing is written.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import SEED, dense, forward, one_error_line, write_spec

from harness.cli import main
from harness.core import init, validate
from harness.core.errors import SpecError
from harness.jobs import execute as worker
from harness.run.convert import convert

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


# ------------------------------------------------------------------------------------------ hostile weights

TINY = _raw("tiny", [4], [dense(8, "relu"), dense(3, "softmax")])  # 4 tensors: two kernels, two biases
DEEPER = _raw("deeper", [4], [dense(8, "relu"), dense(8, "relu"), dense(3, "softmax")])  # 6 tensors
WIDER = _raw("wider", [4], [dense(9, "relu"), dense(3, "softmax")])


class RunsCode:
    """Unpickling this touches a marker file: a loader that ran code from a weights file would leave it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def _real(raw):
    """A writer: the real adapter's own file for the model of `raw`."""
    def write(path, adapters, framework):
        _saved(adapters[framework], validate.parse_spec(raw), _random_weights(validate.parse_spec(raw)), path)
    return write


def _cut(fraction):
    def write(path, adapters, framework):
        _real(TINY)(path, adapters, framework)
        path.write_bytes(path.read_bytes()[:int(path.stat().st_size * fraction)])
    return write


def _torch():
    import torch  # in the test that needs it: collecting this module must not import the frameworks

    return torch


def _torch_saved(make):
    def write(path, adapters, framework):
        _torch().save(make(path), path)
    return write


def _renamed(path):
    torch = _torch()
    torch.save({f"renamed.{i}": torch.zeros(shape) for i, shape in enumerate([(8, 4), (8,), (3, 8), (3,)])}, path)


def _h5(edit):
    """The real Keras file of TINY, then `edit(h5py file)`."""
    def write(path, adapters, framework):
        import h5py

        _real(TINY)(path, adapters, framework)
        with h5py.File(path, "a") as handle:
            edit(handle)
    return write


def _declare_huge(handle):
    del handle["layers/dense/vars/0"]  # a gzip-chunked dataset of 10^12 floats: no chunk written, the file stays small
    handle.create_dataset("layers/dense/vars/0", shape=(10 ** 12,), dtype="f4", chunks=(1024,), compression="gzip")


def _link_out(handle):
    import h5py

    handle["layers/extra"] = h5py.ExternalLink("/etc/hostname", "/")


# (case, source framework, writer(path, adapters, framework), fragments of the one line after "--weights: ")
HOSTILE = [
    ("a pickle named .pt", "torch", lambda path, *_: path.write_bytes(pickle.dumps({"w": np.zeros(3)})),
     ["must be a zip archive written by torch.save", "received a pickle (never loaded)"]),
    ("code in a torch archive", "torch", _torch_saved(lambda path: RunsCode(path.with_suffix(".ran"))),
     ["must hold a state dict of tensors", "code in a weights file never runs"]),
    ("a dict of numbers", "torch", _torch_saved(lambda path: {"w": 1.0}), ["received 'w' -> float"]),
    ("complex tensors", "torch", _torch_saved(lambda path: {"w": _torch().zeros(2, dtype=_torch().complex64)}),
     ["tensor 'w' must be a dense tensor of real numbers", "torch.complex64"]),
    ("a truncated .pt", "torch", _cut(0.5), ["must be a readable torch archive", "damaged"]),
    ("renamed tensors", "torch", lambda path, *_: _renamed(path),
     ["layer 0 (dense) linear.weight: expected a tensor named 'blocks.0.linear.weight'", "'renamed.0' instead"]),
    ("a deeper network's .pt", "torch", _real(DEEPER), ["expected 4 tensors, as the spec's model has; received 6"]),
    ("a wider network's .pt", "torch", _real(WIDER),
     ["layer 0 (dense) linear.weight: expected shape (8, 4); received (9, 4)"]),
    ("a truncated .weights.h5", "tensorflow", _cut(0.7), ["must be a readable HDF5 file", "truncated file"]),
    ("not HDF5", "tensorflow", lambda path, *_: path.write_bytes(b"\x89PNG\r\n" + bytes(100)),
     ["must be an HDF5 file written by Keras' save_weights"]),
    ("a deeper network's .weights.h5", "tensorflow", _real(DEEPER), ["expected 4 tensors", "received 6"]),
    ("a wider network's .weights.h5", "tensorflow", _real(WIDER),
     ["layer 0 (dense) kernel: expected shape (4, 8); received (4, 9)"]),
    ("a link to another file", "tensorflow", _h5(_link_out), ["'layers/extra' is a link to another file"]),
    ("10^12 floats declared", "tensorflow", _h5(_declare_huge), ["would take 3,725.3 GiB once read",
                                                                "at most 4 GiB"]),
]


@pytest.mark.parametrize("case,source,write,expected", HOSTILE, ids=[case[0] for case in HOSTILE])
def test_a_hostile_weights_file_is_one_line_and_writes_nothing(adapters, tmp_path, case, source, write, expected):
    weights = tmp_path / f"weights{SUFFIX[source]}"
    write(weights, adapters, source)
    before = sorted(path.name for path in tmp_path.iterdir())
    with pytest.raises(SpecError) as raised:
        convert(validate.parse_spec(TINY), source, weights, tmp_path / f"out{SUFFIX[OTHER[source]]}",
                in_process=True, log=lambda line: None)
    message = str(raised.value)
    assert message.startswith("--weights: ") and "\n" not in message and "Error" not in message, message
    for fragment in expected:
        assert fragment in message, message
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # no output, no half file, no code run


@pytest.mark.parametrize("source,write,expected", [
    ("torch", HOSTILE[0][2], "must be a zip archive written by torch.save"),
    ("tensorflow", _cut(0.7), "truncated file"),
], ids=["a pickle named .pt", "a truncated .weights.h5"])
def test_harness_convert_refuses_in_its_worker_with_one_line(adapters, tmp_path, capsys, source, write, expected):
    weights = tmp_path / f"weights{SUFFIX[source]}"
    write(weights, adapters, source)
    out = tmp_path / f"out{SUFFIX[OTHER[source]]}"
    status = main(["convert", str(write_spec(tmp_path, TINY)), "--from", source, "--weights", str(weights),
                   "--out", str(out)])
    assert status == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --weights: ") and expected in line and "RuntimeError" not in line, line
    assert not out.exists()


def test_the_output_is_renamed_into_place_only_when_complete(tmp_path):
    """A writer that fails halfway leaves neither the output nor its temporary file."""
    def half_then_fail(model, path):
        Path(path).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        worker.save_atomically(SimpleNamespace(save_weights=half_then_fail), None, tmp_path / "out.pt")
    assert list(tmp_path.iterdir()) == []
    worker.save_atomically(SimpleNamespace(save_weights=lambda model, path: Path(path).write_bytes(b"whole")),
                            None, tmp_path / "out.pt")
    assert [path.name for path in tmp_path.iterdir()] == ["out.pt"] and (tmp_path / "out.pt").read_bytes() == b"whole"


# ------------------------------------------------------------------------------- canonical weights (.npz)

@pytest.mark.parametrize("target", ["tensorflow", "torch"])
def test_canonical_weights_convert_to_each_framework_and_back_bit_for_bit(tmp_path, target):
    """What `harness run` and `harness import` write (.npz under the spec's weight names) goes into a framework's
    own file and comes back identical."""
    from harness.core import weights_npz

    spec = validate.parse_spec(SPECS["embedding_lstm_simple_rnn"])
    rng = np.random.default_rng(SEED)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in init.initial_weights(spec.model, SEED)]
    weights_npz.save(tmp_path / "start.npz", spec.model, weights)
    own = tmp_path / f"model{SUFFIX[target]}"
    convert(spec, "canonical", tmp_path / "start.npz", own, in_process=True, log=lambda line: None)
    convert(spec, target, own, tmp_path / "back.npz", in_process=True, log=lambda line: None)
    _assert_identical(weights_npz.load(tmp_path / "back.npz", spec.model), weights, f"canonical -> {target} -> back")


def _tiny_arrays():
    """TINY's four weights by name, zeros."""
    return {"layers[0].kernel": np.zeros((4, 8)), "layers[0].bias": np.zeros(8),
            "layers[1].kernel": np.zeros((8, 3)), "layers[1].bias": np.zeros(3)}


# (case, writer(path), fragment of the one --weights line)
CANONICAL_HOSTILE = {
    "a pickle named .npz": (lambda path: path.write_bytes(pickle.dumps({"x": 1})), "another kind of file"),
    "an object array": (lambda path: np.savez(path, **{**_tiny_arrays(), "layers[0].bias": np.array([object()] * 8)}),
                        "received Python objects (pickled data is never loaded)"),
    "another model's weights": (lambda path: np.savez(path, w=np.zeros(3)), "received 1 arrays"),
    "a wrong shape": (lambda path: np.savez(path, **{**_tiny_arrays(), "layers[0].kernel": np.zeros((4, 9))}),
                      "layers[0].kernel must have shape [4, 8]"),
    "a NaN": (lambda path: np.savez(path, **{**_tiny_arrays(), "layers[1].bias": np.full(3, np.nan)}),
              "must hold finite numbers"),
    "a truncated archive": (lambda path: (np.savez(path, **_tiny_arrays()),
                                          path.write_bytes(path.read_bytes()[:700])), "received a damaged one"),
}


@pytest.mark.parametrize("case", CANONICAL_HOSTILE)
def test_hostile_canonical_weights_are_one_line_and_write_nothing(tmp_path, capsys, case):
    write, fragment = CANONICAL_HOSTILE[case]
    spec_path = write_spec(tmp_path, TINY)
    weights = tmp_path / "weights.npz"
    write(weights)
    status = main(["convert", str(spec_path), "--from", "canonical", "--weights", str(weights),
                   "--out", str(tmp_path / "out.pt")])
    line = one_error_line(capsys)
    assert status == 2 and line.startswith("error: --weights: ") and fragment in line, line
    assert not (tmp_path / "out.pt").exists()
