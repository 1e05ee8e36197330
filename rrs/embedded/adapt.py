"""Modality adaptation of the embedded LALM: teach the LLM to read the speech front end's soft tokens.

Benign speech only, as real LALMs are mostly adapted on benign data; no question used for RRS training
or evaluation (``rrs.embedded.questions`` checks that). Two tasks, mixed per step:

* repeat: "Repeat the question in the audio." -> the exact question text;
* answer: "Answer the question in the audio." -> the LLM's own greedy answer to the same question asked
  in text (self-distillation, at most ``answer_tokens`` tokens).

Only LoRA on the LLM trains (the front end is frozen and has no trainable parts).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rrs.embedded.questions import benign_questions
from rrs.models.embedded.assemble import adapter_dir, load_embedded

REPEAT_INSTRUCTION = "Repeat the question in the audio."
ANSWER_INSTRUCTION = "Answer the question in the audio."


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of one adaptation run (recorded next to the adapter)."""

    variant: str = "embedded"
    steps: int = 110
    batch_size: int = 16
    lr: float = 5e-4
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    repeat_share: float = 0.7
    lora_r: int = 8
    lora_alpha: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    voices_per_question: int = 2
    answer_tokens: int = 32
    seed: int = 0
    bf16: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.repeat_share <= 1.0:
            raise ValueError("repeat_share must lie in [0, 1]")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")


def lr_at(step: int, cfg: AdaptConfig) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` of the peak."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def self_answers(model: Any, questions: list[str], max_tokens: int, batch: int = 32) -> list[tuple[str, bool]]:
    """The LLM's own greedy text-mode answers; ``True`` when the answer ended within the budget."""
    from tqdm.auto import tqdm

    from rrs.models.base import GenerationSettings, Query

    out: list[tuple[str, bool]] = []
    settings = GenerationSettings(max_new_tokens=max_tokens + 1)
    for i in tqdm(range(0, len(questions), batch), desc="self answers"):
        chunk = questions[i : i + batch]
        texts = model.generate([Query(q) for q in chunk], "text-only", settings=settings)
        for t in texts:
            ids = model.tokenizer(t[0], add_special_tokens=False)["input_ids"]
            finished = len(ids) <= max_tokens
            out.append((model.tokenizer.decode(ids[:max_tokens]).strip(), finished))
    return out


def build_examples(cfg: AdaptConfig, model: Any) -> list[dict[str, Any]]:
    """(audio, instruction, target, closes) examples over the adaptation questions and voices."""
    import numpy as np

    from rrs.speech import synthesize_cached, voice_for

    questions = benign_questions("adapt", seed=cfg.seed)
    answers = self_answers(model, questions, cfg.answer_tokens)
    examples = []
    for q, (answer, finished) in zip(questions, answers, strict=True):
        used = set()
        for k in range(cfg.voices_per_question):
            voice = voice_for(f"{q}|{k}", cfg.seed)
            if voice in used:
                continue
            used.add(voice)
            wave = np.asarray(synthesize_cached(q, voice), dtype=np.float32)
            examples.append({"question": q, "audio": wave, "voice": voice.name, "answer": answer,
                             "answer_closes": finished})
    return examples


def train(cfg: AdaptConfig, out_dir: Path | None = None, log: Any = print) -> dict[str, Any]:
    """Run the adaptation and save a peft adapter plus ``training_log.json`` into ``out_dir``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm.auto import tqdm

    from rrs.models.base import Query

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    out_dir = Path(out_dir) if out_dir else adapter_dir(cfg.variant)
    model = load_embedded(cfg.variant, adapted=False)
    start = time.time()
    examples = build_examples(cfg, model)
    log(f"{len(examples)} clips of {len({e['question'] for e in examples})} questions")
    model.hear([e["audio"] for e in tqdm(examples, desc="front end")])  # memoise soft tokens once
    prep_seconds = time.time() - start

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                      target_modules=list(cfg.lora_targets), bias="none")
    model.model = get_peft_model(model.model, lora)
    model.model.train()
    params = [p for p in model.model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    curve = []
    train_start = time.time()
    bar = tqdm(range(cfg.steps), desc="adapting")
    for step in bar:
        batch = rng.sample(examples, cfg.batch_size)
        repeat_mask = [rng.random() < cfg.repeat_share for _ in batch]
        loss = _step_loss(model, batch, repeat_mask, cfg, Query)
        for group in optimiser.param_groups:
            group["lr"] = lr_at(step, cfg)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        curve.append({"step": step + 1, "loss": round(float(loss), 4), "lr": lr_at(step, cfg),
                      "seconds": round(time.time() - train_start, 1)})
        bar.set_postfix(loss=f"{float(loss):.3f}")
    model.model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.model.save_pretrained(out_dir)
    record = {
        "config": asdict(cfg),
        "n_examples": len(examples),
        "n_questions": len({e["question"] for e in examples}),
        "voices": sorted({e["voice"] for e in examples}),
        "prep_seconds": round(prep_seconds, 1),
        "train_seconds": round(time.time() - train_start, 1),
        "trainable_params": sum(p.numel() for p in params),
        "torch_threads": torch.get_num_threads(),
        "curve": curve,
    }
    (out_dir / "training_log.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def _step_loss(model: Any, batch: list[dict], repeat_mask: list[bool], cfg: AdaptConfig, query_cls: Any) -> Any:
    """Mean token cross-entropy over the answer parts, one forward for the whole batch per instruction."""
    import torch

    total, count = 0.0, 0
    for is_repeat in (True, False):
        rows = [e for e, r in zip(batch, repeat_mask, strict=True) if r == is_repeat]
        if not rows:
            continue
        queries = [query_cls(e["question"], e["audio"]) for e in rows]
        targets = [e["question"] if is_repeat else e["answer"] for e in rows]
        closes = [True if is_repeat else e["answer_closes"] for e in rows]
        instruction = REPEAT_INSTRUCTION if is_repeat else ANSWER_INSTRUCTION
        inputs = model.prompt_with_answer(queries, "audio-text", targets, instruction, closes=closes)
        labels = inputs.pop("labels")
        base = model._base()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            hidden = base.model(**inputs, use_cache=False).last_hidden_state
        # Gather the positions that predict answer tokens before the vocabulary projection.
        shift_labels = labels[:, 1:]
        keep = shift_labels != -100
        picked = hidden[:, :-1][keep].contiguous()
        logits = base.lm_head(picked.to(base.lm_head.weight.dtype)).float()
        loss_sum = torch.nn.functional.cross_entropy(logits, shift_labels[keep], reduction="sum")
        total = total + loss_sum
        count += int(keep.sum())
    return total / max(1, count)
