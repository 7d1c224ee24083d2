"""The course as a static site (``make book``): the executed notebooks of ``make demo`` (and, after
``make solutions``, their worked answers), the glossary and the results report, built offline by Sphinx with MyST-NB
and the book theme, whose assets ship in their wheels, so nothing is fetched at build or reading time.

The notebooks are not executed again: the site shows the outputs ``make demo`` produced. Each page opens with a
link to the same notebook in a local JupyterLab (``make lab``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..extras import require
from ..paths import PathLike, resolve
from .notebooks import NOTEBOOKS_DIR, ORDER, SOLUTIONS_SUFFIX, executed_name

#: Where ``make lab`` serves the checkout: the pages' "open in JupyterLab" links point there.
JUPYTERLAB_URL = "http://localhost:8888/lab/tree/notebooks"

#: The reports the notebooks write beside their executed copies, and the book page that shows each.
REPORTS = {"report.html": "Results (notebook 06)", "protocols.html": "Protocols (notebook 08)",
           "montage.html": "One subject per class (notebook 01)"}

CONF = '''
project = "brainclf"
author = "brainclf"
html_title = "brainclf: 3D brain-tumour classification, step by step"
extensions = ["myst_nb"]
html_theme = "sphinx_book_theme"
html_theme_options = {"use_download_button": False, "show_toc_level": 2, "home_page_in_toc": True}
html_copy_source = False  # the pages are the outputs; the notebooks themselves are in the checkout (make lab)
html_show_sourcelink = False
html_static_path = ["_static"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"  # the executed copies of make demo are shown as they are
nb_ipywidgets_js = {}  # no widget manager from a CDN: the viewers say they need a kernel
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "myst.xref_missing", "misc.highlighting_failure"]
'''


def build_book(executed: PathLike, out: PathLike, solutions: PathLike | None = None) -> Path:
    """Stage the executed notebooks, the glossary and the reports as a Sphinx project under ``out/source`` and build
    it into ``out/html``; return the landing page.

    Args:
        executed: the folder ``brainclf notebooks`` wrote (``make demo``: ``runs/notebooks-fast``), with the reports.
        out: the book's folder; rebuilt from scratch.
        solutions: where the executed worked answers are (default: ``executed``); a notebook's answers are left
            out when they have not been executed.

    Returns:
        ``out/html/index.html``.
    """
    for package in ("sphinx", "myst_nb", "sphinx_book_theme"):  # the builder runs them in a process of its own
        require(package, "course", "the course site (brainclf book)")
    executed, out = resolve(executed), resolve(out)
    solutions = resolve(solutions) if solutions else executed
    source = out / "source"
    shutil.rmtree(out, ignore_errors=True)
    (source / "_static").mkdir(parents=True)
    (source / "conf.py").write_text(CONF.lstrip())
    shutil.copy(NOTEBOOKS_DIR / "GLOSSARY.md", source / "GLOSSARY.md")
    pages = stage_notebooks(executed, solutions, source)
    reports = [name for name in REPORTS if (executed / name).exists()]
    for name in reports:
        shutil.copy(executed / name, source / "_static" / name)
        _write(source / f"{Path(name).stem}_report.md", _report_page(name))
    _write(source / "index.md", _landing_page(pages, reports))
    html = out / "html"
    build = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(source), str(html)],
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"sphinx-build failed on {source}:\n{build.stderr[-4000:]}")
    return html / "index.html"


def stage_notebooks(executed: Path, solutions: Path, source: Path) -> dict[str, list[str]]:
    """Copy each executed notebook (and its executed worked answers) into ``source``, each opening with its title
    and JupyterLab link; return the page names of the course and of the answers, in order.

    A notebook run once per architecture (``04_train``) becomes one page per run: its default run under the
    notebook's own name, so the links between notebooks resolve, and the others beside it.
    """
    course, answers = [], []
    errors = [error for name, variants in ORDER for variant in variants
              for error in error_outputs(executed / f"{executed_name(name, variant)}.ipynb")]
    errors += [error for name, _ in ORDER for error in error_outputs(solutions / f"{name}{SOLUTIONS_SUFFIX}.ipynb")]
    if errors:
        raise RuntimeError("An executed notebook carries an error output; a page with a traceback is not published:\n  "
                           + "\n  ".join(errors))
    for name, variants in ORDER:
        for index, variant in enumerate(variants):
            copy = executed / f"{executed_name(name, variant)}.ipynb"
            if not copy.exists():
                raise FileNotFoundError(f"{copy} is missing: run make demo (brainclf notebooks) before make book")
            page = name if index == 0 else copy.stem
            _stage(copy, source / f"{page}.ipynb", f"{name}.ipynb", variant if len(variants) > 1 else {})
            course.append(page)
        answer = solutions / f"{name}{SOLUTIONS_SUFFIX}.ipynb"
        if answer.exists():
            (source / "solutions").mkdir(exist_ok=True)
            _stage(answer, source / "solutions" / answer.name, f"solutions/{answer.name}", {})
            answers.append(f"solutions/{answer.stem}")
    return {"course": course, "answers": answers}


def error_outputs(notebook: Path) -> list[str]:
    """``"<page>: cell N: Error: message"`` for each error output of an executed notebook (none if it is missing)."""
    if not notebook.exists():
        return []
    found = []
    for index, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"{notebook.name}: cell {cell.get('execution_count')} (index {index}): "
                             f"{output.get('ename')}: {output.get('evalue')}")
    return found


def _stage(executed: Path, target: Path, notebook: str, variant: dict) -> None:
    """Write the page's notebook: its title, the JupyterLab link, then the notebook as it ran, with the values
    papermill injected for this page's run (not the machine's paths) below the parameters cell they override."""
    book = json.loads(executed.read_text())
    cells = book["cells"]
    for cell in cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            lines = "".join(cell["source"]).splitlines()
            kept = [line for line in lines if line.split("=")[0].strip() in {*variant, "preset"}]
            cell["source"] = "\n".join(["# Parameters of this run (papermill injected them)", *kept])
            cell["outputs"] = []
    run_as = " ".join(f"-p {key} {value}" for key, value in variant.items())
    made_by = "make solutions" if notebook.startswith("solutions/") else "make demo"
    link = (f"Open [`notebooks/{notebook}`]({JUPYTERLAB_URL}/{notebook}) in JupyterLab (`make lab` serves the "
            f"checkout){' and run it with ' + run_as if run_as else ''}. This page shows the outputs of `{made_by}`.")
    index = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "markdown")
    heading, _, rest = "".join(cells[index]["source"]).partition("\n")
    if variant:  # one page per run: its title says which
        heading = f"{heading} ({run_as})"
    opening = [_markdown("book-title", heading), _markdown("book-open-in-jupyterlab", f"> {link}")]
    # the page opens with its title and link, then the parameters cell that papermill needs first in the notebook
    cells[index]["source"] = rest.lstrip("\n")
    book["cells"] = opening + [cell for cell in cells if cell["cell_type"] != "markdown" or cell["source"]]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(book))


def _markdown(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def _report_page(name: str) -> str:
    return (f"# {REPORTS[name]}\n\nThe self-contained report the notebook wrote, as it wrote it "
            f'(<a href="_static/{name}">open it alone</a>).\n\n'
            f'<iframe src="_static/{name}" title="{REPORTS[name]}" style="width:100%;height:85vh;border:1px solid '
            f'#ddd"></iframe>\n')


def _landing_page(pages: dict[str, list[str]], reports: list[str]) -> str:
    titles = {page: _title(NOTEBOOKS_DIR / f"{page.split('-')[0]}.ipynb") for page in pages["course"]}
    path = "\n".join(f"{number}. [{titles[page]}]({page}.ipynb)" + (f" ({page.split('-', 1)[1]})" if "-" in page else "")
                     for number, page in enumerate(pages["course"], start=1))
    toc = ["```{toctree}", ":caption: The course", ":hidden:", "", *pages["course"], "```", "",
           "```{toctree}", ":caption: Reference", ":hidden:", "", "GLOSSARY",
           *[f"{Path(name).stem}_report" for name in reports], "```"]
    answers = ""
    if pages["answers"]:
        toc += ["", "```{toctree}", ":caption: Worked answers", ":hidden:", "", *pages["answers"], "```"]
        answers = (" Each notebook's exercises have worked answers: "
                   + ", ".join(f"[{page.split('/')[-1][:2]}]({page}.ipynb)" for page in pages["answers"]) + ".")
    return "\n".join([
        "# brainclf: 3D brain-tumour classification, step by step", "",
        "A course that replicates Chatterjee et al., *Classification of brain tumours in MR images using deep "
        "spatiospatial models* (Sci. Rep. 2022): three video ResNets read the slices of a 3D MR volume as the frames "
        "of a video and tell healthy brains from low- and high-grade gliomas. Each page is a notebook as `make demo` "
        "executed it, with its figures; each opens with a link to the same notebook in JupyterLab.", "",
        "## The learning path", "", path, "",
        "Words and references: [the glossary](GLOSSARY.md). The reports: "
        + ", ".join(f"[{REPORTS[name]}]({Path(name).stem}_report.md)" for name in reports) + "." + answers, "",
        *toc, ""])


def _title(notebook: Path) -> str:
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown" and (match := re.search(r"^# (.+)$", "".join(cell["source"]), re.M)):
            return match[1].strip()
    return notebook.stem


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
