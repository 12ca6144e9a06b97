"""Sweeps: a spec with `sweep:` axes expands into points, each a validated spec, counted before they are expanded.
Every (point, framework, seed) is then a run stored by `harness.results.store` under a key of everything that determines
its result, so a sweep that is killed and started again completes the grid without repeating a finished run.
"""

import copy
import itertools
import math
from dataclasses import dataclass

from harness.core.errors import SpecError
from harness.core.overrides import set_path
from harness.core.spec import Spec
from harness.core.spec_layers import brief
from harness.core.validate import parse_spec

AUTOMATIC_AXES = ("frameworks", "seeds")
LABEL_AXIS = "label"  # an axis that only names the points (useful in zip mode); it changes nothing in the spec
MAX_POINTS = 10_000  # points of one sweep; more can only be a mistake (each is a validated spec in memory)
MAX_RUNS = 100_000   # points x frameworks x seeds


@dataclass(frozen=True)
class Point:
    index: int
    params: dict  # axis -> value
    spec: Spec    # the complete, resolved spec of this point (no sweep left)


def count_points(spec: Spec) -> int:
    """The number of points, from the axis lengths alone (nothing is expanded)."""
    lengths = {axis: len(values) for axis, values in (spec.sweep or {}).items()}
    if spec.mode == "zip":
        if len(set(lengths.values())) > 1:
            raise SpecError("sweep", f"mode zip needs axes of equal length; received lengths {brief(lengths)}")
        return next(iter(lengths.values()), 0)
    return math.prod(lengths.values())


def check_size(spec: Spec) -> int:
    """The number of points, if the sweep and its runs stay within MAX_POINTS and MAX_RUNS; else one line."""
    points = count_points(spec)
    if points > MAX_POINTS:
        shape = " x ".join(str(len(values)) for values in spec.sweep.values())
        raise SpecError("sweep", f"expected at most {MAX_POINTS:,} points; received {points:,} ({shape} in mode "
                                 f"{spec.mode})")
    runs = points * len(spec.frameworks) * len(spec.seeds)
    if runs > MAX_RUNS:
        raise SpecError("sweep", f"expected at most {MAX_RUNS:,} runs (points x frameworks x seeds); received "
                                 f"{points:,} x {len(spec.frameworks)} x {len(spec.seeds)} = {runs:,}")
    return points


def _combinations(spec: Spec) -> list[dict]:
    axes = spec.sweep or {}
    check_size(spec)
    if spec.mode == "zip":
        return [dict(zip(axes, values)) for values in zip(*axes.values())]
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def expand(spec: Spec, raw: dict) -> list[Point]:
    """Every point of the sweep as a validated spec; a bad path or value is a one-line error naming the axis.
    The points are counted before any is built: a sweep past MAX_POINTS or MAX_RUNS is refused at once."""
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
            except ValueError as error:
                raise SpecError(f"sweep.{axis}", f"is not a path into the spec: {error}") from None
        try:
            points.append(Point(index, params, parse_spec(point)))
        except SpecError as error:
            raise SpecError(f"sweep.{', '.join(params)}",
                            f"point {brief(params)} is not a valid spec: {error}") from None
    return points
