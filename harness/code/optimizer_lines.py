"""The scripts' lines for learning-rate schedules and gradient clipping, both sides: Keras' own schedule objects,
clip arguments and ReduceLROnPlateau in model_keras.py; the same formulas, clips and plateau rule written out in
model_torch.py (harness.core.schedules, models_torch/clipping.py)."""

import math

from harness.code.common import Raw, call, differs
from harness.core import schedules

_KERAS_SCHEDULES = {"piecewise_constant": "PiecewiseConstantDecay", "exponential_decay": "ExponentialDecay",
                    "cosine_decay": "CosineDecay"}


def _keras_schedule(o) -> Raw:
    s, name = o.schedule, _KERAS_SCHEDULES[o.schedule.type]
    if s.type == "piecewise_constant":
        arguments = dict(boundaries=list(s.boundaries), values=list(s.values))
    elif s.type == "exponential_decay":
        arguments = dict(initial_learning_rate=o.learning_rate, decay_steps=s.decay_steps, decay_rate=s.decay_rate,
                         staircase=s.staircase)
    else:  # the warm-up runs from initial_learning_rate to warmup_target
        arguments = dict(initial_learning_rate=s.warmup_start, decay_steps=s.decay_steps, alpha=s.alpha,
                         warmup_target=o.learning_rate, warmup_steps=s.warmup_steps)
    return Raw(call(f"keras.optimizers.schedules.{name}", **arguments).replace("[", "(").replace("]", ")"))


def keras_learning_rate(o):
    """The Keras optimizer's learning_rate argument: the schedule object for a per-batch schedule."""
    return _keras_schedule(o) if schedules.per_batch(o) else o.learning_rate


def keras_clips(o) -> dict:
    return dict(clipnorm=o.clipnorm, clipvalue=o.clipvalue, global_clipnorm=o.global_clipnorm)


def _plateau(o) -> bool:
    return o.schedule is not None and o.schedule.type == "reduce_on_plateau"


def _monitored(o, side: str) -> list[str]:
    """The lines before train()'s plateau call that name what it monitors: the epoch's (validation) loss, with a
    Differs comment where the spec monitors a metric (the scripts compute none)."""
    validation = o.schedule.monitor.startswith("val_")
    value = "val_loss" if validation else ("loss" if side == "keras" else "total / len(x)")
    note = [] if o.schedule.monitor.endswith("loss") else differs("plateau_metric", side, 8)
    return [*note, f"        monitored = {value}"]


def keras_constants(o) -> list[str]:
    if schedules.per_epoch(o):
        return ["# The spec's schedule counts epochs: train() assigns its value before each epoch.",
                f"EPOCH_SCHEDULE = {_keras_schedule(o)}"]
    if _plateau(o):
        s = o.schedule
        settings = call("dict", factor=s.factor, patience=s.patience, min_delta=s.min_delta, cooldown=s.cooldown,
                        min_lr=s.min_lr)
        return [f"PLATEAU = {settings}"]
    return []


def keras_train(o, lines: list[str]) -> list[str]:
    """TRAIN with the per-epoch rate assigned before each fit, or ReduceLROnPlateau called after each epoch
    (one fit per epoch: a callback given to fit would restart its counters every epoch)."""
    out = []
    for line in lines:
        if line == "        recorder = BatchLosses()" and schedules.per_epoch(o):
            out.append("        model.optimizer.learning_rate = float(EPOCH_SCHEDULE(epoch))")
        if line == "        print(line)" and _plateau(o):
            out += [*_monitored(o, "keras"), '        plateau.on_epoch_end(epoch, {"monitored": monitored})']
        if line.startswith('            line += f"  val_loss') and _plateau(o):
            out.append('            val_loss = val["loss"]')
        out.append(line)
        if line == "    rows = []" and _plateau(o):
            out += ['    plateau = keras.callbacks.ReduceLROnPlateau(monitor="monitored", mode="min", verbose=0, '
                    '**PLATEAU)', "    plateau.set_model(model)", "    plateau.on_train_begin()"]
    return out


def _torch_formula(o) -> list[str]:
    """learning_rate(count): Keras' schedule formula in float32 (keras/src/optimizers/schedules)."""
    s, f = o.schedule, "np.float32"
    head = ["def learning_rate(count):", '    """The schedule\'s rate at `count` (updates done or epochs), as Keras '
            'computes it, in float32."""']
    if s.type == "piecewise_constant":
        return [*head, f"    boundaries, values = {list(s.boundaries)!r}, {list(s.values)!r}",
                "    return float(np.float32(values[sum(count > b for b in boundaries)]))"]
    if s.type == "exponential_decay":
        return [*head, f"    p = {f}(count) / {f}({s.decay_steps})", *(["    p = np.floor(p)"] if s.staircase else []),
                f"    return float({f}({o.learning_rate!r}) * np.power({f}({s.decay_rate!r}), p))"]
    return [*head, f"    warmup, start = {f}({s.warmup_steps}), {f}({s.warmup_start!r})",
            f"    rate = {f}({o.learning_rate!r})",
            f"    step = min({f}(count), {f}({s.decay_steps}) + warmup)", "    if step < warmup:",
            "        return float((rate - start) * (step / warmup) + start)",
            f"    cosine = {f}(0.5) * ({f}(1.0) + np.cos({f}({math.pi!r}) * ((step - warmup) / {f}({s.decay_steps}))))",
            f"    return float(rate * ({f}({1 - s.alpha!r}) * cosine + {f}({s.alpha!r})))"]


