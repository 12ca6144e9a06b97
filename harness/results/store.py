"""The runs of a results folder, one file per run: `runs/<key>.json`, keyed by a hash of the resolved spec, the
framework, the seed and the versions (`run_key`), written atomically as soon as the run ends.

`harness run` and sweeps store runs the same way, so a rerun skips the finished runs, a failed rerun never
replaces a finished record (the failure is kept beside it, `runs/<key>.failed.json`), and the tables and reports
are rebuilt from the stored runs: a driver killed mid-run leaves a folder the next `run` or `report` makes whole.
Records are read back through the guarded edge and checked before use: a corrupted one is named, never used.
"""

import hashlib
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Optional

from harness.core import atomic, guard, history, registry
from harness.core.errors import SpecError
from harness.core.spec import Spec

FINISHED = ("ok", "diverged")   # a failed run is not finished: a rerun tries it again
STATUSES = FINISHED + ("failed", "skipped")
KEY = r"[0-9a-f]{20}"  # run_key: 20 hex digits, which is all a key may be (it names a file)


def _versions() -> dict:
    found = {}
    for package in ("harness", "tensorflow-cpu", "keras", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


# Spec fields that do not change what one (framework, seed) run computes: the run list itself, the report's
# analysis settings and the names. A rerun with one more seed or another margin keeps the finished runs.
NOT_IN_KEY = ("name", "description", "frameworks", "seeds", "analysis", "sweep", "mode")


def run_key(spec: Spec, framework: str, seed: int) -> str:
    """sha256 of the resolved spec (defaults included, NOT_IN_KEY left out), framework, seed and the harness and
    framework versions."""
    resolved = {key: value for key, value in spec.model_dump(mode="json").items() if key not in NOT_IN_KEY}
    identity = {"spec": resolved, "framework": framework, "seed": seed, "versions": _versions()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def record_path(out: Path, key: str) -> Path:
    return Path(out) / "runs" / f"{key}.json"


def failed_path(out: Path, key: str) -> Path:
    return Path(out) / "runs" / f"{key}.failed.json"


def check_record(record, name: str) -> dict:
    """The record, if it has the shape the tables need; else the one-line error naming the file and field."""
    def bad(field: str, allowed: str, received) -> SpecError:
        return SpecError(name, f"{field}: expected {allowed}; received {str(received)[:80]!r}")

    if not isinstance(record, dict):
        raise bad("the record", "a JSON object", type(record).__name__)
    if record.get("framework") not in registry.FRAMEWORKS:
        raise bad("framework", f"one of {', '.join(registry.FRAMEWORKS)}", record.get("framework"))
    seed = record.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2 ** 32:
        raise bad("seed", "an integer in [0, 2**32)", seed)
    if record.get("status") not in STATUSES:
        raise bad("status", f"one of {', '.join(STATUSES)}", record.get("status"))
    epochs = record.get("epochs", [])
    if not isinstance(epochs, list):
        raise bad("epochs", "a list", type(epochs).__name__)
    if record["status"] in FINISHED and not epochs:
        raise bad("epochs", f"at least one epoch for a run with status {record['status']}", "none")
    history.check_epoch_rows(epochs, name)
    for field in ("test", "threads", "versions", "hyperparameters"):
        if not isinstance(record.get(field, {}), dict):
            raise bad(field, "an object", type(record[field]).__name__)
    if not all(history.number_or_none(value) for value in record.get("test", {}).values()):
        raise bad("test", "numbers", record["test"])
    if not isinstance(record.get("error", ""), str):
        raise bad("error", "text", record["error"])
    if not isinstance(record.get("contended", False), bool):  # absent from records of older versions
        raise bad("contended", "true or false", record["contended"])
    execution = record.get("execution", {"mode": ""})
    if not (isinstance(execution, dict) and isinstance(execution.get("mode"), str)):
        raise bad("execution", "an object naming its mode", execution)
    return record


def load(path: Path) -> dict:
    """One stored record through the guarded edge (NaN losses of diverged runs are allowed), checked."""
    path = Path(path)
    return check_record(guard.read_json(path, str(path), "record", allow_nan=True), str(path))


def finished(out: Path, key: str) -> Optional[dict]:
    """The stored run if it finished (ok or diverged); None if absent, unfinished or unreadable (it is redone)."""
    path = record_path(out, key)
    if not path.is_file():
        return None
    try:
        record = load(path)
    except SpecError:
        return None
    return record if record["status"] in FINISHED else None


def save(out: Path, key: str, record: dict) -> Path:
    """Stores a run. A failure never replaces a finished record; a finish clears an earlier failure's file."""
    if record["status"] in FINISHED:
        failed_path(out, key).unlink(missing_ok=True)
        return atomic.write_json(record_path(out, key), record)
    if finished(out, key) is not None:
        return atomic.write_json(failed_path(out, key), record)
    return atomic.write_json(record_path(out, key), record)


def planned_runs(manifest) -> list[tuple]:
    """(framework, seed) of each run the manifest plans, in the order of `planned_keys`."""
    return [(run.get("framework"), run.get("seed")) for run in manifest["planned_runs"]]


def planned_keys(manifest) -> list[str]:
    """The store keys a manifest plans (`planned_runs`), checked: they name files, so nothing but a key passes."""
    planned = manifest.get("planned_runs") if isinstance(manifest, dict) else None
    if not isinstance(planned, list) or not all(isinstance(run, dict) for run in planned):
        raise SpecError("manifest.json", f"planned_runs: expected a list of runs; received {str(planned)[:80]!r}")
    matched = manifest.get("matched")
    if not isinstance(manifest.get("metric"), str) or not (isinstance(matched, dict)
                                                           and isinstance(matched.get("n_train"), int)):
        raise SpecError("manifest.json", "expected metric (text) and matched.n_train (an integer)")
    keys = [run.get("key") for run in planned]
    for index, key in enumerate(keys):
        if not (isinstance(key, str) and re.fullmatch(KEY, key)):
            raise SpecError("manifest.json", f"planned_runs[{index}].key: expected {KEY}; received {str(key)[:80]!r}")
    return keys


def _load_run(path: Path, run: Optional[tuple]) -> dict:
    """A record that must be the run its key names: (framework, seed), when the caller knows it."""
    record = load(path)
    if run is not None and (record["framework"], record["seed"]) != tuple(run):
        raise SpecError(str(path), f"expected the record of {run[0]} seed {run[1]}, the run its key names; "
                                   f"received {record['framework']} seed {record['seed']}")
    return record


def records(out: Path, keys: list[str], runs: Optional[list[tuple]] = None) -> list[dict]:
    """The stored record of each key, in order: the finished one if there is one, else the latest failure. A key
    without a record (a run never reached) is left out; anything else at its name (a corrupted record, a folder, a
    pipe, another run's record) is an error naming the file. runs: the (framework, seed) of each key."""
    runs = runs or [None] * len(keys)
    return [{**_load_run(record_path(out, key), run), "key": key} for key, run in zip(keys, runs)
            if os.path.lexists(record_path(out, key))]


def failed_attempts(out: Path, keys: list[str], runs: Optional[list[tuple]] = None) -> list[dict]:
    """Failures of reruns (--force) of finished runs, kept beside the finished records they did not replace."""
    runs = runs or [None] * len(keys)
    return [{**_load_run(failed_path(out, key), run), "key": key} for key, run in zip(keys, runs)
            if os.path.lexists(failed_path(out, key))]
