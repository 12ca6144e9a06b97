"""Moving trained weights between the two frameworks: Keras .weights.h5 <-> torch .pt, through the canonical
layout. Each side runs in its own worker process (job kinds "export" and "import"); a round trip is exact.

The weights file is checked on the reading side (models_*/weights_file.py: readable, nothing but tensors, exactly
the spec's model's names and shapes), and the output is written under a temporary name and renamed, so a failed
conversion is one SpecError line and leaves no file behind.
"""

import re
from pathlib import Path

from harness.core import folders, guard, registry
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.spec import Spec
from harness.jobs.job import Job
from harness.launch import local

SUFFIXES = {"tensorflow": ".weights.h5", "torch": ".pt"}
EXCEPTION_NAME = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")  # "RuntimeError: " at the start of a worker's error


def _check_path(path: Path, framework: str, field: str) -> None:
    if not path.name.endswith(SUFFIXES[framework]):
        raise SpecError(field, f"a {framework} weights file must end in {SUFFIXES[framework]}; received {path.name}")


def _failure(kind: str, framework: str, result: dict) -> SpecError:
    """A failed job as the one line the CLI prints: a refused file names its field as the worker said; any other
    failure names the file that side was handling, without the exception's type or traceback."""
    error = result.get("error") or "no error message"
    if result.get("error_field"):
        return SpecError(result["error_field"], error.removeprefix(f"{result['error_field']}: "))
    field, action = ("--weights", "read") if kind == "export" else ("--out", "write")
    return SpecError(field, f"{framework} could not {action} it: {EXCEPTION_NAME.sub('', error)}")


def _job(kind: str, spec: Spec, framework: str, work: Path, **paths) -> Job:
    return Job(kind=kind, spec=spec_dump(spec), framework=framework, seed=spec.seeds[0], threads=1,
               result_path=str(work / f"{kind}.json"), **{k: str(v) for k, v in paths.items()})


def convert(spec: Spec, source: str, weights_path, out_path, in_process: bool = False, force: bool = False,
            log=print) -> Path:
    """Reads `weights_path` (the source framework's own file for `spec`'s model) and writes the same weights as
    the other framework's file at `out_path`, which must not exist unless `force`. Returns out_path."""
    if source not in registry.FRAMEWORKS:
        raise SpecError("--from", f"expected one of {', '.join(registry.FRAMEWORKS)}; received {str(source)[:80]!r}")
    target = "torch" if source == "tensorflow" else "tensorflow"
    weights_path, out_path = Path(weights_path), Path(out_path)
    guard.check_file(weights_path, "--weights", "weights")
    _check_path(weights_path, source, "--weights")
    _check_path(out_path, target, "--out")
    folders.check_new_file(out_path, "--out", force=force)
    with folders.work_dir() as work:
        canonical = work / "canonical.npz"
        for kind, framework, paths in (("export", source, {"weights_path": weights_path, "canonical_path": canonical}),
                                       ("import", target, {"canonical_path": canonical, "out_path": out_path})):
            job = _job(kind, spec, framework, work, **paths)
            result = local.run(job, work / f"{kind}.job.json", log, in_process)
            if result["status"] != "ok":
                raise _failure(kind, framework, result)
    log(f"wrote {out_path} ({target}) from {weights_path} ({source})")
    return out_path
