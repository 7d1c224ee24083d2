import math

import pytest

from brainclf_lib.expectations import expect


def test_a_figure_outside_the_promised_range_fails_naming_both(capsys):
    assert expect("ratio", 0.5, 0.3, 1.2) == 0.5
    assert "as expected" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"ratio = 1.500 is outside the 0.3 to 1.2 the text promises"):
        expect("ratio", 1.5, 0.3, 1.2)
    with pytest.raises(AssertionError):
        expect("ratio", math.nan, 0.3, 1.2)


def test_another_preset_shows_the_figure_without_enforcing_it(capsys):
    assert expect("macro F1", 0.2, 0.8, 1.0, enforced=False) == 0.2
    assert "not checked under this preset" in capsys.readouterr().out
