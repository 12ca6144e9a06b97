"""The one message a parent process sends a worker: a typed Job, the same schema for every kind of work.

Built in the parent by `Job(...)`, which validates it, written as JSON next to the worker's other files, and read
back in the worker by `Job.read`. The spec travels as plain data (`harness.core.overrides.spec_dump`) and is
parsed once, in the worker.
"""

import json
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, model_validator

from harness.core import atomic

KINDS = ("train", "parity", "export", "import", "bench", "read_model", "predict", "artifact")
# The fields each kind reads, beyond the ones every job has: a job without one of them is refused when built.
NEEDS = {
    "train": ("data_path",),
    "parity": ("data_path", "weights_path", "trace_path", "dtype", "steps"),
    "export": ("weights_path", "canonical_path"),
    "import": ("canonical_path", "out_path"),
    "read_model": ("model_path", "canonical_path", "batch_path"),
    "predict": ("canonical_path", "batch_path", "out_path"),
    "artifact": ("canonical_path", "batch_path", "format", "out_path"),
    "bench": ("data_path", "device", "tf32", "execution", "repeats", "warmup_steps", "large_batch", "infer_calls",
              "matmul_size"),
}


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal[KINDS] = "train"
    framework: str
    seed: int
    threads: int
    spec: Optional[dict] = None             # the spec as plain data, parsed once in the worker (all but read_model)
    result_path: str                        # where the worker writes its result (JSON, atomically)
    label: Optional[str] = None             # the log prefix, when "[framework seed N]" does not say enough
    environment: dict[str, str] = {}        # set before any framework is imported (threads, visible devices)
    data_path: Optional[str] = None         # the prepared data (.npz, harness.core.data.save)
    weights_path: Optional[str] = None      # initial weights (.npz), or the framework's own file to export
    tensorboard_dir: Optional[str] = None   # train: the run's TensorBoard staging folder
    weights_dir: Optional[str] = None       # train: where the final weights are staged (own format and .npz)
    checkpoint_path: Optional[str] = None   # train: the run's checkpoint file (training.checkpoint_every > 0)
    run_key: Optional[str] = None           # train: the run's store key, which its checkpoint names
    resume: bool = False                    # train: start from the checkpoint at checkpoint_path
    trace_path: Optional[str] = None        # parity: where the trace goes
    dtype: Optional[str] = None             # parity: float32 or float64
    steps: Optional[int] = None             # parity: steps traced; bench: steps per timed repeat (None: an epoch)
    canonical_path: Optional[str] = None    # export/import/read_model/predict/artifact: the canonical arrays (.npz)
    out_path: Optional[str] = None          # import: the weights file to write; predict: outputs; artifact: the file
    model_path: Optional[str] = None        # read_model: the Keras or PyTorch model file to import
    batch_path: Optional[str] = None        # read_model (written), predict/artifact (read): probe batch (.npz)
    format: Optional[str] = None            # artifact: onnx, savedmodel, tflite, torchscript, pt2
    device: Optional[str] = None            # bench: cpu or gpu
    tf32: Optional[bool] = None             # bench
    execution: Optional[dict] = None        # bench: the adapter's execution settings for the mode
    repeats: Optional[int] = None           # bench
    warmup_steps: Optional[int] = None      # bench
    large_batch: Optional[int] = None       # bench
    infer_calls: Optional[int] = None       # bench
    matmul_size: Optional[int] = None       # bench
    interleave: bool = False                # bench: take turns with the other workers (harness.launch.turns)
    launched_at: Optional[float] = None     # bench: time.time() when the process was started

    @model_validator(mode="after")
    def _has_what_its_kind_reads(self):
        needs = NEEDS[self.kind] + (() if self.kind == "read_model" else ("spec",))
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.kind} job needs {', '.join(missing)}")
        return self

    @property
    def prefix(self) -> str:
        """The prefix of the worker's log lines."""
        return f"[{self.label}]" if self.label else f"[{self.framework} seed {self.seed}]"

    def with_(self, **changes) -> "Job":
        """A copy with some fields changed, validated again."""
        return Job(**{**self.model_dump(), **changes})

    def write(self, path: Path) -> None:
        atomic.write_json(path, self.model_dump(mode="json"))

    @classmethod
    def read(cls, path) -> "Job":
        """A job file the harness wrote (in the parent) for this worker."""
        return cls.model_validate(json.loads(Path(path).read_text()))
