"""Checkpoint files of a training run, for `harness run --resume`: one .npz that holds the framework's training
state (every variable training changes: weights, moving statistics, optimizer slots and counters, random-number
generator states; each adapter's `checkpoint.training_state`) and the epoch loop's own state as JSON (the epochs
done, with their rows, early stopping's and the schedule's counters).

A checkpoint is written to a temporary name and renamed, so a run killed while writing leaves the previous one.
It is read back through the guarded edge: an .npz (never a pickle) whose `loop` entry names this run's key and
whose arrays have exactly the names, shapes and dtypes the adapter expects, checked before any array is read.
"""

import json
import os
import uuid
from pathlib import Path

import numpy as np

from harness.core import guard
from harness.core.data_files import NPZ_READ_ERRORS, checked_archive, damaged_archive, npy_header
from harness.core.errors import SpecError

FORMAT = 1
LOOP = "loop"  # the array that holds the loop state's JSON
FILES = r"[0-9a-f]{20}\.npz"  # what the harness names checkpoint files (a run key), the only ones it removes
MAX_LOOP_BYTES = 64 * guard.MIB


def save(path, key: str, loop: dict, arrays: dict[str, np.ndarray]) -> None:
    """Writes the checkpoint of run `key` atomically: the arrays, and `loop` (plain JSON data) under LOOP."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "key": key, **loop}, allow_nan=True)
    temporary = path.with_name(f".{uuid.uuid4().hex[:12]}.partial.{path.name}")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **{LOOP: np.array(text)}, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _loop_state(archive, name: str, key: str, field: str) -> dict:
    shape, dtype = npy_header(archive, LOOP, name, field)
    if shape != () or dtype.kind != "U" or dtype.itemsize > MAX_LOOP_BYTES:
        raise SpecError(field, f"{name}: {LOOP!r} must be one JSON text of at most {MAX_LOOP_BYTES // guard.MIB} "
                               f"MiB; received {dtype} of shape {list(shape)}")
    loop = guard.parse_json(str(archive[LOOP]), name, field, allow_nan=True)
    if not isinstance(loop, dict) or loop.get("format") != FORMAT or loop.get("key") != key:
        found = loop.get("key") if isinstance(loop, dict) else None
        raise SpecError(field, f"{name} is not a checkpoint of this run (format {FORMAT}, run {key}); received "
                               f"run {str(found)[:40]!r}: the spec, the frameworks' versions or the seed changed")
    return loop


def _check_arrays(archive, expected: dict[str, tuple], name: str, field: str) -> None:
    """Exactly the expected arrays {name: (shape, dtype)}, by their .npy headers."""
    found = [member for member in archive.files if member != LOOP]
    if set(found) != set(expected):
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        problem = f"missing {missing[0]!r}" if missing else f"an extra array {extra[0][:60]!r}"
        raise SpecError(field, f"{name} must hold the {len(expected)} arrays of this run's training state; "
                               f"received {len(found)}, {problem}")
    for member, (shape, dtype) in expected.items():
        declared, declared_dtype = npy_header(archive, member, name, field)
        if tuple(declared) != tuple(shape) or declared_dtype != np.dtype(dtype):
            raise SpecError(field, f"{name}: {member} must be {np.dtype(dtype)} of shape {list(shape)}; received "
                                   f"{declared_dtype} of shape {list(declared)}")


def read_loop(path, key: str, field: str = "--resume") -> dict:
    """The loop state of the checkpoint of run `key`, checked; no array is read."""
    return load(path, key, None, field)[0]


def load(path, key: str, expected, field: str = "--resume") -> tuple[dict, dict]:
    """(loop state, arrays) of the checkpoint of run `key`, after every check above. expected: the arrays'
    {name: (shape, dtype)}, or a function of the loop state that gives them (what a checkpoint holds can depend
    on it), or None for the loop state only."""
    path = checked_archive(path, field, "weights", "a checkpoint (.npz) that harness run wrote")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if LOOP not in archive.files:
                raise SpecError(field, f"{path.name} must hold {LOOP!r}, the epoch loop's state; received none")
            loop = _loop_state(archive, path.name, key, field)
            if expected is None:
                return loop, {}
            expected = expected(loop) if callable(expected) else expected
            _check_arrays(archive, expected, path.name, field)
            arrays = {member: archive[member] for member in expected}
    except SpecError:
        raise
    except NPZ_READ_ERRORS as error:
        raise damaged_archive(error, path.name, field) from None
    return loop, arrays


def layout(arrays: dict[str, np.ndarray]) -> dict[str, tuple]:
    """{name: (shape, dtype)} of a training state: what a checkpoint of it must hold."""
    return {name: (tuple(array.shape), array.dtype) for name, array in arrays.items()}
