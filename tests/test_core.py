"""The framework-free core: shapes, parameter counts, initial weights, data preparation, batch order."""

import numpy as np
import pandas as pd
import pytest

from harness.core import data, init, shapes, splits
from harness.core.validate import parse_spec


def make_spec(layers, input_shape=(4,), dataset="iris", loss="categorical_crossentropy", **extra):
    raw = {"name": "t", "data": {"dataset": dataset, **extra.pop("data", {})},
           "model": {"input_shape": list(input_shape), "layers": layers}, "loss": loss, "optimizer": "sgd", **extra}
    return parse_spec(raw)


def dense(units, activation="linear", **options):
    return {"type": "dense", "units": units, "activation": activation, **options}


@pytest.mark.parametrize("layers,input_shape,expected_shapes,expected_params", [
    ([dense(3, "softmax")], (4,), [(3,)], [4 * 3 + 3]),
    ([dense(8, "relu"), {"type": "dropout", "rate": 0.5}, dense(3, "softmax")], (4,), [(8,), (8,), (3,)],
     [40, 0, 27]),
    ([dense(8, use_bias=False), dense(3, "softmax")], (4,), [(8,), (3,)], [32, 27]),
    ([{"type": "flatten"}, dense(3, "softmax")], (2, 2), [(4,), (3,)], [0, 15]),
    ([dense(5), {"type": "flatten"}, {"type": "activation", "activation": "relu"}, dense(3, "softmax")], (2, 2),
     [(2, 5), (10,), (10,), (3,)], [15, 0, 0, 33]),
])
def test_shapes_and_parameter_counts(layers, input_shape, expected_shapes, expected_params):
    infos = shapes.infer(make_spec(layers, input_shape).model)
    assert [info.output_shape for info in infos] == expected_shapes
    assert [info.params for info in infos] == expected_params


@pytest.mark.parametrize("name,limit", [("glorot_uniform", np.sqrt(6 / (300 + 200))), ("he_uniform", np.sqrt(6 / 300)),
                                        ("lecun_uniform", np.sqrt(3 / 300))])
def test_uniform_initializers_match_keras_bounds(name, limit):
    values = init.draw(name, (300, 200), np.random.default_rng(0))
    assert values.dtype == np.float32
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit  # 60,000 draws reach the edge
    assert abs(values.std() - limit / np.sqrt(3)) < 0.01 * limit  # std of U(-l, l) is l / sqrt(3)


@pytest.mark.parametrize("name,stddev", [("glorot_normal", np.sqrt(2 / 500)), ("he_normal", np.sqrt(2 / 300)),
                                         ("lecun_normal", np.sqrt(1 / 300))])
def test_truncated_normal_initializers_have_the_nominal_stddev(name, stddev):
    values = init.draw(name, (300, 200), np.random.default_rng(0))
    assert abs(values.std() - stddev) < 0.02 * stddev  # the 0.8796 rescaling restores the nominal variance
    assert np.abs(values).max() <= 2 * stddev / 0.87962566103423978 + 1e-7


