"""The one loader of a results folder: `manifest.json` checked against the schema below, then the two tables
(`harness.results.checks`), each file read once through `harness.core.guard`, before anything is rendered."""

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core import guard
from harness.core.errors import SpecError
from harness.core.spec import Analysis
from harness.results.checks import read_tables
from harness.results.tables import FILES, TASK_METRICS, Results, shown

# ---- manifest.json: the keys and types the renderers, compare and the MLflow logger read ----

class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # other keys are kept and ignored


class _Data(_Open):
    dataset: Optional[str] = None


class _SpecFacts(_Open):
    data: Optional[_Data] = None


class _Settings(_Open):
    optimizer: Optional[dict[str, Any]] = None
    loss: Optional[dict[str, Any]] = None


class _Execution(_Open):
    mode: str  # harness.core.execution's mode name; the adapter's settings beside it


class _FrameworkFacts(_Open):
    versions: Optional[dict[str, Any]] = None
    threads: Optional[dict[str, Any]] = None
    hyperparameters: Optional[_Settings] = None
    execution: Optional[_Execution] = None  # absent from folders of older versions


class _Manifest(_Open):
    name: str
    task: Literal["classification", "regression"]
    metric: str
    spec: _SpecFacts
    description: Optional[str] = None
    created_utc: Optional[str] = None
    git_commit: Optional[str] = None
    machine: dict[str, Any] = {}
    matched: dict[str, Any] = {}
    known_differences: list[str] = []
    notes: list[str] = []
    defaults_diff: Optional[list[dict[str, Any]]] = None
    analysis: Optional[Analysis] = None
    frameworks: dict[str, _FrameworkFacts] = {}
    weights: list[dict[str, Any]] = []  # saved weights per run: framework, seed, file, canonical (relative paths)
    class_counts: dict[Literal["train", "val", "test"], list[Annotated[int, Field(ge=0)]]] = {}  # per class


_JSON_KINDS = {"list": "an array", "str": "a string", "int": "a number", "float": "a number", "bool": "true or false",
               "NoneType": "null", "dict": "an object"}


def schema_message(error: ValidationError, required: str) -> str:
    """The first error of a JSON file's schema check as 'key.path: expected ...; received ...'."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the file"
    if first["type"] == "missing":
        return f"{where}: expected it ({required}); received no {where!r} key"
    expected = first["msg"].removeprefix("Value error, ").removeprefix("Input should be ")
    expected = re.sub(r" or instance of \w+$", "", expected)  # a nested model's class name means nothing here
    received = first["input"]
    kind = _JSON_KINDS.get(type(received).__name__, type(received).__name__)
    return f"{where}: expected {expected}; received {kind}" + (f" {shown(received)}" if kind != "null" else "")


def read_manifest(path: Path) -> dict:
    """manifest.json as a dict, if it holds the keys and types the reports read; else the one-line error."""
    field = str(path)
    manifest = guard.read_json(path, field, "record", allow_nan=True)  # written by json.dumps, which allows NaN
    if not isinstance(manifest, dict):
        kind = _JSON_KINDS.get(type(manifest).__name__, type(manifest).__name__)
        raise SpecError(field, f"expected a JSON object (the manifest); received {kind}")
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as error:
        raise SpecError(field, schema_message(error, "a results manifest has name, task, metric and spec")) from None
    expected = TASK_METRICS[manifest["task"]]
    if manifest["metric"] != expected:
        raise SpecError(field, f"metric: expected {expected!r} for a {manifest['task']} task; received "
                               f"{shown(manifest['metric'])}")
    return manifest


def require_folder(out_dir) -> Path:
    """out_dir, if it is a folder holding what `harness run` writes; else the one-line error saying what is not."""
    out_dir = Path(out_dir)
    name = str(out_dir) if str(out_dir).isprintable() else shown(str(out_dir))  # a NUL or newline stays visible
    try:
        if not out_dir.is_dir():
            found = "a file" if out_dir.exists() else "nothing"
            raise SpecError("out", f"expected a results folder written by `harness run`; received {name}, "
                                   f"where there is {found}")
        missing = [name for name in FILES if not (out_dir / name).exists()]
    except OSError as error:
        raise SpecError("out", f"cannot read {out_dir}: {error.strerror or error}") from None
    if missing:
        raise SpecError("out", f"{out_dir} is not a results folder: missing {', '.join(missing)}")
    return out_dir


def load_results(out_dir) -> Results:
    """Reads a results folder back, each file once and every value checked: history.csv, summary.csv, manifest.

    Any fault is one SpecError naming the file, the row and the column; nothing is returned half-read."""
    out_dir = require_folder(out_dir)
    manifest = read_manifest(out_dir / "manifest.json")
    summary, history = read_tables(out_dir, ("loss", "epoch_seconds", "learning_rate", manifest["metric"]))
    return Results(history, summary, manifest, out_dir)
