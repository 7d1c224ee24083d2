""""What you should see", held: a notebook states the range a figure should land in and fails if it does not.

Taught in ``01_data_exploration``. The ranges are measured with a notebook's default parameters and the ``fast``
preset; under another preset (``smoke`` learns nothing, ``paper`` is another experiment) the figure is shown and the
range is not enforced.
"""

from __future__ import annotations

import math


def expect(name: str, value: float, low: float, high: float, enforced: bool = True) -> float:
    """Print a figure beside the range the text promises, and raise if it falls outside while ``enforced``.

    Taught in ``01_data_exploration``; a "What you should see" box is followed by one call per promised figure.

    Args:
        name: what the figure is, as the text calls it.
        value: the figure the cell computed.
        low: the lowest value the text promises.
        high: the highest value the text promises.
        enforced: whether the promise holds for this run (typically ``preset == "fast"``).

    Returns:
        ``value``, so a cell can go on using it.

    >>> expect("accuracy", 0.9, 0.8, 1.0)
    accuracy = 0.900 (expected 0.8 to 1; as expected)
    0.9
    """
    inside = low <= value <= high and not math.isnan(value)
    verdict = "as expected" if inside else ("OUTSIDE the range" if enforced else "not checked under this preset")
    print(f"{name} = {value:.3f} (expected {low:g} to {high:g}; {verdict})")
    if enforced and not inside:
        raise AssertionError(f"{name} = {value:.3f} is outside the {low:g} to {high:g} the text promises: the text "
                             "and the result disagree; re-check the parameters, or re-measure and update the text")
    return value
