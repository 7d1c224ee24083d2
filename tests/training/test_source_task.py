import pytest

from brainclf_lib.data.source import data_key
from brainclf_lib.data.step import load_fold
from brainclf_lib.errors import BadInputError
from brainclf_lib.files import load_torch
from brainclf_lib.models.pretrained import check_source_disjoint
from brainclf_lib.replication.replicate import sourced_grid
from brainclf_lib.training.loop import fit
from brainclf_lib.training.source_task import make_source_weights


def test_on_real_data_each_fold_gets_source_weights_that_never_saw_its_test_subjects(tiny_config, tmp_path):
    """Real data has no other cohort: each fold's source task learns from its own training subjects, which the other
    folds test, so a run loads its fold's file and refuses another fold's."""
    config = tiny_config.replace(max_steps_per_epoch=1)
    made = make_source_weights(config, tmp_path / "source", archs=("r3d_18",), epochs=1, progress=False)
    files = sorted(p.name for p in (tmp_path / "source").glob("*.pt"))
    assert files == ["r3d_18_fold0.pt", "r3d_18_fold1.pt", "r3d_18_fold2.pt"]
    assert made == {"r3d_18": tmp_path / "source" / "r3d_18_fold0.pt"}
    for fold in range(3):
        record = load_torch(tmp_path / "source" / f"r3d_18_fold{fold}.pt")["source"]
        tested = {s["subject_id"] for s in load_fold(config.replace(fold=fold)).test.subjects}
        assert record["fold"] == fold and record["subjects"] and not set(record["subjects"]) & tested
    runs = sourced_grid(config, archs=("r3d_18",), pretrained=str(tmp_path / "source"))
    assert {(r.fold, r.pretrained.rsplit("/", 1)[-1]) for r in runs if r.pretrained} == {
        (0, "r3d_18_fold0.pt"), (1, "r3d_18_fold1.pt"), (2, "r3d_18_fold2.pt")}
    tested = [s["subject_id"] for s in load_fold(config).test.subjects]
    with pytest.raises(BadInputError, match=r"r3d_18_fold1\.pt learned from \d+ subjects that this run tests"):
        check_source_disjoint(str(tmp_path / "source" / "r3d_18_fold1.pt"), data_key(config), tested)
    with pytest.raises(BadInputError, match="made for fold 1"):  # the same subjects prepared into another folder
        check_source_disjoint(str(tmp_path / "source" / "r3d_18_fold1.pt"), "prepared/at-another-spacing", tested)
    with pytest.raises(BadInputError, match="made for fold 1"):
        fit(config.replace(pretrained=str(tmp_path / "source" / "r3d_18_fold1.pt")), progress=False)


def test_a_relative_weights_path_is_read_where_the_runs_identity_reads_it(tmp_path, monkeypatch):
    """Relative to the repository root, like every path of the library, whatever the current folder."""
    import os

    import torch

    from brainclf_lib.models.pretrained import load_source_state
    from brainclf_lib.paths import REPO_ROOT

    weights = tmp_path / "w.pt"
    torch.save({"layer.weight": torch.ones(2)}, weights)
    monkeypatch.chdir(tmp_path / "..")
    relative = os.path.relpath(weights, REPO_ROOT)
    assert torch.equal(load_source_state(relative, "r3d_18")["layer.weight"], torch.ones(2))


def test_a_state_dict_in_torchs_legacy_format_passes_the_source_check(tmp_path):
    """check_source_disjoint reads a weights file memory-mapped (its record, not its tensors); a state dict saved in
    torch's pre-zipfile format cannot be mapped, and is read whole rather than refused as damaged."""
    import torch

    path = tmp_path / "legacy.pth"
    torch.save({"layer1.0.weight": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    check_source_disjoint(str(path), "prepared/any", ["SUBJ_001"])  # no record: nothing to refuse
    assert load_torch(path, mmap=True)["layer1.0.weight"].sum() == 2
