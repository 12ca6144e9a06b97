"""docs/course.ipynb: executed top to bottom in a fresh kernel of this Python, then rendered to one self-contained
HTML page with every plot embedded. The notebook runs once per test session (a module fixture; about two to three
minutes on a 2-core machine).

`make course` runs this file as a script: it executes the notebook the same way and writes docs/course.html
(the committed notebook stays as it is, without outputs).
"""

import os
import re
import subprocess
import tempfile
from pathlib import Path

import jinja2
import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbconvert import HTMLExporter

NOTEBOOK = Path(__file__).parents[1] / "docs" / "course.ipynb"
HTML = NOTEBOOK.with_suffix(".html")
CELL_TIMEOUT_SECONDS = 120  # the slowest cell takes about 25 s here; a hung worker fails the test instead of CI
PLOTTED_SECTIONS = ["3", "4", "5", "8"]  # the numbered sections that draw at least one figure
# Differences between numpy, Keras and PyTorch the notebook prints as "max |a - b| = 1.2e-07": float32 round-off
# is about 1e-7 relative; 1e-5 is the end-to-end tolerance of the harness' own parity tests.
AGREEMENT = re.compile(r"max \|[^|\n]+\| = (\d\.\de[+-]\d+)")
AGREEMENT_TOLERANCE = 1e-5
EMBEDDED_PNG = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,')
# The lab template without its scripts from a CDN (require.js, MathJax, mermaid): the course needs none of them,
# so the page makes no network request at all.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def execute(notebook: nbformat.NotebookNode, work: Path) -> nbformat.NotebookNode:
    """Runs every cell in order in a kernel of this interpreter (sys.executable), with `work` as its working
    folder and its results folder (COURSE_OUT); stops at the first cell that raises. Returns the notebook."""
    kernels = work / "kernels"
    write_kernel_spec(kernels / "harness-course")  # argv: this interpreter, whatever other kernels are installed
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    manager = KernelManager(kernel_name="harness-course", kernel_spec_manager=specs)
    env = {**os.environ, "COURSE_OUT": str(work / "results")}
    client = NotebookClient(notebook, km=manager, timeout=CELL_TIMEOUT_SECONDS, allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    try:
        return client.execute(env=env)
    finally:  # nbclient stops only the kernels it started itself
        manager.shutdown_kernel(now=True)


def render(notebook: nbformat.NotebookNode) -> str:
    """The executed notebook as one HTML page: CSS inline, figures as base64 PNGs, no script from anywhere."""
    exporter = HTMLExporter(extra_loaders=[jinja2.DictLoader({"course.html.j2": OFFLINE_TEMPLATE})],
                            template_file="course.html.j2")
    page, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": "Course: the study notes in "
                                                                                     "both frameworks"}})
    return page


def images(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def sections(notebook) -> dict[str, list]:
    """{"1": [cells of section 1], ...}: cells grouped under the notebook's '## N.' headings."""
    grouped, current = {}, None
    for cell in notebook.cells:
        heading = re.match(r"## (\d+)\.", cell.source) if cell.cell_type == "markdown" else None
        if heading:
            current = heading.group(1)
        grouped.setdefault(current, []).append(cell)
    return grouped


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return execute(nbformat.read(NOTEBOOK, as_version=4), tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def page(executed):
    return render(executed)


def test_committed_notebook_is_valid_and_in_order():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert list(sections(notebook))[1:] == [str(number) for number in range(1, 10)]


def test_every_cell_runs(executed):
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count for cell in code)
    errors = [output for cell in code for output in cell.outputs if output.output_type == "error"]
    assert not errors, errors


def test_printed_differences_are_round_off(executed):
    printed = "".join(output.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                      for output in cell.outputs if output.output_type == "stream")
    differences = [float(value) for value in AGREEMENT.findall(printed)]
    assert len(differences) >= 7, printed  # sections 1 (three pairs), 3 (one) and 4 (three batch sizes)
    assert max(differences) <= AGREEMENT_TOLERANCE, printed


@pytest.mark.parametrize("section", PLOTTED_SECTIONS)
def test_section_draws_its_figures(executed, section):
    assert sum(images(cell) for cell in sections(executed)[section]) >= 1


def test_html_embeds_every_figure_and_loads_nothing(executed, page):
    figures = sum(images(cell) for cell in executed.cells)
    assert figures >= len(PLOTTED_SECTIONS)
    assert len(EMBEDDED_PNG.findall(page)) == figures
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=[\"']?(https?:)?//", page)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", page)  # nor a style sheet


CHROMIUM = Path("/usr/bin/chromium")
# as in tests/test_render.py: every request goes to a closed port and every host name fails, so nothing can load
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000"]
PROBE = ("<script>addEventListener('load', () => { const images = [...document.images];"
         " const loaded = images.filter(image => image.complete && image.naturalWidth > 0).length;"
         " document.title = `images ${loaded}/${images.length}`; });</script>")


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="chromium not installed: .ci/run installs it")
def test_chromium_shows_every_figure_offline(executed, page, tmp_path):
    probed = tmp_path / "course.html"
    probed.write_text(page.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    result = subprocess.run([str(CHROMIUM), *OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                             probed.as_uri()], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    figures = sum(images(cell) for cell in executed.cells)
    assert f"<title>images {figures}/{figures}</title>" in result.stdout, result.stdout[:500]


if __name__ == "__main__":  # make course: execute the notebook, write docs/course.html
    with tempfile.TemporaryDirectory(prefix="harness-course-") as folder:
        HTML.write_text(render(execute(nbformat.read(NOTEBOOK, as_version=4), Path(folder))), encoding="utf-8")
    print(f"wrote {HTML}")
