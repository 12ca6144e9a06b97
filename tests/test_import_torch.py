"""The PyTorch importer (models_torch/importer.py), with real torch and real Keras.

Each module below is written the way tutorials write it. It is imported twice, from the module (`from_model`) and
from a `torch.export.save` file (`read_model_file`); the Keras model built from the spec with the imported weights
must give the original module's outputs on `probe_batch` to 1e-5 (harness.core.imported.TOLERANCE: float32
round-off is ~1e-7 relative, and the two frameworks sum convolutions and long dot products in different orders).
The original's outputs are computed here, from the module itself, not through the importer's run_original.
Hostile or untranslatable files are refused in one line, and nothing in them runs.
"""

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.core.errors import SpecError
from harness.core.imported import TOLERANCE, probe_batch
from harness.core.spec import ModelSpec


@pytest.fixture(scope="module")
def adapters(tf_adapter, torch_adapter):
    from models_torch import importer

    return tf_adapter, importer


# ------------------------------------------------------------------------------------------- the modules

def _with_stats(module: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, as after training."""
    with torch.no_grad():
        for norm in (m for m in module.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))):
            norm.running_mean.uniform_(-1.0, 1.0)
            norm.running_var.uniform_(0.5, 2.0)
            if norm.affine:
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.5, 0.5)
    return module


class Recurrent(nn.Module):
    """An RNN/LSTM/GRU and a Linear head, reading the last step, h_n or the whole output sequence."""

    def __init__(self, kind, batch_first, read, **options):
        super().__init__()
        self.rnn = getattr(nn, kind)(3, 5, batch_first=batch_first, **options)
        self.fc = nn.Linear(5 * (2 if options.get("bidirectional") else 1), 2)
        self.batch_first, self.read = batch_first, read

    def forward(self, x):
        out, state = self.rnn(x)
        h_n = state[0] if isinstance(state, tuple) else state
        chosen = {"last": lambda: out[:, -1] if self.batch_first else out[-1], "h_n": lambda: h_n[-1],
                  "squeeze": lambda: h_n.squeeze(0), "sequence": lambda: out}[self.read]()
        return self.fc(chosen)


class EmbeddingMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 6)
        self.fc = nn.Linear(6, 3)

    def forward(self, ids):
        return self.fc(self.embedding(ids).mean(dim=1))


class EmbeddingConv(nn.Module):
    """Embedding -> transpose to channels first -> Conv1d -> mean over steps."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 4)
        self.conv = nn.Conv1d(4, 6, 3)
        self.fc = nn.Linear(6, 2)

    def forward(self, ids):
        return self.fc(self.conv(self.embedding(ids).transpose(1, 2)).relu().mean(2))


class EmbeddingLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 4)
        self.lstm = nn.LSTM(4, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, ids):
        _, (h_n, _) = self.lstm(self.embedding(ids))
        return torch.sigmoid(self.fc(h_n[-1]))


class GRUBase(nn.Module):
    """The MNIST-1D authors' GRUBase (github.com/greydanus/mnist1d): a bidirectional GRU of 6 units, its 40 outputs
    flattened into a linear layer. Their initial state is 0 * torch.randn(...), zeros drawn at random, which an
    exported program would hold as a random op: torch's own zero state here is the same computation."""

    def __init__(self, input_size=1, output_size=10, hidden_size=6, time_steps=40):
        super().__init__()
        self.gru = nn.GRU(input_size=input_size, hidden_size=hidden_size, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * hidden_size * time_steps, output_size)

    def forward(self, x):
        x = x.view(*x.shape[:2], 1)
        output, _ = self.gru(x)
        return self.linear(output.reshape(output.shape[0], -1))


class ConvBase(nn.Module):
    """The MNIST-1D authors' ConvBase (github.com/greydanus/mnist1d), exactly."""

    def __init__(self, output_size=10, channels=25, linear_in=125):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.linear = nn.Linear(linear_in, output_size)

    def forward(self, x):
        x = x.view(-1, 1, x.shape[-1])
        h1 = self.conv1(x).relu()
        h2 = self.conv2(h1).relu()
        h3 = self.conv3(h2).relu()
        h3 = h3.view(h3.shape[0], -1)
        return self.linear(h3)


class SequenceConv(nn.Module):
    """A (N, T, D) sequence permuted to channels first for Conv1d, padded with F.pad, pooled with amax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.nn.functional.pad(x.permute(0, 2, 1), (1, 2))
        return self.fc(torch.amax(self.conv(h).relu(), dim=2))


class Scaled(nn.Module):
    """Pixels scaled in the forward (x / 255 - 0.5), as image tutorials write it."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 0, 2, 1))
        self.conv = nn.Conv2d(1, 3, 3)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        h = self.conv(self.pad(x / 255.0 - 0.5)).relu()
        return self.fc(torch.flatten(self.pool(h), 1))


