"""Loading a spec from YAML, JSON or Python objects, and the checks that span several fields.

Every failure becomes one `SpecError` line: the field path, what is allowed, what was received.
"""

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness import registry, shapes
from harness.errors import SpecError
from harness.spec import Spec


def _field_path(location: tuple) -> str:
    """('model', 'layers', 1, 'dense', 'units') -> 'model.layers[1].units'.

    pydantic adds the union member to the path: the tag of a tagged union ('dense' right after a layer index,
    'adam' right after 'optimizer') and labels such as 'constrained-int'. A reader needs neither.
    """
    parts: list[str] = []
    previous = None
    for item in location:
        tag_position = isinstance(previous, int) or previous == "optimizer"
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        elif not (tag_position and isinstance(previous, (int, str)) and item in _TAGS) and not _is_label(item):
            parts.append(str(item))
        previous = item
    return ".".join(parts)


_TAGS = set(registry.LAYERS) | set(registry.OPTIMIZERS)


def _is_label(item) -> bool:
    return any(mark in str(item) for mark in "[-")


def _one_line(error: ValidationError, prefix: str = "") -> SpecError:
    first = error.errors(include_url=False)[0]
    field = ".".join(part for part in (prefix, _field_path(first["loc"])) if part)
    message = first["msg"].removeprefix("Value error, ").replace("Input should be", "expected")
    message = re.sub(r"^expected (greater|less)", r"expected a value \1", message)
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "extra_forbidden":
        message = "is not a known field"
    elif first["type"] == "union_tag_invalid":
        context = first.get("ctx", {})
        message = f"unknown type {context.get('tag')!r}; allowed: {context.get('expected_tags', '')}"
        return SpecError(field, message)
    elif "received" not in message:
        message += f"; received {first['input']!r}"
    more = error.error_count() - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return SpecError(field, message)


def _load_mapping(path: Path) -> dict:
    if not path.is_file():
        raise SpecError("", f"spec file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError("", f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}{line}: {problem}")
    if not isinstance(data, dict):
        raise SpecError("", f"{path} must hold a mapping at the top level; received {type(data).__name__}")
    return data


def _last_activation(spec: Spec) -> tuple[int, str]:
    """(index, activation) of the layer that produces the model's output activation."""
    for index in range(len(spec.model.layers) - 1, -1, -1):
        layer = spec.model.layers[index]
        if layer.type in ("dense", "activation"):
            return index, layer.activation
    return len(spec.model.layers) - 1, "linear"


def check_loss_fits_output(spec: Spec) -> None:
    """A cross-entropy loss needs a probability output of a fitting width; mse/mae fit any output."""
    out = shapes.output_shape(spec.model)
    index, activation = _last_activation(spec)
    last = spec.model.layers[-1]
    if spec.loss in ("categorical_crossentropy", "binary_crossentropy"):
        wanted = "softmax" if spec.loss == "categorical_crossentropy" else "sigmoid"
        if last.type not in ("dense", "activation") or activation != wanted:
            raise SpecError("loss", f"{spec.loss} needs the last layer to apply activation {wanted!r}; "
                                    f"received model.layers[{index}] ({spec.model.layers[index].type}) with activation "
                                    f"{activation!r}" + ("" if last.type in ("dense", "activation") else
                                                         f" followed by {last.type}"))
    if spec.loss == "categorical_crossentropy" and out[-1] < 2:
        raise SpecError("loss", f"categorical_crossentropy needs at least 2 output units; received an output of "
                                f"shape {list(out)} (use binary_crossentropy with a 1-unit sigmoid output)")
    if len(out) != 1:
        raise SpecError("model.layers", f"the model must end in a flat output (batch, units); received output shape "
                                        f"{list(out)} (add a flatten layer)")


def check_training(spec: Spec) -> None:
    stopping = spec.training.early_stopping
    if stopping and stopping.monitor.startswith("val_") and spec.data.validation_split == 0:
        raise SpecError("training.early_stopping.monitor",
                        f"{stopping.monitor!r} needs data.validation_split > 0; received validation_split=0")


def check_data(spec: Spec) -> None:
    if spec.model.layers[0].type == "embedding" and spec.data.standardize:
        raise SpecError("data.standardize", "must be false when the first layer is an embedding (its inputs are "
                                            "integer ids); received true")


def parse_spec(data: Any) -> Spec:
    """Validates a mapping (or an existing Spec) into a Spec and runs every cross-field check."""
    if isinstance(data, Spec):
        spec = data
    else:
        try:
            spec = Spec.model_validate(data)
        except ValidationError as error:
            raise _one_line(error) from None
    shapes.infer(spec.model)
    check_loss_fits_output(spec)
    check_training(spec)
    check_data(spec)
    return spec


def load_spec(path) -> Spec:
    """Reads a YAML or JSON spec file and validates it. A relative data path is resolved against the file."""
    path = Path(path)
    data = _load_mapping(path)
    relative = (data.get("data") or {}).get("path") if isinstance(data.get("data"), dict) else None
    if relative and not Path(relative).is_absolute():
        data["data"] = {**data["data"], "path": str((path.parent / relative).resolve())}
    return parse_spec(data)
