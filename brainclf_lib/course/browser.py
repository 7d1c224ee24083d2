"""A built course site, looked at as a student would: every page opened in headless Chromium (through Playwright)
after its scripts ran, what it drew counted against what it should have, what a reader should never see looked for
(a table or figure wider than its column, raw markdown, the machine's paths, a range from a number to itself, a link
to a page that is not there), and a screenshot of each."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from ..paths import REPO_ROOT, PathLike, resolve
from .book import REPORTS

#: What each page is checked for; a row of :func:`check_pages` lists what it found under each name.
FAULTS = ("table too wide", "table scrolls", "figure too wide", "raw markdown", "machine path", "same-number range",
          "dead link", "page too heavy")

#: The most a page may weigh, in megabytes: plotly.js (4.6 MB, once a page) and a montage of full-resolution slices
#: fit; a figure that ships every voxel (plotly's own histogram of 09's brains: 84 MB) does not.
PAGE_MEGABYTES = 25.0

#: The checks that only report (printed, not failed): none now. A figure too wide was reported only, for a few figures
#: caught at 980 px in an 836 px column, a different few on each run: the check measured while Plotly was still
#: redrawing them at their settled column's width (their box already fit; their drawing did not yet), and now waits
#: for that (:data:`_FIGURES_SETTLED`). A table that scrolls fails: every course table is laid out to fit (a figure a
#: column, long text that wraps anywhere, an interval or a mean ± sd in one column), and a student should not scroll
#: sideways to find a p-value. A range from a number to itself fails too: ranges and intervals are written by
#: ``expectations.span``, which never writes one, and a code cell's source (where a comment may quote one) is not read.
REPORT_ONLY: tuple[str, ...] = ()

#: Chromium's switches: headless, no GPU, nothing fetched in the background.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking"]


def check_pages(book: PathLike, screenshots: PathLike | None = None, browser: str | None = None,
                width: int = 1300, megabytes: float = PAGE_MEGABYTES) -> pd.DataFrame:
    """Open every page of a built book in headless Chromium, after its scripts have run, count what it drew beside
    what it should have (the figures of the notebook it shows, or a report's plotly figures), and look for what a
    reader should never see (:data:`FAULTS`). With ``screenshots``, a PNG of each page lands there.

    Args:
        book: the book's folder (``build_book``'s ``out``): its pages are ``book/html``, its notebooks ``book/source``.
        screenshots: a folder for one PNG per page, or ``None``.
        browser: the Chromium executable (default: ``chromium`` on the PATH).
        width: the window's width in pixels.
        megabytes: the most a page's HTML may weigh ("page too heavy").

    Returns:
        A row per page: expected and drawn figures, images, the length of its visible text, and under each name of
        :data:`FAULTS` the list of what it found (see :func:`faults`).
    """
    from playwright.sync_api import sync_playwright  # here, not at the top: a test tool (the dev extra)

    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise FileNotFoundError("headless Chromium is needed to check the pages: apt-get install chromium")
    book = resolve(book)
    html = book / "html"
    pages = sorted(html.glob("*.html")) + sorted(html.glob("solutions/*.html")) + \
        [html / "_static" / name for name in REPORTS if (html / "_static" / name).exists()]
    pages = [page for page in pages if page.name not in ("genindex.html", "search.html")]
    if screenshots:
        Path(screenshots).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=CHROMIUM_ARGS)
        try:
            tab = chromium.new_page(viewport={"width": width, "height": 4000})
            rows = [_check(tab, page, book, screenshots, megabytes) for page in pages]
        finally:
            chromium.close()
    return pd.DataFrame(rows)


def faults(checked: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``"page: check: what"`` for each fault :func:`check_pages` found: those that fail the build, and those of
    :data:`REPORT_ONLY`, which are only reported."""
    failing, reported = [], []
    for _, row in checked.iterrows():
        for name in FAULTS:
            for found in row[name]:
                (reported if name in REPORT_ONLY else failing).append(f"{row['page']}: {name}: {found}")
    return failing, reported


