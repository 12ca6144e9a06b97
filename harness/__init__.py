"""Dual-framework comparison harness: one spec, a Keras model and a PyTorch model, one report.

Importing this package loads neither TensorFlow nor PyTorch (the adapters `models_tf` and `models_torch` are
imported only inside the worker that trains a run), nor pydantic until a spec is read: `harness --help` stays fast.
"""

import importlib

from harness.core.errors import SpecError

__all__ = ["Spec", "SpecError", "from_keras", "from_torch", "load_results", "load_spec", "parse_spec", "run"]
__version__ = "0.1.0"
_LAZY = {"Spec": "harness.core.spec", "load_spec": "harness.core.validate", "parse_spec": "harness.core.validate",
         "from_keras": "harness.port.python_api", "from_torch": "harness.port.python_api"}


def __getattr__(name: str):
    """`harness.Spec`, `harness.load_spec`, `harness.parse_spec`, `harness.from_keras`, `harness.from_torch`:
    imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


def run(spec, out_dir=None, **options):
    """Trains every (seed, framework) run of `spec` (a Spec, a mapping or a spec file path) and writes the report.

    Options: frameworks, seeds, epochs, init_mode, optimizer_defaults, in_process, threads, tensorboard, force
    (redo runs already finished in out_dir), allow_large (run past the memory estimate), log. Bad input raises
    SpecError. Returns `harness.results.tables.Results` with `history` and `summary` DataFrames, the `manifest` dict and
    `out_dir`.
    """
    from harness.run.experiment import run_api  # this import makes `harness.run` the (callable) package

    return run_api(spec, out_dir, **options)


def load_results(out_dir):
    """Reads a results folder back as `harness.results.tables.Results` (history and summary DataFrames, manifest)."""
    from harness.results.load import load_results as load

    return load(out_dir)
