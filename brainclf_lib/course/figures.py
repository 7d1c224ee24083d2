"""The course's figures (plotly): slices and montages, histograms, learning curves, confusion matrices, heatmaps,
Grad-CAM overlays, protocol effects and kernel layouts.

Every figure is a :class:`CourseFigure`: it displays twice over, as plotly's own JSON, which JupyterLab draws
interactively, and as HTML whose plotly.js is embedded once per kernel, which any static view of an executed
notebook draws without a kernel or network (``jupyter nbconvert --to html``, a course site). It chooses that for
itself: importing the library leaves plotly's default renderer as it was.
"""

from __future__ import annotations

import functools
import math
import textwrap
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
from ..data.scan_on_read import write_when_read
from ..paths import PathLike
from ..training.selection import effective_window, selection_scores

#: The width, in pixels, of the column a course page shows a figure in (the site's content column is about 836 px): a
#: figure's height is chosen for it, and every figure is displayed at the column's width, whatever it was drawn at.
COLUMN_WIDTH = 820


class CourseFigure(go.Figure):
    """A plotly figure that displays with the course's two renderers (plotly's JSON, which JupyterLab draws, and
    offline HTML for every static view) whatever plotly's default renderer is, so that the library never sets that
    default for a user's own figures. It is displayed at the width of the column it is shown in (a fixed ``width``
    is dropped and plotly's autosize takes over), so no figure runs past the page's column."""

    def _repr_mimebundle_(self, include=None, exclude=None, validate: bool = True, **kwargs) -> dict:
        figure = _column_wide(self.to_dict())
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
def montage(slices: dict[str, dict[str, np.ndarray]], title: str = "", spacing: dict[str, Sequence[float]] | None = None,
            titles: dict[tuple[str, str], str] | None = None, columns_per_row: int = 4) -> go.Figure:
    """A grid of grey-scale slices, each drawn in millimetres on axes of its own, so a head looks like a head.

    Taught in ``02_preprocessing``. One scale shared by every panel would draw a 21-voxel slice as a sliver beside a
    256-voxel one, and square pixels would squash a 1.2 x 0.94 mm scan. Rows of one panel each (a scan after each
    step, an augmentation gallery) are laid out side by side, ``columns_per_row`` to a row, not one above the other;
    the figure's height follows the panels' physical aspect at :data:`COLUMN_WIDTH`.

    Args:
        slices: ``{row name: {column name: 2D array}}``, each as :func:`axial` gives it.
        title: the figure's title.
        spacing: ``{row name: (mm across, mm up)}`` of that row's pixels, or ``{(row, column): ...}`` of one panel's;
            for an :func:`axial` slice of an ``(x, y, z)`` volume, its ``(x, y)`` spacing. Unnamed: square pixels.
        titles: ``{(row, column): title}`` for a panel that shows something other than its column's name.
        columns_per_row: the most panels side by side when every row holds one panel.
    """
    rows = list(slices)
    columns = sorted(dict.fromkeys(c for row in slices.values() for c in row), key=_contrast_order)
    labels = {(r, c): f"{r}<br>{(titles or {}).get((r, c), c)}" if len(columns) > 1 else r for r in rows for c in columns}
    panels = [(r, c) for r in rows for c in columns]  # in reading order, None where a row lacks a column
    if len(columns) == 1 and len(rows) > 1:  # one panel a row: a compact grid, read left to right, rows balanced
        width = math.ceil(len(rows) / math.ceil(len(rows) / columns_per_row))
        grid = [panels[i:i + width] for i in range(0, len(panels), width)]
        grid[-1] += [None] * (width - len(grid[-1]))
    else:
        grid = [[(r, c) if c in slices[r] else None for c in columns] for r in rows]
    n_rows, n_columns = len(grid), len(grid[0])
    across = (COLUMN_WIDTH - 20) / n_columns  # a panel's width at the column's width
    names = [_wrap(labels[panel], int(across / 7)) if panel else "" for line in grid for panel in line]
    figure = make_subplots(n_rows, n_columns, subplot_titles=names, horizontal_spacing=0.02,
                           vertical_spacing=0.3 / n_rows)
    aspects = []
    for i, line in enumerate(grid, 1):
        for j, panel in enumerate(line, 1):
            if panel is not None:
                row, column = panel
                image = slices[row][column]
                mm_across, mm_up = (spacing or {}).get((row, column), (spacing or {}).get(row, (1.0, 1.0)))
                figure.add_trace(_grey(image, float(mm_across), float(mm_up)), i, j)
                aspects.append((i, image.shape[0] * float(mm_up) / max(image.shape[1] * float(mm_across), 1e-8)))
            # each panel keeps its own aspect: its x axis is scaled to its own y axis, not to the first panel's
            figure.update_xaxes(scaleanchor=figure.get_subplot(i, j).xaxis.anchor, constrain="domain", row=i, col=j)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, constrain="domain")
    figure.update_annotations(font_size=12)  # panel titles, wrapped at about 7 px a character
    lines = max(name.count("<br>") + 1 for name in names)
    top = 50 + 18 * lines  # the title and each panel title's lines
    # each row as tall as its tallest panel at the column's width
    tall = [across * min(max((a for row, a in aspects if row == i), default=1.0), 1.3) for i in range(1, n_rows + 1)]
    return figure.update_layout(title=dict(text=title, y=0.995, yanchor="top"), margin=dict(l=10, r=10, t=top, b=10),
                                height=int(top + 10 + sum(tall) + n_rows * 18 * lines), font=dict(size=11))


