"""One (framework, seed) training run, normally in a fresh process: `python -m harness.worker JOB.json`.

The job file names the spec, the framework, the seed, the prepared data (.npz) and the initial weights (.npz);
the worker writes its result as JSON (atomically) to the job's `result_path`. Progress lines go to stdout.
"""

import json
import os
import resource
import sys
import traceback

import numpy as np

from harness import atomic, data, frameworks, tracking, training
from harness.errors import Unavailable
from harness.validate import parse_spec


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _load_weights(path) -> list:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _train(job: dict, adapter, log) -> dict:
    spec = parse_spec(job["spec"])
    dataset = data.load(job["data_path"])
    weights = _load_weights(job["weights_path"]) if job.get("weights_path") else None
    if not job.get("tensorboard_dir"):
        return training.fit(adapter, spec, dataset, job["seed"], weights, log=log)
    writer = frameworks.load_module(job["framework"], "tensorboard").open_writer(job["tensorboard_dir"])
    try:
        return training.fit(adapter, spec, dataset, job["seed"], weights, log=log, on_epoch=lambda row: writer.scalars(
            row["epoch"], tracking.epoch_scalars(row, dataset.target.metric)))
    finally:
        writer.close()


def _parity(job: dict, adapter, log) -> dict:
    from harness import parity

    spec, dtype = parse_spec(job["spec"]), job["dtype"]
    dataset = parity.cast_dataset(data.load(job["data_path"]), dtype)
    parity_adapter = frameworks.load_module(job["framework"], "parity")
    trace = parity.framework_trace(adapter, parity_adapter, spec, dataset, _load_weights(job["weights_path"]),
                                   job["steps"], dtype, job["seed"])
    trace.save(job["trace_path"])
    log(f"{job['steps']} parity steps done")
    return {"status": "ok", "optimizer_convention": parity_adapter.optimizer_convention()}


def _export(job: dict, adapter, log) -> dict:
    """The framework's own weights file -> canonical arrays (.npz)."""
    model = adapter.build_model(parse_spec(job["spec"]).model, seed=job["seed"])
    adapter.load_weights(model, job["weights_path"])
    np.savez(job["canonical_path"], *adapter.get_weights(model))
    return {"status": "ok"}


def _import(job: dict, adapter, log) -> dict:
    """Canonical arrays (.npz) -> the framework's own weights file."""
    model = adapter.build_model(parse_spec(job["spec"]).model, seed=job["seed"])
    adapter.set_weights(model, _load_weights(job["canonical_path"]))
    adapter.save_weights(model, job["out_path"])
    return {"status": "ok"}


def _bench(job: dict, adapter, log) -> dict:
    from harness.bench_measure import measure

    return measure(job, adapter, log)


KINDS = {"train": _train, "parity": _parity, "export": _export, "import": _import, "bench": _bench}


def execute(job: dict, log=None) -> dict:
    """Runs one job and returns its result; a crash inside it becomes status 'failed' with the error."""
    prefix = f"[{job['label']}]" if job.get("label") else f"[{job['framework']} seed {job['seed']}]"
    log = log or (lambda line: print(f"{prefix} {line}", flush=True))
    result = {"framework": job["framework"], "seed": job["seed"]}
    try:
        adapter = frameworks.load(job["framework"])
        result["threads"] = adapter.configure(job["threads"], job["seed"])
        result["versions"] = adapter.versions()
        result.update(KINDS[job.get("kind", "train")](job, adapter, log))
    except Unavailable as reason:  # e.g. a GPU asked of a CPU-only build: skipped, with the reason
        result.update(status="skipped", error=str(reason))
    except Exception as error:  # reported as a failed run; the other runs go on
        traceback.print_exc(file=sys.stderr)
        result.update(status="failed", error=f"{type(error).__name__}: {error}".splitlines()[0])
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    job_path = (argv or sys.argv[1:])[0]
    with open(job_path) as handle:
        job = json.load(handle)
    os.environ.update(job.get("environment", {}))  # before any framework is imported (threads, visible devices)
    result = execute(job)
    atomic.write_json(job["result_path"], result)
    return 0 if result["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
