"""One Keras layer's config read argument by argument, for the importer's translation table (import_layers.py).

A model file holds a layer's arguments as plain data. `Arguments` hands each one out once: as a spec value, as
a value that must be one of a few (else one SpecError line naming the layer, the argument, the received value
and what is allowed), or as one that cannot change the computation here. `finish` refuses whatever was left
unread, so an argument of a newer Keras is never silently dropped. Nothing here needs Keras.
"""

from harness.core import registry, spec_layers
from harness.core.errors import SpecError
from harness.core.spec_layers import as_name, brief

ABSENT = object()
DESCRIPTIVE = ("name", "trainable", "dtype")  # checked once for every layer by the importer

# An initializer with no arguments that change its distribution (a seed does not) -> its spec name.
INITIALIZERS = {"GlorotUniform": "glorot_uniform", "GlorotNormal": "glorot_normal", "HeUniform": "he_uniform",
                "HeNormal": "he_normal", "LecunUniform": "lecun_uniform", "LecunNormal": "lecun_normal",
                "Zeros": "zeros", "Ones": "ones"}
VARIANCE_SCALING = {
    (1.0, "fan_avg", "uniform"): "glorot_uniform", (1.0, "fan_avg", "truncated_normal"): "glorot_normal",
    (2.0, "fan_in", "uniform"): "he_uniform", (2.0, "fan_in", "truncated_normal"): "he_normal",
    (1.0, "fan_in", "uniform"): "lecun_uniform", (1.0, "fan_in", "truncated_normal"): "lecun_normal",
}
# Keras initializer classes a file may name (all are Keras' own; those without a spec name are noted)
KERAS_INITIALIZERS = {*INITIALIZERS, "Orthogonal", "RandomUniform", "RandomNormal", "TruncatedNormal", "Constant",
                      "VarianceScaling", "Identity"}
REGULARIZERS = {"L1", "L2", "L1L2"}
SPEC_DEFAULTS = {name: field.default for model in (spec_layers.Weighted, spec_layers.Recurrent, spec_layers.Embedding)
                 for name, field in model.model_fields.items() if name.endswith("initializer")}


class Arguments:
    """One layer's config, read argument by argument; `finish` refuses any argument left unread."""

    def __init__(self, kind: str, config: dict, rank: int, field: str, where: str, notes: list):
        self.kind, self.config, self.rank = kind, config, rank
        self.field, self.where, self.notes = field, where, notes
        self.unread = [key for key in config if key not in DESCRIPTIVE]

    def refuse(self, key: str, value, allowed: str):
        shown = describe(value) if isinstance(value, dict) and "class_name" in value else brief(value)
        raise SpecError(self.field, f"{self.where}: {key}={shown} has no spec equivalent; allowed: {allowed}")

    def get(self, key: str, default=ABSENT):
        if key in self.unread:
            self.unread.remove(key)
        value = self.config.get(key, default)
        if value is ABSENT:
            raise SpecError(self.field, f"{self.where}: the argument {key} is missing from the layer's config")
        return value

    def expect(self, key: str, allowed: tuple, why: str = "", default=ABSENT):
        """The value if it is one of `allowed` (compared by ==, with bool kept apart from numbers)."""
        value = self.get(key, allowed[0] if default is ABSENT else default)
        if not any(value == choice and isinstance(value, bool) == isinstance(choice, bool) for choice in allowed):
            self.refuse(key, value, " or ".join(brief(choice) for choice in allowed) + (f" ({why})" if why else ""))
        return value

    def size(self, key: str):
        """A 1-D layer's size as the spec holds it: Keras' [3] -> 3."""
        value = self.get(key)
        if isinstance(value, list) and len(value) == 1:
            return value[0]
        return value if isinstance(value, int) else self.refuse(key, value, "one size")

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            self.refuse(key, value, "True or False")
        return value

    def activation(self, key: str = "activation", allowed=tuple(registry.ACTIVATIONS)) -> str:
        value = self.get(key)
        if not isinstance(value, str) or value not in allowed:
            self.refuse(key, value, ", ".join(allowed))
        return value

    def initializer(self, key: str, spec_default: str = "", fixed: bool = False) -> str:
        """The spec's name for it, else (or where the spec's layer has no such field: fixed) the spec's default,
        with a note: an initializer only matters when training from scratch."""
        value, default = self.get(key), spec_default or SPEC_DEFAULTS[key]
        name = initializer_name(value)
        if name is None or (fixed and name != default):
            reason = "has no spec field" if fixed else "has no spec name"
            self.notes.append(f"{self.where}: {key} {describe(value)} {reason}; the spec uses {default} (it only "
                              f"matters when training from scratch; the imported weights are exact)")
        return default if name is None or fixed else name

    def regularizer(self, key: str):
        value = self.get(key, None)
        if value is None:
            return None
        kind, config = object_kind(value)
        if kind not in REGULARIZERS or set(config) - {"l1", "l2"}:
            self.refuse(key, value, "None, L1, L2 or L1L2")
        return {"l1": float(config.get("l1", 0.0)), "l2": float(config.get("l2", 0.0))}

    def absent(self, *keys: str, why: str = ""):
        """Arguments that must be None (or missing): constraints, activity regularizers, quantization."""
        for key in keys:
            value = self.get(key, None)
            if value is not None:
                self.refuse(key, value, "None" + (f" ({why})" if why else ""))

    def ignore(self, *keys: str):
        """Arguments that cannot change what the layer computes here (a seed with no randomness, unroll)."""
        for key in keys:
            self.get(key, None)

    def finish(self, spec_layer: dict) -> dict:
        if self.unread:
            key = self.unread[0]
            raise SpecError(self.field, f"{self.where}: the argument {key}={brief(self.config[key])} is not one this "
                                        f"importer knows, so its effect cannot be checked")
        return spec_layer


