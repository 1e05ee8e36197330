"""Tables in the layout of the RRS paper's Table 3, as Markdown, CSV and LaTeX.

Input: ``{method name: {modality: EvalResult}}`` (a list of ``EvalResult`` per method works too; each is
filed under its own ``modality``). Row order is the mapping's order. One row should be the baseline,
named ``"vanilla"`` by default.

Columns: ASR and NSI for audio-text, text-only and audio-only, then ORR and Avg. NSI, all in percent.

* ``ORR_m`` (a method's ORR in modality ``m``) is the ORR measured in ``m``. A modality evaluated without a
  benign set borrows the mean of the method's measured ORRs. The paper measures one ORR per model and uses
  it in every modality; this is that case.
* The ORR column is the mean of the method's measured ``ORR_m``.
* ``NSI_m = (ASR_m[vanilla] − ASR_m) − (ORR_m − ORR_m[vanilla])``.
* ``Avg. NSI`` is the plain mean of ``NSI_m`` over the modalities where both the method and the baseline
  have an ASR.

With one ORR per model these reproduce the paper's numbers. For Qwen2-Audio SFT-shallow-mirror:
``(28.11 − 2.63) − (10.11 − 1.31) = 16.68``, and so on, with Avg. NSI ``(16.68 + 0.70 − 3.94) / 3 = 4.48``.

A missing ASR prints as ``N/A``. The baseline's own NSI prints as ``-``. The caption names the judge or
judges behind the numbers and the samples per query.

``write_report`` writes these files:

* ``table3.{md,csv,tex}``: the table above.
* ``table2.md``: the paper's Table 2 layout (ASR per modality, ORR, Avg. NSI) for the baseline and the
  methods whose names start with one of ``table2_prefixes``, in any case (default ``sft-``: the SFT
  strategies). Written only when at least one method matches.
* ``by_modality.csv``: one row per method × modality, with ASR, ORR, NSI, counts, samples and judge.
* ``per_category.csv``: ASR and ORR per method × modality × category.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rrs.evaluation.metrics import EvalResult
from rrs.models.base import MODALITIES
from rrs.store import atomic_write

Results = Mapping[str, Mapping[str, EvalResult] | Sequence[EvalResult]]
TABLE_COLUMNS: tuple[str, ...] = (
    "method",
    *(f"{kind}_{m.replace('-', '_')}" for m in MODALITIES for kind in ("asr", "nsi")),
    "orr",
    "avg_nsi",
)


def normalise(results: Results) -> dict[str, dict[str, EvalResult]]:
    out: dict[str, dict[str, EvalResult]] = {}
    for method, value in results.items():
        if isinstance(value, Mapping):
            per = dict(value)
            for modality, result in per.items():
                if modality != result.modality:
                    raise ValueError(f"{method}: a {result.modality} result is filed under {modality!r}")
        else:
            per = {}
            for result in value:
                if result.modality in per:
                    raise ValueError(f"{method}: two results for {result.modality}")
                per[result.modality] = result
        out[str(method)] = per
    return out


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def orr_by_modality(per: Mapping[str, EvalResult]) -> dict[str, float | None]:
    """ORR per modality: measured where a benign set was run, else the mean of the measured ones."""
    measured = {m: r.orr for m, r in per.items() if r.orr is not None}
    fallback = _mean(list(measured.values()))
    return {m: measured.get(m, fallback if m in per else None) for m in MODALITIES}


def _nsi(base: Mapping[str, EvalResult] | None, per: Mapping[str, EvalResult], modality: str) -> float | None:
    if base is None or modality not in base or modality not in per:
        return None
    b_asr, m_asr = base[modality].asr, per[modality].asr
    b_orr, m_orr = orr_by_modality(base)[modality], orr_by_modality(per)[modality]
    if None in (b_asr, m_asr, b_orr, m_orr):
        return None
    return (b_asr - m_asr) - (m_orr - b_orr)  # type: ignore[operator]


def table_rows(results: Results, baseline: str = "vanilla") -> list[dict[str, Any]]:
    """The Table 3 rows: ``method``, ``asr_<modality>``, ``nsi_<modality>``, ``orr``, ``avg_nsi`` (None = n/a)."""
    data = normalise(results)
    base = data.get(baseline)
    rows = []
    for method, per in data.items():
        row: dict[str, Any] = {"method": method}
        nsis = []
        for m in MODALITIES:
            col = m.replace("-", "_")
            row[f"asr_{col}"] = per[m].asr if m in per else None
            value = None if method == baseline else _nsi(base, per, m)
            row[f"nsi_{col}"] = value
            if value is not None:
                nsis.append(value)
        row["orr"] = _mean([r.orr for r in per.values() if r.orr is not None])
        row["avg_nsi"] = _mean(nsis)
        rows.append(row)
    return rows


def modality_rows(results: Results, baseline: str = "vanilla") -> list[dict[str, Any]]:
    data = normalise(results)
    base = data.get(baseline)
    rows = []
    for method, per in data.items():
        for m, r in per.items():
            rows.append({
                "method": method, "modality": m, "asr": r.asr, "orr": r.orr,
                "nsi": None if method == baseline else _nsi(base, per, m),
                "n_harmful": r.n_harmful, "n_benign": r.n_benign, "samples": r.samples, "judge": r.judge,
            })
    return rows


def category_rows(results: Results) -> list[dict[str, Any]]:
    rows = []
    for method, per in normalise(results).items():
        for m, r in per.items():
            for category, stats in r.per_category.items():
                rows.append({"method": method, "modality": m, "category": category, **stats})
    return rows


def caption(results: Results, baseline: str = "vanilla") -> str:
    data = normalise(results)
    judges = sorted({r.judge for per in data.values() for r in per.values()})
    samples = sorted({r.samples for per in data.values() for r in per.values()})
    nsi_text = (
        f"NSI = ΔASR − ΔORR versus the {baseline!r} row in each modality; Avg. NSI is their mean"
        if baseline in data else f"no {baseline!r} row, so no NSI"
    )
    return (
        f"ASR and ORR in % (judge: {', '.join(judges) or 'none'}; "
        f"{'/'.join(map(str, samples)) or '?'} sampled responses per query). {nsi_text}."
    )


# ---- formats ----------------------------------------------------------------------------------
def _fmt(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:.2f}"


def _cells(row: Mapping[str, Any], baseline: str) -> list[str]:
    out = []
    for m in MODALITIES:
        col = m.replace("-", "_")
        out.append(_fmt(row[f"asr_{col}"], "N/A"))
        out.append(_fmt(row[f"nsi_{col}"], "N/A" if row[f"asr_{col}"] is None else "-"))
    out.append(_fmt(row["orr"], "N/A"))
    out.append(_fmt(row["avg_nsi"], "-"))
    return out


def to_markdown(rows: Sequence[Mapping[str, Any]], text: str, baseline: str = "vanilla") -> str:
    head = ["Method"]
    for m in MODALITIES:
        head += [f"ASR {m} ↓", f"NSI {m} ↑"]
    head += ["ORR ↓", "Avg. NSI ↑"]
    lines = [f"**Table 3.** {text}", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in rows:
        name = str(row["method"]).replace("|", "\\|")
        lines.append("| " + " | ".join([name, *_cells(row, baseline)]) + " |")
    return "\n".join(lines) + "\n"


def table2_markdown(rows: Sequence[Mapping[str, Any]], text: str) -> str:
    """The paper's Table 2 layout (the SFT strategies): ASR per modality, ORR and Avg. NSI, no per-modality NSI."""
    head = ["Strategy", *(f"ASR {m} ↓" for m in MODALITIES), "ORR ↓", "Avg. NSI ↑"]
    lines = [f"**Table 2.** {text}", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in rows:
        cells = [_fmt(row[f"asr_{m.replace('-', '_')}"], "N/A") for m in MODALITIES]
        cells += [_fmt(row["orr"], "N/A"), _fmt(row["avg_nsi"], "-")]
        lines.append("| " + " | ".join([str(row["method"]).replace("|", "\\|"), *cells]) + " |")
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
             "Δ": r"$\Delta$", "−": "-"}
    return "".join(table.get(ch, ch) for ch in text)


