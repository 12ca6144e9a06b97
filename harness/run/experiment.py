"""Runs an experiment: prepares the data and initial weights once, trains every (seed, framework) pair,
each in a fresh worker process by default, and writes the tables, manifest and report."""

import os
import re
import time
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
from harness.launch import local
from harness.launch.progress import Progress, live_wanted
from harness.results import manifest, store, tables
from harness.results.load import load_results, read_manifest
from harness.results.tables import Results
from harness.run import checkpoints as resume_plan


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


EVENT_FILES = r"events\.out\.tfevents\..+"  # what both frameworks' TensorBoard writers name their files


def _publish_events(staging: Optional[str], finished: bool) -> None:
    """A finished run's staged event files replace that run's earlier ones; an unfinished run's are dropped, so a
    failed rerun leaves the earlier events as they were. Only event files are ever deleted."""
    if not staging:
        return
    staging = Path(staging)
    if finished and staging.is_dir():
        final = staging.with_name(staging.name.removeprefix(".staging-"))
        if final.is_symlink() or (final.exists() and not final.is_dir()):  # not the harness' folder: left alone
            final = final.with_name(f"{final.name}-{time.strftime('%Y%m%dT%H%M%S')}")
        folders.remove_written(final, EVENT_FILES)
        final.mkdir(parents=True, exist_ok=True)
        for path in staging.iterdir():
            if re.fullmatch(EVENT_FILES, path.name):
                path.replace(final / path.name)
    folders.remove_written(staging, EVENT_FILES)


WEIGHTS = "weights"  # the results folder's subfolder of saved weights


def _publish_weights(staging: Optional[str], out: Path) -> None:
    """A finished run's staged weights files replace that run's earlier ones in OUT/weights (files the harness
    wrote, named per framework and seed). A weights folder that is a link or a file is not the harness': left
    alone, and the weights are not published."""
    if not staging or not Path(staging).is_dir():
        return
    final = out / WEIGHTS
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        return
    final.mkdir(exist_ok=True)
    for path in Path(staging).iterdir():
        target = final / path.name
        if not target.is_symlink():
            path.replace(target)


def saved_weights(out: Path, planned: list[dict]) -> list[dict]:
    """The manifest's list of saved weights: per planned run whose two files are in OUT/weights."""
    listed = []
    for run in planned:
        own, canonical = weights_npz.run_file_names(run["framework"], run["seed"])
        if all((out / WEIGHTS / name).is_file() for name in (own, canonical)):
            listed.append({"framework": run["framework"], "seed": run["seed"], "file": f"{WEIGHTS}/{own}",
                           "canonical": f"{WEIGHTS}/{canonical}"})
    return listed


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
             "weights": saved_weights(out, facts.get("planned_runs", []))}
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


