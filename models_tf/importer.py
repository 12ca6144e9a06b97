"""A Keras Sequential (a .keras or legacy .h5 model file, or a model in memory) -> the spec's model section and
the canonical weights: `read_model_file`, `from_model`. The twin of models_torch/importer.py.

A model file is hostile until checked. After `guard.check_file`, its model config is read here without Keras
(zipfile with a declared-size limit for .keras, h5py for .h5), its weights are checked with h5py
(models_tf.weights_file), and every layer is translated and every serialized object it names is checked
against a table of Keras' own classes, so a Lambda, a custom class or a module Keras would import is refused in
one line before Keras opens the file. Only then `keras.saving.load_model(compile=False, safe_mode=True)` loads
it. The translation is proved in the same framework: the spec's Keras model, given the original's weights,
must compute the same outputs.
"""

import json
import shutil
import tempfile
import zipfile
import zlib
from functools import partial
from pathlib import Path

import h5py
import keras
import numpy as np

from harness.core import guard, shapes
from harness.core.errors import SpecError, first_line
from harness.core.imported import TOLERANCE, Imported, probe_batch
from harness.core.spec import ModelSpec
from harness.core.spec_layers import as_name, brief
from models_tf.import_layers import LAYERS, translate_model, unsupported
from models_tf.model import build_model, get_weights, set_weights
from models_tf.weights_file import HDF5_SIGNATURE, read_weights_file

MAX_CONFIG_BYTES = 16 * guard.MIB   # a model's config.json: about 3 KiB a layer
# what Keras writes for these layers -> the most bytes each may unpack to
ARCHIVE_MEMBERS = {"config.json": MAX_CONFIG_BYTES, "model.weights.h5": guard.LIMITS["weights"],
                   "metadata.json": MAX_CONFIG_BYTES}
RUN_CHUNK = 1024


# ------------------------------------------------------------------------------------ reading a file's config

def _archived_weights(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> None:
    """The archive's model.weights.h5, copied out (at most its declared size) and checked with h5py."""
    with tempfile.TemporaryDirectory(prefix="harness-import-") as folder:
        copy = Path(folder) / "model.weights.h5"
        with archive.open(info) as source, open(copy, "wb") as target:
            shutil.copyfileobj(source, target)  # zipfile stops at the declared size and checks the CRC
        try:
            read_weights_file(copy, "")
        except SpecError as error:
            raise SpecError("", f"{name}: {error}") from None


def _members(archive: zipfile.ZipFile, name: str, field: str) -> dict[str, zipfile.ZipInfo]:
    """{member name: info}, if the archive holds the members Keras writes, once each, within their sizes."""
    listed = archive.infolist()
    members = {info.filename: info for info in listed}
    problem = next((f"holds {brief(member)}" for member in members if member not in ARCHIVE_MEMBERS), "") or \
        next((f"lacks {member}" for member in list(ARCHIVE_MEMBERS)[:2] if member not in members), "") or \
        ("holds a member name twice" if len(members) < len(listed) else "")
    if problem:
        raise SpecError(field, f"{name} must hold {', '.join(ARCHIVE_MEMBERS)} as Keras writes them; it {problem}")
    for member, info in members.items():
        if info.file_size > ARCHIVE_MEMBERS[member]:
            raise SpecError(field, f"{name} declares its {member} as {info.file_size:,} bytes once unpacked; at "
                                   f"most {ARCHIVE_MEMBERS[member]:,} are allowed")
    return members


def _archive_config(path: Path, field: str) -> str:
    """config.json of a .keras archive, as text, after the archive's members and weights are checked."""
    if not zipfile.is_zipfile(path):
        raise SpecError(field, f"{path.name} must be a .keras archive (a zip file) saved by Keras; received "
                               f"another kind of file (or a truncated one)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, path.name, field)
            config, weights = members["config.json"], members["model.weights.h5"]
            with archive.open(config) as handle:
                text = guard.decode_text(handle.read(MAX_CONFIG_BYTES), f"{path.name}'s config.json", field)
            _archived_weights(archive, weights, path.name)
    except SpecError as error:
        raise SpecError(field, str(error)) if not error.field else error from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, ValueError) as error:
        raise SpecError(field, f"{path.name} is a damaged .keras archive ({first_line(error)})") from None
    return text


def _hdf5_config(path: Path, field: str) -> str:
    """The model_config attribute of a legacy .h5 model file, after its datasets are checked."""
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            raise SpecError(field, f"{path.name} must be an HDF5 model file saved by Keras (model.save('x.h5')); "
                                   f"received another kind of file")
    try:
        read_weights_file(path, "")
        with h5py.File(path, "r") as handle:
            if "model_config" not in handle.attrs:
                raise SpecError("", f"{path.name} holds no model_config: it is a weights file, not a model file")
            size = handle.attrs.get_id("model_config").get_storage_size()
            if size > MAX_CONFIG_BYTES:
                raise SpecError("", f"{path.name}'s model_config is {size:,} bytes; at most {MAX_CONFIG_BYTES:,} "
                                    f"are allowed")
            value = handle.attrs["model_config"]
    except SpecError as error:
        raise SpecError(field, str(error)) from None
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:  # h5py's errors for a damaged file
        raise SpecError(field, f"{path.name} is a damaged HDF5 file ({first_line(error)})") from None
    if isinstance(value, bytes):
        return guard.decode_text(value, f"{path.name}'s model_config", field)
    if not isinstance(value, str):
        raise SpecError(field, f"{path.name}'s model_config is {brief(value)}, not JSON text")
    return value


# --------------------------------------------------------------------------------------------- Keras, proof

def _run(model, x: np.ndarray) -> np.ndarray:
    """(N, *input_shape) float32 -> the model's outputs in inference mode (dropout off, moving statistics)."""
    dtype = model.inputs[0].dtype if getattr(model, "inputs", None) else "float32"
    x = np.asarray(x).astype(dtype)
    outputs = [np.asarray(model(x[start:start + RUN_CHUNK], training=False)) for start in range(0, len(x), RUN_CHUNK)]
    return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)