def test_initial_weights_are_deterministic_in_the_seed_and_in_canonical_layout():
    spec = make_spec([dense(8, "relu"), dense(3, "softmax", bias_initializer="ones")])
    first, again, other = (init.initial_weights(spec.model, seed) for seed in (0, 0, 1))
    assert [w.shape for w in first] == [(4, 8), (8,), (8, 3), (3,)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    assert np.all(first[1] == 0) and np.all(first[3] == 1)


def test_data_split_is_deterministic_and_standardized_with_training_statistics():
    spec = make_spec([dense(3, "softmax")], data={"validation_split": 0.2, "test_split": 0.2})
    a, b = data.prepare(spec), data.prepare(spec)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (96, 24, 30)
    assert np.allclose(a.x_train.mean(axis=0), 0, atol=1e-6) and np.allclose(a.x_train.std(axis=0), 1, atol=1e-5)
    assert not np.allclose(a.x_test.mean(axis=0), 0, atol=1e-3)  # test data scaled with training statistics only
    assert a.y_train.dtype == np.int64 and a.target.label_format == "sparse"


@pytest.mark.parametrize("loss,layers,dataset,label_shape,dtype", [
    ("categorical_crossentropy", [dense(3, "softmax")], "iris", (None,), np.int64),
    ("mse", [dense(3, "softmax")], "iris", (None, 3), np.float32),  # one-hot targets for a softmax + mse
    ("binary_crossentropy", [dense(1, "sigmoid")], "breast_cancer", (None, 1), np.float32),
    ("mse", [dense(1)], "diabetes", (None, 1), np.float32),
])
def test_target_encoding(loss, layers, dataset, label_shape, dtype):
    shape = {"iris": (4,), "breast_cancer": (30,), "diabetes": (10,)}[dataset]
    prepared = data.prepare(make_spec(layers, shape, dataset=dataset, loss=loss))
    assert prepared.y_train.dtype == dtype
    assert prepared.y_train.shape[1:] == label_shape[1:]


def test_standardized_regression_targets_are_scored_in_original_units():
    spec = make_spec([dense(1)], (10,), dataset="diabetes", loss="mse", data={"standardize_target": True})
    prepared = data.prepare(spec)
    assert abs(prepared.y_train.mean()) < 1e-5 and prepared.target_std > 10
    from harness.core.metrics import test_set_figures
    perfect = test_set_figures(prepared, prepared.y_test)
    assert perfect["test_mae"] == 0 and perfect["test_r2"] == 1
    off_by_one_std = test_set_figures(prepared, prepared.y_test + 1.0)
    assert off_by_one_std["test_mae"] == pytest.approx(prepared.target_std, rel=1e-5)


def test_samples_are_reshaped_to_the_input_shape_once():
    prepared = data.prepare(make_spec([{"type": "flatten"}, dense(10, "softmax")], (8, 8), dataset="digits"))
    assert prepared.x_train.shape[1:] == (8, 8)


def test_csv_and_npz_files(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    labels = np.where(x[:, 0] > 0, "yes", "no")
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    csv = data.prepare(make_spec([dense(2, "softmax")], (3,), dataset="csv",
                                 data={"path": str(tmp_path / "d.csv"), "target": "label"}))
    assert csv.n_train + len(csv.x_val) + len(csv.x_test) == 120 and set(np.unique(csv.y_train)) == {0, 1}
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=1), x_test=x[:10], y_test=x[:10].sum(axis=1))
    npz = data.prepare(make_spec([dense(1)], (3,), dataset="npz", loss="mse", data={"path": str(tmp_path / "d.npz")}))
    assert len(npz.x_test) == 10 and npz.target.task == "regression"


def test_saved_dataset_round_trips_exactly(tmp_path):
    prepared = data.prepare(make_spec([dense(3, "softmax")]))
    data.save(prepared, tmp_path / "d.npz")
    loaded = data.load(tmp_path / "d.npz")
    assert loaded.target == prepared.target
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(loaded, name), getattr(prepared, name))


def test_batch_order_is_one_permutation_per_epoch():
    orders = [data.epoch_order(3, epoch, 50) for epoch in range(3)]
    assert all(np.array_equal(np.sort(order), np.arange(50)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    assert np.array_equal(orders[2], data.epoch_order(3, 2, 50))


@pytest.mark.parametrize("batch_size,expected", [("full", 96), (1, 1), (32, 32), (500, 96)])
def test_gradient_descent_variants_map_to_batch_sizes(batch_size, expected):
    spec = make_spec([dense(3, "softmax")], training={"batch_size": batch_size},
                     data={"validation_split": 0.2, "test_split": 0.2})
    assert data.batch_size_of(spec, 96) == expected


# stratified splits ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("counts, held, expected", [
    ([50, 50, 50], 30, [10, 10, 10]),
    ([5, 3, 2], 5, [3, 1, 1]),   # quotas 2.5, 1.5, 1: the tied remainders go to the lower class
    ([1, 99], 10, [0, 10]),      # quotas 0.1, 9.9: the single sample stays in
    ([1, 1, 1], 2, [1, 1, 0]),   # a split smaller than the class count cannot hold every class
    ([7, 3], 0, [0, 0]),
    ([7, 3], 10, [7, 3]),
])
def test_stratified_shares_are_largest_remainder(counts, held, expected):
    assert splits.shares(np.array(counts), held).tolist() == expected


