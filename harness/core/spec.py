"""The experiment spec: typed, immutable pydantic models, validated once at the edge.

Every hyperparameter has exactly one default, written here, and both adapters receive it explicitly.
The defaults are the Keras 3 values (the study notes' code is Keras first); PyTorch's own defaults never apply.
"""

import math
import re
from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from harness.core import guard, registry
from harness.core.execution import STEPS_PER_EXECUTION, check_modes
from harness.core.spec_layers import TUPLES_TOO, Frozen, Layer, PositiveInt, as_name, brief, literal_of, positive
from harness.core.spec_options import Optimizer

LossName = literal_of(registry.LOSSES)
DatasetName = literal_of(registry.DATASETS)
Framework = literal_of(registry.FRAMEWORKS)
Figure = Literal[tuple(dict.fromkeys(f for figures in registry.COMPARED_FIGURES.values() for f in figures))]

# Upper bounds where a larger value can only be a mistake (each is stated in the error message).
MAX_LAYERS = 1_000
MAX_SEEDS = 1_000
MAX_EPOCHS = 100_000
MAX_SAMPLES = 10_000_000   # rows of a synthetic dataset
MAX_FEATURES = 100_000
MAX_CLASSES = 10_000
Seed = Annotated[int, Field(ge=0, le=2 ** 32 - 1, description="numpy, TensorFlow and PyTorch take 32-bit seeds")]

# ----------------------------------------------------------------------------------------------- model

class ModelSpec(Frozen):
    input_shape: Annotated[list[PositiveInt], TUPLES_TOO] = Field(
        min_length=1, max_length=8, description="one sample's shape, channels last")
    layers: Annotated[list[Layer], TUPLES_TOO] = Field(min_length=1, max_length=MAX_LAYERS)


# ------------------------------------------------------------------------------------------- optimizers

# --------------------------------------------------------------------------------------- data, training

def _file_path(value: Optional[str]) -> Optional[str]:
    if value is not None and "\x00" in value:  # the operating system refuses such a name with an exception
        raise ValueError(f"expected a file path; received {brief(value)}, which holds a NUL character")
    return value


class DataSpec(Frozen):
    dataset: DatasetName
    validation_split: float = Field(0.1, ge=0, lt=1, description="fraction of the training data held out")
    test_split: float = Field(0.2, gt=0, lt=1, description="used when the dataset has no standard test set")
    seed: Seed = Field(0, description="fixes the split and synthetic data; the same for every run")
    standardize: bool = Field(True, description="features scaled with training-split statistics")
    standardize_target: bool = Field(False, description="regression targets scaled likewise; errors reported in "
                                                         "original units")
    path: Annotated[Optional[str], AfterValidator(_file_path)] = Field(
        None, max_length=4096, description="csv / npz file, relative to the spec file")
    target: Optional[str] = Field(None, max_length=1000, description="csv: the label column")
    task: Optional[Literal["classification", "regression"]] = Field(
        None, description="csv / npz: overrides the guess from the loss")
    n_samples: positive(MAX_SAMPLES) = Field(1000, description="synthetic datasets only")
    n_features: positive(MAX_FEATURES) = Field(2, description="blobs / regression only")
    n_classes: int = Field(3, ge=2, le=MAX_CLASSES, description="blobs only")
    noise: Optional[float] = Field(None, ge=0, description="moons 0.2, regression 10.0 when not given")
    stratify: Optional[bool] = Field(None, description="splits keep the class proportions; default: on for "
                                                       "classification, off for regression (where it is refused)")

    @model_validator(mode="after")
    def _file_fields(self):
        if self.dataset in ("csv", "npz") and not self.path:
            raise ValueError(f"dataset {self.dataset!r} needs `path`")
        if self.dataset == "csv" and not self.target:
            raise ValueError("dataset 'csv' needs `target`, the name of the label column")
        return self


class EarlyStopping(Frozen):
    monitor: Literal["loss", "val_loss", "metric", "val_metric"] = "val_loss"
    patience: int = Field(3, ge=0, le=MAX_EPOCHS)
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = False


class TargetSpec(Frozen):
    """Time to target: epochs and seconds until `split`'s `metric` reaches `value`."""

    metric: Literal["loss", "accuracy", "mae"]
    value: float
    split: Literal["train", "val"] = "val"


class Analysis(Frozen):
    """How the report compares the frameworks (used when rendering; changing it needs no retraining)."""

    margins: dict[Figure, Annotated[float, Field(gt=0, le=1e6)]] = Field(
        {}, description="equivalence margin per summary column, e.g. {test_accuracy: 0.01}; defaults: 1 point of "
                        "accuracy, 5 % relative for losses and errors, 0.01 for R^2")
    target: Optional[TargetSpec] = None


def _batch_size(value):
    if value == "full" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError(f"expected a positive integer or 'full'; received {brief(value)}")


ClassIndex = Annotated[int, Field(ge=0, lt=MAX_CLASSES)]
ClassWeight = Annotated[float, Field(ge=0, le=1e6)]


