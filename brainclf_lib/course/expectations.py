""""What you should see", measured: every figure a notebook promises sits beside the range it took over several
training trajectories, and a figure outside it is shown, never raised.

Taught in ``01_data_exploration``. The same seed on another CPU, thread count or kernel path trains another model,
and on 24 test subjects a fold's F1 moves by 0.1 to 0.2 between such trajectories, more for a single class. So no range is typed in:
``brainclf expectations`` executes the notebooks under several seeds and float paths and writes
:data:`MEASURED_TABLE`, one row per promised figure (its minimum, median and maximum, and the trajectories it
covered) or per *tendency* (a claim such as "pre-training helps", with how often it held). :func:`expect` and
:func:`tendency` read that table. Invariants (what holds on any trajectory) stay plain ``assert`` statements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path

import pandas as pd
from IPython import get_ipython
from IPython.display import display

from ..paths import REPO_ROOT

#: The shipped measurement: ``brainclf expectations`` re-measures it (README, "Expected figures").
MEASURED_TABLE = REPO_ROOT / "benchmarks" / "results" / "expectations_fast.csv"
#: The mimetype of the machine-readable record each call leaves in a notebook's output, which the measurement reads.
RECORD_MIME = "application/vnd.brainclf.expectation+json"
#: How far past the measured extremes a figure still counts as expected: a quarter of the measured spread, and at
#: least 0.05 (a little over one test subject's worth of macro F1 on a fold of 24).
MARGIN_SHARE, MARGIN_FLOOR = 0.25, 0.05

_OUTSIDE = ("This run followed a trajectory the measurement did not cover: another CPU, thread count or seed "
            "trains another model, and one test subject more or less right moves a fold's figure by about 0.04. "
            "Read it against the spread (notebook 06) before reading anything into it.")


@dataclass(frozen=True)
class Measured:
    """One row of :data:`MEASURED_TABLE`."""

    key: str
    kind: str  # figure | tendency
    trajectories: int
    minimum: float
    median: float
    maximum: float
    held: int  # tendencies: the trajectories in which the claim held

    @property
    def margin(self) -> float:
        return margin(self.minimum, self.maximum)

    @property
    def low(self) -> float:
        return self.minimum - self.margin

    @property
    def high(self) -> float:
        return self.maximum + self.margin

    def quoted(self) -> str:
        """How prose quotes it: ``0.62 to 1.00 over 8 trajectories`` (``held in 7 of 8 trajectories``), and a
        figure that every trajectory gave alike (to the shown precision) as ``0.98 in every one of 11 trajectories``.

        A count (whole numbers, reaching 2 or more: no score does) is quoted in whole numbers.

        >>> Measured("f", "figure", 11, 0.979, 0.979, 0.981, 0).quoted()
        '0.98 in every one of 11 trajectories'
        >>> Measured("decided", "figure", 5, 0.0, 1.0, 3.0, 0).quoted()
        '0 to 3 over 5 trajectories'
        """
        if self.kind == "tendency":
            return f"held in {self.held} of {self.trajectories} trajectories"
        ends = (self.minimum, self.maximum)
        digits = 0 if self.maximum >= 2 and all(float(end).is_integer() for end in ends) else 2
        if _shown(self.minimum, digits) == _shown(self.maximum, digits):
            return f"{_shown(self.minimum, digits)} in every one of {self.trajectories} trajectories"
        return f"{span(*ends, digits=digits)} over {self.trajectories} trajectories"


def span(low: float, high: float, digits: int = 2, alike: str = "") -> str:
    """A range as prose and tables show it: ``0.62 to 1.00``; where both ends read the same at ``digits``, the one
    value (with ``alike`` after it, saying why), never "1.00 to 1.00".

    Taught in ``06_results`` (bootstrap intervals) and ``08_protocols``.

    Args:
        low: the lower end.
        high: the upper end.
        digits: decimals shown.
        alike: what follows a one-value range, for example ``" (every resample)"``.

    >>> span(0.6234, 1.0), span(1.0, 1.0, 3, " (every resample)")
    ('0.62 to 1.00', '1.000 (every resample)')
    """
    if _shown(low, digits) == _shown(high, digits):
        return f"{_shown(low, digits)}{alike}"
    return f"{_shown(low, digits)} to {_shown(high, digits)}"


def against_reference(low: float, high: float, reference: float) -> str:
    """The verdict of a bootstrap interval against a reference value (another protocol's figure): ``"different"``
    where the interval excludes it, else ``"not distinguishable on this cohort"``.

    Taught in ``08_protocols``, whose summary is written from these verdicts, not typed in.

    Args:
        low: the interval's lower end (NaN: undefined, so nothing is distinguished).
        high: its upper end.
        reference: the value it is read against.

    >>> against_reference(0.70, 0.90, 0.95), against_reference(0.70, 0.90, 0.80)
    ('different', 'not distinguishable on this cohort')
    """
    if math.isnan(low) or math.isnan(high):
        return "not distinguishable on this cohort"
    return "different" if reference < low or reference > high else "not distinguishable on this cohort"


def margin(minimum: float, maximum: float) -> float:
    """The stated margin around a measured range.

    >>> round(margin(0.8, 1.0), 3), round(margin(0.2, 1.0), 3)
    (0.05, 0.2)
    """
    return max(MARGIN_FLOOR, MARGIN_SHARE * (maximum - minimum))


def measured(key: str, table: Path | None = None) -> Measured | None:
    """The measured row of ``key``, or ``None`` when the table has none."""
    rows = _table(str(table or MEASURED_TABLE))
    if key not in rows.index:
        return None
    row = rows.loc[key]
    return Measured(key, row["kind"], int(row["trajectories"]), float(row["minimum"]), float(row["median"]),
                    float(row["maximum"]), int(row["held"]) if not pd.isna(row["held"]) else 0)


def expect(key: str, value: float, applies: bool = True, meaning: str = "", digits: int = 3) -> None:
    """Show a figure beside the range it took over the measured trajectories; outside it, say so plainly.

    Taught in ``01_data_exploration``; a "What you should see" box is followed by one call per promised figure. It
    never raises: a figure outside the range is one more trajectory, not a broken course.

    Args:
        key: the figure's row in :data:`MEASURED_TABLE`, also how it is shown (``"04 r3d_18: test macro F1"``).
        value: the figure this run computed.
        applies: whether the measured setting is this run's (the ``fast`` preset and the notebook's defaults; any
            seed). Elsewhere the figure is shown and recorded as not comparable.
        meaning: what a figure outside the range most likely means here, added to the generic explanation.
        digits: decimals shown (0 for a count: "2 runs", not "2.000").

    It returns nothing, so a cell that ends with it shows the box and no stray ``np.float64(...)`` after it.

    >>> expect("a figure nobody measured", 0.9)
    a figure nobody measured = 0.900 (no measured range: run brainclf expectations)
    """
    row = measured(key) if applies else None
    shown, within = f"{key} = {value:.{digits}f}", (lambda: span(row.minimum, row.maximum, digits=min(digits, 2)))
    if not applies:
        text, verdict = f"{shown} (measured for the fast preset's defaults only: not compared)", "other"
    elif row is None:
        text, verdict = f"{shown} (no measured range: run brainclf expectations)", "unmeasured"
    elif math.isnan(value):  # nothing to compute it on in this run (07: every map of a model empty)
        text, verdict = (f"{key}: no value in this run (NaN: {meaning or 'nothing here to compute it on'}); measured "
                         f"{within()} over {row.trajectories} trajectories"), "no value"
    elif row.low <= value <= row.high:
        text, verdict = (f"{shown} (expected {within()} ± {row.margin:.2f}, "
                         f"measured over {row.trajectories} trajectories; as expected)"), "inside"
    else:
        text, verdict = (f"{shown}: OUTSIDE the {within()} (± {row.margin:.2f}) "
                         f"measured over {row.trajectories} trajectories. {_OUTSIDE} {meaning}".rstrip()), "outside"
    # NaN is no JSON: the record says null, which the measurement reads back as NaN
    recorded = None if math.isnan(float(value)) else float(value)
    _show(text, verdict, {"key": key, "kind": "figure", "value": recorded, "applies": applies, "verdict": verdict})


def tendency(key: str, holds: bool, applies: bool = True) -> None:
    """Show whether a claim about results held in this run, beside how often it held over the measured trajectories.

    Taught in ``06_results``. "Pre-training helps" or "the accumulated matrix cannot beat the chosen epoch" are
    tendencies, not laws: on a fold of 24 subjects they can fail on any one trajectory, and the count says how
    much weight they bear.

    Args:
        key: the claim, as :data:`MEASURED_TABLE` names it.
        holds: whether it held in this run.
        applies: whether the measured setting is this run's.

    >>> tendency("a claim nobody measured", True)
    a claim nobody measured: holds in this run (not measured: run brainclf expectations)
    """
    row = measured(key) if applies else None
    here = "holds in this run" if holds else "does NOT hold in this run"
    if not applies:
        text = f"{key}: {here} (measured for the fast preset's defaults only: not compared)"
    elif row is None:
        text = f"{key}: {here} (not measured: run brainclf expectations)"
    else:
        text = f"{key}: {here}; it {row.quoted()} measured"
    # green only when it held; a failure it also had on measured trajectories is grey (noise it is known to have),
    # one it never had is yellow
    verdict = "inside" if holds else "unmeasured" if row is None else "seen before" if row.held < row.trajectories \
        else "outside"
    _show(text, verdict, {"key": key, "kind": "tendency", "value": float(holds), "applies": applies, "verdict": verdict})


def measured_table(table: Path | None = None) -> pd.DataFrame:
    """The shipped table of expected figures and tendencies, a row each.

    Taught in ``08_protocols``, where each deviation's effect is read against its measured spread.

    Args:
        table: another table than the shipped one.
    """
    return _table(str(table or MEASURED_TABLE)).reset_index()


@lru_cache(maxsize=4)
def _table(path: str) -> pd.DataFrame:
    file = Path(path)
    if not file.exists():
        return pd.DataFrame(columns=["kind", "trajectories", "minimum", "median", "maximum", "held"],
                            index=pd.Index([], name="key"))
    return pd.read_csv(file).set_index("key")


def _shown(value: float, digits: int) -> str:
    """``value`` at ``digits`` decimals, without a sign on zero (``-0.00`` reads as ``0.00``)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _show(text: str, verdict: str, record: dict) -> None:
    """Plain text where no kernel runs (doctests, scripts); in a notebook, HTML, the text, and the record."""
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        print(text)
        return
    style = {"outside": "background:#fff3cd;border-left:4px solid #d9822b",
             "inside": "background:#eef6ee;border-left:4px solid #4c9a4c"}.get(verdict, "background:#f3f3f3;border-left:4px solid #999")
    html = f"<div style='{style};padding:0.4em 0.8em;margin:0.3em 0;font-family:monospace'>{escape(text)}</div>"
    display({"text/plain": text, "text/html": html, RECORD_MIME: record}, raw=True)
