"""report.md: the side-by-side table (figures as rows, frameworks as columns, mean ± std over the seeds that
finished), the training curves, and what was matched, what was not, and what ran where. A pure function of a
`Results`; `harness.report.write` writes it with the other formats."""

import pandas as pd

from harness.report.code_view import code_markdown
from harness.report.common import as_results, execution_text, manifest_value, plot_files, unfinished_runs
from harness.results.side_by_side import CONTENDED_SECONDS, contention_note, execution_note, side_by_side


def _bullets(mapping: dict) -> list[str]:
    return [f"- **{key.replace('_', ' ')}**: {manifest_value(value)}" for key, value in mapping.items()]


def _pipe(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _header(manifest: dict, summary: pd.DataFrame) -> list[str]:
    spec = manifest.get("spec", {})
    seeds = ", ".join(str(seed) for seed in dict.fromkeys(summary["seed"]))
    facts = [f"seeds {seeds}", f"frameworks {', '.join(dict.fromkeys(summary['framework']))}",
             f"task {manifest.get('task')} ({manifest.get('metric')})"]
    optional = [("dataset", (spec.get("data") or {}).get("dataset")), ("created", manifest.get("created_utc")),
                ("commit", manifest.get("git_commit") and f"`{manifest['git_commit']}`")]
    facts += [f"{name} {value}" for name, value in optional if value]
    lines = [f"# {manifest.get('name', 'results')}", ""]
    if manifest.get("description"):
        lines += [manifest["description"], ""]
    return lines + [" · ".join(facts), ""]


def _unfinished(summary: pd.DataFrame) -> list[str]:
    runs = unfinished_runs(summary)
    if not runs:
        return []
    lines = ["## Runs that did not finish", ""]
    for run in runs:
        error = run["error"]
        head = f"- **{run['framework']}** seed {run['seed']}: {run['status']} after {run['epochs']} epochs"
        if "\n" in error:  # a traceback keeps its lines in an indented block
            lines += [head, "", "  ```", *[f"  {line}" for line in error.splitlines()], "  ```"]
        else:
            lines.append(f"{head}: {error or '(no error message)'}")
    return lines + [""]


def _hyperparameters(manifest: dict) -> list[str]:
    if not manifest.get("frameworks"):
        return ["## Hyperparameters in force", "", "Not recorded (no run reached model building).", ""]
    lines = ["## Hyperparameters in force", "",
             "As each framework reported them after building the model (values as received).", ""]
    for framework, facts in manifest.get("frameworks", {}).items():
        versions = ", ".join(f"{name} {version}" for name, version in (facts.get("versions") or {}).items())
        threads = ", ".join(f"{name} {count}" for name, count in (facts.get("threads") or {}).items())
        settings = facts.get("hyperparameters") or {}
        rows = [(f"{part}.{key}", _pipe(manifest_value(value)))
                for part in ("optimizer", "loss") for key, value in (settings.get(part) or {}).items()]
        lines += [f"### {framework}", "", f"Versions: {versions or 'not recorded'}. "
                  f"Threads: {threads or 'not recorded'}. Execution: {execution_text(facts)}.", ""]
        if rows:
            lines += [pd.DataFrame(rows, columns=["setting", "value"]).to_markdown(index=False), ""]
    return lines


def _statistics(history: pd.DataFrame, summary: pd.DataFrame, manifest: dict) -> list[str]:
    from harness.results.analysis import comparison_table, target_table

    table, note = comparison_table(summary, manifest)
    lines = ["## Statistics over seeds", "", note, ""]
    if not table.empty:
        lines += [table.to_markdown(index=False), ""]
    targets, target_note = target_table(history, manifest)
    target_note += CONTENDED_SECONDS if contention_note(summary, manifest) else ""
    if not targets.empty:
        lines += ["## Time to target", "", target_note, "", targets.to_markdown(index=False), ""]
    return lines


def _class_counts(manifest: dict) -> list[str]:
    from harness.results.analysis import class_count_table

    table = class_count_table(manifest)
    if table.empty:
        return []
    return ["## Class counts per split", "",
            "Samples of each class in the training, validation and test splits, the same for both frameworks.", "",
            table.to_markdown(index=False, colalign=("left",) + ("right",) * (len(table.columns) - 1)), ""]


def _defaults_diff(manifest: dict) -> list[str]:
    rows = manifest.get("defaults_diff")
    if not rows:
        return []
    return ["## Defaults that differ between the frameworks", "",
            "What a naive port would use on each side, and what the harness set.", "",
            pd.DataFrame(rows).to_markdown(index=False), ""]


def _notes(manifest: dict) -> list[str]:
    """What the harness adjusted or kept (a batch larger than the data, no validation split, a failed rerun)."""
    notes = manifest.get("notes") or []
    return ["## Notes", "", *[f"- {note}" for note in notes], ""] if notes else []


def render_markdown(source) -> str:
    """report.md's text for a `Results` (or a results folder); links the curve PNGs `write_report` writes."""
    loaded = as_results(source)
    history, summary, manifest = loaded.history, loaded.summary, loaded.manifest
    table = side_by_side(summary, manifest)
    aligns = ("left",) + ("right",) * len(table.columns)
    plots_md = [f"![{name.removesuffix('.png').replace('_', ' ')}]({name})" for _, name in plot_files(manifest)]
    lines = _header(manifest, summary) + [
        "## Side by side", "",
        "Mean ± std over the seeds that finished (status ok); one seed shows the mean alone.", "",
        table.to_markdown(colalign=aligns), "",
        *[f"{note}\n" for note in (contention_note(summary, manifest), execution_note(manifest)) if note],
        *_unfinished(summary),
        *_notes(manifest),
        *_statistics(history, summary, manifest),
        "## Curves", "", "Mean over seeds; the band is the 95 % confidence interval of the mean (t distribution).", "",
        *[f"{plot}\n" for plot in plots_md],
        *code_markdown(loaded.out_dir),
        "## What was matched", "", *_bullets(manifest.get("matched", {})), "",
        *_class_counts(manifest),
        "## Known differences", "", *[f"- {note}" for note in manifest.get("known_differences", [])], "",
        *_defaults_diff(manifest),
        *_hyperparameters(manifest),
        "## Machine", "", *_bullets(manifest.get("machine", {})),
    ]
    return "\n".join(lines) + "\n"
