"""The Keras importer (models_tf.importer) with real Keras and real PyTorch: Sequential models written the way
tutorials write them are saved as .keras (some as legacy .h5), imported, built in PyTorch from the spec alone,
and must compute the original's outputs; hostile, damaged and untranslatable files are refused in one line
before Keras runs anything from them.

Keras and TensorFlow load through the session fixture (conftest.tf_adapter), so collecting this file is cheap.
"""

import json
import zipfile

import numpy as np
import pytest

from harness.core import shapes
from harness.core.errors import SpecError
from harness.core.imported import probe_batch
from harness.core.spec import ModelSpec

# The original Keras model and the PyTorch model built from the imported spec run the same float32 batch; they
# differ only in float32 summation order (~1e-7 relative on outputs below ~10, keras-torch-equivalence.md 3).
# A mapping error (a transposed kernel, the flatten order, a gate block, a moving statistic, a pad on the wrong
# side) moves some output by far more than 1e-3. The harness' own proof uses the same bound (imported.TOLERANCE).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def keras(tf_adapter, torch_adapter):
    import keras

    return keras


@pytest.fixture(scope="module")
def importer(keras):
    from models_tf import importer

    return importer


# ----------------------------------------------------------------------------------------- the model table

def mlp(keras, layers):
    return keras.Sequential([keras.Input(shape=(6,)), layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                             layers.Dense(12, kernel_regularizer=keras.regularizers.L2(1e-3)),
                             layers.Activation("tanh"), layers.Dense(8), layers.ReLU(), layers.Dense(8),
                             layers.LeakyReLU(negative_slope=0.2), layers.Dense(8), layers.LeakyReLU(), layers.Dense(8),
                             layers.ELU(), layers.Dense(4),
                             layers.Softmax()])


def conv1d(keras, layers):
    return keras.Sequential([keras.Input(shape=(20, 3)), layers.Conv1D(8, 3, padding="same", activation="relu"),
                             layers.MaxPooling1D(2), layers.Conv1D(6, 3, strides=2), layers.AveragePooling1D(2),
                             layers.GlobalMaxPooling1D(), layers.Dense(3, activation="softmax")])


def causal_conv1d(keras, layers):
    """WaveNet-style: causal padding (zeros before the steps) with dilation, as timeseries tutorials write it."""
    return keras.Sequential([keras.Input(shape=(16, 2)), layers.Conv1D(4, 3, dilation_rate=2, padding="causal"),
                             layers.Conv1D(4, 2, padding="causal", activation="relu"), layers.Flatten(),
                             layers.Dense(1)])


def conv2d(keras, layers):
    return keras.Sequential([keras.Input(shape=(12, 12, 3)), layers.Rescaling(1.0 / 255, offset=-0.5),
                             layers.Conv2D(8, (3, 3), activation="relu"),
                             layers.MaxPooling2D((2, 2)), layers.Conv2D(6, 3, strides=2, padding="same"),
                             layers.AveragePooling2D(2), layers.Flatten(), layers.Dense(5, activation="softmax")])


def dense_batchnorm(keras, layers):
    return keras.Sequential([keras.Input(shape=(5,)), layers.Dense(8), layers.BatchNormalization(),
                             layers.Activation("relu"), layers.Dense(3)])


def conv_batchnorm(keras, layers):
    return keras.Sequential([keras.Input(shape=(8, 8, 2)), layers.Conv2D(4, 3),
                             layers.BatchNormalization(momentum=0.9, epsilon=1e-3), layers.ReLU(),
                             layers.GlobalAveragePooling2D(), layers.Dense(3, activation="softmax")])


def embedding(keras, layers):
    return keras.Sequential([keras.Input(shape=(10,), dtype="int32"), layers.Embedding(40, 6),
                             layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])


def simple_rnn(keras, layers):
    return keras.Sequential([keras.Input(shape=(7, 3)), layers.SimpleRNN(5), layers.Dense(2)])


