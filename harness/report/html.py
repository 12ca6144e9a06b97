"""report.html: report.md's content as one self-contained page. The curve PNGs are embedded as base64 data: URIs,
the CSS is inline, there is no script, and a Content-Security-Policy lets the page load nothing but its own data:
images, so opening it makes no network request. Tables scroll sideways on a phone; the page keeps a reading width
on a laptop. Every number comes from the checked `harness.results.load.Results`; nothing here imports a framework."""

import base64
from html import escape
from pathlib import Path
from typing import Optional

import pandas as pd

from harness.core import guard
from harness.core.errors import SpecError
from harness.report.code_view import code_html
from harness.report.common import as_results, execution_text, manifest_value, plot_files, unfinished_runs
from harness.results.side_by_side import CONTENDED_SECONDS, contention_note, execution_note, side_by_side

_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'")
_CSS = """
:root { color-scheme: light; }
body { margin: 0; background: #fff; color: #1b1f23; line-height: 1.5; font-size: 16px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; padding-bottom: 0.2rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.4rem; }
p, li { overflow-wrap: anywhere; }
.facts { color: #57606a; }
.note { color: #57606a; font-size: 0.9rem; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: 0.5rem 0 1rem;
  border: 1px solid #d0d7de; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.9rem; min-width: 100%; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
thead th { background: #f6f8fa; border-bottom: 1px solid #d0d7de; }
tbody tr:last-child th, tbody tr:last-child td { border-bottom: 0; }
table.numbers td { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.numbers thead th:not(:first-child) { text-align: right; }
table.numbers th:first-child { position: sticky; left: 0; background: #fff; min-width: 8rem; }
table.numbers thead th:first-child { background: #f6f8fa; }
table.text td { min-width: 7rem; overflow-wrap: anywhere; }
figure { margin: 0.5rem 0 1.5rem; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: #57606a; font-size: 0.9rem; }
@media (max-width: 40rem) { main { padding: 0.75rem 0.6rem 2rem; } h1 { font-size: 1.35rem; }
  table { font-size: 0.8rem; } th, td { padding: 0.3rem 0.35rem; }
  table.numbers th:first-child { min-width: 6rem; } }
"""


def _table(frame: pd.DataFrame, kind: str, index: bool = False) -> str:
    """An HTML table inside a sideways-scrolling box. kind: 'numbers' (right-aligned, no wrapping, sticky first
    column) or 'text' (wrapping cells). With `index`, the frame's index is the first column, as row headers."""
    head = ([frame.index.name or ""] if index else []) + list(frame.columns)
    rows = []
    for label, cells in zip(frame.index, frame.itertuples(index=False)):
        first = f"<th scope=\"row\">{escape(str(label))}</th>" if index else ""
        rows.append(f"<tr>{first}{''.join(f'<td>{escape(str(cell))}</td>' for cell in cells)}</tr>")
    header = "".join(f"<th scope=\"col\">{escape(str(name))}</th>" for name in head)
    return (f"<div class=\"scroll\"><table class=\"{kind}\"><thead><tr>{header}</tr></thead>"
            f"<tbody>\n{chr(10).join(rows)}\n</tbody></table></div>")


def _items(mapping: dict) -> list[str]:
    """A manifest mapping as a list: key with underscores as spaces, value as received (report.manifest_value)."""
    return ["<ul>", *[f"<li><strong>{escape(key.replace('_', ' '))}</strong>: {escape(manifest_value(value))}</li>"
                      for key, value in mapping.items()], "</ul>"]


def _header(manifest: dict, summary: pd.DataFrame) -> list[str]:
    spec = manifest.get("spec", {})
    facts = [f"seeds {', '.join(str(seed) for seed in dict.fromkeys(summary['seed']))}",
             f"frameworks {', '.join(dict.fromkeys(summary['framework']))}",
             f"task {manifest.get('task')} ({manifest.get('metric')})"]
    optional = [("dataset", (spec.get("data") or {}).get("dataset")), ("created", manifest.get("created_utc"))]
    facts = [escape(fact) for fact in facts] + [f"{name} {escape(str(value))}" for name, value in optional if value]
    if manifest.get("git_commit"):
        facts.append(f"commit <code>{escape(manifest['git_commit'])}</code>")
    lines = [f"<h1>{escape(manifest.get('name', 'results'))}</h1>"]
    if manifest.get("description"):
        lines.append(f"<p>{escape(manifest['description'])}</p>")
    return lines + [f"<p class=\"facts\">{' · '.join(facts)}</p>"]


def _unfinished(summary: pd.DataFrame) -> list[str]:
    runs = unfinished_runs(summary)
    if not runs:
        return []
    lines = ["<h2>Runs that did not finish</h2>", "<ul>"]
    for run in runs:
        error = run["error"]
        head = (f"<strong>{escape(str(run['framework']))}</strong> seed {escape(str(run['seed']))}: "
                f"{escape(str(run['status']))} after {run['epochs']} epochs")
        body = f"<pre>{escape(error)}</pre>" if "\n" in error else f": {escape(error or '(no error message)')}"
        lines.append(f"<li>{head}{body}</li>")
    return lines + ["</ul>"]


def _notes(manifest: dict) -> list[str]:
    notes = manifest.get("notes") or []
    return ["<h2>Notes</h2>", "<ul>", *[f"<li>{escape(note)}</li>" for note in notes], "</ul>"] if notes else []


