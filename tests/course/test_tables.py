"""The course's tables as a notebook shows them: one number format (three decimals; a p-value keeps its digits)."""

import pandas as pd

import brainclf_lib.course  # noqa: F401 (every notebook imports from it first; importing it sets the format)


def test_a_notebook_table_shows_three_decimals_and_keeps_a_small_p_value():
    table = pd.DataFrame({"macro F1": [0.686610, 0.6875], "p_value": [0.000213, 0.5]})
    html = table._repr_html_()  # what JupyterLab and the site draw
    assert "0.687" in html and "0.686610" not in html and "0.6875" not in html
    assert "0.00021" in html and "0.000<" not in html


def test_a_mean_and_its_spread_share_one_column():
    from brainclf_lib.course.viz import mean_sd

    table = pd.DataFrame({"arch": ["r3d_18", "mc3_18"], "mimics": [0, 2], "LGG F1": [0.8412, 0.7],
                          "LGG F1 std": [0.045, 0.1], "macro F1": [0.9, 0.8], "macro F1 std": [0.03, 0.05]})
    merged = mean_sd(table)
    assert list(merged.columns) == ["arch", "mimics", "LGG F1", "macro F1"]
    assert merged["LGG F1"].tolist() == ["0.841 ± 0.045", "0.700 ± 0.100"] and merged["mimics"].tolist() == [0, 2]


def test_an_interval_takes_one_column_in_the_place_of_its_two_ends():
    from brainclf_lib.course.viz import intervals

    table = pd.DataFrame({"macro F1": [0.6, 1.0], "macro F1 low": [0.43, 1.0], "macro F1 high": [0.78, 1.0], "n": [16, 16]},
                         index=pd.Index(["corrected", "+ last_epoch"], name="variant"))
    shown = intervals(table, alike=" (every resample)")
    assert list(shown.columns) == ["macro F1", "macro F1 95 % CI", "n"] and shown.index.name == "variant"
    assert shown["macro F1 95 % CI"].tolist() == ["0.430 to 0.780", "1.000 (every resample)"]  # never "1.000 to 1.000"
