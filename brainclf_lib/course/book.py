"""The course as a static site (``make book``): the executed notebooks of ``make demo`` (and, after
``make solutions``, their worked answers), the glossary and the results report, built offline by Sphinx with MyST-NB
and the book theme, whose assets ship in their wheels, so nothing is fetched at build or reading time.

The notebooks are not executed again: the site shows the outputs ``make demo`` produced. Each page opens with a
link to the same notebook in a local JupyterLab (``make lab``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ..extras import require
from ..paths import PathLike, resolve
from .notebooks import NOTEBOOKS_DIR, ORDER, SOLUTIONS_SUFFIX, executed_name

#: Where ``make lab`` serves the checkout: the pages' "open in JupyterLab" links point there unless
#: ``brainclf book --lab-url`` or ``$BRAINCLF_LAB_URL`` names another JupyterLab's ``notebooks`` folder (a JupyterHub's).
JUPYTERLAB_URL = "http://localhost:8888/lab/tree/notebooks"
LAB_URL_VARIABLE = "BRAINCLF_LAB_URL"

#: How the sidebar names each run of a notebook run once per architecture (``04_train``).
ARCH_LABELS = {"r3d": "r3d_18 (3D)", "mc3": "mc3_18 (mixed 3D/2D)", "r2plus1d": "r2plus1d_18 ((2+1)D)"}

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
html_css_files = ["brainclf.css"]  # a wider column on wide windows, compact tables (_SITE_CSS in book.py)
html_js_files = ["brainclf.js"]  # marks short table cells (numbers, names) so that they do not wrap
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"  # the executed copies of make demo are shown as they are
nb_ipywidgets_js = {}  # no widget manager from a CDN: the viewers say they need a kernel
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "myst.xref_missing", "misc.highlighting_failure"]
'''


def build_book(executed: PathLike, out: PathLike, solutions: PathLike | None = None,
               lab_url: str | None = None) -> Path:
    """Stage the executed notebooks, the glossary and the reports as a Sphinx project under ``out/source`` and build
    it into ``out/html``; return the landing page.

    Args:
        executed: the folder ``brainclf notebooks`` wrote (``make demo``: ``runs/notebooks-fast``), with the reports.
        out: the book's folder; rebuilt from scratch.
        solutions: where the executed worked answers are (default: ``executed``); a notebook's answers are left
            out when they have not been executed.
        lab_url: the ``notebooks`` folder of the JupyterLab the pages link to (default: ``$BRAINCLF_LAB_URL``, else
            ``make lab``'s, :data:`JUPYTERLAB_URL`).

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
    (source / "_static" / "brainclf.css").write_text(_SITE_CSS.lstrip())
    (source / "_static" / "brainclf.js").write_text(_SITE_JS.lstrip())
    shutil.copy(NOTEBOOKS_DIR / "GLOSSARY.md", source / "GLOSSARY.md")
    lab_url = (lab_url or os.environ.get(LAB_URL_VARIABLE) or JUPYTERLAB_URL).rstrip("/")
    pages = stage_notebooks(executed, solutions, source, lab_url)
    reports = [name for name in REPORTS if (executed / name).exists()]
    for name in reports:
        shutil.copy(executed / name, source / "_static" / name)
        _write(source / f"{Path(name).stem}_report.md", _report_page(name))
    _write(source / "index.md", _landing_page(pages, reports, lab_url))
    html = out / "html"
    build = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(source), str(html)],
                           capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError(f"sphinx-build failed on {source}:\n{build.stderr[-4000:]}")
    return html / "index.html"


def stage_notebooks(executed: Path, solutions: Path, source: Path, lab_url: str = JUPYTERLAB_URL) -> dict[str, list[str]]:
    """Copy each executed notebook (and its executed worked answers) into ``source``, each opening with its title
    and introduction, then its JupyterLab link (under ``lab_url``) and its parameters, folded; return the page names
    of the course and of the answers, in order, and under ``minutes`` how long each course page's notebook took to
    execute (:func:`run_minutes`).

    A notebook run once per architecture (``04_train``) becomes one page per run: its default run under the
    notebook's own name, so the links between notebooks resolve, and the others beside it.
    """
    course, answers, minutes = [], [], {}
    errors = [error for name, variants in ORDER for variant in variants
              for error in error_outputs(executed / f"{executed_name(name, variant)}.ipynb")]
    errors += [error for name, _ in ORDER for error in error_outputs(solutions / f"{name}{SOLUTIONS_SUFFIX}.ipynb")]
    if errors:
        raise RuntimeError("An executed notebook carries an error output; a page with a traceback is not published:\n  "
                           + "\n  ".join(errors))
    built = {name for name, _ in ORDER if (solutions / f"{name}{SOLUTIONS_SUFFIX}.ipynb").exists()}
    for name, variants in ORDER:
        for index, variant in enumerate(variants):
            copy = executed / f"{executed_name(name, variant)}.ipynb"
            if not copy.exists():
                raise FileNotFoundError(f"{copy} is missing: run make demo (brainclf notebooks) before make book")
            page = name if index == 0 else copy.stem
            _stage(copy, source / f"{page}.ipynb", f"{name}.ipynb", variant if len(variants) > 1 else {}, lab_url, built)
            course.append(page)
            minutes[page] = run_minutes(copy)
        answer = solutions / f"{name}{SOLUTIONS_SUFFIX}.ipynb"
        if answer.exists():
            (source / "solutions").mkdir(exist_ok=True)
            _stage(answer, source / "solutions" / answer.name, f"solutions/{answer.name}", {}, lab_url, built)
            answers.append(f"solutions/{answer.stem}")
    return {"course": course, "answers": answers, "minutes": minutes}


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


