"""Writing the code folder: model_keras.py and model_torch.py, and next to them the arrays they read, data.npz
(the harness' prepared split) and initial_weights.npz (the canonical initial weights of one seed)."""

import io
from pathlib import Path
from typing import Optional

import numpy as np

from harness.code.keras_script import keras_script
from harness.code.torch_script import torch_script
from harness.core import atomic, data, folders, guard, weights_npz
from harness.core.data import Dataset
from harness.core.spec import Spec

FOLDER = "code"  # a results folder's code folder: OUT/code/
SCRIPTS = {"tensorflow": "model_keras.py", "torch": "model_torch.py"}
SPLITS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
MAX_DATA_BYTES = 256 * guard.MIB  # a larger prepared dataset is not copied by `harness run` (harness code copies it)


def scripts(spec: Spec, dataset: Dataset, seed: int, source: str) -> dict[str, str]:
    """{file name: text} of the two scripts."""
    batch_size = data.batch_size_of(spec, dataset.n_train)
    return {SCRIPTS["tensorflow"]: keras_script(spec, dataset.target, seed, batch_size, source),
            SCRIPTS["torch"]: torch_script(spec, dataset.target, seed, batch_size, source)}


def _npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_code(spec: Spec, dataset: Dataset, out, seed: int, source: str, force: bool = False,
               copy_data: bool = True, weights: Optional[list] = None) -> list[Path]:
    """The two scripts, data.npz and initial_weights.npz in `out` (claimed as a code folder first; an existing file
    is refused unless force). copy_data False leaves data.npz out; weights: the starting weights already read
    (else the spec's, `weights_npz.starting_weights`). Returns the paths written."""
    folder = folders.claim(Path(out), "code")
    names = [*SCRIPTS.values(), "initial_weights.npz"] + (["data.npz"] if copy_data else [])
    paths = {name: folders.check_new_file(folder / name, "--out", force=force) for name in names}
    for name, text in scripts(spec, dataset, seed, source).items():
        atomic.write_text(paths[name], text)
    buffer = io.BytesIO()
    weights_npz.save(buffer, spec.model, weights if weights is not None else weights_npz.starting_weights(spec, seed))
    atomic.write_bytes(paths["initial_weights.npz"], buffer.getvalue())
    if copy_data:
        atomic.write_bytes(paths["data.npz"], _npz({name: getattr(dataset, name) for name in SPLITS}))
    return list(paths.values())


def data_bytes(dataset: Dataset) -> int:
    return sum(getattr(dataset, name).nbytes for name in SPLITS)
