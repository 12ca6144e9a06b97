"""The experiment spec: typed, immutable pydantic models, validated once at the edge.

Every hyperparameter has exactly one default, written here, and both adapters receive it explicitly.
The defaults are the Keras 3 values (the study notes' code is Keras first); PyTorch's own defaults never apply.
"""

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from harness import registry


from harness.spec_layers import Frozen, Layer, PositiveInt, _literal

LossName = _literal(registry.LOSSES)
DatasetName = _literal(registry.DATASETS)
Framework = _literal(registry.FRAMEWORKS)
# ----------------------------------------------------------------------------------------------- model

class ModelSpec(Frozen):
    input_shape: list[PositiveInt] = Field(min_length=1, description="one sample's shape, channels last")
    layers: list[Layer] = Field(min_length=1)


# ------------------------------------------------------------------------------------------- optimizers

LearningRate = Annotated[float, Field(gt=0)]
Epsilon = Annotated[float, Field(gt=0)]
Decay = Annotated[float, Field(ge=0, lt=1)]


class SGD(Frozen):
    type: Literal["sgd"]
    learning_rate: LearningRate = 0.01
    momentum: Decay = 0.0
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self):
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: true needs momentum > 0 (PyTorch refuses it otherwise)")
        return self


class Adam(Frozen):
    type: Literal["adam"]
    learning_rate: LearningRate = 0.001
    beta_1: Decay = 0.9
    beta_2: Decay = 0.999
    epsilon: Epsilon = 1e-7
    amsgrad: bool = False


class AdamW(Adam):
    type: Literal["adamw"]
    weight_decay: float = Field(0.004, ge=0, description="decoupled, as in Keras AdamW and torch AdamW")


class RMSprop(Frozen):
    type: Literal["rmsprop"]
    learning_rate: LearningRate = 0.001
    rho: Decay = 0.9
    momentum: Decay = 0.0
    epsilon: Epsilon = 1e-7
    centered: bool = False


class Adagrad(Frozen):
    type: Literal["adagrad"]
    learning_rate: LearningRate = 0.001
    initial_accumulator_value: float = Field(0.1, ge=0)
    epsilon: Epsilon = 1e-7


Optimizer = Annotated[Union[SGD, Adam, AdamW, RMSprop, Adagrad], Field(discriminator="type")]


# --------------------------------------------------------------------------------------- data, training

class DataSpec(Frozen):
    dataset: DatasetName
    validation_split: float = Field(0.1, ge=0, lt=1, description="fraction of the training data held out")
    test_split: float = Field(0.2, gt=0, lt=1, description="used when the dataset has no standard test set")
    seed: int = Field(0, description="fixes the split and synthetic data; the same for every run")
    standardize: bool = Field(True, description="features scaled with training-split statistics")
    standardize_target: bool = Field(False, description="regression targets scaled likewise; errors reported in original units")
    path: Optional[str] = Field(None, description="csv / npz file, relative to the spec file")
    target: Optional[str] = Field(None, description="csv: the label column")
    task: Optional[Literal["classification", "regression"]] = Field(None, description="csv / npz: overrides the guess from the loss")
    n_samples: PositiveInt = Field(1000, description="synthetic datasets only")
    n_features: PositiveInt = Field(2, description="blobs / regression only")
    n_classes: Annotated[int, Field(ge=2)] = Field(3, description="blobs only")
    noise: Optional[float] = Field(None, ge=0, description="moons 0.2, regression 10.0 when not given")

    @model_validator(mode="after")
    def _file_fields(self):
        if self.dataset in ("csv", "npz") and not self.path:
            raise ValueError(f"dataset {self.dataset!r} needs `path`")
        if self.dataset == "csv" and not self.target:
            raise ValueError("dataset 'csv' needs `target`, the name of the label column")
        return self


class EarlyStopping(Frozen):
    monitor: Literal["loss", "val_loss", "metric", "val_metric"] = "val_loss"
    patience: Annotated[int, Field(ge=0)] = 3
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = False


class TargetSpec(Frozen):
    """Time to target: epochs and seconds until `split`'s `metric` reaches `value`."""

    metric: Literal["loss", "accuracy", "mae"]
    value: float
    split: Literal["train", "val"] = "val"


class Analysis(Frozen):
    """How the report compares the frameworks (used when rendering; changing it needs no retraining)."""

    margins: dict[str, Annotated[float, Field(gt=0)]] = Field(
        {}, description="equivalence margin per summary column, e.g. {test_accuracy: 0.01}; defaults: 1 point of "
                        "accuracy, 5 % relative for losses and errors, 0.01 for R^2")
    target: Optional[TargetSpec] = None


def _batch_size(value):
    if value == "full" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError(f"expected a positive integer or 'full'; received {value!r}")


class Training(Frozen):
    epochs: PositiveInt = 10
    batch_size: Annotated[Union[PositiveInt, Literal["full"]], BeforeValidator(_batch_size)] = Field(
        32, description="'full' = batch gradient descent, 1 = SGD")
    eval_batch_size: PositiveInt = Field(1024, description="batch size for validation and test passes")
    early_stopping: Optional[EarlyStopping] = None


class Spec(Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="names the results folder")
    description: str = ""
    data: DataSpec
    model: ModelSpec
    loss: LossName
    optimizer: Optimizer
    training: Training = Training()
    frameworks: list[Framework] = Field(["tensorflow", "torch"], min_length=1)
    seeds: list[int] = Field([0], min_length=1)
    init: Literal["matched", "native"] = Field(
        "matched", description="matched: one numpy draw loaded into both; native: each framework's own initializers")
    analysis: Analysis = Analysis()
    sweep: Optional[dict[str, Annotated[list, Field(min_length=1)]]] = Field(
        None, description="axes of a sweep: dotted spec path -> list of values, e.g. optimizer.learning_rate: "
                          "[0.001, 0.01]; frameworks and seeds are axes automatically")
    mode: Literal["product", "zip"] = Field("product", description="sweep: every combination, or the i-th values")
    optimizer_defaults: Literal["matched", "native"] = Field(
        "matched", description="matched: every optimizer hyperparameter passed to both; native: only those the "
                               "spec states, each framework's own defaults for the rest (a naive port)")

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer_shorthand(cls, value):
        return {"type": value} if isinstance(value, str) else value

    @field_validator("frameworks", "seeds")
    @classmethod
    def _unique(cls, value):
        if len(set(value)) != len(value):
            raise ValueError(f"must not repeat entries, received {value}")
        return value
