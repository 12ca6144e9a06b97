"""Statistics in the reports, `harness compare`, --margin / --target, and the progress display's parsing."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.launch.progress import Progress, parse_epoch_line

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "results_iris"


@pytest.fixture
def results(tmp_path) -> Path:
    out = tmp_path / "iris"
    shutil.copytree(FIXTURE, out)
    return out


def test_report_writes_markdown_html_and_latex_with_statistics(results, capsys):
    assert main(["report", str(results), "--margin", "test_accuracy=0.5", "--target", "accuracy=0.55"]) == 0
    report = (results / "report.md").read_text()
    assert "## Statistics over seeds" in report and "## Time to target" in report
    # the fixture's two seeds differ by 30 points: with two seeds Welch's interval is wider than ±50 points, so
    # the unpaired design needs about 3 seeds; paired, the frameworks agree on every seed and the verdict is settled
    row = next(line for line in report.splitlines() if line.startswith("| test_accuracy"))
    assert "| 3 / —" in row and "equivalent within ±50.0 points" in row and "unpaired: inconclusive" in row
    assert "val accuracy reaching 0.55" in report and "| tensorflow  | 1 of 2" in report
    assert (results / "report.html").read_text().count("Statistics over seeds") == 1
    assert "\\toprule" in (results / "report.tex").read_text()
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["analysis"]["margins"] == {"test_accuracy": 0.5}
    assert manifest["analysis"]["target"] == {"metric": "accuracy", "value": 0.55, "split": "val"}


@pytest.mark.parametrize("arguments,expected", [
    (["--target", "f1=0.3"], "analysis.target.metric: expected 'loss', 'accuracy' or 'mae'; received 'f1'"),
    (["--margin", "test_accuracy=-1"], "analysis.margins.test_accuracy: expected a value greater than 0"),
])
def test_bad_analysis_values_are_one_line_errors(results, capsys, arguments, expected):
    before = (results / "manifest.json").read_bytes()
    assert main(["report", str(results), *arguments]) == 2
    assert expected in capsys.readouterr().err.strip()
    assert (results / "manifest.json").read_bytes() == before


def test_compare_folders(results, tmp_path, capsys):
    second = tmp_path / "second"
    shutil.copytree(results, second)
    manifest = json.loads((second / "manifest.json").read_text())
    (second / "manifest.json").write_text(json.dumps({**manifest, "name": "second"}))
    assert main(["compare", str(results), str(second), "--save", str(tmp_path / "table.csv")]) == 0
    table = pd.read_csv(tmp_path / "table.csv")
    assert list(table["experiment"]) == ["smoke", "second"]
    assert list(table.columns) == ["experiment", "figure", "tensorflow", "torch", "verdict"]
    assert table["tensorflow"][0] == "28.33 ± 21.21 %"
    assert main(["compare", str(tmp_path / "missing")]) == 2


def test_epoch_lines_are_parsed_for_the_live_display():
    line = "epoch 3/10  loss 0.5312  accuracy 0.8100  val_loss 0.6100  val_accuracy 0.7700  (0.20 s)"
    assert parse_epoch_line(line) == {"epoch": "3", "epochs": "10", "loss": "0.5312", "val_loss": "0.6100"}
    assert parse_epoch_line("epoch 1/2  loss 1.0000  mae 0.9000  (0.01 s)") == {"epoch": "1", "epochs": "2",
                                                                                 "loss": "1.0000"}
    assert parse_epoch_line("early stopping after epoch 4 (best epoch 2)") == {}


def test_plain_progress_prints_prefixed_lines():
    printed = []
    progress = Progress([("torch", 0)], live=False, echo=printed.append)
    progress.line("torch", 0, "epoch 1/2  loss 1.0000  accuracy 0.5  (0.01 s)")
    progress.finish("torch", 0, "diverged", "loss is nan")
    assert printed == ["[torch seed 0] epoch 1/2  loss 1.0000  accuracy 0.5  (0.01 s)",
                       "[torch seed 0] diverged: loss is nan"]
