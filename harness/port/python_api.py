"""`harness.from_keras(model)` and `harness.from_torch(module, input_shape)`: a model in this process -> the spec
and its weights (canonical layout), proven exact in the other framework (a worker process) before they return."""

import numpy as np

from harness.core import weights_npz
from harness.core.folders import work_dir
from harness.core.imported import probe_batch
from harness.core.spec import ModelSpec, Spec
from harness.jobs import frameworks
from harness.port.importing import checked_spec


def _translate(framework: str, model, input_shape, name: str, log) -> tuple[Spec, list[np.ndarray]]:
    imported = frameworks.load_module(framework, "importer").from_model(model, input_shape)
    model_spec = ModelSpec.model_validate(imported.model)
    with work_dir() as work:
        batch = probe_batch(model_spec)
        weights_npz.save(work / "canonical.npz", model_spec, imported.weights)
        np.savez(work / "batch.npz", x=batch, y=np.asarray(imported.run_original(batch), np.float32))
        spec, _, _, _ = checked_spec(imported, name, f"a {type(model).__name__} object", work, log)
    return spec, [np.asarray(w, np.float32) for w in imported.weights]


def from_keras(model, name: str = "imported", log=None) -> tuple[Spec, list[np.ndarray]]:
    """A keras.Sequential -> (the harness Spec around it, its weights in the canonical layout). Raises SpecError
    (one line) for a layer or option without an exact translation."""
    return _translate("tensorflow", model, None, name, log or (lambda line: None))


def from_torch(module, input_shape, name: str = "imported", log=None) -> tuple[Spec, list[np.ndarray]]:
    """An nn.Module (an nn.Sequential, or a module whose forward traces to a chain) and the shape of one sample
    as PyTorch takes it, without the batch axis (e.g. (1, 28, 28)) -> (Spec, canonical weights). The spec's
    input_shape is channels last ((28, 28, 1))."""
    return _translate("torch", module, tuple(input_shape), name, log or (lambda line: None))
