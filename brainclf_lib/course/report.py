"""The HTML report a results notebook writes: a page to read as a results section, which opens offline."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

import pandas as pd
import plotly.graph_objects as go

from ..files import atomic_write
from ..paths import PathLike
from .tables import table_number


def write_report(path: PathLike, title: str, tables: dict[str, pd.DataFrame], figures: dict[str, go.Figure],
                 about: str = "", captions: dict[str, str] | None = None, best: dict[str, Sequence[str]] | None = None,
                 environment: dict | None = None) -> None:
    """A self-contained HTML report to read as a results section: a title and what it covers, each table formatted
    (3 decimals, the best of each marked column in bold), each figure with its caption, the environment at the foot.
    Plotly's JavaScript is embedded once, so it opens offline.

    Taught in ``06_results``.

    Args:
        path: the HTML file written (atomically).
        title: the page's title.
        tables: heading -> table.
        figures: heading -> figure.
        about: one paragraph under the title: the run set, the preset, the method, the date.
        captions: heading (of a table or a figure) -> its caption.
        best: heading of a table -> the columns whose highest value is marked (a leading number, as in
            ``"0.912 ± 0.030"``, is what counts).
        environment: versions and device (``experiment.device.environment``), listed at the foot.
    """
    captions, best = captions or {}, best or {}
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_REPORT_CSS}</style></head><body><main><h1>{escape(title)}</h1>"]
    if about:
        parts.append(f"<p class='about'>{about}</p>")
    for name, table in tables.items():
        parts.append(f"<section><h2>{escape(name)}</h2>{_caption(captions.get(name))}"
                     f"<div class='scroll'>{_table_html(table, best.get(name, ()))}</div></section>")
    for i, (name, figure) in enumerate(figures.items()):
        drawn = figure.to_html(full_html=False, include_plotlyjs=i == 0, include_mathjax=False)
        parts.append(f"<section><h2>{escape(name)}</h2><figure>{drawn}"
                     f"<figcaption>{captions.get(name, escape(name))}</figcaption></figure></section>")
    if environment:
        rows = "".join(f"<tr><th>{escape(str(key))}</th><td>{escape(str(value))}</td></tr>"
                       for key, value in _flatten(environment).items())
        parts.append(f"<footer><h2>Environment</h2><table class='environment'>{rows}</table></footer>")
    html = "\n".join(parts + ["</main></body></html>"])
    atomic_write(path, lambda tmp: tmp.write_text(html))


_REPORT_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #fafafa; }
main { max-width: 1150px; margin: 2em auto; padding: 0 1.5em; background: #fff; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
p.about { color: #555; } p.caption, figcaption { color: #555; font-size: 0.92em; margin: 0.3em 0 0.8em; }
table { border-collapse: collapse; font-size: 0.88em; font-variant-numeric: tabular-nums; margin: 0.5em 0; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; text-align: center; } td:first-child, th:first-child { text-align: left; }
tbody tr:nth-child(even) { background: #fbfbfb; } td.best { font-weight: 700; }
td.text { white-space: normal; min-width: 16em; text-align: left; overflow-wrap: anywhere; } thead th { white-space: normal; }
figure { margin: 0; } footer table td, footer table th { text-align: left; } div.scroll { overflow-x: auto; }
"""


def _caption(text: str | None) -> str:
    return f"<p class='caption'>{text}</p>" if text else ""


def _leading_number(value: object) -> float:
    match = re.match(r"\s*(-?\d+(?:\.\d+)?)", str(value))
    return float(match[1]) if match else float("nan")


def _table_html(table: pd.DataFrame, best: Sequence[str]) -> str:
    def mark(column: pd.Series) -> list[str]:
        prose = ["text" if len(str(value)) > 24 else "" for value in column]  # long text wraps, numbers do not
        if column.name not in best:
            return prose
        values = column.map(_leading_number)
        return [("best " + text).strip() if value == values.max() else text for value, text in zip(values, prose, strict=True)]

    if table.index.names != [None] or not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()  # an index that names the rows (a variant, a deviation) is a column to show
    numbers = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    styled = table.style.hide(axis="index").format(table_number, subset=numbers, na_rep="n/a")  # as the notebooks show them
    styled = styled.set_td_classes(pd.DataFrame({c: mark(table[c]) for c in table.columns}, index=table.index))
    return styled.to_html()


def _flatten(values: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key} "))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
