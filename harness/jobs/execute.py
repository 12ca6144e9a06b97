"""One job (a training run, a parity trace, a weights conversion, a bench measurement), normally in a fresh
process: `python -m harness.jobs.execute JOB.json`.

The job file (a `harness.jobs.job.Job`) names the spec, the framework, the seed and the files to read; the worker
writes its result as JSON (atomically) to the job's `result_path`. Progress lines go to stdout.
"""

import os
import resource
import sys
import traceback
from pathlib import Path
from typing import Optional

import numpy as np

from harness.core import atomic, data, execution, weights_npz
from harness.core.errors import SpecError, Unavailable
from harness.core.history import epoch_scalars
from harness.core.validate import parse_spec
from harness.jobs import frameworks, train
from harness.jobs.job import Job
from harness.jobs.resume import Checkpoints


def _peak_rss_mb() -> float:
    """This process' peak resident memory. Linux's VmHWM starts anew at exec; ru_maxrss does not (a worker
    started from a parent holding 1 GB would report at least that), so it is the fallback only."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def _load_weights(path) -> list:
    """arr_0, arr_1, ... of an .npz the harness wrote itself (initial or canonical weights); never a pickle."""
    with np.load(path, allow_pickle=False) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _saver(job: Job, spec, adapter):
    """on_finish for train.fit: the final weights into job.weights_dir, in both formats (nothing if not asked)."""
    if not job.weights_dir:
        return lambda model: None

    def save(model):
        folder = Path(job.weights_dir)
        folder.mkdir(parents=True, exist_ok=True)
        own, canonical = weights_npz.run_file_names(job.framework, job.seed)
        save_atomically(adapter, model, folder / own)
        weights_npz.save(folder / canonical, spec.model, adapter.get_weights(model))

    return save


def _checkpoints(job: Job, spec) -> Optional[Checkpoints]:
    if not job.checkpoint_path:
        return None
    return Checkpoints(job.checkpoint_path, spec.training.checkpoint_every, job.run_key or "", job.resume,
                       frameworks.load_module(job.framework, "checkpoint"))


def _execution(framework: str, spec) -> tuple[str, dict]:
    """(mode name, the adapter's execution settings) that training.execution chooses for the framework."""
    mode = execution.modes_for(spec.training.execution)[framework]
    return mode, execution.settings_of(framework, mode, spec.training.steps_per_execution)


def _train(job: Job, spec, adapter, log) -> dict:
    dataset = data.load(job.data_path)
    weights = _load_weights(job.weights_path) if job.weights_path else None
    options = dict(log=log, on_finish=_saver(job, spec, adapter), checkpoints=_checkpoints(job, spec),
                   execution=_execution(job.framework, spec))
    if not job.tensorboard_dir:
        return train.fit(adapter, spec, dataset, job.seed, weights, **options)
    writer = frameworks.load_module(job.framework, "tensorboard").open_writer(job.tensorboard_dir)
    try:
        return train.fit(adapter, spec, dataset, job.seed, weights, on_epoch=lambda row: writer.scalars(
            row["epoch"], epoch_scalars(row, dataset.target.metric)), **options)
    finally:
        writer.close()


def _parity(job: Job, spec, adapter, log) -> dict:
    from harness.jobs import trace

    dataset = trace.cast_dataset(data.load(job.data_path), job.dtype)
    parity_adapter = frameworks.load_module(job.framework, "parity")
    found = trace.framework_trace(adapter, parity_adapter, spec, dataset, _load_weights(job.weights_path),
                                  job.steps, job.dtype, job.seed)
    found.save(job.trace_path)
    log(f"{job.steps} parity steps done")
    return {"status": "ok", "optimizer_convention": parity_adapter.optimizer_convention()}


def _export(job: Job, spec, adapter, log) -> dict:
    """The framework's own weights file -> canonical arrays (.npz, harness.core.weights_npz). The file is checked
    first (readable, and holding exactly the tensors of the spec's model); a bad one is a refused job with the one
    line to show."""
    model = adapter.build_model(spec.model, seed=job.seed)
    try:
        found = adapter.read_weights_file(job.weights_path)
        _check_architecture(spec.model, adapter.weights_file_layout(model), found)
        adapter.load_weights(model, job.weights_path)
    except SpecError as error:
        return _refused(error)
    weights_npz.save(job.canonical_path, spec.model, adapter.get_weights(model))
    return {"status": "ok"}


def _import(job: Job, spec, adapter, log) -> dict:
    """Canonical arrays (.npz) -> the framework's own weights file, written under a temporary name next to it and
    renamed: a failed or killed conversion leaves no half-written file."""
    model = adapter.build_model(spec.model, seed=job.seed)
    try:
        adapter.set_weights(model, weights_npz.load(job.canonical_path, spec.model))
    except SpecError as error:  # a canonical file the user gave (harness convert --from npz)
        return _refused(error)
    try:
        save_atomically(adapter, model, job.out_path)
    except OSError as error:
        return _refused(SpecError("--out", f"cannot write {job.out_path}: {error.strerror or error}"))
    return {"status": "ok"}


def _refused(error) -> dict:
    """A job refused for bad input: the one line for the user and the field it names (harness.run.convert reads it)."""
    return {"status": "failed", "error": str(error), "error_field": error.field}


def _check_architecture(model_spec, layout: list, found: dict) -> None:
    """A weights file's tensors {name: shape} against the model's layout [(name, layer index, weight name,
    shape)]: the count, then the first tensor, in the model's order, missing from the file or of another shape."""
    if len(found) != len(layout):
        raise SpecError("--weights", f"expected {len(layout)} tensors, as the spec's model has; received "
                                     f"{len(found)}")
    for key, index, weight, shape in layout:
        where = f"layer {index} ({model_spec.layers[index].type}) {weight}"
        if key not in found:
            other = next(name for name in found if name not in {entry[0] for entry in layout})
            raise SpecError("--weights", f"{where}: expected a tensor named {key!r}; received none (the file has "
                                         f"{other!r} instead)")
        if found[key] != shape:
            raise SpecError("--weights", f"{where}: expected shape {shape}; received {found[key]}")


def save_atomically(adapter, model, path) -> None:
    """adapter.save_weights to a hidden temporary name that keeps the file's suffix (Keras requires
    .weights.h5), then one rename."""
    import uuid

    path = Path(path)
    temporary = path.with_name(f".{uuid.uuid4().hex[:12]}.partial.{path.name}")
    try:
        adapter.save_weights(model, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _bench(job: Job, spec, adapter, log) -> dict:
    from harness.jobs.measure import measure

    return measure(job, spec, adapter, log)


def _read_model(job: Job, spec, adapter, log) -> dict:
    from harness.jobs import porting

    try:
        return porting.read_model(job, adapter, log)
    except SpecError as error:
        return _refused(error)


def _predict(job: Job, spec, adapter, log) -> dict:
    from harness.jobs import porting

    return porting.predict(job, spec, adapter, log)


def _artifact(job: Job, spec, adapter, log) -> dict:
    from harness.jobs import artifact

    try:
        return artifact.make_artifact(job, spec, adapter, log)
    except SpecError as error:
        return _refused(error)


KINDS = {"train": _train, "parity": _parity, "export": _export, "import": _import, "bench": _bench,
         "read_model": _read_model, "predict": _predict, "artifact": _artifact}


def execute(job: Job, log=None) -> dict:
    """Runs one job and returns its result; a crash inside it becomes status 'failed' with the error."""
    log = log or (lambda line: print(f"{job.prefix} {line}", flush=True))
    result = {"framework": job.framework, "seed": job.seed}
    try:
        spec = parse_spec(job.spec) if job.spec is not None else None  # once in this process
        adapter = frameworks.load(job.framework)
        result["threads"] = adapter.configure(job.threads, job.seed)
        result["versions"] = adapter.versions()
        result.update(KINDS[job.kind](job, spec, adapter, log))
    except Unavailable as reason:  # e.g. a GPU asked of a CPU-only build: skipped, with the reason
        result.update(status="skipped", error=str(reason))
    except Exception as error:  # reported as a failed run; the other runs go on
        traceback.print_exc(file=sys.stderr)
        result.update(status="failed", error=f"{type(error).__name__}: {error}".splitlines()[0])
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    job = Job.read((argv or sys.argv[1:])[0])
    os.environ.update(job.environment)  # before any framework is imported (threads, visible devices)
    result = execute(job)
    atomic.write_json(job.result_path, result)
    return 0 if result["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