class ChannelsLastFlatten(nn.Module):
    """Moves the channels last before flattening, so the Linear reads (H, W, C) order: no kernel permutation."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(27, 2)

    def forward(self, x):
        return self.fc(self.conv(x).permute(0, 2, 3, 1).flatten(1))


class ViewFlatten(nn.Module):
    """Functional style: F.max_pool2d, x.view(x.size(0), -1) on one input channel (a view that fails on a
    channels-last strided batch), F.dropout, F.log_softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = F.dropout(x.view(x.size(0), -1), training=self.training)
        return F.log_softmax(self.fc(x), dim=1)


def mnist_example():
    """pytorch/examples mnist/main.py's Net, as an nn.Sequential."""
    return nn.Sequential(nn.Conv2d(1, 32, 3, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(1), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, 10), nn.LogSoftmax(dim=1))


# name -> (module factory, PyTorch input shape, how a spec batch becomes the module's: "channels" moves the last
# axis to 1, "time" swaps the batch and steps axes, None keeps it)
CASES = {
    "mlp": (lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3),
                                  nn.Softmax(dim=1)), (8,), None),
    "activations": (lambda: nn.Sequential(nn.Linear(4, 6), nn.GELU(), nn.Linear(6, 6), nn.ELU(), nn.Linear(6, 6),
                                          nn.LeakyReLU(0.2), nn.Linear(6, 6), nn.Softplus(), nn.Tanh(),
                                          nn.Linear(6, 2), nn.Sigmoid()), (4,), None),
    "leaky_relu_slopes": (lambda: nn.Sequential(nn.Linear(4, 6), nn.LeakyReLU(), nn.Linear(6, 2),
                                                nn.LeakyReLU(0.2)), (4,), None),
    "conv1d_maxpool": (lambda: nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(),
                                             nn.Linear(20, 3)), (2, 12), "channels"),
    "conv2d_flatten": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                             nn.Linear(36, 5)), (3, 8, 8), "channels"),
    "conv2d_padding_stride": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Tanh(),
                                                    nn.Conv2d(4, 3, 3, padding="same"), nn.AvgPool2d(2, padding=1),
                                                    nn.Flatten(), nn.Linear(27, 4)), (2, 9, 9), "channels"),
    "batchnorm1d": (lambda: _with_stats(nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8, momentum=0.2), nn.ReLU(),
                                                      nn.Linear(8, 2))), (6,), None),
    "batchnorm2d": (lambda: _with_stats(nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(),
                                                      nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2, affine=False),
                                                      nn.Flatten(), nn.Linear(18, 2))), (1, 7, 7), "channels"),
    "adaptive_avg_pool": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                                nn.Flatten(), nn.Linear(4, 2)), (1, 6, 6), "channels"),
    "embedding_mean": (EmbeddingMean, (7,), None),
    "embedding_conv1d": (EmbeddingConv, (7,), None),
    "embedding_lstm": (EmbeddingLSTM, (6,), None),
    "lstm_last_step": (lambda: Recurrent("LSTM", True, "last"), (5, 3), None),
    "lstm_seq_first_h_n": (lambda: Recurrent("LSTM", False, "h_n"), (5, 3), "time"),
    "gru_h_n_squeeze": (lambda: Recurrent("GRU", True, "squeeze"), (5, 3), None),
    "gru_seq_first_last_step": (lambda: Recurrent("GRU", False, "last"), (5, 3), "time"),
    "rnn_sequence": (lambda: Recurrent("RNN", True, "sequence"), (5, 3), None),
    "rnn_relu_seq_first_sequence": (lambda: Recurrent("RNN", False, "sequence", nonlinearity="relu"), (5, 3),
                                    "time"),
    "sequence_permute_pad_amax": (SequenceConv, (6, 3), None),
    "scaled_zero_pad_adaptive_max": (Scaled, (1, 7, 7), "channels"),
    "channels_last_flatten": (ChannelsLastFlatten, (2, 5, 5), "channels"),
    "functional_view_flatten": (ViewFlatten, (1, 12, 12), "channels"),
    "mnist_example": (mnist_example, (1, 28, 28), "channels"),
    "mnist1d_convbase": (ConvBase, (40,), None),
    "mnist1d_grubase": (GRUBase, (40,), None),
    "lstm_bidirectional_seq_first": (lambda: Recurrent("LSTM", False, "sequence", bidirectional=True), (5, 3),
                                     "time"),
}
PUBLISHED_PARAMS = {"mnist_example": 1_199_882, "mnist1d_convbase": 5_210, "mnist1d_grubase": 5_134}


