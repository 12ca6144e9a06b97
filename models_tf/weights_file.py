"""A Keras weights file nobody vouches for, read safely: checked with h5py before Keras touches it.

The file must be HDF5 (its signature), hold nothing Keras never writes (links to other files or to elsewhere in
the file, data kept outside the file, non-numeric datasets), declare no more data than the weights limit (a
compressed dataset can unpack to far more than the file's size), and every dataset must read to its end (a
truncated file fails here, in one line, not inside Keras). Every failure is one SpecError line on `field`. The
twin of models_torch/weights_file.py.
"""

import tempfile
from pathlib import Path

import h5py
import numpy as np

from harness.core import guard
from harness.core.errors import SpecError, first_line

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NUMERIC_KINDS = "biuf"  # bool, integers, real floats
LINK_KINDS = {h5py.SoftLink: "a soft link", h5py.ExternalLink: "a link to another file"}


def _datasets(handle: h5py.File) -> tuple[dict, str]:
    """({path: dataset}, the first thing Keras would never have written or '')."""
    found = {}

    def visit(path, link):
        if not isinstance(link, h5py.HardLink):
            return f"{path!r} is {LINK_KINDS.get(type(link), 'a link')}"
        item = handle[path]
        if isinstance(item, h5py.Dataset):
            if item.is_virtual or item.external:
                return f"{path!r} keeps its data outside the file"
            if item.dtype.kind not in NUMERIC_KINDS:
                return f"{path!r} holds {item.dtype} values"
            found[path] = item
        return None

    return found, handle.visititems_links(visit) or ""


def _read_checked(handle: h5py.File, name: str, field: str) -> dict[str, tuple]:
    datasets, problem = _datasets(handle)
    if problem:
        raise SpecError(field, f"{name} must hold only numeric datasets stored in the file, as Keras' "
                               f"save_weights writes; received a file where {problem}")
    declared = sum(dataset.size * dataset.dtype.itemsize for dataset in datasets.values())
    if declared > guard.LIMITS["weights"]:
        raise SpecError(field, f"{name} would take {declared / guard.GIB:,.1f} GiB once read; at most "
                               f"{guard.LIMITS['weights'] / guard.GIB:.0f} GiB are allowed")
    for dataset in datasets.values():
        dataset.read_direct(np.empty(dataset.shape, dataset.dtype))  # to its end, one dataset at a time
    return {path: tuple(dataset.shape) for path, dataset in datasets.items()}


def read_weights_file(path, field: str = "--weights") -> dict[str, tuple]:
    """{dataset path: shape} of a Keras .weights.h5 file, after every check above."""
    path = guard.check_file(path, field, "weights")
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise SpecError(field, f"{path.name} must be an HDF5 file written by Keras' save_weights; received "
                                   f"another kind of file")
    try:
        with h5py.File(path, "r") as handle:
            return _read_checked(handle, path.name, field)
    except SpecError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:  # h5py's errors for a damaged file
        raise SpecError(field, f"{path.name} must be a readable HDF5 file; received a damaged one "
                               f"({first_line(error)})") from None


def load_weights_file(model, path, field: str = "--weights") -> None:
    """Loads a Keras .weights.h5 file into the model once `read_weights_file` has checked it."""
    read_weights_file(path, field)
    model.load_weights(str(path))


def weights_file_layout(model) -> list[tuple[str, int, str, tuple]]:
    """(dataset path in the model's .weights.h5 file, layer index, weight name, shape) of every weight, in
    get_weights() order. Keras names the file's entries after layer classes ('layers/dense_1/vars/0'), so a copy
    whose k-th weight holds the value k is saved to a temporary file and read back to say which entry is which."""
    original = model.get_weights()
    owners = [(index, weight.name) for index, layer in enumerate(model.layers) for weight in layer.weights]
    with tempfile.TemporaryDirectory(prefix="harness-layout-") as folder:
        marked = Path(folder) / "marked.weights.h5"
        model.set_weights([np.full(weight.shape, k, weight.dtype) for k, weight in enumerate(original)])
        try:
            model.save_weights(str(marked))
        finally:
            model.set_weights(original)
        position = {}  # k -> the path of the dataset holding k

        def visit(path, item):
            if isinstance(item, h5py.Dataset):
                position[int(item[()].flat[0])] = path

        with h5py.File(marked, "r") as handle:
            handle.visititems(visit)
    return [(position[k], *owners[k], tuple(weight.shape)) for k, weight in enumerate(original)]
