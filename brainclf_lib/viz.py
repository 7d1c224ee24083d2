"""Figures (plotly) and the ipywidgets slice viewer.

Every figure is displayed twice over, chosen here once (:data:`FIGURE_RENDERERS`): as plotly's own JSON, which
JupyterLab draws interactively, and as HTML whose plotly.js is embedded once per notebook, which any static view of
an executed notebook draws without a kernel or network (``jupyter nbconvert --to html``, a course site).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from html import escape

import ipywidgets as widgets
import nibabel as nib
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import HTML, display
from PIL import Image
from plotly.io._base_renderers import NotebookRenderer  # subclassed below, to drop its MathJax from a CDN
from plotly.subplots import make_subplots

from .conventions import BRATS_CONTRASTS, CLASSES
from .discovery import raw_contrast_path
from .files import atomic_write
from .paths import PathLike

#: JupyterLab's interactive figure, plus offline HTML for every static view (plotly.js embedded once per notebook).
FIGURE_RENDERERS = "plotly_mimetype+notebook_offline"


def axial(volume: np.ndarray, index: int | None = None, axis: int = 2) -> np.ndarray:
    """A slice of an RAS+ ``(x, y, z)`` volume, oriented for display (anterior / superior up).

    Taught in ``02_preprocessing``.

    Args:
        volume: the volume, TorchIO's axis order.
        index: the slice; ``None`` takes the middle one.
        axis: 0 sagittal, 1 coronal, 2 axial.
    """
    index = volume.shape[axis] // 2 if index is None else index
    return np.rot90(np.take(volume, index, axis=axis))


def montage(slices: dict[str, dict[str, np.ndarray]], title: str = "") -> go.Figure:
    """A grid of grey-scale slices.

    Taught in ``02_preprocessing``.

    Args:
        slices: ``{row name: {column name: 2D array}}``.
        title: the figure's title.
    """
    columns = list(dict.fromkeys(c for row in slices.values() for c in row))
    rows, columns = list(slices), sorted(columns, key=_contrast_order)  # every row's image under its own column
    figure = make_subplots(len(rows), len(columns), subplot_titles=[f"{r} · {c}" if c in slices[r] else "" for r in rows for c in columns],
                           horizontal_spacing=0.01, vertical_spacing=0.06)
    for i, row in enumerate(rows, 1):
        for j, column in enumerate(columns, 1):
            if column in slices[row]:
                image = slices[row][column].astype(float)
                high = np.percentile(image[image > 0], 99.5) if (image > 0).any() else 1
                figure.add_trace(go.Heatmap(z=image[::-1], colorscale="gray", zmin=0, zmax=high, showscale=False), i, j)
    figure.update_xaxes(visible=False, scaleanchor="y")
    figure.update_yaxes(visible=False)
    return figure.update_layout(title=title, height=260 * len(rows), width=250 * len(columns), margin=dict(l=10, r=10, t=60, b=10))


def slice_figure(volume: np.ndarray, axis: int = 2, title: str = "", step: int = 1) -> go.Figure:
    """A plotly slice viewer with a slider over one axis.

    Taught in ``01_data_exploration``.

    Args:
        volume: an ``(x, y, z)`` volume.
        axis: the axis the slider moves along (2: axial).
        title: the figure's title.
        step: show every ``step``-th slice (a smaller figure).
    """
    indices = list(range(0, volume.shape[axis], step))
    high = float(np.percentile(volume, 99.5)) or 1.0
    frames = [go.Frame(data=[go.Heatmap(z=axial(volume, i, axis)[::-1], colorscale="gray", zmin=0, zmax=high)], name=str(i)) for i in indices]
    middle = indices[len(indices) // 2]
    figure = go.Figure(data=frames[len(indices) // 2].data, frames=frames)
    steps = [dict(method="animate", label=str(i), args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True))]) for i in indices]
    figure.update_layout(title=title, sliders=[dict(active=indices.index(middle), steps=steps, currentvalue=dict(prefix="slice "))],
                         height=450, width=450, yaxis=dict(scaleanchor="x", visible=False), xaxis=dict(visible=False))
    return figure


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


def histograms(values: dict[str, np.ndarray], title: str = "", bins: int = 60) -> go.Figure:
    """Overlaid normalised histograms, one per group (for example per source: the site / contrast gap).

    Taught in ``01_data_exploration``.

    Args:
        values: group name -> intensities.
        title: the figure's title.
        bins: histogram bins.
    """
    figure = go.Figure([go.Histogram(x=v, name=k, histnorm="probability density", opacity=0.55, nbinsx=bins) for k, v in values.items()])
    return figure.update_layout(barmode="overlay", title=title, xaxis_title="intensity", yaxis_title="density", height=380)


def learning_curves(logs: dict[str, pd.DataFrame]) -> go.Figure:
    """Training and validation loss, and validation macro F1, per epoch, for one or several runs.

    Taught in ``04_train``.

    Args:
        logs: run label -> its ``Run.log`` table.
    """
    figure = make_subplots(1, 2, subplot_titles=("loss", "validation macro F1"))
    for (name, log), colour in zip(logs.items(), px.colors.qualitative.Plotly, strict=False):
        figure.add_scatter(x=log["epoch"], y=log["train_loss"], name=f"{name} train", line=dict(color=colour), row=1, col=1)
        figure.add_scatter(x=log["epoch"], y=log["val_loss"], name=f"{name} val", line=dict(color=colour, dash="dot"), row=1, col=1)
        figure.add_scatter(x=log["epoch"], y=log["val_macro_f1"], name=f"{name} F1", line=dict(color=colour), row=1, col=2, showlegend=False)
    return figure.update_layout(height=380, xaxis_title="epoch", xaxis2_title="epoch")


def selection_curves(log: pd.DataFrame, window: int) -> go.Figure:
    """Validation macro F1 of each epoch beside the ``window``-epoch mean that chooses the best one, with the epoch
    each would keep marked.

    Taught in ``04_train``.

    Args:
        log: a run's log.
        window: the run's ``selection_window``.
    """
    from .training import selection_scores  # here, not at the top: viz stands beside the layers, below training

    single, smoothed = selection_scores(log, 1), selection_scores(log, window)
    figure = go.Figure()
    figure.add_scatter(x=log["epoch"], y=single, name="each epoch alone", mode="lines+markers", line=dict(color="#999"))
    figure.add_scatter(x=log["epoch"], y=smoothed, name=f"mean of {window} epochs (fit's choice)", mode="lines+markers",
                       line=dict(color="#1f77b4", width=3))
    for scores, colour, label in [(single, "#999", "alone"), (smoothed, "#1f77b4", "mean")]:
        best = int(scores.idxmax())
        figure.add_annotation(x=log["epoch"][best], y=scores[best], text=f"keeps epoch {log['epoch'][best]} ({label})",
                              arrowcolor=colour, font=dict(color=colour), ay=-30 if label == "mean" else 30)
    return figure.update_layout(height=360, xaxis_title="epoch", yaxis_title="validation macro F1 (- 0.001 x loss)",
                                title=dict(text="Which epoch is kept", font=dict(size=13)))


def confusion(matrix: Sequence[Sequence[float]], title: str = "", normalised: bool = False) -> go.Figure:
    """A confusion matrix, rows the true class.

    Taught in ``04_train``; ``06_results`` draws the fold-averaged ones.

    Args:
        matrix: ``(n_classes, n_classes)`` counts or row-normalised fractions.
        title: the figure's title.
        normalised: label the colour scale as fractions rather than counts.
    """
    z = np.asarray(matrix, dtype=float)
    text = [[f"{v:.2f}" if normalised else f"{v:g}" for v in row] for row in z]
    figure = go.Figure(go.Heatmap(z=z, x=list(CLASSES), y=list(CLASSES), text=text, texttemplate="%{text}", colorscale="Blues", showscale=False))
    return figure.update_layout(title=dict(text=title, font=dict(size=13)), xaxis_title="predicted", yaxis_title="true",
                                yaxis=dict(autorange="reversed", scaleanchor="x"), height=400, width=max(400, 8 * len(title)))


def metric_heatmap(table: pd.DataFrame, metric: str) -> go.Figure:
    """The paper's Fig. 7: one metric per class (columns) and model and initialisation (rows), averaged over folds.

    Taught in ``06_results``.

    Args:
        table: :func:`~brainclf_lib.replicate.collect_runs`' results table.
        metric: ``precision``, ``recall``, ``specificity`` or ``f1``.
    """
    rows = table.assign(model_init=table["model"] + " · " + table["init"])
    pivot = rows.pivot_table(index="model_init", columns="class", values=metric, aggfunc="mean", dropna=False).reindex(columns=list(CLASSES))
    figure = go.Figure(go.Heatmap(z=pivot.to_numpy(), x=list(pivot.columns), y=list(pivot.index), colorscale="Viridis",
                                  zmin=0, zmax=1, text=np.round(pivot.to_numpy(), 2), texttemplate="%{text}"))
    return figure.update_layout(title=metric, height=120 + 40 * len(pivot), width=520)


def overlay(volume: np.ndarray, heat: np.ndarray, mask: np.ndarray | None = None, title: str = "") -> go.Figure:
    """An axial slice with a heat map over it (Grad-CAM), and the tumour outline when given.

    Taught in ``07_explainability``.

    Args:
        volume: a 2D slice of the input.
        heat: the same slice of the map, in [0, 1].
        mask: the same slice of the tumour mask.
        title: the figure's title.
    """
    figure = go.Figure(go.Heatmap(z=volume[::-1], colorscale="gray", showscale=False))
    figure.add_heatmap(z=heat[::-1], colorscale="Hot", opacity=0.45, zmin=0, zmax=1, showscale=False)
    if mask is not None:
        figure.add_contour(z=mask[::-1].astype(float), contours=dict(start=0.5, end=0.5, coloring="lines"), line=dict(color="cyan"), showscale=False)
    return figure.update_layout(title=dict(text=title, font=dict(size=13)), height=360, width=max(360, 7 * len(title)),
                                yaxis=dict(scaleanchor="x", visible=False), xaxis=dict(visible=False))


def class_montage(manifest: pd.DataFrame, contrasts: Sequence[str] = ("t1ce", "t2", "flair")) -> go.Figure:
    """One raw subject per class in several contrasts, through the tumour's centre.

    Taught in ``01_data_exploration``. Each contrast is a column; an IXI scan's T1 stands in for T1ce, as in the
    paper, and a contrast its release lacks (IXI's FLAIR) is left blank.

    Args:
        manifest: a prepared folder's manifest (its raw paths are followed).
        contrasts: the columns of the montage.
    """
    slices = {}
    for label in CLASSES:
        rows = manifest[manifest["label"] == label]
        if rows.empty:
            continue
        row = rows.iloc[0]
        original = row["original_path"]
        paths = {c: path for c in contrasts if (path := raw_contrast_path(original, c)) is not None}
        z = None
        if row.get("seg") and row["source"] != "IXI":
            seg = np.asanyarray(nib.as_closest_canonical(nib.load(original.rsplit("_", 1)[0] + "_seg.nii.gz")).dataobj)
            z = int(np.argwhere(seg > 0)[:, 2].mean()) if (seg > 0).any() else None
        slices[f"{label} {row['subject_id']}"] = {c: axial(np.asanyarray(nib.as_closest_canonical(nib.load(p)).dataobj), z) for c, p in paths.items()}
    return montage(slices, "One subject per class")


def write_report(path: PathLike, title: str, tables: dict[str, pd.DataFrame], figures: dict[str, go.Figure],
                 about: str = "", captions: dict[str, str] | None = None, best: dict[str, Sequence[str]] | None = None,
                 environment: dict | None = None) -> None:
    """A self-contained HTML report to read as a results section: a title and what it covers, each table formatted
    (3 decimals, the best of each marked column in bold), each figure with its caption, the environment at the foot.
    Plotly's JavaScript is embedded once, so it opens offline.

    Taught in ``06_results``.

    Args:
        path: the HTML file written (atomically).
        title: the page's title.
        tables: heading -> table.
        figures: heading -> figure.
        about: one paragraph under the title: the run set, the preset, the method, the date.
        captions: heading (of a table or a figure) -> its caption.
        best: heading of a table -> the columns whose highest value is marked (a leading number, as in
            ``"0.912 ± 0.030"``, is what counts).
        environment: versions and device (``runtime.environment``), listed at the foot.
    """
    captions, best = captions or {}, best or {}
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_REPORT_CSS}</style></head><body><main><h1>{escape(title)}</h1>"]
    if about:
        parts.append(f"<p class='about'>{about}</p>")
    for name, table in tables.items():
        parts.append(f"<section><h2>{escape(name)}</h2>{_caption(captions.get(name))}"
                     f"<div class='scroll'>{_table_html(table, best.get(name, ()))}</div></section>")
    for i, (name, figure) in enumerate(figures.items()):
        drawn = figure.to_html(full_html=False, include_plotlyjs=i == 0, include_mathjax=False)
        parts.append(f"<section><h2>{escape(name)}</h2><figure>{drawn}"
                     f"<figcaption>{captions.get(name, escape(name))}</figcaption></figure></section>")
    if environment:
        rows = "".join(f"<tr><th>{escape(str(key))}</th><td>{escape(str(value))}</td></tr>"
                       for key, value in _flatten(environment).items())
        parts.append(f"<footer><h2>Environment</h2><table class='environment'>{rows}</table></footer>")
    html = "\n".join(parts + ["</main></body></html>"])
    atomic_write(path, lambda tmp: tmp.write_text(html))


def protocol_effects(table: pd.DataFrame, figures: Sequence[str] = ("accuracy", "macro F1", "LGG F1", "HGG F1")) -> go.Figure:
    """Each protocol variant's figures with their bootstrap 95 % intervals, one panel per figure, the corrected
    protocol's value as a dotted line: a deviation whose interval does not reach that line moved the figure.

    Taught in ``08_protocols``.

    Args:
        table: :func:`~brainclf_lib.comparison.protocol_table`'s table.
        figures: the columns drawn, each with its ``low`` and ``high`` columns.
    """
    figure = make_subplots(1, len(figures), shared_yaxes=True, subplot_titles=list(figures), horizontal_spacing=0.03)
    variants = list(table.index)[::-1]
    for column, name in enumerate(figures, start=1):
        rows = table.loc[variants]
        figure.add_scatter(
            x=rows[name], y=variants, mode="markers", marker=dict(size=9, color="#1f77b4"), showlegend=False,
            error_x=dict(type="data", symmetric=False, array=rows[f"{name} high"] - rows[name],
                         arrayminus=rows[name] - rows[f"{name} low"]),
            row=1, col=column, hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
        if "corrected" in table.index:
            figure.add_vline(x=table.loc["corrected", name], line=dict(dash="dot", color="grey"), row=1, col=column)
        figure.update_xaxes(range=[-0.02, 1.02], row=1, col=column)
    return figure.update_layout(height=60 + 34 * len(variants), margin=dict(l=10, r=10, t=40, b=30),
                                title="Test figures under each protocol (bootstrap 95 % intervals)")


def deviation_spread(table: pd.DataFrame, measured: pd.DataFrame, prefix: str = "") -> go.Figure:
    """Each variant's change in macro F1 from the corrected protocol: the range it took over the measured
    trajectories as a bar, this run's own change as a dot. A bar across 0 is an effect one fold cannot tell from
    the luck of a trajectory.

    Taught in ``08_protocols``.

    Args:
        table: :func:`~brainclf_lib.comparison.protocol_table`'s table (its ``Δ macro F1`` column).
        measured: :func:`~brainclf_lib.expectations.measured_table`, whose ``<prefix><variant>: Δ macro F1`` rows
            hold the measured ranges.
        prefix: how the measured keys begin (``"08 "``).
    """
    rows = measured.set_index("key")
    variants = [v for v in table.index if v != "corrected"][::-1]
    keys = [f"{prefix}{variant}: Δ macro F1" for variant in variants]
    have = [key in rows.index for key in keys]
    low = [rows.loc[k, "minimum"] if h else np.nan for k, h in zip(keys, have, strict=True)]
    high = [rows.loc[k, "maximum"] if h else np.nan for k, h in zip(keys, have, strict=True)]
    counts = [f"{int(rows.loc[k, 'trajectories'])} trajectories" if h else "not measured" for k, h in zip(keys, have, strict=True)]
    figure = go.Figure()
    figure.add_bar(y=variants, x=np.subtract(high, low), base=low, orientation="h", name="measured range",
                   marker=dict(color="rgba(31,119,180,0.35)"), customdata=counts,
                   hovertemplate="%{y}: %{base:.2f} to %{x:.2f} wide over %{customdata}<extra></extra>")
    figure.add_scatter(y=variants, x=table.loc[variants, "Δ macro F1"], mode="markers", name="this run",
                       marker=dict(size=11, color="#d62728"), hovertemplate="%{y}: %{x:+.3f} here<extra></extra>")
    figure.add_vline(x=0, line=dict(dash="dot", color="grey"))
    return figure.update_layout(height=120 + 40 * len(variants), xaxis_title="Δ macro F1 against the corrected protocol",
                                title=dict(text="Each deviation's effect: measured range (bar) and this run (dot)", font=dict(size=13)),
                                margin=dict(l=10, r=10, t=50, b=40))


def kernel_layouts() -> go.Figure:
    """The three kernel layouts of one residual block, drawn as their extent along the slices (up) and in-plane
    (across): r3d's 3 x 3 x 3, mc3's in-plane 1 x 3 x 3 (stages 2-4), and r2plus1d's 1 x 3 x 3 followed by 3 x 1 x 1.

    Taught in ``03_architectures``.
    """
    layouts = {
        "r3d_18: 3D, 3 x 3 x 3": [(0, 3, 3, "3 x 3 x 3")],
        "mc3_18 (stages 2-4): in-plane, 1 x 3 x 3": [(0, 3, 1, "1 x 3 x 3")],
        "r2plus1d_18: 1 x 3 x 3, then 3 x 1 x 1": [(0, 3, 1, "1 x 3 x 3"), (4.5, 1, 3, "3 x 1 x 1")],
    }
    figure = make_subplots(1, 3, subplot_titles=list(layouts), horizontal_spacing=0.06)
    for column, kernels in enumerate(layouts.values(), start=1):
        for left, width, height, label in kernels:
            for x in range(width):  # one square per voxel of the kernel
                for y in range(height):
                    figure.add_shape(type="rect", x0=left + x, x1=left + x + 0.9, y0=y, y1=y + 0.9,
                                     fillcolor="#4c78a8", opacity=0.8, line=dict(width=0), row=1, col=column)
            figure.add_annotation(x=left + width / 2, y=-0.6, text=label, showarrow=False, row=1, col=column)
        if len(kernels) > 1:
            figure.add_annotation(x=4.2, y=0.45, ax=3.2, ay=0.45, xref=f"x{column}", yref=f"y{column}",
                                  axref=f"x{column}", ayref=f"y{column}", text="", showarrow=True, arrowhead=2)
        figure.update_xaxes(range=[-0.5, 6.5], title_text="in-plane (H or W)", showgrid=False, zeroline=False,
                            showticklabels=False, row=1, col=column)
        figure.update_yaxes(range=[-1.2, 3.5], title_text="slices (D)" if column == 1 else None, showgrid=False,
                            zeroline=False, showticklabels=False, scaleanchor=f"x{column}", row=1, col=column)
    return figure.update_layout(height=350, width=1000, showlegend=False, margin=dict(t=90, b=40),
                                title="One block's kernels: extent along the slices (up) and in-plane (across)")


def _png(slice_2d: np.ndarray) -> bytes:
    """A grey-scale PNG of a slice, windowed to its 99.5th percentile."""
    data = slice_2d.astype(float)
    high = np.percentile(data[data > 0], 99.5) if (data > 0).any() else 1.0
    buffer = io.BytesIO()
    Image.fromarray((np.clip(data / high, 0, 1) * 255).astype(np.uint8)).save(buffer, format="png")
    return buffer.getvalue()


def _contrast_order(name: str) -> int:
    order = BRATS_CONTRASTS
    return order.index(name.lower()) if name.lower() in order else len(order)


_NEEDS_KERNEL = ("<p><i>The slice viewer below is interactive (ipywidgets): it needs a running kernel, in JupyterLab. "
                 "A static copy of this notebook shows it blank; the figure after it shows its opening view (the first subject, "
                 "preprocessed, axial, the middle slice) with a slider of its own.</i></p>")


class _OfflineNotebookRenderer(NotebookRenderer):
    """Plotly's notebook renderer without the MathJax ``<script>`` it points at a CDN: the figures use no LaTeX, and
    a static page (nbconvert, ``make book``) must not reach the network."""

    def to_mimebundle(self, fig_dict: dict) -> dict:
        bundle = super().to_mimebundle(fig_dict)
        bundle["text/html"] = _CDN_MATHJAX.sub("", bundle["text/html"])
        return bundle


_CDN_MATHJAX = re.compile(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"></script>')
pio.renderers["notebook_offline"] = _OfflineNotebookRenderer(config=pio.renderers["notebook"].config)
pio.renderers.default = FIGURE_RENDERERS


_REPORT_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #fafafa; }
main { max-width: 1150px; margin: 2em auto; padding: 0 1.5em; background: #fff; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
p.about { color: #555; } p.caption, figcaption { color: #555; font-size: 0.92em; margin: 0.3em 0 0.8em; }
table { border-collapse: collapse; font-size: 0.88em; font-variant-numeric: tabular-nums; margin: 0.5em 0; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; text-align: center; } td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: #fbfbfb; } td.best { font-weight: 700; }
figure { margin: 0; } footer table td, footer table th { text-align: left; } div.scroll { overflow-x: auto; }
"""


def _caption(text: str | None) -> str:
    return f"<p class='caption'>{text}</p>" if text else ""


def _leading_number(value: object) -> float:
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(value))
    return float(match[1]) if match else float("nan")


def _table_html(table: pd.DataFrame, best: Sequence[str]) -> str:
    def mark(column: pd.Series) -> list[str]:
        if column.name not in best:
            return [""] * len(column)
        values = column.map(_leading_number)
        return ["best" if value == values.max() else "" for value in values]

    numbers = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    styled = table.style.hide(axis="index").format("{:.3f}", subset=numbers, na_rep="n/a")
    styled = styled.set_td_classes(pd.DataFrame({c: mark(table[c]) for c in table.columns}, index=table.index))
    return styled.to_html()


def _flatten(values: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key} "))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
