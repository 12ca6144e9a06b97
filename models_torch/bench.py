"""What `harness bench` needs from PyTorch beyond training: the device, inference calls and a matmul peak.

CUDA work is asynchronous: every timed region ends with `synchronize()` (a no-op on the CPU).
"""

import time

import numpy as np
import torch

from harness.core.errors import Unavailable


def setup_device(device: str, tf32: bool) -> str:
    """TF32 on or off for matmuls and cuDNN, and a check that the device asked for is there. Returns its name."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    if device != "gpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise Unavailable("this PyTorch build sees no GPU (a CPU-only build, or no CUDA device)")
    return f"cuda:0 ({torch.cuda.get_device_name(0)})"


def to_device(model, device: str):
    return model.to("cuda" if device == "gpu" else "cpu")


def synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def inference_function(trainer):
    """One inference call at a time through the trainer's forward (eager or compiled), in eval mode without
    autograd, result copied to the host as Keras' predict_on_batch does. x: (B, *input_shape) -> None."""
    trainer.model.eval()

    @torch.no_grad()
    def infer(x: np.ndarray) -> None:
        trainer.forward(torch.from_numpy(x).to(trainer.device)).cpu()

    return infer


def matmul_gflops(size: int, repeats: int) -> list[float]:
    """GFLOP/s of `repeats` float32 (size, size) @ (size, size) products, 2 size^3 FLOPs each, one warm-up first."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    torch.mm(a, b)
    synchronize()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize()
        rates.append(2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return rates