def _load(path: Path, field: str) -> keras.Sequential:
    try:
        original = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - whatever Keras raises on a file that passed the checks above
        raise SpecError(field, f"{path.name}: Keras could not load the model ({first_line(error)})") from None
    if not isinstance(original, keras.Sequential):
        raise SpecError(field, f"{path.name} loads as a {type(original).__name__}; only keras.Sequential is imported")
    return original


def _imported(original, model: dict, spec: ModelSpec, field: str, source: str, notes: list) -> Imported:
    """Builds the spec's Keras model, gives it the original's weights and proves both compute the same outputs."""
    built = build_model(spec)
    try:
        set_weights(built, original.get_weights())
    except ValueError as error:
        raise SpecError(field, f"{source}: the original's weights do not fit the translated model "
                               f"({first_line(error)})") from None
    probe = probe_batch(spec)
    expected, received = _run(original, probe), _run(built, probe)
    if expected.shape != received.shape or not np.all(np.isfinite(expected)):
        raise SpecError(field, f"{source}: the translated model's outputs have shape {received.shape}, the "
                               f"original's {expected.shape} (or the original's are not finite)")
    difference = float(np.max(np.abs(expected - received), initial=0.0))
    if difference > TOLERANCE:
        raise SpecError(field, f"{source}: the translated model's outputs differ from the original's by up to "
                               f"{difference:.3g}; at most {TOLERANCE} is allowed")
    params = int(sum(np.prod(weight.shape) for weight in original.trainable_weights))
    if params != shapes.count_params(spec):
        raise SpecError(field, f"{source}: the original has {params:,} trainable parameters, the translated model "
                               f"{shapes.count_params(spec):,}")
    return Imported(model=model, weights=[np.asarray(w, np.float32) for w in get_weights(built)],
                    source="tensorflow", original_params=params, notes=notes, run_original=partial(_run, original))


# ------------------------------------------------------------------------------------------------ public

def read_model_file(path, field: str = "FILE") -> Imported:
    """A Keras 3 model file (.keras, or legacy .h5 from model.save('x.h5')) holding a keras.Sequential ->
    Imported: the spec's model section, weights in the canonical layout, and the original as a callable
    (N, *input_shape) float32 -> outputs. Every refusal is one SpecError line on `field`; no code from the file
    runs."""
    path = guard.check_file(path, field, "weights")
    suffix = path.suffix.lower()
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise SpecError(field, f"expected a Keras model file ending in .keras or .h5; received {path.name}")
    text = _archive_config(path, field) if suffix == ".keras" else _hdf5_config(path, field)
    config = guard.parse_json(text, f"{path.name}'s model config", field)
    notes = []
    model, spec = translate_model(config, field, path.name, notes)
    return _imported(_load(path, field), model, spec, field, path.name, notes)


def _check_layer_classes(model: keras.Sequential) -> None:
    """Each layer is exactly one of Keras' own supported classes (a subclass may compute anything)."""
    for index, layer in enumerate(model.layers):
        kind = type(layer).__name__
        if kind in LAYERS and type(layer) is getattr(keras.layers, kind):
            continue
        where = f"the model: layer {index} {as_name(layer.name)} ({as_name(kind)})"
        custom = not isinstance(layer, keras.Model) and kind != "Lambda" and not type(layer).__module__.startswith(
            "keras.")
        raise SpecError("model", unsupported(where, "Model" if isinstance(layer, keras.Model) else kind,
                                             f"a custom layer (class {type(layer).__module__}.{kind}); only Keras' "
                                             f"own layers are read" if custom else ""))


def from_model(model, input_shape=None) -> Imported:
    """An in-memory keras.Sequential -> Imported (as `read_model_file`). input_shape (one sample's, without the
    batch axis) is used only to build a model that is not built yet."""
    if not isinstance(model, keras.Sequential):
        raise SpecError("model", f"expected a keras.Sequential; received a {type(model).__name__} (a functional, "
                                 f"subclassed or custom model is not a plain stack of layers)")
    if not model.built:
        if input_shape is None:
            raise SpecError("input_shape", "the model is not built: pass input_shape (one sample's shape, without "
                                           "the batch axis) or start the model with keras.Input(shape=...)")
        try:
            model.build((None, *input_shape))
        except Exception as error:  # noqa: BLE001 - Keras' error for a shape its layers cannot take
            raise SpecError("input_shape", f"the model cannot be built for input_shape {brief(input_shape)} "
                                           f"({first_line(error)})") from None
    _check_layer_classes(model)
    try:
        config = json.loads(json.dumps(keras.saving.serialize_keras_object(model), default=_plain))
    except (TypeError, ValueError) as error:
        raise SpecError("model", f"the model's config cannot be read ({first_line(error)})") from None
    notes = []
    spec_model, spec = translate_model(config, "model", "the model", notes)
    return _imported(model, spec_model, spec, "model", "the model", notes)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a {type(value).__name__} in the layer config")
