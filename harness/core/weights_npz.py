"""Canonical weights files (.npz): one array per weight of the spec's model, named as the spec names them
('layers[0].kernel', 'layers[2].moving_mean', ...), in the canonical layout (Keras `get_weights()` order and
shapes). `harness import` writes them, `harness run` saves each run's final weights as one, and `harness export`
and `harness convert` read them.

A file is checked before any array is loaded: an .npz archive (never a pickle), exactly the spec's weight names,
each declared shape as the spec's model has it, real numbers, at most the weights limit in all. Every failure is
one SpecError line on `field`.
"""

import numpy as np

from harness.core import guard, init, registry
from harness.core.data_files import NPZ_READ_ERRORS, checked_archive, damaged_archive, npy_header
from harness.core.errors import SpecError
from harness.core.spec import ModelSpec

SUFFIX = ".npz"
REAL_KINDS = "fiu"  # float, signed and unsigned integers: cast to float32 when loaded


def run_file_names(framework: str, seed: int) -> tuple[str, str]:
    """(the framework's own file, the canonical .npz) that `harness run` saves a run's final weights as."""
    stem = f"{framework}-seed{seed}"
    return stem + registry.WEIGHTS_SUFFIXES[framework], stem + ".weights.npz"


def starting_weights(spec, seed: int, field: str = "init_weights") -> list[np.ndarray]:
    """The weights a run of `spec` starts from in both frameworks (canonical layout): the spec's init_weights
    file, checked as `load` checks it, or the matched numpy draw of `seed`."""
    if spec.init_weights is not None:
        return load(spec.init_weights, spec.model, field)
    return init.initial_weights(spec.model, seed)


def layout(model: ModelSpec) -> list[tuple[str, tuple]]:
    """(name, shape) of every weight of the model, in canonical order."""
    return [(name, tuple(array.shape)) for name, array, _ in init.canonical_weights(model, 0)]


def save(path, model: ModelSpec, weights: list[np.ndarray]) -> None:
    """The weights (canonical order) under the spec's names, as float32, into a new path or an open binary file."""
    names = layout(model)
    if len(names) != len(weights):
        raise ValueError(f"expected {len(names)} weight arrays, received {len(weights)}")
    arrays = {}
    for (name, shape), array in zip(names, weights):
        if tuple(np.shape(array)) != shape:
            raise ValueError(f"{name}: expected shape {shape}, received {np.shape(array)}")
        arrays[name] = np.asarray(array, np.float32)
    if hasattr(path, "write"):  # an open binary file (a buffer the caller writes atomically)
        np.savez(path, **arrays)
        return
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _headers(path, name: str, field: str) -> dict[str, tuple]:
    """{array name: (declared shape, dtype)}, read from the .npy headers without loading any array."""
    with np.load(path, allow_pickle=False) as archive:
        return {key: npy_header(archive, key, name, field) for key in archive.files}


def _check_layout(headers: dict, wanted: list[tuple[str, tuple]], name: str, field: str) -> None:
    names = [key for key, _ in wanted]
    if set(headers) != set(names):
        missing = [key for key in names if key not in headers]
        extra = [key for key in headers if key not in names]
        problem = f"missing {missing[0]!r}" if missing else f"an extra array {_cut(extra[0])}"
        raise SpecError(field, f"{name} must hold the {len(names)} weights of the spec's model "
                               f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}); received "
                               f"{len(headers)} arrays, {problem}")
    total = 0
    for key, shape in wanted:
        found, dtype = headers[key]
        if dtype.hasobject:
            raise SpecError(field, f"{name}: {key} must hold real numbers; received Python objects (pickled data "
                                   f"is never loaded)")
        if dtype.kind not in REAL_KINDS:
            raise SpecError(field, f"{name}: {key} must hold real numbers; received {dtype}")
        if tuple(found) != shape:
            raise SpecError(field, f"{name}: {key} must have shape {list(shape)}, as the spec's model has it; "
                                   f"received {list(found)}")
        total += int(np.prod(found)) * dtype.itemsize
    if total > guard.LIMITS["weights"]:
        raise SpecError(field, f"{name} would take {total / guard.GIB:,.1f} GiB once read; at most "
                               f"{guard.LIMITS['weights'] / guard.GIB:.0f} GiB are allowed")


def _cut(key: str) -> str:
    return repr(key[:60] + ("..." if len(key) > 60 else ""))


def load(path, model: ModelSpec, field: str = "--weights") -> list[np.ndarray]:
    """The file's weights in canonical order, float32, after every check above."""
    path = checked_archive(path, field, "weights", "an .npz archive of the spec's weights (harness import and "
                                                   "harness run write them)")
    wanted = layout(model)
    try:
        headers = _headers(path, path.name, field)
        _check_layout(headers, wanted, path.name, field)
        with np.load(path, allow_pickle=False) as archive:
            weights = [np.asarray(archive[key], np.float32) for key, _ in wanted]
    except SpecError:
        raise
    except NPZ_READ_ERRORS as error:
        raise damaged_archive(error, path.name, field) from None
    for (key, _), array in zip(wanted, weights):
        if not np.isfinite(array).all():
            raise SpecError(field, f"{path.name}: {key} must hold finite numbers; received NaN or infinity")
    return weights
