"""Checkpoints inside the epoch loop (`harness.jobs.train.fit`): every `training.checkpoint_every` epochs the run's
whole state goes to one file (harness.core.checkpoint), and a resumed run starts from it.

The state is what the next epoch depends on: the framework's variables and random-number generator states (the
adapter's `checkpoint` module), the epochs done with their rows, the counters of early stopping and of the plateau
rule (COUNTERS), and the best weights kept for restore_best_weights. The
batch order needs nothing: it is a function of (seed, epoch).
"""

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from harness.core import checkpoint, history
from harness.core.errors import SpecError

# The loop's objects that count epochs (harness.jobs.train's early stopping, harness.core.schedules' plateau
# rule) and their counters: numbers, None, or an infinite best before any epoch (saved as None).
COUNTERS = {"early_stopping": ("best", "best_epoch", "wait"), "plateau": ("best", "wait", "cooldown")}


def counter_state(name: str, item) -> dict:
    return {field: (None if getattr(item, field) == math.inf else getattr(item, field)) for field in COUNTERS[name]}


def load_counters(name: str, item, state, file: str) -> None:
    """Sets the counters from a checkpoint's `counter_state`, checked: a best is a number or None (infinite), the
    others integers >= 0 or None."""
    fields = COUNTERS[name]
    good = isinstance(state, dict) and set(state) == set(fields) and all(
        (isinstance(state[f], (int, float)) and not isinstance(state[f], bool)) or state[f] is None for f in fields)
    if not good or any(f != "best" and state[f] is not None and not (isinstance(state[f], int) and state[f] >= 0)
                       for f in fields):
        raise SpecError(file, f"counters.{name}: expected {', '.join(fields)}; received {str(state)[:80]}")
    for field in fields:
        value = state[field]
        setattr(item, field, math.inf if field == "best" and value is None else value)


@dataclass
class Checkpoints:
    """path: the run's checkpoint file; every: epochs between checkpoints (0: none); key: the run's store key,
    which the file must name; resume: start from the file; module: the adapter's checkpoint module."""

    path: str
    every: int
    key: str
    resume: bool
    module: object

    def due(self, epochs_done: int, epochs: int) -> bool:
        return self.every > 0 and epochs_done % self.every == 0 and epochs_done < epochs

    def save(self, trainer, rows: list, counters: dict, best_weights: Optional[list]) -> None:
        arrays = self.module.training_state(trainer)
        arrays.update({f"best/{i}": np.asarray(w) for i, w in enumerate(best_weights or [])})
        loop = {"rows": rows, "counters": {name: counter_state(name, item) for name, item in counters.items()},
                "best_weights": len(best_weights or [])}
        checkpoint.save(self.path, self.key, loop, arrays)

    def restore(self, trainer, counters: dict, canonical: list[tuple], epochs: int,
                log: Callable[[str], None]) -> tuple[list, Optional[list]]:
        """(the epoch rows done, the best weights kept or None), with the trainer and the counters restored.
        canonical: (shape, dtype) of each canonical weight, for the best weights a checkpoint may hold."""
        def expected(loop: dict) -> dict:  # the trainer's state, and the best weights the loop says it kept
            kept = loop.get("best_weights", 0)
            if kept not in (0, len(canonical)):
                raise SpecError(self.path, f"best_weights: expected 0 or {len(canonical)}; received {str(kept)[:40]}")
            return {**self.module.training_layout(trainer),
                    **{f"best/{i}": layout for i, layout in enumerate(canonical[:kept])}}

        loop, arrays = checkpoint.load(self.path, self.key, expected, field=self.path)
        kept = loop.get("best_weights", 0)
        rows = check_rows(loop.get("rows"), epochs, self.path)
        saved = loop.get("counters") if isinstance(loop.get("counters"), dict) else {}
        for name, item in counters.items():
            load_counters(name, item, saved.get(name), self.path)
        self.module.restore_training_state(trainer, {k: v for k, v in arrays.items() if not k.startswith("best/")})
        log(f"resumed from {self.path} after epoch {len(rows)}")
        return rows, [arrays[f"best/{i}"] for i in range(kept)] if kept else None


def check_rows(rows, epochs: int, name: str) -> list:
    """The epoch rows of a checkpoint: a list of 1 to `epochs` rows, each as a run record's (history)."""
    if not isinstance(rows, list) or not 1 <= len(rows) <= epochs:
        raise SpecError(name, f"rows: expected 1 to {epochs} epoch rows; received {str(rows)[:60]}")
    return history.check_epoch_rows(rows, name, "rows")
