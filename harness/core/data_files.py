"""Reading csv and npz datasets: a file is hostile until checked.

It is checked before anything large is allocated: its size (harness.core.guard), its encoding or archive structure,
every array's declared dtype and size, then its values (finite features and labels). Every failure is one
SpecError line on `data.path` naming the file, the column or array, and the first bad row or index.
"""

import struct
import tokenize
import warnings
import zipfile
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Optional

import numpy as np

from harness.core import guard
from harness.core.errors import SpecError
from harness.core.spec import DataSpec


@dataclass
class Raw:
    x: np.ndarray
    y: np.ndarray
    x_test: Optional[np.ndarray]
    y_test: Optional[np.ndarray]
    task: Optional[str]  # None: decided from the loss (csv / npz)



def _show(value, limit: int = 40) -> str:
    """repr(value), cut to `limit` characters: a message stays one short line whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _show_names(names: list) -> str:
    shown = ", ".join(_show(name) for name in names[:8])
    return f"[{shown}{f', ... ({len(names) - 8} more)' if len(names) > 8 else ''}]"


def first_nonfinite(values: np.ndarray) -> Optional[tuple]:
    """The index of the first NaN or infinite value in C order, or None (integer and bool arrays have none)."""
    if values.dtype.kind != "f":
        return None
    bad = ~np.isfinite(values)
    return tuple(int(i) for i in np.unravel_index(int(bad.argmax()), values.shape)) if bad.any() else None


def _nonfinite_text(value, csv: bool = False) -> str:
    return str(value) if not np.isnan(value) else "NaN (an empty or missing value)" if csv else "NaN"


# ---------------------------------------------------------------------------------------------- csv files

CSV_CHUNK_CELLS = 2 ** 20  # values parsed at a time: a text column never sits in memory as Python strings whole


@contextmanager
def _pandas_errors(name: str):
    """pandas' parser failures (and its warning that a row is longer than the header) as one line."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            yield
        except pd.errors.EmptyDataError:
            raise SpecError("data.path", f"{name} is empty; expected a header line naming the columns, then "
                                         f"data rows") from None
        except pd.errors.ParserWarning:  # the first data row is longer than the header: pandas would drop values
            raise SpecError("data.path", f"{name} must be comma-separated rows with one field per header column; "
                                         f"received a first data row with more fields than the header") from None
        except pd.errors.ParserError as error:
            problem = str(error).strip().splitlines()[0].removeprefix("Error tokenizing data. C error: ")
            raise SpecError("data.path", f"{name} must be comma-separated rows with one field per header column; "
                                         f"received: {_show(problem, 160)[1:-1]}") from None


def _csv_header(path: Path) -> list[str]:
    """The column names as written: pandas itself renames a repeated name 'a' to 'a.1'."""
    import pandas as pd

    with _pandas_errors(path.name):
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding="utf-8")
    names = [str(name) for name in first.iloc[0]] if len(first) else []
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise SpecError("data.path", f"{path.name}: column names must be unique; received {_show(repeated[0])} "
                                     f"{Counter(names)[repeated[0]]} times")
    return names


def _is_numeric(column) -> bool:
    """Numbers or bools. pandas' own tests: numpy's np.issubdtype raises on pandas' string dtype."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return is_numeric_dtype(column) or is_bool_dtype(column)


def _first_text(column) -> tuple[int, object]:
    """(row, value) of the first entry of a text column that is not a number."""
    import pandas as pd

    text = column[pd.to_numeric(column, errors="coerce").isna() & column.notna()]
    found = text if len(text) else column.dropna()  # e.g. a number too large for 64 bits, read as text
    return int(found.index[0]), found.iloc[0]


def _csv_features(chunk, name: str, first_row: int) -> np.ndarray:
    """A chunk's feature columns as float64 (rows, columns): numeric or bool columns, finite values only."""
    for column in chunk.columns:
        if not _is_numeric(chunk[column]):
            row, value = _first_text(chunk[column])
            raise SpecError("data.path", f"{name}: feature columns must be numeric; received text in column "
                                         f"{_show(column)} (data row {first_row + row + 1}: {_show(value)})")
    values = chunk.to_numpy(np.float64)
    bad = first_nonfinite(values)
    if bad:
        column = _show(chunk.columns[bad[1]])
        raise SpecError("data.path", f"{name}: feature values must be finite numbers; received "
                                     f"{_nonfinite_text(values[bad], csv=True)} in column {column}, data row "
                                     f"{first_row + bad[0] + 1}")
    return values


