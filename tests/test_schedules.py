"""Learning-rate schedules and gradient clipping (harness.core.schedules, models_*/clipping.py), real frameworks:

- Keras' own schedule objects, as the Keras adapter builds them, against the float32 formulas the torch side and
  the numpy reference use: relative 1e-6 (Keras' pow and cos may differ from numpy's by an ulp; measured <= 1.3e-7);
- the three clips: Keras' optimizer, the torch adapter's written-out arithmetic and the numpy reference's on the
  same arrays (relative 1e-6, float32 sums in another order);
- the plateau rule against Keras' own ReduceLROnPlateau callback on the same sequence of monitored values;
- parity traces (tensorflow, torch and, where it supports the spec, numpy) for every schedule with every optimizer
  family, the clip rotating so that every optimizer meets every clip, at parity.TOLERANCES float32;
- `harness run` with SGD, no dropout, a schedule and a clip: history.csv's learning_rate rows agree across
  frameworks (relative 1e-6), the epoch losses within 1e-4, and both scripts in OUT/code reproduce the runs' batch
  losses within 1e-4.
"""

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import SEED, dense, make_spec
from test_parity import make_spec as parity_spec

from harness.core import data, history, init, schedules, shapes, validate
from harness.core.reference import supports
from harness.core.reference_optimizers import clip_gradients as reference_clip
from harness.jobs import frameworks
from harness.jobs import trace as parity
from harness.jobs.train import fit
from harness.parity.compare import compare

RATE_RTOL = 1e-6
CLIP_RTOL = 1e-6
CURVE_ATOL = 1e-4
PARITY_STEPS = 15  # 3 epochs of the parity data (5 steps each): epoch schedules and the plateau change twice

SCHEDULES = {
    "constant": {"type": "constant"},
    "piecewise_constant": {"type": "piecewise_constant", "boundaries": [3, 9], "values": [0.02, 0.01, 0.004]},
    "exponential_decay": {"type": "exponential_decay", "decay_steps": 4, "decay_rate": 0.6},
    "exponential_staircase": {"type": "exponential_decay", "decay_steps": 4, "decay_rate": 0.6, "staircase": True},
    "cosine_warmup": {"type": "cosine_decay", "decay_steps": 10, "warmup_steps": 5, "warmup_start": 0.001,
                      "alpha": 0.1},
    "cosine": {"type": "cosine_decay", "decay_steps": 12},
    "exponential_per_epoch": {"type": "exponential_decay", "decay_steps": 1, "decay_rate": 0.5, "step": "epoch"},
    "reduce_on_plateau": {"type": "reduce_on_plateau", "monitor": "loss", "patience": 0, "min_delta": 10.0,
                          "factor": 0.5},
}
CLIPS = {"none": {}, "clipnorm": {"clipnorm": 0.05}, "global_clipnorm": {"global_clipnorm": 0.08},
         "clipvalue": {"clipvalue": 0.01}}
FAMILIES = {"sgd": {"type": "sgd", "momentum": 0.9}, "adam": {"type": "adam"}, "adamw": {"type": "adamw"},
            "rmsprop": {"type": "rmsprop"}, "adagrad": {"type": "adagrad", "learning_rate": 0.05}}


def _optimizer(family: str, schedule: str = "constant", clip: str = "none") -> dict:
    rate = {"learning_rate": SCHEDULES[schedule]["values"][0]} if schedule == "piecewise_constant" else {}
    return {"learning_rate": 0.02, **FAMILIES[family], **rate, "schedule": SCHEDULES[schedule], **CLIPS[clip]}


def _mlp(optimizer: dict, epochs: int = 4):
    return make_spec([dense(8, "tanh"), dense(3, "softmax")], optimizer=optimizer,
                     training={"epochs": epochs, "batch_size": 16})


# ----------------------------------------------------------------------------------- schedules and clips

@pytest.mark.parametrize("schedule", [name for name in SCHEDULES if name not in ("constant", "reduce_on_plateau")])
def test_keras_schedule_objects_follow_the_formulas(tf_adapter, schedule):
    optimizer = _mlp(_optimizer("sgd", schedule)).optimizer
    keras_rate = tf_adapter.optimizer_arguments(optimizer)[1]["learning_rate"]
    counts = range(30)
    expected = [schedules.rate(optimizer, count) for count in counts]
    if schedules.per_epoch(optimizer):  # a float for the first epoch; the epoch loop assigns the later ones
        assert keras_rate == expected[0]
        return
    found = [float(keras_rate(count)) for count in counts]
    np.testing.assert_allclose(found, expected, rtol=RATE_RTOL, atol=0)
    assert len(set(expected)) > 2, f"the schedule does not change the rate: {expected}"


