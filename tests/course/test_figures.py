"""The results report reads as a results section: title, what it covers, formatted tables with the best marked,
captioned figures, the environment at the foot, and plotly.js once, with nothing fetched from the network."""

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from brainclf_lib import read_manifest, viz


def test_the_report_formats_marks_captions_and_states_its_environment(tmp_path):
    table = pd.DataFrame({"arch": ["r3d_18", "mc3_18"], "macro F1 (ours)": ["0.912 ± 0.030", "0.950 ± n/a"],
                          "macro F1 (paper)": [0.9096, 0.8652], "accuracy": [0.91234, 0.95]})
    figures = {f"figure {i}": go.Figure(go.Bar(x=[1, 2], y=[i, 1])) for i in range(2)}
    path = tmp_path / "report.html"
    viz.write_report(path, "brainclf: results", {"F1": table}, figures, about="4 of 18 runs, fast preset",
                     captions={"F1": "Ours beside the paper.", "figure 1": "The second figure."},
                     best={"F1": ["macro F1 (ours)", "accuracy"]}, environment={"device": "cpu", "packages": {"torch": "2.14.1"}})
    html = path.read_text()
    assert "<h1>brainclf: results</h1>" in html and "<p class='about'>4 of 18 runs, fast preset</p>" in html
    assert "<p class='caption'>Ours beside the paper.</p>" in html and "<figcaption>The second figure.</figcaption>" in html
    assert "<figcaption>figure 0</figcaption>" in html  # a figure without a caption is named
    best = re.findall(r'class="data row(\d) col(\d) best" >([^<]*)<', html)
    assert best == [("1", "1", "0.950 ± n/a"), ("1", "3", "0.950")]  # the highest of each marked column, 3 decimals
    assert ">0.912<" in html and ">0.910<" in html and ">0.865<" in html  # floats to 3 decimals
    assert "<th>packages torch</th><td>2.14.1</td>" in html and "<th>device</th><td>cpu</td>" in html
    assert html.count("plotly.js v") == 1 and html.count("Plotly.newPlot(") == 2
    assert not re.search(r"""<script[^>]+src=["']https?://""", html)


def test_a_report_table_keeps_the_index_that_names_its_rows(tmp_path):
    """08's protocols and deviations are named by their index: a report that hid it left rows no one could name."""
    table = pd.DataFrame({"macro F1": [0.61, 0.73]}, index=pd.Index(["corrected", "+ accumulated_confusion"], name="variant"))
    plain = pd.DataFrame({"macro F1": [0.5]})  # a default index names nothing, and stays hidden
    viz.write_report(tmp_path / "r.html", "protocols", {"variants": table, "plain": plain}, {})
    html = (tmp_path / "r.html").read_text()
    assert ">variant<" in html and ">corrected<" in html and ">+ accumulated_confusion<" in html
    assert ">index<" not in html


