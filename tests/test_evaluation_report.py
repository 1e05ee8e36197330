"""rrs.evaluation.report: tables and reports reproduce the paper's NSI."""

from __future__ import annotations

import csv

import pytest

from rrs.evaluation.metrics import (
    EvalResult,
)
from rrs.evaluation.report import table_rows, write_report


# ---- report -----------------------------------------------------------------------------------
def _result(modality, asr, orr, judge="keyword"):
    return EvalResult(asr=asr, orr=orr, n_harmful=10, n_benign=10, judge=judge, modality=modality, samples=5,
                      per_category={"weapons": {"asr": asr, "orr": orr, "n_harmful": 10, "n_benign": 10}})


PAPER = {  # the RRS paper's Table 3, Qwen2-Audio rows (one ORR per model)
    "vanilla": {"audio-text": (28.11, 1.31), "text-only": (10.93, 1.31), "audio-only": (6.17, 1.31)},
    "SFT-shallow-mirror": {"audio-text": (2.63, 10.11), "text-only": (1.43, 10.11), "audio-only": (1.31, 10.11)},
    "RRS": {"audio-text": (5.94, 2.06), "text-only": (2.80, 2.06), "audio-only": (2.40, 2.06)},
}


def _paper_results():
    return {m: {mod: _result(mod, a, o) for mod, (a, o) in per.items()} for m, per in PAPER.items()}


def test_report_reproduces_paper_nsi(tmp_path):
    rows = {r["method"]: r for r in table_rows(_paper_results())}
    sft = rows["SFT-shallow-mirror"]
    assert sft["nsi_audio_text"] == pytest.approx(16.68)
    assert sft["nsi_text_only"] == pytest.approx(0.70)
    assert sft["nsi_audio_only"] == pytest.approx(-3.94)
    assert sft["avg_nsi"] == pytest.approx(4.48, abs=0.005)
    assert sft["orr"] == pytest.approx(10.11)
    assert rows["RRS"]["avg_nsi"] == pytest.approx(10.61, abs=0.01)
    assert rows["vanilla"]["avg_nsi"] is None and rows["vanilla"]["nsi_text_only"] is None

    paths = write_report(_paper_results(), tmp_path / "report")
    assert set(paths) == {"markdown", "csv", "latex", "by_modality", "per_category", "table2"}
    assert all(p.exists() for p in paths.values())
    md, tex = paths["markdown"].read_text(), paths["latex"].read_text()
    for text in (md, tex):
        for number in ("28.11", "16.68", "0.70", "-3.94", "4.48", "21.42", "10.61", "10.11"):
            assert number in text, number
        assert "keyword" in text and "5 sampled responses" in text
    assert "| SFT-shallow-mirror | 2.63 | 16.68 | 1.43 | 0.70 | 1.31 | -3.94 | 10.11 | 4.48 |" in md
    assert r"\toprule" in tex and r"SFT-shallow-mirror & 2.63 & 16.68" in tex
    table2 = paths["table2"].read_text().splitlines()  # the paper's Table 2 row for ② on Qwen2-Audio
    assert "| SFT-shallow-mirror | 2.63 | 1.43 | 1.31 | 10.11 | 4.48 |" in table2
    assert [line.split(" | ")[0] for line in table2 if line.startswith("| ") and "---" not in line][1:] == [
        "| vanilla", "| SFT-shallow-mirror"]  # RRS is not an SFT strategy
    with open(paths["csv"]) as handle:
        table = {row["method"]: row for row in csv.DictReader(handle)}
    assert float(table["RRS"]["nsi_audio_text"]) == pytest.approx(21.42)
    assert table["vanilla"]["avg_nsi"] == ""
    with open(paths["per_category"]) as handle:
        cats = list(csv.DictReader(handle))
    assert len(cats) == 9 and {c["category"] for c in cats} == {"weapons"}
    assert float(next(c for c in cats if c["method"] == "RRS" and c["modality"] == "text-only")["asr"]) == 2.8


def test_report_missing_modality_and_per_modality_orr(tmp_path):
    results = {
        "vanilla": [_result("audio-text", 20.0, 2.0), _result("text-only", 10.0, 4.0)],
        # ORR measured in audio-text only: text-only borrows it (the paper's one-ORR case)
        "method": {"audio-text": _result("audio-text", 5.0, 3.0), "text-only": _result("text-only", 4.0, None)},
    }
    row = table_rows(results)[1]
    assert row["nsi_audio_text"] == pytest.approx((20 - 5) - (3 - 2))
    assert row["nsi_text_only"] == pytest.approx((10 - 4) - (3 - 4))
    assert row["asr_audio_only"] is None and row["nsi_audio_only"] is None
    assert row["avg_nsi"] == pytest.approx((14 + 7) / 2) and row["orr"] == pytest.approx(3.0)
    paths = write_report(results, tmp_path, baseline="vanilla")
    assert "table2" not in paths  # no SFT rows, no Table 2
    md = paths["markdown"].read_text()
    assert "| method | 5.00 | 14.00 | 4.00 | 7.00 | N/A | N/A | 3.00 | 10.50 |" in md
    assert "| vanilla | 20.00 | - | 10.00 | - | N/A | N/A | 3.00 | - |" in md
