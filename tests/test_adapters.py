"""The two adapters mirror each other file for file and function for function (STYLE.md habit 14).

Read with `ast`, so neither TensorFlow nor PyTorch is imported: the module files, their public top-level functions
and classes (with their parameter names, and a class's public methods), the layer builder tables, each
`__init__.py`'s surface against README.md, and no private name imported across modules.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SIDES = {"tensorflow": ROOT / "models_tf", "torch": ROOT / "models_torch"}
ADAPTER_PACKAGES = ("models_tf", "models_torch", "models_keras_torch")

# Names with no twin, by (module, name): the side that has it and why the other cannot. Every entry must still
# exist on its side (a stale one fails), and nothing else may differ.
FRAMEWORK_ONLY = {
    ("base", "leaky_relu"): ("tensorflow", "a Keras activation with its parameter stated, named as Keras names it "
                                           "(the layer config shows the name); torch's is an nn.Module"),
    ("base", "elu"): ("tensorflow", "a Keras activation with its parameter stated; torch's is an nn.Module"),
    ("base", "gelu"): ("tensorflow", "a Keras activation with its parameter stated; torch's is an nn.Module"),
    ("base", "initializer"): ("tensorflow", "Keras initializes from the spec's initializer names; torch keeps "
                                            "its own seeded initialization and set_weights loads matched weights"),
    ("base", "regularizer"): ("tensorflow", "a Keras layer takes a regularizer object; a torch Block records "
                                            "(parameter, spec) pairs and SpecModel.penalty adds them to the loss"),
    ("base", "Block"): ("torch", "the nn.Module base of the torch layers (wanted layout, penalties, canonical "
                                 "weights); Keras layers have all of it built in"),
    ("base", "assign"): ("torch", "copies a canonical (Keras get_weights) array into a torch parameter; Keras' "
                                  "own layout is the canonical one"),
    ("base", "to_numpy"): ("torch", "a torch parameter as a numpy array, for the canonical layout"),
    ("model", "precision"): ("tensorflow", "Keras reads its float type from global settings while layers, losses "
                                           "and optimizers are made; torch takes a dtype per module (.to(dtype))"),
    ("model", "SpecModel"): ("torch", "the nn.Module running the blocks; the Keras model is a stock Sequential"),
    ("optimizers", "KerasSGD"): ("torch", "Keras' update rule reimplemented in torch; Keras' own optimizer is it"),
    ("optimizers", "KerasAdam"): ("torch", "Keras' update rule reimplemented in torch; Keras' own optimizer is it"),
    ("optimizers", "KerasRMSprop"): ("torch", "Keras' update rule reimplemented in torch; Keras' own is it"),
    ("optimizers", "KerasAdagrad"): ("torch", "Keras' update rule reimplemented in torch; Keras' own is it"),
    ("clipping", "gradient_groups"): ("torch", "a torch GRU's bias_ih and bias_hh are one Keras variable, clipped "
                                               "as one; Keras clips its own variables"),
    ("clipping", "parameter_groups"): ("torch", "gradient_groups by parameter name, for the compiled step's "
                                                "functional gradients"),
    ("clipping", "clipped_groups"): ("torch", "the clipping arithmetic on grouped tensors, shared by the eager and "
                                              "the compiled step; Keras clips inside its optimizer"),
    ("losses", "metric_sum"): ("torch", "the per-batch metric sum the torch loop adds up; Keras keeps its metric "
                                        "objects"),
}

# Modules with no twin: the inner parts of an importer, whose public face (importer.py: read_model_file,
# from_model) is mirrored. What they read has nothing in common: a Keras layer config against a PyTorch graph of
# ATen operations in a .pt2 archive.
FRAMEWORK_ONLY_MODULES = {
    "import_arguments": ("tensorflow", "reads one Keras layer config argument by argument; a PyTorch graph node "
                                       "has positional operands, read in import_ops.py"),
    "import_layers": ("tensorflow", "Keras layer class -> spec layer; PyTorch's twin is import_ops.py (an ATen "
                                    "operation -> spec layer), over a graph rather than a list"),
    "import_recurrent": ("tensorflow", "Keras recurrent layers and their Bidirectional wrapper -> spec layer, "
                                       "a part of import_layers.py; torch's RNN operations are in import_ops.py"),
    "import_archive": ("torch", "reads a .pt2 zip archive without unpickling anything; a .keras archive's "
                                "members are checked in importer.py with zipfile and h5py"),
    "import_graph": ("torch", "the traced graph as a chain of operations, with the tensor layout tracked; a "
                              "Keras Sequential already is a chain"),
    "import_ops": ("torch", "an ATen operation -> spec layer; Keras' twin is import_layers.py"),
    "compiled_step": ("torch", "the whole training step as one torch.compile graph (compiled_step mode); Keras "
                               "compiles its own train step (tf.function, XLA, steps_per_execution)"),
    "step_rules": ("torch", "torch.optim's update rules as tensor operations, for the compiled step; Keras' "
                            "optimizers are traced inside its own train step"),
    "import_layout": ("torch", "the ATen ops that permute, pad, cast or rescale a tensor: a Keras Sequential has "
                               "no such ops between its layers"),
}

# The layer builders are linked through `LAYERS` (spec layer type -> builder), not by name: a Keras builder is a
# function returning a stock Keras layer, a torch one an nn.Module class, whose name is in the manifest's layers.
LAYER_TABLE_MODULE = "layers"
BUILDER_PARAMETERS = {"tensorflow": ["layer", "seed"], "torch": ["layer", "info"]}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _modules(side: str) -> set[str]:
    return {path.stem for path in SIDES[side].glob("*.py")}


def _mirrored_modules(side: str) -> set[str]:
    return _modules(side) - set(FRAMEWORK_ONLY_MODULES)


def _parameters(function: ast.FunctionDef) -> list[str]:
    arguments = function.args
    names = [a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]
    names += [f"*{a.arg}" for a in (arguments.vararg,) if a] + [f"**{a.arg}" for a in (arguments.kwarg,) if a]
    return [name for name in names if name not in ("self", "cls")]


def _classes(side: str) -> dict[str, ast.ClassDef]:
    """Every top-level class of the adapter, by name."""
    return {node.name: node for module in _modules(side) for node in _tree(SIDES[side] / f"{module}.py").body
            if isinstance(node, ast.ClassDef)}


def _constructor(side: str, node: ast.ClassDef) -> list[str] | None:
    """The parameters of the class's __init__, inherited from a base class of the adapter if it has none."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            return _parameters(item)
    classes = _classes(side)
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            return _constructor(side, classes[base.id])
    return None  # a framework class's constructor


