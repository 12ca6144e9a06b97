"""Atomic file writes: a reader (or an interrupted run) never sees a half-written file."""

import json
import os
import tempfile
from pathlib import Path


def write_bytes(path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text(path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path, value) -> Path:
    return write_text(path, json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path, frame) -> Path:
    return write_text(path, frame.to_csv(index=False))