GRADIENTS = [np.random.default_rng(SEED).normal(scale=scale, size=shape).astype("float32")
             for scale, shape in ((0.1, (6, 5)), (1e-3, (5,)), (0.0, (3,)), (2.0, (4, 2)))]


@pytest.mark.parametrize("clip", [name for name in CLIPS if name != "none"])
def test_the_three_clips_agree_with_keras(adapters, clip):
    optimizer = _mlp(_optimizer("sgd", clip=clip)).optimizer
    from models_tf.clipping import clip_gradients as keras_clip
    from models_torch.clipping import clip_gradients as torch_clip

    keras = keras_clip(GRADIENTS, optimizer)
    for name, clipped in (("torch", torch_clip(GRADIENTS, optimizer)),
                          ("numpy", reference_clip(optimizer, GRADIENTS))):
        for index, (found, wanted) in enumerate(zip(clipped, keras)):
            np.testing.assert_allclose(found, wanted, rtol=CLIP_RTOL, atol=1e-12, err_msg=f"{name}, tensor {index}")
    assert not all(np.array_equal(a, b) for a, b in zip(keras, GRADIENTS)), "the clip changed nothing"


PLATEAU_CASES = {  # (settings, monitored values per epoch)
    "patience_2_cooldown_1": ({"patience": 2, "cooldown": 1, "factor": 0.5, "min_delta": 0.01},
                              [1.0, 0.9, 0.895, 0.9, 0.9, 0.9, 0.5, 0.6, 0.6, 0.6, 0.6]),
    "floor_min_lr": ({"patience": 0, "factor": 0.1, "min_lr": 0.003, "min_delta": 0.0}, [1.0] * 6),
}


@pytest.mark.parametrize("case", PLATEAU_CASES)
def test_the_plateau_rule_is_keras_reduce_lr_on_plateau(tf_adapter, case):
    import keras

    settings, values = PLATEAU_CASES[case]
    optimizer = _mlp(_optimizer("sgd", "reduce_on_plateau") | {"learning_rate": 0.1}).optimizer
    optimizer = optimizer.model_copy(update={"schedule": optimizer.schedule.model_copy(update=settings)})
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", mode="min", verbose=0, **settings)
    callback.set_model(model)
    callback.on_train_begin()
    plateau, ours, theirs = schedules.Plateau(optimizer, "accuracy"), float(np.float32(0.1)), []
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"loss": value})
        theirs.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
        ours = plateau.update(value, ours) or ours
        assert ours == theirs[-1], f"epoch {epoch}: {ours} against Keras' {theirs}"
    assert len(set(theirs)) > 2, theirs


@pytest.mark.parametrize("schedule, clip", [("piecewise_constant", "clipnorm"), ("cosine_warmup", "global_clipnorm"),
                                            ("exponential_per_epoch", "clipvalue"), ("reduce_on_plateau", "none")])
def test_the_defaults_table_names_the_schedule_and_the_clip(schedule, clip):
    from harness.core.defaults import table

    spec = _mlp(_optimizer("adam", schedule, clip))
    settings = [row["setting"] for row in table(spec)]
    wanted = [f"schedule {spec.optimizer.schedule.type}"] + ([f"gradient clipping {clip}="] if clip != "none" else [])
    assert all(any(setting.startswith(name) for setting in settings) for name in wanted), settings
    plain = table(_mlp(_optimizer("adam") | {"schedule": None}))
    assert not any(row["setting"].startswith(("schedule", "gradient clipping")) for row in plain)


# --------------------------------------------------------------------------------------------- parity

# Every schedule type (and both steps) with every optimizer family; the clip index (i + j) mod 4 gives each family
# all four clip settings over its six schedules.
PARITY_SCHEDULES = ("constant", "piecewise_constant", "exponential_staircase", "cosine_warmup",
                    "exponential_per_epoch", "reduce_on_plateau")
PARITY_CASES = {f"{family}-{schedule}": (family, schedule, list(CLIPS)[(i + j) % len(CLIPS)])
                for (i, family), (j, schedule) in itertools.product(enumerate(FAMILIES), enumerate(PARITY_SCHEDULES))}