@returns_course_figure
def slice_figure(volume: np.ndarray, axis: int = 2, title: str = "", step: int = 1, mask: np.ndarray | None = None) -> go.Figure:
    """A plotly slice viewer with a slider over one axis, opened where the tumour is largest.

    Taught in ``01_data_exploration``. The middle slice of a brain often misses its tumour, so with a ``mask`` the
    viewer opens at the slice holding the most of it.

    Args:
        volume: an ``(x, y, z)`` volume.
        axis: the axis the slider moves along (2: axial).
        title: the figure's title.
        step: show every ``step``-th slice (a smaller figure).
        mask: the tumour mask on the same grid; ``None`` opens at the middle slice.
    """
    indices = list(range(0, volume.shape[axis], step))
    high = float(np.percentile(volume, 99.5)) or 1.0
    frames = [go.Frame(data=[go.Heatmap(z=_pixels(axial(volume, i, axis)[::-1]), colorscale="gray", zmin=0, zmax=high)], name=str(i)) for i in indices]
    opening = len(indices) // 2
    if mask is not None and np.any(mask):
        per_slice = np.moveaxis(np.asarray(mask) > 0, axis, 0).reshape(volume.shape[axis], -1).sum(1)
        opening = int(np.argmax(per_slice[indices]))
    figure = go.Figure(data=frames[opening].data, frames=frames)
    steps = [dict(method="animate", label=str(i), args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True))]) for i in indices]
    figure.update_layout(title=title, sliders=[dict(active=opening, steps=steps, currentvalue=dict(prefix="slice "))],
                         height=450, width=450, yaxis=dict(scaleanchor="x", visible=False), xaxis=dict(visible=False))
    return figure