def run_experiment(spec: Spec, out_dir=None, *, frameworks=None, seeds=None, epochs=None, init_mode=None,
                   optimizer_defaults=None, execution=None, in_process: bool = False, threads: Optional[int] = None,
                   tensorboard: bool = True, force: bool = False, allow_large: bool = False,
                   save_weights: bool = True, resume: bool = False, log: Callable[[str], None] = print):
    """`run`, also returning the records of the runs trained now (the CLI's exit status is theirs)."""
    spec = with_overrides(spec, frameworks, seeds, epochs, init_mode, optimizer_defaults, execution)
    if threads is not None and threads < 1:
        raise SpecError("--threads", f"expected at least 1; received {threads}")
    if resume and force:
        raise SpecError("--resume", "continues unfinished runs, --force redoes every run from epoch 1: pass one")
    threads = threads or os.cpu_count() or 1
    resources.check(spec, allow_large=allow_large)
    dataset = data.prepare(spec)
    resources.check(spec, allow_large=allow_large, samples=dataset.n_train + len(dataset.x_val) + len(dataset.x_test))
    check_analysis(spec.analysis, dataset.target.task, dataset.target.metric)
    start = weights_npz.load(spec.init_weights, spec.model, "init_weights") if spec.init_weights else None
    out = folders.claim(Path(out_dir or Path("results") / spec.name), "results")  # before any training
    _check_same_experiment(out, spec, force)
    notes = data.notes(spec, dataset)
    planned = planned_runs(spec)
    todo = {run["key"] for run in planned if force or store.finished(out, run["key"]) is None}
    log(f"{spec.name}: {dataset.n_train} training / {len(dataset.x_val)} validation / {len(dataset.x_test)} test "
        f"samples; frameworks {', '.join(spec.frameworks)}; seeds {spec.seeds}")
    for note in notes:
        log(f"note: {note}")
    if len(todo) < len(planned):
        log(f"{len(planned) - len(todo)} of {len(planned)} runs already finished in {out}: kept (--force redoes them)")
    checkpoints = resume_plan.plan(spec, out, [run for run in planned if run["key"] in todo], resume, log)
    facts = manifest.build(spec, dataset, [], data.batch_size_of(spec, dataset.n_train), threads, in_process)
    atomic.write_json(out / "manifest.json", {**facts, "notes": notes, "planned_runs": planned})
    write_code(spec, dataset, out / FOLDER, spec.seeds[0], f"the spec {spec.name!r}", force=True,
               copy_data=data_bytes(dataset) <= MAX_DATA_BYTES, weights=start)
    trained = _train_all(spec, dataset, planned, todo, out, threads, in_process,
                         (tensorboard, save_weights, start, checkpoints), log)
    return rebuild(out), trained


def _train_all(spec, dataset, planned, todo, out: Path, threads: int, in_process: bool, options: tuple,
               log) -> list[dict]:
    """Trains the runs in `todo`; options: (write TensorBoard events, save the final weights, the init_weights
    arrays or None, the checkpoints plan of harness.run.checkpoints)."""
    tensorboard, save_weights, start, checkpoints = options
    keys = {(run["framework"], run["seed"]): run["key"] for run in planned}
    runs = [(run["framework"], run["seed"]) for run in planned if run["key"] in todo]
    trained = []
    if not runs:
        return trained
    progress = Progress(runs, live=live_wanted(), echo=log)
    try:
        with folders.work_dir() as work:
            data.save(dataset, work / "data.npz")
            for job in train_jobs(spec, work, threads, out / "tensorboard" if tensorboard else None, only=set(runs),
                                  save_weights=save_weights, start=start, checkpoints=checkpoints):
                run_id = (job.framework, job.seed)

                def show(line, run_id=run_id, prefix=job.prefix + " "):
                    progress.line(*run_id, line.removeprefix(prefix))

                result = local.run(job, work / f"{job.framework}-seed{job.seed}.job.json", show, in_process)
                progress.finish(*run_id, result["status"], result.get("error", ""))
                _publish_events(job.tensorboard_dir, result["status"] in store.FINISHED)
                if result["status"] == "ok":
                    _publish_weights(job.weights_dir, out)
                record = {**result, "n_train": dataset.n_train, "metric": dataset.target.metric}
                store.save(out, keys[run_id], record)
                if result["status"] in store.FINISHED:
                    resume_plan.drop(checkpoints, run_id)
                trained.append(record)
    finally:
        progress.close()
    return trained


def run(spec: Spec, out_dir=None, **options):
    """Trains every (seed, framework) run of the spec and writes the results folder.

    A rerun into the same folder keeps the runs that already finished (`force=True` redoes them); a failed run
    never replaces a finished one. Options: frameworks, seeds, epochs, init_mode, optimizer_defaults, execution
    ({framework: mode}, over the spec's training.execution), in_process,
    threads, tensorboard, force, allow_large, save_weights (each run's final weights in OUT/weights: the
    framework's own file and the canonical .npz; default True), resume (unfinished runs continue from their
    checkpoints, written every training.checkpoint_every epochs), log. Returns a `harness.results.tables.Results`
    with the history and summary DataFrames and the manifest.
    """
    return run_experiment(spec, out_dir, **options)[0]


def run_api(spec, out_dir=None, **options):
    """`harness.run`: `run` for a Spec, a mapping or a spec file path."""
    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    return run(parse_spec(spec), out_dir, **options)