def _module(name: str) -> nn.Module:
    torch.manual_seed(0)
    return CASES[name][0]().eval()


def _original(module: nn.Module, batch: np.ndarray, move) -> np.ndarray:
    """The module's own outputs on a spec-layout batch, in the spec's layout."""
    x = torch.from_numpy(batch)
    x = x.long() if any(isinstance(m, nn.Embedding) for m in module.modules()) else x
    x = x.movedim(-1, 1) if move == "channels" else x.transpose(0, 1) if move == "time" else x
    with torch.no_grad():  # a fresh NCHW tensor: a moved axis of one channel would look channels-last to torch
        y = module(x.clone(memory_format=torch.contiguous_format))
    return (y.transpose(0, 1) if move == "time" and y.dim() == 3 else y).numpy()


def _save(module: nn.Module, shape: tuple, move, path: Path, batch: int = 3) -> Path:
    """torch.export.save of the module traced on a batch of 3 (the importer runs a static program in pieces)."""
    full = (shape[0], batch, *shape[1:]) if move == "time" else (batch, *shape)
    ids = any(isinstance(m, nn.Embedding) for m in module.modules())
    example = torch.randint(0, 5, full) if ids else torch.randn(full)
    torch.export.save(torch.export.export(module, (example,)), str(path))
    return path


@pytest.mark.parametrize("source", ["module", "pt2"])
@pytest.mark.parametrize("name", list(CASES))
def test_import_matches_keras(adapters, tmp_path, name, source):
    """The Keras model of the imported spec gives the original module's outputs (<= 1e-5), from both paths."""
    models_tf, importer = adapters
    module, shape, move = _module(name), CASES[name][1], CASES[name][2]
    imported = importer.from_model(module, shape) if source == "module" else \
        importer.read_model_file(_save(module, shape, move, tmp_path / f"{name}.pt2"))
    model_spec = ModelSpec.model_validate(imported.model)
    keras_model = models_tf.build_model(model_spec)
    models_tf.set_weights(keras_model, imported.weights)
    probe = probe_batch(model_spec)
    expected = _original(module, probe, move)
    keras_out = np.asarray(keras_model(probe, training=False))
    assert keras_out.shape == expected.shape
    assert np.max(np.abs(keras_out - expected)) <= TOLERANCE
    assert np.max(np.abs(imported.run_original(probe) - expected)) <= TOLERANCE
    assert imported.source == "torch" and all(w.dtype == np.float32 for w in imported.weights)
    assert imported.original_params == PUBLISHED_PARAMS.get(name, sum(p.numel() for p in module.parameters()))


# ------------------------------------------------------------------------------------------- refusals

class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.fc(x)


# name -> (module factory, PyTorch input shape, a phrase the one-line refusal must hold)
REFUSED = {
    "layer_norm": (lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), (4,), "layer_norm"),
    "residual_add": (Residual, (4,), "no residual or branching graph"),
    "bidirectional_last_step": (lambda: Recurrent("LSTM", True, "last", bidirectional=True), (5, 3),
                                "bidirectional: only its whole output sequence"),
    "stacked_gru": (lambda: Recurrent("GRU", True, "last", num_layers=2), (5, 3), "num_layers=2"),
    "max_pool_padding": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, padding=1)), (1, 6, 6), "-inf"),
    "max_pool_ceil_mode": (lambda: nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), (1, 5, 5), "ceil_mode"),
    "grouped_conv": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, groups=2)), (2, 6, 6), "groups=2"),
    "negative_leaky_relu_slope": (lambda: nn.Sequential(nn.Linear(4, 2), nn.LeakyReLU(-0.5)), (4,),
                                  "negative_slope=-0.5"),
    "batch_norm_batch_stats": (lambda: nn.Sequential(nn.BatchNorm2d(2, track_running_stats=False)), (2, 3, 3),
                               "track_running_stats=False"),
    "adaptive_pool_to_2": (lambda: nn.Sequential(nn.AdaptiveAvgPool2d(2)), (1, 6, 6), "output size"),
    "embedding_padding_idx": (lambda: nn.Sequential(nn.Embedding(10, 3, padding_idx=0)), (4,), "padding_idx"),
    "avg_pool_exclude_pad": (lambda: nn.Sequential(nn.AvgPool1d(3, padding=1, count_include_pad=False)), (2, 8),
                             "count_include_pad=False"),
}


