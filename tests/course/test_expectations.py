"""Expected figures come from a measured table, are shown beside their range, and never stop a notebook; prose
quotes the table."""

import json
import math
import re

import pandas as pd

import brainclf_lib.course.expectations as expectations
from brainclf_lib.course.expectations import MEASURED_TABLE, expect, margin, measured, measured_table, tendency
from brainclf_lib.course.measurement import (
    TRAJECTORIES,
    harvest,
    quoted_range_mismatches,
    summarise,
    write_quoted_ranges,
)


def _table(tmp_path, monkeypatch):
    path = tmp_path / "expectations.csv"
    pd.DataFrame([
        {"key": "04 r3d_18: test macro F1", "kind": "figure", "trajectories": 8, "minimum": 0.7, "median": 0.85,
         "maximum": 0.95, "held": None},
        {"key": "06: pre-training helps", "kind": "tendency", "trajectories": 8, "minimum": 0, "median": 1,
         "maximum": 1, "held": 5},
    ]).to_csv(path, index=False)
    monkeypatch.setattr(expectations, "MEASURED_TABLE", path)
    return path


def test_a_figure_is_shown_beside_its_measured_range_and_outside_it_nothing_raises(tmp_path, monkeypatch, capsys):
    _table(tmp_path, monkeypatch)
    assert expect("04 r3d_18: test macro F1", 0.9) is None  # a cell ending with it shows no stray value
    assert "expected 0.70 to 0.95 ± 0.06, measured over 8 trajectories; as expected" in capsys.readouterr().out
    expect("04 r3d_18: test macro F1", 0.66)  # inside the stated margin
    assert "as expected" in capsys.readouterr().out
    expect("04 r3d_18: test macro F1", 0.4)
    out = capsys.readouterr().out
    assert "OUTSIDE the 0.70 to 0.95 (± 0.06) measured over 8 trajectories" in out and "another CPU" in out
    # no value at all (07: every map of a model empty) is said as such, not blamed on another trajectory
    expect("04 r3d_18: test macro F1", math.nan, meaning="every map empty")
    out = capsys.readouterr().out
    assert "no value in this run (NaN: every map empty); measured 0.70 to 0.95 over 8" in out and "another CPU" not in out
    expect("04 r3d_18: test macro F1", 0.1, applies=False)
    assert "not compared" in capsys.readouterr().out


def test_a_tendency_says_how_often_it_held(tmp_path, monkeypatch, capsys):
    _table(tmp_path, monkeypatch)
    tendency("06: pre-training helps", False)
    assert capsys.readouterr().out.strip() == ("06: pre-training helps: does NOT hold in this run; it held in 5 of 8 "
                                               "trajectories measured")
    assert measured("06: pre-training helps").quoted() == "held in 5 of 8 trajectories"


def test_the_margin_is_a_quarter_of_the_spread_and_at_least_005():
    assert margin(0.9, 1.0) == 0.05 and math.isclose(margin(0.2, 1.0), 0.2)


def test_the_measurement_summarises_records_per_key_over_trajectories(tmp_path):
    observations = pd.DataFrame([
        {"trajectory": f"seed={s}", "notebook": "04_train-r3d", "key": "04 r3d_18: test macro F1", "kind": "figure",
         "value": v} for s, v in enumerate((0.8, 0.9, 1.0))
    ] + [{"trajectory": f"seed={s}", "notebook": "06_results", "key": "06: claim", "kind": "tendency", "value": v}
         for s, v in enumerate((1.0, 0.0, 1.0))])
    table = summarise(observations).set_index("key")
    assert table.loc["04 r3d_18: test macro F1", ["trajectories", "minimum", "median", "maximum"]].tolist() == [3, 0.8, 0.9, 1.0]
    assert table.loc["06: claim", "held"] == 2 and table.loc["06: claim", "covered"] == "seed=0; seed=1; seed=2"


def test_quoted_ranges_are_rewritten_from_the_table_and_a_stale_one_is_reported(tmp_path, monkeypatch):
    table = _table(tmp_path, monkeypatch)
    page = tmp_path / "page.md"
    page.write_text("macro F1 <!-- range: 04 r3d_18: test macro F1 -->0.6 to 1.0<!-- /range --> here")
    assert quoted_range_mismatches(table, [page]) == [
        "page.md: 04 r3d_18: test macro F1: quoted '0.6 to 1.0', measured '0.70 to 0.95 over 8 trajectories'"]
    assert write_quoted_ranges(table, [page]) == [page]
    assert page.read_text() == "macro F1 <!-- range: 04 r3d_18: test macro F1 -->0.70 to 0.95 over 8 trajectories<!-- /range --> here"
    assert quoted_range_mismatches(table, [page]) == []


