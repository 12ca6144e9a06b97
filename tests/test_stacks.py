"""Layer stacks, checked from the spec alone: shapes and parameter counts of every layer type against numbers
worked out by hand, and impossible stacks or bad layer arguments rejected with one line and exit status 2
before any framework is imported."""

import json
import subprocess
import sys

import pytest
from conftest import make_spec, one_error_line, write_spec

from harness.cli import main
from harness.core import defaults, shapes
from harness.core.spec import ModelSpec

FLAT = {"type": "flatten"}


def conv(kind, filters, kernel_size, **options):
    return {"type": kind, "filters": filters, "kernel_size": kernel_size, **options}


def recurrent(kind, units, **options):
    return {"type": kind, "units": units, **options}


# ------------------------------------------------------------------------------ shapes and parameter counts

# name -> (input shape, layers, output shape per layer, trainable parameters per layer). Formulas:
#   valid window: out = floor((n - d(k - 1) - 1) / s) + 1; same: out = ceil(n / s) (TensorFlow's rules)
#   conv: prod(kernel) * in_channels * filters + filters (bias)
#   simple_rnn / lstm: g * units * (features + units + 1), g = 1 / 4; gru: 3 * units * (features + units + 2)
#   (Keras reset_after=True keeps an input and a recurrent bias); without bias the +1 / +2 goes
#   batch_normalization: channels * (scale + center) trainable, 2 * channels moving statistics
#   embedding: input_dim * output_dim
SHAPE_CASES = {
    "conv1d-valid": ((11, 3), [conv("conv1d", 4, 3)], [(9, 4)], [3 * 3 * 4 + 4]),       # 11 - 3 + 1 = 9
    "conv1d-valid-stride2": ((11, 3), [conv("conv1d", 4, 4, strides=2)], [(4, 4)],       # (11 - 4) // 2 + 1 = 4
                             [4 * 3 * 4 + 4]),
    "conv1d-same-stride2": ((12, 3), [conv("conv1d", 4, 3, strides=2, padding="same")], [(6, 4)],  # ceil(12 / 2)
                            [40]),
    "conv1d-dilation2": ((11, 3), [conv("conv1d", 4, 3, dilation_rate=2)], [(7, 4)], [40]),  # 11 - 2 * 2 = 7
    "conv1d-no-bias": ((11, 3), [conv("conv1d", 4, 3, use_bias=False)], [(9, 4)], [3 * 3 * 4]),
    "conv2d-valid-stride2": ((7, 8, 2), [conv("conv2d", 3, 3, strides=2)], [(3, 3, 3)],  # (7-3)//2+1, (8-3)//2+1
                             [3 * 3 * 2 * 3 + 3]),
    "conv2d-same-stride2-k4": ((7, 7, 2), [conv("conv2d", 3, 4, strides=2, padding="same")], [(4, 4, 3)],
                               [4 * 4 * 2 * 3 + 3]),                                      # ceil(7 / 2) = 4
    "conv2d-kernel-3x2": ((5, 6, 2), [conv("conv2d", 3, [3, 2])], [(3, 5, 3)], [3 * 2 * 2 * 3 + 3]),
    "conv2d-dilation2": ((7, 8, 2), [conv("conv2d", 3, 3, dilation_rate=2)], [(3, 4, 3)], [57]),  # 7-4, 8-4
    "conv2d-flatten-dense": ((6, 5, 2), [conv("conv2d", 3, 3), FLAT, {"type": "dense", "units": 4}],
                             [(4, 3, 3), (36,), (4,)], [57, 0, 36 * 4 + 4]),
    "max_pool1d-default": ((11, 3), [{"type": "max_pool1d"}], [(5, 3)], [0]),            # (11 - 2) // 2 + 1
    "max_pool1d-same-3-2": ((11, 3), [{"type": "max_pool1d", "pool_size": 3, "strides": 2, "padding": "same"}],
                            [(6, 3)], [0]),                                              # ceil(11 / 2)
    "average_pool1d-3-1": ((11, 3), [{"type": "average_pool1d", "pool_size": 3, "strides": 1}], [(9, 3)], [0]),
    "max_pool2d-default": ((7, 8, 2), [{"type": "max_pool2d"}], [(3, 4, 2)], [0]),
    "average_pool2d-same-3-2": ((7, 8, 2), [{"type": "average_pool2d", "pool_size": 3, "strides": 2,
                                             "padding": "same"}], [(4, 4, 2)], [0]),
    "average_pool2d-3x2-1x2": ((7, 8, 2), [{"type": "average_pool2d", "pool_size": [3, 2], "strides": [1, 2]}],
                               [(5, 4, 2)], [0]),                                        # 7 - 2, (8 - 2) // 2 + 1
    "global_average_pool1d": ((11, 3), [{"type": "global_average_pool1d"}], [(3,)], [0]),
    "global_max_pool1d": ((11, 3), [{"type": "global_max_pool1d"}], [(3,)], [0]),
    "global_average_pool2d": ((7, 8, 2), [{"type": "global_average_pool2d"}], [(2,)], [0]),
    "global_max_pool2d": ((7, 8, 2), [{"type": "global_max_pool2d"}], [(2,)], [0]),
    "reshape": ((24,), [{"type": "reshape", "target_shape": [4, 6]}], [(4, 6)], [0]),
    "reshape-unknown": ((24,), [{"type": "reshape", "target_shape": [-1, 3]}], [(8, 3)], [0]),   # 24 / 3
    "reshape-flat": ((2, 3, 4), [{"type": "reshape", "target_shape": [-1]}], [(24,)], [0]),
    "batch_normalization": ((6,), [{"type": "batch_normalization"}], [(6,)], [2 * 6]),
    "batch_normalization-no-center": ((4, 4, 3), [{"type": "batch_normalization", "center": False}],
                                      [(4, 4, 3)], [3]),
    "batch_normalization-neither": ((6,), [{"type": "batch_normalization", "center": False, "scale": False}],
                                    [(6,)], [0]),
    "simple_rnn": ((5, 3), [recurrent("simple_rnn", 4)], [(4,)], [4 * (3 + 4 + 1)]),
    "simple_rnn-sequences-no-bias": ((5, 3), [recurrent("simple_rnn", 4, return_sequences=True, use_bias=False)],
                                     [(5, 4)], [4 * (3 + 4)]),
    "lstm": ((5, 3), [recurrent("lstm", 4)], [(4,)], [4 * 4 * (3 + 4 + 1)]),
    "lstm-sequences-no-bias": ((5, 3), [recurrent("lstm", 4, return_sequences=True, use_bias=False)],
                               [(5, 4)], [4 * 4 * (3 + 4)]),
    "gru": ((5, 3), [recurrent("gru", 4)], [(4,)], [3 * 4 * (3 + 4 + 2)]),
    "gru-no-bias": ((5, 3), [recurrent("gru", 4, use_bias=False)], [(4,)], [3 * 4 * (3 + 4)]),
    "stacked-rnn": ((5, 3), [recurrent("simple_rnn", 4, return_sequences=True), recurrent("lstm", 2)],
                    [(5, 4), (2,)], [32, 4 * 2 * (4 + 2 + 1)]),
    "embedding": ((7,), [{"type": "embedding", "input_dim": 11, "output_dim": 4}], [(7, 4)], [11 * 4]),
    # bidirectional: two directions' weights; concat doubles the width, sum / ave / mul keep it
    "gru-bidirectional-concat-sequences": ((40, 1), [recurrent("gru", 6, bidirectional=True, return_sequences=True)],
                                           [(40, 12)], [2 * 3 * 6 * (1 + 6 + 2)]),
    "lstm-bidirectional-sum": ((5, 3), [recurrent("lstm", 4, bidirectional=True, merge_mode="sum")], [(4,)],
                               [2 * 4 * 4 * (3 + 4 + 1)]),
    "simple_rnn-bidirectional-mul-sequences": ((5, 3), [recurrent("simple_rnn", 4, bidirectional=True,
                                                                  merge_mode="mul", return_sequences=True)],
                                               [(5, 4)], [2 * 4 * (3 + 4 + 1)]),
}