def _refusal(call) -> str:
    with pytest.raises(SpecError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("name", list(REFUSED))
def test_untranslatable_module_is_refused_in_one_line(adapters, name):
    _, importer = adapters
    factory, shape, phrase = REFUSED[name]
    torch.manual_seed(0)
    assert phrase in _refusal(lambda: importer.from_model(factory().eval(), shape))


def test_untranslatable_pt2_names_the_op_and_what_is_supported(adapters, tmp_path):
    _, importer = adapters
    module = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)).eval()
    path = tmp_path / "layer_norm.pt2"
    torch.export.save(torch.export.export(module, (torch.randn(1, 4),)), str(path))
    message = _refusal(lambda: importer.read_model_file(path, "FILE"))
    assert message.startswith("FILE: layer_norm.pt2") and "aten.layer_norm" in message
    assert "supported: Linear" in message


# ------------------------------------------------------------------------------------------- hostile files

def _marker_pickle(marker: Path) -> bytes:
    """A pickle that creates `marker` when unpickled (Path.touch by reference: no module of ours needed)."""
    class Touch:
        def __reduce__(self):
            return Path.touch, (marker,)
    return pickle.dumps(Touch(), protocol=4)


def test_marker_pickle_is_live(tmp_path):
    """The payload below really runs when unpickled, so its marker's absence means that nothing unpickled it."""
    pickle.loads(_marker_pickle(tmp_path / "probe"))
    assert (tmp_path / "probe").exists()


@pytest.fixture
def program_file(tmp_path) -> Path:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).eval()
    path = tmp_path / "program.pt2"
    torch.export.save(torch.export.export(module, (torch.randn(1, 4),)), str(path))
    return path


