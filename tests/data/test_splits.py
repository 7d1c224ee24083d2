import pandas as pd
import pytest

from brainclf_lib.data.splits import check_split, fold_subjects, holdout_splits, kfold_splits, train_val_split
from brainclf_lib.errors import SplitLeakError


@pytest.fixture()
def manifest():
    labels = ["HGG"] * 30 + ["LGG"] * 9 + ["Healthy"] * 30
    return pd.DataFrame({"subject_id": [f"s{i}" for i in range(len(labels))], "label": labels})


def test_kfold_is_stratified_and_each_subject_is_tested_once(manifest):
    splits = kfold_splits(manifest, 3, seed=0)
    tested = splits[splits["role"] == "test"]
    assert sorted(tested["subject_id"]) == sorted(manifest["subject_id"])
    for fold in range(3):
        train, test = fold_subjects(splits, fold)
        assert not set(train) & set(test) and len(train) + len(test) == 69
        assert (tested[tested["fold"] == fold]["label"] == "LGG").sum() == 3
    assert kfold_splits(manifest, 3, seed=0).equals(splits)


def test_holdout_is_seven_to_three(manifest):
    splits = holdout_splits(manifest, 3, 0.3, seed=0)
    train, test = fold_subjects(splits, 1)
    assert len(test) == 21 and len(train) == 48


def test_a_leaking_split_is_refused():
    with pytest.raises(SplitLeakError, match="s1"):
        check_split(["s0", "s1"], ["s1", "s2"])


def test_validation_is_carved_from_training(manifest):
    train, val = train_val_split(manifest["subject_id"].tolist(), manifest["label"].tolist(), 0.15, seed=0)
    assert not set(train) & set(val) and len(val) == 10
    assert train_val_split(["a", "b"], ["HGG", "LGG"], 0.0, 0) == (["a", "b"], [])