def _public_definitions(side: str, module: str) -> dict[str, dict]:
    """{name: {"kind": ..., "parameters": [...], "methods": {name: [...]}}} of the module's public top level."""
    found = {}
    for node in _tree(SIDES[side] / f"{module}.py").body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            found[node.name] = {"kind": "function", "parameters": _parameters(node), "methods": {}}
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            methods = {item.name: _parameters(item) for item in node.body if isinstance(item, ast.FunctionDef)}
            found[node.name] = {"kind": "class", "parameters": _constructor(side, node),
                                "methods": {name: p for name, p in methods.items() if not name.startswith("_")}}
    return found


def _layer_table(side: str) -> dict[str, str]:
    """{spec layer type: builder name} from the `LAYERS = {...}` literal in layers.py."""
    for node in _tree(SIDES[side] / f"{LAYER_TABLE_MODULE}.py").body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["LAYERS"]:
            assert isinstance(node.value, ast.Dict), f"{side}: LAYERS must be a dict literal"
            assert all(isinstance(k, ast.Constant) and isinstance(v, ast.Name)
                       for k, v in zip(node.value.keys, node.value.values)), f"{side}: LAYERS maps names to names"
            return {key.value: value.id for key, value in zip(node.value.keys, node.value.values)}
    raise AssertionError(f"{side}: no LAYERS table in {LAYER_TABLE_MODULE}.py")


def _builder_modules(side: str) -> dict[str, str]:
    """{builder name: the module that defines it}, for every builder in LAYERS."""
    builders = set(_layer_table(side).values())
    defined = {name: module for module in _mirrored_modules(side) for name in _public_definitions(side, module)}
    missing = builders - set(defined)
    assert not missing, f"{side}: builders defined nowhere in the adapter: {sorted(missing)}"
    return {name: defined[name] for name in builders}


def _mirrored(side: str, module: str) -> dict[str, dict]:
    """The module's public definitions less its layer builders and its FRAMEWORK_ONLY names."""
    builders = set(_builder_modules(side))
    return {name: facts for name, facts in _public_definitions(side, module).items()
            if name not in builders and (module, name) not in FRAMEWORK_ONLY}


def _surface(side: str) -> tuple[list[str], set[str]]:
    """(`__all__` of the adapter's __init__.py, the public names it defines or imports from its own modules)."""
    tree = _tree(SIDES[side] / "__init__.py")
    declared, bound = None, set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            declared = [element.value for element in node.value.elts]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(SIDES[side].name):
            bound |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.FunctionDef):
            bound.add(node.name)
    assert declared is not None, f"{side}: __init__.py has no __all__"
    return declared, {name for name in bound if not name.startswith("_")}


