"""The PyTorch adapter: the same function names as `models_tf`, in PyTorch."""

import torch

from models_torch.model import build_model, count_params, get_weights, load_weights, predict, save_weights, set_weights
from models_torch.optimizers import optimizer_arguments
from models_torch.train import Trainer, make_trainer
from models_torch.weights_file import read_weights_file, weights_file_layout

__all__ = ["Trainer", "build_model", "configure", "count_params", "get_weights", "make_trainer",
           "load_weights", "optimizer_arguments", "predict", "read_weights_file", "save_weights", "set_weights",
           "versions", "weights_file_layout"]


def configure(threads: int, seed: int) -> dict:
    """Thread counts and the global seed, set before any work. Returns what torch reports back."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already fixed in this process (in-process runs after the first)
        pass
    torch.manual_seed(seed)
    return {"intra_op_threads": torch.get_num_threads(), "inter_op_threads": torch.get_num_interop_threads()}


def versions() -> dict:
    return {"torch": torch.__version__}