def _rewrite(source: Path, target: Path, change) -> Path:
    """A copy of a .pt2 archive with change(member, data) -> new data (None drops it) applied to each member;
    change(None, None) may return {member: data} to add."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        root = old.namelist()[0].split("/")[0]
        for info in old.infolist():
            data = change(info.filename.partition("/")[2], old.read(info))
            if data is not None:
                new.writestr(info, data)
        for member, data in (change(None, None) or {}).items():
            new.writestr(f"{root}/{member}", data)
    return target


def _pickled_weight(evil: bytes):
    def change(member, data):
        if member == "data/weights/model_weights_config.json":
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
        return evil if member == "data/weights/weight_0" else data
    return change


def _swap_target(member, data):
    if member == "models/model.json":
        return data.replace(b'"torch.ops.aten.relu.default"', b'"torch.ops.aten.relu.default"'.replace(
            b"aten.relu", b"evil.touch"))
    return data


def _overreaching_sizes(member, data):
    if member == "data/weights/model_weights_config.json":
        config = json.loads(data)
        next(iter(config["config"].values()))["tensor_meta"]["sizes"] = [{"as_int": 3}, {"as_int": 400}]
        return json.dumps(config).encode()
    return data


# name -> (archive change, given a pickle that creates a marker; a phrase the refusal must hold)
CRAFTED = {
    "pickled_sample_inputs": (lambda evil: lambda m, d: evil if m == "data/sample_inputs/model.pt" else d,
                              "weights_only=False"),
    "pickled_weight": (_pickled_weight, "as a pickle"),
    "custom_object_member": (lambda evil: lambda m, d: {"data/constants/custom_obj_0": evil} if m is None else d,
                             "custom_obj_0"),
    "op_outside_the_table": (lambda evil: _swap_target, "evil.touch"),
    "layout_past_its_bytes": (lambda evil: _overreaching_sizes, "does not fit"),
    "missing_program": (lambda evil: lambda m, d: None if m == "models/model.json" else d, "lacks models/model.json"),
}


@pytest.mark.parametrize("name", list(CRAFTED))
def test_crafted_pt2_is_refused_and_nothing_runs(adapters, program_file, tmp_path, name):
    _, importer = adapters
    marker = tmp_path / "marker"
    change, phrase = CRAFTED[name]
    crafted = _rewrite(program_file, tmp_path / "crafted.pt2", change(_marker_pickle(marker)))
    assert phrase in _refusal(lambda: importer.read_model_file(crafted, "FILE"))
    assert not marker.exists()


def _truncated(path: Path, marker: Path) -> Path:
    data = path.read_bytes()
    return _write(path.with_name("truncated.pt2"), data[:len(data) // 2])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _exported(path: Path, module: nn.Module, example: torch.Tensor, **options) -> Path:
    torch.export.save(torch.export.export(module.eval(), (example,), **options), str(path))
    return path


# name -> (file maker (the program file, a marker path) -> path, a phrase the refusal must hold)
NOT_PROGRAMS = {
    "truncated": (_truncated, "damaged"),
    "not_a_zip": (lambda path, marker: _write(path.with_name("text.pt2"), b"hello, not a zip\n"), "zip archive"),
    "pickle_named_pt2": (lambda path, marker: _write(path.with_name("evil.pt2"), _marker_pickle(marker)),
                         "zip archive"),
    "pickle_named_pt": (lambda path, marker: _write(path.with_name("evil.pt"), _marker_pickle(marker)),
                        "torch.export.save(torch.export.export(model.eval(), (example,)), \"model.pt2\")"),
    "whole_module_pt": (lambda path, marker: torch.save(nn.Linear(2, 2), path.with_name("module.pt"))
                        or path.with_name("module.pt"), "never unpickled"),
    "state_dict_pth": (lambda path, marker: torch.save(nn.Linear(2, 2).state_dict(), path.with_name("sd.pth"))
                       or path.with_name("sd.pth"), "holds no architecture"),
    "torch_save_named_pt2": (lambda path, marker: torch.save(nn.Linear(2, 2).state_dict(), path.with_name("sd.pt2"))
                             or path.with_name("sd.pt2"), "torch.save archive"),
    "missing": (lambda path, marker: path.with_name("absent.pt2"), "file not found"),
    "dynamic_batch": (lambda path, marker: _exported(path.with_name("dynamic.pt2"), nn.Linear(4, 2), torch.randn(2, 4),
                                                     dynamic_shapes=({0: torch.export.Dim("batch")},)),
                      "static example batch"),
    "float64_weights": (lambda path, marker: _exported(path.with_name("f64.pt2"), nn.Linear(4, 2).double(),
                                                       torch.randn(1, 4, dtype=torch.float64)), "float32"),
}


@pytest.mark.parametrize("name", list(NOT_PROGRAMS))
def test_file_that_is_not_a_program_is_refused_in_one_line(adapters, program_file, tmp_path, name):
    _, importer = adapters
    marker = tmp_path / "marker"
    maker, phrase = NOT_PROGRAMS[name]
    assert phrase in _refusal(lambda: importer.read_model_file(maker(program_file, marker)))
    assert not marker.exists()


def test_program_read_from_memory_and_file_alike(adapters, program_file):
    """The guard on the archive's declared sizes applies to a traced module's in-memory archive too."""
    from models_torch.import_archive import read_archive

    from_file, params = read_archive(program_file, program_file.name, "FILE")
    from_memory, _ = read_archive(io.BytesIO(program_file.read_bytes()), "memory", "FILE")
    assert [node.op for node in from_file.nodes] == [node.op for node in from_memory.nodes] and params == 23


# ------------------------------------------------------------------------------------------- what the spec says

PUBLISHED_LAYERS = {
    "mnist_example": ["conv2d", "conv2d", "max_pool2d", "dropout", "flatten", "dense", "dropout", "dense"],
    "mnist1d_convbase": ["reshape", "zero_padding1d", "conv1d", "zero_padding1d", "conv1d", "zero_padding1d",
                         "conv1d", "flatten", "dense"],
}


@pytest.mark.parametrize("name", list(PUBLISHED_LAYERS))
def test_published_models_translate_layer_by_layer(adapters, name):
    _, importer = adapters
    imported = importer.from_model(_module(name), CASES[name][1])
    assert [layer["type"] for layer in imported.model["layers"]] == PUBLISHED_LAYERS[name]
    last_activation = imported.model["layers"][-1].get("activation", "linear")
    assert last_activation == ("log_softmax" if name == "mnist_example" else "linear")
    assert imported.model["input_shape"] == ([28, 28, 1] if name == "mnist_example" else [40])
    assert any("permuted" in note for note in imported.notes)


# name -> a phrase one of the notes must hold
NOTES = {"batchnorm1d": "Keras momentum 0.8", "lstm_last_step": "folded", "gru_h_n_squeeze": "[z, r, h]",
         "conv2d_padding_stride": "zero_padding2d", "conv1d_maxpool": "permuted"}


@pytest.mark.parametrize("name", list(NOTES))
def test_notes_say_what_the_translation_changed(adapters, name):
    _, importer = adapters
    imported = importer.from_model(_module(name), CASES[name][1])
    assert any(NOTES[name] in note for note in imported.notes), imported.notes


def test_every_supported_op_has_a_handler():
    from models_torch.import_graph import Node
    from models_torch.import_ops import HANDLERS, TARGETS

    names = {Node(target, {}, [], "").name for target in TARGETS}
    assert names - {"zeros", "_assert_tensor_metadata"} == set(HANDLERS)  # the walk skips those two itself
