"""A job in a fresh worker process on this machine (`python -m harness.jobs.execute JOB.json`), or in the calling
process. The worker writes its result file; a worker that dies without one is a failed run naming its last words."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable

from harness.core.errors import SpecError
from harness.jobs import execute
from harness.jobs.job import Job

WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


EXCEPTION_NAME = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")  # "RuntimeError: " at the start of a worker's error


def job_error(result: dict, field: str, doing: str) -> SpecError:
    """A job that did not finish, as the one line the CLI prints: a refused input names the field the worker gave;
    any other failure is `doing` (e.g. "torch could not read it") on `field`, without the exception's type name."""
    error = result.get("error") or "no error message"
    if result.get("error_field"):
        return SpecError(result["error_field"], error.removeprefix(f"{result['error_field']}: "))
    return SpecError(field, f"{doing}: {EXCEPTION_NAME.sub('', error)}")


def worker_command(job_path: Path) -> list[str]:
    return [sys.executable, "-m", "harness.jobs.execute", str(job_path)]


def run_in_subprocess(job: Job, job_path: Path, log: Callable[[str], None], command=None) -> dict:
    """Starts a fresh worker process; a worker that dies without a result is reported as a failed run. The worker
    never outlives this call: an interrupted driver (Ctrl-C, SIGTERM) stops it before its files go."""
    job.write(job_path)
    stderr_path = job_path.with_suffix(".stderr")
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(command or worker_command(job_path), stdout=subprocess.PIPE, stderr=stderr,
                                   text=True, env={**os.environ, **WORKER_ENV})
        try:
            for line in process.stdout:
                log(line.rstrip("\n"))
            returncode = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return collect_result(job, stderr_path, returncode)


def collect_result(job: Job, stderr_path: Path, returncode: int) -> dict:
    """The worker's result file, or a failed run naming the last line the dead worker wrote to stderr."""
    result_path = Path(job.result_path)
    if result_path.is_file():
        return json.loads(result_path.read_text())
    lines = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    cause = lines[-1] if lines else f"worker exited with status {returncode} and no output"
    return {"framework": job.framework, "seed": job.seed, "status": "failed",
            "error": f"worker process died (exit status {returncode}): {cause}"}


def run_in_process(job: Job, log: Callable[[str], None]) -> dict:
    """The job in this process (`--in-process`): quicker to start, but the frameworks share it."""
    return execute.execute(job, log=log)


def run(job: Job, job_path: Path, log: Callable[[str], None], in_process: bool = False) -> dict:
    """The job where the command asked for it: in this process, or in a fresh worker."""
    return run_in_process(job, log) if in_process else run_in_subprocess(job, job_path, log)
