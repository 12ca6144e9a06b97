"""The layers of a spec: one pydantic model per layer type, channels-last shapes as in Keras.

Every argument has one default (the Keras value) and is passed explicitly to both frameworks. Where PyTorch
cannot express a Keras option, the option is not offered (for example GRU `reset_after=False`, or an LSTM
activation other than tanh), so a spec always means the same network in both frameworks.
"""

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from harness.core import registry


def brief(value, limit: int = 80) -> str:
    """repr(value) cut to `limit` characters, on one line: a message never carries a huge received value."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"  # repr fails past 4,300
    try:
        text = repr(value).replace("\n", "\\n")
    except Exception:  # noqa: BLE001 - a caller's object whose repr fails, or nests too deeply to print
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def as_name(text: str, limit: int = 80) -> str:
    """A key or an axis as a message names it: as written if printable and short, else its cut repr."""
    return text if text and text.isprintable() and len(text) <= limit else brief(text, limit)


def literal_of(table: dict):
    return Literal[tuple(table)]  # type: ignore[valid-type]


MAX_SIZE = 2 ** 31 - 1  # TensorFlow and PyTorch hold sizes in 32-bit integers in places: larger is a mistake


def positive(at_most: int = MAX_SIZE):
    """The type of a positive integer of at most `at_most` (the bound is in the message and the JSON schema)."""
    return Annotated[int, Field(gt=0, le=at_most)]


PositiveInt = positive()
# A list field also takes a tuple (Python callers write input_shape=(4,)); its items stay strict.
TUPLES_TOO = Strict(False)
Activation = literal_of(registry.ACTIVATIONS)
Initializer = literal_of(registry.INITIALIZERS)
Padding = Literal["valid", "same"]


class Frozen(BaseModel):
    """Every spec model. Strict: a boolean is not a number (lax pydantic reads `units: true` as 1), a string is
    not a number, a float is not an integer (`units: 1.0e9`; an integer is still a float), bytes are not a
    string; and every float is finite (.inf and .nan are refused wherever a number goes)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Regularizer(Frozen):
    """Keras semantics: `l1 * sum(|w|) + l2 * sum(w**2)` is added to the loss and reported in it."""

    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)


class Weighted(Frozen):
    """What every layer with a kernel and a bias shares."""

    activation: Activation = "linear"
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Optional[Regularizer] = None
    bias_regularizer: Optional[Regularizer] = None


# ------------------------------------------------------------------------------------------------- core

class Dense(Weighted):
    type: Literal["dense"]
    units: PositiveInt


class Dropout(Frozen):
    type: Literal["dropout"]
    rate: float = Field(description="fraction of inputs zeroed in training, in [0, 1)")

    @field_validator("rate")
    @classmethod
    def _rate_in_range(cls, value):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"expected a float in [0, 1); received {brief(value)}")
        return value


class ActivationLayer(Frozen):
    type: Literal["activation"]
    activation: Activation


class Rescaling(Frozen):
    """x * scale + offset, as Keras' Rescaling layer (the usual first layer of an image model: scale 1/255)."""

    type: Literal["rescaling"]
    scale: float
    offset: float = 0.0


class LeakyReLU(Frozen):
    """The leaky_relu activation with a slope of its own: Keras' LeakyReLU layer (default 0.3), PyTorch's
    nn.LeakyReLU (default 0.01); the activation name `leaky_relu` keeps 0.2."""

    type: Literal["leaky_relu"]
    negative_slope: float = Field(0.3, ge=0)


class Flatten(Frozen):
    type: Literal["flatten"]


class Reshape(Frozen):
    type: Literal["reshape"]
    target_shape: Annotated[list[Annotated[int, Field(ge=-1, le=MAX_SIZE)]], TUPLES_TOO] = Field(
        min_length=1, max_length=8, description="without the batch axis; one entry may be -1")

    @field_validator("target_shape")
    @classmethod
    def _one_unknown(cls, value):
        if value.count(-1) > 1 or 0 in value:
            raise ValueError(f"expected positive sizes and at most one -1; received {brief(value)}")
        return value


class BatchNormalization(Frozen):
    """Normalizes the last (channel) axis. momentum is Keras': moving = momentum * moving + (1 - momentum) * batch."""

    type: Literal["batch_normalization"]
    momentum: float = Field(0.99, ge=0, lt=1)
    epsilon: float = Field(0.001, gt=0)
    center: bool = True
    scale: bool = True


# ------------------------------------------------------------------------------------------ convolution

class Conv(Weighted):
    filters: PositiveInt
    padding: Padding = "valid"

    @model_validator(mode="after")
    def _no_strided_dilation(self):
        if max(as_tuple(self.strides, 1)) > 1 and max(as_tuple(self.dilation_rate, 1)) > 1:
            raise ValueError(f"strides > 1 cannot be combined with dilation_rate > 1 (TensorFlow refuses it); "
                             f"received strides={self.strides}, dilation_rate={self.dilation_rate}")
        return self


class Conv1D(Conv):
    type: Literal["conv1d"]
    kernel_size: PositiveInt
    strides: PositiveInt = 1
    dilation_rate: PositiveInt = 1


