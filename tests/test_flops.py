"""FLOPs per sample from the spec: hand-computed cases, and PyTorch's own counter on the harness's torch models."""

import pytest
from conftest import dense, make_spec

from harness.core import flops, registry

FLAT = {"type": "flatten"}
BATCH = 2


def model(input_shape, layers):
    """The ModelSpec of a regression spec (mse fits any flat output; an embedding takes unstandardized ids)."""
    return make_spec(layers, input_shape=input_shape, loss="mse", data={"standardize": False}).model


def conv1d(filters, kernel_size, **options):
    return {"type": "conv1d", "filters": filters, "kernel_size": kernel_size, **options}


def conv2d(filters, kernel_size, **options):
    return {"type": "conv2d", "filters": filters, "kernel_size": kernel_size, **options}


def recurrent(kind, units, **options):
    return {"type": kind, "units": units, **options}


# (name, input shape, layers, forward FLOPs per layer): 2 FLOPs per multiply-add of the matrix products only
HAND_CASES = [
    # the study notes' MLP: 2 * (40 * 128 + 128 * 10) = 12800
    ("mlp", (40,), [dense(128, "relu"), {"type": "dropout", "rate": 0.2}, dense(10)], [2 * 40 * 128, 0, 2 * 128 * 10]),
    # (7, 3) -> (7, 5): one (3, 5) product per time step
    ("dense-rank2", (7, 3), [dense(5), FLAT], [2 * 7 * 3 * 5, 0]),
    # (10, 3) -> (ceil(10 / 2) = 5, 4), kernel 3 * 3 inputs per position
    ("conv1d-same-stride2", (10, 3), [conv1d(4, 3, strides=2, padding="same"), FLAT], [2 * 5 * 3 * 3 * 4, 0]),
    # (10, 3) -> ((10 - 3) // 2 + 1 = 4, 4)
    ("conv1d-valid-stride2", (10, 3), [conv1d(4, 3, strides=2), FLAT], [2 * 4 * 3 * 3 * 4, 0]),
    # (10, 3) -> (10 - 2 * (3 - 1) = 6, 4)
    ("conv1d-valid-dilated", (10, 3), [conv1d(4, 3, dilation_rate=2), FLAT], [2 * 6 * 3 * 3 * 4, 0]),
    # (9, 8, 2) -> (5, 4, 4), kernel 3 * 2 * 2 inputs per position
    ("conv2d-same-stride2", (9, 8, 2), [conv2d(4, [3, 2], strides=2, padding="same"), FLAT],
     [2 * 5 * 4 * 3 * 2 * 2 * 4, 0]),
    # (9, 8, 2) -> ((9 - 3) // 2 + 1 = 4, (8 - 2) // 2 + 1 = 4, 4)
    ("conv2d-valid-stride2", (9, 8, 2), [conv2d(4, [3, 2], strides=2), FLAT], [2 * 4 * 4 * 3 * 2 * 2 * 4, 0]),
    # 7 steps of x (3,) @ (3, gates * 5) and h (5,) @ (5, gates * 5), whatever is returned
    ("lstm", (7, 3), [recurrent("lstm", 5)], [2 * 7 * 4 * 5 * (3 + 5)]),
    ("gru-sequences", (7, 3), [recurrent("gru", 5, return_sequences=True), FLAT], [2 * 7 * 3 * 5 * (3 + 5), 0]),
    ("simple_rnn", (7, 3), [recurrent("simple_rnn", 5)], [2 * 7 * 1 * 5 * (3 + 5)]),
    ("gru-bidirectional-sum", (7, 3), [recurrent("gru", 5, bidirectional=True, merge_mode="sum")],
     [2 * 2 * 7 * 3 * 5 * (3 + 5)]),  # two directions, the element-wise merge not counted
    ("embedding-pool", (6,), [{"type": "embedding", "input_dim": 20, "output_dim": 8},
                              {"type": "global_average_pool1d"}, dense(3)], [0, 0, 2 * 8 * 3]),
]


@pytest.mark.parametrize("case", HAND_CASES, ids=[case[0] for case in HAND_CASES])
def test_hand_computed(case):
    _, input_shape, layers, expected = case
    spec = model(input_shape, layers)
    assert flops.layer_flops(spec) == [(index, layer["type"], count)
                                       for index, (layer, count) in enumerate(zip(layers, expected))]
    assert flops.forward_flops(spec) == sum(expected)
    assert flops.training_flops(spec) == 3 * sum(expected)


