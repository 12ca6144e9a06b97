"""`harness bench`: how fast each framework trains and predicts the spec, in every execution mode, measured fairly.

Fair means: every (framework, mode) in its own fresh process, never two computing at once (they take turns, one
timed repeat each: `harness.launch.turns`); the same thread count for intra- and inter-op work in every
framework, set before the first op; the same data already in memory, the same batch size, sample order and
seed; warm-up excluded from the steady-state figures; raw samples kept. The measuring itself is
`harness.jobs.measure`, inside the worker; the tables and plots are `harness.bench.report`.
"""

import copy
import math
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from harness.core import atomic, data, flops, folders, resources
from harness.results import manifest
from harness.core.errors import SpecError
from harness.run.experiment import run_in_subprocess, spec_dump
from harness.core.spec import Spec
from harness.core.validate import parse_spec

# framework -> mode -> (execution settings for the adapter's make_trainer, what the mode is). steps_per_execution
# None is filled from the settings. DEFAULT_MODES: what `harness run` uses (Keras' own default off TensorFlow).
MODES = {
    "tensorflow": {
        "eager": ({"run_eagerly": True}, "Keras fit with run_eagerly=True: every op dispatched from Python"),
        "graph": ({}, "Keras fit, the step as a tf.function graph (Keras' default; what `harness run` uses)"),
        "xla": ({"jit_compile": True}, "the graph compiled by XLA (jit_compile=True)"),
        "spe": ({"steps_per_execution": None}, "graph, N steps per tf.function call (steps_per_execution=N)"),
        "xla_spe": ({"jit_compile": True, "steps_per_execution": None}, "XLA and steps_per_execution=N"),
    },
    "torch": {
        "eager": ({}, "eager PyTorch, the harness' own loop (what `harness run` uses)"),
        "compile": ({"compile": True}, "the model through torch.compile (inductor, no CUDA graphs)"),
    },
    "keras_torch": {
        "eager": ({"run_eagerly": True}, "Keras fit on the PyTorch backend, run_eagerly=True"),
        "default": ({}, "Keras fit on the PyTorch backend, jit_compile=False (Keras' own step, eager torch)"),
        "compile": ({"jit_compile": True}, "Keras fit on the PyTorch backend, the step through torch.compile"),
    },
}
DEFAULT_MODES = {"tensorflow": "graph", "torch": "eager", "keras_torch": "default"}
FRAMEWORK_TITLES = {"tensorflow": "Keras on TensorFlow", "torch": "PyTorch", "keras_torch": "Keras on PyTorch"}

# --sweep shorthands; any other name is a dotted path into the spec (model.layers.0.units).
SWEEP_ALIASES = {"batch_size": "training.batch_size", "sequence_length": "model.input_shape.0",
                 "width": "every hidden layer's units or filters"}


@dataclass(frozen=True)
class Settings:
    """Everything `harness bench` takes besides the spec; `check()` validates it once, at the edge."""
    repeats: int = 7
    rounds: int = 3                    # fresh processes per (framework, mode)
    interleave: bool = True            # the runs' workers take turns, one timed repeat each (bench_turns)
    warmup_steps: int = 10
    steps: Optional[int] = None        # training steps per timed repeat; None: one pass over the training set
    threads: int = 1
    device: str = "auto"
    tf32: bool = False
    frameworks: tuple = tuple(MODES)
    modes: Optional[tuple] = None      # mode names; None: every mode of each framework
    steps_per_execution: int = 32
    large_batch: int = 1024
    infer_calls: int = 200
    matmul_size: Optional[int] = None  # None: 1024 on the CPU, 4096 on a GPU
    sweep: Optional[tuple] = field(default=None)  # (axis, (value, ...))

    def check(self) -> "Settings":
        minimum = {"repeats": 3, "rounds": 1, "warmup_steps": 0, "steps": 1, "threads": 1, "steps_per_execution": 1,
                   "large_batch": 1, "infer_calls": 1, "matmul_size": 16}
        for name, least in minimum.items():
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < least):
                why = " (quartiles need three samples)" if name == "repeats" else ""
                raise SpecError(f"--{name.replace('_', '-')}", f"expected an integer of at least {least}{why}; "
                                                               f"received {value!r}")
        for name, value, allowed in [("frameworks", framework, MODES) for framework in self.frameworks] + [
                ("device", self.device, ("cpu", "gpu", "auto"))]:
            if value not in allowed:
                raise SpecError(f"--{name}", f"expected one of {', '.join(allowed)}; received {value!r}")
        known = sorted({mode for framework in self.frameworks for mode in MODES[framework]})
        qualified = {f"{framework}:{mode}" for framework in self.frameworks for mode in MODES[framework]}
        for mode in self.modes or ():
            if mode not in known and mode not in qualified:
                raise SpecError("--modes", f"expected modes of {', '.join(self.frameworks)}: {', '.join(known)}, "
                                           f"or FRAMEWORK:MODE for one framework's; received {mode!r}")
        return self

    def runs(self) -> list[tuple[str, str]]:
        """(framework, mode) pairs in the order they run: each framework's default mode first."""
        pairs = []
        for framework in self.frameworks:
            ordered = sorted(MODES[framework], key=lambda mode: mode != DEFAULT_MODES[framework])
            pairs += [(framework, mode) for mode in ordered
                      if not self.modes or mode in self.modes or f"{framework}:{mode}" in self.modes]
        if not pairs:
            raise SpecError("--modes", f"no mode of {', '.join(self.frameworks)} is among {', '.join(self.modes)}")
        return pairs


