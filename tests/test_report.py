"""The report: side-by-side figures against hand-computed values, excluded runs, written files, regression, and
that importing the reporter loads no framework."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import plots
from harness.report.markdown import render_markdown
from harness.report.write import write_report
from harness.results.side_by_side import DASH, side_by_side

FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _summary() -> pd.DataFrame:
    # error is empty for every run in the fixture, so pandas reads it as float; tests write strings into it.
    return pd.read_csv(FIXTURE / "summary.csv", dtype={"error": object})


def _manifest() -> dict:
    return json.loads((FIXTURE / "manifest.json").read_text())


def _copy_fixture(tmp_path: Path) -> Path:
    out = tmp_path / "results"
    shutil.copytree(FIXTURE, out)
    return out


def _png_width(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    return int.from_bytes(data[16:20], "big")  # IHDR: width follows the signature, chunk length and type


# Expected cells worked out from summary.csv (two ok seeds per framework; std with ddof=1, which for two values
# is |a - b| / sqrt(2)).
@pytest.mark.parametrize("figure, framework, expected", [
    # (0.43333 + 0.13333) / 2 = 0.28333; 0.3 / sqrt(2) = 0.21213
    ("test accuracy", "tensorflow", "28.33 ± 21.21 %"),
    # (1.0522544 + 1.1200250) / 2 = 1.0861397; 0.0677706 / sqrt(2) = 0.0479211
    ("test loss", "tensorflow", "1.086 ± 0.048"),
    # (1.0380458 + 1.2131181) / 2 = 1.1255820; 0.1750723 / sqrt(2) = 0.1237948
    ("final train loss", "torch", "1.126 ± 0.124"),
    # (0.5833333 + 0.1666667) / 2 = 0.375; 0.4166667 / sqrt(2) = 0.2946278
    ("final val accuracy", "torch", "37.50 ± 29.46 %"),
    # (0.0504617 + 0.0495769) / 2 = 0.0500193; 0.0008848 / sqrt(2) = 0.0006257
    ("median epoch (s)", "tensorflow", "0.0500 ± 0.0006"),
    # (0.4528396 + 0.4738061) / 2 = 0.4633229; 0.0209665 / sqrt(2) = 0.0148256
    ("first epoch (s, incl. build/tracing)", "tensorflow", "0.463 ± 0.015"),
    # (48299.95 + 55794.89) / 2 = 52047.42; 7494.94 / sqrt(2) = 5299.72
    ("train samples/s", "torch", "52,047 ± 5,300"),
    # (678.28125 + 677.828125) / 2 = 678.0547; 0.453125 / sqrt(2) = 0.3204
    ("peak RSS (MB)", "tensorflow", "678.1 ± 0.3"),
    ("parameters", "torch", "131"),
    ("epochs run", "tensorflow", "3"),
    ("runs", "torch", "2 ok"),
])
def test_side_by_side_cells(figure, framework, expected):
    assert side_by_side(_summary(), _manifest()).loc[figure, framework] == expected


def test_side_by_side_layout():
    table = side_by_side(_summary(), _manifest())
    assert table.index.name == "figure"
    assert list(table.columns) == ["tensorflow", "torch"]
    assert list(table.index) == [
        "test accuracy", "test loss", "final train loss", "final val loss", "final train accuracy",
        "final val accuracy", "epochs run", "train (s)", "median epoch (s)", "first epoch (s, incl. build/tracing)",
        "train samples/s", "parameters", "peak RSS (MB)", "runs"]


@pytest.mark.parametrize("status", ["failed", "diverged"])
def test_unfinished_run_is_left_out_of_means_and_counted(status):
    summary = _summary()
    torch_seed_1 = (summary["framework"] == "torch") & (summary["seed"] == 1)
    # Figures are kept on purpose: a diverged run still has finite final losses, which must not enter the mean.
    summary.loc[torch_seed_1, ["status", "error"]] = [status, "loss is nan"]
    table = side_by_side(summary, _manifest())
    assert table.loc["test accuracy", "torch"] == "43.33 %"  # seed 0 alone: 0.43333, no std
    assert table.loc["final train loss", "torch"] == "1.038"  # seed 0 alone: 1.0380458
    assert table.loc["runs", "torch"] == f"1 ok, 1 {status}"
    assert table.loc["test accuracy", "tensorflow"] == "28.33 ± 21.21 %"


def test_framework_with_no_finished_run_shows_dashes():
    summary = _summary()
    summary.loc[summary["framework"] == "torch", "status"] = "failed"
    table = side_by_side(summary, _manifest())
    assert set(table.loc[table.index != "runs", "torch"]) == {DASH}
    assert table.loc["runs", "torch"] == "0 ok, 2 failed"


def test_write_report_on_fixture(tmp_path):
    out = _copy_fixture(tmp_path)
    path = write_report(out)
    assert path == out / "report.md"
    for name in ("loss_curves.png", "accuracy_curves.png"):
        _png_width(out / name)
        assert (out / name).stat().st_size > 10_000  # an empty canvas is a few kB
    assert not (out / "mae_curves.png").exists()
    text = path.read_text()
    assert text.startswith("# smoke\n")
    table = side_by_side(_summary(), _manifest()).to_markdown()
    assert table.splitlines()[2].split("|")[2].strip() in text  # the first data row, tensorflow cell
    assert "| test accuracy" in text and "28.33 ± 21.21 %" in text
    for note in _manifest()["known_differences"]:
        assert f"- {note}" in text
    for link in ("![loss curves](loss_curves.png)", "![accuracy curves](accuracy_curves.png)"):
        assert link in text
    assert "- **batch size**: 32" in text
    assert "| optimizer.learning_rate" in text and "0.0010000000474974513" in text  # as received, float32 and all
    assert "| loss.reduction" in text and "sum_over_batch_size" in text
    assert "Runs that did not finish" not in text
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_report_lists_unfinished_runs_with_their_error(tmp_path):
    out = _copy_fixture(tmp_path)
    summary = _summary()
    summary.loc[(summary["framework"] == "tensorflow") & (summary["seed"] == 0), ["status", "error"]] = \
        ["failed", "worker exited with status -9"]
    summary.to_csv(out / "summary.csv", index=False)
    text = write_report(out).read_text()
    assert "## Runs that did not finish" in text
    assert "- **tensorflow** seed 0: failed after 3 epochs: worker exited with status -9" in text
    assert "| runs" in text and "1 ok, 1 failed" in text


def test_render_is_deterministic(tmp_path):
    out = _copy_fixture(tmp_path)
    first = write_report(out).read_text()
    second = write_report(out).read_text()
    assert first == second == render_markdown(out)


def _regression_folder(tmp_path: Path) -> Path:
    """Two frameworks x two seeds x 5 epochs of a made-up regression run; torch seed 1 diverges at epoch 4 (its
    loss inf, its MAE NaN, and no validation rows for that epoch, as training writes a diverged epoch)."""
    rng = np.random.default_rng(0)
    history, summary = [], []
    for framework in ("tensorflow", "torch"):
        for seed in (0, 1):
            diverged = framework == "torch" and seed == 1
            for epoch in range(1, 5 if diverged else 6):
                loss = 10.0 / epoch + rng.uniform(0, 0.1)
                rows = [("train", "loss", loss), ("train", "mae", loss / 2), ("train", "epoch_seconds", 0.1),
                        ("val", "loss", loss * 1.1), ("val", "mae", loss * 0.55)]
                if diverged and epoch == 4:
                    rows = [("train", "loss", np.inf), ("train", "mae", np.nan), ("train", "epoch_seconds", 0.1)]
                for split, metric, value in rows:
                    history.append(dict(framework=framework, seed=seed, epoch=epoch, split=split, metric=metric,
                                        value=value))
            summary.append(dict(framework=framework, seed=seed, status="diverged" if diverged else "ok",
                                error="loss is inf" if diverged else "", epochs_run=4 if diverged else 5,
                                final_train_loss=2.0 + seed, final_train_mae=1.0, final_val_loss=2.2,
                                final_val_mae=1.1, test_loss=2.5, test_mae=1.25 + seed / 4,
                                test_rmse=1.5 + seed / 2, test_r2=np.nan if diverged else 0.9 - seed / 10,
                                train_seconds=0.5, first_epoch_seconds=0.2, median_epoch_seconds=0.1,
                                train_samples_per_second=1000.0, params=17, peak_rss_mb=300.0, threads=1))
    out = tmp_path / "regression"
    out.mkdir()
    pd.DataFrame(history).to_csv(out / "history.csv", index=False)
    pd.DataFrame(summary).to_csv(out / "summary.csv", index=False)
    manifest = {"name": "synthetic regression", "description": "made up for the test", "task": "regression",
                "metric": "mae", "spec": {"data": {"dataset": "regression"}}, "matched": {"batch_size": 8},
                "known_differences": ["none worth noting"],
                "frameworks": {}, "machine": {"cpu": "test"}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_regression_report(tmp_path):
    out = _regression_folder(tmp_path)
    text = write_report(out).read_text()
    _png_width(out / "mae_curves.png")
    _png_width(out / "loss_curves.png")
    assert not (out / "accuracy_curves.png").exists()
    assert "![mae curves](mae_curves.png)" in text
    table = side_by_side(pd.read_csv(out / "summary.csv"), json.loads((out / "manifest.json").read_text()))
    assert list(table.index[:3]) == ["test MAE", "test RMSE", "test R²"]
    assert "final train MAE" in table.index
    assert table.loc["test MAE", "tensorflow"] == "1.375 ± 0.177"  # (1.25 + 1.5) / 2; 0.25 / sqrt(2)
    assert table.loc["test R²", "torch"] == "0.9000"  # the diverged seed is left out
    assert table.loc["runs", "torch"] == "1 ok, 1 diverged"


def test_curves_with_train_split_only_draw_one_panel(tmp_path):
    history = pd.read_csv(FIXTURE / "history.csv")
    both = plots.curves(history, "loss", tmp_path / "both.png", "both")
    train_only = plots.curves(history[history["split"] == "train"], "loss", tmp_path / "train.png", "train")
    assert _png_width(train_only) < 0.7 * _png_width(both)


def test_curves_with_no_finished_epoch_still_write_a_plot(tmp_path):
    empty = pd.DataFrame(columns=["framework", "seed", "epoch", "split", "metric", "value"])
    _png_width(plots.curves(empty, "loss", tmp_path / "empty.png", "nothing"))


@pytest.mark.parametrize("metric, values, expected", [
    ("loss", [100.0, 1.0], True),     # ratio 100 > 50
    ("loss", [40.0, 1.0], False),     # ratio 40
    ("loss", [100.0, 0.0], False),    # a zero cannot go on a log axis
    ("accuracy", [100.0, 1.0], False),  # only losses get a log axis
])
def test_log_scale_only_for_wide_losses(metric, values, expected):
    assert plots.use_log_scale(metric, pd.Series(values)) is expected


def test_import_loads_no_framework():
    code = ("import sys, harness.report.markdown, harness.report.plots; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'torch', 'keras', 'matplotlib'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent.parent)
    assert result.stdout.strip() == "[]"


# class counts per split ----------------------------------------------------------------------------------------

def test_class_counts_are_rendered_and_checked(tmp_path):
    from harness.core.errors import SpecError
    from harness.report.html import render_html
    from harness.results.load import load_results

    out = _copy_fixture(tmp_path)
    manifest = {**_manifest(), "class_counts": {"train": [36, 36, 36], "val": [4, 4, 4], "test": [10, 10, 10]}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    text = render_markdown(out)
    assert "## Class counts per split" in text and "| all     |     108 |    12 |     30 |" in text
    page = render_html(out, images={"loss_curves.png": b"", "accuracy_curves.png": b""})
    assert "<h2>Class counts per split</h2>" in page
    assert "<tr><td>all</td><td>108</td><td>12</td><td>30</td></tr>" in page
    assert "Class counts" not in render_markdown(FIXTURE)  # a manifest written before the counts: no section
    (out / "manifest.json").write_text(json.dumps({**manifest, "class_counts": {"train": [-1]}}))
    with pytest.raises(SpecError, match="class_counts.train.0"):
        load_results(out)


def test_harness_run_records_stratified_class_counts_and_pairs_seeds(tmp_path):
    """harness run on iris (stratified by default): the counts in the manifest and both reports, the paired
    verdict for init: matched, and the defaults-diff row."""
    import harness
    from harness.core.validate import parse_spec

    raw = {"name": "strat", "data": {"dataset": "iris", "validation_split": 0.2},
           "model": {"input_shape": [4], "layers": [{"type": "dense", "units": 3, "activation": "softmax"}]},
           "loss": "categorical_crossentropy", "optimizer": {"type": "sgd", "learning_rate": 0.1},
           "training": {"epochs": 2, "batch_size": 16}, "seeds": [0, 1]}
    results = harness.run(parse_spec(raw), tmp_path / "run", in_process=True, tensorboard=False,
                          save_weights=False, threads=1, log=lambda line: None)
    assert results.manifest["class_counts"] == {"train": [32, 32, 32], "val": [8, 8, 8], "test": [10, 10, 10]}
    assert "stratified by class" in results.manifest["matched"]["data"]
    assert any(row["setting"] == "train/val/test split (data.stratify)" for row in results.manifest["defaults_diff"])
    text = (tmp_path / "run" / "report.md").read_text()
    assert "| all     |      96 |    24 |     30 |" in text
    assert "The verdict is the paired one" in text and "2 pairs" in text
    assert "<h2>Class counts per split</h2>" in (tmp_path / "run" / "report.html").read_text()
