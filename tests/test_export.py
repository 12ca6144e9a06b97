"""`harness export`: every layer family x every format of each framework, real exporters and real runtimes.

Each artifact must compute the framework's own output to TOLERANCE (1e-5, float32 round-off; the outputs here
are of order 1, so this is about 30 float32 ulps) at batch 1024 and at batch 1 (the batch axis must stay
dynamic), or be a pinned "unsupported" row with the exporter's own reason: a format that starts or stops
supporting a family fails here. The ONNX files of both frameworks must agree in one onnxruntime. Hostile input
(a damaged or foreign --weights, an existing --out) is one SpecError line and writes nothing.

The exports run in this process (in_process=True) and are shared between the asserts: one export() per family.
"""

from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, dense, make_spec

from harness.core import init, weights_npz
from harness.core.errors import SpecError
from harness.jobs.artifact import TOLERANCE
from harness.port import exporting

FAMILIES = {
    "dense": ([8], [dense(16, "relu"), dense(4, "softmax")]),
    "conv1d_pool": ([16, 3], [{"type": "conv1d", "filters": 4, "kernel_size": 3, "activation": "relu"},
                              {"type": "max_pool1d"}, {"type": "flatten"}, dense(3, "softmax")]),
    "conv2d_pool_flatten_dense": ([8, 8, 2], [
        {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"}, {"type": "max_pool2d"},
        {"type": "flatten"}, dense(6, "tanh"), dense(3, "softmax")]),
    "batch_normalization": ([6], [dense(8), {"type": "batch_normalization", "epsilon": 0.01}, dense(3, "softmax")]),
    "embedding": ([6], [{"type": "embedding", "input_dim": 12, "output_dim": 4},
                        {"type": "global_average_pool1d"}, dense(3, "softmax")]),
    "lstm": ([5, 3], [{"type": "lstm", "units": 4}, dense(3, "softmax")]),
}
# (family, framework, format) -> a phrase of the reason the exporter gives. Everything else must export exactly.
UNSUPPORTED = {
    # the Keras LSTM loop is a TensorList whose element shape holds the dynamic batch; LiteRT's builtin ops need it
    # static, and the Select-TF-ops fallback needs the Flex delegate, which ai_edge_litert's interpreter lacks
    ("lstm", "tensorflow", "tflite"): "op requires element_shape to be static",
}
CASES = [(family, framework, fmt) for family in FAMILIES for framework, formats in exporting.FORMATS.items()
         for fmt in formats]


def _spec(family: str):
    shape, layers = FAMILIES[family]
    return make_spec(layers, input_shape=shape, data={"standardize": family != "embedding"})


def _weights(spec) -> list[np.ndarray]:
    """The spec's initial weights, with batch normalization's four vectors drawn away from 0 and 1."""
    rng = np.random.default_rng([SEED, 7])
    arrays = []
    for name, array, _ in init.canonical_weights(spec.model, SEED):
        if name.endswith(("moving_variance", "gamma")):
            array = rng.uniform(0.5, 2.0, array.shape)
        elif name.endswith(("moving_mean", "beta")):
            array = rng.normal(size=array.shape)
        arrays.append(np.asarray(array, np.float32))
    return arrays


def _export_family(folder, family: str) -> list[dict]:
    spec = _spec(family)
    folder.mkdir()
    weights_npz.save(folder / "weights.npz", spec.model, _weights(spec))
    return exporting.export(spec, folder / "weights.npz", frameworks=("tensorflow", "torch"), formats=("all",),
                            out=folder / "out", in_process=True, log=lambda line: None, repeats=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, adapters):
    """family -> export()'s rows, made on first use and shared by every test of this module."""
    root, cache = tmp_path_factory.mktemp("exports"), {}

    def rows(family: str) -> list[dict]:
        if family not in cache:
            cache[family] = _export_family(root / family, family)
        return cache[family]
    return rows


def _name(family: str, framework: str, fmt: str) -> str:
    """The artifact's default name, which export() also gives it inside an --out folder."""
    return exporting.targets(_spec(family), [(framework, fmt)], None, True)[0].name


def _row(rows, framework, fmt) -> dict:
    return next(row for row in rows if row.get("framework") == framework and row.get("format") == fmt)


def test_the_parent_lists_the_formats_each_adapter_exports(adapters):
    import models_tf.export
    import models_torch.export

    assert exporting.FORMATS == {"tensorflow": models_tf.export.FORMATS, "torch": models_torch.export.FORMATS}


@pytest.mark.parametrize("family, framework, fmt", CASES, ids=["-".join(case) for case in CASES])
def test_each_artifact_matches_its_framework_or_is_a_pinned_unsupported(exported, family, framework, fmt):
    row = _row(exported(family), framework, fmt)
    if (family, framework, fmt) in UNSUPPORTED:
        assert row["status"] == "unsupported", row
        assert UNSUPPORTED[family, framework, fmt] in row["reason"] and "\n" not in row["reason"]
        return
    assert row["status"] == "ok", row.get("reason") or row.get("error")
    assert row["max_difference"] <= TOLERANCE and row["within_tolerance"]
    assert set(row["latency_ms"]) == {"1", "1024"} and all(value > 0 for value in row["latency_ms"].values())
    assert row["size_bytes"] > 0 and Path(row["path"]).name == _name(family, framework, fmt)
    assert ("operators" in row) == (fmt == "onnx")


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_leaves_only_its_artifacts_behind(exported, family):
    """No temporary file or folder stays, and an unsupported format leaves nothing at its name."""
    rows = [row for row in exported(family) if row.get("kind") == "artifact"]
    folders = {Path(row["path"]).parent for row in rows if row["status"] == "ok"}
    assert len(folders) == 1
    written = {_name(family, row["framework"], row["format"]) for row in rows if row["status"] == "ok"}
    assert {path.name for path in folders.pop().iterdir()} == {".harness"} | written


@pytest.mark.parametrize("family", FAMILIES)
def test_the_onnx_judge_finds_both_exports_agree(exported, family):
    rows = exported(family)
    judges = [row for row in rows if row.get("kind") == "onnx_judge"]
    assert len(judges) == 1
    judge = judges[0]
    assert judge["status"] == "ok" and judge["samples"] == 1024
    assert judge["max_difference"] <= TOLERANCE and judge["within_tolerance"]
    for index, framework in enumerate(("tensorflow", "torch")):
        counts = {name: pair[index] for name, pair in judge["operators"].items() if pair[index]}
        assert counts == _row(rows, framework, "onnx")["operators"]


def test_the_table_shows_every_row_the_reasons_and_the_judge(exported):
    table = exporting.format_table(exported("lstm"))
    lines = table.splitlines()
    assert lines[0].startswith("| framework | format | runtime | file size |")
    assert sum(line.startswith(("| tensorflow |", "| torch |")) for line in lines) == 6
    assert any("tflite: unsupported:" in line and "element_shape" in line for line in lines)
    assert "ONNX judge" in table and "| LSTM |" in table


# ------------------------------------------------------------------------------------------ hostile input

@pytest.fixture()
def dense_spec_and_weights(tmp_path):
    spec = _spec("dense")
    weights_npz.save(tmp_path / "weights.npz", spec.model, _weights(spec))
    return spec, tmp_path / "weights.npz"


def _one_line(error: SpecError, field: str) -> str:
    message = str(error.value)
    assert error.value.field == field and "\n" not in message, message
    return message


def test_a_damaged_weights_file_is_one_line(tmp_path, dense_spec_and_weights):
    spec, weights = dense_spec_and_weights
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(SpecError) as error:
        exporting.export(spec, weights, out=tmp_path / "model.onnx", in_process=True)
    assert "damaged" in _one_line(error, "--weights")
    assert not (tmp_path / "model.onnx").exists()


def test_weights_of_another_model_are_one_line(tmp_path, dense_spec_and_weights):
    _, weights = dense_spec_and_weights
    with pytest.raises(SpecError) as error:
        exporting.export(_spec("conv1d_pool"), weights, out=tmp_path / "model.onnx", in_process=True)
    assert "must hold the" in _one_line(error, "--weights")


def _user_file(path):
    path.write_bytes(b"mine\x00\xff")


def _user_folder(path):
    path.mkdir()
    _user_file(path / "notes.txt")


# (format asked for, what is in the way, force, what the line says)
IN_THE_WAY = {
    "file": ("onnx", _user_file, False, "exists"),
    "folder": ("savedmodel", _user_folder, False, "exists"),
    "folder, forced": ("savedmodel", _user_folder, True, "not a SavedModel"),
    "folder of several": ("all", _user_folder, True, "not written by the harness"),
}


@pytest.mark.parametrize("case", IN_THE_WAY)
def test_an_existing_out_is_left_byte_for_byte(tmp_path, dense_spec_and_weights, case):
    spec, weights = dense_spec_and_weights
    fmt, make, force, phrase = IN_THE_WAY[case]
    make(tmp_path / "existing")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    with pytest.raises(SpecError) as error:
        exporting.export(spec, weights, formats=(fmt,), out=tmp_path / "existing", force=force, in_process=True)
    assert phrase in _one_line(error, "--out")
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize("frameworks, formats, field", [
    (("tensorflow",), ("pt2",), "--format"), (("jax",), ("onnx",), "--framework"), ((), ("onnx",), "--framework")])
def test_a_format_the_framework_lacks_is_one_line(dense_spec_and_weights, frameworks, formats, field):
    spec, weights = dense_spec_and_weights
    with pytest.raises(SpecError) as error:
        exporting.export(spec, weights, frameworks=frameworks, formats=formats, in_process=True)
    _one_line(error, field)


def test_a_keras_weights_file_is_read_first(tmp_path, adapters, dense_spec_and_weights):
    """The framework's own file (.weights.h5) goes through the canonical layout; the torch artifact computes it."""
    spec, weights = dense_spec_and_weights
    model = adapters["tensorflow"].build_model(spec.model, seed=SEED)
    adapters["tensorflow"].set_weights(model, weights_npz.load(weights, spec.model))
    adapters["tensorflow"].save_weights(model, tmp_path / "model.weights.h5")
    rows = exporting.export(spec, tmp_path / "model.weights.h5", frameworks=("torch",), formats=("pt2",),
                            out=tmp_path / "model.pt2", in_process=True, log=lambda line: None, repeats=1)
    assert rows[0]["status"] == "ok" and rows[0]["max_difference"] <= TOLERANCE
    assert (tmp_path / "model.pt2").is_file()


def test_a_damaged_framework_weights_file_is_one_line(tmp_path, adapters, dense_spec_and_weights):
    spec, _ = dense_spec_and_weights
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 not really a torch archive")
    with pytest.raises(SpecError) as error:
        exporting.export(spec, tmp_path / "model.pt", frameworks=("torch",), formats=("pt2",),
                         out=tmp_path / "model.pt2", in_process=True, log=lambda line: None)
    _one_line(error, "--weights")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.pt", "weights.npz"]
