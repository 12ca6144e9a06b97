"""Dual-framework comparison harness: one spec, a Keras model and a PyTorch model, one report.

Importing this package loads neither TensorFlow nor PyTorch; the adapters `models_tf` and `models_torch` are
imported only inside the worker that trains a run.
"""

from harness.core.errors import SpecError
from harness.core.spec import Spec
from harness.core.validate import load_spec, parse_spec

__all__ = ["Spec", "SpecError", "load_results", "load_spec", "parse_spec", "run"]
__version__ = "0.1.0"


def run(spec, out_dir=None, **options):
    """Trains every (seed, framework) run of `spec` (a Spec, a mapping or a spec file path) and writes the report.

    Options: frameworks, seeds, epochs, init_mode, optimizer_defaults, in_process, threads, tensorboard, force
    (redo runs already finished in out_dir), allow_large (run past the memory estimate), log. Bad input raises
    SpecError. Returns `harness.results.tables.Results` with `history` and `summary` DataFrames, the `manifest` dict and
    `out_dir`.
    """
    from pathlib import Path

    from harness.run import experiment as runner

    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    return runner.run(parse_spec(spec), out_dir, **options)


def load_results(out_dir):
    """Reads a results folder back as `harness.results.tables.Results` (history and summary DataFrames, manifest)."""
    from harness.results.load import load_results as load

    return load(out_dir)
