"""Several runs' worker processes at once on this machine (each `python -m harness.jobs.execute JOB.json`, as
`harness.launch.local` starts one), at most `at_once` alive, every one read by one loop in the calling thread.

One loop and no threads: a Ctrl-C, or a SIGTERM the CLI turns into KeyboardInterrupt, unwinds the loop that holds
every process, and its `finally` kills them all before the caller's working folder goes. A worker can be started
early ("warm", `harness.launch.warm`): it imports its framework while the driver still prepares the data, then
waits on its stdin for its job file. Each process' wall span is kept, so a run knows whether another worker was
alive beside it: its timings were then contended (they measure the sharing of the cores too).
"""

import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from harness.jobs.job import Job
from harness.launch import local

WARM_COMMAND = [sys.executable, "-m", "harness.launch.warm"]
READ_BYTES = 1 << 16


@dataclass
class Worker:
    """One worker process: its framework, its job once it has one, and its wall span (time.monotonic())."""

    process: subprocess.Popen
    framework: str
    stderr_path: Path
    started: float
    job: Optional[Job] = None
    given: Optional[float] = None  # when it received its job (a warm worker gets it after its start)
    ended: Optional[float] = None
    partial: bytes = b""  # a line not yet ended


def _spawn(command: list[str], stderr_path: Path, framework: str, warm: bool) -> Worker:
    with open(stderr_path, "w") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdin=subprocess.PIPE if warm else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=stderr, env={**os.environ, **local.WORKER_ENV})
    return Worker(process, framework, stderr_path, time.monotonic())


class Pool:
    """Runs train jobs in worker processes, at most `at_once` at a time; use it as a context manager, so that
    every process it started is stopped on every way out."""

    def __init__(self, at_once: int, work: Path):
        if at_once < 1:
            raise ValueError(f"Invalid value for argument at_once. Expected at least 1. Received: {at_once}")
        self.at_once, self.work = at_once, Path(work)
        self.workers: list[Worker] = []  # every process started, for the contention spans
        self.selector = selectors.DefaultSelector()

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def warm(self, frameworks: list[str]) -> None:
        """Starts a worker per framework given (at most at_once), each importing its framework now."""
        for framework in frameworks[:self.at_once]:
            stderr_path = self.work / f"warm-{len(self.workers)}.stderr"
            self.workers.append(_spawn([*WARM_COMMAND, framework], stderr_path, framework, warm=True))

    def _idle(self, job: Job) -> Optional[Worker]:
        """A warm worker waiting for a job of this framework; none for a job that sets environment variables
        (they must be in place before the framework's import)."""
        if job.environment:
            return None
        for worker in self.workers:
            if worker.ended is None and worker.process.poll() is not None:  # died before it had a job
                worker.ended = time.monotonic()
        return next((worker for worker in self.workers if worker.job is None and worker.framework == job.framework
                     and worker.process.poll() is None), None)

    def _start(self, job: Job, job_path: Path) -> Worker:
        job.write(job_path)
        worker = self._idle(job)
        if worker is None:
            worker = _spawn(local.worker_command(job_path), job_path.with_suffix(".stderr"), job.framework, warm=False)
            self.workers.append(worker)
        else:
            try:
                worker.process.stdin.write(f"{job_path}\n".encode())
                worker.process.stdin.close()
            except BrokenPipeError:  # it died while importing: its end is read below, a failed run
                pass
        worker.job, worker.given = job, time.monotonic()
        self.selector.register(worker.process.stdout, selectors.EVENT_READ, worker)
        return worker

    def _read(self, worker: Worker, on_line: Callable[[Job, str], None]) -> bool:
        """Passes the worker's complete lines on (a last line without its end at the end); False at the end of
        its output."""
        chunk = os.read(worker.process.stdout.fileno(), READ_BYTES)
        if not chunk:
            if worker.partial:
                on_line(worker.job, worker.partial.decode("utf-8", errors="replace"))
            return False
        *lines, worker.partial = (worker.partial + chunk).split(b"\n")
        for line in lines:
            on_line(worker.job, line.decode("utf-8", errors="replace"))
        return True

    def _end(self, worker: Worker) -> tuple[dict, bool]:
        self.selector.unregister(worker.process.stdout)
        returncode = worker.process.wait()
        worker.ended = time.monotonic()
        worker.process.stdout.close()
        return local.collect_result(worker.job, worker.stderr_path, returncode), self.contended(worker)

    def contended(self, worker: Worker) -> bool:
        """Whether another worker process was alive at any moment between this worker's job and its end."""
        end = worker.ended if worker.ended is not None else time.monotonic()
        return any(other is not worker and other.started < end and (other.ended is None or other.ended > worker.given)
                   for other in self.workers)

    def run(self, jobs: list[tuple[Job, Path]], on_line: Callable[[Job, str], None],
            on_result: Callable[[Job, dict, bool], None]) -> None:
        """Runs the jobs, started in the list's order, at most at_once at a time. on_line(job, line) gets each
        line a worker prints; on_result(job, result, contended) each result as its worker ends (finishing order),
        a worker that died without one as a failed run naming its last words."""
        waiting, running = list(jobs), 0
        while waiting or running:
            while waiting and running < self.at_once:
                self._start(*waiting.pop(0))
                running += 1
            for key, _ in self.selector.select():
                if not self._read(key.data, on_line):
                    running -= 1
                    on_result(key.data.job, *self._end(key.data))

    def close(self) -> None:
        """Stops every worker still alive (an interrupted run, or a warm worker left without a job)."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
            for stream in (worker.process.stdin, worker.process.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
        self.selector.close()