@pytest.mark.parametrize("case", SHAPE_CASES)
def test_shapes_and_parameter_counts_by_hand(case):
    input_shape, layers, expected_shapes, expected_params = SHAPE_CASES[case]
    model = ModelSpec.model_validate({"input_shape": list(input_shape), "layers": layers})
    infos = shapes.infer(model)
    assert [info.output_shape for info in infos] == expected_shapes
    assert [info.params for info in infos] == expected_params
    assert shapes.count_params(model) == sum(expected_params)


@pytest.mark.parametrize("layer, input_shape, moving_statistics", [
    ({"type": "batch_normalization"}, (6,), 2 * 6),
    ({"type": "batch_normalization", "center": False, "scale": False}, (4, 4, 3), 2 * 3),  # per channel only
    (conv("conv1d", 4, 3), (11, 3), 0),
])
def test_moving_statistics_are_counted_apart(layer, input_shape, moving_statistics):
    info, = shapes.infer(ModelSpec.model_validate({"input_shape": list(input_shape), "layers": [layer]}))
    assert info.non_trainable == moving_statistics


@pytest.mark.parametrize("size, kernel, stride, dilation, expected", [
    (7, 3, 2, 1, (1, 1)), (8, 3, 2, 1, (0, 1)), (8, 4, 1, 1, (1, 2)), (7, 4, 2, 1, (1, 2)), (8, 5, 3, 1, (1, 2)),
    (11, 2, 1, 3, (1, 2)),  # window 3 * (2 - 1) + 1 = 4
    (4, 5, 1, 1, (2, 2)),   # a kernel larger than the input is fine with 'same'
])
def test_same_padding_is_tensorflows(size, kernel, stride, dilation, expected):
    # the table of keras-torch-equivalence.md section 1.2: pad_total = max((ceil(n/s) - 1) s + window - n, 0),
    # pad_before = pad_total // 2, the extra element after
    assert shapes.same_padding(size, kernel, stride, dilation) == expected


