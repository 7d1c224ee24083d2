import re

import pytest

from brainclf_lib.experiment.config import ExperimentConfig, make_config
from brainclf_lib.experiment.run_folder import run_name


def test_defaults_are_the_papers():
    config = ExperimentConfig()
    assert (config.lr, config.weight_decay, config.batch_size, config.dropout) == (1e-5, 1e-3, 1, 0.3)
    assert (config.spacing, config.n_folds, config.augmentation) == (2.0, 3, "light")


def test_config_round_trips_through_json(tmp_path):
    config = make_config("fast", arch="r2plus1d", pretrained="weights.pt", contrasts=("t1ce", "flair"), fold=2)
    config.to_json(tmp_path / "config.json")
    assert ExperimentConfig.from_json(tmp_path / "config.json") == config
    assert re.fullmatch(r"r2plus1d_18_pretrained_fold2-[0-9a-f]{8}", run_name(config))


def test_the_lesion_baseline_is_refused_source_weights_before_anything_is_written():
    """Refused when the config is made, not after the data step and a started run folder (``build_model``)."""
    assert make_config("fast", arch="lesion_cnn").pretrained is None
    with pytest.raises(ValueError, match="lesion_cnn is a baseline without source weights.*kinetics400"):
        make_config("fast", arch="lesion_cnn", pretrained="kinetics400")


def test_presets_and_bad_values():
    assert make_config("fast", epochs=None).epochs == make_config("fast").epochs  # papermill's unset values are ignored
    with pytest.raises(ValueError, match="valid presets"):
        make_config("huge")
    with pytest.raises(ValueError, match="augmentation"):
        ExperimentConfig(augmentation="extreme")
    with pytest.raises(ValueError, match="fold"):
        ExperimentConfig(fold=3)
    with pytest.raises(ValueError, match="Unknown config keys"):
        ExperimentConfig.from_dict({"learning_rate": 1})
    with pytest.raises(ValueError, match=r"Unknown configuration setting\(s\) \['learning_rate'\].*valid settings are: arch"):
        make_config("fast", learning_rate=1e-4)
