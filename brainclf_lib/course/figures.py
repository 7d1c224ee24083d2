"""The course's figures (plotly): slices and montages, histograms, learning curves, confusion matrices, heatmaps,
Grad-CAM overlays, protocol effects and kernel layouts.

Every figure is a :class:`CourseFigure`: it displays twice over, as plotly's own JSON, which JupyterLab draws
interactively, and as HTML whose plotly.js is embedded once per kernel, which any static view of an executed
notebook draws without a kernel or network (``jupyter nbconvert --to html``, a course site). It chooses that for
itself: importing the library leaves plotly's default renderer as it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import nibabel as nib
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import plotly.io as pio
from IPython.display import display
from plotly.subplots import make_subplots

from ..conventions import BRATS_CONTRASTS, CLASSES
from ..data.discovery import raw_contrast_path
from ..training.selection import effective_window, selection_scores


class CourseFigure(go.Figure):
    """A plotly figure that displays with the course's two renderers (plotly's JSON, which JupyterLab draws, and
    offline HTML for every static view) whatever plotly's default renderer is, so that the library never sets that
    default for a user's own figures."""

    def _repr_mimebundle_(self, include=None, exclude=None, validate: bool = True, **kwargs) -> dict:
        figure = self.to_dict()
        return {**_plotly_json().to_mimebundle(figure), "text/html": _offline_html(figure)}

    def _ipython_display_(self) -> None:
        display(self._repr_mimebundle_(), raw=True)

    def show(self, *args, **kwargs) -> None:
        """Display as the course does; with a renderer or other options, as plotly's own ``show``."""
        if args or kwargs:
            return super().show(*args, **kwargs)
        self._ipython_display_()


def course_figure(figure: go.Figure) -> CourseFigure:
    """A figure of one's own (``px.histogram(...)``), displayed as the course's are: interactive in JupyterLab,
    drawn in static copies.

    Taught in ``01_data_exploration``.

    Args:
        figure: any plotly figure.
    """
    return figure if isinstance(figure, CourseFigure) else CourseFigure(figure)


def returns_course_figure(function: Callable[..., go.Figure]) -> Callable[..., CourseFigure]:
    """Make a figure function's figure a :class:`CourseFigure` (every figure function below wears it)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs) -> CourseFigure:
        return course_figure(function(*args, **kwargs))
    return wrapper


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


@returns_course_figure
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


@returns_course_figure
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


@returns_course_figure
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


@returns_course_figure
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


@returns_course_figure
def selection_curves(log: pd.DataFrame, window: int) -> go.Figure:
    """Validation macro F1 of each epoch beside the ``window``-epoch mean that chooses the best one, with the epoch
    each would keep marked.

    Taught in ``04_train``.

    Args:
        log: a run's log.
        window: the run's ``selection_window``.
    """
    window = effective_window(window, len(log))
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


@returns_course_figure
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


@returns_course_figure
def metric_heatmap(table: pd.DataFrame, metric: str) -> go.Figure:
    """The paper's Fig. 7: one metric per class (columns) and model and initialisation (rows), averaged over folds.

    Taught in ``06_results``.

    Args:
        table: :func:`~brainclf_lib.replication.replicate.collect_runs`' results table.
        metric: ``precision``, ``recall``, ``specificity`` or ``f1``.
    """
    rows = table.assign(model_init=table["model"] + " · " + table["init"])
    pivot = rows.pivot_table(index="model_init", columns="class", values=metric, aggfunc="mean", dropna=False).reindex(columns=list(CLASSES))
    figure = go.Figure(go.Heatmap(z=pivot.to_numpy(), x=list(pivot.columns), y=list(pivot.index), colorscale="Viridis",
                                  zmin=0, zmax=1, text=np.round(pivot.to_numpy(), 2), texttemplate="%{text}"))
    return figure.update_layout(title=metric, height=120 + 40 * len(pivot), width=520)


@returns_course_figure
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


@returns_course_figure
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


@returns_course_figure
def protocol_effects(table: pd.DataFrame, figures: Sequence[str] = ("accuracy", "macro F1", "LGG F1", "HGG F1")) -> go.Figure:
    """Each protocol variant's figures with their bootstrap 95 % intervals, one panel per figure, the corrected
    protocol's value as a dotted line: a deviation whose interval does not reach that line moved the figure.

    Taught in ``08_protocols``.

    Args:
        table: :func:`~brainclf_lib.replication.comparison.protocol_table`'s table.
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


