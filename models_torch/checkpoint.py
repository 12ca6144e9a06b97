"""A PyTorch run's training state for checkpoints: every tensor that training changes, as numpy arrays.

The twin of models_tf/checkpoint.py. The module's state_dict (parameters and buffers: batch normalization's
running statistics and counters), the optimizer's per-parameter slots and each group's learning rate, and the
global random-number generator's state (the dropout masks come from it), and the trainer's count of updates (a
per-batch schedule's step). A slot torch creates only at the first
step is known in advance from the optimizer's class and settings (SLOTS), so a checkpoint is checked against the
full layout before anything is restored.
"""

import numpy as np
import torch

from harness.core import checkpoint

# optimizer class -> group -> the per-parameter slots it holds after a step (step: a 0-d float32 tensor).
# Adagrad makes its slots when it is built, for every parameter; the others at a parameter's first gradient.
SLOTS = {
    "SGD": lambda group: ["momentum_buffer"] if group["momentum"] != 0 else [],
    "Adam": lambda group: ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else []),
    "AdamW": lambda group: ["step", "exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if group["amsgrad"] else []),
    "RMSprop": lambda group: (["step", "square_avg"] + (["momentum_buffer"] if group["momentum"] > 0 else [])
                              + (["grad_avg"] if group["centered"] else [])),
    "Adagrad": lambda group: ["step", "sum"],
}

EAGER = ("Adagrad",)


def _slot_layout(trainer) -> dict[str, tuple]:
    optimizer, layout, index = trainer.optimizer, {}, 0
    slots = SLOTS.get(type(optimizer).__name__)
    if slots is None:
        raise ValueError(f"no checkpoint layout for the optimizer {type(optimizer).__name__}")
    for number, group in enumerate(optimizer.param_groups):
        layout[f"optimizer/group/{number}/lr"] = ((), np.dtype("float64"))
        for param in group["params"]:
            if param.requires_grad or type(optimizer).__name__ in EAGER:  # a frozen one (second RNN bias): none
                for slot in slots(group):
                    shape = () if slot == "step" else tuple(param.shape)
                    layout[f"optimizer/state/{index}/{slot}"] = (shape, np.dtype("float32" if slot == "step" else
                                                                                 str(param.dtype).split(".")[-1]))
            index += 1
    return layout


def training_layout(trainer) -> dict[str, tuple]:
    """{name: (shape, dtype)} that a checkpoint of this trainer must hold."""
    layout = {f"model/{name}": (tuple(tensor.shape), np.dtype(str(tensor.dtype).split(".")[-1]))
              for name, tensor in trainer.model.state_dict().items()}
    layout["rng/torch"] = ((torch.get_rng_state().numel(),), np.dtype("uint8"))
    layout["trainer/updates"] = ((), np.dtype("int64"))  # drives a per-batch schedule (Keras: its iterations)
    return {**layout, **_slot_layout(trainer)}


def training_state(trainer) -> dict[str, np.ndarray]:
    """{name: array} of the module's state_dict, the optimizer's slots and learning rates, and the RNG state."""
    arrays = {f"model/{name}": tensor.detach().cpu().numpy().copy()
              for name, tensor in trainer.model.state_dict().items()}
    arrays["rng/torch"] = torch.get_rng_state().numpy().copy()
    arrays["trainer/updates"] = np.array(trainer.updates, np.int64)
    saved = trainer.optimizer.state_dict()
    for number, group in enumerate(saved["param_groups"]):
        arrays[f"optimizer/group/{number}/lr"] = np.array(float(group["lr"]), np.float64)
    for index, slots in saved["state"].items():
        for slot, value in slots.items():
            if value is not None:  # SGD without momentum keeps momentum_buffer None
                arrays[f"optimizer/state/{index}/{slot}"] = np.array(value.detach().cpu().numpy())
    return arrays


def restore_training_state(trainer, arrays: dict[str, np.ndarray]) -> None:
    """Loads a checkpoint's arrays (checked against `training_layout` by the caller) into the module, the
    optimizer and the random-number generator."""
    if checkpoint.layout(arrays) != training_layout(trainer):
        raise ValueError("the checkpoint's arrays do not match this model's and optimizer's state")
    trainer.model.load_state_dict({name.removeprefix("model/"): torch.from_numpy(array)
                                   for name, array in arrays.items() if name.startswith("model/")}, strict=True)
    saved = trainer.optimizer.state_dict()
    state: dict = {}
    for name, array in arrays.items():
        if name.startswith("optimizer/state/"):
            _, _, index, slot = name.split("/")
            state.setdefault(int(index), {})[slot] = torch.from_numpy(array.copy())
    for number, group in enumerate(saved["param_groups"]):
        group["lr"] = float(arrays[f"optimizer/group/{number}/lr"])
    trainer.optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    torch.set_rng_state(torch.from_numpy(arrays["rng/torch"].copy()))
    trainer.updates = int(arrays["trainer/updates"])
