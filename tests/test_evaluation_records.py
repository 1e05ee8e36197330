"""rrs.evaluation.records: records of several ranks are read together and merged into one file, in order."""

from __future__ import annotations

import json

from rrs.evaluation.records import ItemRecord, merge_records, read_all_records, shard_path
from rrs.store import append_jsonl

HEADER = {"type": "header", "model": "m", "generation": {"samples": 1}}


def _item(key: str) -> dict:
    return {"type": "item", **ItemRecord(key, "harmful", 0, "q", "c", ["a"], [False], "keyword").to_dict()}


def test_shards_are_read_together_and_merged_in_order(tmp_path):
    path = tmp_path / "results.records.jsonl"
    append_jsonl(path, [HEADER, _item("k2")])
    append_jsonl(shard_path(path, 1), [HEADER, _item("k1")])
    with open(shard_path(path, 1), "a") as f:
        f.write('{"type": "item", "key": "k3"')  # a torn line from a killed rank is skipped
    assert sorted(read_all_records(path, HEADER)) == ["k1", "k2"]
    merge_records(path, HEADER, ["k1", "k2", "k3"])
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0] == HEADER and [x["key"] for x in lines[1:]] == ["k1", "k2"]
    assert not shard_path(path, 1).exists()
