"""The site's pages as staged for Sphinx, without building them: each opens with its title and introduction, then
its JupyterLab link (to a configurable JupyterLab) and its parameters in one folded cell without the machine's paths;
04's runs are named by architecture (tests/test_course.py builds and checks the real site)."""

import json

import nbformat

from brainclf_lib.course.book import ARCH_LABELS, JUPYTERLAB_URL, _landing_page, run_minutes, stage_notebooks
from brainclf_lib.course.notebooks import ORDER, SOLUTIONS_SUFFIX, executed_name


def _executed(path, title: str) -> None:
    """A notebook as papermill leaves it: its parameters, the injected cell (with a machine's path), then prose."""
    book = nbformat.v4.new_notebook()
    defaults = nbformat.v4.new_code_cell('preset = "fast"\noutput_dir = "runs"', metadata={"tags": ["parameters"]})
    injected = nbformat.v4.new_code_cell('# Parameters\npreset = "smoke"\narch = "mc3"\noutput_dir = "/tmp/x/runs"\n',
                                         metadata={"tags": ["injected-parameters"]})
    book.cells = [defaults, injected, nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat this notebook teaches."),
                  nbformat.v4.new_code_cell("print(1)")]
    nbformat.write(book, path)


def test_a_page_opens_with_its_title_and_introduction_then_its_folded_parameters(tmp_path):
    executed = tmp_path / "executed"
    executed.mkdir()
    for name, variants in ORDER:
        for variant in variants:
            _executed(executed / f"{executed_name(name, variant)}.ipynb", name.replace("_", " "))
        _executed(executed / f"{name}{SOLUTIONS_SUFFIX}.ipynb", f"{name} answers")
    timed = json.loads((executed / "04_train-r3d.ipynb").read_text())
    timed["metadata"]["papermill"] = {"duration": 48.0}
    (executed / "04_train-r3d.ipynb").write_text(json.dumps(timed))
    pages = stage_notebooks(executed, executed, tmp_path / "source", lab_url="https://hub.example.org/lab/tree/nb")
    assert pages["course"][3:6] == ["04_train", "04_train-mc3", "04_train-r2plus1d"]
    assert pages["minutes"]["04_train"] == 0.8 and pages["minutes"]["04_train-mc3"] is None  # 04's r3d run, by its page
    assert pages["answers"][0] == "solutions/01_data_exploration_solutions"
    cells = json.loads((tmp_path / "source" / "04_train-mc3.ipynb").read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["markdown", "markdown", "markdown", "code", "code"]
    assert cells[0]["source"] == f"# 04 train {ARCH_LABELS['mc3']}" and "-p arch" not in cells[0]["source"]
    assert cells[1]["source"] == "What this notebook teaches."
    assert "(https://hub.example.org/lab/tree/nb/04_train.ipynb)" in cells[2]["source"]
    # a site read without a JupyterLab still hands out the notebook, as a student starts it (no outputs)
    assert '<a href="_static/notebooks/04_train.ipynb" download>' in cells[2]["source"]
    handed_out = json.loads((tmp_path / "source" / "_static" / "notebooks" / "04_train.ipynb").read_text())
    assert not any(cell.get("outputs") for cell in handed_out["cells"])
    answer = json.loads((tmp_path / "source" / "solutions" / "04_train_solutions.ipynb").read_text())["cells"][2]
    assert '<a href="../_static/notebooks/solutions/04_train_solutions.ipynb" download>' in answer["source"]
    assert (tmp_path / "source" / "_static" / "notebooks" / "solutions" / "04_train_solutions.ipynb").exists()
    folded = cells[3]
    assert folded["metadata"]["tags"] == ["hide-input"] and not folded["outputs"]
    assert folded["source"].startswith('preset = "fast"') and 'arch = "mc3"' in folded["source"]
    assert 'preset = "smoke"' in folded["source"] and "/tmp" not in folded["source"]


def test_the_landing_page_says_what_a_student_learns_and_links_the_built_answers():
    pages = {"course": ["01_data_exploration", "04_train", "04_train-mc3"],
             "answers": ["solutions/06_results_solutions"]}
    pages["minutes"] = {"01_data_exploration": 2.25, "04_train": 1.0}
    landing = _landing_page(pages, ["report.html"], JUPYTERLAB_URL)
    for heading in ("## What you will learn", "## Before you start", "## The data are synthetic", "## How to run it"):
        assert heading in landing
    assert all(command in landing for command in ("`make demo`", "`make lab`", "papermill", "--lab-url"))
    assert "{doc}`06 <solutions/06_results_solutions>`" in landing  # a link Sphinx resolves, not '#solutions/...'
    assert ARCH_LABELS["r3d"] in landing
    assert "<01_data_exploration>` (2.2 min to run)" in landing and "<04_train-mc3>` (not timed)" in landing
    assert "All of them together: 3 minutes." in landing


def test_a_page_is_timed_by_its_own_executed_notebook(tmp_path):
    """The landing page's minutes come from papermill's record in the executed copy, not from a table typed in."""
    _executed(tmp_path / "a.ipynb", "a")
    assert run_minutes(tmp_path / "a.ipynb") is None and run_minutes(tmp_path / "missing.ipynb") is None
    book = json.loads((tmp_path / "a.ipynb").read_text())
    book["metadata"]["papermill"] = {"duration": 90.0}
    (tmp_path / "a.ipynb").write_text(json.dumps(book))
    assert run_minutes(tmp_path / "a.ipynb") == 1.5
