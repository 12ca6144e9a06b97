"""The worker side of `harness import`: read a model file in its own framework, and run a spec's model on a
batch in the other (the proof). Both write .npz files the harness reads back in the parent."""

import numpy as np

from harness.core import shapes, weights_npz
from harness.core.imported import probe_batch
from harness.core.spec import ModelSpec
from harness.jobs import frameworks
from harness.jobs.job import Job


def read_model(job: Job, adapter, log) -> dict:
    """The model file -> its spec model section (in the result), canonical weights (canonical_path) and a probe
    batch with the original's outputs on it (batch_path: x, y). A refused file raises SpecError (one line)."""
    importer = frameworks.load_module(job.framework, "importer")
    imported = importer.read_model_file(job.model_path, field="FILE")
    model = ModelSpec.model_validate(imported.model)
    batch = probe_batch(model, job.seed)
    outputs = np.asarray(imported.run_original(batch), np.float32)
    weights_npz.save(job.canonical_path, model, imported.weights)
    np.savez(job.batch_path, x=batch, y=outputs)
    log(f"read {len(model.layers)} layers, {imported.original_params:,} parameters")
    return {"status": "ok", "model": imported.model, "original_params": imported.original_params,
            "spec_params": shapes.count_params(model), "notes": list(imported.notes)}


def predict(job: Job, spec, adapter, log) -> dict:
    """The spec's model with the canonical weights, in inference mode, on the batch's x -> out_path (y)."""
    model = adapter.build_model(spec.model, seed=job.seed)
    adapter.set_weights(model, weights_npz.load(job.canonical_path, spec.model))
    with np.load(job.batch_path, allow_pickle=False) as saved:
        x = saved["x"]
    np.savez(job.out_path, y=np.asarray(adapter.predict(model, x), np.float32))
    return {"status": "ok", "params": adapter.count_params(model)}
