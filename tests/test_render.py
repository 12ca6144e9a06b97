"""The report renderers on the committed fixture: report.md and report.tex against golden files, and report.html
checked statically (no URL that could load anything, embedded PNGs, viewport) and in a real headless Chromium.

Golden files: tests/golden/report.md and report.tex must equal the renderers' output byte for byte. After an
intended change to a renderer, regenerate them with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render.py

and review the diff before committing. The browser tests need /usr/bin/chromium (Debian package `chromium`,
which .ci/run installs) and are skipped without it.
"""

import base64
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.core.errors import SpecError
from harness.report.html import render_html
from harness.report.latex import escape, latex_table, render_latex
from harness.report.markdown import render_markdown
from harness.report.write import write_report
from harness.results.load import load_results
from harness.results.side_by_side import side_by_side

FIXTURE = Path(__file__).parent / "fixtures" / "results_iris"
GOLDEN = Path(__file__).parent / "golden"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")
NEEDS_CHROMIUM = pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                    reason="chromium not installed: .ci/run installs it")
# Chromium with no way out: every proxied request goes to the discard port, where nothing listens, and every host
# name fails to resolve, so any attempt to fetch something fails instead of loading.
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=5000",
                 "--hide-scrollbars"]
# Registered before the page's Content-Security-Policy meta (which forbids scripts from then on), so it runs on
# load: the title says how many images decoded, out of how many, and whether the page is wider than the window.
PROBE = ("<script>addEventListener('load', () => { const images = [...document.images];"
         " const loaded = images.filter(image => image.complete && image.naturalWidth > 0).length;"
         " const wide = document.documentElement.scrollWidth > innerWidth;"
         " document.title = `images ${loaded}/${images.length} overflow ${wide}`; });</script>")
PHONE, LAPTOP = (390, 844), (1366, 900)


def _check_golden(name: str, text: str) -> None:
    """`text` must equal tests/golden/<name> byte for byte; UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    assert path.read_bytes() == text.encode("utf-8"), f"{name} differs from {path}; see this file's docstring"


def test_markdown_matches_golden():
    _check_golden("report.md", render_markdown(FIXTURE))


def test_latex_matches_golden():
    _check_golden("report.tex", render_latex(FIXTURE))


@pytest.mark.parametrize("text, expected", [
    ("48.27 ± 0.85 %", r"48.27 $\pm$ 0.85 \%"),
    ("test R²", r"test R$^{2}$"),
    ("−0.5", r"$-$0.5"),
    ("a_b & c # d $ {e} ~ ^ \\", r"a\_b \& c \# d \$ \{e\} \textasciitilde{} \textasciicircum{} \textbackslash{}"),
    ("—", "---"),
])
def test_latex_escape(text, expected):
    assert escape(text) == expected


def test_latex_table_layout():
    loaded = load_results(FIXTURE)
    table = side_by_side(loaded.summary, loaded.manifest)
    lines = latex_table(table, "caption", "tab:x").splitlines()
    assert lines[0].startswith("%") and r"\usepackage{booktabs}" in lines[0]
    assert r"\begin{tabular}{lrr}" in lines and "|" not in "".join(lines)
    assert [line for line in lines if line in (r"\toprule", r"\midrule", r"\bottomrule")] == [
        r"\toprule", r"\midrule", r"\bottomrule"]
    assert lines.count(r"\midrule") == 1 and len([line for line in lines if line.endswith(r"\\")]) == len(table) + 1


def test_latex_table_rejects_a_label_that_breaks_latex():
    with pytest.raises(ValueError, match="label"):
        latex_table(side_by_side(load_results(FIXTURE).summary, {}), "caption", "tab:a}b")


class _Page(HTMLParser):
    """Tags with their attributes, and the text inside <style> and <script>, of one HTML page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.style, self._in_style = [], "", False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style += data


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A copy of the fixture with the curve PNGs drawn and a defaults table (with HTML-special text) added."""
    out = tmp_path_factory.mktemp("render") / "results"
    shutil.copytree(FIXTURE, out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["defaults_diff"] = [{"setting": "optimizer adam: epsilon", "keras": "1e-7 <before> & \"quoted\"",
                                  "torch": "eps=1e-8", "harness": "1e-07"}]
    (out / "manifest.json").write_text(json.dumps(manifest))
    write_report(out)
    return out


@pytest.fixture(scope="module")
def page(results) -> str:
    return render_html(results)


def test_html_loads_nothing_from_anywhere(page):
    parsed = _Page(page)
    values = [value or "" for _, attrs in parsed.tags for value in attrs.values()]
    assert not [value for value in values if "http://" in value or "https://" in value or "//" in value.lstrip()[:2]]
    assert all(attrs[name].startswith("data:") for _, attrs in parsed.tags for name in ("src", "href") if name in attrs)
    assert not {"script", "link", "iframe", "object", "embed", "base"} & {tag for tag, _ in parsed.tags}
    assert "url(" not in parsed.style and "@import" not in parsed.style and "@font-face" not in parsed.style


def test_html_images_are_embedded_pngs(page):
    sources = [attrs.get("src", "") for tag, attrs in _Page(page).tags if tag == "img"]
    assert len(sources) == 2
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True)[:8] == PNG_SIGNATURE


def test_html_head_and_content(page, results):
    tags = _Page(page).tags
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in tags
    assert page == render_html(results)  # deterministic
    for text in ["28.33 ± 21.21 %", "Known differences", "Defaults that differ", "1e-7 &lt;before&gt; &amp; "
                 "&quot;quoted&quot;", "optimizer.epsilon", "AMD EPYC", "<code>5a7f8713"]:
        assert text in page


def test_html_lists_unfinished_runs_escaped(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out)
    summary = pd.read_csv(out / "summary.csv", dtype={"error": object})
    summary.loc[1, ["status", "error"]] = ["failed", "Traceback:\n  raise <Boom> & co"]
    summary.to_csv(out / "summary.csv", index=False)
    page = render_html(out)
    assert "<h2>Runs that did not finish</h2>" in page and "1 ok, 1 failed" in page
    assert "<pre>Traceback:\n  raise &lt;Boom&gt; &amp; co</pre>" in page


def test_html_without_curve_pngs_says_what_draws_them():
    with pytest.raises(SpecError, match="loss_curves.png: expected the curve PNG that .*write_report"):
        render_html(FIXTURE)


def _chromium(tmp_path: Path, page: Path, size: tuple[int, int], *flags: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [str(CHROMIUM), *OFFLINE_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
               *flags, page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@NEEDS_CHROMIUM
def test_chromium_loads_every_image_offline(page, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    dom = _chromium(tmp_path, probed, PHONE, "--dump-dom")
    assert "<title>images 2/2 overflow false</title>" in dom, dom[:500]


@NEEDS_CHROMIUM
@pytest.mark.parametrize("size", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_chromium_screenshot_is_not_blank(page, tmp_path, size):
    from matplotlib.image import imread

    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    shot = tmp_path / f"screenshot-{size[0]}x{size[1]}.png"
    _chromium(tmp_path, html, size, f"--screenshot={shot}")
    pixels = imread(shot)  # (height, width, channels), floats in [0, 1]
    assert pixels.shape[:2] == (size[1], size[0])
    assert float(np.std(pixels[..., :3])) > 0.05
