"""A finished run's files, from the worker's staging folders into the results folder: its TensorBoard events and
its final weights, each replacing only that run's earlier files (files the harness wrote, by name)."""

import re
import time
from pathlib import Path
from typing import Optional

from harness.core import folders, weights_npz

EVENT_FILES = r"events\.out\.tfevents\..+"  # what both frameworks' TensorBoard writers name their files


def publish_events(staging: Optional[str], finished: bool) -> None:
    """A finished run's staged event files replace that run's earlier ones; an unfinished run's are dropped, so a
    failed rerun leaves the earlier events as they were. Only event files are ever deleted."""
    if not staging:
        return
    staging = Path(staging)
    if finished and staging.is_dir():
        final = staging.with_name(staging.name.removeprefix(".staging-"))
        if final.is_symlink() or (final.exists() and not final.is_dir()):  # not the harness' folder: left alone
            final = final.with_name(f"{final.name}-{time.strftime('%Y%m%dT%H%M%S')}")
        folders.remove_written(final, EVENT_FILES)
        final.mkdir(parents=True, exist_ok=True)
        for path in staging.iterdir():
            if re.fullmatch(EVENT_FILES, path.name):
                path.replace(final / path.name)
    folders.remove_written(staging, EVENT_FILES)


WEIGHTS = "weights"  # the results folder's subfolder of saved weights


def publish_weights(staging: Optional[str], out: Path) -> None:
    """A finished run's staged weights files replace that run's earlier ones in OUT/weights (files the harness
    wrote, named per framework and seed). A weights folder that is a link or a file is not the harness': left
    alone, and the weights are not published."""
    if not staging or not Path(staging).is_dir():
        return
    final = out / WEIGHTS
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        return
    final.mkdir(exist_ok=True)
    for path in Path(staging).iterdir():
        target = final / path.name
        if not target.is_symlink():
            path.replace(target)


def saved_weights(out: Path, planned: list[dict]) -> list[dict]:
    """The manifest's list of saved weights: per planned run whose two files are in OUT/weights."""
    listed = []
    for run in planned:
        own, canonical = weights_npz.run_file_names(run["framework"], run["seed"])
        if all((out / WEIGHTS / name).is_file() for name in (own, canonical)):
            listed.append({"framework": run["framework"], "seed": run["seed"], "file": f"{WEIGHTS}/{own}",
                           "canonical": f"{WEIGHTS}/{canonical}"})
    return listed
