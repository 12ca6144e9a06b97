"""Test figures computed once, in numpy, from each framework's predictions: one definition for both columns."""

import numpy as np

from harness.core.data import Dataset


def accuracy(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """kind: sparse_categorical (y_true (N,) ints), categorical (one-hot (N, K)) or binary ((N, units) 0/1)."""
    if kind == "sparse_categorical":
        return float(np.mean(y_pred.argmax(-1) == y_true))
    if kind == "categorical":
        return float(np.mean(y_pred.argmax(-1) == y_true.argmax(-1)))
    return float(np.mean((y_pred > 0.5) == (y_true > 0.5)))  # p = 0.5 counts as class 0, as in Keras


def regression_errors(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE and R^2 over all outputs; y (N, units)."""
    residual = y_true - y_pred
    total = np.sum((y_true - y_true.mean(axis=0)) ** 2)
    return {"test_mae": float(np.mean(np.abs(residual))),
            "test_rmse": float(np.sqrt(np.mean(residual ** 2))),
            "test_r2": float(1.0 - np.sum(residual ** 2) / total) if total > 0 else float("nan")}


def test_set_figures(dataset: Dataset, predictions: np.ndarray) -> dict:
    target = dataset.target
    if target.task == "classification":
        return {"test_accuracy": accuracy(target.accuracy, dataset.y_test, predictions)}
    # Errors in the target's original units when the targets were standardized for training.
    scale, shift = dataset.target_std, dataset.target_mean
    y_true = dataset.y_test * scale + shift
    figures = regression_errors(y_true, predictions * scale + shift)
    if dataset.baseline_test is not None:  # e.g. the last-value forecast of a time series, already in original units
        baseline = regression_errors(y_true, dataset.baseline_test)
        figures.update(baseline_test_mae=baseline["test_mae"], baseline_test_rmse=baseline["test_rmse"])
    return figures
