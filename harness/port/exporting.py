"""`harness export`: a spec's model with trained weights as deployable files (ONNX, SavedModel, LiteRT,
TorchScript, torch.export), each checked in its own runtime against the framework's own output and timed there.

Every input is checked here, before any worker starts: the weights (a canonical .npz, or the framework's own
.weights.h5 / .pt, converted to canonical arrays first by an "export" job), the frameworks and formats, and every
output path (an existing one is refused unless force; a folder of several artifacts is claimed). Then one worker
job per (framework, format), in a fresh process unless in_process. When both frameworks made ONNX, the ONNX judge
runs both files in one onnxruntime.
"""

import os
from pathlib import Path

import numpy as np

from harness.core import folders, guard, weights_npz
from harness.core.errors import SpecError
from harness.core.imported import probe_batch
from harness.core.overrides import spec_dump
from harness.core.spec import Spec
from harness.jobs.job import Job
from harness.launch import local
from harness.port import onnx_judge

# What each adapter's export module offers (models_*/export.py FORMATS; tests/test_export.py checks they agree).
FORMATS = {"tensorflow": ("onnx", "savedmodel", "tflite"), "torch": ("onnx", "torchscript", "pt2")}
EXTENSIONS = {"onnx": ".onnx", "savedmodel": "_savedmodel", "tflite": ".tflite", "torchscript": ".torchscript.pt",
              "pt2": ".pt2"}
RUNTIMES = {"onnx": "onnxruntime", "savedmodel": "tf.saved_model", "tflite": "ai_edge_litert",
            "torchscript": "torch.jit", "pt2": "torch.export"}
OWN_WEIGHTS = {".weights.h5": "tensorflow", ".pt": "torch"}  # a framework's own weights file, by name ending
SAVEDMODEL_ENTRIES = {"saved_model.pb", "fingerprint.pb", "variables", "assets"}
PROBE_SAMPLES = 1024


def plan(frameworks, formats) -> list[tuple[str, str]]:
    """[(framework, format)] asked for, in order; ("all",) means every format of each framework."""
    frameworks, formats = list(dict.fromkeys(frameworks)), list(dict.fromkeys(formats))
    for framework in frameworks:
        if framework not in FORMATS:
            raise SpecError("--framework", f"expected tensorflow or torch; received {str(framework)[:80]!r}")
    if not frameworks or not formats:
        raise SpecError("--framework" if not frameworks else "--format", "expected at least one; received none")
    if formats == ["all"]:
        return [(framework, fmt) for framework in frameworks for fmt in FORMATS[framework]]
    offered = [fmt for framework in frameworks for fmt in FORMATS[framework]]
    for fmt in formats:
        if fmt not in offered:
            raise SpecError("--format", f"{' and '.join(frameworks)} export {', '.join(dict.fromkeys(offered))} "
                                        f"(or all); received {str(fmt)[:80]!r}")
    return [(framework, fmt) for framework in frameworks for fmt in formats if fmt in FORMATS[framework]]


def _weights_source(spec: Spec, weights: Path):
    """None for a canonical .npz (checked here), else the framework whose own weights file it is."""
    guard.check_file(weights, "--weights", "weights")
    if weights.name.endswith(weights_npz.SUFFIX):
        weights_npz.load(weights, spec.model, "--weights")
        return None
    for suffix, framework in OWN_WEIGHTS.items():
        if weights.name.endswith(suffix):
            return framework
    raise SpecError("--weights", f"expected canonical weights (.npz), a Keras .weights.h5 or a torch .pt file; "
                                 f"received {weights.name[:80]}")


def _check_target(path: Path, fmt: str, force: bool) -> Path:
    """An output path, before any work: a SavedModel is a folder, replaced (with force) only if it is one."""
    if fmt == "savedmodel" and path.is_dir() and not path.is_symlink():
        entries = {item.name for item in path.iterdir()}
        if not force:
            raise SpecError("--out", f"{path} exists; the harness does not overwrite what it may not have written "
                                     f"(remove it, choose another name, or pass --force)")
        if "saved_model.pb" not in entries or not entries <= SAVEDMODEL_ENTRIES:
            raise SpecError("--out", f"{path} is a folder that is not a SavedModel; --force replaces only a "
                                     f"SavedModel folder")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise SpecError("--out", f"cannot write into {path.parent}: permission denied")
        return path
    return folders.check_new_file(path, "--out", force=force)


def targets(spec: Spec, pairs: list, out, force: bool) -> list[Path]:
    """The path of each artifact: `out` itself for one, else `<spec.name>.<framework><ext>` inside the claimed
    folder `out` (the current folder when out is None). All are checked before any is written."""
    names = [f"{spec.name}.{framework}{EXTENSIONS[fmt]}" for framework, fmt in pairs]
    if len(pairs) == 1:
        paths = [Path(out) if out is not None else Path(names[0])]
    else:
        folder = folders.claim(out, "export") if out is not None else Path(".")
        paths = [folder / name for name in names]
    return [_check_target(path, fmt, force) for path, (_, fmt) in zip(paths, pairs)]


