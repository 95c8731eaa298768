"""spndl compare and the report's front page, on the published snapshot's tables."""

import re
from pathlib import Path

import pandas as pd
import pytest

from spndl.cli import main
from spndl.data.records import DataError
from spndl.report.compare import claim_rows, load_results, table_rows
from spndl.report.front_page import front_page
from spndl.report.paper import ABLATION, TABLES

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "results/synthetic_full"


def test_every_reproduced_row_of_tables_1_to_4_gets_the_papers_number_and_each_folders_interval():
    snap = load_results(SNAPSHOT)
    rows = table_rows(snap, snap)
    paper_rows = [r for t in TABLES.values() for r in t["rows"] if r[4]]
    assert len(rows) == len(paper_rows) + 2 * len(ABLATION)
    assert rows.loc[rows["table"] == "1", "paper"].tolist() == [r[2] for r in TABLES["table1"]["rows"] if r[4]]
    # The means and intervals are the tables' own (Table 1's CSV), and the same folder twice matches itself.
    t1 = pd.read_csv(SNAPSHOT / "tables/table1.csv").query("source == 'reproduced'")
    ours = rows[rows["table"] == "1"]
    assert ours["this_mean"].tolist() == pytest.approx(t1["reproduced_mean"].tolist())
    assert ours["this_ci_low"].tolist() == pytest.approx(t1["reproduced_ci_low"].tolist())
    assert (rows["this_mean"] == rows["other_mean"]).all() and (rows["this_runs"] == 10).sum() >= 14
    claims = claim_rows(snap, snap)
    assert len(claims) == 16 and (claims["this_verdict"] == claims["other_verdict"]).all()


def test_the_comparison_prints_both_folders_with_intervals_and_says_synthetic(tmp_path, capsys):
    out = tmp_path / "cmp.md"
    assert main(["compare", str(SNAPSHOT), "--with", str(SNAPSHOT), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text == out.read_text()
    assert "| 1 | CK+ | Baseline (ResNet-18) | 97.55 | 51.25 [41.38, 61.12] (10) | 51.25 [41.38, 61.12] (10) |" in text
    assert "SYNTHETIC data show the implementation at work" in text
    assert re.search(r"\| NDFs improve on the baseline \(ndf > baseline\) \| CK\+ \| \+1\.74 \| \+15\.16 \[\+4\.0\d, "
                     r"\+26\.3\d\] \(10\) \| not significant \|", text)


def test_a_folder_without_tables_is_named(tmp_path):
    with pytest.raises(DataError, match=r"tables/per_fold.csv: unreadable"):
        load_results(tmp_path)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables/per_fold.csv").write_text("dataset,variant\nckplus,baseline\n")
    with pytest.raises(DataError, match=r"per_fold.csv: not a table of spndl tables \(no column fold"):
        load_results(tmp_path)


def test_the_front_page_opens_with_this_configuration_and_labels_the_snapshot():
    from docutils.core import publish_parts

    snap = load_results(SNAPSHOT)
    mine = load_results(SNAPSHOT, "mine")
    page = front_page(mine, {"name": "mine", "preset": "synthetic_full", "source": "synthetic"}, snap)
    assert page.startswith("{% raw %}") and page.rstrip().endswith("{% endraw %}")
    body = page.removeprefix("{% raw %}\n").rstrip().removesuffix("{% endraw %}")
    assert body.index("**This report: configuration mine**") < body.index("**Its claims**") < \
        body.index("**Tables 1-4 against the paper**") < body.index("**The published snapshot's claims**")
    html = publish_parts(body, writer="html", settings_overrides={"report_level": 2, "halt_level": 2})["html_body"]
    assert html.count("<table") == 3 and "mine [95%] (runs)" in html and "Snapshot [95%] (runs)" in html
    # Each verdict stands beside the training budget it holds under, in both claims tables.
    assert html.count(">Budget</th>") == 2 and body.count(" epochs") >= 2 * len(snap.claims)
    assert all(b in body for b in snap.claims["budget"])
