"""`harness bench`: how fast each framework trains and predicts the spec, in every execution mode, measured fairly.

Fair means: every (framework, mode) in its own fresh process, never two computing at once (they take turns, one
timed repeat each: `harness.launch.turns`); the same thread count for intra- and inter-op work in every
framework, set before the first op; the same data already in memory, the same batch size, sample order and
seed; warm-up excluded from the steady-state figures; raw samples kept. The measuring itself is
`harness.jobs.measure`, inside the worker; the tables and plots are `harness.bench.report`.
"""

import copy
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional

from harness.bench.settings import SWEEP_ALIASES, Settings
from harness.core import atomic, data, flops, folders, resources
from harness.core.errors import SpecError
from harness.core.execution import settings_of
from harness.core.overrides import set_path, spec_dump
from harness.core.spec import Spec
from harness.core.validate import parse_spec
from harness.jobs.job import Job
from harness.launch.local import run_in_subprocess
from harness.results import manifest


def _apply(raw: dict, axis: str, value) -> None:
    if axis == "width":
        hidden = raw["model"]["layers"][:-1]
        changed = [layer for layer in hidden if "units" in layer or "filters" in layer]
        if not changed:
            raise SpecError("--sweep", "width: the spec has no hidden layer with units or filters")
        for layer in changed:
            layer["units" if "units" in layer else "filters"] = value
        return
    set_path(raw, SWEEP_ALIASES.get(axis, axis), value)


def points(spec: Spec, sweep: Optional[tuple]) -> list[tuple[Optional[object], Spec]]:
    """(sweep value, spec) for each point of the sweep; one point (None, spec) without a sweep."""
    if not sweep:
        return [(None, spec)]
    axis, values = sweep
    found = []
    for value in values:
        raw = copy.deepcopy(spec_dump(spec))
        try:
            _apply(raw, axis, value)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError):
            raise SpecError("--sweep", f"{axis} is not a path into the spec and not one of "
                                       f"{', '.join(SWEEP_ALIASES)} (received value {value!r})") from None
        try:
            found.append((value, parse_spec(raw)))
        except SpecError as error:
            raise SpecError("--sweep", f"{axis}={value!r} does not give a valid spec: {error}") from None
    return found


def gpu_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU, asked of the driver (no framework imported)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir() and any(gpus.iterdir()):
        return True
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return listed.returncode == 0 and "GPU" in listed.stdout


def resolve_device(device: str) -> str:
    if device == "cpu":
        return "cpu"
    if gpu_visible():
        return "gpu"
    if device == "gpu":
        raise SpecError("--device", "gpu asked for, but this machine shows no NVIDIA GPU (no "
                                    "/proc/driver/nvidia/gpus, no working nvidia-smi); use --device cpu or auto")
    return "cpu"


def environment(settings: Settings, device: str) -> dict:
    """Variables each worker sets before importing a framework: the same threads everywhere, the device."""
    threads = str(settings.threads)
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads,
           "TF_NUM_INTEROP_THREADS": threads, "KERAS_TORCH_DEVICE": "cuda" if device == "gpu" else "cpu"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # no framework may place work on a GPU in a CPU comparison
    return env


def execution(framework: str, mode: str, settings: Settings) -> dict:
    """The adapter's execution settings for a mode, with steps_per_execution filled in."""
    return settings_of(framework, mode, settings.steps_per_execution)


def bench_job(spec: Spec, framework: str, mode: str, settings: Settings, device: str, data_path: Path,
              result_path: Path) -> Job:
    """The worker's job for one (framework, mode) measurement; `launched_at` is stamped when it starts."""
    return Job(kind="bench", label=f"{framework} {mode}", framework=framework, seed=spec.seeds[0],
               threads=settings.threads, spec=spec_dump(spec), data_path=str(data_path),
               result_path=str(result_path), device=device, tf32=settings.tf32,
               execution=execution(framework, mode, settings), repeats=settings.repeats,
               warmup_steps=settings.warmup_steps, steps=settings.steps, large_batch=settings.large_batch,
               infer_calls=settings.infer_calls,
               matmul_size=settings.matmul_size or (4096 if device == "gpu" else 1024),
               environment=environment(settings, device))


def run_bench_job(job: Job, job_path: Path, log: Callable[[str], None]) -> dict:
    """One measurement in a fresh worker process, started now."""
    return run_in_subprocess(job.with_(launched_at=time.time()), job_path, lambda line: log("  " + line))


