"""One epoch of a worker's result as history.csv rows and as TensorBoard scalars: one definition for the table,
the event files and MLflow, so each gets exactly the same figures."""

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
