"""The Ray executor on real Ray: a local instance gives the local executor's results bit for bit; on a cluster
(started with `ray start`) a job whose worker process dies is reported as failed while the others finish."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import iris_mlp

from harness.core import data
from harness.core.validate import parse_spec
from harness.jobs import execute as worker
from harness.jobs.job import Job
from harness.launch import ray_executor
from harness.launch.local import run_in_subprocess
from harness.report import tracking
from harness.run import experiment

IRIS = iris_mlp("iris_ray", epochs=2)
RAY_CLI = Path(sys.executable).with_name("ray")
STARTUP_SECONDS = 90


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[Job]:
    """The runner's own jobs for IRIS, one thread each: tensorflow then torch, seed 0, matched weights."""
    work = tmp_path_factory.mktemp("jobs")
    spec = parse_spec(IRIS)
    data.save(data.prepare(spec), work / "data.npz")
    return list(experiment.train_jobs(spec, work, threads=1, tensorboard=work / "tensorboard"))


def relocated(jobs: list[Job], folder: Path) -> list[Job]:
    """The jobs with their outputs (result, TensorBoard folder) under folder, so two executors do not mix."""
    return [job.with_(result_path=str(folder / Path(job.result_path).name),
                      tensorboard_dir=str(folder / "tensorboard" / Path(job.tensorboard_dir).name)) for job in jobs]


def run_on_ray(jobs: list[Job], **options) -> tuple[dict, list[str]]:
    """({(framework, seed): result}, log lines); each job must be reported exactly once."""
    results, lines = {}, []

    def store(job, result):
        assert (job.framework, job.seed) not in results
        results[job.framework, job.seed] = result

    ray_executor.run_jobs(jobs, store, log=lines.append, **options)
    assert len(results) == len(jobs)
    return results, lines


def scalar_events(logdir: str):
    """(tag, step, value) of every event but the epoch times, which differ between any two runs."""
    events = tracking.read_events(logdir)
    return events[~events["tag"].str.startswith("time/")][["tag", "step", "value"]].reset_index(drop=True)


def plain(value) -> bool:
    """Whether value is made of JSON's own types only, not subclasses of them."""
    if type(value) is dict:
        return all(type(key) is str and plain(item) for key, item in value.items())
    if type(value) is list:
        return all(plain(item) for item in value)
    return type(value) in (str, int, float, bool, type(None))


def test_local_instance_matches_local_executor(jobs, tmp_path):
    local_jobs, ray_jobs = relocated(jobs, tmp_path / "local"), relocated(jobs, tmp_path / "ray")
    local = {(job.framework, job.seed): run_in_subprocess(
        job, tmp_path / "local" / f"{job.framework}.job.json", log=lambda line: None) for job in local_jobs}
    on_ray, lines = run_on_ray(ray_jobs)

    assert lines[0].startswith("ray: local instance with")
    for local_job, ray_job in zip(local_jobs, ray_jobs):
        run_id = (ray_job.framework, ray_job.seed)
        expected, result = local[run_id], on_ray[run_id]
        assert (expected["status"], result["status"]) == ("ok", "ok"), (expected, result)
        # One thread, one fresh process, the same bytes in: the same float operations in the same order.
        for key in ("loss", "metric", "val_loss", "val_metric"):
            assert [row[key] for row in result["epochs"]] == [row[key] for row in expected["epochs"]], key
        assert result["test"] == expected["test"]
        assert (result["threads"], result["versions"]) == (expected["threads"], expected["versions"])
        assert json.loads(Path(ray_job.result_path).read_text()) == result
        assert plain(result), "a result must unpickle without the frameworks (torch's version is a TorchVersion)"
        assert scalar_events(ray_job.tensorboard_dir).equals(scalar_events(local_job.tensorboard_dir))
        assert any(line.startswith(f"[{run_id[0]} seed 0] ") for line in lines)


# ------------------------------------------------------------------------------------------------ on a cluster

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def cluster_address():
    """A one-node cluster on 127.0.0.1, started by `ray start --block` and ended through that process.

    Its own temporary folder keeps it out of /tmp/ray, where `ray.init()` would find it and connect to it.
    `ray start` turns token authentication on (token in ~/.ray/auth_token): a driver connects to it only with
    RAY_AUTH_MODE=token.
    """
    port = free_port()
    env = {**os.environ, **ray_executor.LOCAL_ONLY_ENV}
    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 characters
    head = subprocess.Popen([str(RAY_CLI), "start", "--head", "--block", f"--port={port}", f"--temp-dir={temp_dir}",
                             f"--num-cpus={os.cpu_count()}", "--include-dashboard=false"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not accepts(port) and head.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert head.poll() is None and accepts(port), "ray start --head did not come up"
        with pytest.MonkeyPatch.context() as patch:
            # This driver as a user's would be: on loopback too (else Ray rewrites 127.0.0.1 to the machine's
            # address), and sending the cluster's token.
            for name, value in {**ray_executor.LOCAL_ONLY_ENV, "RAY_AUTH_MODE": "token"}.items():
                patch.setenv(name, value)
            yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # its SIGTERM handler ends the processes it started
        head.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)


FAULTS = {"exit": 1, "raise": 2}  # the seed of each faulty job


def faulty_execute():
    """harness.jobs.execute.execute, except that the job of seed 1 kills its own process, as an OOM kill would, and
    the job of seed 2 raises past execute's own handler.

    A function local to a function: cloudpickle sends it whole, since Ray's workers cannot import this module.
    """
    def execute(job, log=None) -> dict:
        if job.seed == FAULTS["exit"]:
            os._exit(1)
        if job.seed == FAULTS["raise"]:  # past execute's own handler, as a failure in the task's file copying
            raise OSError("No space left on device")
        return worker.execute(job, log=log)
    return execute


def test_dead_worker_is_a_failed_run(jobs, tmp_path, cluster_address):
    torch_job = next(job for job in relocated(jobs, tmp_path) if job.framework == "torch")
    faulty = [torch_job.with_(seed=seed, result_path=str(tmp_path / f"{fault}.json")) for fault, seed in FAULTS.items()]
    results, _ = run_on_ray([torch_job, *faulty], address=cluster_address, execute=faulty_execute())

    assert results["torch", 0]["status"] == "ok"
    assert np.isfinite(results["torch", 0]["epochs"][-1]["loss"])
    for job, cause in zip(faulty, ["WorkerCrashedError: The worker died", "OSError: No space left on device"]):
        result = results["torch", job.seed]
        assert set(result) == {"framework", "seed", "status", "error"}
        assert result["status"] == "failed" and result["error"].startswith(f"worker process died: {cause}"), result
        assert not Path(job.result_path).exists()
    assert accepts(int(cluster_address.rsplit(":", 1)[1])), "run_jobs must leave a cluster running"


@pytest.mark.parametrize("change, message", [
    ({"kind": "parity"}, "Expected one of ['train']. Received: kind='parity'"),
    ({"threads": (os.cpu_count() or 1) + 1}, "Expected at most"),  # Ray would wait forever for the CPUs
])
def test_rejects_jobs_before_starting_ray(jobs, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ray_executor.run_jobs([jobs[0].model_copy(update=change)], lambda job, result: None)
