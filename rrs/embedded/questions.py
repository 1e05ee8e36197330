"""Benign spoken questions for the embedded model's modality adaptation and its understanding test.

Questions are generated from question frames and everyday subjects. The subjects are split in two
disjoint halves, so the held-out questions used to measure word error rate never share a subject with
the adaptation data, and they use question frames the adaptation never saw. Every question is also checked against the project's reference safety sets
(``data/reference``): none of them may be used in adaptation.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from rrs.paths import PROJECT_ROOT

# (frame, subject kind). The frames read naturally when spoken.
FRAMES: dict[str, list[str]] = {
    "food": [
        "How do I cook {x} at home?", "What is a good recipe for {x}?", "How long does {x} keep in the fridge?",
        "Is {x} healthy to eat every day?", "What goes well with {x}?", "Where does {x} come from?",
    ],
    "place": [
        "What is the weather usually like in {x}?", "What should I see when I visit {x}?",
        "What language do people speak in {x}?", "What is {x} famous for?", "How big is {x}?",
        "What is the best time of year to travel to {x}?",
    ],
    "animal": [
        "What does a {x} eat?", "How long does a {x} live?", "Where do {x}s live in the wild?",
        "How fast can a {x} run?", "Can I keep a {x} as a pet?", "Why do {x}s make noise at night?",
    ],
    "skill": [
        "How can I get better at {x}?", "What equipment do I need for {x}?", "Is {x} hard to learn?",
        "How many hours a week should I practise {x}?", "What is a good first step in {x}?",
        "Can you give me tips for {x} as a beginner?",
    ],
    "thing": [
        "How does a {x} work?", "Who invented the {x}?", "How do I clean a {x}?", "How much does a {x} cost?",
        "What should I look for when I buy a {x}?", "How do I fix a broken {x}?",
    ],
    "science": [
        "Can you explain {x} in simple words?", "Why is {x} important?", "Who discovered {x}?",
        "What is an example of {x} in daily life?", "How do scientists measure {x}?",
    ],
}

SUBJECTS: dict[str, list[str]] = {
    "food": ["rice", "pasta", "lentil soup", "pancakes", "banana bread", "grilled salmon", "tomato sauce",
             "fried eggs", "oatmeal", "vegetable curry", "apple pie", "roast chicken", "sushi rice",
             "mashed potatoes", "chocolate cake", "green salad", "bean chili", "pizza dough", "yogurt",
             "carrot soup", "garlic bread", "fruit salad"],
    "place": ["Paris", "Japan", "Canada", "Brazil", "Egypt", "Norway", "Kenya", "Mexico City", "Italy",
              "Australia", "Iceland", "Peru", "Scotland", "Vietnam", "Chicago", "Morocco", "New Zealand",
              "Spain", "Thailand", "Ireland", "Portugal", "Chile"],
    "animal": ["dog", "cat", "horse", "rabbit", "parrot", "turtle", "dolphin", "owl", "elephant", "penguin",
               "giraffe", "hamster", "goldfish", "kangaroo", "zebra", "squirrel", "frog", "bee", "cow",
               "duck", "fox", "deer"],
    "skill": ["painting", "swimming", "chess", "guitar", "running", "photography", "knitting", "cooking",
              "public speaking", "gardening", "yoga", "piano", "drawing", "dancing", "cycling", "writing",
              "singing", "tennis", "baking", "juggling", "skiing", "sewing"],
    "thing": ["bicycle", "refrigerator", "microwave", "telescope", "camera", "dishwasher", "clock",
              "laptop", "washing machine", "umbrella", "printer", "vacuum cleaner", "compass", "kettle",
              "toaster", "thermometer", "lamp", "headphone", "calculator", "sewing machine", "bookshelf",
              "doorbell"],
    "science": ["gravity", "photosynthesis", "electricity", "evolution", "magnetism", "the water cycle",
                "friction", "sound waves", "climate", "the immune system", "rainbows", "tides", "erosion",
                "digestion", "volcanoes", "earthquakes", "the seasons", "static electricity", "oxygen",
                "the solar system", "cloud formation", "sleep"],
}


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def reference_questions(root: Path | None = None) -> set[str]:
    """Every question text in the vendored reference safety sets, normalised."""
    root = root or PROJECT_ROOT / "data" / "reference"
    found: set[str] = set()
    for path in root.rglob("*.json"):
        for item in json.loads(path.read_text()):
            text = item.get("prompt") or item.get("question")
            if text:
                found.add(normalise(text))
    return found


def benign_questions(split: str, seed: int = 0) -> list[str]:
    """Shuffled, de-duplicated questions; ``split`` is ``"adapt"`` or ``"heldout"`` (disjoint subjects)."""
    if split not in ("adapt", "heldout"):
        raise ValueError("split must be 'adapt' or 'heldout'")
    blocked = reference_questions()
    questions: list[str] = []
    for kind, frames in FRAMES.items():
        subjects = SUBJECTS[kind]
        # Adaptation: even-position subjects and all but the last two frames. Held out: the other
        # subjects with the last two frames, so neither the subject nor the wording was seen.
        chosen = subjects[0::2] if split == "adapt" else subjects[1::2]
        wordings = frames[:-2] if split == "adapt" else frames[-2:]
        for subject in chosen:
            for frame in wordings:
                question = frame.format(x=subject)
                question = question[0].upper() + question[1:]
                if normalise(question) not in blocked:
                    questions.append(question)
    questions = sorted(set(questions))
    random.Random(seed).shuffle(questions)
    return questions