Pair = Union[PositiveInt, Annotated[list[PositiveInt], TUPLES_TOO, Field(min_length=2, max_length=2)]]


class Conv2D(Conv):
    type: Literal["conv2d"]
    kernel_size: Pair
    strides: Pair = 1
    dilation_rate: Pair = 1


class Pool1D(Frozen):
    type: Literal["max_pool1d", "average_pool1d"]
    pool_size: PositiveInt = 2
    strides: Optional[PositiveInt] = Field(None, description="defaults to pool_size")
    padding: Padding = "valid"


class Pool2D(Frozen):
    type: Literal["max_pool2d", "average_pool2d"]
    pool_size: Pair = 2
    strides: Optional[Pair] = Field(None, description="defaults to pool_size")
    padding: Padding = "valid"


NonNegative = Annotated[int, Field(ge=0, le=MAX_SIZE)]
PadPair = Annotated[list[NonNegative], TUPLES_TOO, Field(min_length=2, max_length=2)]


class ZeroPadding1D(Frozen):
    """Zeros before and after the steps axis: Keras ZeroPadding1D; PyTorch's Conv1d(padding=p) is this with
    padding [p, p], followed by a 'valid' convolution."""

    type: Literal["zero_padding1d"]
    padding: Union[NonNegative, PadPair] = Field(1, description="p (both sides) or [before, after]")


class ZeroPadding2D(Frozen):
    """Zeros around height and width: Keras ZeroPadding2D; PyTorch's Conv2d(padding=(ph, pw)) is this with
    padding [ph, pw], followed by a 'valid' convolution."""

    type: Literal["zero_padding2d"]
    padding: Union[NonNegative, PadPair, Annotated[list[PadPair], TUPLES_TOO, Field(min_length=2, max_length=2)]] = \
        Field(1, description="p, [height, width] (both sides) or [[top, bottom], [left, right]]")


def pad_pairs(layer) -> tuple[tuple[int, int], ...]:
    """A zero-padding layer's padding as (before, after) per spatial axis: 1 -> ((1, 1), (1, 1)) in 2-D."""
    rank = 1 if layer.type == "zero_padding1d" else 2
    value = layer.padding
    if isinstance(value, int):
        return ((value, value),) * rank
    if rank == 1:
        return (tuple(value),)
    return tuple((v, v) if isinstance(v, int) else tuple(v) for v in value)


class GlobalPool(Frozen):
    type: Literal["global_average_pool1d", "global_max_pool1d", "global_average_pool2d", "global_max_pool2d"]


# -------------------------------------------------------------------------------------------- recurrent

class Recurrent(Frozen):
    """Input (timesteps, features); output the last state (units,) or every state (timesteps, units)."""

    units: PositiveInt
    return_sequences: bool = False
    use_bias: bool = True
    kernel_initializer: Initializer = "glorot_uniform"
    recurrent_initializer: Initializer = "orthogonal"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Optional[Regularizer] = None
    recurrent_regularizer: Optional[Regularizer] = None
    bias_regularizer: Optional[Regularizer] = None
    bidirectional: bool = Field(False, description="Keras Bidirectional: a second layer reads the sequence "
                                                   "backwards; torch bidirectional=True")
    merge_mode: Literal["concat", "sum", "ave", "mul"] = Field(
        "concat", description="how the two directions' outputs combine (torch only concatenates)")

    @model_validator(mode="after")
    def _merge_needs_two(self):
        if "merge_mode" in self.model_fields_set and not self.bidirectional:
            raise ValueError(f"merge_mode {self.merge_mode!r} needs bidirectional: true")
        return self


class SimpleRNN(Recurrent):
    type: Literal["simple_rnn"]
    activation: Literal["tanh", "relu"] = Field("tanh", description="the two torch.nn.RNN supports")


class LSTM(Recurrent):
    """tanh activation, sigmoid gates (the only ones torch.nn.LSTM has)."""

    type: Literal["lstm"]
    unit_forget_bias: bool = Field(True, description="forget-gate bias starts at 1, as in Keras")


class GRU(Recurrent):
    """Keras reset_after=True semantics (torch.nn.GRU's): tanh activation, sigmoid gates, two bias vectors."""

    type: Literal["gru"]


class Embedding(Frozen):
    """Integer token ids (timesteps,) -> vectors (timesteps, output_dim). Only as the first layer."""

    type: Literal["embedding"]
    input_dim: PositiveInt = Field(description="vocabulary size: ids are in [0, input_dim)")
    output_dim: PositiveInt
    embeddings_initializer: Initializer = "random_uniform"
    embeddings_regularizer: Optional[Regularizer] = None


Layer = Annotated[Union[Dense, Dropout, ActivationLayer, LeakyReLU, Rescaling, Flatten, Reshape, BatchNormalization,
                        Conv1D, Conv2D, Pool1D, Pool2D, GlobalPool, ZeroPadding1D, ZeroPadding2D, SimpleRNN, LSTM,
                        GRU, Embedding],
                  Field(discriminator="type")]

def as_tuple(value, rank: int) -> tuple[int, ...]:
    """An int or a list as a tuple of ints: kernel_size 3 -> (3, 3) for a 2-D layer."""
    return (value,) * rank if isinstance(value, int) else tuple(value)
