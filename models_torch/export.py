"""The torch model as a deployable file, and that file run in its own runtime: ONNX (torch.onnx's dynamo exporter,
run by onnxruntime), TorchScript (torch.jit, run by torch.jit.load) and a torch.export program (.pt2, run by
torch.export.load). The twin of models_tf/export.py.

Every export keeps the batch axis dynamic, so one file runs batch 1 and batch 1024. Every runtime runs on one CPU
thread, so latencies compare formats, not thread pools.
"""

import contextlib
import io
import warnings

import numpy as np
import torch
from torch import nn

from harness.core.onnx_runtime import onnx_runner

FORMATS = ("onnx", "torchscript", "pt2")
MAX_BATCH = 1 << 20  # the dynamic batch axis' upper bound, as torch.export wants one


class _Whole(nn.Module):
    """The spec model's full output (activation included), forward(x) only: what every exporter traces."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):  # (N, *input_shape) channels last -> (N, units)
        return self.model(x)


def _batch_axis() -> tuple:
    return ({0: torch.export.Dim("batch", min=1, max=MAX_BATCH)},)


def _onnx(whole, path, x):
    torch.onnx.export(whole, (x,), str(path), dynamo=True, dynamic_shapes=_batch_axis(), input_names=["x"],
                      output_names=["y"], external_data=False, verbose=False, report=False)


def _torchscript(whole, path, x):
    torch.jit.save(torch.jit.trace(whole, (x,), check_trace=False), str(path))


def _pt2(whole, path, x):
    torch.export.save(torch.export.export(whole, (x,), dynamic_shapes=_batch_axis()), str(path))


EXPORTERS = {"onnx": _onnx, "torchscript": _torchscript, "pt2": _pt2}


def export_model(model, fmt: str, path, sample: np.ndarray) -> None:
    """Writes the model (inference mode) as `fmt` at `path`. `sample` (N >= 2, *input_shape) float32 is the batch
    the exporters trace with; the batch axis stays dynamic."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(sample[:2], np.float32))
    with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # torch.jit's deprecation and tracer notes: the runtime check judges
        EXPORTERS[fmt](_Whole(model).eval(), path, x)


def _module_runtime(module):
    @torch.no_grad()
    def run(x):
        return module(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
    return run


def _torchscript_runtime(path):
    return _module_runtime(torch.jit.load(str(path)).eval())


def _pt2_runtime(path):
    return _module_runtime(torch.export.load(str(path)).module())


RUNTIMES = {"onnx": onnx_runner, "torchscript": _torchscript_runtime, "pt2": _pt2_runtime}


def load_runtime(path, fmt: str):
    """The exported file in its runtime: a callable (N, *input_shape) float32 -> (N, units) float32."""
    torch.set_num_threads(1)
    return RUNTIMES[fmt](path)
