"""Runs an experiment: prepares the data and initial weights once, trains every (seed, framework) pair,
each in a fresh worker process by default, and writes the tables, manifest and report."""

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from harness.code.write import FOLDER, MAX_DATA_BYTES, data_bytes, write_code
from harness.core import atomic, data, folders, init, resources, weights_npz
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump, with_overrides
from harness.core.spec import Spec
from harness.core.validate import check_analysis, load_spec, parse_spec
from harness.jobs.job import Job
from harness.launch import local, pool
from harness.launch.progress import Progress, live_wanted
from harness.results import manifest, store, tables
from harness.results.load import load_results, read_manifest
from harness.results.tables import Results
from harness.run import checkpoints as resume_plan
from harness.run import publish


def train_jobs(spec: Spec, work: Path, threads: int, tensorboard: Optional[Path], only: Optional[set] = None,
               save_weights: bool = False, start: Optional[list] = None, checkpoints: Optional[dict] = None):
    """One worker job per (framework, seed) of the spec, or of `only`, in the spec's (seed, framework) order, with
    the initial weights written once per seed (`start`, the spec's init_weights read once, for every seed; else the
    seed's matched draw); TensorBoard events and final weights go to staging folders per run. checkpoints:
    {(framework, seed): (run key, checkpoint file, resume from it)} for runs that write checkpoints."""
    only = {(framework, seed) for seed in spec.seeds for framework in spec.frameworks} if only is None else only
    dumped = spec_dump(spec)
    for seed in spec.seeds:
        if not any((framework, seed) in only for framework in spec.frameworks):
            continue
        weights_path = None
        if spec.init == "matched":
            weights_path = work / f"weights-seed{seed}.npz"
            np.savez(weights_path, *(start if start is not None else init.initial_weights(spec.model, seed)))
        for framework in spec.frameworks:
            if (framework, seed) not in only:
                continue
            yield Job(spec=dumped, framework=framework, seed=seed, threads=threads,
                      data_path=str(work / "data.npz"), weights_path=str(weights_path) if weights_path else None,
                      result_path=str(work / f"{framework}-seed{seed}.json"),
                      tensorboard_dir=str(tensorboard / f".staging-{framework}-seed{seed}") if tensorboard else None,
                      weights_dir=str(work / f"weights-{framework}-seed{seed}") if save_weights else None,
                      **_checkpoint_fields((checkpoints or {}).get((framework, seed))))


def _checkpoint_fields(planned: Optional[tuple]) -> dict:
    if planned is None:
        return {}
    key, path, resume = planned
    return {"run_key": key, "checkpoint_path": str(path), "resume": resume}


def planned_runs(spec: Spec) -> list[dict]:
    """Every (framework, seed) run of the spec with its store key, in the order they run."""
    return [{"key": store.run_key(spec, framework, seed), "framework": framework, "seed": seed}
            for seed in spec.seeds for framework in spec.frameworks]


RERUN_FAILED = "A rerun (--force) of"


def rebuild(out: Path) -> Results:
    """history.csv, summary.csv, the manifest's per-framework facts and the reports, from the stored runs of the
    runs the manifest plans: what a finished `run` writes, and what makes a folder whole after a killed driver.
    Returns the folder's `Results`, as the checks read them back (the tables are read once)."""
    from harness.report.write import write_report

    facts = read_manifest(out / "manifest.json")
    keys, identities = store.planned_keys(facts), store.planned_runs(facts)
    runs = store.records(out, keys, identities)
    history, summary = tables.build(runs, facts["metric"], facts["matched"]["n_train"])
    if summary.empty:
        raise SpecError("out", f"{out} holds no finished or failed run yet; nothing to report")
    notes = [note for note in facts.get("notes", []) if not note.startswith(RERUN_FAILED)] + [
        f"{RERUN_FAILED} {run['framework']} seed {run['seed']} failed ({run.get('error') or 'no message'}); the "
        f"finished run is kept (runs/{run['key']}.failed.json)" for run in store.failed_attempts(out, keys, identities)]
    facts = {**facts, "notes": notes, "frameworks": manifest.framework_facts(runs),
             "weights": publish.saved_weights(out, facts.get("planned_runs", []))}
    with folders.work_dir() as staging:  # the rebuilt folder passes the checks any folder passes, before a file moves
        _write_tables(staging, history, summary, facts)
        try:
            checked = load_results(staging)
        except SpecError as error:
            raise SpecError(str(out / "runs"), "the stored runs do not make valid tables: "
                                               + str(error).replace(str(staging), str(out))) from None
    _write_tables(out, history, summary, facts)
    loaded = replace(checked, out_dir=out)
    write_report(loaded)
    return loaded


def _write_tables(out: Path, history, summary, facts: dict) -> None:
    atomic.write_csv(out / "history.csv", history)
    atomic.write_csv(out / "summary.csv", summary)
    atomic.write_json(out / "manifest.json", facts)


