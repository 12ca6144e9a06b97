"""`harness code`: the generated scripts run standalone and compute what the harness computes.

For each layer family, the two scripts are written, checked by ruff (default settings), and executed in fresh
processes where the harness cannot be imported. Against the harness' own models and runs they must give:
- the spec's trainable parameter count;
- with the canonical initial weights, the same outputs on the test set (TOLERANCE);
- with SGD and no dropout, the same loss for every batch of one epoch as `harness run` (TOLERANCE).
"""

import ast
import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from test_layers import FORWARD_CASES

import harness
from harness.code.common import DIFFERS, PREFIX, WIDTH
from harness.code.write import scripts, write_code
from harness.core import data, shapes, weights_npz
from harness.core.data import Target
from harness.core.validate import parse_spec

TOLERANCE = 1e-5
SCRIPTS = {"tensorflow": "model_keras.py", "torch": "model_torch.py"}
ALLOWED_IMPORTS = {"argparse", "csv", "pathlib", "numpy", "keras", "torch"}
# Runs a script with the harness and its adapters made unimportable: it must stand alone.
STANDALONE = ("import runpy, sys; sys.modules.update(harness=None, models_tf=None, models_torch=None); "
              "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def _spec(name, input_shape, layers, dataset="digits", loss="categorical_crossentropy", **data_options):
    return {"name": name, "data": {"dataset": dataset, "validation_split": 0.1, **data_options},
            "model": {"input_shape": input_shape, "layers": layers}, "loss": loss,
            "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9},
            "training": {"epochs": 1, "batch_size": 64}, "seeds": [0]}


def _dense(units, activation="linear", **options):
    return {"type": "dense", "units": units, "activation": activation, **options}


SOFTMAX = _dense(10, "softmax")
FAMILIES = {
    "dense": _spec("dense", [64], [
        _dense(32, "tanh", kernel_regularizer={"l2": 0.001}, bias_regularizer={"l1": 0.01}),
        {"type": "leaky_relu", "negative_slope": 0.1}, _dense(16, "gelu", kernel_initializer="he_normal"),
        SOFTMAX]),
    "conv1d_pooling": _spec("conv1d", [64, 1], [
        {"type": "rescaling", "scale": 0.5, "offset": -0.25},
        {"type": "conv1d", "filters": 6, "kernel_size": 5, "strides": 2, "padding": "same", "activation": "relu"},
        {"type": "max_pool1d", "pool_size": 3, "strides": 2, "padding": "same"},
        {"type": "conv1d", "filters": 8, "kernel_size": 3, "dilation_rate": 2, "padding": "same"},
        {"type": "average_pool1d", "pool_size": 2, "padding": "same"}, {"type": "zero_padding1d", "padding": [1, 2]},
        {"type": "global_max_pool1d"}, SOFTMAX]),
    "conv2d_pooling": _spec("conv2d", [8, 8, 1], [
        {"type": "conv2d", "filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "average_pool2d", "pool_size": 3, "strides": 2, "padding": "same"},
        {"type": "conv2d", "filters": 8, "kernel_size": [2, 3], "activation": "elu"},
        {"type": "flatten"}, _dense(12, "relu"), SOFTMAX]),
    "recurrent": _spec("recurrent", [8, 8], [
        {"type": "simple_rnn", "units": 6, "return_sequences": True},
        {"type": "lstm", "units": 7, "return_sequences": True, "kernel_regularizer": {"l2": 0.01},
         "bidirectional": True, "merge_mode": "ave"},  # the penalty on both directions' kernels
        {"type": "gru", "units": 5}, SOFTMAX]),
    "batch_normalization": _spec("batch_norm", [8, 8, 1], [
        {"type": "conv2d", "filters": 4, "kernel_size": 3},
        {"type": "batch_normalization", "momentum": 0.9, "epsilon": 0.001},
        {"type": "activation", "activation": "relu"}, {"type": "max_pool2d", "pool_size": 2},
        {"type": "global_average_pool2d"}, _dense(8), {"type": "batch_normalization", "center": False},
        _dense(1)], dataset="regression", loss="mse", n_features=64, n_samples=400, standardize_target=True),
}


def _tokens(path: Path) -> Path:
    """A binary task on token ids: is id 3 among the ten?"""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, size=(300, 10))
    np.savez(path, x=x.astype(np.float32), y=(x == 3).any(axis=1).astype(np.int64))
    return path


def _embedding_spec(tmp_path: Path) -> dict:
    spec = _spec("embedding", [10], [
        {"type": "embedding", "input_dim": 20, "output_dim": 4},
        {"type": "gru", "units": 6, "return_sequences": True}, {"type": "global_average_pool1d"},
        _dense(1, "sigmoid")], dataset="npz", loss="binary_crossentropy", path=str(_tokens(tmp_path / "t.npz")),
        standardize=False)
    return spec


def _run_script(folder: Path, framework: str, *options: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-I", "-c", STANDALONE, str(folder / SCRIPTS[framework]), *options],
                          capture_output=True, text=True, cwd=folder, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _batch_losses(path: Path) -> list[float]:
    with open(path, newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def _harness_outputs(adapters, spec, x: np.ndarray) -> dict:
    weights = weights_npz.starting_weights(spec, 0)
    found = {}
    for framework, adapter in adapters.items():
        model = adapter.build_model(spec.model, seed=0)
        adapter.set_weights(model, weights)
        found[framework] = np.asarray(adapter.predict(model, x))
    return found


@pytest.fixture(scope="module")
def family_runs(tmp_path_factory, adapters):
    """Per family: the spec, the code folder, the scripts' outputs and the harness' own figures."""
    root = tmp_path_factory.mktemp("code")
    specs = {**FAMILIES, "embedding": _embedding_spec(root)}
    found = {}
    for family, raw in specs.items():
        spec = parse_spec(raw)
        dataset = data.prepare(spec)
        folder = root / family
        write_code(spec, dataset, folder, 0, f"{family}.yaml")
        jobs = [(fw, ("--weights", "initial_weights.npz", "--epochs", "0", "--predict", f"{fw}.npy"))
                for fw in SCRIPTS]
        jobs += [(fw, ("--weights", "initial_weights.npz", "--epochs", "1", "--batch-losses", f"{fw}.csv"))
                 for fw in SCRIPTS]
        with ThreadPoolExecutor(max_workers=2) as pool:
            printed = list(pool.map(lambda job, folder=folder: _run_script(folder, job[0], *job[1]), jobs))
        results = harness.run(spec, root / f"{family}-run", in_process=True, tensorboard=False, save_weights=False,
                              log=lambda line: None)
        found[family] = {"spec": spec, "folder": folder, "printed": dict(zip(SCRIPTS, printed)),
                         "harness_outputs": _harness_outputs(adapters, spec, dataset.x_test),
                         "harness_losses": _run_losses(results.out_dir)}
    return found


def _run_losses(out: Path) -> dict:
    losses = {}
    for path in (out / "runs").glob("*.json"):
        record = json.loads(path.read_text())
        losses[record["framework"]] = record["epochs"][0]["batch_losses"]
    return losses


FAMILY_NAMES = [*FAMILIES, "embedding"]


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("framework", SCRIPTS)
def test_parameter_count_is_the_specs(family_runs, family, framework):
    run = family_runs[family]
    expected = shapes.count_params(run["spec"].model)
    assert f"trainable parameters: {expected}" in run["printed"][framework]


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("framework", SCRIPTS)
def test_outputs_with_the_initial_weights_are_the_harness_models(family_runs, family, framework):
    run = family_runs[family]
    outputs = np.load(run["folder"] / f"{framework}.npy")
    for model_framework, expected in run["harness_outputs"].items():  # its own framework's model and the other's
        assert outputs.shape == expected.shape
        assert np.abs(outputs - expected).max() <= TOLERANCE, (framework, model_framework)


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("framework", SCRIPTS)
def test_one_epoch_of_sgd_gives_harness_runs_batch_losses(family_runs, family, framework):
    run = family_runs[family]
    script = _batch_losses(run["folder"] / f"{framework}.csv")
    expected = run["harness_losses"][framework]
    assert len(script) == len(expected) > 1
    assert np.abs(np.array(script) - np.array(expected)).max() <= TOLERANCE


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_scripts_pass_ruff_and_import_only_numpy_and_their_framework(family_runs, family):
    folder = family_runs[family]["folder"]
    paths = [str(folder / name) for name in SCRIPTS.values()]
    for command in (["check", "--isolated"], ["format", "--isolated", "--check"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *command, *paths], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    for path in paths:
        text = Path(path).read_text()
        assert max(len(line) for line in text.splitlines()) <= WIDTH
        imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(text))
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(text))
                     if isinstance(node, ast.ImportFrom)}
        assert imported <= ALLOWED_IMPORTS, imported


def _comments(text: str) -> str:
    """The script's comments as one line of words (a wrapped comment reads as written)."""
    return " ".join(" ".join(line.strip()[1:].split()) for line in text.splitlines() if line.strip().startswith("#"))


def test_the_differences_are_marked_where_the_scripts_handle_them(family_runs):
    """Each difference the issue names is commented in full, in the script that does something about it."""
    texts = {fw: _comments("\n".join((family_runs[f]["folder"] / SCRIPTS[fw]).read_text() for f in FAMILY_NAMES))
             for fw in SCRIPTS}
    for topic in ("flatten", "gru_gates", "recurrent_bias", "batch_norm", "l2_penalty", "logits", "same_padding",
                  "same_pool", "channels_first", "init", "weights", "leaky_relu", "last_state", "bidirectional"):
        assert f"{PREFIX['torch']} {DIFFERS[topic][1]}" in texts["torch"], topic
    for topic in ("gru_gates", "recurrent_bias", "batch_norm", "l2_penalty", "logits", "same_padding", "same_pool",
                  "bidirectional"):
        assert f"{PREFIX['keras']} {DIFFERS[topic][0]}" in texts["tensorflow"], topic


OPTIMIZERS = {
    "adam": ({"type": "adam", "learning_rate": 0.002, "epsilon": 1e-6}, "adam_epsilon",
             "torch.optim.Adam(", "eps=1e-06", "keras.optimizers.Adam(", "epsilon=1e-06"),
    "adamw": ({"type": "adamw", "weight_decay": 0.01}, "adam_epsilon", "torch.optim.AdamW(", "weight_decay=0.01",
              "keras.optimizers.AdamW(", "weight_decay=0.01"),
    "rmsprop": ({"type": "rmsprop", "rho": 0.8, "centered": True}, "rmsprop_epsilon", "torch.optim.RMSprop(",
                "alpha=0.8", "keras.optimizers.RMSprop(", "rho=0.8"),
    "adagrad": ({"type": "adagrad"}, "adagrad", "torch.optim.Adagrad(", "initial_accumulator_value=0.1",
                "keras.optimizers.Adagrad(", "initial_accumulator_value=0.1"),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_is_written_out_with_its_difference(tmp_path, name):
    optimizer, topic, torch_call, torch_value, keras_call, keras_value = OPTIMIZERS[name]
    spec = parse_spec({**FAMILIES["dense"], "optimizer": optimizer})
    write_code(spec, data.prepare(spec), tmp_path, 0, "spec.yaml", copy_data=False)
    keras_text, torch_text = ((tmp_path / SCRIPTS[fw]).read_text() for fw in SCRIPTS)
    for text, call, value, side in ((torch_text, torch_call, torch_value, 1), (keras_text, keras_call, keras_value, 0)):
        assert call in text and value in " ".join(text.split())
        assert DIFFERS[topic][side] in _comments(text)


def test_report_shows_both_scripts_side_by_side_with_the_differences_marked(family_runs, tmp_path):
    from harness.report.code_view import marked_lines
    from harness.report.html import render_html
    from harness.report.markdown import render_markdown

    out = family_runs["recurrent"]["folder"].parent / "recurrent-run"
    page, markdown = render_html(out), render_markdown(out)
    for name in SCRIPTS.values():
        text = (out / "code" / name).read_text()
        assert f"code/{name}" in page and f"[code/{name}](code/{name})" in markdown
        comments = sum(1 for line in text.splitlines() if line.lstrip().startswith("# Differs from"))
        assert comments >= 3 and len(marked_lines(text)) > comments
    assert page.count("background-color: #ffffcc") >= 10  # pygments' highlighted lines, inline styles (CSP)

    (out / "code" / "model_torch.py").write_text("x = '</pre><script>alert(1)</script>'\n# Differs from Keras: x\n")
    assert "<script>" not in render_html(out)


def test_marked_lines_cover_the_whole_statement_after_each_comment():
    from harness.report.code_view import marked_lines

    text = "a = 1\n# Differs from Keras: why\nb = f(\n    2,\n)\nc = 3\n    # Differs from PyTorch: so\n"
    assert marked_lines(text) == [2, 3, 4, 5, 7]
    assert marked_lines("# Differs from Keras: unparsable\nx = (\n") == [1, 2]


# ------------------------------------------------------------------ every layer stack of the layer tests, in-process

def _module(path: Path, name: str):
    import importlib.util

    loader = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def _random_weights(spec, rng) -> dict:
    """Canonical weights with every tensor random (moving variances in [0.25, 2]), so a swapped or ignored one
    shows in the outputs."""
    weights = {}
    for name, shape in weights_npz.layout(spec.model):
        low = name.endswith("moving_variance")
        weights[name] = (rng.uniform(0.25, 2.0, shape) if low else rng.normal(0.0, 0.5, shape)).astype(np.float32)
    return weights


@pytest.mark.parametrize("case", sorted(FORWARD_CASES))
def test_scripts_of_every_layer_stack_compute_the_harness_models_outputs(tmp_path, adapters, case):
    """The scripts' models, imported as modules, with random canonical weights, against both harness models."""
    input_shape, layers = FORWARD_CASES[case]
    spec = parse_spec({"name": "stack", "data": {"dataset": "iris", "standardize": False}, "loss": "mse",
                       "optimizer": "sgd", "model": {"input_shape": list(input_shape), "layers": list(layers)}})
    target = Target("regression", "dense", "mae", None, shapes.output_shape(spec.model)[-1])
    rng = np.random.default_rng(1)
    first = spec.model.layers[0]
    x = (rng.integers(0, first.input_dim, (6, *input_shape)) if first.type == "embedding"
         else rng.normal(0.0, 1.0, (6, *input_shape))).astype(np.float32)
    np.savez(tmp_path / "data.npz", **{name: x for name in ("x_train", "x_val", "x_test")},
             **{name: np.zeros((6, target.units), np.float32) for name in ("y_train", "y_val", "y_test")})
    weights = _random_weights(spec, rng)
    np.savez(tmp_path / "w.npz", **weights)
    for name, text in scripts(spec, SimpleNamespace(target=target, n_train=6), 0, "stack").items():
        (tmp_path / name).write_text(text)
    expected = {}
    for framework, adapter in adapters.items():
        model = adapter.build_model(spec.model, seed=0)
        adapter.set_weights(model, list(weights.values()))
        expected[framework] = np.asarray(adapter.predict(model, x))
    keras_script = _module(tmp_path / "model_keras.py", f"keras_{case}")
    keras_model = keras_script.build_model()
    keras_script.load_weights(keras_model, tmp_path / "w.npz")
    torch_script = _module(tmp_path / "model_torch.py", f"torch_{case}")
    torch_model = torch_script.Net()
    torch_script.load_weights(torch_model, tmp_path / "w.npz")
    found = {"tensorflow": np.asarray(keras_model.predict(x, verbose=0)),
             "torch": torch_script.predict(torch_model, torch_script.load_data(tmp_path / "data.npz")["x_test"])}
    for script, outputs in found.items():
        for framework, reference in expected.items():
            assert np.abs(outputs - reference).max() <= TOLERANCE, (case, script, framework)
