"""The architecture checks: import contracts, lint, size limits, private names, and fast commands that stay light.

Table-driven and framework-free: nothing here imports TensorFlow or PyTorch; the command-line checks run in fresh
subprocesses so that what they load is measured on a clean interpreter. No timing is asserted, only what is loaded.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ("harness", "models_tf", "models_torch", "models_keras_torch")
MODULE_MAX_LINES = 300
FUNCTION_MAX_LINES = 50


def _python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def _ids(paths) -> list[str]:
    return [path.relative_to(ROOT).as_posix() for path in paths]


SOURCE_FILES = _python_files(*PACKAGES)
SCANNED_FILES = _python_files(*PACKAGES, "tests")


def _dotted(path: Path) -> str:
    """harness/core/spec.py -> harness.core.spec; harness/core/__init__.py -> harness.core."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = frozenset(_dotted(path) for path in SOURCE_FILES)


def _tool(name: str) -> Path:
    tool = BIN / name
    assert tool.exists(), f"{tool} is missing: install the test extra (pip install -c constraints.txt -e '.[test]')"
    return tool


def _run(command: list, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


# --- tools ------------------------------------------------------------------------------------------------------


TOOLS = {
    "lint-imports": ["lint-imports", "--no-cache"],
    "ruff": ["ruff", "check", "--no-cache", "--output-format", "concise", "."],
}


@pytest.mark.parametrize("name", list(TOOLS))
def test_tool_passes(name):
    """`lint-imports` (the contracts in pyproject.toml) and `ruff check .` both exit 0."""
    tool, *arguments = TOOLS[name]
    done = _run([str(_tool(tool)), *arguments])
    if done.returncode:
        pytest.fail(f"{' '.join(TOOLS[name])} exited {done.returncode}:\n{done.stdout}\n{done.stderr}", pytrace=False)


# --- sizes ------------------------------------------------------------------------------------------------------


def _functions(tree: ast.AST):
    """(qualified name, first line, line count) of every function and method, nested ones included."""
    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    yield name, child.lineno, child.end_lineno - child.lineno + 1
                yield from walk(child, name + ".")
            else:
                yield from walk(child, prefix)
    yield from walk(tree, "")


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_ids(SOURCE_FILES))
def test_module_size(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MODULE_MAX_LINES, f"{path.relative_to(ROOT)}: {lines} lines (at most {MODULE_MAX_LINES})"


@pytest.mark.parametrize("path", SOURCE_FILES, ids=_ids(SOURCE_FILES))
def test_function_size(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    long = [f"{name} (line {line}): {count} lines" for name, line, count in _functions(tree)
            if count > FUNCTION_MAX_LINES]
    assert not long, f"{path.relative_to(ROOT)}: functions over {FUNCTION_MAX_LINES} lines:\n  " + "\n  ".join(long)


# --- private names ----------------------------------------------------------------------------------------------


def _private(name: str) -> bool:
    """_name and __name are private; __dunder__ names (__version__, __all__) are not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _absolute(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    """The module an `from X import ...` names, relative imports resolved against the importing module."""
    if not node.level:
        return node.module or ""
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _module_names(tree: ast.AST, here: str, is_package: bool) -> dict[str, str]:
    """{local name: module} for every name an import binds to a harness/models_* module, anywhere in the file."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):  # `import a.b` binds a to a; `import a.b as c` binds c to a.b
                    local = alias.asname or alias.name.partition(".")[0]
                    bound[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, here, is_package)
            for alias in node.names:
                if _ours(source) and f"{source}.{alias.name}" in MODULES:  # `from harness.run import experiment`
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    return bound


def _module_of(node: ast.AST, bound: dict[str, str]):
    """The harness/models_* module an expression (`runner`, `harness.core.spec`) stands for, else None."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        parent = _module_of(node.value, bound)
        if parent and f"{parent}.{node.attr}" in MODULES:
            return f"{parent}.{node.attr}"
    return None


def _string_target(node: ast.AST):
    """A dotted "harness.x._name" string (monkeypatch.setattr / mock.patch form) naming a private, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ours(node.value):
        module, _, name = node.value.rpartition(".")
        if module in MODULES and _private(name):
            return node.value
    return None


ATTRIBUTE_CALLS = {"setattr", "getattr", "delattr", "hasattr", "patch", "object"}


def _crossings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _dotted(path) if any(path.is_relative_to(ROOT / package) for package in PACKAGES) else ""
    bound = _module_names(tree, here, path.name == "__init__.py")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(node, here, path.name == "__init__.py")
            found += [f"line {node.lineno}: from {source} import {alias.name}" for alias in node.names
                      if _ours(source) and _private(alias.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and _module_of(node.value, bound):
            found.append(f"line {node.lineno}: {_module_of(node.value, bound)}.{node.attr}")
        elif isinstance(node, ast.Call) and node.args:
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function not in ATTRIBUTE_CALLS:
                continue
            target = _string_target(node.args[0])
            if target:
                found.append(f"line {node.lineno}: {function}({target!r}, ...)")
            elif len(node.args) > 1 and _module_of(node.args[0], bound) and isinstance(node.args[1], ast.Constant) \
                    and isinstance(node.args[1].value, str) and _private(node.args[1].value):
                found.append(f"line {node.lineno}: {function}({_module_of(node.args[0], bound)}, "
                             f"{node.args[1].value!r})")
    return sorted(set(found), key=lambda line: int(line.split(":")[0].removeprefix("line ")))


@pytest.mark.parametrize("path", SCANNED_FILES, ids=_ids(SCANNED_FILES))
def test_no_private_name_crosses_modules(path):
    """No `from harness.x import _name`, no `module._name`, no setattr(module, "_name") on a harness/models_* module."""
    found = _crossings(path)
    assert not found, f"{path.relative_to(ROOT)} reaches into private names:\n  " + "\n  ".join(found)


# --- fast commands ----------------------------------------------------------------------------------------------


HEAVY = ("tensorflow", "torch", "keras", "pandas", "matplotlib", "ray", "mlflow", "scipy", "sklearn", "statsmodels",
         "tensorboard")
FAST_COMMANDS = {
    "--help": (["--help"], HEAVY),
    "list": (["list"], HEAVY),
    "schema": (["schema"], HEAVY),
    "run --help": (["run", "--help"], HEAVY),
    "bench --help": (["bench", "--help"], HEAVY),
    # validate reads the data: scikit-learn's loaders bring pandas; the mnist1d package imports matplotlib itself.
    "validate": (["validate", "experiments/binary_breast_cancer.yaml"],
                 ("tensorflow", "torch", "keras", "matplotlib", "ray", "mlflow", "tensorboard")),
    "validate mnist1d": (["validate", "experiments/mlp_mnist1d.yaml"],
                         ("tensorflow", "torch", "keras", "ray", "mlflow", "tensorboard")),
}

# Runs harness.cli.main(argv) in a fresh interpreter, then prints one JSON line: the exit status, the top-level
# modules loaded, and for each heavy one the harness/models_* frames (file:line) that first imported it.
PROBE = r"""
import json, sys, traceback
heavy = set(json.loads(sys.argv[1]))
first = {}

class Watch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        top = name.partition(".")[0]
        if top in heavy and top not in first:
            first[top] = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack()[:-1]]
        return None

sys.meta_path.insert(0, Watch)
from harness.cli import main
try:
    status = main(sys.argv[2:])
except SystemExit as exit:
    status = exit.code
sys.stdout.flush()
loaded = sorted({name.partition(".")[0] for name in sys.modules})
print("\n@@probe@@" + json.dumps({"status": status, "loaded": loaded, "first": first}))
"""


def _probe(argv: list[str], heavy) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = _run([sys.executable, "-c", PROBE, json.dumps(list(heavy)), *argv], env=env)
    marker = done.stdout.rpartition("\n@@probe@@")
    assert marker[1], f"harness {' '.join(argv)} did not finish:\n{done.stdout}\n{done.stderr}"
    probe = json.loads(marker[2])
    probe["first"] = {name: _chain(stack) for name, stack in probe["first"].items()}
    return {**probe, "output": marker[0] + done.stderr}


def _chain(stack: list[str]) -> list[str]:
    """The last few harness/models_* frames of an import stack, then the library frame that did the import, if any."""
    ours = tuple(f"{ROOT / package}{os.sep}" for package in PACKAGES)
    frames = [frame for frame in stack if not frame.startswith("<frozen")]
    last = max((at for at, frame in enumerate(frames) if frame.startswith(ours)), default=-1)
    chain = [frame.removeprefix(f"{ROOT}{os.sep}") for frame in frames[:last + 1] if frame.startswith(ours)][-6:]
    return chain + [f"{frame.rpartition('site-packages/')[2]} (library)" for frame in frames[last + 1:last + 2]]


@pytest.mark.parametrize("command", list(FAST_COMMANDS))
def test_fast_command_stays_light(command):
    """The quick commands import no framework and none of the heavy libraries (measured on what is loaded)."""
    argv, heavy = FAST_COMMANDS[command]
    probe = _probe(argv, heavy)
    assert probe["status"] == 0, f"harness {command} exited {probe['status']}:\n{probe['output']}"
    loaded = sorted(set(probe["loaded"]) & set(heavy))
    via = "\n".join(f"  {name}, first imported through (outermost first):\n    "
                    + "\n    ".join(probe["first"].get(name) or ["?"]) for name in loaded)
    assert not loaded, f"harness {command} loads {', '.join(loaded)}:\n{via}"
