"""Which runs of `harness run` write checkpoints, and which resume from one (`--resume`).

A run's checkpoint is OUT/checkpoints/<run key>.npz (harness.core.checkpoint), written every
`training.checkpoint_every` epochs by the worker and removed once the run has finished and its record is stored.
`--resume` continues each unfinished run from its checkpoint; a checkpoint of another spec cannot be there under
the same key, and one that is damaged is refused with one line before any training starts.
"""

from pathlib import Path
from typing import Callable

from harness.core import checkpoint
from harness.core.errors import SpecError
from harness.core.spec import Spec

FOLDER = "checkpoints"


def folder_of(out: Path) -> Path:
    """OUT/checkpoints, refused when it is not a folder the harness may write into (a link, a file)."""
    folder = Path(out) / FOLDER
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise SpecError("--out", f"{folder} is a link or a file, not the harness' checkpoints folder; move it "
                                 f"away, or set training.checkpoint_every: 0")
    return folder


def plan(spec: Spec, out: Path, todo: list[dict], resume: bool, log: Callable[[str], None]) -> dict:
    """{(framework, seed): (run key, checkpoint file, resume from it)} for the runs in `todo` (planned runs
    {key, framework, seed}); empty when the spec writes no checkpoints."""
    if spec.training.checkpoint_every == 0:
        if resume:
            log("note: --resume: training.checkpoint_every is 0, so there are no checkpoints; unfinished runs "
                "start from epoch 1")
        return {}
    folder, planned = folder_of(out), {}
    for run in todo:
        path = folder / f"{run['key']}.npz"
        found = path.is_file() and not path.is_symlink()
        name = f"{run['framework']} seed {run['seed']}"
        if found and resume:
            epochs = len(checkpoint.read_loop(path, run["key"], "--resume").get("rows") or [])
            log(f"{name}: resumes from its checkpoint after epoch {epochs}")
        elif found:
            log(f"note: {name} starts from epoch 1 and replaces its checkpoint (--resume continues from it)")
        elif resume:
            log(f"note: {name} has no checkpoint: it starts from epoch 1")
        planned[(run["framework"], run["seed"])] = (run["key"], path, found and resume)
    return planned


def drop(planned: dict, run_id: tuple) -> None:
    """Removes a finished run's checkpoint: a file the harness named and wrote (a link there is left alone)."""
    if run_id in planned:
        path = planned[run_id][1]
        if path.is_file() and not path.is_symlink():
            path.unlink()