# Recurrent stacks with per-variable clipping: torch's GRU splits Keras' (2, 3H) bias in two tensors, clipped as one
RECURRENT_CASES = {
    "gru-clipnorm": ((5, 3), [{"type": "gru", "units": 4, "bias_initializer": "he_uniform"}], "adam", "clipnorm"),
    "bidirectional_gru-clipnorm": ((5, 3), [{"type": "gru", "units": 4, "bidirectional": True,
                                             "bias_initializer": "he_uniform"}], "rmsprop", "clipnorm"),
    "bidirectional_lstm-global_clipnorm": ((5, 3), [{"type": "lstm", "units": 4, "bidirectional": True,
                                                     "merge_mode": "sum"}], "sgd", "global_clipnorm"),
}


@pytest.mark.parametrize("case", [*PARITY_CASES, *RECURRENT_CASES])
def test_parity_with_every_schedule_clip_and_optimizer(adapters, tmp_path, case):
    if case in RECURRENT_CASES:
        input_shape, body, family, clip = RECURRENT_CASES[case]
        schedule = "cosine_warmup"
    else:
        (family, schedule, clip), input_shape, body = PARITY_CASES[case], (6,), [dense(8, "tanh")]
    spec = parity_spec(tmp_path, input_shape, body)
    spec = spec.model_copy(update={"optimizer": _mlp(_optimizer(family, schedule, clip)).optimizer})
    dataset = parity.cast_dataset(data.prepare(spec), "float32")
    weights = init.initial_weights(spec.model, SEED)
    found = {name: parity.framework_trace(adapter, frameworks.load_parity(name), spec, dataset, weights,
                                          PARITY_STEPS, "float32", SEED) for name, adapter in adapters.items()}
    if supports(spec)[0]:
        found["numpy"] = parity.reference_trace(spec, dataset, weights, PARITY_STEPS, "float32", SEED)
    layer_types = [info.type for info in shapes.infer(spec.model)]
    names = [name for name, _, keep in init.canonical_weights(spec.model, SEED) if keep]
    for a, b in itertools.combinations(found, 2):
        assert len(found[a].loss) == len(found[b].loss) == PARITY_STEPS
        comparison = compare(a, found[a], b, found[b], layer_types, names, parity.TOLERANCES["float32"])
        assert comparison.passed, f"{a}-{b}: {comparison.maxima()}"
    if clip != "none":  # the clip bites: some step's gradient is beyond it
        limit = next(iter(CLIPS[clip].values()))
        norms = [max(float(np.max(np.abs(g))) if clip == "clipvalue" else float(np.linalg.norm(g)) for g in step)
                 for step in found["torch"].gradients]
        assert max(norms) > limit, f"no gradient reached the {clip} of {limit}: {max(norms)}"


# ------------------------------------------------------------------------------------------ fit runs

# ------------------------------------------------------------------------- harness run and its scripts

RUN_CASES = {  # schedule, clip, the differences model_torch.py must mark: SGD without momentum or dropout
    "cosine_warmup-clipnorm": ("cosine_warmup", "clipnorm", ["clipnorm"]),
    "per_epoch-global_clipnorm": ("exponential_per_epoch", "global_clipnorm", ["global_clipnorm"]),
    "plateau_val_loss-clipvalue": ("reduce_on_plateau", "clipvalue", ["plateau"]),
}