# ------------------------------------------------------------------------------------- rejected stacks

def _spec(input_shape, layers) -> dict:
    return {"name": "stack", "data": {"dataset": "iris"}, "loss": "categorical_crossentropy", "optimizer": "sgd",
            "model": {"input_shape": list(input_shape),
                      "layers": [*layers, FLAT, {"type": "dense", "units": 3, "activation": "softmax"}]}}


def _stack(index, kind, incoming):
    """What a shape error must name: the layer's index, its type and the shape it received."""
    return [f"model.layers[{index}]", kind, f"input of shape {list(incoming)}"]


# (case, input shape, layers, fragments of the one line)
BAD_STACKS = [
    ("conv1d after a flat dense output", (4,), [{"type": "dense", "units": 8}, conv("conv1d", 2, 3)],
     _stack(1, "conv1d", (8,)) + ["rank 2"]),
    ("conv2d on a flat input", (16,), [conv("conv2d", 2, 3)], _stack(0, "conv2d", (16,)) + ["rank 3"]),
    ("conv2d on a sequence", (16, 3), [conv("conv2d", 2, 3)], _stack(0, "conv2d", (16, 3)) + ["rank 3"]),
    ("lstm on a flat input", (10,), [recurrent("lstm", 3)], _stack(0, "lstm", (10,)) + ["rank 2"]),
    ("gru after flatten", (5, 2), [FLAT, recurrent("gru", 3)], _stack(1, "gru", (10,)) + ["rank 2"]),
    ("simple_rnn on an image", (4, 4, 1), [recurrent("simple_rnn", 3)], _stack(0, "simple_rnn", (4, 4, 1))),
    ("kernel larger than input", (4, 2), [conv("conv1d", 2, 5)], _stack(0, "conv1d", (4, 2)) + ["5", "'valid'"]),
    ("conv2d kernel wider than input", (5, 5, 1), [conv("conv2d", 2, [3, 6])], _stack(0, "conv2d", (5, 5, 1))),
    ("dilated window larger than input", (6, 1), [conv("conv1d", 2, 3, dilation_rate=3)],
     _stack(0, "conv1d", (6, 1)) + ["7"]),  # window 3 * (3 - 1) + 1 = 7
    ("conv shrinks the map away", (5, 5, 1), [conv("conv2d", 2, 3), conv("conv2d", 2, 3, strides=2),
                                              conv("conv2d", 2, 3)],
     _stack(2, "conv2d", (1, 1, 2))),  # 5 -> 3 -> (3 - 3) // 2 + 1
    ("max pool larger than input", (3, 3, 2), [{"type": "max_pool2d", "pool_size": 4}],
     _stack(0, "max_pool2d", (3, 3, 2))),
    ("average pool larger than input", (4, 2), [{"type": "average_pool1d", "pool_size": 5}],
     _stack(0, "average_pool1d", (4, 2))),
    ("pool1d on an image", (4, 4, 1), [{"type": "max_pool1d"}], _stack(0, "max_pool1d", (4, 4, 1))),
    ("global pool 2d on a sequence", (8, 3), [{"type": "global_average_pool2d"}],
     _stack(0, "global_average_pool2d", (8, 3))),
    ("reshape to a wrong size", (12,), [{"type": "reshape", "target_shape": [5, 2]}],
     _stack(0, "reshape", (12,)) + ["[5, 2]"]),
    ("reshape with -1 that cannot fit", (12,), [{"type": "reshape", "target_shape": [5, -1]}],
     _stack(0, "reshape", (12,)) + ["[5, -1]"]),
    ("embedding not first", (4,), [{"type": "dense", "units": 8}, {"type": "embedding", "input_dim": 5,
                                                                  "output_dim": 2}],
     _stack(1, "embedding", (8,)) + ["first layer"]),
    ("embedding on a sequence of vectors", (5, 2), [{"type": "embedding", "input_dim": 5, "output_dim": 2}],
     _stack(0, "embedding", (5, 2))),
]

