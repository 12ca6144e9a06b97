"""The folders the harness writes: it owns them, and it deletes only what it wrote.

Rules (the README's bad-input section states them):
- An output folder the harness creates, or finds empty, gets a marker file (`.harness`); a non-empty folder without
  the marker is never written into (an older results folder of the harness, recognised by its manifest, is adopted).
- The output is checked before any work starts: a path that is a file, a name too long for the file system, a
  read-only parent are one-line errors, not failures after training.
- Deleting is limited to files the harness writes, by name pattern, inside folders that carry the marker.
- Working folders for the prepared data live under the system's temporary folder, carry the driver's process id,
  are removed on every exit path the process survives, and those left by a killed driver are removed at the next
  start.
"""

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from harness.core.errors import SpecError

# The folder holding the harness package: the checkout (its git repository, experiments/), or site-packages
# for an installed copy. One definition for every module that needs it.
PROJECT = Path(__file__).resolve().parents[2]
MARKER = ".harness"
WORK_PREFIX = "harness-work-"
NAME_MAX = 255    # bytes in one path component (Linux NAME_MAX)
PATH_MAX = 4000   # bytes in a whole path, below Linux's 4096


def _check_path(path: Path, field: str) -> None:
    text = str(path)
    if "\x00" in text:
        raise SpecError(field, "expected a path; received one with a NUL character")
    if len(os.fsencode(text)) > PATH_MAX:
        raise SpecError(field, f"expected a path of at most {PATH_MAX} bytes; received {len(os.fsencode(text))}")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise SpecError(field, f"expected names of at most {NAME_MAX} bytes; received a name of "
                                   f"{len(os.fsencode(part))} bytes ({part[:40]}...)")


def owned(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _marker(folder: Path) -> dict:
    """The folder's marker as written; {} if it is missing or unreadable."""
    from harness.core import guard

    try:
        marker = guard.read_json(folder / MARKER, MARKER, "record")
    except SpecError:
        return {}
    return marker if isinstance(marker, dict) else {}


def _kind(folder: Path):
    """What the marker says the folder holds; None if the marker is unreadable."""
    return _marker(folder).get("kind")


def _legacy_results(folder: Path) -> bool:
    """A results folder written by an earlier harness (before markers): a manifest that names its spec."""
    from harness.core import guard

    try:
        manifest = guard.read_json(folder / "manifest.json", "manifest.json", "record", allow_nan=True)
    except SpecError:
        return False
    return isinstance(manifest, dict) and isinstance(manifest.get("spec"), dict) and "name" in manifest


def _mark(folder: Path, kind: str, field: str) -> None:
    from harness.core import atomic

    try:
        atomic.write_json(folder / MARKER, {"written_by": "harness", "kind": kind,
                                            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    except OSError as error:
        raise SpecError(field, f"cannot write into {folder}: {error.strerror or error}") from None


def claim(folder, kind: str, field: str = "--out") -> Path:
    """`folder`, made ready for the harness to write into, before any work starts; else one line saying why not.

    kind names what the folder holds (results, sweep, bench, parity, import, export) in its marker."""
    folder = Path(folder)
    _check_path(folder, field)
    if folder.exists() and not folder.is_dir():
        raise SpecError(field, f"expected a folder; received {folder}, which is a file")
    if folder.is_dir():
        try:
            empty = not any(folder.iterdir())
        except OSError as error:
            raise SpecError(field, f"cannot read the folder {folder}: {error.strerror or error}") from None
        if not (empty or owned(folder) or (kind == "results" and _legacy_results(folder))):
            raise SpecError(field, f"{folder} is not empty and was not written by the harness (no {MARKER} marker); "
                                   f"choose a new or empty folder")
        if owned(folder) and _kind(folder) != kind:
            raise SpecError(field, f"{folder} holds the harness' {_kind(folder) or 'unknown'} output, not {kind} "
                                   f"output; choose another folder")
    else:
        try:
            folder.mkdir(parents=True)
        except OSError as error:
            raise SpecError(field, f"cannot create the folder {folder}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SpecError(field, f"cannot write into {folder}: permission denied")
    if not owned(folder):
        _mark(folder, kind, field)
    return folder


def check_new_file(path, field: str, force: bool = False) -> Path:
    """An output file the harness is about to write: refused if it exists (unless force) or cannot be written."""
    path = Path(path)
    _check_path(path, field)
    if path.is_dir():
        raise SpecError(field, f"expected a file name; received the folder {path}")
    if os.path.lexists(path) and not force:  # a dangling link counts: replacing it would write where it points
        raise SpecError(field, f"{path} exists; the harness does not overwrite a file it may not have written "
                               f"(remove it, choose another name, or pass --force)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError(field, f"the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(field, f"cannot write into {parent}: permission denied")
    return path


def remove_written(folder: Path, pattern: str) -> None:
    """Deletes the files in `folder` whose names match `pattern` (a regular expression: the names the harness gives
    what it writes there), then the folder if it is empty. Anything else stays. Callers pass folders inside an
    output folder they claimed."""
    if folder.is_symlink() or not folder.is_dir():  # a link leads outside what the harness wrote: never followed
        return
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink() and re.fullmatch(pattern, path.name):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()  # only if empty


# ------------------------------------------------------------------------------------------- working folders

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale() -> list[Path]:
    """Removes the working folders of drivers that are no longer running; returns them."""
    removed = []
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{WORK_PREFIX}*"):
        match = re.fullmatch(rf"{WORK_PREFIX}(\d+)-.+", folder.name)
        if not match or folder.is_symlink() or not folder.is_dir() or _alive(int(match.group(1))):
            continue
        marker = _marker(folder)  # only a working folder the harness made: it says so and names the same process
        if marker.get("kind") == "work" and marker.get("pid") == int(match.group(1)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def work_dir():
    """A fresh working folder (prepared data, initial weights, job files), removed on every exit path."""
    clean_stale()
    folder = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
    (folder / MARKER).write_text(json.dumps({"written_by": "harness", "kind": "work", "pid": os.getpid()}))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
