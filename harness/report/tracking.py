"""Experiment tracking outside the results folder: the TensorBoard tags both adapters write, reading event files
back, and logging a finished results folder to MLflow.

No framework, TensorBoard or MLflow import at module import time: each is imported inside the function that uses it.
"""

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import pandas as pd

from harness.core import guard
from harness.core.errors import SpecError
from harness.core.history import mlflow_metric
from harness.results.load import load_results
from harness.results.tables import Results, shown

EVENT_COLUMNS = ["tag", "step", "value"]
MLFLOW_BATCH = {"params": 100, "metrics": 1000}  # the most MLflow's log_batch takes at once
TRACKING_URIS = ("sqlite:///<path>, http://<host>, https://<host>, databricks[://<profile>], or a path or "
                 "file:<path> with MLFLOW_ALLOW_FILE_STORE=true")
# MLflow retries an unreachable server 7 times with backoff (about 4 minutes) and waits up to 120 s per request;
# logging a folder by hand should fail within a minute. Values set in the environment win.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}


def read_events(logdir) -> pd.DataFrame:
    """Every scalar in one run's TensorBoard folder (e.g. DIR/tensorboard/torch-seed0), from either framework.

    Returns a DataFrame with columns tag, step, value (float32 as written, widened to float64), sorted by tag
    and step. Where TensorFlow is installed, TensorBoard's file reading imports it (seconds, once per process).
    """
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    if not Path(logdir).is_dir():
        raise FileNotFoundError(f"no TensorBoard folder at {logdir}")
    # The plugin accumulator turns torch's simple_value scalars into tensors like TensorFlow's; 0 keeps every step.
    accumulator = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    accumulator.Reload()
    rows = [(tag, event.step, float(make_ndarray(event.tensor_proto)))
            for tag in accumulator.Tags()["tensors"] for event in accumulator.Tensors(tag)]
    return pd.DataFrame(rows, columns=EVENT_COLUMNS).sort_values(["tag", "step"], ignore_index=True)