def _check(tab, page: Path, book: Path, screenshots: PathLike | None, megabytes: float) -> dict:
    html, source = book / "html", book / "source"
    name = page.relative_to(html).as_posix()
    notebook = source / page.relative_to(html).with_suffix(".ipynb")
    plotly = page.read_text().count("Plotly.newPlot(")
    expected = _notebook_figures(notebook) if notebook.exists() else plotly
    tab.goto(page.as_uri(), wait_until="load")
    try:
        tab.wait_for_function(f"document.querySelectorAll('.plot-container.plotly').length >= {plotly}",
                              timeout=20_000)
    except Exception:  # noqa: BLE001 (drawing fewer figures than the page holds is reported below, not raised)
        pass
    try:  # figures follow their column once the page's sidebars have settled it (figures._FOLLOW_COLUMN)
        tab.wait_for_function(_FIGURES_SETTLED, timeout=20_000)
    except Exception:  # noqa: BLE001 (a figure that never fits is reported below, not raised)
        pass
    facts = tab.evaluate(_PAGE_FACTS)
    if screenshots:
        tab.screenshot(path=str(Path(screenshots) / (name.replace("/", "_") + ".png")))
    drawn, images = facts["plotly"], facts["images"]
    return {"page": name, "expected figures": expected, "plotly drawn": drawn, "images": images,
            "drawn": drawn + images, "text characters": len(" ".join(facts["text"].split())),
            **{name: facts[name] for name in ("table too wide", "table scrolls", "figure too wide")},
            "raw markdown": _raw_markdown(facts["prose"]),
            "machine path": _machine_paths(facts["text"]), "same-number range": _same_number_ranges(facts["shown"]),
            "dead link": _dead_links(facts["links"], html), "page too heavy": _too_heavy(page, megabytes)}


def _too_heavy(page: Path, megabytes: float) -> list[str]:
    weight = page.stat().st_size / 1e6
    return [f"{weight:.1f} MB, over {megabytes:g} MB"] if weight > megabytes else []


def _notebook_figures(notebook: Path) -> int:
    outputs = [o for cell in json.loads(notebook.read_text())["cells"] for o in cell.get("outputs", [])]
    return sum(any(kind in o.get("data", {}) for kind in ("application/vnd.plotly.v1+json", "image/png", "image/jpeg"))
               for o in outputs)


#: Markdown that a renderer left as text, and HTML comments shown as text.
_MARKDOWN = re.compile(r"(?<![\w*\\])\*(?=[^\s*])[^*\n]{1,80}(?<=[^\s*])\*(?![\w*])|\*\*|`[^`\n]+`"
                       r"|\[[^\]\n]+\]\([^)\s]+\)|<!--|-->")

#: A range from a number to the same number: "0.50 to 0.50".
_SAME_RANGE = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)(\s*%?) to \1\2(?![\w.])")


def _raw_markdown(prose: str) -> list[str]:
    return sorted({_around(prose, match) for match in _MARKDOWN.finditer(prose)})


def _machine_paths(text: str) -> list[str]:
    roots = {str(REPO_ROOT), str(Path.home()), "/tmp", "/root"}
    pattern = re.compile("(?<![\\w.~])(?:" + "|".join(re.escape(root) for root in sorted(roots, key=len, reverse=True))
                         + r")(?=/|\b)")
    return sorted({_around(text, match) for match in pattern.finditer(text)})


def _same_number_ranges(text: str) -> list[str]:
    return sorted({_around(text, match) for match in _SAME_RANGE.finditer(text)})


def _dead_links(links: list[dict], html: Path) -> list[str]:
    """Links to a local page that is not there, or to an anchor the page itself does not have."""
    dead = []
    for link in links:
        url = urlparse(link["href"])
        if url.scheme == "file" and not Path(unquote(url.path)).exists():
            dead.append(f"{link['text'] or link['href']} -> {link['href'].removeprefix(html.as_uri() + '/')}")
        elif link["missingAnchor"]:
            dead.append(f"{link['text'] or link['href']} -> #{url.fragment}")
    return sorted(set(dead))


