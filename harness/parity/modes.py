"""`harness parity --modes`: every execution mode computes the same training as its framework's default mode.

Speed never costs trust: a faster mode (Keras steps_per_execution or XLA, torch's compiled step) must train the
same network on the same batches with the same update rule. The spec is trained with its dropout layers removed
(each mode draws its masks from another random stream: Keras' graph and XLA kernels, torch's eager and compiled
generators), early stopping off, for E epochs from the same initial weights, once per mode, each in a fresh
worker. Each epoch's training and validation loss must equal the default mode's to float32 round-off:
|delta| <= TOLERANCE * max(1, |default's loss|).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from harness.core import atomic, data, execution, folders, init, resources
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.spec import Spec
from harness.core.validate import parse_spec
from harness.jobs.job import Job
from harness.launch import local

# Round-off over a few hundred steps, by training.precision. float32: the frameworks' own cross-checks agree to
# about 3e-7 (README, combined options) and torch's compiled step to eager within 2e-8..1.2e-7; 1e-5 leaves a
# margin and still catches a changed rule, batch or rate (>= 1e-3). bfloat16 (8 bits of mantissa, eps 7.8e-3):
# the compiled step keeps some intermediates in float32 that eager autocast rounds, measured 3.4e-4 on the
# validation loss of experiments/mlp_mnist1d.yaml; 1e-2 is about bfloat16's epsilon.
TOLERANCES = {"float32": 1e-5, "bfloat16": 1e-2}
TOLERANCE = TOLERANCES["float32"]
COMPARED = ("loss", "val_loss")


@dataclass
class ModeRow:
    framework: str
    mode: str
    status: str
    max_delta: float          # the largest relative |delta| over epochs and compared losses, against the default
    median_epoch_seconds: float
    tolerance: float
    error: str = ""

    @property
    def passed(self) -> bool:
        """Skipped (the mode cannot train this model: said in the report) is not a failure."""
        return self.status == "skipped" or (self.status == "ok" and self.max_delta <= self.tolerance)


@dataclass
class ModesResult:
    spec: Spec
    epochs: int
    rows: list[ModeRow]
    out_dir: Path

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)


def comparable_spec(spec: Spec, epochs: int) -> Spec:
    """The spec as every mode trains it here: no dropout layers, no early stopping, `epochs` epochs, one seed."""
    raw = spec_dump(spec)
    raw["model"]["layers"] = [layer for layer in raw["model"]["layers"] if layer["type"] != "dropout"]
    raw["training"] = {**raw.get("training", {}), "epochs": epochs, "early_stopping": None, "execution": {}}
    raw["seeds"] = [spec.seeds[0]]
    return parse_spec(raw)


def chosen_runs(frameworks, modes: Optional[list]) -> list[tuple[str, str]]:
    """(framework, mode) pairs to check, each framework's default first; modes: names or FRAMEWORK:MODE."""
    pairs = [(framework, mode) for framework in frameworks
             for mode in sorted(execution.MODES[framework], key=lambda m: m != execution.DEFAULT_MODES[framework])]
    if modes:
        known = {name for framework, name in pairs} | {f"{framework}:{name}" for framework, name in pairs}
        unknown = [mode for mode in modes if mode not in known]
        if unknown:
            raise SpecError("--modes", f"expected modes of {', '.join(frameworks)}: {', '.join(sorted(known))}; "
                                       f"received {unknown[0]!r}")
        pairs = [(framework, mode) for framework, mode in pairs if mode == execution.DEFAULT_MODES[framework]
                 or mode in modes or f"{framework}:{mode}" in modes]
    return pairs


def _train(spec: Spec, framework: str, mode: str, work: Path, threads: int, log) -> dict:
    raw = spec_dump(spec)
    raw["training"]["execution"] = {framework: mode}
    job = Job(spec=raw, framework=framework, seed=spec.seeds[0], threads=threads, data_path=str(work / "data.npz"),
              weights_path=str(work / "weights.npz"), result_path=str(work / f"{framework}-{mode}.json"))
    log(f"{framework} {mode}: training {spec.training.epochs} epochs")
    return local.run_in_subprocess(job, work / f"{framework}-{mode}.job.json", lambda line: None)