def test_importing_the_library_leaves_plotlys_default_renderer_alone():
    """A user's own figures render as plotly would have rendered them; the course's figures choose their own."""
    import subprocess
    import sys

    code = ("import plotly.io as pio; before = pio.renderers.default; import brainclf_lib; from brainclf_lib import viz; "
            "assert pio.renderers.default == before, (before, pio.renderers.default); "
            "assert 'notebook_offline' not in pio.renderers; "
            "figure = viz.confusion([[1, 0, 0], [0, 1, 0], [0, 0, 1]]); "
            "assert isinstance(figure, viz.CourseFigure); "
            "print(sorted(viz.CourseFigure._repr_mimebundle_(figure)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['application/vnd.plotly.v1+json', 'text/html']"
    import plotly.express as px

    from brainclf_lib import viz

    own = viz.course_figure(px.bar(x=[1, 2], y=[3, 4]))
    assert isinstance(own, viz.CourseFigure) and viz.course_figure(own) is own
    html = viz.CourseFigure._repr_mimebundle_(own)["text/html"]
    assert "cdnjs.cloudflare.com" not in html and "Plotly.newPlot" in html


def test_the_deviation_spread_draws_each_measured_range_its_median_and_this_runs_change():
    table = pd.DataFrame({"Δ macro F1": [0.0, 0.12, -0.2, 0.05]},
                         index=["corrected", "+ last_epoch", "published-code", "+ unmeasured"])
    measured = pd.DataFrame({"key": ["08 + last_epoch: Δ macro F1", "08 published-code: Δ macro F1"],
                             "trajectories": [11, 11], "minimum": [-0.12, -0.22], "median": [0.06, -0.10],
                             "maximum": [0.20, 0.09]})
    bar, median, dots = viz.deviation_spread(table, measured, prefix="08 ").data
    assert list(bar.y) == ["+ unmeasured", "published-code", "+ last_epoch"]  # top to bottom as the table lists them
    assert list(bar.base[1:]) == [-0.22, -0.12] and list(bar.x[1:]) == [pytest.approx(0.31), pytest.approx(0.32)]
    assert list(median.x[1:]) == [-0.10, 0.06] and list(dots.x) == [0.05, -0.2, 0.12]
    assert pd.isna(bar.base[0]) and pd.isna(median.x[0]) and list(bar.customdata) == [
        "not measured", "11 trajectories", "11 trajectories"]


def test_each_montage_panel_is_drawn_at_its_own_physical_aspect():
    """A 21-voxel slice beside a 256-voxel one is not a sliver, and a 1.2 x 0.94 mm scan is not squashed."""
    raw, resampled = np.ones((256, 150)), np.ones((24, 21))
    figure = viz.montage({"reoriented": {"axial": raw}, "resampled": {"axial": resampled}}, "steps",
                         spacing={"reoriented": (1.2, 0.9375), "resampled": (8.0, 8.0)})
    assert [(trace.dx, trace.dy) for trace in figure.data] == [(1.2, 0.9375), (8.0, 8.0)]
    assert (figure.layout.xaxis.scaleanchor, figure.layout.xaxis2.scaleanchor) == ("y", "y2")  # its own y axis


def test_a_montage_of_one_panel_a_row_lays_the_steps_out_side_by_side_at_their_aspect():
    """Issue #35, item 3: 02 passes each preprocessing step as a row of one panel; they were stacked one per row."""
    steps = {name: {"axial": np.ones((40, 48))} for name in ("reoriented", "resampled", "cropped", "stripped", "final")}
    figure = viz.montage(steps, "steps", spacing={name: (1.0, 1.0) for name in steps})
    domains = [(figure.layout[f"xaxis{i or ''}"].domain, figure.layout[f"yaxis{i or ''}"].domain) for i in ("", 2, 3, 4, 5)]
    assert len({y for _, y in domains[:3]}) == 1 and domains[3][1] == domains[4][1] != domains[0][1]  # 3 + 2, balanced
    assert len({x for x, _ in domains[:3]}) == 3 and domains[3][0] == domains[0][0]  # the fourth starts the next row
    assert [a.text for a in figure.layout.annotations] == list(steps)
    long = viz.montage({"percentiles (0.5, 99.5) to [0, 1], then cropped / padded": {"axial": np.ones((4, 4))},
                        "b": {"axial": np.ones((4, 4))}, "c": {"axial": np.ones((4, 4))}})
    assert "<br>" in long.layout.annotations[0].text  # a long title wraps instead of running into its neighbour
    panel = (viz.COLUMN_WIDTH - 20) / 3 * 40 / 48  # a 40 x 48 mm slice at the column's width, three to a row
    assert 2 * panel < figure.layout.height < 2 * panel + 200 < 110 + 260 * len(steps)  # two rows, not one a step


def test_every_course_figure_is_displayed_at_its_columns_width():
    """Issue #35: figures drawn 980-1000 px wide ran past an 836 px column; the helper drops the fixed width."""
    figure = viz.kernel_layouts().update_layout(width=1000)  # as it was drawn
    bundle = figure._repr_mimebundle_()
    shown = bundle["application/vnd.plotly.v1+json"]["layout"]
    assert "width" not in shown and shown["autosize"] is True and shown["height"] == 350
    assert '"responsive": true' in bundle["text/html"] and not re.search(r'"width":\s*1000', bundle["text/html"])
    wide = viz.course_figure(go.Figure(layout=dict(width=1400)))._repr_mimebundle_()
    assert "width" not in wide["application/vnd.plotly.v1+json"]["layout"]


def test_the_class_montage_names_what_each_panel_shows_at_the_scans_aspect(prepared):
    manifest = read_manifest(prepared)
    figure = viz.class_montage(manifest)
    titles = [annotation.text for annotation in figure.layout.annotations]
    healthy = [t for t in titles if t.startswith("Healthy")]
    assert healthy and all("<br>t1ce" not in t for t in healthy) and any(t.endswith("<br>t1 (for t1ce)") for t in healthy)
    assert any(t.endswith("<br>flair") for t in titles if t.startswith("HGG"))
    spacing = [(trace.dx, trace.dy) for trace in figure.data]
    assert (1.0, 1.0) in spacing and (pytest.approx(1.2), 0.9375) in spacing  # BraTS' 1 mm, IXI's sagittal voxels


def test_the_slice_figure_opens_at_the_slice_with_the_most_tumour():
    volume, mask = np.random.default_rng(0).random((8, 8, 10)), np.zeros((8, 8, 10), bool)
    mask[2:5, 2:5, 7], mask[3, 3, 2] = True, True
    figure = viz.slice_figure(volume, mask=mask)
    assert figure.layout.sliders[0].active == 7 and np.allclose(figure.data[0].z, viz.axial(volume, 7)[::-1])
    assert viz.slice_figure(volume).layout.sliders[0].active == 5  # no mask: the middle
    assert "Plotly.animate" not in figure._repr_mimebundle_()["text/html"]  # a static page stays on that slice


def test_histograms_leave_the_background_out_and_say_so():
    values = np.concatenate([np.full(1000, 1e-9), np.linspace(0.2, 0.8, 100)])  # a resampling halo, then brain
    figure = viz.histograms({"BraTS": values}, bins=30)
    assert "background left out" in figure.layout.xaxis.title.text
    width = figure.data[0].width
    assert min(figure.data[0].x) - width / 2 == pytest.approx(0.05) and max(figure.data[0].x) + width / 2 == pytest.approx(0.8)
    assert np.sum(figure.data[0].y) * width == pytest.approx(1.0)  # a density over the brain only


def test_histograms_carry_their_bins_not_their_voxels():
    """A page holds a histogram's bars: plotly's own histogram shipped every voxel (84 MB for 09's eight brains)."""
    rng = np.random.default_rng(0)
    figure = viz.histograms({"IXI": rng.uniform(0, 1, 1_000_000), "BraTS": rng.uniform(0, 0.5, 1_000_000)}, bins=60)
    assert [len(trace.y) for trace in figure.data] == [60, 60] and len(figure.to_json()) < 20_000
    assert list(figure.data[0].x) == list(figure.data[1].x)  # shared bins: the curves compare bar by bar


def test_slices_are_stored_in_single_precision():
    """A 240 x 240 slice costs a page 0.4 MB as float32, 0.8 MB as float64: 01's montage draws 16 of them."""
    slices = {"BraTS": {"t1ce": np.random.default_rng(0).uniform(0, 1, (240, 240))}}
    assert all(np.asarray(trace.z).dtype == np.float32 for trace in viz.montage(slices).data)
    assert len(viz.montage(slices).to_json()) < 450_000


def test_the_grad_cam_overlay_draws_the_slice_where_the_map_is_largest_and_names_the_class():
    volume, heat, mask = np.ones((6, 8, 8)), np.zeros((6, 8, 8)), np.zeros((6, 8, 8), bool)
    heat[4, 2:4, 2:4], mask[1, 3:6, 3:6] = 1.0, True
    figure = viz.overlay(volume, heat, mask, "r3d_18 on BraTS19_1", explained=2)
    assert "Grad-CAM for HGG, slice 4" in figure.layout.title.text
    assert np.asarray(figure.data[1].z).max() == 1.0 and not figure.layout.annotations
    empty = viz.overlay(volume, np.zeros_like(heat), mask, "r3d_18 on BraTS19_1", explained=2)
    assert "slice 1 (the tumour's largest)" in empty.layout.title.text  # no map: where the tumour is
    assert [trace.type for trace in empty.data] == ["heatmap", "contour"]  # no blank overlay...
    assert "zero everywhere" in empty.layout.annotations[0].text  # ...but words


def test_the_learning_curves_draw_validation_dotted_in_both_panels_and_name_it():
    log = pd.DataFrame({"epoch": [0, 1], "train_loss": [1.0, 0.8], "val_loss": [0.9, 0.85], "val_macro_f1": [0.4, 0.5]})
    traces = {trace.name: trace for trace in viz.learning_curves({"r3d": log}).data}
    assert set(traces) == {"r3d train", "r3d val", "r3d val F1"}
    assert traces["r3d val F1"].line.dash == "dot" and traces["r3d val F1"].showlegend is not False
    assert traces["r3d train"].line.dash is None


def test_a_metric_heatmap_writes_every_cell_to_two_decimals():
    rows = [{"model": "ResNet3D", "init": "scratch", "class": name, "f1": value}
            for name, value in zip(["Healthy", "LGG", "HGG"], [1.0, 0.7, 0.587], strict=True)]
    heatmap = viz.metric_heatmap(pd.DataFrame(rows), "f1").data[0]
    assert heatmap.texttemplate == "%{z:.2f}" and heatmap.text is None  # "1.00", "0.70", not "1", "0.7"