@returns_course_figure
def histograms(values: dict[str, np.ndarray], title: str = "", bins: int = 60, floor: float = 0.05) -> go.Figure:
    """Overlaid normalised histograms, one per group (for example per source: the site / contrast gap).

    Taught in ``01_data_exploration``. Values at or below ``floor`` are left out, and the axis says so: a prepared
    volume's background, and the near-zero halo anti-aliased resampling leaves around the brain (a third or more of
    its non-zero voxels), would otherwise be one spike that flattens the brain's own histogram. The counts are
    binned here, over bins every group shares, so the page carries ``bins`` bars a group, not every voxel (plotly's
    own histogram ships the raw values: 84 MB for 09's eight brains).

    Args:
        values: group name -> intensities.
        title: the figure's title.
        bins: histogram bins.
        floor: the background's upper bound (0 keeps every value above 0).
    """
    kept = {name: np.asarray(v, dtype=np.float64).ravel() for name, v in values.items()}
    kept = {name: v[v > floor] for name, v in kept.items()}
    top = max((v.max() for v in kept.values() if v.size), default=floor + 1.0)
    edges = np.linspace(floor, top if top > floor else floor + 1.0, bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    figure = go.Figure([go.Bar(x=centres, y=np.histogram(v, edges, density=True)[0] if v.size else np.zeros(bins), name=k,
                               width=width, opacity=0.55, hovertemplate=f"{k}<br>intensity %{{x:.3f}}<br>density %{{y:.2f}}<extra></extra>")
                        for k, v in kept.items()])
    return figure.update_layout(barmode="overlay", bargap=0, title=title, yaxis_title="density", height=380,
                                xaxis_title=f"intensity (voxels above {floor:g} only: background left out)")


@returns_course_figure
def learning_curves(logs: dict[str, pd.DataFrame]) -> go.Figure:
    """Training and validation loss, and validation macro F1, per epoch, for one or several runs: a solid line is
    training, a dotted one validation, in both panels, each in the legend.

    Taught in ``04_train``.

    Args:
        logs: run label -> its ``Run.log`` table.
    """
    figure = make_subplots(1, 2, subplot_titles=("loss", "validation macro F1"))
    for (name, log), colour in zip(logs.items(), px.colors.qualitative.Plotly, strict=False):
        figure.add_scatter(x=log["epoch"], y=log["train_loss"], name=f"{name} train", line=dict(color=colour), row=1, col=1)
        figure.add_scatter(x=log["epoch"], y=log["val_loss"], name=f"{name} val", line=dict(color=colour, dash="dot"), row=1, col=1)
        figure.add_scatter(x=log["epoch"], y=log["val_macro_f1"], name=f"{name} val F1", mode="lines+markers",
                           line=dict(color=colour, dash="dot"), row=1, col=2)  # validation, drawn as validation is
    return figure.update_layout(height=380, xaxis_title="epoch", xaxis2_title="epoch")


@returns_course_figure
def selection_curves(log: pd.DataFrame, window: int) -> go.Figure:
    """Each epoch's validation loss (negated: higher is better) beside the ``window``-epoch mean that chooses the
    best one, with the epoch each would keep marked.

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
    return figure.update_layout(height=360, xaxis_title="epoch", yaxis_title="minus validation loss",
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
                                  zmin=0, zmax=1, texttemplate="%{z:.2f}"))  # every cell two decimals: 1.00, not 1
    return figure.update_layout(title=metric, height=120 + 40 * len(pivot), width=520)


@returns_course_figure
def overlay(volume: np.ndarray, heat: np.ndarray, mask: np.ndarray | None = None, title: str = "",
            explained: int | None = None) -> go.Figure:
    """A Grad-CAM map over the axial slice where it is largest, with the tumour's outline; a map that is zero
    everywhere is said in words, not drawn as a blank overlay.

    Taught in ``07_explainability``. A fixed slice (the tumour's centre) can miss a map that peaks elsewhere.

    Args:
        volume: the input's first channel, ``(D, H, W)``.
        heat: the map on the same grid, in [0, 1].
        mask: the tumour mask on the same grid.
        title: what is explained (model and subject); the class and the slice are added.
        explained: the class the map explains, an index of ``CLASSES``.
    """
    empty = not np.any(heat > 0)
    tumour = mask is not None and np.any(mask)
    index = _largest_slice(mask if empty and tumour else heat)
    target = CLASSES[explained] if explained is not None else "the class"
    where = "the tumour's largest" if empty and tumour else "the middle" if empty else "where the map is largest"
    figure = go.Figure(go.Heatmap(z=_pixels(volume[index]), colorscale="gray", showscale=False))  # row 0 posterior: anterior up
    if empty:
        figure.add_annotation(text=f"Grad-CAM is zero everywhere:<br>no location argued for {target}", showarrow=False,
                              xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=15, color="#d62728"), bgcolor="white")
    else:
        figure.add_heatmap(z=heat[index], colorscale="Hot", opacity=0.45, zmin=0, zmax=1, showscale=False)
    if tumour:
        figure.add_contour(z=mask[index].astype(float), contours=dict(start=0.5, end=0.5, coloring="none"), line=dict(color="cyan", width=2),
                           showscale=False)
    text = f"{title}: Grad-CAM for {target}, slice {index} ({where})"
    return figure.update_layout(title=dict(text=text, font=dict(size=13)), height=380, width=max(380, 7 * len(text)),
                                yaxis=dict(scaleanchor="x", visible=False), xaxis=dict(visible=False))


@returns_course_figure
def class_montage(manifest: pd.DataFrame, contrasts: Sequence[str] = ("t1ce", "t2", "flair")) -> go.Figure:
    """One raw subject per class in several contrasts, through the tumour's largest slice, at each scan's aspect.

    Taught in ``01_data_exploration``. Each contrast is a column; an IXI scan's T1 stands in for T1ce, as in the
    paper, and is titled as the T1 it is; a contrast its release lacks (IXI's FLAIR) is left blank.

    Args:
        manifest: a prepared folder's manifest (its raw paths are followed).
        contrasts: the columns of the montage.
    """
    slices, spacing, titles = {}, {}, {}
    for label in CLASSES:
        rows = manifest[manifest["label"] == label]
        if rows.empty:
            continue
        row, name = rows.iloc[0], f"{label} {rows.iloc[0]['subject_id']}"
        paths = {c: path for c in contrasts if (path := raw_contrast_path(row["original_path"], c)) is not None}
        images = {c: nib.as_closest_canonical(nib.load(p)) for c, p in paths.items()}
        z = _tumour_slice(row) if row.get("seg") and row["source"] != "IXI" else None
        slices[name] = {c: axial(np.asanyarray(image.dataobj), z) for c, image in images.items()}
        spacing.update({(name, c): image.header.get_zooms()[:2] for c, image in images.items()})  # x across, y up
        titles.update({(name, c): f"{_file_contrast(p)} (for {c})" for c, p in paths.items() if _file_contrast(p) != c})
    return montage(slices, "One subject per class", spacing=spacing, titles=titles)


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
        "r3d_18: 3D,<br>3 x 3 x 3": [(0, 3, 3, "3 x 3 x 3")],
        "mc3_18 (stages 2-4):<br>in-plane, 1 x 3 x 3": [(0, 3, 1, "1 x 3 x 3")],
        "r2plus1d_18: 1 x 3 x 3,<br>then 3 x 1 x 1": [(0, 3, 1, "1 x 3 x 3"), (4.5, 1, 3, "3 x 1 x 1")],
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
    return figure.update_layout(height=350, showlegend=False, margin=dict(t=100, b=40),
                                title="One block's kernels: extent along the slices (up) and in-plane (across)")


def _grey(image: np.ndarray, across: float, up: float) -> go.Heatmap:
    """A slice as a grey heat map in millimetres (``axial``'s top row drawn at the top), windowed to its 99.5th
    percentile."""
    image = image.astype(float)
    high = np.percentile(image[image > 0], 99.5) if (image > 0).any() else 1
    return go.Heatmap(z=_pixels(image[::-1]), dx=across, dy=up, colorscale="gray", zmin=0, zmax=high, showscale=False)


def _pixels(image: np.ndarray) -> np.ndarray:
    """A slice as the page stores it: single precision, half the bytes of float64 (plotly ships numpy arrays as typed
    binary), with more precision than a grey level or a hover label shows."""
    return np.ascontiguousarray(image, dtype=np.float32)


def _wrap(title: str, width: int) -> str:
    """A panel title broken into lines of at most ``width`` characters (plotly does not wrap titles)."""
    return "<br>".join(textwrap.fill(line, max(width, 12)).replace("\n", "<br>") for line in title.split("<br>"))


def _largest_slice(volume: np.ndarray) -> int:
    """The index along the first axis of the slice holding the most of ``volume`` (its middle when all is zero)."""
    mass = np.abs(np.asarray(volume, dtype=float)).reshape(len(volume), -1).sum(1)
    return int(np.argmax(mass)) if mass.any() else len(volume) // 2


def _tumour_slice(row: pd.Series) -> int | None:
    """The axial slice (RAS+) of a raw BraTS subject with the most tumour, from its segmentation."""
    seg_path = write_when_read(row["original_path"].rsplit("_", 1)[0] + "_seg.nii.gz")
    seg = np.asanyarray(nib.as_closest_canonical(nib.load(seg_path)).dataobj)
    return _largest_slice(np.moveaxis(seg > 0, 2, 0)) if (seg > 0).any() else None


def _file_contrast(path: PathLike) -> str:
    """The contrast a raw file holds, from its name: ``t1`` for ``IXI002-Guys-0828-T1.nii.gz``."""
    return str(path).removesuffix(".gz").removesuffix(".nii").replace("-", "_").rsplit("_", 1)[-1].lower()


def _contrast_order(name: str) -> int:
    order = BRATS_CONTRASTS
    return order.index(name.lower()) if name.lower() in order else len(order)


def _column_wide(figure: dict) -> dict:
    """The figure without a fixed width, autosized to its column (its height is kept)."""
    layout = {key: value for key, value in figure.get("layout", {}).items() if key != "width"}
    return {**figure, "layout": {**layout, "autosize": True}}


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
    and a static page (nbconvert, ``make book``) must not reach the network. A figure with frames (the slice viewer)
    is not played on load: it stays on the slice it opens at, not wherever the animation stopped. Plotly sizes a
    figure to its column once, when it is drawn, and again only when the window is resized; a page's column settles
    after that (its sidebars arrive later), so :data:`_FOLLOW_COLUMN` redraws it whenever its column changes width."""
    return pio.to_html(figure, include_plotlyjs=False, include_mathjax=False, full_html=False, default_width="100%",
                       default_height=525, validate=False, auto_play=False, config={"responsive": True},
                       post_script=_FOLLOW_COLUMN)


#: Run after a figure is drawn (``{plot_id}`` is its div): redraw it at its column's width whenever that changes.
_FOLLOW_COLUMN = ("(function () { var plot = document.getElementById('{plot_id}');"
                  " if (!plot || !window.ResizeObserver) { return; }"
                  " new ResizeObserver(function () { window.Plotly.Plots.resize(plot); }).observe(plot.parentElement);"
                  " })();")