def run_minutes(notebook: Path) -> float | None:
    """How long papermill took to execute ``notebook``, in minutes, from the notebook's own metadata (``None`` when it
    was not executed by papermill): the landing page's times are this site's run, not a figure typed in once."""
    if not notebook.exists():
        return None
    duration = json.loads(notebook.read_text()).get("metadata", {}).get("papermill", {}).get("duration")
    return duration / 60 if isinstance(duration, (int, float)) else None


def _stage(executed: Path, target: Path, notebook: str, variant: dict, lab_url: str, built: set[str]) -> None:
    """Write the page's notebook: its title and introduction, then the JupyterLab link and one folded cell of its
    parameters (the notebook's defaults, then the values papermill injected for this page's run, not the machine's
    paths), then the rest of the notebook as it ran. A link to worked answers that were not executed (``built``
    names those that were) opens them in JupyterLab instead of a page the site does not have."""
    book = json.loads(executed.read_text())
    cells = book["cells"]
    for cell in cells:
        if cell["cell_type"] == "markdown":
            cell["source"] = _ANSWER_LINK.sub(lambda m: m[0] if m[1] in built else f"]({lab_url}/solutions/{m[1]}"
                                              f"{SOLUTIONS_SUFFIX}.ipynb)", "".join(cell["source"]))
    run_as = " ".join(f"-p {key} {value}" for key, value in variant.items())
    made_by = "make solutions" if notebook.startswith("solutions/") else "make demo"
    download = _offer_download(notebook, target)
    link = (f"Open [`notebooks/{notebook}`]({lab_url}/{notebook}) in JupyterLab (`make lab` serves the "
            f"checkout){f' and run it with `{run_as}`' if run_as else ''}, or {download} to run it in any Jupyter where brainclf is installed. "
            f"This page shows the outputs of `{made_by}`.")
    parameters = _folded_parameters(cells, variant)
    cells = [cell for cell in cells if not {"parameters", "injected-parameters"} & set(cell["metadata"].get("tags", []))]
    index = next(i for i, cell in enumerate(cells) if cell["cell_type"] == "markdown")
    heading, _, rest = "".join(cells[index]["source"]).partition("\n")
    if variant.get("arch"):  # one page per architecture: its title says which
        heading = f"{heading} {ARCH_LABELS.get(variant['arch'], variant['arch'])}"
    intro, section, after = rest.strip("\n").partition("\n## ")  # the introduction ends at the first section
    opening = [_markdown("book-title", heading), *([_markdown("book-intro", intro)] if intro.strip() else []),
               _markdown("book-open-in-jupyterlab", f"> {link}"), *parameters]
    book["cells"] = opening + ([_markdown("book-first-section", section.lstrip("\n") + after)] if section else []) \
        + cells[:index] + cells[index + 1:]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(book))


def _offer_download(notebook: str, target: Path) -> str:
    """Copy the course's own notebook (no outputs, as a student starts it) into the site's ``_static/notebooks`` and
    return an HTML link to it from the page at ``target``: a site read without ``make lab`` still hands out the
    notebook. HTML, not a markdown link, which MyST would read as a reference to the page of that name."""
    nested = "/" in notebook  # a worked answer's page sits one folder down, in solutions/
    copy = (target.parent.parent if nested else target.parent) / "_static" / "notebooks" / notebook
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(NOTEBOOKS_DIR / notebook, copy)
    href = ("../" if nested else "") + f"_static/notebooks/{notebook}"
    return f'<a href="{href}" download>download it</a>'


