"""The `compiled_step` mode: one training step (forward, loss, penalty, backward, clipping, optimizer update) as
one torch.compile graph.

An eager step is about 90 ATen calls of a few microseconds each (benchmarks/torch_step_profile.py); compiling
only the model's forward (`compile` mode) leaves the backward and the optimizer eager. Here the parameters are
functional (torch.func.grad_and_value over functional_call), so the backward is traced with the forward, and the
update is the stock optimizer's rule written as tensor operations (models_torch/step_rules.py) applied in place to
the module's parameters and the optimizer's own state tensors: evaluation, checkpoints, learning-rate changes and
hyperparameters read the same objects as in eager mode.

- One graph per batch shape: dynamic=False, so the last partial batch compiles once, on its first epoch, and every
  later epoch reuses both graphs.
- The learning rate is a 0-d float64 tensor input, updated in place when the optimizer's rate changes (a schedule,
  a plateau, a checkpoint restored): no recompile.
- Dropout masks are drawn inside the graph by inductor's random-number generator, which takes its seeds from
  torch's global generator (so torch.manual_seed and a checkpoint's saved RNG state fix them); they are other
  masks than eager mode's, which is why modes are compared with dropout off.
- Nothing is read back to the host: each step returns its loss and metric sum as 0-d tensors.
"""

import types

import torch
from torch.func import functional_call, grad_and_value

from models_torch.checkpoint import SLOTS
from models_torch.clipping import clipped_groups, parameter_groups
from models_torch.losses import metric_sum, sample_weights
from models_torch.step_rules import initial_slots, rule_of


class CompiledStep:
    """step(xb, yb) -> (loss, metric sum), 0-d tensors, after one update of the trainer's model and optimizer."""

    def __init__(self, trainer):
        self.trainer, model, optimizer = trainer, trainer.model, trainer.optimizer
        if len(optimizer.param_groups) != 1:
            raise ValueError("compiled_step: expected one parameter group")
        self.group = optimizer.param_groups[0]
        self.rule = rule_of(optimizer)
        named = dict(model.named_parameters())
        self.names = [name for name, param in named.items() if param.requires_grad]
        self.objects = [named[name] for name in self.names]  # the optimizer's state is keyed by these
        self.params = [param.detach() for param in self.objects]  # aliases: updated in place, as the module's
        # batch normalization's moving statistics: updated in place by the forward, so inputs of the transformed
        # function (torch.func refuses to mutate a tensor it captured)
        self.buffers = dict(model.named_buffers())
        names_of = {id(param): name for name, param in named.items()}
        self.penalty_names = [names_of[id(weight)] for weight, _ in model.penalties]
        self.clip_groups = parameter_groups(model) if trainer.clips else None
        for name in self.names:
            initial_slots(optimizer, named[name], self.group, SLOTS[type(optimizer).__name__](self.group))
        self.rate = float(self.group["lr"])
        self.lr = torch.tensor(self.rate, dtype=torch.float64, device=trainer.device)
        # Every torch.compile argument stated: one whole graph (fullgraph: a break is an error, not a slow
        # fallback), shapes specialised (dynamic=False), inductor in its default mode (no CUDA graphs; `mode` and
        # `options` exclude each other). Only the guards on the input
        # tensors (shape, dtype, strides) are kept: what else the graph reads (the optimizer's settings, the loss,
        # the model's structure and its training flag) is fixed for the trainer's life, and dynamo's checks of it
        # cost about 200 us per call, more than this model's kernels (measured on experiments/mlp_mnist1d.yaml).
        # Without those guards, two trainers with the same tensor shapes could share a graph: dynamo keeps its
        # graphs per code object, so each CompiledStep compiles a code object of its own (and has its own limit of
        # recompiles, of which it uses one per batch shape).
        own = types.FunctionType(CompiledStep._step.__code__.replace(co_name=f"_step_{id(self):x}"),
                                 CompiledStep._step.__globals__)
        self.compiled = torch.compile(types.MethodType(own, self), fullgraph=True, dynamic=False,
                                      backend="inductor",
                                      options={"guard_filter_fn": torch.compiler.keep_tensor_guards_unsafe})

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.group["lr"] != self.rate:  # set by the trainer (schedule, plateau) or a restored checkpoint
            self.rate = float(self.group["lr"])
            self.lr.fill_(self.rate)
        state = self.trainer.optimizer.state  # a restored checkpoint puts new slot tensors here: read each step
        return self.compiled(self.params, self.buffers, [state[param] for param in self.objects], self.lr, xb, yb)

    def _step(self, params: list, buffers: dict, slots: list, lr: torch.Tensor, xb: torch.Tensor, yb: torch.Tensor):
        trainer, model = self.trainer, self.trainer.model

        def loss_of(functional: dict, buffers: dict):
            raw = functional_call(model, {**functional, **buffers}, (xb,), {"logits": trainer.on_logits},
                                  strict=False)
            penalty = model.penalty([functional[name] for name in self.penalty_names])
            return trainer.loss_fn(raw, yb, sample_weights(trainer.target, yb)) + penalty, raw

        grads, (loss, raw) = grad_and_value(loss_of, argnums=0, has_aux=True)(dict(zip(self.names, params)),
                                                                              buffers)
        if self.clip_groups is not None:
            clipped = clipped_groups([[grads[name] for name in group] for group in self.clip_groups],
                                     trainer.optimizer_spec)
            grads = {name: value for group, values in zip(self.clip_groups, clipped)
                     for name, value in zip(group, values)}
        with torch.no_grad():
            self.rule(params, [grads[name] for name in self.names], slots, self.group, lr)
        output = model.blocks[-1].activation(raw) if trainer.on_logits else raw
        return loss.detach(), metric_sum(trainer.target, output.detach(), yb)