@returns_course_figure
def deviation_spread(table: pd.DataFrame, measured: pd.DataFrame, prefix: str = "") -> go.Figure:
    """Each variant's change in macro F1 from the corrected protocol: the range it took over the measured
    trajectories as a bar, their median as a tick, this run's own change as a dot. A bar across 0 is an effect one
    fold cannot tell from the luck of a trajectory; the tick says on which side of 0 most trajectories fell.

    Taught in ``08_protocols``.

    Args:
        table: :func:`~brainclf_lib.replication.comparison.protocol_table`'s table (its ``Δ macro F1`` column).
        measured: :func:`~brainclf_lib.course.expectations.measured_table`, whose ``<prefix><variant>: Δ macro F1`` rows
            hold the measured ranges.
        prefix: how the measured keys begin (``"08 "``).
    """
    variants = [v for v in table.index if v != "corrected"][::-1]
    rows = measured.set_index("key").reindex([f"{prefix}{variant}: Δ macro F1" for variant in variants])  # NaN: unmeasured
    low, high, median = (rows[column].to_numpy(dtype=float) for column in ("minimum", "maximum", "median"))
    counts = [f"{int(n)} trajectories" if pd.notna(n) else "not measured" for n in rows["trajectories"]]
    figure = go.Figure()
    figure.add_bar(y=variants, x=high - low, base=low, orientation="h", name="measured range",
                   marker=dict(color="rgba(31,119,180,0.35)"), customdata=counts,
                   hovertemplate="%{y}: %{base:.2f} to %{x:.2f} wide over %{customdata}<extra></extra>")
    figure.add_scatter(y=variants, x=median, mode="markers", name="median of the trajectories",
                       marker=dict(symbol="line-ns-open", size=26, color="rgb(8,48,107)", line=dict(width=3)),
                       hovertemplate="%{y}: median %{x:+.3f}<extra></extra>")
    figure.add_scatter(y=variants, x=table.loc[variants, "Δ macro F1"], mode="markers", name="this run",
                       marker=dict(size=11, color="#d62728"), hovertemplate="%{y}: %{x:+.3f} here<extra></extra>")
    figure.add_vline(x=0, line=dict(dash="dot", color="grey"))
    return figure.update_layout(height=120 + 40 * len(variants), xaxis_title="Δ macro F1 against the corrected protocol",
                                title=dict(text="Each deviation's effect: measured range (bar), its median (tick) and this run (dot)", font=dict(size=13)),
                                margin=dict(l=10, r=10, t=50, b=40))


@returns_course_figure
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


def _contrast_order(name: str) -> int:
    order = BRATS_CONTRASTS
    return order.index(name.lower()) if name.lower() in order else len(order)


@functools.cache
def _plotly_json():
    """plotly's JSON renderer, which JupyterLab draws, from plotly's registry of renderers. Its first use also
    activates plotly's ``notebook`` renderer, which embeds plotly.js once per kernel for :func:`_offline_html`; the
    default renderer is left as it was."""
    pio.renderers["notebook"].activate()
    return pio.renderers["plotly_mimetype"]


def _offline_html(figure: dict) -> str:
    """The figure as HTML, drawn by the plotly.js that :func:`_plotly_json` embedded (``pio.to_html`` as the notebook
    renderer calls it), without the MathJax ``<script>`` that renderer points at a CDN: the figures use no LaTeX,
    and a static page (nbconvert, ``make book``) must not reach the network."""
    return pio.to_html(figure, include_plotlyjs=False, include_mathjax=False, full_html=False, default_width="100%",
                       default_height=525, validate=False)
