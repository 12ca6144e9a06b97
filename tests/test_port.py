"""Models in and out through the harness' own doors: `harness import`, harness.from_keras / from_torch, and the
round trip Keras -> spec -> PyTorch -> spec -> Keras. Real frameworks and real worker processes.

The round trip takes a Keras model with random weights (moving statistics included), imports it (models_tf's
importer), builds the harness' PyTorch model from the spec, imports that module back (models_torch's importer:
torch.export of the harness' own nn.Module), and builds Keras again: every weight must come back bit for bit,
and the outputs equal. The importers' own tables of tutorial models are tests/test_import_keras.py and
tests/test_import_torch.py.
"""

import json
import os

import numpy as np
import pytest
import yaml
from conftest import one_error_line

from harness.cli import main
from harness.core.errors import SpecError
from harness.core.imported import TOLERANCE, probe_batch
from harness.core.spec import ModelSpec


def _families(keras):
    L = keras.layers
    return {
        "dense": [keras.Input((6,)), L.Dense(8, activation="relu"), L.Dropout(0.2), L.Dense(3, activation="softmax")],
        "conv2d_pool": [keras.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
                        L.Dense(3)],
        "conv1d_same_pool": [keras.Input((12, 2)), L.Conv1D(4, 3, strides=2, padding="same"), L.AveragePooling1D(2),
                             L.GlobalMaxPooling1D(), L.Dense(2)],
        "batch_normalization": [keras.Input((5, 5, 2)), L.Conv2D(3, 2), L.BatchNormalization(momentum=0.9),
                                L.GlobalAveragePooling2D(), L.Dense(4), L.BatchNormalization()],
        "recurrent": [keras.Input((5, 3)), L.LSTM(4, return_sequences=True), L.GRU(3, return_sequences=True),
                      L.SimpleRNN(2)],
        "embedding": [keras.Input((7,)), L.Embedding(11, 4), L.GlobalAveragePooling1D(), L.Dense(2)],
    }


FAMILIES = ["dense", "conv2d_pool", "conv1d_same_pool", "batch_normalization", "recurrent", "embedding"]


def _randomized(keras_model, seed=0):
    """Random weights everywhere (a zero bias or a unit variance would hide a misplaced block)."""
    rng = np.random.default_rng(seed)
    keras_model.set_weights([rng.uniform(0.5, 2.0, w.shape).astype(np.float32) if "variance" in w.path else
                             rng.standard_normal(w.shape).astype(np.float32) for w in keras_model.weights])
    return keras_model


@pytest.mark.parametrize("family", FAMILIES)
def test_keras_to_spec_to_torch_to_spec_to_keras_keeps_every_weight(adapters, family):
    import keras

    from models_tf import importer as keras_importer
    from models_torch import importer as torch_importer

    models_tf, models_torch = adapters["tensorflow"], adapters["torch"]
    original = _randomized(keras.Sequential(_families(keras)[family]))
    first = keras_importer.from_model(original)
    spec = ModelSpec.model_validate(first.model)
    torch_model = models_torch.build_model(spec)
    models_torch.set_weights(torch_model, first.weights)
    # the harness' own nn.Module takes channels-last input: the spec's input shape is its PyTorch shape
    second = torch_importer.from_model(torch_model.eval(), tuple(spec.input_shape))
    assert len(second.weights) == len(first.weights)
    for index, (a, b) in enumerate(zip(first.weights, second.weights)):
        assert a.shape == b.shape and np.array_equal(a, b), f"{family}: canonical weight {index} changed"
    back = models_tf.build_model(ModelSpec.model_validate(second.model))
    models_tf.set_weights(back, second.weights)
    for index, (a, b) in enumerate(zip(original.get_weights(), back.get_weights())):
        assert np.array_equal(a, b), f"{family}: Keras weight {index} differs after the round trip"
    x = probe_batch(spec)
    np.testing.assert_allclose(np.asarray(back(x, training=False)), np.asarray(original(x, training=False)),
                               rtol=0, atol=TOLERANCE)


# ------------------------------------------------------------------------------------------ harness import

def _mnist_convnet(keras):
    """keras.io's "Simple MNIST convnet", as published."""
    L = keras.layers
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), L.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                             L.MaxPooling2D(pool_size=(2, 2)), L.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                             L.MaxPooling2D(pool_size=(2, 2)), L.Flatten(), L.Dropout(0.5),
                             L.Dense(10, activation="softmax")])


