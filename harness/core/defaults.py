"""Where Keras' and PyTorch's own defaults differ for a spec: what a naive port of the spec would have used on
each side, and what the harness sets on both. Values from the installed Keras 3.15 and torch 2.13 sources
(see ../shared/reference/keras-torch-equivalence.md, which tests re-verify)."""

from harness.core import class_weights, schedules
from harness.core.spec import Spec

_OPTIMIZER_ROWS = {
    "sgd": [("learning_rate", "0.01", "lr=0.001")],
    "adam": [("epsilon", "1e-7, added to sqrt(v) before bias correction", "eps=1e-8, after bias correction")],
    "adamw": [("epsilon", "1e-7, added to sqrt(v) before bias correction", "eps=1e-8, after bias correction"),
              ("weight_decay", "0.004", "0.01")],
    "rmsprop": [("learning_rate", "0.001", "lr=0.01"), ("rho", "0.9", "alpha=0.99"),
                ("epsilon", "1e-7, inside the square root", "eps=1e-8, outside the square root")],
    "adagrad": [("learning_rate", "0.001", "lr=0.01"), ("initial_accumulator_value", "0.1", "0"),
                ("epsilon", "1e-7, inside the square root", "eps=1e-10, outside the square root")],
}


def _optimizer_rows(spec: Spec) -> list[dict]:
    optimizer = spec.optimizer
    return [{"setting": f"optimizer {optimizer.type}: {name}", "keras": keras, "torch": torch,
             "harness": repr(getattr(optimizer, name))}
            for name, keras, torch in _OPTIMIZER_ROWS[optimizer.type]]


def _layer_rows(spec: Spec) -> list[dict]:
    types = {layer.type for layer in spec.model.layers}
    rows = []
    initial = "one numpy draw, both" if spec.init == "matched" else "each framework's own"
    if types & {"dense", "conv1d", "conv2d"}:
        rows += [{"setting": "dense/conv kernel initializer", "keras": "glorot_uniform",
                  "torch": "kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in))",
                  "harness": initial},
                 {"setting": "dense/conv bias initializer", "keras": "zeros", "torch": "U(±1/sqrt(fan_in))",
                  "harness": initial}]
    if types & {"lstm", "gru", "simple_rnn"}:
        rows += [{"setting": "recurrent initializers", "keras": "glorot_uniform / orthogonal / zeros",
                  "torch": "U(±1/sqrt(units)) for every tensor", "harness": initial},
                 {"setting": "recurrent biases", "keras": "one bias (GRU: two)", "torch": "two biases",
                  "harness": "second bias held at zero and frozen (LSTM/SimpleRNN)"},
                 {"setting": "recurrent batch axis", "keras": "batch first", "torch": "batch_first=False",
                  "harness": "batch_first=True"}]
    if any(getattr(layer, "bidirectional", False) for layer in spec.model.layers):
        rows += _bidirectional_rows()
    if "batch_normalization" in types:
        rows += [{"setting": "batch normalization momentum", "keras": "0.99 (moving = m·moving + (1-m)·batch)",
                  "torch": "0.1 (running = (1-m)·running + m·batch)", "harness": "Keras m, torch 1 - m"},
                 {"setting": "batch normalization epsilon", "keras": "1e-3", "torch": "1e-5",
                  "harness": "the spec's, on both"},
                 {"setting": "batch normalization running variance", "keras": "biased", "torch": "unbiased",
                  "harness": "biased on both (PyTorch's moving statistics updated the Keras way)"}]
    if "dropout" in types:
        rows.append({"setting": "dropout masks", "keras": "TF stateless RNG", "torch": "torch generator",
                     "harness": "run: each its own; parity: one numpy mask per step"})
    return rows


def _bidirectional_rows() -> list[dict]:
    return [{"setting": "bidirectional merge", "keras": "Bidirectional(merge_mode='concat'); also sum, ave, mul",
             "torch": "bidirectional=True only concatenates: (N, T, 2H)",
             "harness": "the spec's merge_mode; sum/ave/mul computed on torch's two halves"},
            {"setting": "bidirectional last state", "keras": "forward's last step with backward's last (its step 0)",
             "torch": "output[:, -1] holds the backward direction after one step",
             "harness": "torch: output[:, -1, :H] with output[:, 0, H:]"},
            {"setting": "bidirectional backward weights",
             "keras": "a copy of the layer's config: seeded initializers draw both directions alike",
             "torch": "each direction drawn on its own (the *_reverse parameters)",
             "harness": "each direction its own draw; Keras' backward layer passed explicitly, seeded apart"}]


def _split_rows(spec: Spec) -> list[dict]:
    """data.stratify, for classification only (regression splits are never stratified)."""
    classification = (spec.loss in ("binary_crossentropy", "categorical_crossentropy") if spec.data.task is None
                      else spec.data.task == "classification")
    if not classification:
        return []
    harness = ("stratified: each class split in proportion (largest remainder), the same split sizes"
               if spec.data.stratify is not False else "shuffled, not stratified (data.stratify: false)")
    return [{"setting": "train/val/test split (data.stratify)",
             "keras": "fit(validation_split=f): the last f of the arrays, unshuffled, not stratified",
             "torch": "random_split: shuffled, not stratified (sklearn train_test_split: stratify=None)",
             "harness": harness}]


def _precision_rows(spec: Spec) -> list[dict]:
    if spec.training.precision == "float32":
        return []
    return [{"setting": f"mixed precision (training.precision: {spec.training.precision})",
             "keras": "mixed_bfloat16 policy: every op of every layer in bfloat16, the output layer too unless "
                      "given dtype float32",
             "torch": "torch.autocast(bfloat16): matmuls and convolutions in bfloat16, other ops in their "
                      "input's dtype, the output layer too",
             "harness": "both, the last layer in float32 on both sides; float32 weights and loss"}]


def _checkpoint_rows(spec: Spec) -> list[dict]:
    if spec.training.checkpoint_every == 0:
        return []
    return [{"setting": "checkpoints (training.checkpoint_every)",
             "keras": "ModelCheckpoint / BackupAndRestore: weights and optimizer, not the dropout seed generators",
             "torch": "torch.save(state_dict()): module and optimizer, not the RNG state",
             "harness": "every variable, slot, counter and RNG state, and the loop's own: a resumed run is "
                        "bit-identical"}]


def table(spec: Spec) -> list[dict]:
    """Rows {setting, keras, torch, harness}: every default that differs between the frameworks for this spec."""
    return _optimizer_rows(spec) + schedules.default_rows(spec.optimizer) + _layer_rows(spec) + _split_rows(spec) + [
        {"setting": "shuffling", "keras": "fit(shuffle=True), TF RNG", "torch": "DataLoader(shuffle=False)",
         "harness": "one numpy permutation per epoch, both"},
        {"setting": "cross-entropy input", "keras": "probabilities (logits path inside for softmax/sigmoid)",
         "torch": "logits", "harness": "logits on both"},
        {"setting": "regularization", "keras": "penalty added to the loss",
         "torch": "none (weight_decay is a coupled L2 on the optimizer)", "harness": "the Keras penalty on both"},
    ] + class_weights.default_rows(spec) + _precision_rows(spec) + _checkpoint_rows(spec)
