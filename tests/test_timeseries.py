"""Time-series forecasting data: windows, the chronological split, training-part scaling, the naive baseline."""

import subprocess
import sys

import numpy as np
import pytest

from harness.core import data, metrics, timeseries
from harness.core.errors import SpecError
from harness.core.validate import parse_spec

# A hand-made series whose steps grow by one: 0, 1, 3, 6, 10, 15. With windows of 2 the targets are 3, 6, 10, 15
# and the last-value forecasts 1, 3, 6, 10; with half of them as the test set the naive errors are 10 - 6 = 4 and
# 15 - 10 = 5, so MAE 4.5 and RMSE sqrt((16 + 25) / 2).
STEPS = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])
STEPS_BASELINE_MAE, STEPS_BASELINE_RMSE = 4.5, np.sqrt(20.5)


def series_spec(window=2, layers=None, loss="mse", input_shape=None, **data_fields):
    layers = layers or [{"type": "flatten"}, {"type": "dense", "units": 1}]
    return parse_spec({"name": "t", "data": {"dataset": "sunspots", **data_fields}, "loss": loss, "optimizer": "sgd",
                       "model": {"input_shape": input_shape or [window, 1], "layers": layers}})


@pytest.fixture
def steps_series(monkeypatch):
    """Replaces the sunspots loader with STEPS for one test."""
    monkeypatch.setitem(timeseries.SERIES, "sunspots", lambda: STEPS.copy())


def test_each_target_is_the_value_right_after_its_window():
    series = np.arange(10.0) ** 2
    x, y = timeseries.sliding_windows(series, 3)
    assert x.shape == (7, 3, 1) and y.shape == (7, 1)
    for i in range(7):
        assert np.array_equal(x[i, :, 0], series[i:i + 3]) and y[i, 0] == series[i + 3]


@pytest.mark.parametrize("n,validation_split,test_split,sizes", [
    (100, 0.1, 0.2, (72, 8, 20)), (299, 0.1, 0.2, (215, 24, 60)), (10, 0.0, 0.3, (7, 0, 3))])
def test_split_is_chronological(n, validation_split, test_split, sizes):
    times = np.arange(n + 5.0)  # the series is its own time index, so targets say where they are in time
    parts = timeseries.make_windows(times, 5, validation_split, test_split)
    train, val, test = (y[:, 0] for y in parts.y)
    assert (len(train), len(val), len(test)) == sizes
    assert np.array_equal(np.concatenate([train, val, test]), times[5:])  # nothing shuffled, nothing dropped
    assert train.max() < test.min() and (len(val) == 0 or train.max() < val.min() <= val.max() < test.min())


def test_scaling_uses_only_the_training_part_of_the_series():
    series = np.concatenate([np.arange(70.0), np.full(30, 1000.0)])  # a jump inside the test part
    parts = timeseries.make_windows(series, 4, 0.0, 0.4)  # 96 windows: 58 train, targets up to series[61]
    assert parts.y[0][-1, 0] == 61
    assert parts.mean == pytest.approx(np.arange(62.0).mean()) and parts.std == pytest.approx(np.arange(62.0).std())


def test_prepared_sunspots_keep_time_order_and_original_units():
    spec = series_spec(window=10, standardize_target=True)
    prepared = data.prepare(spec)
    series = timeseries.load_series("sunspots")
    assert prepared.x_train.shape[1:] == (10, 1) and prepared.y_train.shape[1:] == (1,)
    assert prepared.n_train + len(prepared.x_val) + len(prepared.x_test) == len(series) - 10
    test_targets = prepared.y_test[:, 0] * prepared.target_std + prepared.target_mean
    np.testing.assert_allclose(test_targets, series[-len(test_targets):], rtol=1e-5)  # float32 round-off
    np.testing.assert_allclose(prepared.baseline_test[:, 0], series[-len(test_targets) - 1:-1])


def test_baseline_figures_on_a_hand_made_series(steps_series):
    prepared = data.prepare(series_spec(window=2, validation_split=0.0, test_split=0.5, standardize_target=True))
    assert prepared.target_std != 1.0  # the targets were scaled, the figures must still be in original units
    perfect = metrics.test_set_figures(prepared, prepared.y_test)
    assert perfect["test_mae"] == 0
    assert perfect["baseline_test_mae"] == pytest.approx(STEPS_BASELINE_MAE, rel=1e-12)
    assert perfect["baseline_test_rmse"] == pytest.approx(STEPS_BASELINE_RMSE, rel=1e-12)
    worse = metrics.test_set_figures(prepared, prepared.y_test + 1.0)
    assert worse["test_mae"] == pytest.approx(prepared.target_std)
    assert worse["baseline_test_mae"] == perfect["baseline_test_mae"]  # the baseline does not depend on the model


def test_baseline_survives_the_saved_dataset(tmp_path, steps_series):
    prepared = data.prepare(series_spec(window=2, validation_split=0.0, test_split=0.5))
    data.save(prepared, tmp_path / "d.npz")
    loaded = data.load(tmp_path / "d.npz")
    assert np.array_equal(loaded.baseline_test, prepared.baseline_test)


def test_other_datasets_carry_no_baseline():
    spec = parse_spec({"name": "t", "data": {"dataset": "diabetes"}, "loss": "mse", "optimizer": "sgd",
                       "model": {"input_shape": [10], "layers": [{"type": "dense", "units": 1}]}})
    prepared = data.prepare(spec)
    assert prepared.baseline_test is None
    assert "baseline_test_mae" not in metrics.test_set_figures(prepared, prepared.y_test)


@pytest.mark.parametrize("spec_fields,field", [
    ({"input_shape": [5, 2]}, "model.input_shape"),
    ({"input_shape": [400, 1]}, "model.input_shape"),
    ({"loss": "categorical_crossentropy", "layers": [{"type": "flatten"},
                                                     {"type": "dense", "units": 2, "activation": "softmax"}]},
     "loss"),
])
def test_bad_time_series_specs_name_the_field(spec_fields, field):
    with pytest.raises(SpecError) as caught:
        data.prepare(series_spec(**spec_fields))
    assert caught.value.field == field


def test_no_framework_is_imported():
    code = ("import sys; from harness.core import data, metrics, timeseries; "
            "from harness.core.validate import parse_spec; "
            "data.prepare(parse_spec({'name': 't', 'data': {'dataset': 'sunspots'}, 'loss': 'mse', "
            "'optimizer': 'sgd', 'model': {'input_shape': [8, 1], 'layers': [{'type': 'flatten'}, "
            "{'type': 'dense', 'units': 1}]}})); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
