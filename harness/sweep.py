"""Sweeps: a spec with `sweep:` axes expands into points; every (point, framework, seed) is a run keyed by a
hash of everything that determines its result. Each finished run is stored as its own file (runs/<key>.json,
written atomically), so a sweep that is killed and started again completes the grid without repeating a
finished run; tables and plots are derived from those files.
"""

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness import atomic
from harness.errors import SpecError
from harness.spec import Spec
from harness.validate import parse_spec

AUTOMATIC_AXES = ("frameworks", "seeds")
LABEL_AXIS = "label"  # an axis that only names the points (useful in zip mode); it changes nothing in the spec
FINISHED = ("ok", "diverged")  # a failed run is not finished: a rerun tries it again


@dataclass(frozen=True)
class Point:
    index: int
    params: dict  # axis -> value
    spec: Spec    # the complete, resolved spec of this point (no sweep left)


def set_path(raw: dict, path: str, value) -> None:
    """Sets raw['a']['b'][1]['c'] for path 'a.b.1.c', creating missing mappings."""
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            if isinstance(node.get(key), str):  # shorthand such as `optimizer: adam`
                node[key] = {"type": node[key]}
            node = node.setdefault(key, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def _combinations(spec: Spec) -> list[dict]:
    axes = spec.sweep or {}
    if spec.mode == "zip":
        lengths = {axis: len(values) for axis, values in axes.items()}
        if len(set(lengths.values())) > 1:
            raise SpecError("sweep", f"mode zip needs axes of equal length; received lengths {lengths}")
        return [dict(zip(axes, values)) for values in zip(*axes.values())]
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def expand(spec: Spec, raw: dict) -> list[Point]:
    """Every point of the sweep as a validated spec; a bad path or value is a one-line error naming the axis."""
    for axis in spec.sweep or {}:
        if axis in AUTOMATIC_AXES:
            raise SpecError(f"sweep.{axis}", f"{axis} are swept automatically; list them in `{axis}:` instead")
    base = {key: value for key, value in raw.items() if key not in ("sweep", "mode")}
    points = []
    for index, params in enumerate(_combinations(spec)):
        point = copy.deepcopy(base)
        for axis, value in params.items():
            if axis == LABEL_AXIS:
                continue
            try:
                set_path(point, axis, value)
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                raise SpecError(f"sweep.{axis}", f"is not a path into the spec (received value {value!r})") from None
        try:
            points.append(Point(index, params, parse_spec(point)))
        except SpecError as error:
            raise SpecError(f"sweep.{', '.join(params)}", f"point {params} is not a valid spec: {error}") from None
    return points


def _versions() -> dict:
    found = {}
    for package in ("harness", "tensorflow-cpu", "keras", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def run_key(spec: Spec, framework: str, seed: int) -> str:
    """sha256 of the resolved spec (defaults included), framework, seed and the harness and framework versions."""
    identity = {"spec": spec.model_dump(mode="json"), "framework": framework, "seed": seed, "versions": _versions()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def finished_record(out: Path, key: str):
    """The stored run, if it finished (ok or diverged); None otherwise."""
    path = out / "runs" / f"{key}.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("status") in FINISHED else None


def store(out: Path, key: str, record: dict) -> None:
    atomic.write_json(out / "runs" / f"{key}.json", record)