def test_harness_import_of_a_keras_file_writes_a_proven_spec(tf_adapter, tmp_path, capsys):
    import keras

    _mnist_convnet(keras).save(str(tmp_path / "convnet.keras"))
    out = tmp_path / "imported"
    assert main(["import", str(tmp_path / "convnet.keras"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "34,826 in the original (tensorflow); 34,826 in the spec" in printed
    difference = float(printed.split("largest difference ")[1].split()[0])
    assert difference <= TOLERANCE
    spec = yaml.safe_load((out / "convnet.yaml").read_text())
    assert spec["loss"] == "categorical_crossentropy" and spec["data"]["dataset"] == "npz"
    assert spec["init_weights"] == "convnet.weights.npz"  # a run starts from the imported weights
    assert [layer["type"] for layer in spec["model"]["layers"]] == [
        "conv2d", "max_pool2d", "conv2d", "max_pool2d", "flatten", "dropout", "dense"]
    with np.load(out / "convnet.weights.npz") as weights:
        assert weights.files[0] == "layers[0].kernel" and weights["layers[0].kernel"].shape == (3, 3, 1, 32)
    # a second import into the same folder does not overwrite the files without --force
    before = (out / "convnet.yaml").read_bytes()
    assert main(["import", str(tmp_path / "convnet.keras"), "--out", str(out)]) == 2
    assert "exists; the harness does not overwrite" in one_error_line(capsys)
    assert (out / "convnet.yaml").read_bytes() == before


def test_harness_import_of_a_pt2_program_then_export_reads_its_weights(torch_adapter, tmp_path, capsys):
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(1, 4, 5, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 19, 10))
    torch.export.save(torch.export.export(net.eval(), (torch.randn(2, 1, 40),)), str(tmp_path / "net.pt2"))
    out = tmp_path / "imported"
    assert main(["import", str(tmp_path / "net.pt2"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the tensorflow model built from the spec" in printed and "zero_padding1d" in printed
    spec = yaml.safe_load((out / "net.yaml").read_text())
    assert spec["data"]["dataset"] == "mnist1d"  # 40 inputs: the data the ConvBase family is written for
    assert spec["model"]["input_shape"] == [40, 1]


# (case, writer(path, frameworks), the file name, fragment of the one line) -> exit status 2, nothing executed
def _lambda_keras(path, tmp_path):
    import keras

    marker = tmp_path / "ran"
    os.environ["HARNESS_TEST_MARKER"] = str(marker)

    def touch(x):
        import os as inner

        open(inner.environ["HARNESS_TEST_MARKER"], "w").close()
        return x

    keras.Sequential([keras.Input((3,)), keras.layers.Lambda(touch), keras.layers.Dense(2)]).save(str(path))
    if marker.exists():
        marker.unlink()  # saving may trace the function once: only what import does counts


def _pickled_module(path, tmp_path):
    import torch

    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)), str(path))


def _truncated_pt2(path, tmp_path):
    import torch

    program = torch.export.export(torch.nn.Sequential(torch.nn.Linear(3, 2)).eval(), (torch.randn(2, 3),))
    torch.export.save(program, str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


HOSTILE = {
    "a Lambda layer": (_lambda_keras, "model.keras", "Lambda"),
    "a pickled module": (_pickled_module, "model.pt", "never unpickled"),
    "a truncated program": (_truncated_pt2, "model.pt2", "model.pt2"),
    "an unknown kind of file": (lambda path, tmp: path.write_text("x"), "model.onnx", "expected a Keras model"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_model_file_is_one_line_exit_2_and_runs_nothing(adapters, tmp_path, capsys, case):
    write, name, fragment = HOSTILE[case]
    write(tmp_path / name, tmp_path)
    out = tmp_path / "out"
    assert main(["import", str(tmp_path / name), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: FILE: ") and fragment in line and "Traceback" not in line, line
    assert not (tmp_path / "ran").exists()
    assert not any(path.suffix in (".yaml", ".npz") for path in out.glob("*"))


def test_a_failed_proof_writes_nothing(tmp_path, monkeypatch):
    """If the other framework's outputs differ (a translation bug), the import stops before writing."""
    from harness.port import importing

    monkeypatch.setattr(importing, "prove", lambda *args, **kwargs: 0.5)
    keras_file = tmp_path / "m.keras"
    import keras

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(str(keras_file))
    with pytest.raises(SpecError, match="differs from the original by 0.5"):
        importing.import_file(keras_file, out=tmp_path / "out", in_process=True, log=lambda line: None)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [".harness"]


# ------------------------------------------------------------------------------------------- the Python API

def test_from_keras_and_from_torch_return_a_proven_spec_and_weights(adapters):
    import keras
    import torch

    import harness

    spec, weights = harness.from_keras(_randomized(keras.Sequential(_families(keras)["recurrent"])), name="rnn")
    assert isinstance(spec, harness.Spec) and spec.name == "rnn"
    assert [layer.type for layer in spec.model.layers] == ["lstm", "gru", "simple_rnn"]
    assert [w.shape for w in weights][:3] == [(3, 16), (4, 16), (16,)]
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(2 * 4 * 4, 3), torch.nn.Softmax(dim=1))
    spec, weights = harness.from_torch(module, (1, 4, 4))
    assert list(spec.model.input_shape) == [4, 4, 1] and spec.loss == "categorical_crossentropy"
    assert json.dumps(spec.model.model_dump(mode="json"))  # plain data


def test_an_imported_spec_starts_both_frameworks_from_the_imported_weights(tmp_path):
    """harness import writes init_weights next to the spec; a run's initial weights are that file, every seed."""
    from harness.core import validate, weights_npz
    from harness.run.experiment import train_jobs

    raw = {"name": "start", "data": {"dataset": "iris"}, "loss": "categorical_crossentropy", "optimizer": "sgd",
           "model": {"input_shape": [4], "layers": [{"type": "dense", "units": 3, "activation": "softmax"}]},
           "seeds": [0, 1], "init_weights": "start.weights.npz"}
    spec_path = tmp_path / "start.yaml"
    spec_path.write_text(yaml.safe_dump(raw))
    weights = [np.full((4, 3), 0.25, np.float32), np.arange(3, dtype=np.float32)]
    weights_npz.save(tmp_path / "start.weights.npz", validate.load_spec(spec_path).model, weights)
    spec = validate.load_spec(spec_path)
    assert spec.init_weights == str(tmp_path / "start.weights.npz")  # resolved against the spec file
    start = weights_npz.starting_weights(spec, 0)
    for job in train_jobs(spec, tmp_path, 1, None, start=start):
        with np.load(job.weights_path) as saved:
            assert all(np.array_equal(saved[f"arr_{i}"], w) for i, w in enumerate(weights)), job.prefix
    with pytest.raises(SpecError, match="init_weights: .*init: native contradicts"):
        validate.parse_spec({**raw, "init": "native"})
    (tmp_path / "start.weights.npz").unlink()
    with pytest.raises(SpecError, match="init_weights: file not found"):
        weights_npz.starting_weights(validate.load_spec(spec_path), 0)
