"""Runs an experiment: prepares the data and initial weights once, trains every (seed, framework) pair,
each in a fresh worker process by default, and writes the tables, manifest and report."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from harness import atomic, data, init, manifest, results
from harness.errors import SpecError
from harness.progress import Progress, live_wanted
from harness.spec import Spec
from harness.validate import parse_spec


def spec_dump(spec: Spec) -> dict:
    """The spec as plain data, without the defaults it did not state: re-validating it gives the same spec, and
    `optimizer_defaults: native` still knows which hyperparameters the spec stated."""
    return spec.model_dump(mode="json", exclude_unset=True)


def with_overrides(spec: Spec, frameworks=None, seeds=None, epochs=None, init_mode=None,
                   optimizer_defaults=None) -> Spec:
    """The spec with command-line overrides applied, validated again like a spec file."""
    raw = spec_dump(spec)
    if frameworks:
        raw["frameworks"] = list(frameworks)
    if seeds is not None:
        raw["seeds"] = list(seeds)
    if epochs is not None:
        raw.setdefault("training", {})["epochs"] = epochs
    if init_mode is not None:
        raw["init"] = init_mode
    if optimizer_defaults is not None:
        raw["optimizer_defaults"] = optimizer_defaults
    return parse_spec(raw)


def worker_command(job_path: Path) -> list[str]:
    return [sys.executable, "-m", "harness.worker", str(job_path)]


WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def run_in_subprocess(job: dict, job_path: Path, log: Callable[[str], None], command=None) -> dict:
    """Starts a fresh worker process; a worker that dies without a result is reported as a failed run."""
    atomic.write_json(job_path, job)
    stderr_path = job_path.with_suffix(".stderr")
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(command or worker_command(job_path), stdout=subprocess.PIPE, stderr=stderr,
                                   text=True, env={**os.environ, **WORKER_ENV})
        for line in process.stdout:
            log(line.rstrip("\n"))
        returncode = process.wait()
    return collect_result(job, stderr_path, returncode)


def collect_result(job: dict, stderr_path: Path, returncode: int) -> dict:
    """The worker's result file, or a failed run naming the last line the dead worker wrote to stderr."""
    result_path = Path(job["result_path"])
    if result_path.is_file():
        return json.loads(result_path.read_text())
    lines = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    cause = lines[-1] if lines else f"worker exited with status {returncode} and no output"
    return {"framework": job["framework"], "seed": job["seed"], "status": "failed",
            "error": f"worker process died (exit status {returncode}): {cause}"}


def run_in_process(job: dict, log: Callable[[str], None]) -> dict:
    from harness import worker

    return worker.execute(job, log=log)


def _jobs(spec: Spec, work: Path, threads: int, tensorboard: Optional[Path]):
    for seed in spec.seeds:
        weights_path = None
        if spec.init == "matched":
            weights_path = work / f"weights-seed{seed}.npz"
            np.savez(weights_path, *init.initial_weights(spec.model, seed))
        for framework in spec.frameworks:
            yield {"spec": spec_dump(spec), "framework": framework, "seed": seed, "threads": threads,
                   "data_path": str(work / "data.npz"), "weights_path": str(weights_path) if weights_path else None,
                   "result_path": str(work / f"{framework}-seed{seed}.json"),
                   "tensorboard_dir": str(tensorboard / f"{framework}-seed{seed}") if tensorboard else None}


def run(spec: Spec, out_dir=None, *, frameworks=None, seeds=None, epochs=None, init_mode=None,
        optimizer_defaults=None, in_process: bool = False, threads: Optional[int] = None,
        tensorboard: bool = True, log: Callable[[str], None] = print):
    """Trains every (seed, framework) run of the spec and writes the results folder.

    Returns a `harness.results.Results` with the history and summary DataFrames and the manifest.
    """
    from harness.report import write_report

    spec = with_overrides(spec, frameworks, seeds, epochs, init_mode, optimizer_defaults)
    if threads is not None and threads < 1:
        raise SpecError("--threads", f"expected at least 1; received {threads}")
    threads = threads or os.cpu_count() or 1
    out = Path(out_dir or Path("results") / spec.name)
    dataset = data.prepare(spec)
    log(f"{spec.name}: {dataset.n_train} training / {len(dataset.x_val)} validation / {len(dataset.x_test)} test "
        f"samples; frameworks {', '.join(spec.frameworks)}; seeds {spec.seeds}")
    if tensorboard:
        shutil.rmtree(out / "tensorboard", ignore_errors=True)  # a rerun replaces the event files, as the CSVs
    runs = []
    progress = Progress([(fw, seed) for seed in spec.seeds for fw in spec.frameworks], live=live_wanted(), echo=log)
    try:
        with tempfile.TemporaryDirectory(prefix="harness-") as work:
            work = Path(work)
            data.save(dataset, work / "data.npz")
            for job in _jobs(spec, work, threads, out / "tensorboard" if tensorboard else None):
                run_id = (job["framework"], job["seed"])
                prefix = f"[{job['framework']} seed {job['seed']}] "

                def show(line, run_id=run_id, prefix=prefix):
                    progress.line(*run_id, line.removeprefix(prefix))

                if in_process:
                    result = run_in_process(job, show)
                else:
                    result = run_in_subprocess(job, work / f"{job['framework']}-seed{job['seed']}.job.json", show)
                progress.finish(*run_id, result["status"], result.get("error", ""))
                atomic.write_json(out / "runs" / f"{job['framework']}-seed{job['seed']}.json", result)
                runs.append(result)
    finally:
        progress.close()
    history, summary = results.tables(runs, dataset.target.metric, dataset.n_train)
    facts = manifest.build(spec, dataset, runs, data.batch_size_of(spec, dataset.n_train), threads, in_process)
    atomic.write_csv(out / "history.csv", history)
    atomic.write_csv(out / "summary.csv", summary)
    atomic.write_json(out / "manifest.json", facts)
    write_report(out)
    return results.load_results(out)
