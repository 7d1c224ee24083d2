"""The course as a student meets it: JupyterLab in a real browser (Debian's Chromium, driven by Playwright), Run All
on notebooks 01 and 04 with the smoke preset, then what the page shows: no error, a slice viewer whose image
changes with its slider, plotly figures drawn. A screenshot of each notebook lands in ``runs/test-output/``."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from brainclf_lib.course.notebooks import NOTEBOOKS_DIR
from brainclf_lib.paths import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = REPO_ROOT / "runs" / "test-output" / "jupyterlab"
BIN = Path(sys.executable).parent
#: JupyterLab's settings for the test: every cell attached to the page, no news or update checks (no network).
SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                                "checkForUpdates": False}}
IMAGE_DIGEST = """async (image) => {
    const bytes = await (await fetch(image.src)).arrayBuffer();
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, "0")).join("");
}"""

#: The notebook on show (JupyterLab keeps other tabs in the page, hidden).
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is needed: apt-get install chromium")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _smoke_copy(name: str, root: Path) -> Path:
    """The notebook with its parameters cell set to the smoke preset and this test's folders (the parameters cell is
    the one place a student edits settings too)."""
    notebook = json.loads((NOTEBOOKS_DIR / f"{name}.ipynb").read_text())
    parameters = "".join(notebook["cells"][0]["source"])
    parameters = parameters.replace('preset = "fast"', 'preset = "smoke"')
    parameters = parameters.replace('output_dir = "runs"', f'output_dir = "{root / "runs"}"')
    parameters = parameters.replace('report_dir = "runs/reports"', f'report_dir = "{root / "reports"}"')
    assert 'preset = "smoke"' in parameters
    notebook["cells"][0]["source"] = parameters
    path = root / f"{name}.ipynb"
    path.write_text(json.dumps(notebook))
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory, smoke_data):
    """``jupyter lab`` on 127.0.0.1 with a token, serving the two smoke copies; stopped when the tests end."""
    root = tmp_path_factory.mktemp("lab")
    settings = tmp_path_factory.mktemp("lab-settings")
    for relative, values in SETTINGS.items():
        (settings / relative).parent.mkdir(parents=True, exist_ok=True)
        (settings / relative).write_text(json.dumps(values))
    for name in ("01_data_exploration", "04_train"):
        _smoke_copy(name, root)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "BRAINCLF_DATA": str(smoke_data), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    log = open(root / "jupyterlab.log", "w")
    server = subprocess.Popen([str(BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                               f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
                               "--KernelManager.transport=ipc"],  # kernels over local sockets, not TCP
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (root / "jupyterlab.log").read_text()[-3000:]
            time.sleep(0.5)
    yield root, url, token
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def _run_all(page, url: str, token: str, root: Path, name: str, timeout_s: float = 240) -> None:
    cells = sum(c["cell_type"] == "code" for c in json.loads((root / f"{name}.ipynb").read_text())["cells"])
    page.set_default_timeout(120_000)  # a loaded 2-core machine takes its time over JupyterLab's first load
    page.goto(f"{url}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={token}",  # a workspace of its own
              wait_until="domcontentloaded")
    deadline = time.monotonic() + 120
    while page.locator(f"{SHOWN} .jp-CodeCell .jp-InputPrompt").count() != cells:  # the notebook is drawn
        if time.monotonic() > deadline:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-not-drawn.png"))
            raise AssertionError(f"{name}: {page.locator(f'{SHOWN} .jp-CodeCell .jp-InputPrompt').count()} of {cells} code "
                                 f"cells drawn after 120 s (screenshot in {SCREENSHOTS})")
        time.sleep(0.5)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)
    for _ in range(5):  # Run > Run All Cells, once the notebook is the current widget and the command enabled
        _answer_dialogs(page)
        page.locator(f"{SHOWN} .jp-Cell").first.click()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text="Run All Cells").first
        if item.count():
            item.click()
            started = time.monotonic() + 20
            while time.monotonic() < started:
                if any(p.strip(" []:") for p in page.locator(f"{SHOWN} .jp-CodeCell .jp-InputPrompt").all_inner_texts()):
                    break
                time.sleep(0.5)
            else:
                continue
            break
        page.keyboard.press("Escape")
        time.sleep(2)
    else:
        raise AssertionError(f"{name}: Run All Cells never started")
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:  # done when no cell is queued or running, and the kernel stays idle
        _answer_dialogs(page)
        prompts = page.locator(f"{SHOWN} .jp-CodeCell .jp-InputPrompt").all_inner_texts()
        busy = any("*" in prompt for prompt in prompts)
        idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0
        if prompts and not busy and idle and all(prompt.strip(" []:") for prompt in prompts):
            return
        quiet_since = (quiet_since or time.monotonic()) if not busy and idle else None
        if quiet_since and time.monotonic() - quiet_since > 15:  # stopped at an error: the cells after never ran
            return
        time.sleep(1)
    raise AssertionError(f"{name}: Run All did not finish in {timeout_s:.0f} s")


def _answer_dialogs(page) -> None:
    """Accept a dialog JupyterLab opened on its own (a kernel to choose on a loaded machine, say), saying which: it
    would otherwise swallow every click."""
    for _ in range(3):
        dialog = page.locator(".jp-Dialog")
        if not dialog.count():
            return
        print(f"JupyterLab asked: {' '.join(dialog.first.inner_text().split())[:300]}")
        accept = dialog.locator(".jp-Dialog-button.jp-mod-accept")
        accept.first.click() if accept.count() else page.keyboard.press("Escape")
        time.sleep(1)


def _saved(page, root: Path, name: str) -> dict:
    _answer_dialogs(page)
    page.keyboard.press("Control+s")
    time.sleep(2)
    return json.loads((root / f"{name}.ipynb").read_text())


def _check_saved(notebook: dict, name: str) -> None:
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in code for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors}"
    assert all(c.get("execution_count") for c in code), f"{name}: a cell never ran"


def test_notebook_01_runs_all_in_jupyterlab_and_its_slice_viewer_follows_its_slider(lab, browser):
    root, url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, url, token, root, "01_data_exploration")
    _check_saved(_saved(page, root, "01_data_exploration"), "01_data_exploration")

    image = page.locator(f"{SHOWN} .jp-OutputArea img.widget-image").first
    image.scroll_into_view_if_needed()
    page.wait_for_function("(image) => image.complete && image.naturalWidth > 0", arg=image.element_handle(),
                           timeout=30_000)
    before = image.evaluate(IMAGE_DIGEST)
    slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="slice %")).first
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+a")
    page.keyboard.type("85")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 30
    while image.evaluate(IMAGE_DIGEST) == before:
        assert time.monotonic() < deadline, "moving the slider did not change the viewer's image"
        time.sleep(0.5)
    assert slider.locator(".widget-readout").inner_text().strip() == "85"

    drawn = page.locator(f"{SHOWN} .jp-OutputArea .js-plotly-plot").count()
    assert drawn >= 4, f"{drawn} plotly figures drawn"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "01_data_exploration.png"))
    page.close()


def test_notebook_04_runs_all_in_jupyterlab_and_draws_its_figures(lab, browser):
    root, url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _run_all(page, url, token, root, "04_train")
    notebook = _saved(page, root, "04_train")
    _check_saved(notebook, "04_train")
    plotly_outputs = sum("application/vnd.plotly.v1+json" in o.get("data", {}) for c in notebook["cells"]
                         for o in c.get("outputs", []))
    drawn = page.locator(f"{SHOWN} .jp-OutputArea .js-plotly-plot").count()
    assert plotly_outputs >= 3 and drawn >= plotly_outputs, (drawn, plotly_outputs)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(f"{SHOWN} .jp-OutputArea .js-plotly-plot").last.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "04_train.png"))
    page.close()