def object_kind(value) -> tuple[str, dict]:
    """(class name, config) of a serialized Keras object such as {"class_name": "L2", "config": {"l2": 0.01}}."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        config = value.get("config")
        return value["class_name"], config if isinstance(config, dict) else {}
    return "", {}


def describe(value) -> str:
    kind, config = object_kind(value)
    if not kind:
        return brief(value)
    arguments = ", ".join(f"{as_name(str(key), 20)}={brief(item, 20)}" for key, item in config.items() if key != "seed")
    text = f"{as_name(kind)}({arguments})"
    return text if len(text) <= 100 else text[:97] + "..."


def initializer_name(value):
    """The spec's name for a serialized Keras initializer, or None where the spec has none."""
    kind, config = object_kind(value)
    if isinstance(value, str):
        return value if value in registry.INITIALIZERS else None
    arguments = {key: item for key, item in config.items() if key != "seed"}
    if kind in INITIALIZERS and all(arguments.get(key) is None for key in ("input_axes", "output_axes")) \
            and set(arguments) <= {"input_axes", "output_axes"}:
        return INITIALIZERS[kind]
    if kind == "VarianceScaling" and set(arguments) == {"scale", "mode", "distribution"}:
        return VARIANCE_SCALING.get((arguments["scale"], arguments["mode"], arguments["distribution"]))
    if kind == "Orthogonal" and arguments in ({"gain": 1.0}, {}):
        return "orthogonal"
    if kind == "RandomUniform" and arguments == {"minval": -0.05, "maxval": 0.05}:
        return "random_uniform"
    if kind == "Constant" and arguments.get("value") in (0.0, 1.0) and len(arguments) == 1:
        return "zeros" if arguments["value"] == 0.0 else "ones"
    return None


def check_objects(config, objects: dict, field: str, source: str) -> None:
    """Every serialized object the config names (the unused compile_config aside) is in `objects`: {module:
    class names}; an object naming no module (an h5 file's layers) may be any of them."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if "class_name" in node or "module" in node:
                module, kind = node.get("module"), node.get("class_name")
                known = set().union(*objects.values()) if module is None else objects.get(module, ())
                if kind not in known or node.get("registered_name") not in (None, kind):
                    name = f"{as_name(str(module))}.{as_name(str(kind))}"
                    raise SpecError(field, f"{source} names the object {name} (registered as "
                                           f"{brief(node.get('registered_name'))}), which is not among the Keras "
                                           f"classes the importer reads; nothing from the file was run")
            stack.extend(value for key, value in node.items() if key != "compile_config")
