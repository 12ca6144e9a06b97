"""One epoch of a worker's result as history.csv rows and as TensorBoard scalars: one definition for the table,
the event files and MLflow, so each gets exactly the same figures; and the check of the epoch rows a run record or
a checkpoint holds."""

from harness.core.errors import SpecError

SPLITS = ("train", "val")


def history_rows(run: dict, metric: str) -> list[dict]:
    """run: a worker result; metric: 'accuracy' or 'mae'. Splits: train, val; timing is split 'train'."""
    rows = []
    for epoch in run.get("epochs", []):
        base = {"framework": run["framework"], "seed": run["seed"], "epoch": epoch["epoch"]}
        values = [("train", "loss", epoch["loss"]), ("train", metric, epoch["metric"]),
                  ("train", "epoch_seconds", epoch["epoch_seconds"])]
        if "learning_rate" in epoch:  # the rate of the epoch's first update, in a run with a schedule
            values.append(("train", "learning_rate", epoch["learning_rate"]))
        if "val_loss" in epoch:
            values += [("val", "loss", epoch["val_loss"]), ("val", metric, epoch["val_metric"])]
        rows += [{**base, "split": split, "metric": name, "value": value} for split, name, value in values]
    return rows


def tensorboard_tag(split: str, metric: str) -> str:
    """A history.csv (split, metric) as a TensorBoard tag: 'loss/train', 'accuracy/val', 'time/epoch_seconds',
    'optimizer/learning_rate'."""
    return {"epoch_seconds": "time/epoch_seconds", "learning_rate": "optimizer/learning_rate"}.get(
        metric, f"{metric}/{split}")


def mlflow_metric(split: str, metric: str) -> str:
    """A history.csv (split, metric) as an MLflow metric name: 'train_loss', 'val_mae', 'epoch_seconds'."""
    return metric if metric in ("epoch_seconds", "learning_rate") else f"{split}_{metric}"


def epoch_scalars(row: dict, metric: str) -> dict[str, float]:
    """One epoch row of `harness.jobs.train.fit` as {TensorBoard tag: value}, built from `history_rows`.

    row: {"epoch", "loss", "metric", "epoch_seconds", "learning_rate"?, "val_loss"?, "val_metric"?};
    metric: 'accuracy' or 'mae'.
    """
    rows = history_rows({"framework": None, "seed": None, "epochs": [row]}, metric)
    return {tensorboard_tag(r["split"], r["metric"]): float(r["value"]) for r in rows}


# The numbers of an epoch row (harness.jobs.train.fit); the first three are in every row.
EPOCH_NUMBERS = ("loss", "metric", "epoch_seconds", "val_loss", "val_metric", "learning_rate")


def number_or_none(value) -> bool:
    """A JSON number (a boolean is not one) or null."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_epoch_rows(rows: list, name: str, field: str = "epochs") -> list:
    """Epoch rows as the loop writes them (numbered 1, 2, ..., numbers where it writes numbers, the batch losses a
    list of numbers), from a run record or a checkpoint; else the one line naming `name` and the row."""
    def bad(where: str, allowed: str, received) -> SpecError:
        return SpecError(name, f"{where}: expected {allowed}; received {str(received)[:80]!r}")

    for index, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("epoch") != index + 1:
            raise bad(f"{field}[{index}]", f"an object with epoch {index + 1}", row)
        for number in EPOCH_NUMBERS:
            if number in row and not number_or_none(row[number]):
                raise bad(f"{field}[{index}].{number}", "a number", row[number])
        if any(number not in row for number in EPOCH_NUMBERS[:3]):
            raise bad(f"{field}[{index}]", "loss, metric and epoch_seconds", sorted(row))
        batch_losses = row.get("batch_losses", [])
        if not isinstance(batch_losses, list) or not all(number_or_none(value) for value in batch_losses):
            raise bad(f"{field}[{index}].batch_losses", "a list of numbers", batch_losses)
    return rows
