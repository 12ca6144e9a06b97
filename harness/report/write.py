"""Writes a results folder's reports: the curve PNGs, report.md, report.html and report.tex."""

from pathlib import Path

from harness.core import atomic
from harness.report import plots
from harness.report.common import as_results, plot_files
from harness.report.html import render_html
from harness.report.latex import render_latex
from harness.report.markdown import render_markdown


def write_report(out_dir) -> Path:
    """Writes the curve PNGs, report.md, report.html (self-contained) and report.tex (a booktabs table) into
    `out_dir` (a folder or its `Results`), each atomically; returns the path of report.md.

    The folder is loaded and checked first and everything is rendered in memory before the first file is
    written, so a folder that fails its checks leaves the earlier reports as they were."""
    loaded = as_results(out_dir)
    name = loaded.manifest.get("name", "")
    images = {file: plots.curve_png(loaded.history, metric, f"{name}: {plots.METRIC_LABELS.get(metric, metric)}")
              for metric, file in plot_files(loaded.manifest)}
    texts = {"report.tex": render_latex(loaded), "report.html": render_html(loaded, images),
             "report.md": render_markdown(loaded)}
    for file, data in images.items():
        atomic.write_bytes(loaded.out_dir / file, data)
    for file, text in texts.items():
        atomic.write_text(loaded.out_dir / file, text)
    return loaded.out_dir / "report.md"