def _drawn_images(out_dir: Path, names: list[str]) -> dict[str, bytes]:
    """The curve PNGs `write_report` drew earlier into out_dir, read through the guarded edge."""
    images = {}
    for name in names:
        path = out_dir / name
        if not path.exists():
            raise SpecError(str(path), "expected the curve PNG that harness.report.write.write_report(out_dir) draws "
                                       "for report.html; received no file")
        images[name] = guard.read_bytes(path, str(path), "record")
    return images


def _figure(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    title = name.removesuffix(".png").replace("_", " ")
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{escape(title)}\">"
            f"<figcaption>{escape(title)}</figcaption></figure>")


def _hyperparameters(manifest: dict) -> list[str]:
    lines = ["<h2>Hyperparameters in force</h2>"]
    if not manifest.get("frameworks"):
        return lines + ["<p>Not recorded (no run reached model building).</p>"]
    lines.append("<p>As each framework reported them after building the model (values as received).</p>")
    for framework, facts in manifest["frameworks"].items():
        versions = ", ".join(f"{name} {version}" for name, version in (facts.get("versions") or {}).items())
        threads = ", ".join(f"{name} {count}" for name, count in (facts.get("threads") or {}).items())
        settings = facts.get("hyperparameters") or {}
        rows = [(f"{part}.{key}", manifest_value(value))
                for part in ("optimizer", "loss") for key, value in (settings.get(part) or {}).items()]
        lines += [f"<h3>{escape(framework)}</h3>",
                  f"<p>Versions: {escape(versions or 'not recorded')}. "
                  f"Threads: {escape(threads or 'not recorded')}. Execution: {escape(execution_text(facts))}.</p>"]
        if rows:
            lines.append(_table(pd.DataFrame(rows, columns=["setting", "value"]), "text"))
    return lines


def _defaults_diff(manifest: dict) -> list[str]:
    rows = manifest.get("defaults_diff")
    if not rows:
        return []
    return ["<h2>Defaults that differ between the frameworks</h2>",
            "<p>What a naive port would use on each side, and what the harness set.</p>",
            _table(pd.DataFrame(rows), "text")]


def _statistics(history: pd.DataFrame, summary: pd.DataFrame, manifest: dict) -> list[str]:
    from harness.results.analysis import comparison_table, target_table

    table, note = comparison_table(summary, manifest)
    parts = ["<h2>Statistics over seeds</h2>", f"<p class=\"note\">{escape(note)}</p>"]
    if not table.empty:
        parts.append(_table(table, "text"))
    targets, target_note = target_table(history, manifest)
    target_note += CONTENDED_SECONDS if contention_note(summary, manifest) else ""
    if not targets.empty:
        parts += ["<h2>Time to target</h2>", f"<p class=\"note\">{escape(target_note)}</p>", _table(targets, "text")]
    return parts


def _class_counts(manifest: dict) -> list[str]:
    from harness.results.analysis import class_count_table

    table = class_count_table(manifest)
    if table.empty:
        return []
    return ["<h2>Class counts per split</h2>", "<p class=\"note\">Samples of each class in the training, validation "
            "and test splits, the same for both frameworks.</p>", _table(table, "numbers")]


def render_html(source, images: Optional[dict[str, bytes]] = None) -> str:
    """report.html's text: one page with no external resource (PNGs as data: URIs, inline CSS, no script), the
    same sections as report.md.

    source: a `Results` or a results folder. images: {file name: PNG bytes} of the curve plots; by default the
    PNGs `write_report` drew into the folder."""
    loaded = as_results(source)
    history, summary, manifest = loaded.history, loaded.summary, loaded.manifest
    names = [name for _, name in plot_files(manifest)]
    images = images if images is not None else _drawn_images(loaded.out_dir, names)
    code, code_css = code_html(loaded.out_dir)
    body = [
        *_header(manifest, summary),
        "<h2>Side by side</h2>",
        "<p class=\"note\">Mean ± std over the seeds that finished (status ok); one seed shows the mean alone.</p>",
        _table(side_by_side(summary, manifest), "numbers", index=True),
        *[f"<p class=\"note\">{escape(note)}</p>" for note in (contention_note(summary, manifest),
                                                               execution_note(manifest)) if note],
        *_unfinished(summary),
        *_notes(manifest),
        *_statistics(history, summary, manifest),
        "<h2>Curves</h2>",
        "<p class=\"note\">Mean over seeds; the band is the 95 % confidence interval of the mean (t distribution)."
        "</p>",
        *[_figure(name, images[name]) for name in names],
        *code,
        "<h2>What was matched</h2>", *_items(manifest.get("matched", {})),
        *_class_counts(manifest),
        "<h2>Known differences</h2>",
        "<ul>", *[f"<li>{escape(note)}</li>" for note in manifest.get("known_differences", [])], "</ul>",
        *_defaults_diff(manifest),
        *_hyperparameters(manifest),
        "<h2>Machine</h2>", *_items(manifest.get("machine", {})),
    ]
    head = ["<!DOCTYPE html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            f"<title>{escape(manifest.get('name', 'results'))}: framework comparison</title>",
            f"<style>{_CSS}{code_css}</style>", "</head>", "<body>", "<main>"]
    return "\n".join(head + body + ["</main>", "</body>", "</html>"]) + "\n"
