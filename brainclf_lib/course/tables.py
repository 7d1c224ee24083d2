"""How the course's tables read on a page: one number format, a mean with its spread in one column, an interval in
one column."""

from __future__ import annotations

import pandas as pd

from .expectations import span


def table_number(value: float) -> str:
    """The course's one format for a number in a table: three decimals (a figure read to about ±0.03 needs no more,
    and 0.686610 beside 0.687 reads as two kinds of number); a value too small for three, a p-value say, keeps two
    significant digits instead of showing 0.000. ``brainclf_lib.course`` sets it as pandas' float format.

    >>> table_number(0.68661), table_number(0.00021), table_number(0.0)
    ('0.687', '0.00021', '0.000')
    """
    return f"{value:.2g}" if value and abs(value) < 0.0005 else f"{value:.3f}"


def mean_sd(table: pd.DataFrame, suffix: str = " std", digits: int = 3) -> pd.DataFrame:
    """Each column ``name`` that has a column ``name + suffix`` beside it becomes one column reading ``mean ± sd``:
    half the columns, so that the table fits a page, and each spread next to the figure it belongs to.

    Taught in ``06_results`` (the calibration table).

    Args:
        table: a table with ``name`` and ``name + suffix`` columns (other columns are kept as they are).
        suffix: what names a spread's column after its figure's.
        digits: the decimals of both numbers.

    >>> mean_sd(pd.DataFrame({"arch": ["r3d_18"], "LGG F1": [0.8412], "LGG F1 std": [0.045]}))["LGG F1"].tolist()
    ['0.841 ± 0.045']
    """
    merged = table.copy()
    for name in [column for column in table.columns if f"{column}{suffix}" in table.columns]:
        merged[name] = [f"{mean:.{digits}f} ± {sd:.{digits}f}" for mean, sd in zip(table[name], table[f"{name}{suffix}"], strict=True)]
        merged = merged.drop(columns=f"{name}{suffix}")
    return merged


def intervals(table: pd.DataFrame, low: str = " low", high: str = " high", digits: int = 3,
              label: str = " 95 % CI", alike: str = "") -> pd.DataFrame:
    """Each pair of columns ``name + low`` and ``name + high`` becomes one column ``name + label`` reading "a to b"
    (``expectations.span``: never "x to x"; ``alike`` follows a one-value interval), in the place of the pair: a table
    of intervals a page can hold.

    Taught in ``08_protocols`` (the protocols' report).

    Args:
        table: a table with ``name + low`` and ``name + high`` columns (other columns, and its index, are kept).
        low: what names an interval's lower end after its figure's.
        high: what names its upper end.
        digits: the decimals shown.
        label: what names the merged column after its figure's.
        alike: what follows an interval whose two ends read the same (``span``'s ``alike``).

    >>> intervals(pd.DataFrame({"macro F1": [0.6], "macro F1 low": [0.43], "macro F1 high": [0.78]})).columns.tolist()
    ['macro F1', 'macro F1 95 % CI']
    """
    merged = table.copy()
    for name in [c[: -len(low)] for c in table.columns if c.endswith(low) and f"{c[: -len(low)]}{high}" in table.columns]:
        merged.insert(merged.columns.get_loc(f"{name}{low}"), f"{name}{label}",
                      [span(a, b, digits, alike) for a, b in zip(table[f"{name}{low}"], table[f"{name}{high}"], strict=True)])
        merged = merged.drop(columns=[f"{name}{low}", f"{name}{high}"])
    return merged
