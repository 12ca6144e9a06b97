"""Runs training jobs as Ray tasks, on a local Ray instance or on a cluster, each in a fresh worker process.

A job is a `harness.jobs.job.Job`. Its input files (`data_path`, `weights_path`) travel through
Ray's object store, put once per distinct file, so a task never reads the driver's disk. The task writes them to
a temporary folder, runs the job there and returns the result with its log lines and TensorBoard event files;
the driver writes the result to the job's `result_path` and the event files under its `tensorboard_dir`, as the
local executor's worker does.

Ray is imported inside the functions: `harness` itself never pays for it.
"""

import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Optional

from harness.core import atomic, folders
from harness.jobs import execute as worker
from harness.jobs.job import Job

PACKAGES = ("harness", "models_tf", "models_torch")  # shipped to a cluster's workers as py_modules
INPUT_FIELDS = ("data_path", "weights_path")
KINDS = ("train",)  # parity/export/import jobs name output files that are not shipped back
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}
# Set before Ray is first imported in this process: Ray's single-node mode puts every server on 127.0.0.1.
LOCAL_ONLY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


# ------------------------------------------------------------------------------------------------ in the worker

def _read_tree(folder: Path) -> dict[str, bytes]:
    """{path relative to folder: contents} of every file below folder (none if it does not exist)."""
    if not folder.is_dir():
        return {}
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _run_task(job: Job, execute: Callable, fields: list[str], *contents: bytes):
    """The Ray task: the shipped files written to a temporary folder, the job run against them.

    Returns (result, log lines, {TensorBoard file relative to the run's log folder: bytes}).
    """
    lines = []
    with tempfile.TemporaryDirectory(prefix="harness-ray-") as work:
        work = Path(work)
        local = {"result_path": str(work / "result.json")}
        for field, content in zip(fields, contents):
            local[field] = str(work / f"{field}-{Path(getattr(job, field)).name}")
            Path(local[field]).write_bytes(content)
        if job.tensorboard_dir:
            local["tensorboard_dir"] = str(work / "tensorboard")
        result = execute(job.with_(**local), log=lines.append)
        # As the local executor's JSON file gives it: plain types only (torch's version string is a TorchVersion,
        # which would make the driver import torch to unpickle it).
        result = json.loads(json.dumps(result, default=str))
        return result, lines, _read_tree(work / "tensorboard")


# ------------------------------------------------------------------------------------------------ in the driver

def _check(jobs: list[Job], cpus: Optional[int]) -> None:
    for job in jobs:
        kind = job.kind
        if kind not in KINDS:
            raise ValueError(f"Invalid job kind for the Ray executor. Expected one of {list(KINDS)}. "
                             f"Received: kind={kind!r}")
        if cpus is not None and job.threads > cpus:  # Ray would queue the task forever
            raise ValueError(f"Invalid job threads for a local Ray instance. Expected at most {cpus} "
                             f"(the CPUs of this machine). Received: threads={job.threads}")


def _init_options(address: Optional[str]) -> dict:
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        path = os.pathsep.join(filter(None, [str(folders.PROJECT), os.environ.get("PYTHONPATH")]))
        return {"num_cpus": os.cpu_count(), "include_dashboard": False, **quiet,
                "runtime_env": {"env_vars": {"PYTHONPATH": path, **WORKER_ENV}}}
    # A cluster's nodes need not see this checkout: the project's packages travel with the job.
    runtime_env = {"py_modules": [str(folders.PROJECT / name) for name in PACKAGES], "excludes": ["__pycache__"],
                   "env_vars": dict(WORKER_ENV)}
    return {**quiet, "runtime_env": runtime_env}  # Ray Client ("ray://") applies them on the cluster's side