def _class_keys(value):
    """'balanced', or a mapping of class index to weight, checked here so that a bad one is one message (the
    union's two branches would give two). A JSON file's keys are strings: "3" is read as the class index 3."""
    if value is None or value == "balanced":
        return value
    expected = "expected 'balanced' or a mapping of class index (0, 1, ...) to a weight in [0, 1e6]"
    if not isinstance(value, dict) or len(value) > MAX_CLASSES:
        raise ValueError(f"{expected}; received {brief(value)}")
    weights = {int(k) if isinstance(k, str) and k.isdigit() and len(k) <= 6 else k: v for k, v in value.items()}
    for key, weight in weights.items():
        if not (isinstance(key, int) and not isinstance(key, bool) and 0 <= key < MAX_CLASSES) or isinstance(
                weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1e6:
            raise ValueError(f"{expected}; received {brief(key)}: {brief(weight)}")
    return {key: float(weight) for key, weight in weights.items()}


class Training(Frozen):
    epochs: positive(MAX_EPOCHS) = 10
    batch_size: Annotated[Union[PositiveInt, Literal["full"]], BeforeValidator(_batch_size)] = Field(
        32, description="'full' = batch gradient descent, 1 = SGD")
    eval_batch_size: PositiveInt = Field(1024, description="batch size for validation and test passes")
    early_stopping: Optional[EarlyStopping] = None
    class_weight: Annotated[Optional[Union[Literal["balanced"], dict[ClassIndex, ClassWeight]]],
                            BeforeValidator(_class_keys)] = Field(
        None, description="classification: a weight per class index, or 'balanced' (n / (classes * count) on "
                          "the training split); the loss is sum(w * loss) / batch size on both sides, as Keras")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="cross-entropy targets (1 - s) * y + s / classes "
                                                                "(binary: s / 2)")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="bfloat16: Keras mixed_bfloat16, torch autocast; float32 weights and loss")
    checkpoint_every: int = Field(0, ge=0, le=MAX_EPOCHS, description="epochs between checkpoints for "
                                                                      "`harness run --resume`; 0: none")
    execution: Annotated[dict[str, str], AfterValidator(check_modes)] = Field(
        default_factory=dict, description="{framework: mode} of harness.core.execution.MODES that `harness run` "
                                          "trains in; unnamed frameworks train in their default mode")
    steps_per_execution: positive(100_000) = Field(
        STEPS_PER_EXECUTION, description="N of the spe modes: training steps per tf.function call")


# ------------------------------------------------------------------------------------------ name, sweep

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
SWEEP_VALUES = 100_000  # values in one sweep axis, nested ones included


def _folder_name(value: str) -> str:
    """The name becomes results/<name>/: no separator, no '..', no hidden or option-like name."""
    if not NAME.fullmatch(value):
        raise ValueError(f"expected 1 to 100 of the characters A-Z a-z 0-9 _ . - (not starting with '.' or '-'), "
                         f"as it names the results folder; received {brief(value)}")
    return value


def _plain(values: list) -> list:
    """Sweep values as a spec file holds them: null, booleans, numbers, strings, lists and mappings with string
    keys, at most guard.MAX_DEPTH levels deep. A Python caller may pass anything, a list holding itself included,
    so the walk is bounded by depth and by a count of values."""
    stack, seen = [(values, 0)], 0
    while stack:
        node, level = stack.pop()
        seen += 1
        if seen > SWEEP_VALUES:
            raise ValueError(f"expected at most {SWEEP_VALUES:,} values in one axis; received more")
        if isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"expected finite numbers; received {node}")
        if node is None or isinstance(node, (bool, int, float, str)):
            continue
        if isinstance(node, dict) and all(isinstance(key, str) for key in node):
            children = node.values()
        elif isinstance(node, (list, tuple)):
            children = node
        else:
            raise ValueError(f"expected plain values (null, booleans, numbers, strings, lists, mappings with string "
                             f"keys); received {type(node).__name__} {brief(node)}")
        if level >= guard.MAX_DEPTH:
            raise ValueError(f"expected at most {guard.MAX_DEPTH} levels of nesting; received more")
        stack.extend((child, level + 1) for child in children)
    return values


def _axis(value: str) -> str:
    if as_name(value) != value:  # it names fields in messages and columns in tables
        raise ValueError(f"expected a dotted path into the spec of at most 80 printable characters; received "
                         f"{brief(value)}")
    return value


SweepAxis = Annotated[str, AfterValidator(_axis)]
SweepValues = Annotated[list, TUPLES_TOO, Field(min_length=1), AfterValidator(_plain)]


class Spec(Frozen):
    name: Annotated[str, AfterValidator(_folder_name)] = Field(
        json_schema_extra={"pattern": f"^{NAME.pattern}$"}, description="names the results folder")
    description: str = Field("", max_length=10_000)
    data: DataSpec
    model: ModelSpec
    loss: LossName
    optimizer: Optimizer
    training: Training = Training()
    frameworks: Annotated[list[Framework], TUPLES_TOO] = Field(["tensorflow", "torch"], min_length=1)
    seeds: Annotated[list[Seed], TUPLES_TOO] = Field([0], min_length=1, max_length=MAX_SEEDS)
    init: Literal["matched", "native"] = Field(
        "matched", description="matched: one numpy draw loaded into both; native: each framework's own initializers")
    init_weights: Annotated[Optional[str], AfterValidator(_file_path)] = Field(
        None, max_length=4096, description="canonical weights (.npz, as harness import and harness run write them), "
                                           "relative to the spec file: every run of both frameworks starts from them")
    analysis: Analysis = Analysis()
    sweep: Optional[dict[SweepAxis, SweepValues]] = Field(
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
            raise ValueError(f"must not repeat entries; received {brief(value)}")
        return value

    @model_validator(mode="after")
    def _classification_options(self):
        """Class weights, label smoothing and stratified splits mean something for class labels only."""
        regression = self.loss in ("mse", "mae") if self.data.task is None else self.data.task == "regression"
        if not regression:
            return self
        training = self.training
        if training.class_weight is not None or training.label_smoothing > 0:
            field = "class_weight" if training.class_weight is not None else "label_smoothing"
            raise ValueError(f"training.{field} needs a classification loss (categorical_crossentropy or "
                             f"binary_crossentropy); received loss {self.loss!r}")
        if self.data.stratify:
            raise ValueError(f"data.stratify needs class labels; received loss {self.loss!r} (regression)")
        return self
