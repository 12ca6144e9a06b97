"""`harness import FILE`: a Keras or PyTorch model file -> a spec (YAML) and its weights (.npz, canonical layout),
with the proof that the translation is exact.

The file is read in a worker of its own framework (models_tf/importer.py or models_torch/importer.py: checked
before the framework touches it, nothing from it executed), which also runs the original model on a probe batch.
A worker of the other framework then builds the spec's model with the imported weights and runs the same batch:
the largest difference must be within float32 round-off (harness.core.imported.TOLERANCE), or nothing is written.
"""

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from harness.core import atomic, folders, guard
from harness.core.errors import SpecError
from harness.core.imported import TOLERANCE, Imported, spec_name, spec_of
from harness.core.spec import Spec
from harness.core.validate import parse_spec
from harness.jobs.job import Job
from harness.launch import local

# file suffix -> the framework whose importer reads it; .pt/.pth go to torch's, which says what to save instead
SOURCES = {".keras": "tensorflow", ".h5": "tensorflow", ".hdf5": "tensorflow", ".pt2": "torch", ".pt": "torch",
           ".pth": "torch"}
OTHER = {"tensorflow": "torch", "torch": "tensorflow"}


@dataclass
class Proof:
    spec: Spec
    spec_path: Path
    weights_path: Path
    original_params: int
    spec_params: int
    difference: float     # largest |other framework's output - original's| on the probe batch (PROBE_SAMPLES)
    source: str
    notes: list


def source_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SOURCES:
        raise SpecError("FILE", f"expected a Keras model (.keras, or a legacy .h5) or a PyTorch program saved "
                                f"with torch.export.save (.pt2); received {path.name}")
    return SOURCES[suffix]


def _run(job: Job, work: Path, log, in_process: bool) -> dict:
    result = local.run(job, work / f"{job.kind}-{job.framework}.job.json", log, in_process)
    if result["status"] != "ok":
        raise local.job_error(result, "FILE", f"{job.framework} could not read it")
    return result


def _read(path: Path, source: str, work: Path, log, in_process: bool) -> dict:
    job = Job(kind="read_model", framework=source, seed=0, threads=1, label=f"import {source}",
              result_path=str(work / "read_model.json"), model_path=str(path.resolve()),
              canonical_path=str(work / "canonical.npz"), batch_path=str(work / "batch.npz"))
    return _run(job, work, log, in_process)


def prove(spec: Spec, canonical: Path, batch: Path, framework: str, work: Path, log=print,
          in_process: bool = False) -> float:
    """The largest |difference| between the batch's recorded outputs (y) and `framework`'s model built from the
    spec with the canonical weights, on the batch's x."""
    from harness.core.overrides import spec_dump

    out = work / f"outputs-{framework}.npz"
    job = Job(kind="predict", framework=framework, seed=0, threads=1, spec=spec_dump(spec), label=f"proof {framework}",
              result_path=str(work / f"predict-{framework}.json"), canonical_path=str(canonical),
              batch_path=str(batch), out_path=str(out))
    _run(job, work, log, in_process)
    with np.load(batch, allow_pickle=False) as recorded, np.load(out, allow_pickle=False) as found:
        if recorded["y"].shape != found["y"].shape:
            raise SpecError("FILE", f"the spec's model gives outputs of shape {found['y'].shape[1:]}, the original "
                                    f"{recorded['y'].shape[1:]}: the translation is not exact (a harness bug)")
        return float(np.max(np.abs(recorded["y"].astype(np.float64) - found["y"])))


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10 ** 6, sort_keys=False).strip()


def spec_yaml(spec: dict, comments: list[str]) -> str:
    """The spec as YAML under its comments (wrapped), one line per layer as the experiments/ files are written."""
    head = "".join(f"# {part}\n" for line in comments
                   for part in textwrap.wrap(line, 116, subsequent_indent="  " if line.startswith("- ") else ""))
    lines = []
    for key, value in spec.items():
        if key == "model":
            lines += ["model:", f"  input_shape: {_flow(value['input_shape'])}", "  layers:"]
            lines += [f"    - {_flow(layer)}" for layer in value["layers"]]
        else:
            lines.append(f"{key}: {_flow(value)}" if isinstance(value, (dict, list)) else
                         yaml.safe_dump({key: value}, width=10 ** 6, sort_keys=False).strip())
    return head + "\n".join(lines) + "\n"


def _outputs(out: Path, name: str, force: bool) -> tuple[Path, Path]:
    """NAME.yaml and NAME.weights.npz in `out`, refused before any work if either exists (unless force)."""
    paths = out / f"{name}.yaml", out / f"{name}.weights.npz"
    for path in paths:
        folders.check_new_file(path, "--out", force=force)
    return paths


def _write(out: Path, name: str, text: str, canonical: Path, force: bool) -> tuple[Path, Path]:
    spec_path, weights_path = _outputs(out, name, force)
    atomic.write_bytes(weights_path, canonical.read_bytes())
    atomic.write_text(spec_path, text)
    return spec_path, weights_path


def checked_spec(imported: Imported, name: str, origin: str, work: Path, log=print,
                 in_process: bool = False) -> tuple[Spec, dict, list[str], float]:
    """(the spec, its plain data, its YAML comments, the proof's largest difference) for an imported model whose
    canonical weights and probe batch (with the original's outputs) are in `work`; refused if not exact."""
    spec_data, comments = spec_of(imported, name, origin)
    spec = parse_spec(spec_data)
    other = OTHER[imported.source]
    difference = prove(spec, work / "canonical.npz", work / "batch.npz", other, work, log, in_process)
    if not difference <= TOLERANCE:
        raise SpecError("FILE", f"the {other} model built from the translated spec differs from the original by "
                                f"{difference:.3g} (more than {TOLERANCE:g}): the translation is not exact, so "
                                f"nothing was written (a harness bug: please report it with the model)")
    return spec, spec_data, comments, difference


def import_file(path, out=None, force: bool = False, in_process: bool = False, log=print) -> Proof:
    """Reads the model file, proves the spec exact in the other framework, writes NAME.yaml and NAME.weights.npz
    into `out` (default results/<name>/import). Refuses with one SpecError line; a failed proof writes nothing."""
    path = guard.check_file(path, "FILE", "weights")
    source = source_of(path)
    name = spec_name(path.name.split(".")[0])
    out = folders.claim(Path(out) if out else Path("results") / name / "import", "import")
    _outputs(out, name, force)
    with folders.work_dir() as work:
        read = _read(path, source, work, log, in_process)
        imported = Imported(model=read["model"], weights=[], source=source, original_params=read["original_params"],
                            notes=read["notes"])
        _, spec_data, comments, difference = checked_spec(imported, name, path.name, work, log, in_process)
        spec_data = {**spec_data, "init_weights": f"{name}.weights.npz"}  # next to the spec file
        comments.append("- init_weights: every run of both frameworks starts from the imported weights; remove the "
                        "line to start from fresh matched weights instead")
        spec = parse_spec(spec_data)
        text = spec_yaml(spec_data, comments)
        if parse_spec(yaml.safe_load(text)) != spec:  # the file says what was proven
            raise RuntimeError("the written spec does not read back as the proven one")
        spec_path, weights_path = _write(out, name, text, work / "canonical.npz", force)
    return Proof(spec, spec_path, weights_path, read["original_params"], read["spec_params"], difference, source,
                 read["notes"])