def test_mlp_is_12800():
    assert flops.forward_flops(model((40,), [dense(128, "relu"), {"type": "dropout", "rate": 0.2}, dense(10)])) == 12800


def test_every_layer_type_has_a_rule():
    assert set(flops.RULES) == set(registry.LAYERS)


def test_unknown_type_names_the_allowed_ones(monkeypatch):
    monkeypatch.delitem(flops.RULES, "dense")
    with pytest.raises(ValueError, match="Unknown layer 'dense'. Allowed: activation, average_pool1d"):
        flops.layer_flops(model((4,), [dense(3)]))


# -------------------------------------------------------------------------------- PyTorch's FlopCounterMode

TORCH_CASES = {
    "dense-stack": ((40,), [dense(128, "relu"), {"type": "dropout", "rate": 0.2}, dense(64, "tanh"), dense(10)]),
    "conv1d": ((24, 3), [conv1d(8, 3, strides=2, padding="same", activation="relu"), {"type": "max_pool1d"},
                         conv1d(6, 3, dilation_rate=2), FLAT, dense(4)]),
    "conv2d": ((9, 8, 2), [conv2d(4, 3, strides=2, padding="same"), {"type": "batch_normalization"},
                           conv2d(6, [2, 3]), {"type": "global_average_pool2d"}, dense(3)]),
    "lstm": ((7, 3), [recurrent("lstm", 5, return_sequences=True), recurrent("lstm", 4), dense(2)]),
    "gru": ((7, 3), [recurrent("gru", 5, return_sequences=True), dense(6), FLAT, dense(2)]),
    "simple_rnn": ((7, 3), [recurrent("simple_rnn", 5, activation="relu"), dense(2)]),
    "embedding-gru": ((6,), [{"type": "embedding", "input_dim": 20, "output_dim": 8}, recurrent("gru", 4)]),
    "gru-bidirectional": ((7, 3), [recurrent("gru", 5, bidirectional=True, return_sequences=True), FLAT, dense(2)]),
}


def torch_flops_per_sample(adapter, spec, backward: bool) -> float:
    """FlopCounterMode's total for a batch of BATCH zeros through the harness's torch model, per sample.

    On CPU with oneDNN on (torch's default), nn.LSTM runs as one fused aten.mkldnn_rnn_layer kernel that
    FlopCounterMode has no formula for: an LSTM would count 0. With oneDNN off, torch runs every RNN as per-step
    aten.mm / aten.addmm, which it counts. Convolutions are counted at aten.convolution, whatever runs them.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    network = adapter.build_model(spec, seed=0).eval()
    x = torch.zeros((BATCH, *spec.input_shape), requires_grad=backward)
    with torch.backends.mkldnn.flags(enabled=False, allow_tf32=None), FlopCounterMode(display=False) as counter:
        with torch.set_grad_enabled(backward):
            out = network(x)
            if backward:
                out.sum().backward()
    return counter.get_total_flops() / BATCH


@pytest.mark.parametrize("name", TORCH_CASES)
def test_forward_matches_torch_flop_counter(torch_adapter, name):
    """torch counts 2 FLOPs per multiply-add of mm / addmm / convolution (a bias inside addmm adds nothing) and
    nothing for element-wise work, pooling or embedding lookups: our convention exactly."""
    spec = model(*TORCH_CASES[name])
    assert torch_flops_per_sample(torch_adapter, spec, backward=False) == flops.forward_flops(spec)


def initial_state_gradient(spec) -> int:
    """2 * gates * units**2 per recurrent layer and direction: the gradient of its zero initial state, which torch
    skips."""
    return sum(2 * (1 + layer.bidirectional) * flops.GATES[layer.type] * layer.units ** 2 for layer in spec.layers
               if layer.type in flops.GATES)


@pytest.mark.parametrize("name", TORCH_CASES)
def test_training_matches_torch_backward(torch_adapter, name):
    """Backward is two products per forward product (the gradients of its input and of its weights), so torch's
    forward + backward is 3 x forward, less one product torch has no reason to compute: the gradient of a recurrent
    layer's initial state (a constant zero). The input requires a gradient, so the first layer's input gradient
    is computed, as the convention counts it (a training step would skip it: the estimate is an upper bound)."""
    spec = model(*TORCH_CASES[name])
    counted = torch_flops_per_sample(torch_adapter, spec, backward=True)
    assert counted == flops.training_flops(spec) - initial_state_gradient(spec)
