"""The PyTorch importer: an nn.Module, or a program saved by torch.export.save (.pt2), as a spec model.

The twin of models_tf/importer.py. Both paths read one thing, the program torch.export writes: a module is traced
(`torch.export.export(module.eval(), (example,))`) and saved to memory, a .pt2 file is read as it is, and
models_torch.import_archive reads either without unpickling anything. models_torch.import_graph and import_ops
translate its chain of ATen ops into spec layers. The result is proved before it is returned: the harness' own
torch model built from the spec, with the canonical weights, must give the original's outputs to `TOLERANCE`.
"""

import io
import warnings

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from harness.core import guard, shapes
from harness.core.errors import SpecError, first_line
from harness.core.imported import PROBE_SAMPLES, TOLERANCE, Imported, probe_batch
from harness.core.spec import ModelSpec
from harness.core.spec_layers import brief
from models_torch.base import assign
from models_torch.import_archive import SAVE_INSTEAD, read_archive
from models_torch.import_graph import Ref, input_value, spec_input_shape, translate
from models_torch.import_ops import HANDLERS
from models_torch.model import build_model, get_weights

# a hostile program's arguments can break a translation in many ways (a list where an int belongs): one line each
BROKEN = (ValueError, RuntimeError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError)


def _to_torch(batch: np.ndarray, layout: str) -> torch.Tensor:
    """A spec-layout batch (N, *input_shape), channels last -> the original's layout, as a fresh C-ordered tensor
    (a permuted view of one channel looks channels-last to torch, and a module's x.view(N, -1) then fails)."""
    x = np.moveaxis(batch, -1, 1) if layout == "first" else batch
    x = np.swapaxes(x, 0, 1) if layout.startswith("time") else x
    x = torch.from_numpy(np.asarray(x, dtype=np.float32)).clone(memory_format=torch.contiguous_format)
    return x.long() if layout in ("ids", "time_ids") else x


def _to_spec(y: torch.Tensor, layout: str) -> np.ndarray:
    """The original's output -> the spec's layout (channels last, batch first)."""
    y = {"first": lambda: y.movedim(1, -1), "time": lambda: y.transpose(0, 1),
         "pooled": lambda: y.flatten(1)}.get(layout, lambda: y)()
    return y.detach().numpy().astype(np.float32)


def _resolve(item, env: dict):
    """An argument's value: a Ref (or a list of them) as the tensor it names, anything else as it is."""
    if isinstance(item, list):
        return [_resolve(value, env) for value in item]
    return env[item.name] if isinstance(item, Ref) else item


def _run_program(program, x: torch.Tensor) -> torch.Tensor:
    """The program op by op (every target is in import_ops.TARGETS), on a batch of the traced example's size."""
    env = dict(program.tensors)
    env[program.input] = x
    for node in program.nodes:
        _, packet, overload = node.op.split(".")
        operator = getattr(getattr(torch.ops.aten, packet), overload)
        result = operator(**{key: _resolve(value, env) for key, value in node.args.items()})
        env.update(zip(node.outputs, result if isinstance(result, (tuple, list)) else (result,)))
    return env[program.output]


def _program_runner(program, chain):
    """run_original of a .pt2: a static program takes batches of its traced size, so the batch is fed in pieces
    (the last one padded with zeros, its padding dropped from the outputs)."""
    axis, out_axis = int(chain.input_layout.startswith("time")), int(chain.output_layout == "time")
    size = program.shapes[program.input][axis]

    def run_original(batch: np.ndarray) -> np.ndarray:
        x, pieces = _to_torch(batch, chain.input_layout), []
        with torch.no_grad():
            for start in range(0, x.shape[axis], size):
                piece = x.narrow(axis, start, min(size, x.shape[axis] - start))
                short = size - piece.shape[axis]
                padding = torch.zeros((*piece.shape[:axis], short, *piece.shape[axis + 1:]), dtype=piece.dtype)
                output = _run_program(program, torch.cat([piece, padding], axis) if short else piece)
                pieces.append(output.narrow(out_axis, 0, size - short))
        return _to_spec(torch.cat(pieces, out_axis), chain.output_layout)
    return run_original


def _module_runner(module: nn.Module, chain, axis: int):
    if axis != int(chain.input_layout.startswith("time")):
        raise SpecError("model", f"the module was traced with the batch axis {axis} of its input (as its first "
                                 f"recurrent module's batch_first says), but its ops read it as axis {1 - axis}")

    def run_original(batch: np.ndarray) -> np.ndarray:
        module.eval()
        with torch.no_grad():
            return _to_spec(module(_to_torch(batch, chain.input_layout)), chain.output_layout)
    return run_original


def _canonical(model_spec: ModelSpec, chain) -> tuple:
    """The harness' torch model of the spec with the original's parameters copied into its blocks (torch layout),
    and its canonical weights: the blocks' own mappings fold, reorder and transpose them."""
    spec_model = build_model(model_spec).eval()
    for block, tensors in zip(spec_model.blocks, chain.params):
        named = dict(block.named_parameters()) | dict(block.named_buffers())
        for key, tensor in tensors.items():
            if tensor is not None:
                assign(named[key], tensor.detach().numpy())
    return spec_model, get_weights(spec_model)


