"""`harness bench` on Keras' PyTorch backend: Keras' inference calls and `keras.ops` matmul (run by torch), with
torch's device set-up. KERAS_TORCH_DEVICE, set by the bench before Keras was imported, placed the variables."""

from models_tf.bench import inference_function, matmul_gflops, to_device
from models_torch.bench import setup_device, synchronize

__all__ = ["inference_function", "matmul_gflops", "setup_device", "synchronize", "to_device"]