@pytest.mark.parametrize("case", RUN_CASES)
def test_harness_run_and_its_scripts_apply_the_schedule_and_clip(adapters, tmp_path, case):
    """harness run (in process): history.csv's learning_rate rows agree across frameworks (relative 1e-6) and
    change, the loss curves within CURVE_ATOL; then both scripts in OUT/code, run standalone for the same epochs
    from the same weights, reproduce the harness runs' batch losses (1e-4: the scripts are float32 programs of
    the same arithmetic)."""
    from test_code import _batch_losses, _comments, _run_script

    import harness
    from harness.code.common import DIFFERS

    schedule, clip, topics = RUN_CASES[case]
    optimizer = _optimizer("sgd", schedule, clip) | {"learning_rate": 0.2, "momentum": 0.0}
    if schedule == "reduce_on_plateau":
        optimizer["schedule"] = {**optimizer["schedule"], "monitor": "val_loss"}
    raw = {"name": case, "data": {"dataset": "iris", "validation_split": 0.2}, "loss": "categorical_crossentropy",
           "model": {"input_shape": [4], "layers": [dense(8, "tanh"), dense(3, "softmax")]}, "optimizer": optimizer,
           "training": {"epochs": 3, "batch_size": 16}, "seeds": [0]}
    results = harness.run(raw, tmp_path / "out", in_process=True, tensorboard=False, save_weights=False,
                          log=lambda line: None)
    table_rows = results.history
    for metric, rtol, atol in (("learning_rate", RATE_RTOL, 0), ("loss", 0, CURVE_ATOL)):
        rows = table_rows[(table_rows.metric == metric) & (table_rows.split == "train")]
        table = rows.pivot_table(index="epoch", columns="framework", values="value")
        assert len(table) == 3, f"{metric}: {len(table)} epochs recorded"
        np.testing.assert_allclose(table.torch, table.tensorflow, rtol=rtol, atol=atol, err_msg=metric)
    rates = table_rows[table_rows.metric == "learning_rate"].pivot_table(index="epoch", columns="framework",
                                                                         values="value")
    per_epoch = -(-int(results.manifest["matched"]["n_train"]) // 16)  # updates per epoch
    o = validate.parse_spec(raw).optimizer
    # plateau: patience 0 and min_delta 10, so epoch 1 sets the best and every later epoch halves the rate
    expected = ([0.2, 0.2, 0.1] if schedule == "reduce_on_plateau" else
                [schedules.rate(o, epoch * (per_epoch if schedules.per_batch(o) else 1)) for epoch in range(3)])
    np.testing.assert_allclose(rates.tensorflow, expected, rtol=RATE_RTOL, atol=0)
    assert len(set(expected)) > 1, expected
    code = tmp_path / "out" / "code"
    marked = _comments((code / "model_torch.py").read_text())
    assert all(DIFFERS[topic][1] in marked for topic in topics), topics
    wanted = [loss for epoch in _run_epochs(tmp_path / "out") for loss in epoch]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda framework: _run_script(code, framework, "--weights", "initial_weights.npz", "--epochs",
                                                    "3", "--batch-losses", str(tmp_path / f"{framework}.csv")),
                      ("tensorflow", "torch")))
    for framework in ("tensorflow", "torch"):
        found = _batch_losses(tmp_path / f"{framework}.csv")
        np.testing.assert_allclose(found, wanted, rtol=0, atol=CURVE_ATOL, err_msg=f"{framework} script")


def _run_epochs(out) -> list[list[float]]:
    """The tensorflow run's batch losses, epoch by epoch, from its run record."""
    import json

    record = next(json.loads(path.read_text()) for path in (out / "runs").glob("*.json")
                  if json.loads(path.read_text())["framework"] == "tensorflow")
    return [epoch["batch_losses"] for epoch in record["epochs"]]


def test_the_learning_rate_is_a_tensorboard_scalar():
    row = {"epoch": 1, "loss": 1.0, "metric": 0.5, "epoch_seconds": 0.1, "learning_rate": 0.01}
    assert history.epoch_scalars(row, "accuracy")["optimizer/learning_rate"] == 0.01
    constant = {key: value for key, value in row.items() if key != "learning_rate"}  # a run without a schedule
    assert "optimizer/learning_rate" not in history.epoch_scalars(constant, "accuracy")


# SGD with momentum under a changing rate: Keras' velocity is already multiplied by each step's rate, torch's
# momentum_buffer is not; the torch trainer rescales its buffers by old / new at each change (models_torch.train).
# Without the rescale these runs differ by 1e-4 to 3e-4 per epoch; with it, by float32 round-off.
MOMENTUM_CASES = [
    ({"type": "exponential_decay", "decay_steps": 20, "decay_rate": 0.5}, {"momentum": 0.9}),
    ({"type": "cosine_decay", "decay_steps": 200, "warmup_steps": 30}, {"momentum": 0.9, "nesterov": True}),
    ({"type": "exponential_decay", "decay_steps": 1, "decay_rate": 0.5, "step": "epoch"}, {"momentum": 0.9}),
]


@pytest.mark.parametrize("schedule, momentum", MOMENTUM_CASES, ids=["exponential", "cosine-nesterov", "per-epoch"])
def test_sgd_momentum_under_a_schedule_trains_alike(adapters, schedule, momentum):
    spec = make_spec([{"type": "dense", "units": 32, "activation": "tanh"},
                      {"type": "dense", "units": 10, "activation": "softmax"}], input_shape=(64,), dataset="digits",
                     optimizer={"type": "sgd", "learning_rate": 0.05, "schedule": schedule, **momentum},
                     training={"epochs": 3, "batch_size": 32})
    dataset, weights = data.prepare(spec), init.initial_weights(spec.model, SEED)
    runs = [fit(adapter, spec, dataset, SEED, weights)["epochs"] for adapter in adapters.values()]
    for keras_row, torch_row in zip(*runs):
        for key in ("loss", "val_loss"):
            assert abs(keras_row[key] - torch_row[key]) < 1e-6, (key, keras_row, torch_row)