_SET_RATE = ["def set_learning_rate(optimizer, rate):",
             *differs("momentum_rate", "torch", 4),
             "    for group in optimizer.param_groups:", '        if rate > 0 and group["lr"] != rate:',
             '            for param in group["params"]:',
             '                buffer = optimizer.state.get(param, {}).get("momentum_buffer")',
             "                if buffer is not None:", '                    buffer.mul_(group["lr"] / rate)',
             '        group["lr"] = rate']


def _torch_clip(o) -> list[str]:
    head = ["def clip_gradients(model):"]
    if o.clipnorm:
        return [*head, *differs("clipnorm", "torch", 4), "    groups = []", "    for module in model.modules():",
                "        own = {n: p.grad for n, p in module.named_parameters(recurse=False) if p.grad is not None}",
                "        if isinstance(module, nn.GRU):  # bias_ih and bias_hh are one Keras bias (2, 3H)",
                '            names = [n for n in own if n.startswith("bias_ih")]',
                '            groups += [[own.pop(n), own.pop(n.replace("bias_ih", "bias_hh"))] for n in names]',
                "        groups += [[g] for g in own.values()]", f"    clip = torch.tensor({o.clipnorm!r})",
                "    for group in groups:",
                "        norm = torch.stack([(g * g).sum() for g in group]).sum().double().sqrt().float()",
                "        for g in group:", "            g.copy_(g * clip / torch.maximum(norm, clip))"]
    if o.global_clipnorm:
        clip = o.global_clipnorm
        return [*head, *differs("global_clipnorm", "torch", 4),
                "    grads = [p.grad for p in model.parameters() if p.grad is not None]",
                "    norm = torch.stack([g.square().sum() for g in grads]).sum().double().sqrt().float()",
                f"    scale = {clip!r} * torch.minimum(1.0 / norm, torch.tensor({1.0 / clip!r})) + (norm - norm)",
                "    for g in grads:", "        g.mul_(scale)"]
    return [*head, "    # Keras' clipvalue: every element clipped to [-clipvalue, clipvalue].",
            f"    torch.nn.utils.clip_grad_value_(model.parameters(), clip_value={o.clipvalue!r}, foreach=None)"]


def _torch_plateau(o) -> list[str]:
    s = o.schedule
    return ["class Plateau:", *differs("plateau", "torch", 4), "", "    def __init__(self):",
            "        self.best, self.wait, self.cooldown = float('inf'), 0, 0", "",
            "    def step(self, optimizer, value):", "        if self.cooldown > 0:",
            "            self.cooldown, self.wait = self.cooldown - 1, 0",
            f"        if value < self.best - {s.min_delta!r}:", "            self.best, self.wait = value, 0",
            "            return", "        if self.cooldown > 0:", "            return", "        self.wait += 1",
            '        rate = optimizer.param_groups[0]["lr"]',
            f"        if self.wait >= {s.patience} and rate > np.float32({s.min_lr!r}):",
            f"            set_learning_rate(optimizer, float(np.float32(max(rate * {s.factor!r}, {s.min_lr!r}))))",
            f"            self.cooldown, self.wait = {s.cooldown}, 0"]


def torch_functions(o) -> list[str]:
    """The functions train() calls: learning_rate, set_learning_rate, clip_gradients, Plateau, as the spec needs."""
    parts = []
    if schedules.per_batch(o) or schedules.per_epoch(o):
        parts += [_torch_formula(o), _SET_RATE]
    if _plateau(o):
        parts += [_SET_RATE, _torch_plateau(o)]
    if o.clipnorm or o.global_clipnorm or o.clipvalue:
        parts.append(_torch_clip(o))
    return [line for part in parts for line in [*part, "", ""]]


def torch_train(o, lines: list[str]) -> list[str]:
    """train() with the rate set before each update (per batch) or epoch, the clip after backward, and the
    plateau rule after each epoch."""
    out = []
    for line in lines:
        if line == "            optimizer.step()":
            if o.clipnorm or o.global_clipnorm or o.clipvalue:
                out.append("            clip_gradients(model)")
            if schedules.per_batch(o):
                out.append("            set_learning_rate(optimizer, learning_rate(len(rows)))  # updates done")
        if line == "        print(line)" and _plateau(o):
            out += [*_monitored(o, "torch"), "        plateau.step(optimizer, monitored)"]
        out.append(line)
        if line == "        model.train()" and schedules.per_epoch(o):
            out.append("        set_learning_rate(optimizer, learning_rate(epoch))")
        if line == "    rows = []" and _plateau(o):
            out.append("    plateau = Plateau()")
    return out
