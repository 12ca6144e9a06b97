"""The one guarded edge for every file the harness reads: spec files, data files, weights, results folders.

A file is hostile until checked. Before anything is read, it must be a regular file (a FIFO or a device would
hang or never end) of at most a stated size; text must be UTF-8; JSON must hold no duplicate keys, no NaN or
Infinity and no nesting deeper than a bound. Every failure is one `SpecError` line naming the file (or the
field that named it), what is allowed and what was received.
"""

import codecs
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from harness.core.errors import SpecError

MIB = 1024 ** 2
GIB = 1024 ** 3

# The largest file of each kind the harness reads, in bytes. The README's bad-input section states them.
LIMITS = {
    "spec": 1 * MIB,         # a spec file (YAML or JSON)
    "data": 2 * GIB,         # a csv or npz dataset
    "weights": 4 * GIB,      # a .weights.h5 or .pt file
    "table": 64 * MIB,       # history.csv, summary.csv of a results folder (checked cell by cell: ~1 GB at the cap)
    "record": 64 * MIB,      # manifest.json, runs/*.json, sweep.json
}
MAX_DEPTH = 32  # nesting of a spec or a record: the deepest real spec is 5 levels


def _size_text(size: int) -> str:
    return f"{size / GIB:.1f} GiB" if size >= GIB else f"{size / MIB:.1f} MiB" if size >= MIB else f"{size:,} bytes"


def check_file(path, field: str, kind: str) -> Path:
    """path, if it is a regular file no larger than LIMITS[kind]; else the one-line error naming `field`."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SpecError(field, f"file not found: {path}") from None
    except OSError as error:
        raise SpecError(field, f"cannot read {path}: {error.strerror or error}") from None
    except ValueError:  # os.stat refuses a path with a NUL character
        raise SpecError(field, f"expected a file name; received {str(path)[:80]!r}, which holds a NUL character") \
            from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError(field, f"expected a file; received the folder {path}")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(field, f"expected a regular file; received {path}, which is a device, pipe or socket")
    if info.st_size > LIMITS[kind]:
        raise SpecError(field, f"{path.name} is {_size_text(info.st_size)}; a {kind} file may be at most "
                               f"{_size_text(LIMITS[kind])}")
    if not os.access(path, os.R_OK):
        raise SpecError(field, f"cannot read {path}: permission denied")
    return path


def read_bytes(path, field: str, kind: str) -> bytes:
    """The whole file, after `check_file`; reads at most the limit even if the file grows meanwhile."""
    path = check_file(path, field, kind)
    try:
        with open(path, "rb") as handle:
            data = handle.read(LIMITS[kind] + 1)
    except OSError as error:
        raise SpecError(field, f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > LIMITS[kind]:
        raise SpecError(field, f"{path.name} grew past {_size_text(LIMITS[kind])} while being read")
    return data


def decode_text(data: bytes, name: str, field: str) -> str:
    """UTF-8 (a byte-order mark allowed) without NUL bytes; else one line saying where the first bad byte is."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError(field, f"{name} is UTF-16 text; expected UTF-8 (save it as UTF-8)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SpecError(field, f"{name} is not UTF-8 text: byte 0x{data[error.start]:02x} at offset "
                               f"{error.start} (save it as UTF-8)") from None
    if "\x00" in text:
        raise SpecError(field, f"{name} is binary, not text: NUL byte at offset {text.index(chr(0))}")
    return text


def read_text(path, field: str, kind: str) -> str:
    return decode_text(read_bytes(path, field, kind), Path(path).name, field)


TEXT_CHUNK = 1 * MIB


def _check_utf8_stream(handle, name: str, field: str) -> None:
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    while chunk := handle.read(TEXT_CHUNK):
        if offset == 0 and chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise SpecError(field, f"{name} is UTF-16 text; expected UTF-8 (save it as UTF-8)")
        pending = len(decoder.getstate()[0])  # bytes of a character split across two chunks
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as error:
            raise SpecError(field, f"{name} is not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset "
                                   f"{offset - pending + error.start} (save it as UTF-8)") from None
        nul = chunk.find(b"\x00")
        if nul >= 0:
            raise SpecError(field, f"{name} is binary, not text: NUL byte at offset {offset + nul}")
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise SpecError(field, f"{name} is not UTF-8 text: it ends inside a character (save it as UTF-8)") from None


def check_text_file(path, field: str, kind: str) -> Path:
    """path, after `check_file`, if all of it passes `decode_text`'s checks. Streamed a chunk at a time, so a
    file up to a large limit (a csv dataset) is checked without being held in memory; for readers that parse
    the file themselves (pandas)."""
    path = check_file(path, field, kind)
    try:
        with open(path, "rb") as handle:
            _check_utf8_stream(handle, path.name, field)
    except OSError as error:
        raise SpecError(field, f"cannot read {path}: {error.strerror or error}") from None
    return path


def depth(value: Any) -> int:
    """Nesting depth of plain data (a scalar 0, [] 1, {"a": [1]} 2), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            level += 1
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level) for child in children)
    return deepest


def check_depth(value: Any, name: str, field: str) -> Any:
    found = depth(value)
    if found > MAX_DEPTH:
        raise SpecError(field, f"{name} nests {found} levels deep; at most {MAX_DEPTH} are allowed")
    return value


def _unique_keys(pairs: list) -> dict:
    mapping = {}
    for key, value in pairs:
        if key in mapping:
            raise ValueError(f"duplicate key {key!r}")
        mapping[key] = value
    return mapping


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a float")
    return value


def parse_json(text: str, name: str, field: str, allow_nan: bool = False) -> Any:
    """Strict JSON: no duplicate keys, no NaN / Infinity (1e999 included), bounded nesting; one line on failure.

    allow_nan: the harness' own run records, where a diverged run's loss is NaN, may hold NaN and Infinity."""
    numbers = {} if allow_nan else {"parse_constant": _no_constant, "parse_float": _finite_float}
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys, **numbers)
    except json.JSONDecodeError as error:
        raise SpecError(field, f"{name} is not valid JSON at line {error.lineno}, column {error.colno}: "
                               f"{error.msg}") from None
    except ValueError as error:
        raise SpecError(field, f"{name} is not valid JSON: {error}") from None
    except RecursionError:
        raise SpecError(field, f"{name} nests too deeply; at most {MAX_DEPTH} levels are allowed") from None
    return check_depth(value, name, field)


def read_json(path, field: str, kind: str = "record", allow_nan: bool = False) -> Any:
    """A JSON file through every check above."""
    return parse_json(read_text(path, field, kind), Path(path).name, field, allow_nan)


def finite(value: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