@contextmanager
def _connected(address: Optional[str], log: Callable[[str], None]):
    """Ray, started locally (and shut down at the end) or connected to the cluster at `address` (left running)."""
    if address is None:
        for name, value in LOCAL_ONLY_ENV.items():
            os.environ.setdefault(name, value)
    import ray

    started = time.perf_counter()
    # "local": a new instance even where RAY_ADDRESS or a `ray start` on this machine names a running cluster.
    ray.init(address=address or "local", **_init_options(address))
    where = f"cluster at {address}" if address else "local instance"
    log(f"ray: {where} with {ray.cluster_resources().get('CPU', 0):g} CPUs, "
        f"ready in {time.perf_counter() - started:.1f} s")
    try:
        yield ray
    finally:
        ray.shutdown()  # on a cluster, only this driver's connection ends


def _submit(ray, jobs: list[Job], execute: Callable) -> dict:
    """{task ref: job} for every job, each file's bytes put in the object store once and shared."""
    fields = [[field for field in INPUT_FIELDS if getattr(job, field)] for job in jobs]
    paths = {Path(getattr(job, field)).resolve() for job, names in zip(jobs, fields) for field in names}
    shipped = {path: ray.put(path.read_bytes()) for path in paths}  # every file read before any task starts
    task = ray.remote(max_calls=1, max_retries=0)(_run_task)  # max_calls=1: a fresh process per job
    pending = {}
    for job, names in zip(jobs, fields):
        refs = [shipped[Path(getattr(job, field)).resolve()] for field in names]
        options = {"num_cpus": job.threads, "name": f"{job.framework}-seed{job.seed}"}
        pending[task.options(**options).remote(job, execute, names, *refs)] = job
    return pending


def _died(job: Job, error: Exception) -> dict:
    cause = getattr(error, "cause", None) or error  # a RayTaskError wraps what the task raised
    text = f"{type(cause).__name__}: {cause}".splitlines()[0]
    return {"framework": job.framework, "seed": job.seed, "status": "failed",
            "error": f"worker process died: {text}"}


def _store(job: Job, result: dict, events: dict[str, bytes]) -> None:
    atomic.write_json(job.result_path, result)
    for name, content in events.items():
        atomic.write_bytes(Path(job.tensorboard_dir) / name, content)


def _collect(ray, pending: dict, on_result: Callable, log: Callable[[str], None]) -> None:
    """Hands each result to on_result as its task finishes; empties `pending`."""
    while pending:
        [ref], _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ref)
        try:
            result, lines, events = ray.get(ref)
        except ray.exceptions.RayError as error:  # the process died (killed, OOM, node lost) or the task raised
            result, lines = _died(job, error), []
        else:
            _store(job, result, events)
        for line in lines:
            log(f"{job.prefix} {line}")
        on_result(job, result)


def run_jobs(jobs: list[Job], on_result: Callable[[Job, dict], None], *, address: Optional[str] = None,
             log: Callable[[str], None] = print, execute: Callable = worker.execute) -> None:
    """Runs every job as a Ray task asking for `job.threads` CPUs, each in a fresh worker process.

    Args:
        jobs: `Job`s of kind "train"; their files are read here, once each.
        on_result: called in this process as `on_result(job, result)` as each task finishes, in finishing order.
            A task whose worker died gives {"framework", "seed", "status": "failed",
            "error": "worker process died: ..."}; Ray does not retry it.
        address: None starts a local Ray instance on 127.0.0.1 with every CPU and shuts it down at the end;
            otherwise the cluster to connect to ("auto", "host:6379", "ray://host:10001"), left running. Its
            nodes' Python must have the project's dependencies; the project's packages are shipped.
        log: receives a line when Ray is ready, then each run's log lines when it finishes.
        execute: runs one job in the worker, `execute(job, log=...) -> result`; tests pass a faulty one.
    """
    _check(jobs, os.cpu_count() if address is None else None)
    with _connected(address, log) as ray:
        pending = _submit(ray, jobs, execute)
        try:
            _collect(ray, pending, on_result, log)
        finally:
            for ref in pending:  # interrupted: a cluster would otherwise go on running them
                ray.cancel(ref, force=True)
