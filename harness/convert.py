"""Moving trained weights between the two frameworks: Keras .weights.h5 <-> torch .pt, through the canonical
layout. Each side runs in its own worker process (job kinds "export" and "import"); a round trip is exact."""

import tempfile
from pathlib import Path

from harness import registry, runner
from harness.errors import SpecError
from harness.spec import Spec

SUFFIXES = {"tensorflow": ".weights.h5", "torch": ".pt"}


def _check_path(path: Path, framework: str, field: str) -> None:
    if not path.name.endswith(SUFFIXES[framework]):
        raise SpecError(field, f"a {framework} weights file must end in {SUFFIXES[framework]}; received {path.name}")


def _job(kind: str, spec: Spec, framework: str, work: Path, **paths) -> dict:
    return {"kind": kind, "spec": runner.spec_dump(spec), "framework": framework, "seed": spec.seeds[0],
            "threads": 1, "result_path": str(work / f"{kind}.json"), **{k: str(v) for k, v in paths.items()}}


def convert(spec: Spec, source: str, weights_path, out_path, in_process: bool = False, log=print) -> Path:
    """Reads `weights_path` (the source framework's own file for `spec`'s model) and writes the same weights as
    the other framework's file at `out_path`. Returns out_path."""
    registry.get(registry.FRAMEWORKS, source, "framework")
    target = "torch" if source == "tensorflow" else "tensorflow"
    weights_path, out_path = Path(weights_path), Path(out_path)
    if not weights_path.is_file():
        raise SpecError("--weights", f"file not found: {weights_path}")
    _check_path(weights_path, source, "--weights")
    _check_path(out_path, target, "--out")
    with tempfile.TemporaryDirectory(prefix="harness-convert-") as work:
        work = Path(work)
        canonical = work / "canonical.npz"
        for kind, framework, paths in (("export", source, {"weights_path": weights_path, "canonical_path": canonical}),
                                       ("import", target, {"canonical_path": canonical, "out_path": out_path})):
            job = _job(kind, spec, framework, work, **paths)
            result = (runner.run_in_process(job, log) if in_process
                      else runner.run_in_subprocess(job, work / f"{kind}.job.json", log))
            if result["status"] != "ok":
                raise RuntimeError(f"{framework} {kind} failed: {result.get('error')}")
    log(f"wrote {out_path} ({target}) from {weights_path} ({source})")
    return out_path
