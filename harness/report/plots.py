"""Training curves with both frameworks overlaid: per framework the mean over seeds, and the 95 % confidence band of
that mean (t distribution) when there are several. matplotlib is imported inside the functions so that importing
the harness stays cheap."""

import io
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core import atomic

COLORS = {"tensorflow": "#ff8f00", "torch": "#1f77b4"}
_SPARE_COLORS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
# Matched runs often give identical curves: a wide solid line under a thin dashed one keeps both visible.
_LINES = {"tensorflow": {"linestyle": "-", "linewidth": 3.2, "zorder": 2},
          "torch": {"linestyle": "--", "linewidth": 1.6, "zorder": 3}}
_SPARE_LINE = {"linestyle": "-", "linewidth": 1.6, "zorder": 3}
SPLIT_TITLES = {"train": "train", "val": "validation"}
METRIC_LABELS = {"loss": "loss", "accuracy": "accuracy", "mae": "MAE"}
LOG_SCALE_RATIO = 50  # a loss spanning more than this factor is unreadable on a linear axis


def figure_png(figure) -> bytes:
    """`figure` as PNG bytes. No timestamp metadata, so the same data gives the same bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def write_figure(figure, path) -> Path:
    """Saves `figure` as PNG through a temporary file in the same folder and `os.replace`, so a reader never
    sees a half-written image."""
    return atomic.write_bytes(path, figure_png(figure))


def _style(framework: str, order: int) -> dict:
    return {"color": COLORS.get(framework, _SPARE_COLORS[order % len(_SPARE_COLORS)]),
            **_LINES.get(framework, _SPARE_LINE)}


def _finite(history: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of one metric with finite values only: a diverged run contributes the epochs it finished."""
    rows = history[history["metric"] == metric].copy()
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce").replace([np.inf, -np.inf], np.nan)
    return rows.dropna(subset=["value"])


def _draw_framework(axis, rows: pd.DataFrame, label: str, style: dict) -> None:
    by_seed = rows.pivot_table(index="epoch", columns="seed", values="value", aggfunc="mean")  # (epochs, seeds)
    # Seeds that stopped early drop out of later epochs, so the mean there covers fewer seeds.
    axis.plot(by_seed.index, by_seed.mean(axis=1), label=label, marker="o" if len(by_seed) <= 30 else None,
              markersize=4, **style)
    if by_seed.shape[1] > 1:
        low, high = confidence_band(by_seed)
        axis.fill_between(by_seed.index, low, high, color=style["color"], alpha=0.15, linewidth=0, zorder=1)


def confidence_band(by_seed: pd.DataFrame, confidence: float = 0.95):
    """Per epoch the t-interval of the mean over the seeds present: (low, high); one seed gives no band."""
    from scipy import stats

    count = by_seed.notna().sum(axis=1)
    half = stats.t.ppf(0.5 + confidence / 2, (count - 1).clip(lower=1)) * by_seed.std(axis=1, ddof=1) / np.sqrt(count)
    mean = by_seed.mean(axis=1)
    return mean - half.fillna(0), mean + half.fillna(0)


def _legend_label(framework: str, rows: pd.DataFrame) -> str:
    seeds = rows["seed"].nunique()
    return f"{framework}: mean and 95% CI of {seeds} seeds" if seeds > 1 else f"{framework}: 1 seed"


def use_log_scale(metric: str, values: pd.Series) -> bool:
    if metric != "loss" or values.empty or values.min() <= 0:
        return False
    return bool(values.max() / values.min() > LOG_SCALE_RATIO)


def curves(history: pd.DataFrame, metric: str, path, title: str) -> Path:
    """Writes `curve_png`'s plot to `path` (atomically); returns the path written."""
    return atomic.write_bytes(path, curve_png(history, metric, title))


def curve_png(history: pd.DataFrame, metric: str, title: str) -> bytes:
    """Draws `metric` per epoch, train and validation side by side, both frameworks overlaid, as PNG bytes.

    history: tidy rows (framework, seed, epoch, split, metric, value). metric: 'loss', 'accuracy' or 'mae'.
    With no validation rows there is one panel; with no finite rows, an empty panel that says so.
    """
    from matplotlib.figure import Figure  # not pyplot: the caller's backend and figures stay as they are
    from matplotlib.ticker import MaxNLocator

    rows = _finite(history, metric)
    splits = [split for split in SPLIT_TITLES if (rows["split"] == split).any()] or ["train"]
    figure = Figure(figsize=(5.2 * len(splits), 3.8))
    axes = figure.subplots(1, len(splits), sharey=True, squeeze=False)
    frameworks = list(dict.fromkeys(history["framework"]))
    for axis, split in zip(axes[0], splits):
        for order, framework in enumerate(frameworks):
            mine = rows[(rows["split"] == split) & (rows["framework"] == framework)]
            if not mine.empty:
                _draw_framework(axis, mine, _legend_label(framework, mine), _style(framework, order))
        axis.set_title(SPLIT_TITLES[split])
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(METRIC_LABELS.get(metric, metric))
    if rows.empty:
        axes[0][0].text(0.5, 0.5, "no finished epochs", ha="center", va="center", transform=axes[0][0].transAxes)
    else:
        axes[0][0].legend(fontsize=8)
    if use_log_scale(metric, rows["value"]):
        axes[0][0].set_yscale("log")  # sharey carries it to the other panel
    figure.suptitle(title, parse_math=False)  # a '$' in an experiment's name is text, not TeX
    return figure_png(figure)
