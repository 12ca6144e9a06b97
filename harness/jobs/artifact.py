"""The worker side of `harness export`: the spec's model with canonical weights, written as one deployable file
(ONNX, SavedModel, LiteRT, TorchScript, torch.export), loaded back in that file's own runtime, checked against the
framework's own output on the probe batch, and timed there.

The file is written under a hidden temporary name next to the target and renamed only once it ran and was
measured: an exporter that fails, or a file its runtime cannot run, leaves nothing behind and is a result with
status "unsupported" and the error's first line (a format that cannot express a layer family is a fact to report,
not a crash).
"""

import os
import re
import shutil
import statistics
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np

from harness.core import imported, weights_npz
from harness.core.errors import SpecError, first_line
from harness.jobs import frameworks
from harness.jobs.job import Job

TOLERANCE = imported.TOLERANCE  # float32: an export computes the same function, only the order of sums differs
LATENCY_BATCHES = (1, 1024)
REPEATS = {1: 25, 1024: 5}  # timed calls per batch size after one warm-up call (job.repeats overrides both)
LOCATION = re.compile(r"^(<unknown>:\d+: )?(error: )?(loc\(.*\)\): )?")  # an MLIR converter's location prefix


def reason(error: Exception) -> str:
    """An exporter's or runtime's error as one line: its first non-empty line, without MLIR location noise."""
    message = LOCATION.sub("", str(error).strip())
    return f"{type(error).__name__}: {first_line(RuntimeError(message), 300)}" if message else type(error).__name__


def operator_counts(path) -> dict[str, int]:
    """{op_type: count} of an ONNX file's nodes, those inside subgraphs (Loop, Scan, If bodies) included."""
    import onnx

    counts = Counter()

    def walk(graph):
        for node in graph.node:
            counts[node.op_type] += 1
            for attribute in node.attribute:
                for subgraph in [attribute.g] * attribute.HasField("g") + list(attribute.graphs):
                    walk(subgraph)
    walk(onnx.load(str(path), load_external_data=False).graph)
    return dict(sorted(counts.items()))


def size_bytes(path: Path) -> int:
    """A file's size, or the sum of the files' sizes in a folder (a SavedModel)."""
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
    return path.stat().st_size


def _latency_ms(run, x: np.ndarray, batch: int, repeats: int) -> list[float]:
    """Milliseconds of `repeats` calls on the first `batch` samples, after one untimed warm-up call."""
    sample = np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])) if len(x) < batch else x[:batch])
    run(sample)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(sample)
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def _difference(run, x: np.ndarray, expected: np.ndarray) -> float:
    """The largest |runtime - framework| over the whole batch and over a batch of one (the dynamic batch axis)."""
    whole, single = np.asarray(run(x)), np.asarray(run(x[:1]))
    if whole.shape != expected.shape or single.shape != expected[:1].shape:
        raise ValueError(f"the runtime returned shapes {whole.shape} and {single.shape}; expected "
                         f"{expected.shape} and {expected[:1].shape}")
    return float(max(np.max(np.abs(whole - expected)), np.max(np.abs(single - expected[:1]))))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _put_in_place(temporary: Path, path: Path) -> None:
    """One rename; a folder in the way (a SavedModel the parent allowed to be replaced) is moved aside first."""
    if path.is_dir() and not path.is_symlink():
        aside = path.with_name(f".{uuid.uuid4().hex[:12]}.old.{path.name}")
        os.replace(path, aside)
        os.replace(temporary, path)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(temporary, path)


def _measure(exporter, job: Job, temporary: Path, x: np.ndarray, expected: np.ndarray, log) -> dict:
    """The written file in its runtime: the difference to the framework's own outputs, then latency medians."""
    run = exporter.load_runtime(temporary, job.format)
    difference = _difference(run, x, expected)
    samples = {str(batch): _latency_ms(run, x, batch, job.repeats or REPEATS[batch]) for batch in LATENCY_BATCHES}
    log(f"{job.format}: largest difference {difference:.2g}, batch 1 {statistics.median(samples['1']):.3f} ms")
    return {"max_difference": difference, "within_tolerance": difference <= TOLERANCE,
            "latency_ms": {batch: statistics.median(values) for batch, values in samples.items()},
            "latency_samples_ms": samples}


def make_artifact(job: Job, spec, adapter, log) -> dict:
    """Exports the spec's model (canonical weights from job.canonical_path) as job.format at job.out_path and
    checks it on job.batch_path's x, (N, *input_shape). Returns the result row: status "ok" with path, size_bytes,
    max_difference, latency_ms {"1", "1024"} (medians) and operators (ONNX), or status "unsupported" with reason."""
    exporter = frameworks.load_module(job.framework, "export")
    if job.format not in exporter.FORMATS:
        raise SpecError("--format", f"{job.framework} exports {', '.join(exporter.FORMATS)}; received "
                                    f"{job.format!r}")
    model = adapter.build_model(spec.model, seed=job.seed)
    adapter.set_weights(model, weights_npz.load(job.canonical_path, spec.model))
    with np.load(job.batch_path, allow_pickle=False) as saved:
        x = np.asarray(saved["x"], np.float32)
    expected = np.asarray(adapter.predict(model, x), np.float32)
    path = Path(job.out_path)
    temporary = path.with_name(f".{uuid.uuid4().hex[:12]}.partial.{path.name}")
    row = {"framework": job.framework, "format": job.format}
    try:
        try:
            exporter.export_model(model, job.format, temporary, x)
            row.update(_measure(exporter, job, temporary, x, expected, log))
        except Exception as error:  # the exporter or the runtime refused this model: a fact about the format
            log(f"{job.format}: unsupported ({reason(error)})")
            return {**row, "status": "unsupported", "reason": reason(error)}
        row.update(size_bytes=size_bytes(temporary), path=str(path))
        if job.format == "onnx":
            row["operators"] = operator_counts(temporary)
        _put_in_place(temporary, path)
    finally:
        _remove(temporary)
    return {**row, "status": "ok"}
