"""`harness parity`: runs each framework's parity trace in its own worker, adds the numpy reference where it
applies, compares, and writes the report. Exit status 0 on PASS, 1 on FAIL."""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.core import data, folders, init, resources, shapes, weights_npz
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.spec import Spec
from harness.jobs import trace
from harness.jobs.job import Job
from harness.launch import local
from harness.parity import report as parity_report
from harness.parity.compare import Comparison, compare


@dataclass
class ParityResult:
    spec: Spec
    dtype: str
    steps: int
    comparisons: list[Comparison]
    conventions: dict
    reference_note: str
    out_dir: Path

    @property
    def passed(self) -> bool:
        return all(comparison.passed for comparison in self.comparisons)


def _reference(spec: Spec) -> tuple[bool, str]:
    from harness.core.reference import supports

    return supports(spec)


def _framework_traces(spec, work: Path, steps: int, dtype: str, threads: int, in_process: bool, log) -> tuple:
    traces, conventions = {}, {}
    for framework in ("tensorflow", "torch"):
        job = Job(kind="parity", spec=spec_dump(spec), framework=framework, seed=spec.seeds[0], threads=threads,
                  dtype=dtype, steps=steps, data_path=str(work / "data.npz"), weights_path=str(work / "weights.npz"),
                  trace_path=str(work / f"{framework}.trace.npz"), result_path=str(work / f"{framework}.json"))
        if in_process:  # a worker process prefixes its own lines
            result = local.run_in_process(job, lambda line, prefix=f"[{framework}]": log(f"{prefix} {line}"))
        else:
            result = local.run_in_subprocess(job, work / f"{framework}.job.json", log)
        if result["status"] != "ok":
            raise RuntimeError(f"{framework} parity worker failed: {result.get('error')}")
        traces[framework] = trace.Trace.load(Path(job.trace_path))
        conventions[framework] = result["optimizer_convention"]
    return traces, conventions


def run_parity(spec: Spec, out_dir=None, *, steps: int = 50, dtype: str | None = None, in_process: bool = False,
               threads: int = 1, allow_large: bool = False, log: Callable[[str], None] = print) -> ParityResult:
    if steps < 1:
        raise SpecError("--steps", f"expected at least 1; received {steps}")
    dtype = dtype or ("bfloat16" if spec.training.precision == "bfloat16" else "float32")
    if dtype not in trace.TOLERANCES:
        raise SpecError("--dtype", f"expected one of {', '.join(trace.TOLERANCES)}; received {dtype!r}")
    resources.check(spec, allow_large=allow_large, dtype_bytes=8 if dtype == "float64" else 4)
    out = folders.claim(Path(out_dir or Path("results") / spec.name / "parity"), "parity")
    dataset = trace.cast_dataset(data.prepare(spec), dtype)
    seed = spec.seeds[0]
    weights = [w.astype("float32" if dtype in trace.MIXED else dtype) for w in weights_npz.starting_weights(spec, seed)]
    log(f"{spec.name}: parity over {steps} steps in {dtype}, batch {data.batch_size_of(spec, dataset.n_train)}, "
        f"seed {seed}")
    with folders.work_dir() as work:
        data.save(dataset, work / "data.npz")
        np.savez(work / "weights.npz", *weights)
        traces, conventions = _framework_traces(spec, work, steps, dtype, threads, in_process, log)
    supported, reference_note = _reference(spec)
    if supported and dtype in trace.MIXED:
        supported, reference_note = False, f"the numpy reference computes in float32 or float64, not {dtype}"
    if supported:
        traces["numpy"] = trace.reference_trace(spec, dataset, weights, steps, dtype, seed)
        conventions["numpy"] = "Keras' update rule, written out in numpy (harness.core.reference)"
    layer_types = [info.type for info in shapes.infer(spec.model)]
    names = [name for name, _, keep in init.canonical_weights(spec.model, seed) if keep]
    pairs = [("tensorflow", "torch")] + ([("tensorflow", "numpy"), ("torch", "numpy")] if supported else [])
    comparisons = [compare(a, traces[a], b, traces[b], layer_types, names, trace.tolerances(spec, dtype))
                   for a, b in pairs]
    result = ParityResult(spec, dtype, steps, comparisons, conventions, reference_note, out)
    parity_report.write(result)
    return result
