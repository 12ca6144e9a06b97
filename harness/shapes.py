"""Shape inference and parameter counts, computed from the spec alone (no framework).

Each layer maps one sample's shape (no batch axis) to its output shape. An impossible stack is rejected
here with the layer's index, type and incoming shape, before any framework is loaded.
"""

from dataclasses import dataclass
from math import prod

from harness.errors import SpecError
from harness.spec import ModelSpec


@dataclass(frozen=True)
class LayerInfo:
    index: int
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int


def _dense(layer, shape):
    # Dense acts on the last axis, in Keras and in torch.nn.Linear alike: (..., in) -> (..., units).
    fan_in = shape[-1]
    return shape[:-1] + (layer.units,), fan_in * layer.units + (layer.units if layer.use_bias else 0)


def _same(layer, shape):
    return shape, 0


def _flatten(layer, shape):
    return (prod(shape),), 0


_RULES = {"dense": _dense, "dropout": _same, "activation": _same, "flatten": _flatten}


def infer(model: ModelSpec) -> list[LayerInfo]:
    """Per layer: incoming shape, output shape (without the batch axis) and trainable parameter count."""
    infos, shape = [], tuple(model.input_shape)
    for index, layer in enumerate(model.layers):
        try:
            out, params = _RULES[layer.type](layer, shape)
        except SpecError as error:
            raise SpecError(f"model.layers[{index}]", f"{layer.type} cannot take input of shape {list(shape)}: {error}")
        infos.append(LayerInfo(index, layer.type, shape, out, params))
        shape = out
    return infos


def output_shape(model: ModelSpec) -> tuple[int, ...]:
    return infer(model)[-1].output_shape


def count_params(model: ModelSpec) -> int:
    return sum(info.params for info in infer(model))
