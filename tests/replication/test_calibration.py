import math

import pandas as pd

from brainclf_lib.replication.calibration import PAPER_RANGES, calibrate, calibration_markdown, in_paper_ranges


def test_calibration_trains_every_fold_and_reports_the_paper_ranges(tiny_config):
    table = calibrate(tiny_config.replace(epochs=1), [0.1], archs=("mc3",), progress=False)
    assert list(table["arch"]) == ["mc3_18"] and list(table["difficulty"]) == [0.1]
    row = table.iloc[0]
    for name in PAPER_RANGES:
        assert 0 <= row[name] <= 1 and not math.isnan(row[f"{name} std"])  # three folds: a spread exists
    share = row["LGG<->HGG share of errors"]
    assert math.isnan(share) or 0 <= share <= 1
    assert math.isnan(row["mimics"])  # a prepared folder: no record of what its subjects were drawn as
    assert "| 0.1 | n/a | mc3_18 |" in calibration_markdown(table)


def test_a_row_is_in_range_only_when_every_figure_is():
    inside = {"Healthy F1": 0.99, "LGG F1": 0.8, "HGG F1": 0.85, "macro F1": 0.88}
    rows = pd.DataFrame([inside, {**inside, "LGG F1": 0.7}, {**inside, "Healthy F1": 0.9}])
    assert list(in_paper_ranges(rows)) == [True, False, False]
