"""How much memory an experiment will need, estimated from the spec before anything is allocated.

The estimate adds, per worker process: a framework's own footprint (FRAMEWORK_BYTES, about what a loaded
TensorFlow or PyTorch process takes here), the prepared data, the model's weights, gradients and optimizer state,
and the activations of one training batch (forward values kept for the backward pass, and their gradients); and,
in the driver, the data while it is prepared (float64, a few copies) and the initial weights. Beyond the memory
the machine has available the run is refused with the estimate in the message; `--allow-large` runs it anyway.
It is an estimate, meant to stop a `units: 1000000000` before it takes the machine down, not to predict RSS.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from harness.core import guard, shapes
from harness.core.errors import SpecError
from harness.core.spec import Spec

GIB = 1024 ** 3
FRAMEWORK_BYTES = 1 * GIB
DRIVER_DATA_COPIES = 6   # float64 while splitting and scaling, with a copy or two
WORKER_DATA_COPIES = 2   # the loaded arrays and the framework's tensors
ACTIVATION_COPIES = 3    # forward values, their gradients, and the kernels' temporaries

# Samples (train + validation + test) of the datasets whose size the spec does not give.
DATASET_SAMPLES = {"mnist1d": 5000, "digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569,
                   "diabetes": 442, "sunspots": 309, "co2": 2284}
SYNTHETIC = ("blobs", "regression")  # generated with n_features columns, whatever the model's input shape
# Optimizer state tensors per parameter tensor.
_SLOTS = {"sgd": lambda o: 1 if o.momentum > 0 else 0,
          "adam": lambda o: 3 if o.amsgrad else 2, "adamw": lambda o: 3 if o.amsgrad else 2,
          "rmsprop": lambda o: 1 + (o.momentum > 0) + o.centered, "adagrad": lambda o: 1}


@dataclass(frozen=True)
class Estimate:
    parameters: int
    samples: int
    model_bytes: int        # weights, gradients, optimizer state and a canonical copy, one process
    activation_bytes: int   # one training batch, one process
    data_bytes: int         # the prepared arrays, one copy
    peak_bytes: int         # the whole experiment at its peak
    extra_bytes: int = 0    # more per process (the bench's matmul operands)

    def text(self) -> str:
        extra = f"; matmul operands {_gib(self.extra_bytes)} per process" if self.extra_bytes else ""
        return (f"estimated peak memory {_gib(self.peak_bytes)} ({self.parameters:,} parameters: "
                f"{_gib(self.model_bytes)} with gradients and optimizer state; activations of one batch "
                f"{_gib(self.activation_bytes)}; data {_gib(self.data_bytes)} for {self.samples:,} samples{extra})")


def _gib(size: float) -> str:
    return f"{size / GIB:.2f} GiB" if size >= GIB / 100 else f"{size / 1024 ** 2:.1f} MiB"


def _samples(spec: Spec) -> int:
    """The dataset's sample count, known, given by the spec, or bounded from the file size (csv, npz)."""
    data = spec.data
    if data.dataset in DATASET_SAMPLES:
        return DATASET_SAMPLES[data.dataset]
    if data.dataset in ("csv", "npz"):
        size = guard.check_file(data.path, "data.path", "data").stat().st_size  # the size cap says it first
        values = max(1, math.prod(spec.model.input_shape))
        return max(1, size // (2 * values if data.dataset == "csv" else 4 * values))  # "1," is 2 bytes a value
    return data.n_samples


def available_bytes() -> int:
    """MemAvailable from /proc/meminfo; the physical memory where that is missing."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def estimate(spec: Spec, *, samples: Optional[int] = None, parallel: int = 1, dtype_bytes: int = 4,
             infer_batch: Optional[int] = None, extra_bytes: int = 0) -> Estimate:
    """samples: the real count once the data is prepared; parallel: worker processes alive at once; infer_batch:
    the largest inference batch (default: the eval batch, at most the data); extra_bytes: more per worker (the
    bench's matmul operands)."""
    infos = shapes.infer(spec.model)
    parameters = sum(info.params + info.non_trainable for info in infos)
    samples = _samples(spec) if samples is None else samples
    batch = samples if spec.training.batch_size == "full" else min(spec.training.batch_size, max(samples, 1))
    values_per_sample = sum(math.prod(info.output_shape) for info in infos)
    widest = max(math.prod(info.output_shape) for info in infos)
    slots = _SLOTS[spec.optimizer.type](spec.optimizer)
    model_bytes = parameters * dtype_bytes * (3 + slots)
    infer_batch = infer_batch or min(spec.training.eval_batch_size, samples)
    activation_bytes = max(batch * values_per_sample * ACTIVATION_COPIES, infer_batch * widest * 2) * dtype_bytes
    features = max(math.prod(spec.model.input_shape), spec.data.n_features if spec.data.dataset in SYNTHETIC else 0)
    data_bytes = samples * (features + math.prod(infos[-1].output_shape)) * dtype_bytes
    driver = data_bytes * DRIVER_DATA_COPIES + parameters * dtype_bytes
    worker = FRAMEWORK_BYTES + data_bytes * WORKER_DATA_COPIES + model_bytes + activation_bytes + extra_bytes
    return Estimate(parameters, samples, model_bytes, activation_bytes, data_bytes, driver + parallel * worker,
                    extra_bytes)


def check(spec: Spec, *, allow_large: bool = False, samples: Optional[int] = None, parallel: int = 1,
          dtype_bytes: int = 4, limit: Optional[int] = None, **more) -> Estimate:
    """The estimate, or the one-line refusal when it exceeds `limit` (default: the memory available now).
    more: infer_batch, extra_bytes, as `estimate` takes them."""
    found = estimate(spec, samples=samples, parallel=parallel, dtype_bytes=dtype_bytes, **more)
    limit = available_bytes() if limit is None else limit
    if found.peak_bytes > limit and not allow_large:
        where = f" with {parallel} worker processes at once" if parallel > 1 else ""
        data_heavier = found.data_bytes * DRIVER_DATA_COPIES > found.model_bytes + found.activation_bytes
        field = "data" if data_heavier else "model"
        raise SpecError(field, f"{found.text()}{where} exceeds the {_gib(limit)} of memory available; "
                                 f"shrink the model, the batch or the data, or pass --allow-large to run it anyway")
    return found