def lstm(keras, layers):
    return keras.Sequential([keras.Input(shape=(7, 3)), layers.LSTM(8, return_sequences=True), layers.LSTM(4),
                             layers.Dense(2, activation="softmax")])


def gru(keras, layers):
    return keras.Sequential([keras.Input(shape=(7, 3)), layers.GRU(5, return_sequences=True), layers.GRU(4),
                             layers.Dense(2)])


def bidirectional(keras, layers):
    """Keras' own backward copy (sequences, sum) and an explicit backward twin (last state, concat)."""
    backward = layers.LSTM(3, go_backwards=True)
    return keras.Sequential([keras.Input(shape=(7, 3)), layers.Bidirectional(layers.GRU(5, return_sequences=True),
                                                                            merge_mode="sum"),
                             layers.Bidirectional(layers.LSTM(3), backward_layer=backward), layers.Dense(2)])


def zero_padding(keras, layers):
    return keras.Sequential([keras.Input(shape=(6, 6, 1)), layers.ZeroPadding2D(((1, 2), (0, 1))),
                             layers.Conv2D(3, 3, activation="relu"), layers.Flatten(), layers.Dense(2)])


def reshape_padding1d(keras, layers):
    return keras.Sequential([keras.Input(shape=(12,)), layers.Reshape((4, 3)), layers.ZeroPadding1D((2, 1)),
                             layers.Conv1D(2, 3), layers.GlobalAveragePooling1D(), layers.Dense(1)])


def mnist_convnet(keras, layers):
    """keras.io's "Simple MNIST convnet" (examples/vision/mnist_convnet.py), exactly as published."""
    return keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
                             layers.MaxPooling2D(pool_size=(2, 2)),
                             layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
                             layers.MaxPooling2D(pool_size=(2, 2)), layers.Flatten(), layers.Dropout(0.5),
                             layers.Dense(10, activation="softmax")])


CASES = [(mlp, ".keras"), (mlp, ".h5"), (conv1d, ".keras"), (conv2d, ".keras"), (conv2d, ".h5"),
         (dense_batchnorm, ".keras"), (conv_batchnorm, ".keras"), (conv_batchnorm, ".h5"), (embedding, ".keras"),
         (simple_rnn, ".keras"), (lstm, ".keras"), (lstm, ".h5"), (gru, ".keras"), (zero_padding, ".keras"),
         (reshape_padding1d, ".keras"), (causal_conv1d, ".keras"), (bidirectional, ".keras"), (bidirectional, ".h5")]