def _around(text: str, match: re.Match) -> str:
    return " ".join(text[max(0, match.start() - 30): match.end() + 30].split())


#: True once every figure fits the column holding it, measured as the check measures it: its box and what it draws
#: (``scrollWidth``). Plotly draws a figure at the width its column had on load and redraws it once the column
#: settles; until then the box already fits while the drawing inside is still the first, wider one.
_FIGURES_SETTLED = """() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const box = column.getBoundingClientRect();
  return [...column.querySelectorAll(".js-plotly-plot")].every((el) => {
    const r = el.getBoundingClientRect();
    return Math.max(r.width, el.scrollWidth) <= box.width + 2 && r.right <= box.right + 2;
  });
}"""

#: What the page shows, read in the browser: its figures and images, every element wider than the content column,
#: its visible text, the text outside code and preformatted outputs (where markdown would be raw), and its links.
_PAGE_FACTS = """() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const box = column.getBoundingClientRect();
  const found = {"table too wide": [], "table scrolls": [], "figure too wide": []};
  // the nearest box between an element and the column that scrolls or clips what overflows it (a cell's output area)
  const clipper = (el) => {
    for (let up = el.parentElement; up && up !== column; up = up.parentElement) {
      if (/auto|scroll|hidden|clip/.test(getComputedStyle(up).overflowX)) return up;
    }
    return null;
  };
  for (const el of column.querySelectorAll("table, img, iframe, .js-plotly-plot")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || el.closest("details:not([open])")) continue;
    const width = Math.max(r.width, el.scrollWidth);
    const table = el.tagName === "TABLE";
    const clip = table ? clipper(el) : null;
    const held = clip ? clip.getBoundingClientRect() : null;
    const what = () => (table ? [...el.querySelectorAll("th")].slice(0, 4).map((th) => th.textContent.trim()).join(" | ")
                        : (el.closest(".cell_output, section") || el).id || el.getAttribute("src") || "").slice(0, 60);
    if (width > box.width + 2 || r.right > box.right + 2) {
      const kind = !table ? "figure too wide" : clip ? "table scrolls" : "table too wide";
      found[kind].push(`${el.tagName.toLowerCase()} ${Math.round(width)} px in a ${Math.round(box.width)} px column: ${what()}`);
    } else if (held && (width > held.width + 2 || r.right > held.right + 2)) {  // fits the column, not its output area
      found["table scrolls"].push(`table ${Math.round(width)} px in a ${Math.round(held.width)} px output: ${what()}`);
    }
  }
  const skip = "pre, code, script, style, .highlight, .math, mjx-container, svg, textarea, .plotly, .js-plotly-plot";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const prose = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || !parent.getClientRects().length) continue;
    prose.push(node.textContent);
  }
  const outside = [];  // every visible text but a code cell's source: a comment there is the code's, not a claim
  const walkShown = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walkShown.nextNode(); node; node = walkShown.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(".cell_input, script, style") || !parent.getClientRects().length) continue;
    outside.push(node.textContent);
  }
  const links = [...document.querySelectorAll("a[href]")].map((a) => {
    const url = new URL(a.href, document.baseURI);
    const here = url.origin + url.pathname === location.origin + location.pathname;
    const anchor = decodeURIComponent(url.hash.slice(1));
    return {href: a.href, text: a.textContent.trim().slice(0, 60),
            missingAnchor: here && anchor !== "" && !document.getElementById(anchor) && !document.getElementsByName(anchor).length};
  });
  const images = [...document.images].filter((img) => /_images\\/|^data:image/.test(img.getAttribute("src") || "")
                                                      && img.naturalWidth > 0).length;
  return {plotly: document.querySelectorAll(".plot-container.plotly").length, images, ...found,
          text: document.body.innerText, shown: outside.join("\\n"), prose: prose.join("\\n"), links};
}"""
