"""TensorBoard event files written by each framework and read back; a results folder logged to a real MLflow store."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import iris_mlp

from harness.cli import main
from harness.core.errors import SpecError
from harness.core.history import epoch_scalars, tensorboard_tag
from harness.report import tracking
from harness.report.write import write_report
from harness.results import load as results

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
FLOAT32_ROUNDING = 2.0 ** -24  # relative error of rounding a float64 to the nearest float32 (normal numbers)

ROWS = [  # fit() epoch rows: float64 values that float32 cannot hold exactly, the last one without validation
    {"epoch": 1, "loss": 1.0972784757614136, "metric": 0.4444444444444444, "epoch_seconds": 0.4528396219999422,
     "val_loss": 1.0996214151382446, "val_metric": 1 / 3},
    {"epoch": 2, "loss": 0.0123456789012345, "metric": 0.9814814814814815, "epoch_seconds": 0.0022360269999808,
     "val_loss": 3.14159265358979e-5, "val_metric": 0.7},
    {"epoch": 3, "loss": 12345.678901234567, "metric": 1.0, "epoch_seconds": 0.0019356610000613},
]

IRIS = iris_mlp("iris_tensorboard", epochs=3)


def write_events(writer_module, logdir: Path, rows: list[dict], metric: str) -> pd.DataFrame:
    """Writes the rows through one adapter's writer; returns them as expected events (tag, step, value)."""
    writer = writer_module.open_writer(str(logdir))
    expected = []
    for row in rows:
        values = epoch_scalars(row, metric)
        writer.scalars(row["epoch"], values)
        expected += [(tag, row["epoch"], value) for tag, value in values.items()]
    writer.close()
    return pd.DataFrame(expected, columns=tracking.EVENT_COLUMNS).sort_values(["tag", "step"], ignore_index=True)


@pytest.mark.parametrize("row, metric, tags", [
    (ROWS[0], "accuracy", {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "time/epoch_seconds"}),
    (ROWS[2], "mae", {"loss/train", "mae/train", "time/epoch_seconds"}),
])
def test_epoch_scalars_tags(row, metric, tags):
    assert set(epoch_scalars(row, metric)) == tags


@pytest.mark.parametrize("nested, flat", [
    ({"optimizer": {"type": "adam", "epsilon": 1e-07}}, {"optimizer.type": "adam", "optimizer.epsilon": "1e-07"}),
    ({"model": {"input_shape": [4], "layers": [{"units": 8}, {"units": 3}]}},
     {"model.input_shape": "[4]", "model.layers.0.units": "8", "model.layers.1.units": "3"}),
    ({"training": {"early_stopping": None}, "seeds": [0, 1]}, {"training.early_stopping": "None", "seeds": "[0, 1]"}),
])
def test_flatten(nested, flat):
    assert tracking.flatten(nested) == flat


@pytest.mark.parametrize("metric", ["accuracy", "mae"])
def test_both_writers_same_events(tmp_path, tf_adapter, torch_adapter, metric):
    import models_tf.tensorboard
    import models_torch.tensorboard

    expected = write_events(models_tf.tensorboard, tmp_path / "tensorflow", ROWS, metric)
    write_events(models_torch.tensorboard, tmp_path / "torch", ROWS, metric)
    read = {name: tracking.read_events(tmp_path / name) for name in ("tensorflow", "torch")}
    for events in read.values():
        pd.testing.assert_frame_equal(events[["tag", "step"]], expected[["tag", "step"]])
        # Both write float32: each value is the input rounded once, and both sides round the same way.
        np.testing.assert_allclose(events["value"], expected["value"], rtol=FLOAT32_ROUNDING, atol=0)
    np.testing.assert_array_equal(read["tensorflow"]["value"], read["torch"]["value"])


