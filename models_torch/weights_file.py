"""A torch weights file nobody vouches for, read safely: a torch.save zip archive holding a plain state dict.

Only zip archives (torch.save's format since torch 1.6) are opened, their declared sizes checked first, and their
pickle is read with torch.load(weights_only=True), which builds tensors and plain containers and refuses anything
else: no code from a file ever runs. Every failure is one SpecError line on `field`. The twin of
models_tf/weights_file.py.
"""

import pickle
import zipfile
from pathlib import Path

import torch

from harness.core import guard
from harness.core.errors import SpecError, first_line

ZIP_MAGIC = b"PK\x03\x04"
PICKLE_MAGIC = b"\x80"  # protocol 2 and later: torch's legacy format and plain pickles start so


def _check_archive(path: Path, field: str) -> None:
    """A zip archive whose members, unpacked, fit the weights limit (a deflated member can unpack to far more)."""
    with open(path, "rb") as handle:
        magic = handle.read(len(ZIP_MAGIC))
    if magic != ZIP_MAGIC:
        received = "a pickle (never loaded)" if magic.startswith(PICKLE_MAGIC) else "another kind of file"
        raise SpecError(field, f"{path.name} must be a zip archive written by torch.save (torch 1.6 or later); "
                               f"received {received}")
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise SpecError(field, f"{path.name} must be a readable torch archive; received a damaged one "
                               f"({first_line(error)})") from None
    if declared > guard.LIMITS["weights"]:
        raise SpecError(field, f"{path.name} would take {declared / guard.GIB:,.1f} GiB unpacked; at most "
                               f"{guard.LIMITS['weights'] / guard.GIB:.0f} GiB are allowed")


def _load(path: Path, field: str):
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise SpecError(field, f"{path.name} must hold a state dict of tensors; received other pickled objects "
                               f"(refused unread: code in a weights file never runs)") from None
    except Exception as error:  # torch's archive reader raises RuntimeError, EOFError, KeyError, ... when damaged
        raise SpecError(field, f"{path.name} must be a readable torch archive; received a damaged one "
                               f"({first_line(error)})") from None


def _check_state(state, name: str, field: str) -> None:
    """Names -> tensors of real numbers, as torch.save(model.state_dict()) writes."""
    wanted = "a state dict (tensor names -> tensors, as torch.save(model.state_dict()) writes)"
    if not isinstance(state, dict) or not state:
        received = "an empty dict" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise SpecError(field, f"{name} must hold {wanted}; received {received}")
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise SpecError(field, f"{name} must hold {wanted}; received {repr(key)[:60]} -> "
                                   f"{type(value).__name__}")
        if value.is_complex() or value.is_quantized or value.layout != torch.strided:
            layout = "" if value.layout == torch.strided else f", {value.layout}"
            raise SpecError(field, f"{name}: tensor {key!r} must be a dense tensor of real numbers; received "
                                   f"{value.dtype}{layout}")


def _read_state_dict(path, field: str = "--weights") -> dict:
    """The file's state dict {name: tensor}, after every check above."""
    path = guard.check_file(path, field, "weights")
    _check_archive(path, field)
    state = _load(path, field)
    _check_state(state, path.name, field)
    return state


def read_weights_file(path, field: str = "--weights") -> dict[str, tuple]:
    """{tensor name: shape} of a torch weights file, checked as `_read_state_dict` does."""
    return {key: tuple(value.shape) for key, value in _read_state_dict(path, field).items()}


def load_weights_file(model, path, field: str = "--weights") -> None:
    """Loads a torch weights file into the model, read only after every check above (`_read_state_dict`)."""
    model.load_state_dict(_read_state_dict(path, field))


def weights_file_layout(model) -> list[tuple[str, int, str, tuple]]:
    """(name in the state dict, layer index, weight name, shape) of every tensor the model's file holds, in order.
    The model's blocks are the spec's layers: 'blocks.3.linear.weight' is layer 3's 'linear.weight'."""
    layout = []
    for key, value in model.state_dict().items():
        _, index, weight = key.split(".", 2)
        layout.append((key, int(index), weight, tuple(value.shape)))
    return layout