def measure_jobs(jobs: list[tuple[Job, Path]], settings: Settings, log: Callable[[str], None]) -> list[dict]:
    """The jobs' results: their workers taking turns (see harness.launch.turns), or one after another."""
    if not settings.interleave:
        return [run_bench_job(job, job_path, log) for job, job_path in jobs]
    from harness.launch.turns import measure_interleaved

    return measure_interleaved([(job.with_(interleave=True), job_path) for job, job_path in jobs],
                               settings.repeats, lambda line: log("  " + line))


RUN_FILES = r"[a-z_]+-[a-z_]+-point\d+-round\d+\.json"  # the names this module gives runs/ files


def run_bench(spec: Spec, settings: Settings, out_dir=None, log: Callable[[str], None] = print,
              command: str = "", allow_large: bool = False) -> tuple:
    """Measures every (round, sweep point, framework, mode) one after another and writes the bench folder.
    Returns the folder and its summary table (one row per run, rounds pooled).

    Rounds interleave: each round measures every (point, framework, mode) once, in a fresh process, so slow drifts
    of the machine's speed fall on all of them alike; the report pools a run's samples over the rounds."""
    from harness.bench.report import write_bench

    settings = settings.check()
    device = resolve_device(settings.device)
    grid, pairs = points(spec, settings.sweep), settings.runs()
    for _, point in grid:  # with turns, every run of a round is alive at once
        matmul = settings.matmul_size or (4096 if device == "gpu" else 1024)
        resources.check(point, allow_large=allow_large, parallel=len(pairs) if settings.interleave else 1,
                        infer_batch=settings.large_batch, extra_bytes=3 * matmul * matmul * 4)
    out = folders.claim(Path(out_dir or Path("results") / "bench" / spec.name), "bench")
    folders.remove_written(out / "runs", RUN_FILES)  # a rerun replaces the measurements, never mixes them
    records = []
    with folders.work_dir() as work:
        sizes = []
        for index, (_, point) in enumerate(grid):
            dataset = data.prepare(point)
            data.save(dataset, work / f"data-point{index}.npz")
            sizes.append(dataset.n_train)
        log(f"{spec.name}: {len(grid)} point(s) x {len(pairs)} (framework, mode) runs x {settings.rounds} round(s), "
            f"each in a fresh process; device {device}, {settings.threads} thread(s)")
        for round_index in range(settings.rounds):
            for index, (value, point) in enumerate(grid):
                run_ids = [f"{framework}-{mode}-point{index}-round{round_index}" for framework, mode in pairs]
                jobs = [(bench_job(point, framework, mode, settings, device, work / f"data-point{index}.npz",
                                   work / f"{run_id}.json"), work / f"{run_id}.job.json")
                        for (framework, mode), run_id in zip(pairs, run_ids)]
                for (framework, mode), run_id, result in zip(pairs, run_ids, measure_jobs(jobs, settings, log)):
                    record = {**result, "mode": mode, "sweep_value": value, "point": index, "round": round_index,
                              "spec_name": point.name, "n_train": sizes[index],
                              "train_flops_per_sample": flops.training_flops(point.model), "order": len(records)}
                    atomic.write_json(out / "runs" / f"{run_id}.json", record)
                    records.append(record)
                    where = f" {settings.sweep[0]}={value}" if settings.sweep else ""
                    log(f"round {round_index + 1}/{settings.rounds}{where} " + _finished_line(framework, mode, record))
    facts = {"spec": spec_dump(spec), "settings": {**asdict(settings), "device_resolved": device},
             "machine": manifest.machine(), "git_commit": manifest.git_commit(), "command": command,
             "cpu_count": os.cpu_count(), "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    return out, write_bench(out, records, facts)


def _finished_line(framework: str, mode: str, record: dict) -> str:
    from harness.bench.stats import summarize

    if record["status"] != "ok":
        return f"{framework} {mode}: {record['status']}: {record.get('error', '')}"
    step = summarize(record["train_step_seconds"])
    return (f"{framework} {mode}: first step {record['first_step_seconds']:.2f} s; step {1000 * step['median']:.3f} "
            f"ms (IQR {1000 * step['iqr']:.3f}); {record['batch_size'] / step['median']:,.0f} samples/s")
