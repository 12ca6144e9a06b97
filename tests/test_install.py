"""A non-editable install works: the wheel holds every package and module, and the installed copy runs on its own.

The wheel is built offline from a copy of the working tree (no build isolation: setuptools comes from the test
environment, see the `test` extra), so the repository gets no build/ folder and a stale one cannot leak old modules
into the wheel. The installed copy runs from a folder outside the repository with PYTHONPATH pointing at it, so the
editable source tree is not what is imported. Part of the default test run (`make test`, CI): no marker, no skip.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "models_tf", "models_torch", "models_keras_torch")
SPEC = ROOT / "experiments" / "mlp_mnist1d.yaml"
# Left out of the copy: these names only at the top (harness.results is a package), caches anywhere
TOP_LEFT_OUT = shutil.ignore_patterns(".*", "*.egg-info", "build", "dist", "results", "harness-work-*", "tests", "docs",
                                      "benchmarks", "experiments")
ANYWHERE_LEFT_OUT = shutil.ignore_patterns("__pycache__", "*.pyc")


def _left_out(folder, names):
    return ANYWHERE_LEFT_OUT(folder, names) | (TOP_LEFT_OUT(folder, names) if Path(folder) == ROOT else set())


def _run(command, **options) -> str:
    """The command's stdout once it has exited 0 (else the failure, with both streams)."""
    command = [str(part) for part in command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **options)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _source_modules() -> set[str]:
    """harness/core/spec.py, ...: every module of the source tree, as its path inside the wheel."""
    return {path.relative_to(ROOT).as_posix() for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if "__pycache__" not in path.parts}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, site folder, a working folder outside the repository, an environment importing the installed copy)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_left_out)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", base / "dist", source], cwd=base)
    wheel, = (base / "dist").glob("harness-*.whl")
    site = base / "site"
    _run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], cwd=base)
    away = base / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return wheel, site, away, env


def test_wheel_holds_every_module(installed):
    wheel = installed[0]
    with zipfile.ZipFile(wheel) as archive:
        held = {name for name in archive.namelist() if name.endswith(".py")}
    missing = sorted(_source_modules() - held)
    assert not missing, f"{wheel.name} lacks {len(missing)} modules: {missing}"
    strays = sorted(name for name in held - _source_modules() if name.split("/")[0] in PACKAGES)
    assert not strays, f"{wheel.name} holds modules the source tree does not have: {strays}"


def test_installed_copy_is_imported(installed):
    _, site, away, env = installed
    packages = sorted({path.removesuffix("/__init__.py").replace("/", ".") for path in _source_modules()
                       if path.endswith("/__init__.py")})
    # harness is imported; every package is located without running it (the adapters would load a framework)
    code = ("import importlib.util, harness\n"
            "print('harness.__file__', harness.__file__)\n"
            f"for name in {packages!r}:\n"
            "    print(name, importlib.util.find_spec(name).origin)\n")
    output = _run([sys.executable, "-c", code], cwd=away, env=env)
    where = dict(line.split(" ", 1) for line in output.splitlines())
    assert sorted(where) == sorted([*packages, "harness.__file__"]), output
    outside = {name: file for name, file in where.items() if not Path(file).resolve().is_relative_to(site.resolve())}
    assert not outside, f"imported from outside {site}: {outside}"


def test_installed_command_validates_a_spec(installed):
    """The installed console script, run outside the repository, validates a spec and prints its usual summary."""
    _, site, away, env = installed
    script = site / "bin" / "harness"
    assert script.exists(), f"the wheel installed no `harness` console script: {sorted(os.listdir(site))}"
    output = _run([script, "validate", SPEC], cwd=away, env=env)
    lines = output.splitlines()
    assert lines and lines[0] == f"{SPEC.stem}: valid", output
    for start in ("trainable parameters: ", "data: ", "memory: "):
        assert any(line.startswith(start) for line in lines), f"no {start!r} line in:\n{output}"
