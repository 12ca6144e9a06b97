"""PyTorch optimizers from the spec: stock torch.optim for training (`optimizer_arguments`), and optimizers that
run the Keras 3 update rules exactly, for parity mode (`keras_exact_arguments`). The twin of models_tf/optimizers.py.

Stock torch.optim cannot reproduce Keras Adam, AdamW and RMSprop at any setting: Keras adds epsilon to sqrt(v)
before Adam's bias correction, and inside the square root in RMSprop and Adagrad; torch does neither (see
../shared/reference/keras-torch-equivalence.md §1.10). The classes below follow
keras/src/optimizers/{sgd,adam,rmsprop,adagrad,base_optimizer}.py operation by operation, in the same order, so in
float32 they round the same way as Keras.

Constructor arguments and param_groups keys use torch.optim's names (lr, betas, eps, alpha for Keras' rho), so code
that reads param_groups back works the same for stock and Keras-exact optimizers.
"""

import torch

from harness.core import registry


def _check(name: str, value: float, low: float, high: float = float("inf"), high_inclusive: bool = True):
    """Raises a ValueError naming the argument unless low <= value <= high (or < high)."""
    inside = low <= value <= high if high_inclusive else low <= value < high
    if not inside:
        upper = "]" if high_inclusive else ")"
        raise ValueError(f"Invalid value for argument {name}. Expected a float in [{low}, {high}{upper}. "
                         f"Received: {name}={value}")


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """The correctly rounded square root, as TensorFlow and numpy compute it.

    torch's CPU sqrt goes through MKL VML, which is accurate to 1 ulp only: 17% of float32 results differ from
    TensorFlow's (measured, torch 2.13; pytorch/pytorch#31250). A float32 root taken in float64 and rounded back is
    the correctly rounded one. float64 has no wider type here: it keeps torch's root (1.2% of results 1 ulp off).
    """
    return x.double().sqrt().to(x.dtype) if x.dtype != torch.float64 else x.sqrt()


def _tf_cast(value: float, dtype: torch.dtype) -> float:
    """What Keras' `ops.cast(python_float, dtype)` gives on TensorFlow: the value goes through a float32 tensor
    first, so in float64 some hyperparameters are the float32 number (momentum 0.9 -> 0.8999999761581421).
    Keras does this for SGD momentum, Adam's betas in the bias correction, weight decay and Adagrad's initial
    accumulator (keras/src/optimizers/sgd.py:104, adam.py:108, base_optimizer.py:958,
    initializers/constant_initializers.py:36); no effect in float32."""
    return float(torch.tensor(value, dtype=torch.float32).to(dtype))


class _KerasOptimizer(torch.optim.Optimizer):
    """What Keras' base optimizer does around every update rule: the step counter and decoupled weight decay.

    Each step, for every parameter with a gradient (parameters whose grad is None are skipped, as Keras drops None
    gradients, base_optimizer.py `_filter_empty_gradients`):
        w <- w - (w * weight_decay) * lr          (only if weight_decay > 0; before the update)
        update rule of the subclass
    """

    def __init__(self, params, lr: float, weight_decay: float, **hyperparameters):
        _check("lr", lr, 0.0)
        _check("weight_decay", weight_decay, 0.0)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, **hyperparameters))

    def _initial_state(self, param: torch.Tensor, group: dict) -> dict:
        raise NotImplementedError

    def _update(self, param: torch.Tensor, grad: torch.Tensor, state: dict, group: dict, step: int) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # Keras keeps one counter per optimizer, not one per parameter: a parameter skipped on some steps still sees
        # the global step in Adam's bias correction. It is incremented after the updates (base_optimizer.py:533),
        # and Adam uses iterations + 1, i.e. this 1-based count. A non-tensor key in `state` survives state_dict().
        step = self.state["iterations"] = self.state.get("iterations", 0) + 1
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                state = self.state[param]
                if not state:
                    state.update(self._initial_state(param, group))
                if group["weight_decay"] > 0:  # keras/src/backend/tensorflow/optimizer.py:98
                    param.sub_(param * _tf_cast(group["weight_decay"], param.dtype) * group["lr"])
                self._update(param, param.grad, state, group, step)
        return loss


class KerasSGD(_KerasOptimizer):
    """Keras SGD (keras/src/optimizers/sgd.py:95-123).

    momentum 0:  w <- w - g * lr
    otherwise:   m <- m * momentum - g * lr;   w <- w + m,  or with Nesterov  w <- w + (m * momentum - g * lr)
    """

    def __init__(self, params, lr: float, momentum: float, nesterov: bool, weight_decay: float):
        _check("momentum", momentum, 0.0, 1.0)
        super().__init__(params, lr, weight_decay, momentum=momentum, nesterov=nesterov)

    def _initial_state(self, param, group):
        return {"momentum": torch.zeros_like(param)} if group["momentum"] != 0 else {}

    def _update(self, param, grad, state, group, step):
        lr, momentum = group["lr"], _tf_cast(group["momentum"], param.dtype)
        if momentum == 0:
            param.sub_(grad * lr)
            return
        m = state["momentum"]
        m.mul_(momentum).sub_(grad * lr)
        param.add_(m * momentum - grad * lr if group["nesterov"] else m)


