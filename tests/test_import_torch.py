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
        for norm in (m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
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
        self.fc = nn.Linear(5, 2)
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
    "mnist_example": (mnist_example, (1, 28, 28), "channels"),
    "mnist1d_convbase": (ConvBase, (40,), None),
}
PUBLISHED_PARAMS = {"mnist_example": 1_199_882, "mnist1d_convbase": 5_210}


def _module(name: str) -> nn.Module:
    torch.manual_seed(0)
    return CASES[name][0]().eval()


def _original(module: nn.Module, batch: np.ndarray, move) -> np.ndarray:
    """The module's own outputs on a spec-layout batch, in the spec's layout."""
    x = torch.from_numpy(batch)
    x = x.long() if any(isinstance(m, nn.Embedding) for m in module.modules()) else x
    x = x.movedim(-1, 1) if move == "channels" else x.transpose(0, 1) if move == "time" else x
    with torch.no_grad():
        y = module(x.contiguous())
    return (y.transpose(0, 1) if move == "time" and y.dim() == 3 else y).numpy()


def _save(module: nn.Module, shape: tuple, path: Path) -> Path:
    example = torch.zeros((1, *shape), dtype=torch.long) if isinstance(module, (EmbeddingMean, EmbeddingConv,
                                                                              EmbeddingLSTM)) \
        else torch.randn((*shape[:1], 1, *shape[1:]) if getattr(module, "batch_first", True) is False
                         else (1, *shape))
    torch.export.save(torch.export.export(module, (example,)), str(path))
    return path


@pytest.mark.parametrize("source", ["module", "pt2"])
@pytest.mark.parametrize("name", list(CASES))
def test_import_matches_keras(adapters, tmp_path, name, source):
    """The Keras model of the imported spec gives the original module's outputs (<= 1e-5), from both paths."""
    models_tf, importer = adapters
    module, shape, move = _module(name), CASES[name][1], CASES[name][2]
    imported = importer.from_model(module, shape) if source == "module" else \
        importer.read_model_file(_save(module, shape, tmp_path / f"{name}.pt2"))
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