def _readme_paragraph() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("Both adapters expose")
    end = text.find("\n\n", start)
    return text[start:end if end != -1 else len(text)]


def _ticked_identifiers(text: str) -> list[str]:
    return [name for name in re.findall(r"`([^`]+)`", text) if name.isidentifier()]


# ----------------------------------------------------------------------------------------------- tests

def test_both_adapters_hold_the_same_module_files():
    assert _mirrored_modules("tensorflow") == _mirrored_modules("torch")


def test_framework_only_modules_are_where_the_table_says():
    for module, (side, reason) in FRAMEWORK_ONLY_MODULES.items():
        other = "torch" if side == "tensorflow" else "tensorflow"
        assert module in _modules(side), f"stale FRAMEWORK_ONLY_MODULES entry {module} ({side})"
        assert module not in _modules(other) and reason, f"{module}.py has a twin: not framework-only"


@pytest.mark.parametrize("module", sorted(_mirrored_modules("tensorflow") | _mirrored_modules("torch")))
def test_each_module_has_the_same_public_functions_and_classes(module):
    """Same names, same kinds, same parameter names (and a class's public methods, with theirs)."""
    if module not in _modules("tensorflow") or module not in _modules("torch"):
        pytest.fail(f"{module}.py exists on one side only")
    tensorflow, torch = _mirrored("tensorflow", module), _mirrored("torch", module)
    assert set(tensorflow) == set(torch), (f"{module}.py: only Keras has {sorted(set(tensorflow) - set(torch))}, "
                                           f"only torch has {sorted(set(torch) - set(tensorflow))}")
    for name in tensorflow:
        assert tensorflow[name] == torch[name], f"{module}.{name}: Keras {tensorflow[name]} vs torch {torch[name]}"


def test_framework_only_names_are_where_the_table_says():
    for (module, name), (side, reason) in FRAMEWORK_ONLY.items():
        other = "torch" if side == "tensorflow" else "tensorflow"
        assert name in _public_definitions(side, module), f"stale FRAMEWORK_ONLY entry {module}.{name} ({side})"
        assert name not in _public_definitions(other, module), f"{module}.{name} has a twin: not framework-only"
        assert reason


def test_layer_tables_have_the_same_keys_and_builders_in_the_same_modules():
    tables = {side: _layer_table(side) for side in SIDES}
    assert set(tables["tensorflow"]) == set(tables["torch"])
    where = {side: _builder_modules(side) for side in SIDES}
    for layer_type in tables["tensorflow"]:
        modules = {side: where[side][tables[side][layer_type]] for side in SIDES}
        assert modules["tensorflow"] == modules["torch"], f"{layer_type}: builders in {modules}"


@pytest.mark.parametrize("side", SIDES)
def test_every_layer_builder_takes_the_same_arguments(side):
    for name, module in _builder_modules(side).items():
        facts = _public_definitions(side, module)[name]
        assert facts["parameters"] == BUILDER_PARAMETERS[side], f"{side}: {module}.{name}"


@pytest.mark.parametrize("side", SIDES)
def test_init_all_is_what_the_package_exposes(side):
    declared, bound = _surface(side)
    assert len(declared) == len(set(declared)), f"{side}: a name is listed twice in __all__"
    assert set(declared) == bound, f"{side}: __all__ and the names __init__.py binds differ"


def test_both_adapters_expose_the_same_names():
    assert set(_surface("tensorflow")[0]) == set(_surface("torch")[0])


@pytest.mark.parametrize("side", SIDES)
def test_readme_lists_exactly_what_each_adapter_exposes(side):
    """README.md, "Both adapters expose the same functions: ...": the names before "optional modules" are
    `__all__`, the ones after it are module files of both adapters."""
    paragraph = _readme_paragraph()
    functions, _, modules = paragraph.partition("optional modules")
    assert modules, "README's paragraph no longer names the optional modules"
    listed, exposed = set(_ticked_identifiers(functions)), set(_surface(side)[0])
    assert listed == exposed, (f"README lists {sorted(listed - exposed)} that {side} does not expose, and omits "
                               f"{sorted(exposed - listed)}")
    assert set(_ticked_identifiers(modules)) <= _modules(side)


@pytest.mark.parametrize("package", ADAPTER_PACKAGES)
def test_no_private_name_is_imported_across_modules(package):
    offences = []
    for path in sorted((ROOT / package).glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(ADAPTER_PACKAGES):
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                parts = (node.module or "").split(".")
                if private or any(part.startswith("_") for part in parts):
                    offences.append(f"{path.name}: from {node.module} import {', '.join(private) or '...'}")
    assert not offences
