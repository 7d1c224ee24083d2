"""The results report reads as a results section: title, what it covers, formatted tables with the best marked,
captioned figures, the environment at the foot, and plotly.js once, with nothing fetched from the network."""

import re

import pandas as pd
import plotly.graph_objects as go
import pytest

from brainclf_lib import viz


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