def _row(framework: str, mode: str, result: dict, default: Optional[dict], tolerance: float) -> ModeRow:
    nan = float("nan")
    if result["status"] != "ok":
        return ModeRow(framework, mode, result["status"], nan, nan, tolerance, result.get("error", ""))
    seconds = float(np.median([row["epoch_seconds"] for row in result["epochs"]]))
    if default is None or default["status"] != "ok":
        return ModeRow(framework, mode, "failed", nan, seconds, tolerance, "the default mode did not finish")
    if len(result["epochs"]) != len(default["epochs"]):
        return ModeRow(framework, mode, "failed", float("inf"), seconds, tolerance, "another number of epochs")
    deltas = [abs(ours[key] - theirs[key]) / max(1.0, abs(theirs[key]))
              for ours, theirs in zip(result["epochs"], default["epochs"]) for key in COMPARED if key in theirs]
    return ModeRow(framework, mode, "ok", max(deltas), seconds, tolerance)


def run_modes_parity(spec: Spec, out_dir=None, *, epochs: int = 3, modes: Optional[list] = None, threads: int = 1,
                     allow_large: bool = False, log: Callable[[str], None] = print) -> ModesResult:
    """Trains the comparable spec in each chosen mode of each of the spec's frameworks; writes modes.md/.json."""
    if epochs < 1:
        raise SpecError("--epochs", f"expected at least 1; received {epochs}")
    runs = chosen_runs(spec.frameworks, modes)
    spec = comparable_spec(spec, epochs)
    resources.check(spec, allow_large=allow_large)
    out = folders.claim(Path(out_dir or Path("results") / spec.name / "modes"), "parity")
    dataset = data.prepare(spec)
    log(f"{spec.name}: {len(runs)} modes, {epochs} epochs each, dropout off, seed {spec.seeds[0]}")
    rows, defaults = [], {}
    with folders.work_dir() as work:
        data.save(dataset, work / "data.npz")
        np.savez(work / "weights.npz", *init.initial_weights(spec.model, spec.seeds[0]))
        tolerance = TOLERANCES[spec.training.precision]
        for framework, mode in runs:
            why = execution.unsupported(framework, mode, [layer.type for layer in spec.model.layers])
            result = ({"status": "skipped", "error": why} if why else _train(spec, framework, mode, work, threads, log))
            if mode == execution.DEFAULT_MODES[framework]:
                defaults[framework] = result
            rows.append(_row(framework, mode, result, defaults.get(framework), tolerance))
            log(_line(rows[-1]))
    result = ModesResult(spec, epochs, rows, out)
    _write(result)
    return result


def _verdict(row: ModeRow) -> str:
    return "skipped" if row.status == "skipped" else "PASS" if row.passed else "FAIL"


def _line(row: ModeRow) -> str:
    verdict = _verdict(row)
    return (f"{row.framework} {row.mode}: {verdict}, max relative |delta loss| {row.max_delta:.2e}, median epoch "
            f"{row.median_epoch_seconds:.3f} s" + (f" ({row.error})" if row.error else ""))


def markdown(result: ModesResult) -> str:
    lines = [f"# Parity between execution modes: {result.spec.name}", "",
             f"{'PASS' if result.passed else 'FAIL'}: each mode against its framework's default mode, "
             f"{result.epochs} epochs from the same initial weights, dropout layers removed; per epoch, training and "
             f"validation loss within {TOLERANCES[result.spec.training.precision]:g} x max(1, |loss|) "
             f"({result.spec.training.precision} round-off).", "",
             "| framework | mode | what runs | verdict | max relative delta loss | median epoch (s) |",
             "|---|---|---|---|---|---|"]
    for row in result.rows:
        what = execution.MODES[row.framework][row.mode][1]
        verdict = _verdict(row) + (f" ({row.error})" if row.error else "")
        lines.append(f"| {row.framework} | {row.mode} | {what} | {verdict} | {row.max_delta:.2e} | "
                     f"{row.median_epoch_seconds:.3f} |")
    lines += ["", "Epoch times here are one run each, for orientation; `harness bench` measures speed."]
    return "\n".join(lines) + "\n"


def _write(result: ModesResult) -> None:
    atomic.write_text(result.out_dir / "modes.md", markdown(result))
    rows = [{key: (None if isinstance(value, float) and not np.isfinite(value) else value)
             for key, value in {**row.__dict__, "passed": row.passed}.items()} for row in result.rows]
    atomic.write_json(result.out_dir / "modes.json", {"spec": result.spec.name, "epochs": result.epochs,
                                                      "passed": result.passed, "rows": rows})
