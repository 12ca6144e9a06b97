"""What `harness bench` needs from Keras beyond training: the device, inference calls and a matmul peak.

Written with `keras.ops` so that `models_keras_torch` reuses it on the PyTorch backend; only the device set-up
is TensorFlow's own. Every timed call here returns host numbers (numpy), which waits for the device.
"""

import time

import keras
import numpy as np

from harness.core.errors import Unavailable


def setup_device(device: str, tf32: bool) -> str:
    """Before the first op: TF32 on or off, and a check that the device asked for is there. Returns its name.
    device 'cpu' has already hidden every GPU from the process (CUDA_VISIBLE_DEVICES='')."""
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(tf32)
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:  # the other runs' processes share the GPU while they wait their turn: no grabbing it all
        tf.config.experimental.set_memory_growth(gpu, True)
    if device == "gpu" and not gpus:
        raise Unavailable("this TensorFlow build sees no GPU (tensorflow-cpu, or no CUDA libraries)")
    return gpus[0].name if device == "gpu" else "cpu"


def to_device(model, device: str):
    return model  # Keras places variables on the visible GPU by itself


def synchronize() -> None:
    """Nothing to wait for: every timed Keras call here already returns numpy arrays."""


def inference_function(trainer):
    """One inference call at a time, the compiled way (the trainer's mode: eager, graph or XLA), result on the host.
    x: (B, *input_shape) -> None."""
    return lambda x: trainer.model.predict_on_batch(x)


def matmul_gflops(size: int, repeats: int) -> list[float]:
    """GFLOP/s of `repeats` float32 (size, size) @ (size, size) products, 2 size^3 FLOPs each, one warm-up first.
    The product is summed to one host number, which waits for it (the sum is size^2, negligible next to size^3)."""
    rng = np.random.default_rng(0)
    a = keras.ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
    b = keras.ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32))
    float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, b))))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        float(keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, b))))
        rates.append(2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return rates
