"""Loading a spec from a YAML or JSON file (harness.core.spec_file) or Python objects, and the checks that span
several fields.

Every failure becomes one `SpecError` line: the field path, what is allowed, what was received.
"""

import os
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.core import execution, registry, shapes, spec_file
from harness.core.errors import SpecError
from harness.core.spec import ModelSpec, Spec
from harness.core.spec_layers import as_name, brief

SCHEDULES = ("constant", "piecewise_constant", "exponential_decay", "cosine_decay", "reduce_on_plateau")


def _field_path(location: tuple) -> str:
    """('model', 'layers', 1, 'dense', 'units') -> 'model.layers[1].units'.

    pydantic adds the union member to the path: the tag of a tagged union ('dense' right after a layer index,
    'adam' right after 'optimizer') and labels such as 'constrained-int' or '[key]'. A reader needs neither.
    """
    parts: list[str] = []
    previous = None
    for item in location:
        tag_position = isinstance(previous, int) or previous in ("optimizer", "schedule")
        if isinstance(item, int) and not isinstance(item, bool) and parts:
            parts[-1] += f"[{item}]"
        elif not (tag_position and item in _TAGS) and not _is_label(item):
            parts.append(as_name(str(item)))
        previous = item
    return ".".join(parts)


_TAGS = set(registry.LAYERS) | set(registry.OPTIMIZERS) | set(SCHEDULES)
# pydantic's labels of union members and dict keys: constrained-int, function-after[...], literal['full'], [key]
_LABEL = re.compile(r"\[key\]|(constrained|function|json|tagged|nullable|literal|list|dict|union)[-\[].*")


def _is_label(item) -> bool:
    return isinstance(item, str) and bool(_LABEL.fullmatch(item))


def _message(first: dict) -> str:
    """What is allowed and what was received, in words, from one pydantic error."""
    kind, context = first.get("type"), first.get("ctx") or {}
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ").replace("Input should be", "expected")
    for said, meant in (("String should have", "expected"), ("Keys should be strings", "expected string keys")):
        message = message.replace(said, meant)
    message = re.sub(r"^expected (greater|less)", r"expected a value \1", message)
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "union_tag_invalid":
        return f"unknown type {brief(context.get('tag'))}; allowed: {context.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return f"needs a {context.get('discriminator', 'type')} field; received {brief(first.get('input'))}"
    if kind in ("less_than_equal", "greater_than_equal") and isinstance(context.get("le", context.get("ge")), int):
        bound = context.get("le", context.get("ge"))
        message = f"expected {'at most' if kind == 'less_than_equal' else 'at least'} {bound:,}"
    if kind in ("too_long", "too_short") and isinstance(context.get("actual_length"), int):
        bound = context.get("max_length" if kind == "too_long" else "min_length")
        entries = lambda count: f"{count:,} entr{'y' if count == 1 else 'ies'}"  # noqa: E731
        return (f"expected {'at most' if kind == 'too_long' else 'at least'} {entries(bound)}; received "
                f"{entries(context['actual_length'])}")
    if "received" not in message and "input" in first:
        message += f"; received {brief(first['input'])}"
    return message


def spec_error(error: ValidationError, prefix: str = "") -> SpecError:
    """The first of pydantic's errors as one SpecError line: the field path, what is allowed, what was received
    (its repr cut to 80 characters). Never raises: it runs on every kind of bad input."""
    try:
        errors = error.errors(include_url=False)
        first = errors[0]
        field = ".".join(part for part in (prefix, _field_path(tuple(first.get("loc", ())))) if part)
        message = _message(first)
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    except Exception:  # noqa: BLE001 - a message about an error must not become a second error
        field, message = prefix, f"is not valid ({brief(str(error).splitlines()[0] if str(error) else error)})"
    return SpecError(field, " ".join(message.splitlines()))


def output_activation(model: ModelSpec) -> tuple[int, str]:
    """(index, activation) of the layer that produces the model's output activation."""
    for index in range(len(model.layers) - 1, -1, -1):
        layer = model.layers[index]
        if layer.type in ("dense", "activation"):
            return index, layer.activation
    return len(model.layers) - 1, "linear"


