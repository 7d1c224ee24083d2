"""One name for everything a notebook draws (``viz.montage``, ``viz.slice_viewer``, ``viz.write_report``): the
figures, the widget viewer and the HTML report live in modules of their own. Ranges and verdicts that a cell writes
into generated prose (``viz.span``, ``viz.against_reference``) come from ``expectations``, as the quoted ranges do."""

from .expectations import against_reference, span
from .figures import (
    COLUMN_WIDTH,
    CourseFigure,
    axial,
    class_montage,
    confusion,
    course_figure,
    deviation_spread,
    histograms,
    kernel_layouts,
    learning_curves,
    metric_heatmap,
    montage,
    overlay,
    protocol_effects,
    selection_curves,
    slice_figure,
)
from .report import write_report
from .tables import intervals, mean_sd
from .viewer import slice_viewer

__all__ = ["COLUMN_WIDTH", "CourseFigure", "against_reference", "axial", "class_montage", "confusion", "course_figure",
           "deviation_spread", "histograms", "intervals", "kernel_layouts", "learning_curves", "mean_sd", "metric_heatmap",
           "montage", "overlay", "protocol_effects", "selection_curves", "slice_figure", "slice_viewer", "span",
           "write_report"]
