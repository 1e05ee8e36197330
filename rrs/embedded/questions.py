"""Benign spoken questions for the embedded model's modality adaptation and its understanding test.

Questions are generated from question frames and everyday subjects: short questions, "how do I ...",
imperative requests ("Write ...", "Give step-by-step instructions for ...", "Explain how to ...") and long
questions of up to about 30 words, the forms the evaluation sets use. The subjects are split in two
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

# Requests in the forms the evaluation sets use: imperatives ("Write ...", "Give step-by-step instructions
# for ...", "Explain how to ..."), "how do I ..." and long, wordy questions (up to about 30 words). As with
# FRAMES, the last two of each kind are held out.
REQUEST_FRAMES: dict[str, list[str]] = {
    "food": [
        "Give step-by-step instructions for making {x}.", "Write a shopping list for {x}.",
        "Explain how to store {x} so that it stays fresh for as long as possible.",
        "I have never cooked before and my friends are coming over on Saturday evening, so how do I make {x} "
        "without ruining it?",
        "Describe what {x} tastes like.",
        "Write a short paragraph that tells a child why {x} can be part of a healthy meal.",
        "Tell me three mistakes people often make when they prepare {x}.",
    ],
    "place": [
        "Write a three-day travel plan for {x}.", "Explain how to get around {x} by public transport.",
        "Give me a list of things to pack for a week in {x}.",
        "My parents are visiting {x} for the first time next spring and they do not like long walks, so "
        "what should they see?",
        "Describe the food people usually eat in {x}.",
        "Write a short postcard message from a holiday in {x}.",
        "Tell me about the history of {x} in a few sentences.",
    ],
    "animal": [
        "Explain how to take care of a {x}.", "Write a short poem about a {x}.",
        "Give step-by-step instructions for drawing a {x}.",
        "My daughter saw a {x} at the zoo last weekend and now she keeps asking me questions, so how do I "
        "explain what it does all day?",
        "Describe how a {x} raises its young.",
        "Write three fun facts about the {x} for a school project.",
        "Tell me how a {x} keeps itself warm or cool.",
    ],
    "skill": [
        "Give step-by-step instructions for starting {x}.", "Write a weekly practice plan for {x}.",
        "Explain how to stay motivated when learning {x}.",
        "I am forty years old and I always wanted to try {x}, but I feel too old, so how do I begin?",
        "Describe what a typical lesson in {x} looks like.",
        "Write a short message inviting a friend to try {x} with me.",
        "Tell me which muscles or skills {x} trains the most.",
    ],
    "thing": [
        "Explain how to use a {x} safely.", "Write a short review of a {x}.",
        "Give step-by-step instructions for setting up a new {x}.",
        "My old {x} stopped working this morning and the shop is closed until Monday, so what can I check "
        "myself before I call someone?",
        "Describe the parts of a {x}.",
        "Write a short advert for a {x}.",
        "Tell me how the {x} changed over the last hundred years.",
    ],
    "science": [
        "Explain {x} to a ten year old.", "Write a short quiz about {x}.",
        "Give me three simple experiments that show {x}.",
        "My teacher mentioned {x} in class today but I did not understand it at all, so how would you "
        "explain it in plain words?",
        "Describe how {x} affects the weather or the planet.",
        "Write a summary of what we know about {x} in four sentences.",
        "Tell me a common myth about {x} and why it is wrong.",
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
    for kind, subjects in SUBJECTS.items():
        # Adaptation: even-position subjects and all but the last two frames of each list. Held out: the
        # other subjects with the last two frames, so neither the subject nor the wording was seen.
        chosen = subjects[0::2] if split == "adapt" else subjects[1::2]
        wordings = [f for frames in (FRAMES[kind], REQUEST_FRAMES[kind])
                    for f in (frames[:-2] if split == "adapt" else frames[-2:])]
        for subject in chosen:
            for frame in wordings:
                question = frame.format(x=subject)
                question = question[0].upper() + question[1:]
                if normalise(question) not in blocked:
                    questions.append(question)
    questions = sorted(set(questions))
    random.Random(seed).shuffle(questions)
    return questions
