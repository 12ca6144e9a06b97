"""Interleaved measurement: every (framework, mode) in its own live process, taking turns, one repeat per turn.

A shared machine's speed drifts over tens of seconds (a neighbour's load, cache pressure): measured one after
the other, one run can fall in a slow minute and the next in a fast one. So the bench starts each worker in turn
(its build, compile and warm-up alone on the machine), keeps it waiting, then goes round the workers R times,
telling one at a time to run one timed repeat, so the samples of every run spread over the same minutes. Only one
worker computes at any moment; the others are blocked reading their stdin.

The protocol's worker side is `harness.jobs.measure.take_turn`.
"""

import os
import subprocess
import time
from pathlib import Path
from typing import Callable

from harness.jobs.job import Job
from harness.jobs.measure import READY, REPEATED
from harness.launch.local import WORKER_ENV, collect_result, worker_command


class TurnWorker:
    """Bench side: one worker process that measures when it is told to."""

    def __init__(self, job: Job, job_path: Path, log: Callable[[str], None]):
        job = job.with_(launched_at=time.time())
        job.write(job_path)
        self.job, self.log, self.stderr_path = job, log, job_path.with_suffix(".stderr")
        self._stderr = open(self.stderr_path, "w")
        self.process = subprocess.Popen(worker_command(job_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True, env={**os.environ, **WORKER_ENV})
        self.alive = True

    def wait_for(self, signal: str) -> bool:
        """Passes the worker's log lines on until it sends `signal`; False when it ended first."""
        for line in self.process.stdout:
            line = line.rstrip("\n")
            if line == signal:
                return True
            self.log(line)
        self.alive = False
        return False

    def go(self, signal: str) -> bool:
        """Lets the worker run its next part and waits until it reports `signal`."""
        if not self.alive:
            return False
        try:
            self.process.stdin.write("go\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self.alive = False
            return False
        return self.wait_for(signal)

    def finish(self) -> dict:
        """Lets the worker run its last part (inference, matmul peak) and collects its result."""
        if self.alive:
            try:
                self.process.stdin.write("go\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            for line in self.process.stdout:
                self.log(line.rstrip("\n"))
        returncode = self.process.wait()
        self._stderr.close()
        return collect_result(self.job, self.stderr_path, returncode)


def measure_interleaved(jobs: list[tuple[Job, Path]], repeats: int, log: Callable[[str], None]) -> list[dict]:
    """Runs the jobs' workers as described above; returns their results in the jobs' order."""
    workers = []
    for job, job_path in jobs:  # one at a time: build, compile and warm-up are timed alone
        worker = TurnWorker(job, job_path, log)
        worker.wait_for(READY)
        workers.append(worker)
    for _ in range(repeats):
        for worker in workers:
            worker.go(REPEATED)
    return [worker.finish() for worker in workers]
