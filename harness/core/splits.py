"""Train/validation/test splits, plain or stratified by class, and the class counts of each split.

A split holds out `held_out(n, fraction)` samples either way, so stratifying never changes a split's size. The
stratified split shuffles once with the data rng (as the plain one does), gives each class a share of the held-out
count proportional to its size (the integer parts first, then one more to the classes with the largest
remainders, ties to the lower class), and holds out the last samples of each class in the shuffled order. A class
too small for a share in every split lands where that rule puts it, so a small split may lack a class: the split
is then stratified as far as it can be (`missing_classes` says which, for data.notes).
"""

import numpy as np


def held_out(n: int, fraction: float) -> int:
    """How many of n samples a split fraction holds out."""
    return int(round(n * fraction))


def class_of(y: np.ndarray) -> np.ndarray:
    """(N,) the class of each sample: y itself for class indices (N,) or (N, 1), the argmax of one-hot rows
    (N, K)."""
    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(len(y))


def shares(counts: np.ndarray, held: int) -> np.ndarray:
    """How many samples of each class (counts: samples per class) the `held` held-out ones take: largest
    remainder, exact in integers; the shares sum to `held` and none exceeds its class."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    whole, remainder = np.divmod(held * counts, total)
    extra = held - int(whole.sum())
    whole[np.argsort(-remainder, kind="stable")[:extra]] += 1
    return whole


def _plain(n: int, held: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    return order[:n - held], order[n - held:]


def _stratified(labels: np.ndarray, held: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(labels))
    _, inverse = np.unique(labels[order], return_inverse=True)  # class index at each shuffled position
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse)
    by_class = np.argsort(inverse, kind="stable")
    rank = np.empty(len(labels), dtype=np.int64)  # position of each sample among its class, in shuffled order
    rank[by_class] = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = rank >= (counts - shares(counts, held))[inverse]
    return order[~out], order[out]


def split(x: np.ndarray, y: np.ndarray, fraction: float, rng: np.random.Generator, stratify: bool = False):
    """(x_keep, y_keep, x_out, y_out): `held_out(len(x), fraction)` samples held out after one shuffle; with
    `stratify`, each class in proportion (see the module docstring). y: class indices or one-hot rows when
    stratified."""
    held = held_out(len(x), fraction)
    keep, out = _stratified(class_of(y), held, rng) if stratify and held else _plain(len(x), held, rng)
    return x[keep], y[keep], x[out], y[out]


def class_counts(ys: dict[str, np.ndarray], classes: int) -> dict[str, list[int]]:
    """{split: samples per class 0..classes-1} for encoded labels (class indices, 0/1 column or one-hot rows)."""
    return {name: np.bincount(class_of(y).astype(np.int64), minlength=classes).tolist() for name, y in ys.items()}


def missing_classes(counts: dict[str, list[int]]) -> dict[str, list[int]]:
    """{split: the classes it lacks} for each non-empty split that lacks a class present in the data."""
    present = np.sum([np.asarray(c) for c in counts.values()], axis=0) > 0
    return {name: np.flatnonzero(present & (np.asarray(c) == 0)).tolist() for name, c in counts.items()
            if sum(c) and (present & (np.asarray(c) == 0)).any()}