# (case, layer, fragments of the one line): arguments refused by the layer's own model
BAD_ARGUMENTS = [
    ("conv1d strides and dilation", conv("conv1d", 2, 3, strides=2, dilation_rate=2),
     ["model.layers[0]:", "strides", "dilation_rate", "received strides=2, dilation_rate=2"]),
    ("conv2d strides and dilation", conv("conv2d", 2, 3, strides=[2, 1], dilation_rate=[1, 2]),
     ["model.layers[0]:", "strides", "dilation_rate", "[2, 1]", "[1, 2]"]),
    ("filters 0", conv("conv1d", 0, 3), ["model.layers[0].filters", "greater than 0", "received 0"]),
    ("kernel_size 0", conv("conv1d", 2, 0), ["model.layers[0].kernel_size", "greater than 0", "received 0"]),
    ("conv2d kernel_size 0", conv("conv2d", 2, 0), ["model.layers[0].kernel_size", "received 0"]),
    ("conv2d kernel_size with a 0", conv("conv2d", 2, [3, 0]), ["model.layers[0].kernel_size", "[3, 0]"]),
    ("padding full", conv("conv1d", 2, 3, padding="full"),
     ["model.layers[0].padding", "'valid'", "'same'", "received 'full'"]),
    ("pool strides 0", {"type": "max_pool1d", "strides": 0}, ["model.layers[0].strides", "greater than 0"]),
    ("momentum 1.5", {"type": "batch_normalization", "momentum": 1.5},
     ["model.layers[0].momentum", "less than 1", "received 1.5"]),
    ("epsilon 0", {"type": "batch_normalization", "epsilon": 0}, ["model.layers[0].epsilon", "greater than 0"]),
    ("simple_rnn sigmoid", recurrent("simple_rnn", 3, activation="sigmoid"),
     ["model.layers[0].activation", "'tanh'", "'relu'", "received 'sigmoid'"]),
    ("lstm activation", recurrent("lstm", 3, activation="relu"), ["model.layers[0].activation", "not a known field"]),
    ("gru reset_after", recurrent("gru", 3, reset_after=False), ["model.layers[0].reset_after", "not a known field"]),
    ("units 0", recurrent("lstm", 0), ["model.layers[0].units", "greater than 0", "received 0"]),
    ("merge_mode without bidirectional", recurrent("gru", 3, merge_mode="sum"),
     ["model.layers[0]", "merge_mode 'sum' needs bidirectional: true"]),
    ("merge_mode none", recurrent("gru", 3, bidirectional=True, merge_mode=None),
     ["model.layers[0].merge_mode", "'concat'", "'mul'", "received None"]),
    ("reshape two unknowns", {"type": "reshape", "target_shape": [-1, -1]},
     ["model.layers[0].target_shape", "at most one -1", "[-1, -1]"]),
    ("reshape size 0", {"type": "reshape", "target_shape": [0, 12]}, ["model.layers[0].target_shape", "[0, 12]"]),
    ("embedding input_dim 0", {"type": "embedding", "input_dim": 0, "output_dim": 2},
     ["model.layers[0].input_dim", "greater than 0", "received 0"]),
]
ARGUMENT_INPUT = {"conv1d": (8, 1), "conv2d": (8, 8, 1), "max_pool1d": (8, 1), "batch_normalization": (4,),
                  "simple_rnn": (5, 2), "lstm": (5, 2), "gru": (5, 2), "reshape": (12,), "embedding": (5,)}


