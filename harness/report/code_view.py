"""The network as code in the reports: code/model_keras.py and code/model_torch.py side by side in report.html,
syntax-highlighted by pygments, with the places where the frameworks differ in meaning marked (each
`# Differs from ...` comment and the statement after it); report.md links the two files.

The scripts are read through the guarded edge (size, UTF-8) and parsed with `ast` only to find where a marked
statement ends; nothing in them is executed, and pygments escapes every character it writes."""

import ast
import re
from html import escape
from pathlib import Path

from harness.code.write import FOLDER, SCRIPTS
from harness.core import guard
from harness.core.errors import SpecError

TITLES = {"tensorflow": "Keras", "torch": "PyTorch"}
MARK = re.compile(r"\s*# Differs from (Keras|PyTorch):")
CSS = """
.code { display: grid; grid-template-columns: 1fr 1fr; gap: 0.75rem; }
.code > div { min-width: 0; }
.code .highlight pre { font-size: 0.72rem; max-height: 48rem; overflow: auto; margin: 0; }
@media (max-width: 60rem) { .code { grid-template-columns: 1fr; } }
"""


def _statement_ends(text: str) -> dict[int, int]:
    """{line: the last line of the outermost expression or statement that starts on it}; {} if it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return {}
    ends: dict[int, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.stmt, ast.expr)) and getattr(node, "end_lineno", None):
            ends[node.lineno] = max(ends.get(node.lineno, 0), node.end_lineno)
    return ends


def marked_lines(text: str) -> list[int]:
    """1-based numbers of the lines to mark: each difference comment and the statement that follows it."""
    lines, ends, marked = text.splitlines(), _statement_ends(text), []
    number = 0
    while number < len(lines):
        if not MARK.match(lines[number]):
            number += 1
            continue
        while number < len(lines) and lines[number].strip().startswith("#"):
            marked.append(number + 1)
            number += 1
        if number < len(lines):
            last = ends.get(number + 1, number + 1)
            marked += range(number + 1, last + 1)
            number = last
    return marked


def read_scripts(out_dir: Path) -> list[tuple[str, str, str]]:
    """(framework, file name, text) of each script `harness run` wrote; none if the folder has no code."""
    found = []
    for framework, name in SCRIPTS.items():
        path = Path(out_dir) / FOLDER / name
        if path.is_file():
            try:
                found.append((TITLES[framework], name, guard.read_text(path, str(path), "spec")))
            except SpecError:
                continue  # a damaged or replaced file is left out of the page, not rendered
    return found


def code_html(out_dir: Path) -> tuple[list[str], str]:
    """(report.html's code section, its CSS); nothing if the results folder has no scripts."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    scripts = read_scripts(out_dir)
    if not scripts:
        return [], ""
    columns = []
    for framework, name, text in scripts:
        formatter = HtmlFormatter(noclasses=True, hl_lines=marked_lines(text), linenos=False)
        columns.append(f"<div><h3>{escape(framework)}: <code>{FOLDER}/{escape(name)}</code></h3>"
                       f"{highlight(text, PythonLexer(), formatter)}</div>")
    intro = ("<p class=\"note\">The spec as two standalone scripts (numpy and one framework each), every "
             "hyperparameter written out. Highlighted: the places where the frameworks differ and the script does "
             "something about it. <code>harness code SPEC</code> writes them with the data and initial weights "
             "they read.</p>")
    return ["<h2>The network as code</h2>", intro, "<div class=\"code\">", *columns, "</div>"], CSS


def code_markdown(out_dir: Path) -> list[str]:
    """report.md's code section: links to the two scripts."""
    scripts = read_scripts(out_dir)
    if not scripts:
        return []
    links = [f"- {framework}: [{FOLDER}/{name}]({FOLDER}/{name}) ({len(marked_lines(text))} lines marked "
             f"`# Differs from ...`)" for framework, name, text in scripts]
    return ["## The network as code", "",
            "The spec as two standalone scripts, each importing only numpy and its framework, every hyperparameter "
            "written out; a `# Differs from ...` comment marks each place where the frameworks differ and the "
            "script does something about it. `harness code SPEC` writes them with the data and initial weights "
            "they read.", "", *links, ""]