def _csv_labels(labels, name: str, first_row: int):
    """A chunk's label column, checked: finite numbers, or class names without gaps."""
    if _is_numeric(labels):
        values = labels.to_numpy(np.float64)
        bad = first_nonfinite(values)
        received = _nonfinite_text(values[bad], csv=True) if bad else ""
    else:
        missing = labels.isna().to_numpy()
        bad, received = ((int(missing.argmax()),), "an empty value") if missing.any() else (None, "")
    if bad:
        raise SpecError("data.path", f"{name}: the label column {_show(labels.name)} must hold finite numbers or "
                                     f"class names; received {received} in data row {first_row + bad[0] + 1}")
    return labels


def read_csv(data: DataSpec) -> Raw:
    import pandas as pd

    path = guard.check_text_file(data.path, "data.path", "data")
    columns = _csv_header(path)
    if data.target not in columns:
        raise SpecError("data.target", f"column {data.target!r} is not in {path.name}; columns: "
                                       f"{_show_names(columns)}")
    if len(columns) == 1:
        raise SpecError("data.path", f"{path.name} must hold feature columns besides the label column "
                                     f"{data.target!r}; received no other column")
    features, labels, rows = [], [], 0
    with _pandas_errors(path.name), pd.read_csv(path, chunksize=max(1, CSV_CHUNK_CELLS // len(columns)),
                                                index_col=False, encoding="utf-8") as reader:
        for chunk in (chunk for chunk in reader if len(chunk)):  # a header-only file yields one empty chunk
            chunk = chunk.reset_index(drop=True)  # rows counted from 0 in each chunk
            features.append(_csv_features(chunk.drop(columns=[data.target]), path.name, rows))
            labels.append(_csv_labels(chunk[data.target], path.name, rows))
            rows += len(chunk)
    if rows == 0:
        raise SpecError("data.path", f"{path.name} has no data rows; expected rows of values below the header")
    y = pd.concat(labels, ignore_index=True)
    if _is_numeric(y):
        y = y.to_numpy()
    else:  # class names -> indices, in sorted order
        y = np.unique(y.astype(str).to_numpy(), return_inverse=True)[1]
    return Raw(np.concatenate(features), y, None, None, data.task)


# ---------------------------------------------------------------------------------------------- npz files

NPZ_ARRAYS = ("x", "y", "x_test", "y_test")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip archive's first entry, or an empty archive
NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, real floats
KIND_NAMES = {"c": "complex numbers, whose imaginary part would be lost", "U": "text", "S": "bytes",
              "M": "datetimes", "m": "time deltas", "V": "structured records or raw bytes", "O": "Python objects"}
# What a damaged archive or array raises: zipfile, zlib (inside zipfile) and numpy's .npy reader.
NPZ_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError,
                   TypeError, RuntimeError, NotImplementedError, struct.error, SyntaxError, tokenize.TokenError)


def checked_archive(path, field: str, kind: str, what: str) -> Path:
    """path, if it is a file within the `kind` limit that starts as a zip archive (an .npz); else the one line
    saying that it must be `what`."""
    path = guard.check_file(path, field, kind)
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic not in ZIP_MAGIC:
        raise SpecError(field, f"{path.name} must be {what}; received another kind of file")
    return path


def damaged_archive(error: Exception, name: str, field: str) -> SpecError:
    """The one line for an .npz that numpy or zipfile cannot read (NPZ_READ_ERRORS)."""
    problem = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
    return SpecError(field, f"{name} must be a readable .npz archive; received a damaged one ({problem})")


def npy_header(archive, key: str, name: str, field: str = "data.path") -> tuple[tuple, np.dtype]:
    """(shape, dtype) that the member's .npy header declares, read without reading its data. Shared by the
    canonical weights files (harness.core.weights_npz)."""
    from numpy.lib import format as npy

    member = f"{key}.npy" if f"{key}.npy" in archive.zip.namelist() else key
    with archive.zip.open(member) as stream:
        try:
            version = npy.read_magic(stream)
        except ValueError:
            raise SpecError(field, f"{name}: {key!r} must be a .npy array (np.savez writes them); received "
                                   f"another kind of file") from None
        readers = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}
        if version not in readers:
            raise SpecError(field, f"{name}: array {key!r} must be in .npy format 1.0 or 2.0; received "
                                   f"{version[0]}.{version[1]}")
        shape, _, dtype = readers[version](stream)
    return shape, dtype


