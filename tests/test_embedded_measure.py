"""The embedded model's measurement: resumable report, cell order, Markdown tables."""

from __future__ import annotations

import pytest

from rrs.embedded.measure import markdown_tables


def test_measurement_report_refuses_other_settings_and_keeps_cells(tmp_path):
    from rrs.embedded.measure import Report, cell_plan

    path = tmp_path / "m.json"
    report = Report(path, {"n": 1})
    report.cell("a", lambda: {"x": 1})
    calls = []
    again = Report(path, {"n": 1})
    assert again.cell("a", lambda: calls.append(1) or {"x": 2})["x"] == 1 and not calls  # never recomputed
    with pytest.raises(ValueError, match="other settings"):
        Report(path, {"n": 2})
    assert path.read_text().count('"x": 1') == 1
    plan = cell_plan("embedded", ("text-only", "audio-text"), ("harmbench-vs-rho", "mirror-val"))
    assert plan[:3] == ["llm-alone/text-only/harmbench-vs-rho", "adapted/text-only/harmbench-vs-rho",
                        "adapted/audio-text/harmbench-vs-rho"]
    assert "llm-alone/text-only/harmbench-vs-rho/no-system-turn" not in plan  # the default is measured anyway
    assert "llm-alone/text-only/harmbench-vs-rho/template-default" in plan


def test_markdown_tables_show_n_and_intervals():
    cell = {"refusal_harmful": {"rate": 50.0, "n": 40, "ci": [35.0, 65.0]},
            "refusal_benign": {"rate": 2.5, "n": 40, "ci": [0.0, 7.5]},
            "first_token_auroc": {"auroc": 0.932, "ci": [0.875, 0.974], "n_harmful": 40, "n_benign": 40},
            "p_refuse_harmful": 0.39, "p_refuse_benign": 0.03}
    und = {"n_clips": 100, "repeat_wer": 0.15, "frontend_transcript_wer": 0.12, "faster_whisper_wer": 0.14,
           "n_harmful_clips": 80, "harmful_repeat_wer": 0.25, "harmful_frontend_wer": 0.2}
    text = markdown_tables({"cells": {"adapted/audio-text/mirror-val": cell, "adapted/understanding": und}})
    assert "| adapted | audio-text | mirror-val | 50.0 [35.0, 65.0] (n 40) | 2.5 [0.0, 7.5] (n 40) | 0.932" in text
    assert "| held-out benign questions | 100 | 15.0% | 12.0% | 14.0% |" in text
