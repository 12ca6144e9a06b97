"""An ONNX file in onnxruntime on one CPU thread: the one session both adapters' exports and the ONNX judge run.

onnxruntime is neither framework, so the core may hold it; it is imported only when a session is made.
"""

import numpy as np


def onnx_runner(path):
    """A callable (N, *input_shape) float32 -> the file's first output, in an onnxruntime CPU session with one
    intra-op and one inter-op thread (latencies compare formats, not thread pools)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]