def test_every_range_the_course_and_readme_quote_is_the_shipped_tables():
    assert MEASURED_TABLE.exists(), "benchmarks/results/expectations_fast.csv: run brainclf expectations"
    assert quoted_range_mismatches() == []
    table = measured_table()
    # six: the shipped table of generator version 6, seeds 0 to 3 and two float paths (README, "What the shipped table
    # covers"); make expectations measures eleven, and a range over fewer than six would promise too little
    assert (table["trajectories"] >= 6).all(), "every expected figure rests on at least 6 trajectories"
    assert table["covered"].str.count(";").add(1).eq(table["trajectories"]).all()
    covered = {spec for specs in table["covered"] for spec in specs.split("; ")}
    assert covered <= set(TRAJECTORIES), "make expectations re-measures every trajectory the table covers"
    assert set(table["kind"]) <= {"figure", "tendency"}


def test_harvest_reads_only_the_records_whose_setting_was_measured(tmp_path):
    import nbformat

    record = {"key": "k", "kind": "figure", "value": 0.5}
    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.v4.new_output("display_data", data={expectations.RECORD_MIME: {**record, "applies": True}}),
                    nbformat.v4.new_output("display_data", data={expectations.RECORD_MIME: {**record, "applies": False}})]
    book.cells = [cell]
    nbformat.write(book, tmp_path / "06_results.ipynb")
    assert harvest(tmp_path) == [{"notebook": "06_results", "key": "k", "kind": "figure", "value": 0.5}]


def test_no_quoted_range_starts_a_line():
    """Markdown takes a line that starts with ``<!--`` for an HTML block and ends the paragraph before it."""
    from brainclf_lib.course.measurement import _quoting_files

    starts = [f"{path.name}: {line.strip()[:60]}" for path in _quoting_files()
              for line in (path.read_text() if path.suffix == ".md" else "\n".join(
                  "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown")
              ).splitlines() if re.match(r"\s*<!-- range:", line)]
    assert not starts, starts


def test_a_range_from_a_value_to_itself_is_quoted_as_the_one_value():
    """Issue #35, item 5: "0.98 to 0.98 over 11 trajectories" and "1.000 to 1.000" read as a range that is none."""
    from brainclf_lib.course.expectations import Measured, against_reference, span

    same = Measured("k", "figure", 11, 0.9791, 0.9791, 0.9793, 0)
    assert same.quoted() == "0.98 in every one of 11 trajectories"
    assert Measured("k", "figure", 8, 0.62, 0.8, 1.0, 0).quoted() == "0.62 to 1.00 over 8 trajectories"
    assert span(1.0, 1.0, 3) == "1.000" and span(0.9996, 1.0, 3, " (every resample)") == "1.000 (every resample)"
    assert span(-0.001, 0.001) == "0.00" and span(0.5, 0.75) == "0.50 to 0.75"
    assert against_reference(0.7, 0.9, 0.95) == "different"
    assert against_reference(0.7, 0.9, 0.9) == against_reference(float("nan"), 0.9, 0.2) == "not distinguishable on this cohort"


def test_expect_never_shows_a_range_from_a_value_to_itself(capsys, monkeypatch):
    from brainclf_lib.course import expectations

    row = expectations.Measured("k", "figure", 11, 1.0, 1.0, 1.0, 0)
    monkeypatch.setattr(expectations, "measured", lambda key: row)
    expectations.expect("k", 1.0)
    expectations.expect("k", 0.5)
    shown = capsys.readouterr().out
    assert "1.00 to 1.00" not in shown and shown.count("1.00 ±") == 1 and "OUTSIDE the 1.00 (±" in shown


def test_a_nan_figure_leaves_a_json_record_that_reads_back_as_nan(monkeypatch, tmp_path):
    """07's attention ratio is NaN when a map is empty; its record held NaN, which is no JSON, and jupyter_client
    printed a warning with the machine's path into the page."""
    shown = []
    monkeypatch.setattr(expectations, "_show", lambda text, verdict, record: shown.append(record))
    expect("07 r3d_18: attention ratio", math.nan)
    text = json.dumps(shown[0], allow_nan=False)
    notebook = {"cells": [{"cell_type": "code", "outputs": [{"data": {expectations.RECORD_MIME: json.loads(text)}}]}]}
    (tmp_path / "07_explainability.ipynb").write_text(json.dumps(notebook))
    assert math.isnan(harvest(tmp_path)[0]["value"])