def randomized(model, seed: int = 0):
    """Every weight drawn anew, biases and batch-norm statistics included (variances positive), so a dropped
    bias, a swapped gamma / beta or an ignored moving statistic shows in the outputs."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(0.5, 2.0, w.shape) if "variance" in w.path else rng.normal(0.0, 0.5, w.shape)
               for w in model.weights]
    model.set_weights([w.astype(np.float32) for w in weights])
    return model


def trainable_params(model) -> int:
    return model.count_params() - int(sum(np.prod(w.shape) for w in model.non_trainable_weights))


def torch_outputs(torch_adapter, imported, x: np.ndarray) -> np.ndarray:
    import torch

    module = torch_adapter.build_model(ModelSpec.model_validate(imported.model))
    torch_adapter.set_weights(module, imported.weights)
    with torch.no_grad():
        return module.eval()(torch.from_numpy(x)).numpy()


def check_import(keras, importer, torch_adapter, model, path) -> float:
    """Saves, imports and checks the model; returns the largest |Keras - PyTorch| output difference."""
    model.save(str(path))
    imported = importer.read_model_file(path)
    spec = ModelSpec.model_validate(imported.model)
    assert imported.source == "tensorflow"
    assert imported.original_params == trainable_params(model) == shapes.count_params(spec)
    assert all(w.dtype == np.float32 for w in imported.weights)
    x = probe_batch(spec)
    expected = np.asarray(model(x.astype(model.inputs[0].dtype), training=False))
    np.testing.assert_allclose(imported.run_original(x), expected, rtol=0, atol=0)
    received = torch_outputs(torch_adapter, imported, x)
    assert received.shape == expected.shape
    return float(np.max(np.abs(received - expected)))


@pytest.mark.parametrize("build, suffix", CASES, ids=[f"{build.__name__}{suffix}" for build, suffix in CASES])
def test_imported_model_computes_the_original(keras, importer, torch_adapter, tmp_path, build, suffix):
    model = randomized(build(keras, keras.layers))
    difference = check_import(keras, importer, torch_adapter, model, tmp_path / f"model{suffix}")
    assert difference <= TOLERANCE


def test_mnist_convnet_as_published(keras, importer, torch_adapter, tmp_path):
    model = mnist_convnet(keras, keras.layers)
    assert model.count_params() == 34_826
    assert check_import(keras, importer, torch_adapter, model, tmp_path / "mnist_convnet.keras") <= TOLERANCE
    imported = importer.read_model_file(tmp_path / "mnist_convnet.keras")
    assert imported.original_params == 34_826 and imported.notes == []
    assert imported.model["input_shape"] == [28, 28, 1]
    assert [layer["type"] for layer in imported.model["layers"]] == [
        "conv2d", "max_pool2d", "conv2d", "max_pool2d", "flatten", "dropout", "dense"]


def test_from_model_matches_the_file(keras, importer, tmp_path):
    model = randomized(lstm(keras, keras.layers))
    model.save(str(tmp_path / "lstm.keras"))
    in_memory, from_file = importer.from_model(model), importer.read_model_file(tmp_path / "lstm.keras")
    assert in_memory.model == from_file.model
    assert all(np.array_equal(a, b) for a, b in zip(in_memory.weights, from_file.weights))


def test_from_model_builds_with_input_shape(keras, importer):
    layers = keras.layers
    with pytest.raises(SpecError, match=r"^input_shape: the model is not built"):
        importer.from_model(keras.Sequential([layers.Dense(3), layers.Dense(2)]))
    imported = importer.from_model(keras.Sequential([layers.Dense(3), layers.Dense(2)]), input_shape=(4,))
    assert imported.model["input_shape"] == [4] and imported.original_params == 4 * 3 + 3 + 3 * 2 + 2


def test_notes_for_what_the_spec_does_not_keep(keras, importer):
    layers = keras.layers
    model = keras.Sequential([keras.Input(shape=(4,)),
                              layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(stddev=0.1)),
                              layers.Dropout(0.2, seed=7), layers.Dense(2)])
    imported = importer.from_model(model)
    assert imported.model["layers"][0]["kernel_initializer"] == "glorot_uniform"
    assert any("kernel_initializer RandomNormal" in note and "glorot_uniform" in note for note in imported.notes)
    assert any("dropout seed 7" in note for note in imported.notes)


# ------------------------------------------------------------------------------------------------ refusals

def refused(importer, path, *fragments) -> str:
    """The one-line SpecError reading `path` raises; it names the file and holds every fragment."""
    with pytest.raises(SpecError) as caught:
        importer.read_model_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("FILE: ") and path.name in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_lambda_is_refused_and_never_run(keras, importer, tmp_path, monkeypatch, suffix):
    marker = tmp_path / "the-lambda-ran"
    monkeypatch.setenv("IMPORT_KERAS_MARKER", str(marker))  # the function's code alone names the marker
    touch = lambda x: (open(__import__("os").environ["IMPORT_KERAS_MARKER"], "w").close(), x)[1]  # noqa: E731
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Lambda(touch), keras.layers.Dense(2)])
    path = tmp_path / f"lambda{suffix}"
    model.save(str(path))
    marker.unlink(missing_ok=True)  # building the model ran the function once
    refused(importer, path, "layer 0", "(Lambda)", "never runs", "Supported layers: InputLayer, Dense")
    assert not marker.exists()
    # the file's code does run once Keras is told to load it unsafely: the check above can fail
    keras.saving.load_model(str(path), compile=False, safe_mode=False)
    assert marker.exists()


def test_custom_layer_is_refused(keras, importer, tmp_path):
    @keras.saving.register_keras_serializable(package="test_import_keras")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    path = tmp_path / "custom.keras"
    keras.Sequential([keras.Input(shape=(3,)), Doubling(), keras.layers.Dense(2)]).save(str(path))
    refused(importer, path, "layer 0", "(Doubling)", "custom layer", "Supported layers:")


def test_custom_subclass_of_a_keras_layer_is_refused_in_memory(keras, importer):
    class Dense(keras.layers.Dense):
        def call(self, x):
            return 2.0 * super().call(x)

    with pytest.raises(SpecError, match=r"^model: the model: layer 0 dense\w* \(Dense\) is not supported: a custom"):
        importer.from_model(keras.Sequential([keras.Input(shape=(3,)), Dense(2)]))


def test_functional_and_nested_models_are_refused(keras, importer, tmp_path):
    layers = keras.layers
    inputs = keras.Input(shape=(4,))
    branched = keras.Model(inputs, layers.Add()([layers.Dense(3)(inputs), layers.Dense(3)(inputs)]))
    branched.save(str(tmp_path / "functional.keras"))
    refused(importer, tmp_path / "functional.keras", "a Functional model", "only a keras.Sequential")
    inner = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3)])
    keras.Sequential([keras.Input(shape=(4,)), inner, layers.Dense(2)]).save(str(tmp_path / "nested.keras"))
    refused(importer, tmp_path / "nested.keras", "layer 0", "(Sequential)", "nested model")


@pytest.fixture(scope="module")
def saved(keras, tmp_path_factory) -> dict:
    """A small model saved as .keras, .h5 and .weights.h5, and its bytes."""
    folder = tmp_path_factory.mktemp("saved")
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(64), keras.layers.Dense(2)])
    paths = {suffix: folder / f"small{suffix}" for suffix in (".keras", ".h5", ".weights.h5")}
    model.save(str(paths[".keras"]))
    model.save(str(paths[".h5"]))
    model.save_weights(str(paths[".weights.h5"]))
    return {suffix: path.read_bytes() for suffix, path in paths.items()}


def rewritten(archive: bytes, **members) -> bytes:
    """The .keras archive with members replaced or added (config_json= stands for config.json), None drops one."""
    import io

    source, target = zipfile.ZipFile(io.BytesIO(archive)), io.BytesIO()
    contents = {name: source.read(name) for name in source.namelist()}
    contents.update({name.replace("_json", ".json"): value for name, value in members.items()})
    with zipfile.ZipFile(target, "w") as copy:
        for name, value in contents.items():
            if value is not None:
                copy.writestr(name, value)
    return target.getvalue()


def foreign_object(archive: bytes) -> bytes:
    """The archive with one initializer replaced by a Keras function that a loader would call."""
    config = json.loads(zipfile.ZipFile(__import__("io").BytesIO(archive)).read("config.json"))
    config["config"]["layers"][1]["config"]["bias_initializer"] = {
        "module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": {}, "registered_name": None}
    return rewritten(archive, config_json=json.dumps(config))


DAMAGED = {
    "truncated.keras": (lambda saved: saved[".keras"][:len(saved[".keras"]) // 2], "a zip file"),
    "truncated.h5": (lambda saved: saved[".h5"][:len(saved[".h5"]) // 2], "damaged"),
    "text.keras": (lambda saved: b"model = keras.Sequential()\n", "a zip file"),
    "empty.keras": (lambda saved: b"", "a zip file"),
    "empty.h5": (lambda saved: b"", "an HDF5 model file"),
    "weights_only.h5": (lambda saved: saved[".weights.h5"], "holds no model_config"),
    "foreign_object.keras": (lambda saved: foreign_object(saved[".keras"]), "keras.config.enable_unsafe_deserial"),
    "extra_member.keras": (lambda saved: rewritten(saved[".keras"], **{"assets/run.py": b"print()"}),
                           "it holds 'assets/run.py'"),
    "no_weights.keras": (lambda saved: rewritten(saved[".keras"], **{"model.weights.h5": None}),
                         "it lacks model.weights.h5"),
    "damaged_weights.keras": (lambda saved: rewritten(saved[".keras"], **{"model.weights.h5": b"\x89HDF\r\n\x1a\n"}),
                              "model.weights.h5 must be a readable HDF5 file"),
    "bad_json.keras": (lambda saved: rewritten(saved[".keras"], config_json=b'{"class_name": "Sequential",'),
                       "config is not valid JSON"),
    "not_a_model.keras": (lambda saved: rewritten(saved[".keras"], config_json=b"[1, 2]"),
                          "holds no serialized Keras model"),
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_damaged_or_foreign_file_is_one_line(keras, importer, saved, tmp_path, name):
    make, fragment = DAMAGED[name]
    path = tmp_path / name
    path.write_bytes(make(saved))
    refused(importer, path, fragment)


def test_untranslatable_files_are_refused(keras, importer, tmp_path):
    layers = keras.layers
    cases = {
        "groups.keras": ([keras.Input(shape=(6, 6, 4)), layers.Conv2D(4, 3, groups=2)], ("(Conv2D)", "groups=2",
                                                                                          "allowed: 1")),
        "dropout.keras": ([keras.Input(shape=(5, 3)), layers.LSTM(4, recurrent_dropout=0.1)],
                          ("(LSTM)", "recurrent_dropout=0.1", "allowed: 0.0")),
        "norm.keras": ([keras.Input(shape=(4,)), layers.LayerNormalization()],
                       ("(LayerNormalization) is not supported", "Supported layers: InputLayer, Dense, Conv1D")),
    }
    for name, (stack, fragments) in cases.items():
        keras.Sequential(stack).save(str(tmp_path / name))
        refused(importer, tmp_path / name, "layer 0", *fragments)


# Arguments with no spec equivalent, each refused in one line naming the layer class, the argument and its value:
# (id, input shape, the layer, the message fragment). In memory: the same translation reads files.
ARGUMENTS = [
    ("relu6", (4,), lambda L, k: L.ReLU(max_value=6.0), "max_value=6.0"),
    ("softmax_axis", (3, 4), lambda L, k: L.Softmax(axis=1), "axis=1"),
    ("elu_alpha", (4,), lambda L, k: L.ELU(alpha=0.5), "alpha=0.5"),
    ("selu", (4,), lambda L, k: L.Dense(2, activation="selu"), "activation='selu'"),
    ("constraint", (4,), lambda L, k: L.Dense(2, kernel_constraint=k.constraints.MaxNorm(2.0)), "kernel_constraint"),
    ("activity", (4,), lambda L, k: L.Dense(2, activity_regularizer=k.regularizers.L2(0.1)), "activity_regularizer"),
    ("lora", (4,), lambda L, k: L.Dense(2, lora_rank=2), "lora_rank=2"),
    ("frozen", (4,), lambda L, k: L.Dense(2, trainable=False), "trainable=False"),
    ("noise_shape", (4,), lambda L, k: L.Dropout(0.5, noise_shape=(None, 1)), "noise_shape"),
    ("renorm", (4,), lambda L, k: L.BatchNormalization(renorm=True), "renorm=True"),
    ("bn_axis", (3, 4), lambda L, k: L.BatchNormalization(axis=1), "axis=1"),
    ("keepdims", (6, 2), lambda L, k: L.GlobalAveragePooling1D(keepdims=True), "keepdims=True"),
    ("gru_reset_before", (5, 3), lambda L, k: L.GRU(4, reset_after=False), "reset_after=False"),
    ("hard_sigmoid", (5, 3), lambda L, k: L.LSTM(4, recurrent_activation="hard_sigmoid"), "'hard_sigmoid'"),
    ("backwards", (5, 3), lambda L, k: L.SimpleRNN(4, go_backwards=True), "go_backwards=True"),
    ("lstm_relu", (5, 3), lambda L, k: L.LSTM(4, activation="relu"), "activation='relu'"),
    ("bidirectional_apart", (5, 3), lambda L, k: L.Bidirectional(L.GRU(4), merge_mode=None), "merge_mode=None"),
    ("bidirectional_unlike", (5, 3), lambda L, k: L.Bidirectional(L.GRU(4), backward_layer=L.GRU(
        3, go_backwards=True)), "backward_layer=GRU("),
    ("masking", (5,), lambda L, k: L.Embedding(10, 3, mask_zero=True), "mask_zero=True"),
    ("per_channel_scale", (2, 3), lambda L, k: L.Rescaling([1.0, 2.0, 3.0]), "scale=[1.0, 2.0, 3.0]"),
]


@pytest.mark.parametrize("shape, layer, fragment", [case[1:] for case in ARGUMENTS],
                         ids=[case[0] for case in ARGUMENTS])
def test_argument_without_spec_equivalent_is_refused(keras, importer, shape, layer, fragment):
    model = keras.Sequential([keras.Input(shape=shape), layer(keras.layers, keras)])
    with pytest.raises(SpecError) as caught:
        importer.from_model(model)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("model: the model: layer 0 ") and fragment in message, message


def test_variable_length_input_is_refused(keras, importer):
    model = keras.Sequential([keras.Input(shape=(None, 3)), keras.layers.LSTM(4)])
    with pytest.raises(SpecError, match=r"input shape is \[None, None, 3\]; the spec needs every size"):
        importer.from_model(model)


def test_training_only_arguments_are_kept(keras, importer):
    """What inference outputs cannot show (regularizers, initializers, batch-norm momentum, unit_forget_bias) is
    checked field by field."""
    layers, regularizers = keras.layers, keras.regularizers
    model = keras.Sequential([
        keras.Input(shape=(9, 9, 2)),
        layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.02), activation="gelu"),
        layers.BatchNormalization(momentum=0.9, epsilon=0.01, center=False),
        layers.Reshape((45, 3)),
        layers.LSTM(4, return_sequences=True, unit_forget_bias=False, recurrent_initializer="glorot_normal",
                    bias_regularizer=regularizers.L1(0.5)),
        layers.SimpleRNN(2, activation="relu", kernel_initializer=keras.initializers.RandomUniform(-0.05, 0.05))])
    conv, norm, _, lstm, rnn = importer.from_model(model).model["layers"]
    assert conv == {"type": "conv2d", "filters": 3, "kernel_size": [3, 2], "strides": [2, 1], "dilation_rate": [1, 1],
                    "padding": "same", "activation": "gelu", "use_bias": False, "kernel_initializer": "he_normal",
                    "bias_initializer": "zeros", "kernel_regularizer": {"l1": 0.01, "l2": 0.02}}
    assert norm == {"type": "batch_normalization", "momentum": 0.9, "epsilon": 0.01, "center": False, "scale": True}
    assert lstm == {"type": "lstm", "units": 4, "return_sequences": True, "use_bias": True,
                    "kernel_initializer": "glorot_uniform", "recurrent_initializer": "glorot_normal",
                    "bias_initializer": "zeros", "bias_regularizer": {"l1": 0.5, "l2": 0.0}, "unit_forget_bias": False}
    assert rnn["activation"] == "relu" and rnn["kernel_initializer"] == "random_uniform"