def flatten(value, prefix: str = "") -> dict[str, str]:
    """Nested dicts and lists of dicts as {dotted key: str(value)}: {'model': {'layers': [{'units': 8}]}} ->
    {'model.layers.0.units': '8'}. Lists of plain values stay one value: 'model.input_shape': '[4]'."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        items = enumerate(value)
    else:
        return {prefix: str(value)}
    flat = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _file_store_allowed() -> bool:
    return os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").strip().lower() in ("1", "true", "yes")


def check_tracking_uri(uri, field: str = "--tracking-uri") -> str:
    """uri, if it names a kind of tracking store MLflow offers (see TRACKING_URIS); else the one line naming
    `field`. Checked before MLflow is imported; whether the store answers shows when logging."""
    def bad(received: str) -> SpecError:
        return SpecError(field, f"expected {TRACKING_URIS}; received {received}")

    if not isinstance(uri, str) or not uri.strip():
        raise bad(shown(uri))
    if any(ord(char) < 32 or ord(char) == 127 for char in uri):
        raise bad(f"{shown(uri)}, which holds a control character")
    try:
        parts = urlsplit(uri)
    except ValueError as error:  # e.g. an unclosed [ of an IPv6 host
        raise bad(f"{shown(uri)}, which does not parse as a URI ({error})") from None
    if parts.scheme == "databricks" or uri == "databricks":
        return uri
    if parts.scheme in ("", "file"):
        if not _file_store_allowed():  # MLflow 3 keeps its file store in maintenance mode and refuses it
            raise bad(f"{shown(uri)}, a file store, which MLflow refuses unless MLFLOW_ALLOW_FILE_STORE=true")
        return uri
    if parts.scheme == "sqlite" and uri.startswith("sqlite:///") and len(uri) > len("sqlite:///"):
        if Path(uri.removeprefix("sqlite:///")).is_dir():
            raise bad(f"{shown(uri)}, whose path is a folder, not a database file")
        return uri
    if parts.scheme in ("http", "https") and parts.hostname:
        return uri
    what = {"sqlite": "an sqlite URI without a file path", "http": "an http URI without a host",
            "https": "an https URI without a host"}.get(parts.scheme, f"of the scheme {parts.scheme!r}")
    raise bad(f"{shown(uri)}, {what}")


@contextlib.contextmanager
def bounded_http():
    """HTTP_LIMITS in the environment while MLflow logs, unless the user set them; the environment as it was
    afterwards."""
    added = {name: value for name, value in HTTP_LIMITS.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _summary_figures(row: dict) -> dict[str, float]:
    """The finite numbers of one summary.csv row: test figures, final epoch figures, timing, params, memory."""
    return {name: float(value) for name, value in row.items()
            if name != "seed" and isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def _experiment_id(client, name: str, artifact_location: Optional[str]) -> str:
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name, artifact_location)


def _chunks(items: list, size: int):
    return (items[start:start + size] for start in range(0, len(items), size))


def _run_metrics(history: pd.DataFrame, run: dict):
    """(name, value, step) for one run: each history.csv row (step = epoch), then the summary figures (step 0)."""
    mine = history[(history["framework"] == run["framework"]) & (history["seed"] == run["seed"])]
    yield from ((mlflow_metric(row.split, row.metric), float(row.value), int(row.epoch)) for row in mine.itertuples())
    yield from ((name, value, 0) for name, value in _summary_figures(run).items())


def _log_run(client, experiment_id: str, run: dict, loaded: Results, artifacts: list[Path]) -> str:
    from mlflow.entities import Metric, Param

    framework, seed, status = run["framework"], int(run["seed"]), run["status"]
    commit = loaded.manifest.get("git_commit") or ""
    tags = {"framework": framework, "seed": str(seed), "status": status, "git_commit": commit,
            "mlflow.source.git.commit": commit, "results_dir": str(loaded.out_dir.resolve())}
    if isinstance(run.get("error"), str) and run["error"]:
        tags["error"] = run["error"]
    run_id = client.create_run(experiment_id, run_name=f"{framework}-seed{seed}", tags=tags).info.run_id
    params = {**flatten(loaded.manifest["spec"]), "framework": framework, "seed": str(seed)}
    for chunk in _chunks([Param(key, value) for key, value in params.items()], MLFLOW_BATCH["params"]):
        client.log_batch(run_id, params=chunk)
    now_ms = int(time.time() * 1000)
    metrics = [Metric(name, value, now_ms, step) for name, value, step in _run_metrics(loaded.history, run)]
    for chunk in _chunks(metrics, MLFLOW_BATCH["metrics"]):
        client.log_batch(run_id, metrics=chunk)
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, "FAILED" if status == "failed" else "FINISHED")
    return run_id


def log_to_mlflow(out_dir, tracking_uri: str, experiment_name: Optional[str] = None,
                  artifact_location: Optional[str] = None) -> list[str]:
    """Logs a finished results folder to MLflow: one run per (framework, seed). Returns the new run ids.

    Each run gets params (the resolved spec from manifest.json as dotted keys, plus framework and seed), tags
    (framework, seed, status, git_commit), per-epoch metrics from history.csv (train_loss, val_loss,
    train_<metric>, val_<metric>, epoch_seconds, learning_rate; step = epoch), the summary.csv figures (test_*,
    final_*, timing; step 0) and report.md, report.html and the report's PNGs as artifacts.

    tracking_uri: one of TRACKING_URIS, e.g. 'sqlite:///mlflow.db' or 'http://host:5000'. experiment_name:
    default the spec name. artifact_location: where a newly created experiment keeps artifacts (MLflow's
    default: ./mlruns). Logging the same folder twice makes a second set of runs. The URI and the folder are
    checked before MLflow is imported; a store that refuses or fails is one SpecError naming --tracking-uri.
    """
    check_tracking_uri(tracking_uri)
    loaded = load_results(out_dir)
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise SpecError("", "logging to MLflow needs mlflow-skinny, SQLAlchemy and alembic: "
                            "pip install -e '.[tracking]'") from None
    artifacts = _artifacts(loaded)
    # MLflow wraps most store failures in MlflowException; SQLAlchemy, HTTP and file errors can come through bare
    try:
        with bounded_http():
            client = MlflowClient(tracking_uri)
            experiment_id = _experiment_id(client, experiment_name or loaded.manifest["name"], artifact_location)
            return [_log_run(client, experiment_id, run, loaded, artifacts)
                    for run in loaded.summary.to_dict("records")]
    except (MlflowException, OSError, *_store_errors()) as error:
        message = " ".join(str(error).split())[:500] or type(error).__name__
        raise SpecError("--tracking-uri", f"expected a tracking store MLflow can log to; received "
                                          f"{tracking_uri!r}, where logging failed: {message}") from None


def _artifacts(loaded: Results) -> list[Path]:
    """The report files `write_report` wrote into the folder, each a regular file within the size limit (a pipe
    named like one would block MLflow's copy forever)."""
    from harness.report.common import plot_files

    names = ["report.md", "report.html", *(name for _, name in plot_files(loaded.manifest))]
    paths = [loaded.out_dir / name for name in names]
    return [guard.check_file(path, str(path), "record") for path in paths if os.path.lexists(path)]


def _store_errors() -> tuple:
    """The exception bases of the libraries under MLflow's stores that are installed (SQLAlchemy, requests)."""
    errors = []
    with contextlib.suppress(ImportError):
        from sqlalchemy.exc import SQLAlchemyError

        errors.append(SQLAlchemyError)
    with contextlib.suppress(ImportError):
        from requests import RequestException

        errors.append(RequestException)
    return tuple(errors)