def _assert_rejected(tmp_path, capsys, spec, expected):
    assert main(["validate", str(write_spec(tmp_path, spec))]) == 2
    line = one_error_line(capsys)
    for fragment in expected:
        assert fragment in line, f"{fragment!r} missing from: {line}"


@pytest.mark.parametrize("case, input_shape, layers, expected", BAD_STACKS, ids=[c[0] for c in BAD_STACKS])
def test_impossible_stack_gets_one_line_naming_the_layer(tmp_path, capsys, case, input_shape, layers, expected):
    _assert_rejected(tmp_path, capsys, _spec(input_shape, layers), expected)


@pytest.mark.parametrize("case, layer, expected", BAD_ARGUMENTS, ids=[c[0] for c in BAD_ARGUMENTS])
def test_bad_layer_argument_gets_one_line(tmp_path, capsys, case, layer, expected):
    _assert_rejected(tmp_path, capsys, _spec(ARGUMENT_INPUT[layer["type"]], [layer]), expected)


def test_rejected_before_any_framework_is_imported(tmp_path):
    """Every bad spec above, validated in one fresh process: status 2 each time, and neither framework loaded."""
    paths = [str(write_spec(tmp_path, _spec(shape, layers), f"stack{i}.yaml"))
             for i, (_, shape, layers, _) in enumerate(BAD_STACKS)]
    paths += [str(write_spec(tmp_path, _spec(ARGUMENT_INPUT[layer["type"]], [layer]), f"argument{i}.yaml"))
              for i, (_, layer, _) in enumerate(BAD_ARGUMENTS)]
    script = ("import json, sys\nfrom harness.cli import main\n"
              f"codes = [main(['validate', p]) for p in {paths!r}]\n"
              "loaded = sorted({'tensorflow', 'keras', 'torch'} & set(sys.modules))\n"
              "print(json.dumps({'codes': codes, 'loaded': loaded}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"codes": [2] * len(paths), "loaded": []}
    assert len(done.stderr.strip().splitlines()) == len(paths) and "Traceback" not in done.stderr


@pytest.mark.parametrize("bidirectional, expected", [
    (True, ["bidirectional merge", "bidirectional last state", "bidirectional backward weights"]), (False, [])])
def test_defaults_diff_names_the_bidirectional_traps(bidirectional, expected):
    spec = make_spec([recurrent("gru", 3, bidirectional=bidirectional), {"type": "dense", "units": 2}], (5, 2),
                     loss="mse", dataset="diabetes")
    rows = [row for row in defaults.table(spec) if row["setting"].startswith("bidirectional")]
    assert [row["setting"] for row in rows] == expected
    assert all(row["keras"] and row["torch"] and row["harness"] for row in rows)
