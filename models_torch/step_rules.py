"""The stock torch.optim update rules, written as plain tensor operations for the compiled training step.

torch.optim's step() cannot sit inside one torch.compile graph (it breaks the graph to switch grad mode), and its
functional forms take the learning rate as a Python float, which a compiled graph would bake in (a schedule would
recompile it at every change). These follow torch/optim/{sgd,adam,rmsprop,adagrad}.py (single-tensor, not
capturable, maximize off), operation for operation, on the optimizer's own state tensors, in place: the
optimizer object stays the one source of truth for checkpoints, learning-rate changes and hyperparameters.

`lr` is a 0-d float64 tensor; the scalar arithmetic (bias corrections, step sizes) is float64, as torch does it in
Python floats, and rounds to the parameter's dtype where it meets a tensor, as torch's scalar arguments do.
"""

import torch

# optimizer class -> the slots (per-parameter state tensors) the rule reads; made before the first step
# (`initial_slots`) so the compiled graph always sees the same inputs. Keys as torch names them.


def _l2(param, grad, group):
    """torch's coupled weight decay (L2 added to the gradient); the spec passes 0 except for AdamW."""
    return grad.add(param, alpha=group["weight_decay"]) if group["weight_decay"] != 0 else grad


def sgd(params, grads, slots, group, lr):
    """buf <- momentum * buf + g (the first step sets buf = g: a zero buffer gives the same with dampening 0);
    w <- w - lr * (g + momentum * buf if nesterov else buf), or w <- w - lr * g without momentum."""
    if group["dampening"] != 0:
        raise ValueError("compiled_step: SGD dampening must be 0 (the harness sets it so)")
    for param, grad, slot in zip(params, grads, slots):
        grad = _l2(param, grad, group)
        if group["momentum"] != 0:
            buffer = slot["momentum_buffer"].mul_(group["momentum"]).add_(grad)
            grad = grad.add(buffer, alpha=group["momentum"]) if group["nesterov"] else buffer
        param.sub_(lr.to(param.dtype) * grad)


def adam(params, grads, slots, group, lr):
    """torch Adam / AdamW: m <- lerp(m, g, 1 - beta1); v <- beta2 v + (1 - beta2) g^2;
    w <- w - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). AdamW first scales w by
    (1 - lr * weight_decay); amsgrad keeps the running maximum of v and uses it."""
    beta1, beta2 = group["betas"]
    decoupled = group.get("decoupled_weight_decay", False)
    for param, grad, slot in zip(params, grads, slots):
        if decoupled:
            param.mul_(1 - (lr * group["weight_decay"]).to(param.dtype))
        else:
            grad = _l2(param, grad, group)
        step = slot["step"].add_(1).double()
        slot["exp_avg"].lerp_(grad, 1 - beta1)
        slot["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step_size = lr / (1 - beta1 ** step)
        correction2_sqrt = (1 - beta2 ** step).sqrt()
        average = slot["exp_avg_sq"]
        if group["amsgrad"]:
            average = torch.maximum(slot["max_exp_avg_sq"], average, out=slot["max_exp_avg_sq"])
        denominator = (average.sqrt() / correction2_sqrt.to(param.dtype)).add_(group["eps"])
        param.sub_(step_size.to(param.dtype) * (slot["exp_avg"] / denominator))


def rmsprop(params, grads, slots, group, lr):
    """torch RMSprop: v <- alpha v + (1 - alpha) g^2; centered: a <- lerp(a, g, 1 - alpha), d = sqrt(v - a^2) + eps,
    else d = sqrt(v) + eps; momentum: b <- momentum b + g / d, w <- w - lr b; else w <- w - lr g / d."""
    alpha = group["alpha"]
    for param, grad, slot in zip(params, grads, slots):
        grad = _l2(param, grad, group)
        slot["step"].add_(1)
        square_average = slot["square_avg"].mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_average = slot["grad_avg"].lerp_(grad, 1 - alpha)
            denominator = square_average.addcmul(grad_average, grad_average, value=-1).sqrt_()
        else:
            denominator = square_average.sqrt()
        denominator = denominator.add_(group["eps"])
        if group["momentum"] > 0:
            buffer = slot["momentum_buffer"].mul_(group["momentum"]).addcdiv_(grad, denominator)
            param.sub_(lr.to(param.dtype) * buffer)
        else:
            param.sub_(lr.to(param.dtype) * (grad / denominator))


def adagrad(params, grads, slots, group, lr):
    """torch Adagrad: s <- s + g^2; w <- w - (lr / (1 + (t - 1) lr_decay)) g / (sqrt(s) + eps)."""
    for param, grad, slot in zip(params, grads, slots):
        grad = _l2(param, grad, group)
        step = slot["step"].add_(1).double()
        rate = lr / (1 + (step - 1) * group["lr_decay"])
        slot["sum"].addcmul_(grad, grad, value=1)
        param.sub_(rate.to(param.dtype) * (grad / slot["sum"].sqrt().add_(group["eps"])))


RULES = {"SGD": sgd, "Adam": adam, "AdamW": adam, "RMSprop": rmsprop, "Adagrad": adagrad}


def initial_slots(optimizer, param: torch.Tensor, group: dict, names: list[str]) -> None:
    """Makes the slots torch would make at a parameter's first step (zeros; step a 0-d float32 tensor), where
    missing, so every step of the compiled graph reads the same tensors."""
    state = optimizer.state[param]
    for name in names:
        if name not in state or state[name] is None:
            state[name] = torch.tensor(0.0) if name == "step" else torch.zeros_like(param,
                                                                                     memory_format=torch.preserve_format)


def rule_of(optimizer):
    """The update rule of a stock torch.optim optimizer; a ValueError for any other (the Keras-exact parity
    optimizers step eagerly)."""
    name = type(optimizer).__name__
    if name not in RULES or type(optimizer).__module__.split(".")[:2] != ["torch", "optim"]:
        raise ValueError(f"compiled_step: expected a stock torch.optim optimizer ({', '.join(RULES)}); received "
                         f"{type(optimizer).__module__}.{name}")
    return RULES[name]
