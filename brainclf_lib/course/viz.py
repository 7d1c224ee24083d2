"""One name for everything a notebook draws (``viz.montage``, ``viz.slice_viewer``, ``viz.write_report``): the
figures, the widget viewer and the HTML report live in modules of their own."""

from .figures import (
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
from .viewer import slice_viewer

__all__ = ["CourseFigure", "axial", "class_montage", "confusion", "course_figure",
           "deviation_spread", "histograms", "kernel_layouts", "learning_curves", "metric_heatmap", "montage",
           "overlay", "protocol_effects", "selection_curves", "slice_figure", "slice_viewer", "write_report"]
