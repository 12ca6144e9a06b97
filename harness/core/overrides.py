"""The spec as plain data, and the edits made to it: command-line overrides, and a value set at a dotted path
(a sweep axis, a bench sweep). Each edit is validated again like a spec file."""

from harness.core.spec import Spec
from harness.core.spec_layers import brief
from harness.core.validate import parse_spec


def spec_dump(spec: Spec) -> dict:
    """The spec as plain data, without the defaults it did not state: re-validating it gives the same spec, and
    `optimizer_defaults: native` still knows which hyperparameters the spec stated."""
    return spec.model_dump(mode="json", exclude_unset=True)


def with_overrides(spec: Spec, frameworks=None, seeds=None, epochs=None, init_mode=None,
                   optimizer_defaults=None, execution=None) -> Spec:
    """The spec with command-line overrides applied, validated again like a spec file (the spec itself when
    there are none: it was validated once already). execution: {framework: mode}, merged into the spec's
    training.execution."""
    if (not frameworks and seeds is None and epochs is None and init_mode is None and optimizer_defaults is None
            and not execution):
        return spec
    raw = spec_dump(spec)
    if execution:
        training = raw.setdefault("training", {})
        training["execution"] = {**training.get("execution", {}), **execution}
    if frameworks:
        raw["frameworks"] = list(frameworks)
    if seeds is not None:
        raw["seeds"] = list(seeds)
    if epochs is not None:
        raw.setdefault("training", {})["epochs"] = epochs
    if init_mode is not None:
        raw["init"] = init_mode
    if optimizer_defaults is not None:
        raw["optimizer_defaults"] = optimizer_defaults
    return parse_spec(raw)


def _index(node: list, key: str, where: str) -> int:
    """The list index `key` names: a plain non-negative number below the list's length (Python's -1 is not one)."""
    if not (key.isascii() and key.isdigit() and len(key) <= 9 and int(key) < len(node)):
        raise ValueError(f"{where} has {len(node)} entries, indices 0 to {len(node) - 1}; received index {key!r}")
    return int(key)


def _step(node, key: str, where: str):
    """node[key] for a mapping (created if missing) or a list; a ValueError saying why when the path stops here."""
    if isinstance(node, list):
        return node[_index(node, key, where)]
    if not isinstance(node, dict):
        raise ValueError(f"{where} is the value {brief(node)}, which holds no fields")
    if isinstance(node.get(key), str):  # shorthand such as `optimizer: adam`
        node[key] = {"type": node[key]}
    return node.setdefault(key, {})


def set_path(raw: dict, path: str, value) -> None:
    """Sets raw['a']['b'][1]['c'] for path 'a.b.1.c', creating missing mappings. A path that leads nowhere (an
    index out of range or not a plain number, a step into a number or a string) raises a ValueError saying why."""
    *parents, last = path.split(".")
    node = raw
    for depth, key in enumerate(parents):
        node = _step(node, key, ".".join(parents[:depth]) or "the spec")
    where = ".".join(parents) or "the spec"
    if isinstance(node, list):
        node[_index(node, last, where)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ValueError(f"{where} is the value {brief(node)}, which holds no fields")