def check_loss_fits_output(spec: Spec) -> None:
    """A cross-entropy loss needs a probability output of a fitting width; mse/mae fit any output."""
    out = shapes.output_shape(spec.model)
    index, activation = output_activation(spec.model)
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
    schedule = spec.optimizer.schedule
    if schedule is not None and schedule.type == "reduce_on_plateau" and schedule.monitor.startswith("val_") \
            and spec.data.validation_split == 0:
        raise SpecError("optimizer.schedule.monitor", f"{schedule.monitor!r} needs data.validation_split > 0; "
                                                      f"received validation_split=0")
    for framework, mode in spec.training.execution.items():
        why = execution.unsupported(framework, mode, [layer.type for layer in spec.model.layers])
        if why:
            raise SpecError(f"training.execution.{framework}", why)
    target = spec.analysis.target
    if target and target.split == "val" and spec.data.validation_split == 0:
        raise SpecError("analysis.target.split", "'val' needs data.validation_split > 0 (or use split train); "
                                                 "received validation_split=0")


def check_analysis(analysis, task: str, metric: str, field: str = "analysis") -> None:
    """Margins and a target that fit the task the data turned out to be (known once the data is read): a margin
    only for a figure this task compares, a target metric this task records ('loss', or its own metric)."""
    compared = registry.COMPARED_FIGURES.get(task, ())
    for figure in analysis.margins:
        if figure not in compared:
            raise SpecError(f"{field}.margins.{figure}", f"a {task} task compares {', '.join(compared)}; "
                                                         f"received {figure!r}")
    if analysis.target and analysis.target.metric not in ("loss", metric):
        raise SpecError(f"{field}.target.metric", f"a {task} task records 'loss' and {metric!r}; received "
                                                  f"{analysis.target.metric!r}")


def check_init(spec: Spec) -> None:
    if spec.init_weights is not None and spec.init == "native":
        raise SpecError("init_weights", "starts both frameworks from one file, which init: native contradicts (each "
                                        "framework's own initializers); leave one of them out")


def check_data(spec: Spec) -> None:
    if spec.model.layers[0].type == "embedding" and spec.data.standardize:
        raise SpecError("data.standardize", "must be false when the first layer is an embedding (its inputs are "
                                            "integer ids); received true")


# Options the spec accepts whose translation is still being built: (field, test on the spec). A spec that uses
# one is refused here, never trained with the option quietly left out.
NOT_BUILT = [
]


def check_built(spec: Spec) -> None:
    for field, used in NOT_BUILT:
        if used(spec):
            raise SpecError(field, "is not translated into both frameworks yet; leave it out")


def parse_spec(data: Any) -> Spec:
    """Validates a mapping (or an existing Spec) into a Spec and runs every cross-field check."""
    if isinstance(data, Spec):
        spec = data
    else:
        try:
            spec = Spec.model_validate(data)
        except ValidationError as error:
            raise spec_error(error) from None
    shapes.infer(spec.model)
    check_loss_fits_output(spec)
    check_training(spec)
    check_init(spec)
    check_data(spec)
    check_built(spec)
    return spec


def load_spec(path) -> Spec:
    """Reads a YAML or JSON spec file and validates it. A relative data path or init_weights path is resolved
    against the file."""
    data = spec_file.read_mapping(path)

    def resolved(relative):
        if isinstance(relative, str) and relative and "\x00" not in relative and not Path(relative).is_absolute():
            # lexically, without following links: a link loop is then the file check's one line, not an exception
            return os.path.abspath(Path(path).parent / relative)
        return relative

    if isinstance(data.get("data"), dict) and "path" in data["data"]:
        data["data"] = {**data["data"], "path": resolved(data["data"]["path"])}
    if "init_weights" in data:
        data["init_weights"] = resolved(data["init_weights"])
    return parse_spec(data)