def to_latex(rows: Sequence[Mapping[str, Any]], text: str, baseline: str = "vanilla") -> str:
    groups = " & ".join(rf"\multicolumn{{2}}{{c}}{{{m.capitalize()}}}" for m in MODALITIES)
    cols = " & ".join([r"ASR $\downarrow$ & NSI $\uparrow$"] * len(MODALITIES))
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_escape(text)}}}",
        r"\label{tab:safety}",
        r"\begin{tabular}{l" + "r" * (2 * len(MODALITIES) + 2) + "}",
        r"\toprule",
        rf" & {groups} & Over-rejection & \\",
        rf"Method & {cols} & ORR $\downarrow$ & Avg. NSI $\uparrow$ \\",
        r"\midrule",
    ]
    for row in rows:
        lines.append(" & ".join([_latex_escape(str(row["method"])), *_cells(row, baseline)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else _csv_value(row[k])) for k in columns})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def write_report(results: Results, out_dir: str | os.PathLike, *, baseline: str = "vanilla",
                 table2_prefixes: Sequence[str] = ("sft-",)) -> dict[str, Path]:
    """Write Table 3 (Markdown, CSV, LaTeX), Table 2 (Markdown) and the by-modality and per-category CSVs;
    return their paths."""
    out = Path(out_dir)
    rows = table_rows(results, baseline)
    text = caption(results, baseline)
    prefixes = tuple(p.lower() for p in table2_prefixes)
    sft_rows = [r for r in rows if r["method"] == baseline or str(r["method"]).lower().startswith(prefixes)]
    files = {
        "markdown": (out / "table3.md", to_markdown(rows, text, baseline)),
        "csv": (out / "table3.csv", to_csv(rows, TABLE_COLUMNS)),
        "latex": (out / "table3.tex", to_latex(rows, text, baseline)),
        "by_modality": (out / "by_modality.csv", to_csv(
            modality_rows(results, baseline),
            ("method", "modality", "asr", "orr", "nsi", "n_harmful", "n_benign", "samples", "judge"))),
        "per_category": (out / "per_category.csv", to_csv(
            category_rows(results), ("method", "modality", "category", "n_harmful", "asr", "n_benign", "orr"))),
    }
    if any(r["method"] != baseline for r in sft_rows):
        files["table2"] = (out / "table2.md", table2_markdown(sft_rows, text))
    paths = {}
    for key, (path, content) in files.items():
        paths[key] = atomic_write(path, lambda tmp, c=content: Path(tmp).write_text(c, encoding="utf-8"))
    return paths
