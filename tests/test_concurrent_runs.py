"""Runs at once (`harness run --jobs N`, by default as many as the cores hold): the pool of worker processes, the
contended flag it gives each run, and the reports that mark contended timing rows and name the execution modes.

The pool's own cases use a stand-in worker (a few lines of Python that print, sleep and write a result), so they
take a second; one case trains the iris network in both frameworks, two runs at once and then one at a time, and
finds the same history apart from the epoch timings.
"""

import json
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import iris_mlp, one_error_line, write_spec

from harness.cli import main
from harness.core.errors import SpecError
from harness.core.validate import parse_spec
from harness.jobs.job import Job
from harness.launch import local, pool
from harness.report.markdown import render_markdown
from harness.results import store
from harness.results.load import read_manifest
from harness.run import experiment

FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
# A stand-in worker: prints a line in the job's prefix, sleeps the seconds its seed names (tenths), writes a result.
FAKE_WORKER = """
import json, sys, time
job = json.load(open(sys.argv[1]))
print(f"[{job['framework']} seed {job['seed']}] started", flush=True)
time.sleep(job['seed'] / 10)
print("last line without its end", end="", flush=True)
json.dump({"framework": job["framework"], "seed": job["seed"], "status": "ok"}, open(job["result_path"], "w"))
"""


def _job(work: Path, seed: int) -> tuple[Job, Path]:
    job = Job(framework="torch", seed=seed, threads=1, spec={}, data_path=str(work / "data.npz"),
              result_path=str(work / f"result-{seed}.json"))
    return job, work / f"job-{seed}.json"


@pytest.fixture
def fake_worker(monkeypatch):
    monkeypatch.setattr(local, "worker_command", lambda job_path: [sys.executable, "-c", FAKE_WORKER, str(job_path)])


def _run_pool(work: Path, seeds: list[int], at_once: int) -> tuple[dict, dict, pool.Pool]:
    lines, results = {}, {}
    with pool.Pool(at_once, work) as workers:
        workers.run([_job(work, seed) for seed in seeds],
                    lambda job, line: lines.setdefault(job.seed, []).append(line),
                    lambda job, result, contended: results.setdefault(job.seed, (result["status"], contended)))
    return lines, results, workers


def _most_alive(workers: pool.Pool) -> int:
    """The most worker processes alive at one moment, from their spans."""
    return max(sum(other.started <= worker.started < other.ended for other in workers.workers)
               for worker in workers.workers)


@pytest.mark.parametrize("at_once, contended", [(2, {2: True, 10: True, 3: True}), (1, {2: False, 10: False,
                                                                                            3: False})])
def test_the_pool_runs_every_job_at_most_at_once_at_a_time(tmp_path, fake_worker, at_once, contended):
    """Seeds 2, 10, 3 sleep 0.2 s, 1 s, 0.3 s: two at a time, the third starts when the first ends and overlaps
    the second, so every run was contended; one at a time, none was."""
    lines, results, workers = _run_pool(tmp_path, [2, 10, 3], at_once)
    assert results == {seed: ("ok", flag) for seed, flag in contended.items()}
    assert lines == {seed: [f"[torch seed {seed}] started", "last line without its end"] for seed in (2, 10, 3)}
    assert _most_alive(workers) == at_once
    assert all(worker.process.returncode == 0 for worker in workers.workers)


def test_a_dead_worker_is_a_failed_run_and_the_others_finish(tmp_path, monkeypatch):
    def command(job_path):
        if "job-1" in str(job_path):
            return [sys.executable, "-c", "import sys; sys.stderr.write('out of memory\\n'); sys.exit(137)"]
        return [sys.executable, "-c", FAKE_WORKER, str(job_path)]

    monkeypatch.setattr(local, "worker_command", command)
    with pool.Pool(2, tmp_path) as workers:
        results = {}
        workers.run([_job(tmp_path, seed) for seed in (1, 2)], lambda job, line: None,
                    lambda job, result, contended: results.setdefault(job.seed, result))
    assert results[2]["status"] == "ok" and results[1]["status"] == "failed"
    assert "exit status 137" in results[1]["error"] and "out of memory" in results[1]["error"]


def test_an_interrupt_stops_every_worker_and_every_warm_one(tmp_path, monkeypatch):
    """A KeyboardInterrupt (Ctrl-C, or SIGTERM through the CLI) in the middle of the loop: no process outlives it,
    neither the ones training nor a warm one still waiting for a job."""
    sleeper = [sys.executable, "-c", "import sys; print('[torch seed 0] up', flush=True); import time; "
                                     "time.sleep(60)"]
    monkeypatch.setattr(local, "worker_command", lambda job_path: sleeper)
    monkeypatch.setattr(pool, "WARM_COMMAND", [sys.executable, "-c", "import sys; sys.stdin.readline()"])

    def interrupt(job, line):
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), pool.Pool(2, tmp_path) as workers:
        workers.warm(["tensorflow"])
        workers.run([_job(tmp_path, seed) for seed in (0, 1)], interrupt, lambda job, result, contended: None)
    assert len(workers.workers) == 3 and all(worker.process.poll() is not None for worker in workers.workers)
    assert time.monotonic() - started < 30  # killed, not waited for: the sleepers would take 60 s


