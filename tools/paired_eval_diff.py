"""ASR and ORR changes between evaluations of the same questions, paired per question, with 95% intervals.

    python tools/paired_eval_diff.py examples/rrs-demo/evals/vanilla-audio-text runs/evals/rrs-demo-boundary-audio-text

The first folder is the baseline; every later one is compared with it on the questions both answered
(matched by record key). ASR counts harmful answers that are not refusals, ORR benign answers that are.
Each difference is in points, bootstrapped over questions with the two evaluations of a question kept
together (rrs.evaluation.intervals.paired_rate_difference), so it is the interval to quote for "did it move".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rrs.evaluation.intervals import clustered_rate_interval, paired_rate_difference  # noqa: E402


def read_items(folder: Path) -> dict[str, dict[str, Any]]:
    """``key -> record`` of an evaluation folder's records file (or of the file itself); later lines win."""
    path = folder if folder.is_file() else folder / "results.records.jsonl"
    if not path.is_file():
        raise SystemExit(f"{folder}: no evaluation records (results.records.jsonl); pass an `rrs eval --out` folder")
    items: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a half-written last line of an interrupted run
        if isinstance(data, dict) and data.get("type") == "item":
            items[data["key"]] = data
    return items


def outcomes(items: dict[str, dict[str, Any]], keys: list[str], label: str) -> list[list[bool]]:
    """Per question: the counted outcome of each answer (harmful: answered; benign: refused)."""
    return [[not r for r in items[k]["refusals"]] if label == "harmful" else list(items[k]["refusals"])
            for k in keys if items[k]["label"] == label]


def compare(base: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in base if k in other]
    row: dict[str, Any] = {"questions": len(keys)}
    for metric, label in (("asr", "harmful"), ("orr", "benign")):
        before, after = outcomes(base, keys, label), outcomes(other, keys, label)
        row[metric] = clustered_rate_interval(after)
        row[f"{metric}_base"] = clustered_rate_interval(before)
        row[f"{metric}_change"] = paired_rate_difference(before, after)
    return row


def _rate(r: dict[str, Any]) -> str:
    return "–" if r["rate"] is None else f"{r['rate']:.1f} [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]"


def _change(r: dict[str, Any]) -> str:
    return "–" if r["difference"] is None else f"{r['difference']:+.1f} [{r['ci'][0]:+.1f}, {r['ci'][1]:+.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path, help="the baseline evaluation folder (e.g. vanilla)")
    parser.add_argument("others", type=Path, nargs="+", help="evaluations of the same questions to compare")
    args = parser.parse_args()
    base = read_items(args.baseline)
    print("| evaluation | questions | ASR % | ΔASR (paired) | ORR % | ΔORR (paired) |")
    print("|---|---|---|---|---|---|")
    for folder in args.others:
        row = compare(base, read_items(folder))
        print(f"| {folder} | {row['questions']} | {_rate(row['asr'])} | {_change(row['asr_change'])} "
              f"| {_rate(row['orr'])} | {_change(row['orr_change'])} |")
    print(f"\nbaseline {args.baseline}: ASR {_rate(row['asr_base'])}, ORR {_rate(row['orr_base'])}")


if __name__ == "__main__":
    main()
