"""The Keras model as a deployable file, and that file run in its own runtime: ONNX (tf2onnx, run by onnxruntime),
a TensorFlow SavedModel (run by TensorFlow) and LiteRT (.tflite, run by ai_edge_litert). The twin of
models_torch/export.py.

Every export keeps the batch axis dynamic (the Keras input's None), so one file runs batch 1 and batch 1024.
Every runtime runs on one CPU thread, so latencies compare formats, not thread pools.
"""

import contextlib
import io

import numpy as np

from harness.core.onnx_runtime import onnx_runner

FORMATS = ("onnx", "savedmodel", "tflite")
KERAS_FORMATS = {"onnx": "onnx", "savedmodel": "tf_saved_model", "tflite": "litert"}


def _options(fmt: str) -> dict:
    if fmt != "tflite":
        return {}
    import tensorflow as tf

    return {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}


def export_model(model, fmt: str, path, sample: np.ndarray) -> None:
    """Writes the model (inference mode) as `fmt` at `path` (a file; a folder for savedmodel; .tflite must end the
    name). `sample` (N, *input_shape) is only a shape witness here: Keras takes the input signature from the model,
    with a None batch axis."""
    model(sample[:1], training=False)  # the model must have been called once before Keras exports it
    with contextlib.redirect_stdout(io.StringIO()):  # tf2onnx and the converters narrate every step
        model.export(str(path), format=KERAS_FORMATS[fmt], verbose=False, **_options(fmt))


def _savedmodel(path):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # held by the closure: `.serve` needs its variables alive

    def run(x):
        return np.asarray(loaded.serve(tf.constant(x, tf.float32)))
    return run


def _tflite(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    allocated = [None]  # the input shape the tensors are allocated for

    def run(x):
        x = np.ascontiguousarray(x, np.float32)
        if allocated[0] != x.shape:
            interpreter.resize_tensor_input(source, list(x.shape), strict=False)
            interpreter.allocate_tensors()
            allocated[0] = x.shape
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(target))
    return run


RUNTIMES = {"onnx": onnx_runner, "savedmodel": _savedmodel, "tflite": _tflite}


def load_runtime(path, fmt: str):
    """The exported file in its runtime: a callable (N, *input_shape) float32 -> (N, units) float32."""
    return RUNTIMES[fmt](path)