def _folded_parameters(cells: list[dict], variant: dict) -> list[dict]:
    """The notebook's parameters cell and papermill's injected one as one code cell, folded (MyST-NB's
    ``hide-input``): the defaults, then what this run set (none of the machine's paths)."""
    defaults = next((cell for cell in cells if "parameters" in cell["metadata"].get("tags", [])), None)
    injected = next((cell for cell in cells if "injected-parameters" in cell["metadata"].get("tags", [])), None)
    if defaults is None and injected is None:
        return []
    lines = "".join(injected["source"]).splitlines() if injected else []
    kept = [line for line in lines if line.split("=")[0].strip() in {*variant, "preset"}]
    source = "".join(defaults["source"]).rstrip() if defaults else ""
    if kept:
        source += "\n\n# Parameters of this run (papermill injected them)\n" + "\n".join(kept)
    return [{"cell_type": "code", "id": "book-parameters", "execution_count": None, "outputs": [],
             "metadata": {"tags": ["hide-input"]}, "source": source.strip()}]


def _markdown(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


#: A markdown link to a notebook's worked answers: ``](solutions/<name>_solutions.ipynb)``.
_ANSWER_LINK = re.compile(r"\]\((?:\./)?solutions/(\w+?)" + SOLUTIONS_SUFFIX + r"\.ipynb\)")

#: What the landing page says a student learns, needs, and reads about the data.
_LANDING_ABOUT = [
    "## What you will learn", "",
    "- to load, reorient, skull-strip, resample and normalise 3D MR volumes in the BraTS and IXI layouts (01, 02);",
    "- how video ResNets (3D, mixed 3D/2D and (2+1)D convolutions) read the slice axis as time (03);",
    "- to train them with weighted cross-entropy, a validation subset and stratified 3-fold cross-validation over "
    "subjects, from scratch and from pre-trained weights (04, 05);",
    "- to rebuild the paper's tables and confusion matrices, and to go beyond them with bootstrap intervals and "
    "McNemar's paired test (06);",
    "- to ask what a model looks at with Grad-CAM (07), and how a protocol's deviations move the reported figures (08).",
    "", "## Before you start", "",
    "Python and NumPy, a first look at pandas and PyTorch (tensors, a training loop), and what accuracy, precision, "
    "recall and F1 measure. No GPU is needed: every notebook runs on a laptop's CPU with the `fast` preset.",
    "", "## The data are synthetic", "",
    "The paper's scans (BraTS 2019 and IXI) cannot be shipped with a course and would take hours on a CPU, so the "
    "course generates a small cohort in the same folder layouts, from real anatomy (MNI152 tissue maps and a head "
    "atlas) with tumours drawn by grade, calibrated to be about as hard as the paper's data, and ships it prepared "
    "(`data/cohorts/`: the notebooks install it in a second). Every figure on these "
    "pages is measured on it: it teaches the method, not the paper's numbers. With the real data, the same notebooks "
    "run with `-p preset paper -p data_root data/prepared/real` (README, \"Real BraTS 2019 + IXI data\").",
]


#: The site's own style: the content column takes the width a wide window has, tables are compact, numbers and
#: names do not wrap, long text wraps (a long token such as ``RescaleIntensity(out_min_max=`` too, anywhere), and a
#: table too wide all the same scrolls in its output (the last resort; the browser check fails on it). A printed
#: line wraps at the column's edge instead of hiding its end past it.
_SITE_CSS = """
@media (min-width: 960px) {
  .bd-page-width { max-width: 100%; }
  .bd-main .bd-content .bd-article-container { max-width: 100%; }
}
@media (min-width: 1200px) {
  .bd-sidebar-primary { flex-basis: 16rem; max-width: 16rem; }
  .bd-sidebar-secondary { flex-basis: 13rem; max-width: 13rem; }
}
.bd-article table { font-size: 0.75rem; font-variant-numeric: tabular-nums; width: auto; max-width: 100%; }
.bd-article table td, .bd-article table th { padding: 0.15rem 0.35rem; vertical-align: top; line-height: 1.35; }
.bd-article table .brainclf-short { white-space: nowrap; }
.bd-article table td:not(.brainclf-short) { min-width: 10em; overflow-wrap: anywhere; }
.bd-article .cell_output .output { overflow-x: auto; }
.bd-article .cell_output pre { white-space: pre-wrap; overflow-wrap: anywhere; }
"""

#: Marks each table cell short enough not to wrap (a number, an interval, a name): class ``brainclf-short``.
_SITE_JS = """
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".bd-article table td, .bd-article table tbody th").forEach((cell) => {
    if (cell.textContent.trim().length <= 24) cell.classList.add("brainclf-short");
  });
});
"""


def _report_page(name: str) -> str:
    return (f"# {REPORTS[name]}\n\nThe self-contained report the notebook wrote, as it wrote it "
            f'(<a href="_static/{name}">open it alone</a>).\n\n'
            f'<iframe src="_static/{name}" title="{REPORTS[name]}" style="width:100%;height:85vh;border:1px solid '
            f'#ddd"></iframe>\n')


def _landing_page(pages: dict, reports: list[str], lab_url: str) -> str:
    minutes = pages.get("minutes", {})  # stage_notebooks' record of each page's run time
    path = "\n".join(f"{number}. {{doc}}`{_page_title(page)} <{page}>` ({_minutes(minutes.get(page))})"
                      for number, page in enumerate(pages["course"], start=1))
    timed = [value for value in minutes.values() if value is not None]
    toc = ["```{toctree}", ":caption: The course", ":hidden:", "", *pages["course"], "```", "",
           "```{toctree}", ":caption: Reference", ":hidden:", "", "GLOSSARY",
           *[f"{Path(name).stem}_report" for name in reports], "```"]
    answers = ""
    if pages["answers"]:
        toc += ["", "```{toctree}", ":caption: Worked answers", ":hidden:", "", *pages["answers"], "```"]
        answers = (" Each notebook's exercises have worked answers: "
                   + ", ".join(f"{{doc}}`{page.split('/')[-1][:2]} <{page}>`" for page in pages["answers"]) + ".")
    reading = ", ".join(f"{{doc}}`{REPORTS[name]} <{Path(name).stem}_report>`" for name in reports)
    return "\n".join([
        "# brainclf: 3D brain-tumour classification, step by step", "",
        "A course that replicates Chatterjee et al., *Classification of brain tumours in MR images using deep "
        "spatiospatial models* (Sci. Rep. 2022): three video ResNets read the slices of a 3D MR volume as the frames "
        "of a video and tell healthy brains from low- and high-grade gliomas. Each page is a notebook as `make demo` "
        "executed it, with its figures.", "", *_LANDING_ABOUT, "",
        "## The learning path", "",
        "Minutes are what each notebook took to execute when this site was built (the preset its parameters show, on "
        "the machine that built it); reading it and doing its exercises takes longer."
        + (f" All of them together: {sum(timed):.0f} minutes." if timed else ""), "", path, "",
        "Words and references: {doc}`the glossary <GLOSSARY>`."
        + (f" The reports: {reading}." if reading else "") + answers, "",
        *_how_to_run(lab_url), "", *toc, ""])


def _title(notebook: Path) -> str:
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "markdown" and (match := re.search(r"^# (.+)$", "".join(cell["source"]), re.M)):
            return match[1].strip()
    return notebook.stem


def _page_title(page: str) -> str:
    title = _title(NOTEBOOKS_DIR / f"{page.split('-')[0]}.ipynb")
    arch = page.split("-", 1)[1] if "-" in page else ("r3d" if page == "04_train" else "")
    return f"{title} {ARCH_LABELS[arch]}" if arch in ARCH_LABELS else title


def _minutes(minutes: float | None) -> str:
    return "not timed" if minutes is None else f"{minutes:.1f} min to run"


def _how_to_run(lab_url: str) -> list[str]:
    where = ("`make lab`'s JupyterLab on this machine (`http://localhost:8888`)" if lab_url == JUPYTERLAB_URL
             else f"`{lab_url}`")
    return [
        "## How to run it", "",
        "- Get the code: a checkout of the brainclf repository (the course's own notebooks are also a download on each "
        "page). Its `README.md`, at the top of the checkout, is the reference the pages cite as \"README\": set-up, "
        "commands, the real data, the measured figures. `make demo` and `make lab` make the virtual environment "
        "(`.venv`) on first use.",
        "- `make demo` runs every notebook in order, headless (papermill), on the synthetic cohort, with no GPU or "
        "internet (the README gives its time on a 2-core CPU). `make solutions` then runs the worked answers, and `make book` "
        "builds this site from the executed copies.",
        "- `make lab` starts JupyterLab on the checkout (port 8888): open `notebooks/`, run a notebook cell by cell "
        "and answer its exercises; each `check(...)` cell says whether an answer is right.",
        "- One notebook with other settings, headless: `cd notebooks && papermill 04_train.ipynb out.ipynb -p arch "
        "r2plus1d` (its first cell lists the parameters; a mistyped name is an error).",
        f"- Each page's \"Open in JupyterLab\" link points at {where}. To point the links at another JupyterLab (a "
        f"JupyterHub, say), build the site with `brainclf book --lab-url URL` or set `{LAB_URL_VARIABLE}` to the URL "
        "of the checkout's `notebooks` folder there.",
    ]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
