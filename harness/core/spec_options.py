"""Training options where Keras and PyTorch use the same words for different arithmetic: learning-rate
schedules and gradient clipping (fields of every optimizer), with one documented default each.

A schedule counts optimizer steps (one per batch) unless its `step` says "epoch"; reduce-on-plateau is decided
once per epoch, by the harness, with Keras' rule. Each field's mapping onto both frameworks is in the README's
spec table and in harness.core.defaults (what a naive port would get instead).
"""

from typing import Annotated, Literal, Optional, Union

from pydantic import Field, model_validator

from harness.core.spec_layers import Frozen, PositiveInt, brief

MAX_BOUNDARIES = 1_000
Step = Literal["batch", "epoch"]
STEP = Field("batch", description="what the schedule counts: optimizer steps (batch, as Keras) or epochs")


class Constant(Frozen):
    type: Literal["constant"]


class PiecewiseConstant(Frozen):
    """Keras PiecewiseConstantDecay: values[0] up to and including step boundaries[0], then values[1], ..."""

    type: Literal["piecewise_constant"]
    boundaries: list[PositiveInt] = Field(min_length=1, max_length=MAX_BOUNDARIES)
    values: list[Annotated[float, Field(gt=0)]] = Field(
        min_length=2, max_length=MAX_BOUNDARIES + 1, description="learning rates; values[0] is the optimizer's")
    step: Step = STEP

    @model_validator(mode="after")
    def _lengths(self):
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(f"values must have one more entry than boundaries ({len(self.boundaries) + 1}); "
                             f"received {len(self.values)}")
        if any(later <= earlier for earlier, later in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"boundaries must increase strictly; received {brief(self.boundaries)}")
        return self


class ExponentialDecay(Frozen):
    """Keras ExponentialDecay: learning_rate * decay_rate ** (step / decay_steps), floored when staircase."""

    type: Literal["exponential_decay"]
    decay_steps: PositiveInt
    decay_rate: Annotated[float, Field(gt=0)]
    staircase: bool = False
    step: Step = STEP


class CosineDecay(Frozen):
    """Keras CosineDecay: a linear warm-up from warmup_start to the optimizer's learning_rate over warmup_steps,
    then a cosine from it down to alpha * learning_rate over decay_steps, constant after."""

    type: Literal["cosine_decay"]
    decay_steps: PositiveInt
    alpha: float = Field(0.0, ge=0, le=1, description="the final rate, as a fraction of learning_rate")
    warmup_steps: int = Field(0, ge=0, le=2 ** 31 - 1)
    warmup_start: float = Field(0.0, ge=0, description="the rate at step 0 of the warm-up")
    step: Step = STEP


class ReduceOnPlateau(Frozen):
    """Keras ReduceLROnPlateau, once per epoch: after `patience` epochs without an improvement larger than
    min_delta (absolute), the rate is multiplied by factor (not below min_lr), then `cooldown` epochs pass."""

    type: Literal["reduce_on_plateau"]
    monitor: Literal["val_loss", "loss", "val_metric", "metric"] = "val_loss"
    factor: float = Field(0.1, gt=0, lt=1)
    patience: int = Field(10, ge=0, le=100_000)
    min_delta: float = Field(1e-4, ge=0)
    cooldown: int = Field(0, ge=0, le=100_000)
    min_lr: float = Field(0.0, ge=0)


Schedule = Annotated[Union[Constant, PiecewiseConstant, ExponentialDecay, CosineDecay, ReduceOnPlateau],
                     Field(discriminator="type")]
ClipValue = Optional[Annotated[float, Field(gt=0)]]
CLIPS = ("clipnorm", "global_clipnorm", "clipvalue")


class OptimizerOptions(Frozen):
    """What every optimizer takes besides its update rule: the schedule and one kind of gradient clipping."""

    schedule: Optional[Schedule] = Field(None, description="none: the learning rate is constant")
    clipnorm: ClipValue = Field(None, description="each gradient tensor scaled to at most this L2 norm (Keras)")
    global_clipnorm: ClipValue = Field(None, description="all gradients scaled together to at most this global "
                                                         "L2 norm (torch clip_grad_norm_, without its 1e-6)")
    clipvalue: ClipValue = Field(None, description="every gradient element clipped to [-clipvalue, clipvalue]")

    @model_validator(mode="before")
    @classmethod
    def _rate_from_values(cls, data):
        """A piecewise schedule's values[0] is the learning rate: a spec that states only the values gets it."""
        if isinstance(data, dict) and "learning_rate" not in data and isinstance(data.get("schedule"), dict):
            values = data["schedule"].get("values")
            if data["schedule"].get("type") == "piecewise_constant" and isinstance(values, list) and values:
                return {**data, "learning_rate": values[0]}
        return data

    @model_validator(mode="after")
    def _one_clip(self):
        given = [name for name in CLIPS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"expected at most one of {', '.join(CLIPS)} (Keras applies only the first it finds); "
                             f"received {', '.join(given)}")
        schedule = self.schedule
        if isinstance(schedule, PiecewiseConstant) and schedule.values[0] != self.learning_rate:
            raise ValueError(f"learning_rate must equal schedule.values[0] ({schedule.values[0]}), the rate "
                             f"before the first boundary; received {self.learning_rate}")
        return self


# ------------------------------------------------------------------------------------------- optimizers

LearningRate = Annotated[float, Field(gt=0)]
Epsilon = Annotated[float, Field(gt=0)]
Decay = Annotated[float, Field(ge=0, lt=1)]


class SGD(OptimizerOptions):
    type: Literal["sgd"]
    learning_rate: LearningRate = 0.01
    momentum: Decay = 0.0
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0 (PyTorch refuses it otherwise)")
        return self


class Adam(OptimizerOptions):
    type: Literal["adam"]
    learning_rate: LearningRate = 0.001
    beta_1: Decay = 0.9
    beta_2: Decay = 0.999
    epsilon: Epsilon = 1e-7
    amsgrad: bool = False


class AdamW(Adam):
    type: Literal["adamw"]
    weight_decay: float = Field(0.004, ge=0, description="decoupled, as in Keras AdamW and torch AdamW")


class RMSprop(OptimizerOptions):
    type: Literal["rmsprop"]
    learning_rate: LearningRate = 0.001
    rho: Decay = 0.9
    momentum: Decay = 0.0
    epsilon: Epsilon = 1e-7
    centered: bool = False


class Adagrad(OptimizerOptions):
    type: Literal["adagrad"]
    learning_rate: LearningRate = 0.001
    initial_accumulator_value: float = Field(0.1, ge=0)
    epsilon: Epsilon = 1e-7


Optimizer = Annotated[Union[SGD, Adam, AdamW, RMSprop, Adagrad], Field(discriminator="type")]
