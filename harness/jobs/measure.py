"""One (framework, execution mode) measurement, inside a fresh worker process (`harness.jobs.execute`, kind 'bench').

Order inside the process: data into memory (untimed) -> build, compile and the first step (time to first step)
-> warm-up steps (untimed) -> R timed repeats of `steps` training steps (with `interleave`, one per turn: see
`harness.launch.turns`) -> inference latency at batch 1 and at a large batch -> the matrix-multiply peak, in this
framework, with the same threads. Training goes through the
adapter's own `make_trainer(...).train_epoch`, the code `harness run` times, so the harness' overhead is in the
figures.
"""

import contextlib
import gc
import sys
import time

import numpy as np

from harness.core import data
from harness.core.data import batch_size_of, epoch_order
from harness.jobs import frameworks
from harness.jobs.job import Job
from harness.jobs.train import build_checked

# The turn protocol (harness.launch.turns has the parent's side), on the worker's stdin and stdout: the worker
# prints `@@ready` (or `@@repeat` after a repeat) and blocks until it reads a line; end of input means stop.
READY, REPEATED = "@@ready", "@@repeat"


def take_turn(signal: str) -> None:
    """Says where this worker is, then waits for the bench to let it go on."""
    print(signal, flush=True)
    if not sys.stdin.readline():
        raise SystemExit("the bench stopped")


def _tiled(dataset, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n training samples in the harness' first-epoch order, repeated when the training set is smaller.
    x (n, *input_shape), y (n, ...)."""
    order = epoch_order(0, 0, dataset.n_train)
    rows = order[np.arange(n) % dataset.n_train]
    return np.ascontiguousarray(dataset.x_train[rows]), np.ascontiguousarray(dataset.y_train[rows])


@contextlib.contextmanager
def _no_collection():
    """Python's cyclic garbage collector collected before and paused during a timed region (as `timeit` does),
    so a collection triggered by one framework's allocations does not land in some repeats and not others."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _latencies(infer, x: np.ndarray, calls: int, warmup: int = 5) -> list[float]:
    """Seconds per inference call on x, one call at a time, after `warmup` untimed calls."""
    for _ in range(warmup):
        infer(x)
    seconds = []
    with _no_collection():
        for _ in range(calls):
            start = time.perf_counter()
            infer(x)
            seconds.append(time.perf_counter() - start)
    return seconds


def measure(job: Job, spec, adapter, log) -> dict:
    """The figures of one (framework, mode): raw samples, not summaries (the report summarizes)."""
    bench = frameworks.load_module(job.framework, "bench")
    device = bench.setup_device(job.device, job.tf32)
    dataset = data.load(job.data_path)
    batch = batch_size_of(spec, dataset.n_train)
    steps = job.steps or max(1, dataset.n_train // batch)
    x, y = _tiled(dataset, max(steps, job.warmup_steps, 1) * batch)
    ready_seconds = time.time() - job.launched_at  # process start, imports and data, before any model exists

    start = time.perf_counter()
    model = bench.to_device(build_checked(adapter, spec.model, spec.seeds[0], spec.training.precision), job.device)
    trainer = adapter.make_trainer(spec, model, dataset.target, execution=job.execution)
    trainer.train_epoch(x[:batch], y[:batch], batch)
    bench.synchronize()
    first_step_seconds = time.perf_counter() - start
    log(f"first step after {first_step_seconds:.2f} s")

    if job.warmup_steps:
        trainer.train_epoch(x[:job.warmup_steps * batch], y[:job.warmup_steps * batch], batch)
    turn = take_turn if job.interleave else (lambda signal: None)
    turn(READY)
    step_seconds = []
    for repeat in range(job.repeats):
        with _no_collection():
            start = time.perf_counter()
            trainer.train_epoch(x[:steps * batch], y[:steps * batch], batch)
            bench.synchronize()
            step_seconds.append((time.perf_counter() - start) / steps)
        log(f"repeat {repeat + 1}/{job.repeats}: {1000 * step_seconds[-1]:.3f} ms per step")
        turn(REPEATED)

    infer = bench.inference_function(trainer)
    large = _tiled(dataset, job.large_batch)[0]
    infer_batch1_seconds = _latencies(infer, x[:1], job.infer_calls)
    infer_large_seconds = _latencies(infer, large, max(5, job.infer_calls // 10))
    matmul_gflops = bench.matmul_gflops(job.matmul_size, 10)
    return {"status": "ok", "device": device, "batch_size": batch, "steps": steps,
            "params": adapter.count_params(model),
            "ready_seconds": ready_seconds, "first_step_seconds": first_step_seconds,
            "train_step_seconds": step_seconds, "infer_batch1_seconds": infer_batch1_seconds,
            "infer_large_seconds": infer_large_seconds, "matmul_gflops": matmul_gflops,
            "execution": trainer.execution_settings()}