def test_torch_writer_does_not_import_tensorflow(tmp_path):
    """TensorFlow in a torch worker would cost seconds and inflate its peak_rss_mb."""
    probe = ("import sys, models_torch.tensorboard as tb\n"
             f"writer = tb.open_writer({str(tmp_path)!r}); writer.scalars(1, {{'loss/train': 0.5}}); writer.close()\n"
             "print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
    events = tracking.read_events(tmp_path)
    assert events.values.tolist() == [["loss/train", 1, 0.5]]


def test_run_writes_tensorboard_equal_to_history(tmp_path, adapters):
    spec_path = tmp_path / "iris.yaml"
    spec_path.write_text(yaml.safe_dump(IRIS))
    out = tmp_path / "out"
    # In process, with the adapters the session already imported (worker processes would import both again);
    # one thread, as the session's adapters were configured.
    assert main(["run", str(spec_path), "--out", str(out), "--frameworks", "tensorflow", "torch", "--epochs", "2",
                 "--in-process", "--threads", "1"]) == 0
    history = pd.read_csv(out / "history.csv").rename(columns={"epoch": "step"})
    history["tag"] = [tensorboard_tag(split, metric) for split, metric in zip(history.split, history.metric)]
    for (framework, seed), expected in history.groupby(["framework", "seed"]):
        events = tracking.read_events(out / "tensorboard" / f"{framework}-seed{seed}")
        merged = expected.merge(events, on=["tag", "step"], how="outer", suffixes=("_history", "_tensorboard"),
                                indicator=True)
        assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
        assert len(events) == len(expected) == 2 * 5
        # history.csv keeps float64; TensorBoard float32 (rounding ~6e-8 relative).
        np.testing.assert_allclose(merged["value_tensorboard"], merged["value_history"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("uri, problem", [
    ("sqlite:///mlflow.db", None), ("mlruns", "a file store"), ("/tmp/mlruns", "a file store"),
    ("file:///tmp/mlruns", "MLFLOW_ALLOW_FILE_STORE=true"), ("sqlite:////tmp", "whose path is a folder"),
    ("http://localhost:5000", None), ("https://mlflow.example.org", None), ("databricks", None),
    ("databricks://profile", None),
    ("bogus://x", "of the scheme 'bogus'"), ("postgresql://user@host/db", "of the scheme 'postgresql'"),
    ("sqlite://", "an sqlite URI without a file path"), ("http://", "an http URI without a host"),
    ("http://[::1", "which does not parse as a URI"), ("", "received ''"),
    ("sqlite:///a\nb.db", "which holds a control character"),
])
def test_check_tracking_uri(uri, problem, monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    if problem is None:
        assert tracking.check_tracking_uri(uri) == uri
        return
    with pytest.raises(SpecError) as error:
        tracking.check_tracking_uri(uri)
    assert str(error.value).startswith(f"--tracking-uri: expected {tracking.TRACKING_URIS}; received ")
    assert problem in str(error.value) and "\n" not in str(error.value)


def test_a_file_store_is_accepted_where_mlflow_is_told_to_allow_it(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert tracking.check_tracking_uri("file:///tmp/mlruns") == "file:///tmp/mlruns"


def test_mlflow_http_limits_apply_only_while_logging_and_never_over_the_users(monkeypatch):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")
    with tracking.bounded_http():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == tracking.HTTP_LIMITS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ and os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"


def test_log_to_mlflow_real_store(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)  # anything MLflow would write beside the working directory lands here
    out = tmp_path / "results"
    shutil.copytree(FIXTURE, out)
    write_report(out)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_ids = tracking.log_to_mlflow(out, uri, artifact_location=str(tmp_path / "artifacts"))

    loaded = results.load_results(out)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(loaded.manifest["name"])
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_id for run in runs) == sorted(run_ids)
    keys = sorted((run.data.tags["framework"], int(run.data.tags["seed"])) for run in runs)
    assert keys == sorted(zip(loaded.summary.framework, loaded.summary.seed))
    for run in runs:
        framework, seed = run.data.tags["framework"], int(run.data.tags["seed"])
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "ok"
        assert run.data.tags["git_commit"] == loaded.manifest["git_commit"]
        assert run.data.params["framework"] == framework and run.data.params["seed"] == str(seed)
        assert run.data.params["optimizer.type"] == "adam"
        assert run.data.params["model.layers.0.units"] == "16"
        history = loaded.history.query("framework == @framework and seed == @seed and split == 'val' "
                                       "and metric == 'loss'").sort_values("epoch")
        logged = sorted(client.get_metric_history(run.info.run_id, "val_loss"), key=lambda metric: metric.step)
        assert [metric.step for metric in logged] == history.epoch.tolist() == [1, 2, 3]
        assert [metric.value for metric in logged] == history.value.tolist()  # MLflow keeps float64
        summary = loaded.summary.query("framework == @framework and seed == @seed").iloc[0]
        assert run.data.metrics["test_accuracy"] == summary.test_accuracy
        assert {"train_loss", "train_accuracy", "val_accuracy", "epoch_seconds"} <= set(run.data.metrics)
        artifacts = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
        assert {"report.md", "loss_curves.png"} <= artifacts
    assert not (tmp_path / "mlruns").exists()