class KerasAdam(_KerasOptimizer):
    """Keras Adam (keras/src/optimizers/adam.py:102-137); with weight_decay > 0 it is Keras AdamW.

    t = step (1-based), alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m <- m + (g - m) * (1 - beta_1);   v <- v + (g^2 - v) * (1 - beta_2)
    amsgrad: v_hat <- max(v_hat, v), and v_hat replaces v below
    w <- w - (m * alpha) / (sqrt(v) + eps)
    Epsilon is added to sqrt(v) before the bias correction ("epsilon hat"); torch Adam adds it after.
    """

    def __init__(self, params, lr: float, betas: tuple[float, float], eps: float, amsgrad: bool,
                 weight_decay: float):
        _check("beta_1", betas[0], 0.0, 1.0, high_inclusive=False)
        _check("beta_2", betas[1], 0.0, 1.0, high_inclusive=False)
        _check("eps", eps, 0.0)
        super().__init__(params, lr, weight_decay, betas=tuple(betas), eps=eps, amsgrad=amsgrad)

    def _initial_state(self, param, group):
        state = {"momentum": torch.zeros_like(param), "velocity": torch.zeros_like(param)}
        if group["amsgrad"]:
            state["velocity_hat"] = torch.zeros_like(param)
        return state

    def _update(self, param, grad, state, group, step):
        beta_1, beta_2 = group["betas"]
        # The bias-correction scalars are tensors of the parameter's dtype, as Keras computes them (adam.py:104-115).
        scalar = dict(dtype=param.dtype, device=param.device)
        local_step = torch.tensor(float(step), **scalar)
        beta_1_power = torch.tensor(_tf_cast(beta_1, param.dtype), **scalar).pow(local_step)
        beta_2_power = torch.tensor(_tf_cast(beta_2, param.dtype), **scalar).pow(local_step)
        alpha = group["lr"] * _sqrt(1 - beta_2_power) / (1 - beta_1_power)

        m, v = state["momentum"], state["velocity"]
        m.add_((grad - m).mul_(1 - beta_1))
        v.add_((grad.square() - v).mul_(1 - beta_2))
        if group["amsgrad"]:
            v = torch.maximum(state["velocity_hat"], v, out=state["velocity_hat"])
        param.sub_((m * alpha).div_(_sqrt(v).add_(group["eps"])))


