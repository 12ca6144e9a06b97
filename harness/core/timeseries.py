"""Univariate time series as forecasting samples: sliding windows, a chronological split, a naive baseline.

A window of `window` consecutive values is one sample (window, 1); its target is the value right after it (1,).
The split keeps time order (train, then validation, then test, by target position) and nothing is shuffled across
time: a shuffled split would let the model see values from between the test targets. The series is scaled with
the mean and standard deviation of the part the training targets cover, never with later values.
"""

from dataclasses import dataclass

import numpy as np

from harness.core.errors import SpecError


def _sunspots() -> np.ndarray:
    from statsmodels.datasets import sunspots

    return sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)  # yearly 1700-2008, bundled


def _co2() -> np.ndarray:
    from statsmodels.datasets import co2

    # Weekly Mauna Loa CO2 1958-2001, bundled; 59 missing weeks are filled linearly in time, so the spacing
    # between samples stays one week.
    return co2.load_pandas().data["co2"].interpolate(method="time").to_numpy(np.float64)


SERIES = {"sunspots": _sunspots, "co2": _co2}


def load_series(name: str) -> np.ndarray:
    """The named series, (T,) float64, in its original units."""
    return SERIES[name]()


def window_length(name: str, input_shape: list[int]) -> int:
    """The model's input_shape [window, 1] (or [window]) sets how many past values each sample holds."""
    if len(input_shape) > 2 or (len(input_shape) == 2 and input_shape[1] != 1):
        raise SpecError("model.input_shape", f"time series {name!r} gives samples of shape [window, 1] (or "
                                             f"[window]); received {input_shape}")
    return input_shape[0]


def sliding_windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """x (N, window, 1): series[i:i + window]; y (N, 1): series[i + window], the next value. N = T - window."""
    if not 0 < window < len(series):
        raise SpecError("model.input_shape", f"the window must be shorter than the series ({len(series)} values); "
                                             f"received a window of {window}")
    x = np.lib.stride_tricks.sliding_window_view(series[:-1], window)  # (N, window)
    return x[:, :, None].copy(), series[window:, None].copy()


def chronological_split(n: int, validation_split: float, test_split: float) -> tuple[slice, slice, slice]:
    """Train, validation and test index ranges over n time-ordered samples: the test set is the last part."""
    n_test = int(round(n * test_split))
    n_val = int(round((n - n_test) * validation_split))  # a fraction of what is left, as for the other datasets
    n_train = n - n_test - n_val
    if n_train <= 0 or n_test <= 0:
        raise SpecError("data", f"{n} windows leave {n_train} training and {n_test} test samples; lower "
                                f"test_split / validation_split or the window length")
    if validation_split > 0 and n_val == 0:
        raise SpecError("data.validation_split", f"must hold out at least one validation sample, or be 0 for none; "
                                                 f"received {validation_split}, which holds out 0 of the "
                                                 f"{n - n_test} windows before the test part")
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)


def naive_last_value(x: np.ndarray) -> np.ndarray:
    """The persistence forecast: the next value equals the window's last one. x (N, window, 1) -> (N, 1)."""
    return x[:, -1, :].copy()


@dataclass
class Windows:
    """The split samples in original units (float64) and the training part's mean and std."""

    x: tuple[np.ndarray, np.ndarray, np.ndarray]  # train, val, test: (N, window, 1)
    y: tuple[np.ndarray, np.ndarray, np.ndarray]  # train, val, test: (N, 1)
    mean: float
    std: float


def make_windows(series: np.ndarray, window: int, validation_split: float, test_split: float) -> Windows:
    """Windows, split in time order. mean and std come from series values up to the last training target."""
    x, y = sliding_windows(series, window)
    parts = chronological_split(len(x), validation_split, test_split)
    seen = series[:parts[0].stop + window]  # every value a training window or target holds
    return Windows(tuple(x[part] for part in parts), tuple(y[part] for part in parts),
                   float(seen.mean()), float(seen.std() or 1.0))
