import pandas as pd

from brainclf_lib.replication.reported import REPORTED, side_by_side


def tidy(arch: str, init: str, fold: int, f1: dict[str, float], macro: float) -> list[dict]:
    return [{"run": f"{arch}_{init}_fold{fold}", "arch": arch, "init": init, "fold": fold, "class": name, "f1": value,
             "macro_f1": macro, "weighted_f1": macro} for name, value in f1.items()]


def test_side_by_side_gives_mean_and_std_over_folds_beside_the_papers_numbers():
    rows = tidy("r3d_18", "scratch", 0, {"Healthy": 1.0, "LGG": 0.6, "HGG": 0.8}, 0.8)
    rows += tidy("r3d_18", "scratch", 1, {"Healthy": 1.0, "LGG": 0.8, "HGG": 0.6}, 0.8)
    rows += tidy("mc3_18", "pretrained", 0, {"Healthy": 0.9, "LGG": 0.5, "HGG": 0.7}, 0.7)
    table = side_by_side(pd.DataFrame(rows))
    # ours, then the paper's row right under it; a mean over fewer folds than the paper's three says so
    assert list(table["source"]) == ["ours, 1 of 3 folds", "paper", "ours, 2 of 3 folds", "paper"]
    table = table.set_index(["arch", "init", "source"])
    r3d, paper = table.loc[("r3d_18", "scratch", "ours, 2 of 3 folds")], table.loc[("r3d_18", "scratch", "paper")]
    assert r3d["LGG F1"] == "0.700 ± 0.141" and r3d["Healthy F1"] == "1.000 ± 0.000"
    assert r3d["macro F1"] == "0.800 ± 0.000" and paper["macro F1"] == "0.9096"
    assert paper["LGG F1"] == "0.8673 ± 0.051"
    assert table.loc[("mc3_18", "pretrained", "ours, 1 of 3 folds"), "HGG F1"] == "0.700 ± n/a"  # one fold: no spread
    assert table.loc[("mc3_18", "pretrained", "paper"), "weighted F1"] == f"{REPORTED['weighted_f1'].iloc[5]:.4f}"
    assert len(table.columns) <= 6  # one column a figure: the table fits a page