class KerasRMSprop(_KerasOptimizer):
    """Keras RMSprop (keras/src/optimizers/rmsprop.py:109-154); alpha is Keras' rho.

    v <- alpha * v + (1 - alpha) * g^2
    centered: a <- alpha * a + (1 - alpha) * g;   d = v - a^2 + eps,  else d = v + eps    (eps inside the sqrt)
    increment = (lr * g) / sqrt(d)
    momentum > 0: b <- momentum * b + increment;  w <- w - b,   else  w <- w - increment
    """

    def __init__(self, params, lr: float, alpha: float, eps: float, momentum: float, centered: bool,
                 weight_decay: float):
        _check("alpha", alpha, 0.0, 1.0)
        _check("eps", eps, 0.0)
        _check("momentum", momentum, 0.0, 1.0)
        super().__init__(params, lr, weight_decay, alpha=alpha, eps=eps, momentum=momentum, centered=centered)

    def _initial_state(self, param, group):
        state = {"velocity": torch.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum"] = torch.zeros_like(param)
        if group["centered"]:
            state["average_gradient"] = torch.zeros_like(param)
        return state

    def _update(self, param, grad, state, group, step):
        rho, eps = group["alpha"], group["eps"]
        velocity = state["velocity"]
        velocity.mul_(rho).add_(grad.square().mul_(1 - rho))
        if group["centered"]:
            average_gradient = state["average_gradient"]
            average_gradient.mul_(rho).add_(grad * (1 - rho))
            denominator = (velocity - average_gradient.square()).add_(eps)
        else:
            denominator = velocity + eps
        increment = (grad * group["lr"]).div_(_sqrt(denominator))
        if group["momentum"] > 0:
            increment = state["momentum"].mul_(group["momentum"]).add_(increment)
        param.sub_(increment)


class KerasAdagrad(_KerasOptimizer):
    """Keras Adagrad (keras/src/optimizers/adagrad.py:73, 78-92).

    acc starts at initial_accumulator_value;  acc <- acc + g^2;  w <- w - (lr * g) / sqrt(acc + eps)
    """

    def __init__(self, params, lr: float, initial_accumulator_value: float, eps: float, weight_decay: float):
        _check("initial_accumulator_value", initial_accumulator_value, 0.0)
        _check("eps", eps, 0.0)
        super().__init__(params, lr, weight_decay, initial_accumulator_value=initial_accumulator_value, eps=eps)

    def _initial_state(self, param, group):
        return {"accumulator": torch.full_like(param, _tf_cast(group["initial_accumulator_value"], param.dtype))}

    def _update(self, param, grad, state, group, step):
        accumulator = state["accumulator"]
        accumulator.add_(grad.square())
        param.sub_((grad * group["lr"]).div_(_sqrt(accumulator + group["eps"])))


# Every constructor argument is passed, so no PyTorch default can leak in (tests compare with the signatures).
def _sgd(o):
    return torch.optim.SGD, dict(lr=o.learning_rate, momentum=o.momentum, dampening=0.0, weight_decay=0.0,
                                 nesterov=o.nesterov, maximize=False, foreach=None, differentiable=False, fused=None)


def _adam(o):
    return torch.optim.Adam, dict(lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon, weight_decay=0.0,
                                  amsgrad=o.amsgrad, foreach=None, maximize=False, capturable=False,
                                  differentiable=False, fused=None, decoupled_weight_decay=False)


def _adamw(o):
    return torch.optim.AdamW, dict(lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon,
                                   weight_decay=o.weight_decay, amsgrad=o.amsgrad, maximize=False, foreach=None,
                                   capturable=False, differentiable=False, fused=None)


def _rmsprop(o):
    return torch.optim.RMSprop, dict(lr=o.learning_rate, alpha=o.rho, eps=o.epsilon, weight_decay=0.0,
                                     momentum=o.momentum, centered=o.centered, capturable=False, foreach=None,
                                     maximize=False, differentiable=False)


def _adagrad(o):
    return torch.optim.Adagrad, dict(lr=o.learning_rate, lr_decay=0.0, weight_decay=0.0,
                                     initial_accumulator_value=o.initial_accumulator_value, eps=o.epsilon,
                                     foreach=None, maximize=False, differentiable=False, fused=None)


# spec field -> torch argument, where the names differ
_TORCH_NAMES = {"learning_rate": "lr", "epsilon": "eps", "rho": "alpha", "beta_1": "betas", "beta_2": "betas"}

OPTIMIZERS = {"sgd": _sgd, "adam": _adam, "adamw": _adamw, "rmsprop": _rmsprop, "adagrad": _adagrad}


def optimizer_arguments(optimizer_spec, native: bool = False):
    """(optimizer class, keyword arguments) for the spec's optimizer. native: only the hyperparameters the spec
    states, so that the framework's own defaults fill the rest (what a naive port does)."""
    optimizer_class, kwargs = registry.get(OPTIMIZERS, optimizer_spec.type, "optimizer")(optimizer_spec)
    if native:
        stated = {_TORCH_NAMES.get(field, field) for field in optimizer_spec.model_fields_set}
        stated |= {"lr"} if optimizer_spec.schedule is not None else set()  # a schedule's rate is stated
        kwargs = {name: value for name, value in kwargs.items() if name in stated}
    return optimizer_class, kwargs


# Every constructor argument is passed; weight decay is decoupled (Keras' optimizer weight_decay) and only AdamW has it.
def _exact_sgd(o):
    return KerasSGD, dict(lr=o.learning_rate, momentum=o.momentum, nesterov=o.nesterov, weight_decay=0.0)


def _exact_adam(o):
    return KerasAdam, dict(lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon, amsgrad=o.amsgrad,
                           weight_decay=0.0)


def _exact_adamw(o):
    return KerasAdam, dict(lr=o.learning_rate, betas=(o.beta_1, o.beta_2), eps=o.epsilon, amsgrad=o.amsgrad,
                           weight_decay=o.weight_decay)


def _exact_rmsprop(o):
    return KerasRMSprop, dict(lr=o.learning_rate, alpha=o.rho, eps=o.epsilon, momentum=o.momentum,
                              centered=o.centered, weight_decay=0.0)


def _exact_adagrad(o):
    return KerasAdagrad, dict(lr=o.learning_rate, initial_accumulator_value=o.initial_accumulator_value,
                              eps=o.epsilon, weight_decay=0.0)


KERAS_EXACT_OPTIMIZERS = {"sgd": _exact_sgd, "adam": _exact_adam, "adamw": _exact_adamw, "rmsprop": _exact_rmsprop,
                          "adagrad": _exact_adagrad}


def keras_exact_arguments(optimizer_spec):
    """(Keras-exact optimizer class, keyword arguments) for the spec's optimizer; the parity-mode counterpart of
    `optimizer_arguments`."""
    return registry.get(KERAS_EXACT_OPTIMIZERS, optimizer_spec.type, "optimizer")(optimizer_spec)