def _job(kind: str, spec: Spec, framework: str, work: Path, name: str, **fields) -> Job:
    return Job(kind=kind, spec=spec_dump(spec), framework=framework, seed=spec.seeds[0], threads=1,
               result_path=str(work / f"{name}.json"), label=f"{kind} {name}",
               **{key: str(value) if isinstance(value, Path) else value for key, value in fields.items()})


def _canonical(spec: Spec, weights: Path, framework: str, work: Path, in_process: bool, log) -> Path:
    """The framework's own weights file as canonical arrays (.npz) in the work folder."""
    canonical = work / "canonical.npz"
    job = _job("export", spec, framework, work, f"{framework}-weights", weights_path=weights.resolve(),
               canonical_path=canonical)
    result = local.run(job, work / f"{framework}-weights.job.json", log, in_process)
    if result["status"] != "ok":
        raise local.job_error(result, "--weights", f"{framework} could not read {weights.name}")
    return canonical


def _artifact(spec: Spec, pair: tuple, target: Path, inputs: dict, work: Path, in_process: bool, log) -> dict:
    framework, fmt = pair
    job = _job("artifact", spec, framework, work, f"{framework}-{fmt}", format=fmt, out_path=target.resolve(),
               **inputs)
    result = local.run(job, work / f"{framework}-{fmt}.job.json", log, in_process)
    if result["status"] == "failed" and result.get("error_field"):
        raise local.job_error(result, "--weights", f"{framework} could not export {fmt}")
    row = {"kind": "artifact", "framework": framework, "format": fmt, "runtime": RUNTIMES[fmt], **result}
    if row["status"] == "ok":
        row["path"] = str(target)
        log(f"wrote {target} ({framework} {fmt}, largest difference {row['max_difference']:.2g})")
    return row


def export(spec: Spec, weights, frameworks=("tensorflow",), formats=("onnx",), out=None, force: bool = False,
           in_process: bool = False, log=print, repeats=None) -> list[dict]:
    """Writes one artifact per (framework, format) from `weights` and returns one row each (kind "artifact",
    status ok, unsupported or failed; see harness.jobs.artifact), then a kind "onnx_judge" row (status ok) when
    both frameworks made ONNX. Rows with status ok carry within_tolerance (max_difference <= 1e-5).
    repeats: timed calls per batch size (None: the worker's defaults)."""
    pairs, weights = plan(frameworks, formats), Path(weights)
    source = _weights_source(spec, weights)
    paths = targets(spec, pairs, out, force)
    with folders.work_dir() as work:
        canonical = weights.resolve() if source is None else _canonical(spec, weights, source, work, in_process,
                                                                        log)
        batch = probe_batch(spec.model, spec.seeds[0], samples=PROBE_SAMPLES)
        np.savez(work / "probe.npz", x=batch)
        inputs = {"canonical_path": canonical, "batch_path": work / "probe.npz", "repeats": repeats}
        rows = [_artifact(spec, pair, path, inputs, work, in_process, log) for pair, path in zip(pairs, paths)]
    onnx = {row["framework"]: row["path"] for row in rows if row["format"] == "onnx" and row["status"] == "ok"}
    if len(onnx) == 2:
        verdict = onnx_judge.judge(onnx["tensorflow"], onnx["torch"], batch)
        rows.append({"kind": "onnx_judge", "status": "ok", **verdict})
    return rows


def _size(size_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size_bytes < 1024 or unit == "MiB":
            return f"{size_bytes:,.0f} {unit}" if unit == "B" else f"{size_bytes:,.1f} {unit}"
        size_bytes /= 1024
    return ""


def row_cells(row: dict) -> list[str]:
    """framework, format, runtime, file size, largest difference, latency batch 1 and batch 1024 (ms)."""
    cells = [row["framework"], row["format"], row["runtime"]]
    if row["status"] != "ok":
        return cells + ["-", row["status"], "-", "-"]
    latency, over = row["latency_ms"], "" if row.get("within_tolerance", True) else " (over tolerance)"
    return cells + [_size(row["size_bytes"]), f"{row['max_difference']:.1e}{over}", f"{latency['1']:.3f}",
                    f"{latency['1024']:.2f}"]


HEADER = ["framework", "format", "runtime", "file size", "largest difference vs framework",
          "batch 1 (ms)", "batch 1024 (ms)"]


def format_table(rows: list[dict]) -> str:
    """The export rows as a Markdown table, the reasons for the formats that could not be made, then the ONNX
    judge when there is one."""
    artifacts = [row for row in rows if row.get("kind") != "onnx_judge"]
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * 3 + "---:|" * 4]
    lines += ["| " + " | ".join(row_cells(row)) + " |" for row in artifacts]
    notes = [f"- {row['framework']} {row['format']}: {row['status']}: {row.get('reason') or row.get('error')}"
             for row in artifacts if row["status"] != "ok"]
    judges = [onnx_judge.judge_table(row) for row in rows if row.get("kind") == "onnx_judge"]
    return "\n\n".join(["\n".join(lines)] + (["\n".join(notes)] if notes else []) + judges)