def _prove(model_spec: ModelSpec, spec_model, run_original, field: str) -> float:
    probe = probe_batch(model_spec)
    with torch.no_grad():
        ours = spec_model(torch.from_numpy(probe)).numpy()
    theirs = run_original(probe)
    if theirs.shape != ours.shape:
        raise SpecError(field, f"the original gives outputs of shape {list(theirs.shape[1:])}, the spec "
                               f"{list(ours.shape[1:])}: the translation is not exact")
    gap = float(np.max(np.abs(ours - theirs)))
    if not gap <= TOLERANCE:
        raise SpecError(field, f"the spec model differs from the original by {gap:.2e} (more than {TOLERANCE:g}): "
                               f"the translation is not exact")
    return gap


def _imported(program, params: int, runner, field: str) -> Imported:
    """Translated, validated, weights made canonical and proved; a broken program is one line on `field`."""
    try:
        chain = translate(program, HANDLERS)
        model = {"input_shape": spec_input_shape(input_value(program)), "layers": chain.layers}
        try:
            model_spec = ModelSpec.model_validate(model)
        except ValidationError as error:
            first = error.errors()[0]
            raise SpecError(field, f"the translation is not a valid spec: {'.'.join(map(str, first['loc']))}: "
                                   f"{first['msg']}") from None
        shapes.infer(model_spec)
        spec_model, weights = _canonical(model_spec, chain)
        run_original = runner(chain)
        gap = _prove(model_spec, spec_model, run_original, field)
    except SpecError:
        raise
    except BROKEN as error:
        raise SpecError(field, f"the program cannot be translated ({type(error).__name__}: "
                               f"{first_line(error, 180)})") from None
    notes = [*chain.notes, f"proof: the spec's torch model matches the original to {gap:.1e} on {PROBE_SAMPLES} "
                           f"probe samples"]
    return Imported(model=model, weights=weights, source="torch", original_params=params, notes=notes,
                    run_original=run_original)


def _example(module: nn.Module, input_shape: tuple) -> tuple:
    """(A batch of one sample, its batch axis): the batch axis second when the first recurrent module is not
    batch_first; token ids in [0, num_embeddings) when the module holds an Embedding."""
    recurrent = [m for m in module.modules() if isinstance(m, nn.RNNBase)]
    axis = 1 if recurrent and not recurrent[0].batch_first else 0
    shape = (*input_shape[:axis], 1, *input_shape[axis:])
    generator = torch.Generator().manual_seed(0)
    embedding = next((m for m in module.modules() if isinstance(m, nn.Embedding)), None)
    if embedding is not None:
        return torch.randint(0, embedding.num_embeddings, shape, generator=generator), axis
    return torch.randn(shape, generator=generator), axis


def from_model(model: nn.Module, input_shape) -> Imported:
    """An nn.Module (an nn.Sequential, or one whose forward traces to a chain of ops) as a spec model.

    input_shape: one sample's shape on the PyTorch side, without the batch axis: (1, 28, 28) for NCHW images,
    (C, L) for Conv1d, (D,) for an MLP, (T, D) for an RNN. Returns the Imported model; its run_original takes a
    spec-layout batch (N, *spec input_shape), channels last, and returns the module's outputs in eval mode."""
    if not isinstance(model, nn.Module):
        raise SpecError("model", f"expected a torch.nn.Module; received {brief(model)}")
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else ()
    if not shape or not all(type(size) is int and size > 0 for size in shape):
        raise SpecError("input_shape", f"expected positive integers; received {brief(input_shape)}")
    example, axis = _example(model.eval(), shape)
    try:
        with warnings.catch_warnings():  # torch's advice on an RNN's _flat_weights is about its own internals
            warnings.filterwarnings("ignore", message="The tensor attributes .*_flat_weights")
            exported = torch.export.export(model, (example,))
    except Exception as error:  # noqa: BLE001 - torch.export raises many kinds; the user gets one line
        raise SpecError("model", f"torch.export could not trace the module ({type(error).__name__}: "
                                 f"{first_line(error, 180)})") from None
    buffer = io.BytesIO()
    torch.export.save(exported, buffer)
    program, _ = read_archive(buffer, "the traced module", "model")
    params = sum(p.numel() for p in model.parameters())
    return _imported(program, params, lambda chain: _module_runner(model, chain, axis), "model")


def read_model_file(path, field: str = "FILE") -> Imported:
    """A program saved by torch.export.save (.pt2) as a spec model, read without unpickling anything; a torch.save
    file (.pt/.pth: a pickle, or a state dict holding no architecture) is refused with what to save instead."""
    path = guard.check_file(path, field, "weights")
    if path.suffix.lower() in (".pt", ".pth"):
        raise SpecError(field, f"{path.name} is a torch.save file (a pickled module, or a state dict that holds no "
                               f"architecture): it is never unpickled here; {SAVE_INSTEAD}")
    program, params = read_archive(path, path.name, field)
    return _imported(program, params, lambda chain: _program_runner(program, chain), field)