def _check_header(key: str, shape: tuple, dtype: np.dtype, name: str) -> int:
    """The array's size in bytes, if its declared dtype and shape are ones the harness trains on."""
    if dtype.hasobject:
        raise SpecError("data.path", f"{name}: array {key!r} holds an object array (pickled data is never "
                                     f"loaded); expected numbers")
    if dtype.kind not in NUMERIC_KINDS:
        raise SpecError("data.path", f"{name}: array {key!r} must hold bool, integer or real float values; "
                                     f"received {dtype} ({KIND_NAMES.get(dtype.kind, dtype.kind)})")
    if len(shape) == 0:
        raise SpecError("data.path", f"{name}: array {key!r} must hold one sample per row; received a 0-d array "
                                     f"(a single value)")
    if prod(shape) == 0:
        raise SpecError("data.path", f"{name}: array {key!r} must not be empty; received shape {shape}")
    return prod(shape) * dtype.itemsize


def _npz_headers(archive, name: str) -> dict[str, tuple]:
    """{key: (shape, dtype)} of the arrays the harness reads, refused before any is loaded if they would not fit
    the data limit (a compressed archive can declare far more than its file size)."""
    headers = {key: npy_header(archive, key, name) for key in NPZ_ARRAYS if key in archive.files}
    missing = [key for key in ("x", "y") if key not in headers]
    if missing:
        raise SpecError("data.path", f"{name} must hold arrays 'x' and 'y'; missing {missing}")
    if ("x_test" in headers) != ("y_test" in headers):
        present, absent = ("x_test", "y_test") if "x_test" in headers else ("y_test", "x_test")
        raise SpecError("data.path", f"{name}: x_test and y_test come together; received {present} without "
                                     f"{absent}")
    total = sum(_check_header(key, *headers[key], name) for key in headers)
    if total > guard.LIMITS["data"]:
        raise SpecError("data.path", f"{name}: its arrays would take {total / guard.GIB:,.1f} GiB once loaded; "
                                     f"at most {guard.LIMITS['data'] / guard.GIB:.0f} GiB are allowed")
    return headers


def _check_npz_arrays(arrays: dict, name: str) -> None:
    """Lengths and sample shapes that agree, and finite values."""
    for first, second in (("x", "y"), ("x_test", "y_test")):
        if first in arrays and len(arrays[first]) != len(arrays[second]):
            raise SpecError("data.path", f"{name}: {first} and {second} must hold the same number of samples; "
                                         f"received {len(arrays[first])} and {len(arrays[second])}")
    for test, train in (("x_test", "x"), ("y_test", "y")):
        if test in arrays and arrays[test].shape[1:] != arrays[train].shape[1:]:
            raise SpecError("data.path", f"{name}: {test}'s samples must have the shape of {train}'s, "
                                         f"{arrays[train].shape[1:]}; received {arrays[test].shape[1:]}")
    for key, values in arrays.items():
        bad = first_nonfinite(values)
        if bad:
            raise SpecError("data.path", f"{name}: array {key!r} must hold finite numbers; received "
                                         f"{_nonfinite_text(values[bad])} at index {bad}")


def read_npz(data: DataSpec) -> Raw:
    path = guard.check_file(data.path, "data.path", "data")
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if not magic.startswith(ZIP_MAGIC):
        what = "a single .npy array" if magic == b"\x93NUMPY" else "another kind of file"
        raise SpecError("data.path", f"{path.name} must be an .npz archive (np.savez) holding x and y; received "
                                     f"{what}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in _npz_headers(archive, path.name)}
    except SpecError:
        raise
    except NPZ_READ_ERRORS as error:
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SpecError("data.path", f"{path.name} must be a readable .npz archive; received a damaged one "
                                     f"({_show(problem, 120)[1:-1]})") from None
    _check_npz_arrays(arrays, path.name)
    return Raw(arrays["x"], arrays["y"], arrays.get("x_test"), arrays.get("y_test"), data.task)
