import pytest

from brainclf_lib.config import ExperimentConfig, preset


def test_defaults_are_the_papers():
    config = ExperimentConfig()
    assert (config.lr, config.weight_decay, config.batch_size, config.dropout) == (1e-5, 1e-3, 1, 0.3)
    assert (config.spacing, config.n_folds, config.augmentation) == (2.0, 3, "light")


def test_config_round_trips_through_json(tmp_path):
    config = preset("fast", arch="r2plus1d", pretrained="weights.pt", contrasts=("t1ce", "flair"), fold=2)
    config.to_json(tmp_path / "config.json")
    assert ExperimentConfig.from_json(tmp_path / "config.json") == config
    assert config.run_name == "r2plus1d_18_pretrained_fold2"


def test_presets_and_bad_values():
    assert preset("fast", epochs=None).epochs == preset("fast").epochs  # papermill's unset values are ignored
    with pytest.raises(ValueError, match="valid presets"):
        preset("huge")
    with pytest.raises(ValueError, match="augmentation"):
        ExperimentConfig(augmentation="extreme")
    with pytest.raises(ValueError, match="fold"):
        ExperimentConfig(fold=3)
    with pytest.raises(ValueError, match="Unknown config keys"):
        ExperimentConfig.from_dict({"learning_rate": 1})