@pytest.mark.parametrize("cores, runs, jobs, threads, in_process, expected", [
    (2, 6, None, None, False, (2, 1)),   # the default experiment on this machine: 2 runs at 1 thread each
    (1, 6, None, None, False, (1, 1)),   # one core: one at a time
    (16, 6, None, None, False, (6, 2)),  # more cores than runs: every run at once, the cores split
    (2, 1, None, None, False, (1, 2)),   # a single run gets every core
    (2, 6, None, 2, False, (1, 2)),      # --threads 2 on 2 cores: one at a time
    (2, 6, 1, None, False, (1, 2)),      # --jobs 1: uncontended, every core per run
    (2, 6, 3, 1, False, (3, 1)),         # both given: kept as they are
    (2, 6, None, None, True, (1, 2)),    # --in-process: one at a time in this process
])
def test_runs_at_once_split_the_cores(monkeypatch, cores, runs, jobs, threads, in_process, expected):
    monkeypatch.setattr(experiment.os, "cpu_count", lambda: cores)
    spec = parse_spec(iris_mlp("cores", epochs=1))
    assert experiment.runs_at_once(spec, runs, jobs, threads, in_process) == expected


def test_runs_at_once_start_the_longest_frameworks_first():
    planned = [{"framework": framework, "seed": seed} for seed in (0, 1) for framework in ("torch", "tensorflow")]
    started = experiment.start_order(planned, at_once=2)
    assert [(run["framework"], run["seed"]) for run in started] == [("tensorflow", 0), ("tensorflow", 1),
                                                                    ("torch", 0), ("torch", 1)]
    assert experiment.start_order(planned, at_once=1) == planned


def test_in_process_training_cannot_run_several_at_once(tmp_path, capsys):
    spec = write_spec(tmp_path, {**iris_mlp("jobs", epochs=1), "frameworks": ["torch"]})
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--in-process", "--jobs", "2"]) == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --jobs:") and "--in-process" in line and "received --jobs 2" in line
    assert not (tmp_path / "out").exists()


def _history_without_timings(out: Path) -> pd.DataFrame:
    history = pd.read_csv(out / "history.csv")
    return history[history["metric"] != "epoch_seconds"].reset_index(drop=True)


def test_concurrent_runs_train_what_sequential_runs_train(tmp_path, capsys):
    """iris in both frameworks, one seed, 2 epochs: two runs at once (the TensorFlow and the torch worker warm,
    importing while the data is prepared), then one at a time. Same threads, same history bit for bit apart
    from epoch_seconds; the first folder's runs are contended and its reports say so, the second's are not."""
    spec = write_spec(tmp_path, {**iris_mlp("concurrent", epochs=2), "frameworks": ["tensorflow", "torch"]})
    for jobs in ("2", "1"):
        assert main(["run", str(spec), "--out", str(tmp_path / jobs), "--jobs", jobs, "--threads", "1"]) == 0
        printed = capsys.readouterr().out
        assert ("† contended: 2 of 2 runs" in printed) == (jobs == "2")
        assert "Execution: tensorflow graph, torch eager." in printed
    pd.testing.assert_frame_equal(_history_without_timings(tmp_path / "2"), _history_without_timings(tmp_path / "1"))
    for jobs, contended in (("2", True), ("1", False)):
        out = tmp_path / jobs
        records = [json.loads(path.read_text()) for path in sorted((out / "runs").glob("*.json"))]
        assert [record["contended"] for record in records] == [contended] * 2
        assert all(record["threads"]["intra_op_threads"] == 1 for record in records)  # warm or not: 1 thread
        assert pd.read_csv(out / "summary.csv")["contended"].tolist() == [contended] * 2
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["matched"]["runs_at_once"] == int(jobs)
        assert {name: facts["execution"]["mode"] for name, facts in manifest["frameworks"].items()} == {
            "tensorflow": "graph", "torch": "eager"}
        report = (out / "report.md").read_text()
        assert ("| train (s) †" in report) == contended
        assert ("contended: 2 of 2 runs (tensorflow 1 of 1, torch 1 of 1)" in report) == contended
        assert ("contended" in (out / "report.html").read_text()) == contended
        assert ("\\textdagger{} contended" in (out / "report.tex").read_text()) == contended
        assert "Execution: tensorflow graph, torch eager." in report
        assert main(["report", str(out), "--target", "train:loss=5"]) == 0  # every run reaches it in epoch 1
        report = (out / "report.md").read_text()
        assert "## Time to target" in report and ("Its seconds come from contended runs" in report) == contended


def test_a_folder_of_an_older_version_renders_without_the_flags():
    """The committed fixture has neither contended flags nor execution modes: no mark, no execution line, and
    'not recorded' where each framework's facts are listed."""
    text = render_markdown(FIXTURE)
    assert "†" not in text and "contended" not in text and "Execution: tensorflow" not in text
    assert text.count("Execution: not recorded.") == 2


@pytest.mark.parametrize("field, value, expected", [
    ("contended", "yes", "contended: expected true or false; received 'yes'"),
    ("execution", {"settings": {}}, "execution: expected an object naming its mode"),
    ("execution", "graph", "execution: expected an object naming its mode"),
])
def test_a_record_with_a_bad_flag_or_mode_is_refused(field, value, expected):
    record = {"framework": "torch", "seed": 0, "status": "failed", field: value}
    with pytest.raises(SpecError, match=expected):
        store.check_record(record, "runs/x.json")


def test_a_manifest_with_a_bad_execution_mode_is_refused(tmp_path):
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    manifest["frameworks"]["torch"]["execution"] = {"mode": 3}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SpecError, match=r"frameworks\.torch\.execution\.mode: expected a valid string"):
        read_manifest(tmp_path / "manifest.json")
