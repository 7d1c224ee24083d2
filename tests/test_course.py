"""Every notebook executes headless, top to bottom, in its smoke mode, and writes what the next one reads; every
worked answer runs and passes its check; the course site built from them draws every figure in a real browser."""

import re

import nbformat
import pytest

from brainclf_lib.course.book import ARCH_LABELS, build_book
from brainclf_lib.course.browser import check_pages, faults
from brainclf_lib.course.exercises import EXERCISES
from brainclf_lib.course.expectations import RECORD_MIME, measured_table
from brainclf_lib.course.notebooks import ORDER, run_notebooks
from brainclf_lib.experiment.run_folder import find_runs


@pytest.fixture(scope="module")
def course(tmp_path_factory, smoke_data):
    """The notebooks as ``make demo`` executes them, with the smoke preset."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINCLF_DATA", str(smoke_data))
        out = tmp_path_factory.mktemp("course")
        return out, run_notebooks(out, preset="smoke", cell_timeout=600)


@pytest.fixture(scope="module")
def answers(tmp_path_factory, smoke_data):
    """The worked answers as ``make solutions`` executes them, with the smoke preset, each training what it needs
    in a folder of its own (no notebook run first)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINCLF_DATA", str(smoke_data))
        out = tmp_path_factory.mktemp("answers")
        return out, run_notebooks(out, preset="smoke", cell_timeout=600, solutions=True)


def _expected_keys(paths) -> set[str]:
    """Every figure and tendency an executed notebook promised, whether or not its setting was the measured one."""
    return {o["data"][RECORD_MIME]["key"] for path in paths for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == "code" for o in c.get("outputs", []) if RECORD_MIME in o.get("data", {})}


def test_every_expected_figure_of_the_course_and_its_answers_takes_its_range_from_the_shipped_table(course, answers):
    promised = _expected_keys(course[1]) | _expected_keys(answers[1])
    assert len(promised) >= 30
    assert promised <= set(measured_table()["key"]), sorted(promised - set(measured_table()["key"]))


def test_every_notebook_runs_in_smoke_mode(course):
    out, executed = course
    assert len(executed) == sum(len(variants) for _, variants in ORDER) == 11
    for path in executed:
        book = nbformat.read(path, as_version=4)
        outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name
        # every figure also renders without a kernel: HTML beside plotly's JSON, plotly.js embedded once
        figures = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
        assert all("Plotly.newPlot" in "".join(f.get("text/html", "")) for f in figures), path.name
        bundles = sum("plotly.js v" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
        assert bundles == (1 if figures else 0), (path.name, bundles)
    runs = find_runs(out / "runs")
    scratch = {run.config.arch: run for run in runs if run.config.pretrained is None and run.config.fold == 0}
    assert sorted(scratch) == ["mc3_18", "r2plus1d_18", "r3d_18"]
    assert all(run.metrics["n"] > 0 for run in scratch.values())
    report = out
    assert (report / "report.html").stat().st_size > 10_000 and (report / "tables.csv").exists()
    assert (report / "montage.html").exists()
    protocols = report / "protocols_mc3_18.csv"  # 08: the corrected, paper and published-code protocols side by side
    assert (report / "protocols.html").stat().st_size > 10_000 and protocols.exists()
    import pandas as pd

    table = pd.read_csv(protocols).set_index("variant")
    assert {"corrected", "paper-text", "published-code", "+ augmented_test"} <= set(table.index)
    assert (table["macro F1 low"] <= table["macro F1"]).all() and (table["macro F1"] <= table["macro F1 high"]).all()


def test_every_worked_answer_runs_and_passes_its_check(answers):
    _, executed = answers
    assert [path.name for path in executed] == [f"{name}_solutions.ipynb" for name, _ in ORDER]
    printed = ""
    for path in executed:
        book = nbformat.read(path, as_version=4)
        outputs = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.get("output_type") == "error"], path.name
        printed += "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert sorted(re.findall(r"Exercise (\d\d\.\d): right\.", printed)) == sorted(EXERCISES)


def test_the_course_site_draws_every_figure_in_a_browser(course, answers, tmp_path):
    """make book, offline, then every page in headless Chromium: no page draws fewer figures than its notebook made,
    none is blank, none shows what a reader should not see (a table or figure wider than its column, raw markdown,
    the machine's paths, a range from a number to itself, a dead link), and each leaves a screenshot."""
    index = build_book(course[0], tmp_path / "book", solutions=answers[0])
    html = index.parent
    pages = {p.relative_to(html).as_posix() for p in html.rglob("*.html")}
    assert {"index.html", "GLOSSARY.html", "search.html", "04_train.html", "04_train-mc3.html", "report_report.html",
            "solutions/07_explainability_solutions.html"} <= pages
    assert "searchindex.js" in {p.name for p in html.iterdir()}
    # nothing is fetched from the network when a page is read
    remote = [p for p in html.rglob("*.html") if re.search(r"""<(script|link)[^>]+(src|href)=["']https?://""", p.read_text())]
    assert not remote, remote
    assert "localhost:8888/lab/tree/notebooks/04_train.ipynb" in (html / "04_train.html").read_text()
    landing = (html / "index.html").read_text()
    assert all(f"{ARCH_LABELS[arch]}<" in landing for arch in ARCH_LABELS) and "Training (-p arch" not in landing
    assert 'href="solutions/06_results_solutions.html"' in landing and "What you will learn" in landing
    checked = check_pages(tmp_path / "book", screenshots=tmp_path / "screenshots").set_index("page")
    reports = {f"_static/{name}" for name in ("report.html", "protocols.html", "montage.html")}
    content = {p for p in pages if not p.startswith("_static/") and p not in ("genindex.html", "search.html")}
    assert set(checked.index) == content | reports
    figures = checked[checked["expected figures"] > 0]
    assert len(figures) >= 10 and checked.loc["_static/report.html", "expected figures"] >= 5
    short = figures[figures["drawn"] < figures["expected figures"]]
    assert short.empty, short
    pages_text = checked.drop(index=list(reports))["text characters"]  # a report may be mostly a figure
    assert (pages_text > 500).all(), pages_text
    assert (checked.loc[list(reports), "drawn"] > 0).all(), checked.loc[list(reports)]
    failing, reported = faults(checked.reset_index())
    print("reported, not failed:", *reported, sep="\n  ")
    assert not failing, "\n".join(failing)
    screenshots = sorted((tmp_path / "screenshots").glob("*.png"))
    assert len(screenshots) == len(checked) and all(p.stat().st_size > 20_000 for p in screenshots)


def test_the_book_refuses_an_executed_notebook_with_an_error_output(tmp_path):
    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 / 0", execution_count=7)
    cell.outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    book.cells = [nbformat.v4.new_markdown_cell("# 08 · Protocols"), cell]
    nbformat.write(book, tmp_path / "08_protocols.ipynb")
    with pytest.raises(RuntimeError, match=r"08_protocols.ipynb: cell 7 \(index 1\): ZeroDivisionError: division by zero"):
        build_book(tmp_path, tmp_path / "book")
