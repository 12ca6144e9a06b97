"""Moving trained weights between the two frameworks: Keras .weights.h5 <-> torch .pt, through the canonical
layout, which is a third format (.npz, harness.core.weights_npz: what `harness import` and `harness run` write).
Each framework's side runs in its own worker process (job kinds "export" and "import"); a round trip is exact.

The weights file is checked on the reading side (models_*/weights_file.py: readable, nothing but tensors, exactly
the spec's model's names and shapes), and the output is written under a temporary name and renamed, so a failed
conversion is one SpecError line and leaves no file behind.
"""

from pathlib import Path

from harness.core import atomic, folders, guard, registry, weights_npz
from harness.core.errors import SpecError
from harness.core.overrides import spec_dump
from harness.core.spec import Spec
from harness.jobs.job import Job
from harness.launch import local

SUFFIXES = {**registry.WEIGHTS_SUFFIXES, "canonical": weights_npz.SUFFIX}
SOURCES = (*registry.FRAMEWORKS, "canonical")


def _check_path(path: Path, framework: str, field: str) -> None:
    if not path.name.endswith(SUFFIXES[framework]):
        raise SpecError(field, f"a {framework} weights file must end in {SUFFIXES[framework]}; received {path.name}")


def _target(source: str, out_path: Path) -> str:
    """The format --out names: canonical for .npz; else the other framework (either one from canonical)."""
    if out_path.name.endswith(weights_npz.SUFFIX):
        return "canonical"
    if source != "canonical":
        return "torch" if source == "tensorflow" else "tensorflow"
    for framework, suffix in registry.WEIGHTS_SUFFIXES.items():
        if out_path.name.endswith(suffix):
            return framework
    raise SpecError("--out", f"from canonical weights, expected a .weights.h5 (tensorflow) or .pt (torch) file name; "
                             f"received {out_path.name}")


def _failure(kind: str, framework: str, result: dict) -> SpecError:
    """A failed job names the file that side was handling (or the field the worker refused)."""
    field, action = ("--weights", "read") if kind == "export" else ("--out", "write")
    return local.job_error(result, field, f"{framework} could not {action} it")


def _job(kind: str, spec: Spec, framework: str, work: Path, **paths) -> Job:
    return Job(kind=kind, spec=spec_dump(spec), framework=framework, seed=spec.seeds[0], threads=1,
               result_path=str(work / f"{kind}.json"), **{k: str(v) for k, v in paths.items()})


def _step(kind: str, framework: str, spec: Spec, work: Path, in_process: bool, log, **paths) -> None:
    result = local.run(_job(kind, spec, framework, work, **paths), work / f"{kind}.job.json", log, in_process)
    if result["status"] != "ok":
        raise _failure(kind, framework, result)


def convert(spec: Spec, source: str, weights_path, out_path, in_process: bool = False, force: bool = False,
            log=print) -> Path:
    """Reads `weights_path` (the source framework's own file for `spec`'s model, or canonical weights) and writes
    the same weights at `out_path` (the other framework's file, or canonical .npz), which must not exist unless
    `force`. Returns out_path."""
    if source not in SOURCES:
        raise SpecError("--from", f"expected one of {', '.join(SOURCES)}; received {str(source)[:80]!r}")
    weights_path, out_path = Path(weights_path), Path(out_path)
    target = _target(source, out_path)
    guard.check_file(weights_path, "--weights", "weights")
    _check_path(weights_path, source, "--weights")
    _check_path(out_path, target, "--out")
    if target == source:
        raise SpecError("--out", f"{out_path.name} is {source} weights, as --weights is: nothing to convert")
    folders.check_new_file(out_path, "--out", force=force)
    with folders.work_dir() as work:
        canonical = work / "canonical.npz"
        if source == "canonical":
            weights_npz.save(canonical, spec.model, weights_npz.load(weights_path, spec.model, "--weights"))
        else:
            _step("export", source, spec, work, in_process, log, weights_path=weights_path, canonical_path=canonical)
        if target == "canonical":
            atomic.write_bytes(out_path, canonical.read_bytes())
        else:
            _step("import", target, spec, work, in_process, log, canonical_path=canonical, out_path=out_path)
    log(f"wrote {out_path} ({target}) from {weights_path} ({source})")
    return out_path
