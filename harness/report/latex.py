"""report.tex: the side-by-side table as a booktabs LaTeX table, ready to paste into a paper. Pure functions of the
checked `harness.results.load.Results`; nothing here imports a framework."""

import re

import pandas as pd

from harness.report.common import as_results
from harness.results.side_by_side import contention_note, execution_note, side_by_side

# Characters that LaTeX reads as commands, and the Unicode the report's cells and labels use, in text mode.
_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "±": r"$\pm$", "²": r"$^{2}$", "³": r"$^{3}$", "−": r"$-$", "–": "--", "—": "---", "·": r"$\cdot$",
    "×": r"$\times$", "µ": r"$\mu$", "μ": r"$\mu$", "≈": r"$\approx$", "≤": r"$\leq$", "≥": r"$\geq$",
    "†": r"\textdagger{}",
}
_ESCAPE_PATTERN = re.compile("|".join(re.escape(char) for char in _ESCAPES))
_LABEL_PATTERN = re.compile(r"[A-Za-z0-9:._/-]+")


def escape(text: str) -> str:
    """`text` as LaTeX text-mode source: special characters escaped, ±, ², − and friends as math."""
    return _ESCAPE_PATTERN.sub(lambda match: _ESCAPES[match.group()], str(text))


def _row(cells) -> str:
    return " & ".join(escape(cell) for cell in cells) + r" \\"


def latex_table(table: pd.DataFrame, caption: str, label: str) -> str:
    """A booktabs `table` float of the side-by-side table (figures as rows, frameworks as columns).

    table: `harness.results.side_by_side.side_by_side`'s frame (string cells, index named 'figure'). caption: plain
    text, escaped here. label: the \\label key, letters, digits and `:._/-` only. Returns LaTeX source that needs
    \\usepackage{booktabs}, ending in a newline.
    """
    if not _LABEL_PATTERN.fullmatch(label):
        raise ValueError(f"Invalid value for argument label. Expected letters, digits and ':._/-'. "
                         f"Received: label={label!r}")
    lines = [
        r"% Requires \usepackage{booktabs} in the preamble.",
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{l{'r' * len(table.columns)}}}",
        r"\toprule",
        _row([table.index.name or "", *table.columns]),
        r"\midrule",
        *[_row([figure, *cells]) for figure, cells in zip(table.index, table.itertuples(index=False))],
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def _caption(manifest: dict, summary: pd.DataFrame) -> str:
    name = manifest.get("name", "results")
    dataset = (manifest.get("spec", {}).get("data") or {}).get("dataset")
    frameworks = " and ".join(dict.fromkeys(summary["framework"]))
    seeds = ", ".join(str(seed) for seed in dict.fromkeys(summary["seed"]))
    notes = " ".join(note.replace("`", "") for note in (contention_note(summary, manifest), execution_note(manifest))
                     if note)
    return (f"Experiment {name}{f' ({dataset})' if dataset else ''}: {frameworks}, seeds {seeds}. "
            f"Mean ± std over the seeds that finished; one seed shows the mean alone." + (f" {notes}" if notes else ""))


def render_latex(source) -> str:
    """report.tex's text for a `Results` (or a results folder): the side-by-side table with a caption naming
    the experiment, its seeds and frameworks, labelled tab:<experiment name>."""
    loaded = as_results(source)
    summary, manifest = loaded.summary, loaded.manifest
    label = "tab:" + re.sub(r"[^A-Za-z0-9:._/-]+", "-", str(manifest.get("name", "results")))
    return latex_table(side_by_side(summary, manifest), _caption(manifest, summary), label)