def _check_same_experiment(out: Path, spec: Spec, force: bool) -> None:
    """A results folder holds one experiment: another spec's name there is refused unless --force."""
    if force or not (out / "manifest.json").is_file():
        return
    held = read_manifest(out / "manifest.json").get("name")
    if held != spec.name:
        raise SpecError("--out", f"{out} holds the results of experiment {held!r}, not {spec.name!r}; choose another "
                                 f"folder, or pass --force to replace its tables and reports")


def runs_at_once(spec: Spec, runs: int, jobs: Optional[int], threads: Optional[int], in_process: bool) -> tuple:
    """(worker processes at once, threads each). By default as many runs at once as the cores hold at the threads
    asked (1 each when not asked), as far as the memory estimate allows, and the cores split between them: on 2
    cores, 2 runs at 1 thread each. `jobs` and `threads`, when given, are kept as they are."""
    cores = os.cpu_count() or 1
    if in_process:
        return 1, threads or cores
    if jobs is None:
        jobs = max(1, min(runs, cores // (threads or 1)))
        while jobs > 1 and resources.estimate(spec, parallel=jobs).peak_bytes > resources.available_bytes():
            jobs -= 1
    return jobs, threads or max(1, cores // jobs)


# Runs at once start the frameworks whose workers take longest first, so the short ones fill the cores at the end
# (a TensorFlow worker of the default experiment took 16.7 s, a torch one 8.9 s, on 2 cores: `make run` 79-85 s
# against 89-94 s in the planned order, measured in turns). One at a time, the planned order is kept.
LONGEST_FIRST = ("tensorflow", "keras_torch", "torch")


def start_order(items: list, at_once: int, framework_of: Callable = lambda run: run["framework"]) -> list:
    """The runs (or jobs) in the order their workers start: grouped by framework, LONGEST_FIRST, when several run
    at once (a stable sort: seeds keep their order); the planned order when one runs at a time."""
    if at_once == 1:
        return list(items)
    rank = {framework: index for index, framework in enumerate(LONGEST_FIRST)}
    return sorted(items, key=lambda item: rank.get(framework_of(item), len(rank)))


def _check_options(threads, jobs, in_process: bool, resume: bool, force: bool) -> None:
    if threads is not None and threads < 1:
        raise SpecError("--threads", f"expected at least 1; received {threads}")
    if jobs is not None and jobs < 1:
        raise SpecError("--jobs", f"expected at least 1; received {jobs}")
    if jobs is not None and jobs > 1 and in_process:
        raise SpecError("--jobs", f"runs several worker processes at once, --in-process trains in this one: pass "
                                  f"one of them; received --jobs {jobs} with --in-process")
    if resume and force:
        raise SpecError("--resume", "continues unfinished runs, --force redoes every run from epoch 1: pass one")


def _unfinished(out: Path, planned: list[dict], force: bool) -> list[dict]:
    """The planned runs a rerun will train, read before the folder is claimed (the claim waits for the data's
    checks), only to know the workers to start early; a path the claim will refuse gives every run."""
    try:
        return [run for run in planned if force or store.finished(out, run["key"]) is None]
    except (OSError, ValueError):
        return planned


def run_experiment(spec: Spec, out_dir=None, *, frameworks=None, seeds=None, epochs=None, init_mode=None,
                   optimizer_defaults=None, execution=None, in_process: bool = False, threads: Optional[int] = None,
                   jobs: Optional[int] = None, tensorboard: bool = True, force: bool = False,
                   allow_large: bool = False, save_weights: bool = True, resume: bool = False,
                   log: Callable[[str], None] = print):
    """`run`, also returning the records of the runs trained now (the CLI's exit status is theirs)."""
    spec = with_overrides(spec, frameworks, seeds, epochs, init_mode, optimizer_defaults, execution)
    _check_options(threads, jobs, in_process, resume, force)
    out = Path(out_dir or Path("results") / spec.name)
    planned = planned_runs(spec)
    todo = _unfinished(out, planned, force)
    at_once, threads = runs_at_once(spec, len(todo), jobs, threads, in_process)
    resources.check(spec, allow_large=allow_large, parallel=at_once)
    with folders.work_dir() as work, pool.Pool(at_once, work) as workers:
        todo = start_order(todo, at_once)
        if not in_process:  # their frameworks' imports overlap the data's preparation
            workers.warm([run["framework"] for run in todo[:at_once]])
        dataset, out, start, todo = _prepare(spec, out, planned, force, (threads, at_once, in_process, allow_large),
                                             log)
        checkpoints = resume_plan.plan(spec, out, [run for run in planned if run["key"] in todo], resume, log)
        trained = _train_all(spec, dataset, planned, todo, out, (work, None if in_process else workers, threads),
                             (tensorboard, save_weights, start, checkpoints), log)
    return rebuild(out), trained


def _prepare(spec: Spec, out: Path, planned: list, force: bool, setup: tuple, log) -> tuple:
    """The data prepared and checked, the folder claimed, the manifest and the code written. setup: (threads per
    run, runs at once, in_process, allow_large). Returns (dataset, the claimed folder, init_weights or None, the keys
    of the runs to train)."""
    threads, at_once, in_process, allow_large = setup
    dataset = data.prepare(spec)
    resources.check(spec, allow_large=allow_large, samples=dataset.n_train + len(dataset.x_val) + len(dataset.x_test),
                    parallel=at_once)
    check_analysis(spec.analysis, dataset.target.task, dataset.target.metric)
    start = weights_npz.load(spec.init_weights, spec.model, "init_weights") if spec.init_weights else None
    out = folders.claim(out, "results")  # before any training
    _check_same_experiment(out, spec, force)
    notes = data.notes(spec, dataset)
    todo = {run["key"] for run in planned if force or store.finished(out, run["key"]) is None}
    log(f"{spec.name}: {dataset.n_train} training / {len(dataset.x_val)} validation / {len(dataset.x_test)} test "
        f"samples; frameworks {', '.join(spec.frameworks)}; seeds {spec.seeds}")
    for note in notes:
        log(f"note: {note}")
    if len(todo) < len(planned):
        log(f"{len(planned) - len(todo)} of {len(planned)} runs already finished in {out}: kept (--force redoes them)")
    facts = manifest.build(spec, dataset, [], data.batch_size_of(spec, dataset.n_train), threads, in_process,
                           at_once)
    atomic.write_json(out / "manifest.json", {**facts, "notes": notes, "planned_runs": planned})
    write_code(spec, dataset, out / FOLDER, spec.seeds[0], f"the spec {spec.name!r}", force=True,
               copy_data=data_bytes(dataset) <= MAX_DATA_BYTES, weights=start)
    return dataset, out, start, todo


def _train_all(spec, dataset, planned, todo, out: Path, run_on: tuple, options: tuple, log) -> list[dict]:
    """Trains the runs in `todo`; run_on: (the working folder, the `pool.Pool` of worker processes or None to
    train in this process, threads per run); options: (write TensorBoard events, save the final weights, the
    init_weights arrays or None, the checkpoints plan of harness.run.checkpoints). Returns the runs' records in
    the planned order, whatever order they finished in."""
    work, workers, threads = run_on
    tensorboard, save_weights, start, checkpoints = options
    runs = [(run["framework"], run["seed"]) for run in planned if run["key"] in todo]
    if not runs:
        return []
    progress, trained = Progress(runs, live=live_wanted(), echo=log), {}
    finish = _finisher(out, {(run["framework"], run["seed"]): run["key"] for run in planned}, dataset,
                       (progress, checkpoints, trained))

    def show(job, line):
        progress.line(job.framework, job.seed, line.removeprefix(job.prefix + " "))

    try:
        data.save(dataset, work / "data.npz")
        jobs = [(job, work / f"{job.framework}-seed{job.seed}.job.json")
                for job in train_jobs(spec, work, threads, out / "tensorboard" if tensorboard else None,
                                      only=set(runs), save_weights=save_weights, start=start, checkpoints=checkpoints)]
        jobs = start_order(jobs, workers.at_once if workers else 1, lambda pair: pair[0].framework)
        if workers is None:
            for job, _ in jobs:
                finish(job, local.run_in_process(job, lambda line, job=job: show(job, line)), False)
        else:
            workers.run(jobs, show, finish)
    finally:
        progress.close()
    return [trained[run] for run in runs if run in trained]


def _finisher(out: Path, keys: dict, dataset, state: tuple) -> Callable:
    """on_result for a run's end: its progress row, its TensorBoard events and weights published, its record
    stored (with whether another worker shared the machine with it), its checkpoint dropped once finished.
    state: (the Progress, the checkpoints plan, {(framework, seed): record} filled in)."""
    progress, checkpoints, trained = state

    def finish(job, result: dict, contended: bool) -> None:
        run_id = (job.framework, job.seed)
        progress.finish(*run_id, result["status"], result.get("error", ""))
        publish.publish_events(job.tensorboard_dir, result["status"] in store.FINISHED)
        if result["status"] == "ok":
            publish.publish_weights(job.weights_dir, out)
        record = {**result, "n_train": dataset.n_train, "metric": dataset.target.metric, "contended": contended}
        store.save(out, keys[run_id], record)
        if result["status"] in store.FINISHED:
            resume_plan.drop(checkpoints, run_id)
        trained[run_id] = record

    return finish


def run(spec: Spec, out_dir=None, **options):
    """Trains every (seed, framework) run of the spec and writes the results folder.

    A rerun into the same folder keeps the runs that already finished (`force=True` redoes them); a failed run
    never replaces a finished one. Options: frameworks, seeds, epochs, init_mode, optimizer_defaults, execution
    ({framework: mode}, over the spec's training.execution), in_process, threads (per run), jobs (runs at once,
    each in its own worker process; default: as many as the cores hold, see `runs_at_once`), tensorboard, force,
    allow_large, save_weights (each run's final weights in OUT/weights: the framework's own file and the
    canonical .npz; default True), resume (unfinished runs continue from their checkpoints, written every
    training.checkpoint_every epochs), log. Returns a `harness.results.tables.Results`
    with the history and summary DataFrames and the manifest.
    """
    return run_experiment(spec, out_dir, **options)[0]


def run_api(spec, out_dir=None, **options):
    """`harness.run`: `run` for a Spec, a mapping or a spec file path."""
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    return run(parse_spec(spec), out_dir, **options)