MAX_SWEEP_VALUES = 100


def _scalar(text: str):
    """One --sweep value as a YAML scalar (16, 0.5, full, null); anything else is refused."""
    from harness.core.spec_file import parse_yaml

    try:
        value = parse_yaml(text, repr(text.strip()), "--sweep")  # the spec's YAML rules: 1e-3 is a number
    except SpecError:
        value = ...
    if isinstance(value, bool) or not isinstance(value, (int, float, str, type(None))) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise SpecError("--sweep", f"expected plain values (numbers, words, null); received {text.strip()!r}")
    return value


def parse_sweep(text: str) -> tuple:
    """'batch_size=16,32,64' -> ('batch_size', (16, 32, 64)); values are read as YAML scalars."""
    axis, _, values = text.partition("=")
    parsed = tuple(_scalar(value) for value in values.split(",") if value.strip())
    if not axis.strip() or not parsed:
        raise SpecError("--sweep", f"expected AXIS=V1,V2,... (AXIS one of {', '.join(SWEEP_ALIASES)} or a dotted "
                                   f"path into the spec); received {text!r}")
    if len(parsed) > MAX_SWEEP_VALUES:
        raise SpecError("--sweep", f"expected at most {MAX_SWEEP_VALUES} values; received {len(parsed)}")
    return axis.strip(), parsed


def _apply(raw: dict, axis: str, value) -> None:
    from harness.sweep.expand import set_path

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
    settings_of_mode = dict(MODES[framework][mode][0])
    if "steps_per_execution" in settings_of_mode:
        settings_of_mode["steps_per_execution"] = settings.steps_per_execution
    return settings_of_mode


def bench_job(spec: Spec, framework: str, mode: str, settings: Settings, device: str, data_path: Path,
              result_path: Path) -> dict:
    """The worker's job for one (framework, mode) measurement; `launched_at` is stamped when it starts."""
    return {"kind": "bench", "label": f"{framework} {mode}", "framework": framework, "seed": spec.seeds[0],
            "threads": settings.threads, "spec": spec_dump(spec), "data_path": str(data_path),
            "result_path": str(result_path), "device": device, "tf32": settings.tf32,
            "execution": execution(framework, mode, settings), "repeats": settings.repeats,
            "warmup_steps": settings.warmup_steps, "steps": settings.steps, "large_batch": settings.large_batch,
            "infer_calls": settings.infer_calls,
            "matmul_size": settings.matmul_size or (4096 if device == "gpu" else 1024),
            "environment": environment(settings, device)}


def run_bench_job(job: dict, job_path: Path, log: Callable[[str], None]) -> dict:
    """One measurement in a fresh worker process, started now."""
    return run_in_subprocess({**job, "launched_at": time.time()}, job_path, lambda line: log("  " + line))


def _measure(jobs: list[tuple[dict, Path]], settings: Settings, log: Callable[[str], None]) -> list[dict]:
    """The jobs' results: their workers taking turns (see harness.launch.turns), or one after another."""
    if not settings.interleave:
        return [run_bench_job(job, job_path, log) for job, job_path in jobs]
    from harness.launch.turns import measure_interleaved

    return measure_interleaved([({**job, "interleave": True}, job_path) for job, job_path in jobs],
                               settings.repeats, lambda line: log("  " + line))


RUN_FILES = r"[a-z_]+-[a-z_]+-point\d+-round\d+\.json"  # the names this module gives runs/ files


def run_bench(spec: Spec, settings: Settings, out_dir=None, log: Callable[[str], None] = print,
              command: str = "", allow_large: bool = False) -> Path:
    """Measures every (round, sweep point, framework, mode) one after another and writes the bench folder.

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
                for (framework, mode), run_id, result in zip(pairs, run_ids, _measure(jobs, settings, log)):
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
    return write_bench(out, records, facts)


def _finished_line(framework: str, mode: str, record: dict) -> str:
    from harness.bench.stats import summarize

    if record["status"] != "ok":
        return f"{framework} {mode}: {record['status']}: {record.get('error', '')}"
    step = summarize(record["train_step_seconds"])
    return (f"{framework} {mode}: first step {record['first_step_seconds']:.2f} s; step {1000 * step['median']:.3f} "
            f"ms (IQR {1000 * step['iqr']:.3f}); {record['batch_size'] / step['median']:,.0f} samples/s")
