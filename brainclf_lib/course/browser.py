"""A built course site, looked at as a student would: every page opened in headless Chromium after its scripts ran,
what it drew counted against what it should have, and a screenshot of each."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ..paths import PathLike, resolve
from .book import REPORTS


def check_pages(book: PathLike, screenshots: PathLike | None = None, browser: str | None = None) -> pd.DataFrame:
    """Open every page of a built book in headless Chromium, after its scripts have run, and count what it drew
    beside what it should have: the figures of the notebook it shows (plotly's and images), or, for a report, its
    plotly figures. With ``screenshots``, a PNG of each page lands there for a human to look at.

    Args:
        book: the book's folder (``build_book``'s ``out``).
        screenshots: a folder for one PNG per page, or ``None``.
        browser: the Chromium executable (default: ``chromium`` on the PATH).

    Returns:
        A row per page: expected and drawn figures, images, and the length of its visible text.
    """
    browser = browser or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise FileNotFoundError("headless Chromium is needed to check the pages: apt-get install chromium")
    book = resolve(book)
    html, source = book / "html", book / "source"
    pages = sorted(html.glob("*.html")) + sorted(html.glob("solutions/*.html")) + \
        [html / "_static" / name for name in REPORTS if (html / "_static" / name).exists()]
    pages = [page for page in pages if page.name not in ("genindex.html", "search.html")]
    if screenshots:
        Path(screenshots).mkdir(parents=True, exist_ok=True)

    def check(page: Path) -> dict:
        notebook = source / page.relative_to(html).with_suffix(".ipynb")
        expected = _notebook_figures(notebook) if notebook.exists() else page.read_text().count("Plotly.newPlot(")
        dom = _render(browser, page, "--dump-dom")
        if screenshots:
            _render(browser, page, f"--screenshot={Path(screenshots) / (page.relative_to(html).as_posix().replace('/', '_') + '.png')}")
        drawn = dom.count('class="plot-container plotly"')
        images = len(re.findall(r'<img[^>]+src="(?:[^"]*_images/|data:image)', dom))
        text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", dom, flags=re.S)
        return {"page": page.relative_to(html).as_posix(), "expected figures": expected, "plotly drawn": drawn,
                "images": images, "drawn": drawn + images, "text characters": len(" ".join(text.split()))}

    with ThreadPoolExecutor(2) as pool:
        return pd.DataFrame(list(pool.map(check, pages)))


def _notebook_figures(notebook: Path) -> int:
    outputs = [o for cell in json.loads(notebook.read_text())["cells"] for o in cell.get("outputs", [])]
    return sum(any(kind in o.get("data", {}) for kind in ("application/vnd.plotly.v1+json", "image/png", "image/jpeg"))
               for o in outputs)


def _render(browser: str, page: Path, action: str) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,4000",
                   "--virtual-time-budget=20000", action, page.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"Chromium failed on {page}: {done.stderr[-2000:]}")
    return done.stdout
