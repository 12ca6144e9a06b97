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

from harness import atomic, data, frameworks, training
from harness.validate import parse_spec


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def execute(job: dict, log=None) -> dict:
    """Runs one job and returns its result; a crash inside training becomes status 'failed' with the error."""
    prefix = f"[{job['framework']} seed {job['seed']}]"
    log = log or (lambda line: print(f"{prefix} {line}", flush=True))
    result = {"framework": job["framework"], "seed": job["seed"]}
    try:
        adapter = frameworks.load(job["framework"])
        result["threads"] = adapter.configure(job["threads"], job["seed"])
        result["versions"] = adapter.versions()
        spec = parse_spec(job["spec"])
        dataset = data.load(job["data_path"])
        weights = None
        if job.get("weights_path"):
            with np.load(job["weights_path"]) as saved:
                weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        result.update(training.fit(adapter, spec, dataset, job["seed"], weights, log=log))
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
    result = execute(job)
    atomic.write_json(job["result_path"], result)
    return 0 if result["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
