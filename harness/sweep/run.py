"""Running a sweep: plans every (point, framework, seed) run, skips the finished ones, executes the rest with
the local executor (--jobs parallel worker processes) or on Ray, retries runs whose worker died, and writes
the sweep tables and report. The worker code and its results are the same whichever executor runs them."""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from harness.core import atomic, data, folders, resources, weights_npz
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.spec import Spec
from harness.jobs.job import Job
from harness.launch import local
from harness.results import manifest, store, tables
from harness.sweep import expand as sweep

DIED = "worker process died"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _plan(points, out: Path, force: bool) -> tuple[list, list]:
    """(every planned run, the runs still to do) as (point, framework, seed, key)."""
    planned = [(point, framework, seed, store.run_key(point.spec, framework, seed))
               for point in points for seed in point.spec.seeds for framework in point.spec.frameworks]
    todo = [run for run in planned if force or store.finished(out, run[3]) is None]
    return planned, todo


@dataclass(frozen=True)
class Task:
    """A sweep run on its way to a worker: the job, and what the sweep stores with its result."""

    job: Job
    key: str
    point: int
    params: dict
    n_train: int
    metric: str
    attempt: int = 1


def _tasks(todo, work: Path, threads: int) -> list[Task]:
    """Worker jobs; prepared data and initial weights are made once per distinct data / (model, seed)."""
    tasks, datasets = [], {}
    for point, framework, seed, key in todo:
        spec = point.spec
        data_key = _digest([spec.data.model_dump(mode="json"), spec.model.input_shape, spec.loss,
                            spec.model.layers[-1].model_dump(mode="json")])
        if data_key not in datasets:
            prepared = data.prepare(spec)
            data.save(prepared, work / f"data-{data_key}.npz")
            datasets[data_key] = prepared
        weights_path = None
        if spec.init == "matched":
            digest = _digest([spec.model.model_dump(mode="json"), seed, spec.init_weights])
            weights_path = work / f"weights-{digest}.npz"
            if not weights_path.exists():  # the spec's init_weights file, or the seed's matched draw
                np.savez(weights_path, *weights_npz.starting_weights(spec, seed))
        job = Job(spec=spec_dump(spec), framework=framework, seed=seed, threads=threads,
                  data_path=str(work / f"data-{data_key}.npz"),
                  weights_path=str(weights_path) if weights_path else None, result_path=str(work / f"{key}.json"))
        tasks.append(Task(job, key, point.index, point.params, datasets[data_key].n_train,
                          datasets[data_key].target.metric))
    return tasks


def run_local(tasks: list[Task], on_result, *, parallel: int, work: Path, log) -> None:
    """Each task's job in its own worker process, `parallel` at a time; on_result(job, result) as each ends."""
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = {pool.submit(local.run_in_subprocess, task.job, work / f"{task.key}-{task.attempt}.job.json",
                               lambda line, task=task: log(f"[{task.job.framework} seed {task.job.seed} point "
                                                           f"{task.point}] {line.split('] ', 1)[-1]}")): task.job
                   for task in tasks}
        for future in as_completed(futures):
            on_result(futures[future], future.result())


def _execute(tasks: list[Task], executor: str, parallel: int, address, work: Path, out: Path, retries: int,
             log) -> None:
    pending = tasks
    while pending:
        retry, by_result = [], {task.job.result_path: task for task in pending}

        def on_result(job, result, by_result=by_result, retry=retry):  # this round's tasks and retries
            task = by_result[job.result_path]
            record = {"key": task.key, "point": task.point, "params": task.params, "n_train": task.n_train,
                      "metric": task.metric, "attempts": task.attempt,
                      "contended": parallel > 1 or executor == "ray", **result}
            if result["status"] == "failed" and DIED in result.get("error", "") and task.attempt <= retries:
                log(f"run {task.key} ({job.framework} seed {job.seed}): {result['error']}; retrying "
                    f"(attempt {task.attempt + 1} of {retries + 1})")
                retry.append(replace(task, attempt=task.attempt + 1))
                return
            store.save(out, task.key, record)

        if executor == "ray":
            from harness.launch.ray_executor import run_jobs

            run_jobs([task.job for task in pending], on_result, address=address, log=log)
        else:
            run_local(pending, on_result, parallel=parallel, work=work, log=log)
        pending = retry


def _tables(planned, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    histories, summaries, metrics = [], [], {}
    for point, framework, seed, key in planned:
        for record in store.records(out, [key], [(framework, seed)]):
            if not record.get("metric") and point.index not in metrics:  # a record from before runs stored it
                metrics[point.index] = data.prepare(point.spec).target.metric
            history, summary = _record_tables(point, key, record, record.get("metric") or metrics[point.index])
            histories.append(history)
            summaries.append(summary)
    return (pd.concat(histories, ignore_index=True) if histories else pd.DataFrame(),
            pd.concat(summaries, ignore_index=True) if summaries else pd.DataFrame())


def _record_tables(point, key: str, record: dict, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One stored run's history and summary rows, with the point's axis values. `metric` is the one the data
    step chose for the point's dataset (accuracy for classification, mae for regression), whatever the loss."""
    history, summary = tables.build([record], metric, record.get("n_train", np.nan))
    extra = {"point": point.index, **{f"sweep:{axis}": str(value) for axis, value in point.params.items()},
             "key": key, "attempts": record.get("attempts", 1), "contended": record.get("contended", False)}
    return history.assign(**extra), summary.assign(**extra)


def run_sweep(spec: Spec, raw: dict, out_dir=None, *, executor: str = "local", jobs: int = 1, retries: int = 2,
              force: bool = False, address=None, threads=None, allow_large: bool = False,
              log: Callable[[str], None] = print) -> tuple[Path, pd.DataFrame]:
    """Runs the sweep into `out_dir` (default results/<name>/); returns the folder and its summary table."""
    if jobs < 1 or retries < 0:
        raise SpecError("--jobs" if jobs < 1 else "--retries", f"expected a positive count; received {jobs}, {retries}")
    if executor not in ("local", "ray"):
        raise SpecError("--executor", f"expected 'local' or 'ray'; received {executor!r}")
    points = sweep.expand(spec, raw)
    for point in points:
        resources.check(point.spec, allow_large=allow_large, parallel=1 if executor == "ray" else jobs)
    out = folders.claim(Path(out_dir or Path("results") / spec.name), "sweep")
    threads = threads or max(1, (os.cpu_count() or 1) // jobs)
    planned, todo = _plan(points, out, force)
    log(f"{spec.name}: {len(points)} points, {len(planned)} runs; {len(planned) - len(todo)} already finished, "
        f"{len(todo)} to run ({executor} executor)")
    if any(point.spec.training.checkpoint_every for point in points):
        log("note: training.checkpoint_every: a sweep's points write no checkpoints (a rerun keeps the finished "
            "points and redoes the others); run one point as an experiment to checkpoint and --resume it")
    with folders.work_dir() as work:
        _execute(_tasks(todo, work, threads), executor, jobs, address, work, out, retries, log)
    history, summary = _tables(planned, out)
    atomic.write_csv(out / "history.csv", history)
    atomic.write_csv(out / "summary.csv", summary)
    atomic.write_json(out / "sweep.json", {
        "name": spec.name, "description": spec.description, "axes": spec.sweep or {}, "mode": spec.mode,
        "executor": executor, "jobs": jobs, "git_commit": manifest.git_commit(), "machine": manifest.machine(),
        "points": [{"index": p.index, "params": p.params, "spec": p.spec.model_dump(mode="json")} for p in points]})
    from harness.sweep.report import write_sweep_report

    write_sweep_report(out)
    return out, summary
