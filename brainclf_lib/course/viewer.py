"""The ipywidgets slice viewer: subject, contrast, axis and slice, drawn as a PNG (needs a running kernel)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
from IPython.display import HTML, display
from PIL import Image

from .figures import axial

_NEEDS_KERNEL = ("<p><i>The slice viewer below is interactive (ipywidgets): it needs a running kernel, in JupyterLab. "
                 "A static copy of this notebook shows it blank; the figure after it shows its opening view (the first subject, "
                 "preprocessed, axial, at its tumour's largest slice) with a slider of its own.</i></p>")


def slice_viewer(load_volume: Callable[[str, str], np.ndarray | tuple[np.ndarray, str]], subjects: Sequence[str],
                 contrasts: Sequence[str]) -> widgets.VBox:
    """An ipywidgets viewer: subject, contrast, axis and slice (needs a running kernel).

    Taught in ``01_data_exploration``. Each slice is drawn as a PNG into an ``Image`` widget: changing a control only
    updates a widget's value, which also executes headless (no output capture, which can stall papermill's client).
    Without a kernel (an HTML export, a course site) the viewer shows a line saying so; the notebook shows a static
    figure of the same volume beside it.

    Args:
        load_volume: ``load_volume(subject, contrast)`` gives the ``(x, y, z)`` array to show, or ``(array,
            caption)`` to say what is shown (for example that a release lacks the contrast).
        subjects: the subjects offered.
        contrasts: the contrasts offered.
    """
    subject = widgets.Dropdown(options=list(subjects), description="subject")
    contrast = widgets.Dropdown(options=list(contrasts), description="contrast")
    axis = widgets.ToggleButtons(options=[("sagittal", 0), ("coronal", 1), ("axial", 2)], value=2, description="axis")
    index = widgets.IntSlider(value=50, min=0, max=100, description="slice %")
    caption = widgets.Label()
    image = widgets.Image(format="png", width=360)

    def update(*_):
        loaded = load_volume(subject.value, contrast.value)
        volume, caption.value = loaded if isinstance(loaded, tuple) else (loaded, f"{subject.value} · {contrast.value}")
        position = round(index.value / 100 * (volume.shape[axis.value] - 1))
        image.value = _png(axial(volume, position, axis.value))

    for control in (subject, contrast, axis, index):
        control.observe(update, names="value")
    update()
    display(HTML(_NEEDS_KERNEL))  # static copies of a notebook (HTML, a course site) draw widgets blank: say why
    return widgets.VBox([widgets.HBox([subject, contrast]), axis, index, caption, image])


def _png(slice_2d: np.ndarray) -> bytes:
    """A grey-scale PNG of a slice, windowed to its 99.5th percentile."""
    data = slice_2d.astype(float)
    high = np.percentile(data[data > 0], 99.5) if (data > 0).any() else 1.0
    buffer = io.BytesIO()
    Image.fromarray((np.clip(data / high, 0, 1) * 255).astype(np.uint8)).save(buffer, format="png")
    return buffer.getvalue()