LABELS = np.repeat([0, 1, 2], [60, 30, 10])  # 100 samples, proportions 6 : 3 : 1


@pytest.mark.parametrize("y", [LABELS, LABELS.reshape(-1, 1), np.eye(3)[LABELS], (LABELS == 0).astype(np.float32)],
                         ids=["indices", "column", "one-hot", "binary"])
def test_stratified_split_keeps_sizes_and_proportions(y):
    x = np.arange(100)
    kept, y_kept, out, y_out = splits.split(x, y, 0.2, np.random.default_rng(3), stratify=True)
    plain = splits.split(x, y, 0.2, np.random.default_rng(3), stratify=False)
    assert (len(kept), len(out)) == (len(plain[0]), len(plain[2])) == (80, 20)
    assert sorted(np.concatenate([kept, out]).tolist()) == list(range(100))  # a partition of the samples
    counts = np.bincount(splits.class_of(y).astype(np.int64))  # 60/30/10, or 40/60 for binary
    classes = len(counts)
    assert splits.class_counts({"out": y_out}, classes)["out"] == splits.shares(counts, 20).tolist()
    assert np.array_equal(out, splits.split(x, y, 0.2, np.random.default_rng(3), stratify=True)[2])
    assert np.array_equal(splits.class_of(y)[out], splits.class_of(y_out))
    same = splits.split(x, LABELS, 0.2, np.random.default_rng(3), stratify=True)[2]
    assert np.array_equal(out, same) or classes == 2  # one-hot rows split exactly as their class indices


@pytest.mark.parametrize("stratify, val, test", [(None, [4, 4, 4], [10, 10, 10]), (False, [4, 5, 3], [10, 9, 11])])
def test_iris_splits_by_class(stratify, val, test):
    prepared = data.prepare(make_spec([dense(3, "softmax")], data={"stratify": stratify}))
    counts = data.split_class_counts(prepared)
    assert (counts["val"], counts["test"], sum(counts["train"])) == (val, test, 108)


def test_a_given_test_set_is_kept_and_only_validation_is_stratified():
    spec = make_spec([dense(10, "softmax")], (40,), dataset="mnist1d")
    stratified, plain = (data.prepare(spec.model_copy(update={"data": spec.data.model_copy(update={"stratify": s})}))
                         for s in (None, False))
    assert np.array_equal(stratified.y_test, plain.y_test)
    assert data.split_class_counts(stratified)["val"] == [40, 40, 41, 40, 39, 40, 40, 40, 40, 40]  # 400 of 4000


def test_a_class_too_small_for_every_split_is_noted(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(20, 2)), y=np.repeat([0, 1], [18, 2]))
    spec = make_spec([dense(2, "softmax")], (2,), dataset="npz", data={"path": str(tmp_path / "d.npz")})
    prepared = data.prepare(spec)
    assert data.split_class_counts(prepared) == {"train": [12, 2], "val": [2, 0], "test": [4, 0]}
    assert [note for note in data.notes(spec, prepared) if note.startswith("stratify")] == [
        f"stratify: the {name} split ({n} samples) has no sample of class(es) 1, too few for a share of every "
        f"split; the split keeps the class proportions as far as it can" for name, n in (("val", 2), ("test", 4))]


@pytest.mark.parametrize("loss, layers, dataset, stratify, harness", [
    ("categorical_crossentropy", [dense(3, "softmax")], "iris", None, "stratified: each class split in proportion"),
    ("categorical_crossentropy", [dense(3, "softmax")], "iris", False, "shuffled, not stratified"),
    ("mse", [dense(1)], "diabetes", None, None),
])
def test_defaults_diff_names_the_split(loss, layers, dataset, stratify, harness):
    from harness.core import defaults

    spec = make_spec(layers, (4,) if dataset == "iris" else (10,), dataset=dataset, loss=loss,
                     data={"stratify": stratify})
    rows = [row for row in defaults.table(spec) if row["setting"].startswith("train/val/test split")]
    assert [row["harness"].startswith(harness) for row in rows] == ([True] if harness else [])
    assert all("unshuffled" in row["keras"] and "random_split" in row["torch"] for row in rows)
