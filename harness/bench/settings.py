"""What `harness bench` measures and how: the execution modes of each framework, the settings (validated once,
at the edge) and the --sweep axis. Light to import: the command line builds its help from these tables."""

import math
from dataclasses import dataclass, field
from typing import Optional

from harness.core.errors import SpecError
from harness.core.execution import DEFAULT_MODES, FRAMEWORK_TITLES, MODES, STEPS_PER_EXECUTION  # noqa: F401

# --sweep shorthands; any other name is a dotted path into the spec (model.layers.0.units).
SWEEP_ALIASES = {"batch_size": "training.batch_size", "sequence_length": "model.input_shape.0",
                 "width": "every hidden layer's units or filters"}


@dataclass(frozen=True)
class Settings:
    """Everything `harness bench` takes besides the spec; `check()` validates it once, at the edge."""
    repeats: int = 7
    rounds: int = 3                    # fresh processes per (framework, mode)
    interleave: bool = True            # the runs' workers take turns, one timed repeat each (launch.turns)
    warmup_steps: int = 10
    steps: Optional[int] = None        # training steps per timed repeat; None: one pass over the training set
    threads: int = 1
    device: str = "auto"
    tf32: bool = False
    frameworks: tuple = tuple(MODES)
    modes: Optional[tuple] = None      # mode names; None: every mode of each framework
    steps_per_execution: int = STEPS_PER_EXECUTION
    large_batch: int = 1024
    infer_calls: int = 200
    matmul_size: Optional[int] = None  # None: 1024 on the CPU, 4096 on a GPU
    sweep: Optional[tuple] = field(default=None)  # (axis, (value, ...))

    def check(self) -> "Settings":
        minimum = {"repeats": 3, "rounds": 1, "warmup_steps": 0, "steps": 1, "threads": 1, "steps_per_execution": 1,
                   "large_batch": 1, "infer_calls": 1, "matmul_size": 16}
        for name, least in minimum.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < least):
                why = " (quartiles need three samples)" if name == "repeats" else ""
                raise SpecError(f"--{name.replace('_', '-')}", f"expected an integer of at least {least}{why}; "
                                                               f"received {value!r}")
        for name, value, allowed in [("frameworks", framework, MODES) for framework in self.frameworks] + [
                ("device", self.device, ("cpu", "gpu", "auto"))]:
            if value not in allowed:
                raise SpecError(f"--{name}", f"expected one of {', '.join(allowed)}; received {value!r}")
        known = sorted({mode for framework in self.frameworks for mode in MODES[framework]})
        qualified = {f"{framework}:{mode}" for framework in self.frameworks for mode in MODES[framework]}
        for mode in self.modes or ():
            if mode not in known and mode not in qualified:
                raise SpecError("--modes", f"expected modes of {', '.join(self.frameworks)}: {', '.join(known)}, "
                                           f"or FRAMEWORK:MODE for one framework's; received {mode!r}")
        return self

    def runs(self) -> list[tuple[str, str]]:
        """(framework, mode) pairs in the order they run: each framework's default mode first."""
        pairs = []
        for framework in self.frameworks:
            ordered = sorted(MODES[framework], key=lambda mode: mode != DEFAULT_MODES[framework])
            pairs += [(framework, mode) for mode in ordered
                      if not self.modes or mode in self.modes or f"{framework}:{mode}" in self.modes]
        if not pairs:
            raise SpecError("--modes", f"no mode of {', '.join(self.frameworks)} is among {', '.join(self.modes)}")
        return pairs


MAX_SWEEP_VALUES = 100


def _scalar(text: str):
    """One --sweep value as a YAML scalar (16, 0.5, full, null); anything else is refused."""
    from harness.core.spec_file import parse_yaml

    try:
        value = parse_yaml(text, repr(text.strip()), "--sweep")  # the spec's YAML rules: 1e-3 is a number
    except SpecError:
        value = ...
    if isinstance(value, bool) or not isinstance(value, (int, float, str, type(None))) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise SpecError("--sweep", f"expected plain values (numbers, words, null); received {text.strip()!r}")
    return value


def parse_sweep(text: str) -> tuple:
    """'batch_size=16,32,64' -> ('batch_size', (16, 32, 64)); values are read as YAML scalars."""
    axis, _, values = text.partition("=")
    parsed = tuple(_scalar(value) for value in values.split(",") if value.strip())
    if not axis.strip() or not parsed:
        raise SpecError("--sweep", f"expected AXIS=V1,V2,... (AXIS one of {', '.join(SWEEP_ALIASES)} or a dotted "
                                   f"path into the spec); received {text!r}")
    if len(parsed) > MAX_SWEEP_VALUES:
        raise SpecError("--sweep", f"expected at most {MAX_SWEEP_VALUES} values; received {len(parsed)}")
    return axis.strip(), parsed
