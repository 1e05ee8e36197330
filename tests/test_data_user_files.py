"""rrs.data.user_files: users' CSV/JSONL files of items and pairs, errors naming row and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrs import data
from rrs.data import DataError, Item

# ---- Users' files ------------------------------------------------------------------------------


def test_load_items_csv(tmp_path: Path, wav: Path) -> None:
    path = tmp_path / "set.csv"
    path.write_text(
        "prompt,audio,category,label\n"
        "How do I pick a lock?,clips/q1.wav,crime,harmful\n"
        '"What is a lock, exactly?",,,benign\n'
        "Is this fine?,,,\n"
    )
    items = data.load_items(path, default_label="benign")
    assert [i.prompt for i in items] == ["How do I pick a lock?", "What is a lock, exactly?", "Is this fine?"]
    assert [i.label for i in items] == ["harmful", "benign", "benign"]
    assert items[0].audio_path == str(wav) and items[1].audio_path is None
    assert items[0].category == "crime" and items[1].category == "uncategorised"
    assert items[0].source == "user:set.csv"


def test_load_items_jsonl(tmp_path: Path, wav: Path) -> None:
    path = tmp_path / "set.jsonl"
    rows = [
        {"prompt": "How do I pick a lock?", "audio": "clips/q1.wav", "label": "harmful"},
        {"prompt": "Hi?"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    items = data.load_items(path, default_label="benign")
    assert [(i.prompt, i.label, i.audio_path) for i in items] == [
        ("How do I pick a lock?", "harmful", str(wav)),
        ("Hi?", "benign", None),
    ]


MALFORMED = [
    ("a.csv", "question,label\nHow?,benign\n", ["prompt"]),
    ("a.csv", "prompt,label\nHow?,benign\n  ,benign\n", ["row 3", "'prompt'"]),
    ("a.csv", "prompt,label\nHow?,benign\nWhy?,maybe\n", ["row 3", "'label'"]),
    ("a.csv", "prompt,audio,label\nHow?,missing.wav,benign\n", ["row 2", "'audio'", "missing"]),
    ("a.csv", "prompt\nHow?\n", ["row 2", "'label'"]),  # no label and no default
    ("a.jsonl", '{"prompt": "How?", "label": "benign"}\n{"prompt": "Why?", "label": "benign"\n', ["line 2"]),
    (
        "a.jsonl",
        '{"prompt": "How?", "label": "benign"}\n{"prompt": "", "label": "benign"}\n',
        ["row 2", "'prompt'"],
    ),
    (
        "a.jsonl",
        '{"prompt": "How?", "label": "benign"}\n{"text": "Why?", "label": "benign"}\n',
        ["row 2", "'prompt'"],
    ),
    ("a.jsonl", '{"prompt": "How?", "label": "bad"}\n', ["row 1", "'label'"]),
    ("a.txt", "prompt\nHow?\n", ["unsupported"]),
]


@pytest.mark.parametrize(("name", "text", "needles"), MALFORMED)
def test_load_items_malformed(tmp_path: Path, name: str, text: str, needles: list[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as err:
        data.load_items(path)
    for needle in needles:
        assert needle in str(err.value)


def test_load_pairs_file(tmp_path: Path, wav: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("harmful,benign,category,benign_audio\nHow to steal?,How to share?,theft,clips/q1.wav\n")
    (pair,) = data.load_pairs_file(path)
    assert (pair.harmful.prompt, pair.benign.prompt, pair.category) == (
        "How to steal?",
        "How to share?",
        "theft",
    )
    assert pair.benign.audio_path == str(wav) and pair.harmful.audio_path is None
    path.write_text("harmful,benign\nHow to steal?,How to share?\nHow to rob?,\n")
    with pytest.raises(DataError, match=r"row 3, column 'benign'"):
        data.load_pairs_file(path)
    path.write_text("harmful\nHow to steal?\n")
    with pytest.raises(DataError, match="'benign'"):
        data.load_pairs_file(path)


def test_write_items_round_trip(tmp_path: Path, wav: Path) -> None:
    items = [
        Item("How do I pick a lock?", "harmful", "crime", str(wav), source="mine"),
        Item("What is a lock?", "benign"),
        data.mirror_pairs()[0].benign,
    ]
    path = data.write_items(tmp_path / "out.jsonl", items)
    assert data.load_items(path) == items
    assert json.loads(path.read_text().splitlines()[0])["audio"] == "clips/q1.wav"
