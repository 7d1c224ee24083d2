import math

import pytest
import torch

from brainclf_lib.training.losses import class_weights, weighted_cross_entropy


def test_class_weights_are_one_minus_class_share():
    labels = [0] * 259 + [1] * 73 + [2] * 259  # the paper's cohort
    expected = torch.tensor([1 - 259 / 591, 1 - 73 / 591, 1 - 259 / 591])
    assert torch.allclose(class_weights(labels), expected)


def test_a_class_absent_from_training_gets_weight_one():
    assert torch.allclose(class_weights([0, 0, 2]), torch.tensor([1 / 3, 1.0, 2 / 3]))


def test_weighted_cross_entropy_matches_a_hand_computation():
    loss_fn = weighted_cross_entropy([0, 0, 0, 1])  # weights 0.25, 0.75, 1.0
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    targets = torch.tensor([0, 1])
    nll0 = -math.log(math.exp(2) / (math.exp(2) + 2))
    nll1 = -math.log(math.e / (math.e + 2))
    expected = (0.25 * nll0 + 0.75 * nll1) / (0.25 + 0.75)
    assert loss_fn(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="0..2"):
        class_weights([0, 3])
    with pytest.raises(ValueError):
        class_weights([])
