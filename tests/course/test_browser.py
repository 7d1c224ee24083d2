"""Each check of a page in Chromium catches its fault: small pages, each breaking one, and a page breaking none
(tests/test_course.py runs the checks on the real site built from the smoke notebooks)."""

import shutil
import time

import pandas as pd
import plotly.graph_objects as go
import pytest

from brainclf_lib.course.browser import FAULTS, REPORT_ONLY, check_pages, faults
from brainclf_lib.course.figures import CourseFigure
from brainclf_lib.paths import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is needed: apt-get install chromium")

PROSE = "<p>" + "The slices of a volume read as the frames of a video. " * 12 + "</p>"
#: Each page breaks one check, in each way it can be broken; "clean" breaks none, with code that looks like markdown.
PAGES = {
    "clean": "<table><tr><td>r3d_18</td><td>0.912 ± 0.030</td><td>0.50 to 0.75</td></tr></table>"
             "<pre><code>x = a ** 2  # `code`, *args, [1](2)</code></pre><p>Open <a href='clean.html'>this page</a>, "
             "<a href='#top'>its top</a> and <a href='https://example.org/x'>a site</a>; 2 * 3 * 4 is 24.</p>",
    "table too wide": "<table><tr>" + "<th style='white-space:nowrap'>macro F1 0.912 ± 0.030</th>" * 12
                      + "</tr></table>",
    "table scrolls": "<div style='overflow-x:auto'><table><tr>" + "<td style='white-space:nowrap'>0.912 ± 0.030</td>"
                     * 12 + "</tr></table></div>"
                     # narrower than the page, wider than the output area that holds it (08's table, cut at HGG F1)
                     "<div style='overflow-x:auto;width:300px'><table><tr>" + "<td style='white-space:nowrap'>LGG F1</td>"
                     * 6 + "</tr></table></div>",
    "figure too wide": "<div><img src='data:image/svg+xml;utf8,<svg xmlns=%22http://www.w3.org/2000/svg%22 "
                       "width=%22900%22 height=%2210%22/>' style='width:900px'></div>",
    "raw markdown": "<table><tr><td>that argument is the *output range*, so</td></tr></table>"
                    "<p>a **bold** word, a `name`, a [link](page.md), &lt;!-- a comment --&gt;</p>",
    "machine path": f"<pre>[data] saving the splits in {REPO_ROOT}/data/prepared/splits.json</pre>"
                    "<p>weights in /root/.cache/torch/hub and /tmp/pytest-of-root/x</p>",
    "same-number range": "<table><tr><td>95% CI</td><td>1.000 to 1.000</td></tr></table><p>from 3 % to 3 %</p>"
                         "<div class='cell_input'><pre>span(low, high)  # never \"0.5 to 0.5\"</pre></div>",
    "dead link": "<p>The <a href='solutions/06_results_solutions.html'>answers</a> and "
                 "<a href='#solutions/06_results_solutions'>06</a>.</p>",
    "page too heavy": "<script>var voxels = '" + "0.4321," * 30_000 + "';</script>",
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> pd.DataFrame:
    book = tmp_path_factory.mktemp("book")
    (book / "html").mkdir()
    for name, body in PAGES.items():
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{name}</title></head><body id='top'>"
                f"<main style='width:600px'><h1>{name}</h1>{PROSE}{body}</main></body></html>")
        (book / "html" / f"{name.replace(' ', '_')}.html").write_text(page)
    started = time.perf_counter()
    found = check_pages(book, screenshots=book / "shots", browser=CHROMIUM, megabytes=0.1).set_index("page")
    assert time.perf_counter() - started < 60
    return found


def test_a_page_that_breaks_nothing_passes_every_check(checked):
    assert all(checked.loc["clean.html", name] == [] for name in FAULTS), checked.loc["clean.html", list(FAULTS)]
    assert checked.loc["clean.html", "text characters"] > 500


@pytest.mark.parametrize("check", FAULTS)
def test_each_check_catches_its_fault_and_only_its_own(checked, check):
    row = checked.loc[f"{check.replace(' ', '_')}.html"]
    assert row[check], f"{check} missed its fault"
    assert all(row[other] == [] for other in FAULTS if other != check), row[list(FAULTS)]


def test_each_check_names_what_it_found(checked):
    assert len(checked.loc["table_too_wide.html", "table too wide"]) == 1
    assert "macro F1 0.912 ± 0.030" in checked.loc["table_too_wide.html", "table too wide"][0]
    scrolls = checked.loc["table_scrolls.html", "table scrolls"]
    assert len(scrolls) == 2 and "px in a 300 px output" in scrolls[1]
    markdown = " ".join(checked.loc["raw_markdown.html", "raw markdown"])
    assert all(raw in markdown for raw in ("*output range*", "**", "`name`", "[link](page.md)", "<!--"))
    assert len(checked.loc["machine_path.html", "machine path"]) == 3
    assert len(checked.loc["same-number_range.html", "same-number range"]) == 2  # not the code cell's comment
    dead = checked.loc["dead_link.html", "dead link"]
    assert len(dead) == 2 and any("#solutions/06_results_solutions" in link for link in dead)
    assert checked.loc["page_too_heavy.html", "page too heavy"] == ["0.2 MB, over 0.1 MB"]


def test_every_check_fails_the_build():
    """A figure wider than its column, a table that scrolls and a range from a number to itself were once only
    reported; each fails now (``REPORT_ONLY`` says why they could)."""
    assert {"figure too wide", "table scrolls", "same-number range"} <= set(FAULTS) and REPORT_ONLY == ()


def test_a_course_figure_follows_its_column_after_it_is_drawn():
    """Plotly sizes a figure once, when drawn; the page's column settles later, so the figure's HTML redraws it
    whenever its column changes width."""
    html = CourseFigure(go.Figure(go.Scatter(x=[0, 1], y=[0, 1]), layout=dict(width=1000)))._repr_mimebundle_()["text/html"]
    assert "ResizeObserver" in html and "Plotly.Plots.resize" in html and '"width": 1000' not in html


def test_the_report_only_checks_are_listed_apart(checked):
    failing, reported = faults(checked.reset_index())
    assert set(REPORT_ONLY) <= set(FAULTS)
    assert all(line.split(": ")[1] in REPORT_ONLY for line in reported)
    assert not [line for line in failing if line.split(": ")[1] in REPORT_ONLY]
    assert len(failing) + len(reported) == sum(len(row) for name in FAULTS for row in checked[name])
