"""The embedded family: a Whisper front end feeding soft tokens into an instruction-tuned LLM.

``model`` is the LLM itself (a Hugging Face causal LM), so LoRA, hooks and generation act on a real
``transformers`` model exactly as for the big families. Audio is turned into soft input embeddings by
``rrs.models.embedded.frontend.WhisperFrontEnd`` (frozen) and spliced into the LLM's own chat template where
the user turn holds the audio.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rrs.models.base import LALM, NO_SYSTEM_TURN, Modality, Query, needs_audio, user_text
from rrs.paths import cache_dir
from rrs.store import atomic_write

AUDIO_MARK = "\u0000AUDIO\u0000"


class SpeechCascadeLALM(LALM):
    family = "embedded"
    frontend_batch = 8  # clips per Whisper pass (each is padded to 30 s)

    def __init__(
        self, llm: Any, tokenizer: Any, frontend: Any, *, name: str, system_prompt: str | None, cache_size: int = 4096
    ) -> None:
        super().__init__(llm, tokenizer, name=name, system_prompt=system_prompt)
        self.frontend = frontend
        self.tokenizer.padding_side = "left"
        self._audio_cache: OrderedDict[str, tuple[Any, str]] = OrderedDict()
        self._cache_size = cache_size
        #: identifies the front end's weights in the on-disk soft-token cache
        self.frontend_id = frontend.fingerprint()

    # ---- family parts -------------------------------------------------------------------------
    @property
    def decoder_layers(self) -> Any:
        return self._base().model.layers

    @property
    def final_norm(self) -> Any:
        return self._base().model.norm

    @property
    def lm_head(self) -> Any:
        return self._base().lm_head

    @property
    def llm_prefix(self) -> str:
        return ""

    @property
    def frozen_modules(self) -> list[str]:
        return []  # the speech front end lives outside ``model`` and never receives gradients


    # ---- audio ----------------------------------------------------------------------------------
    def hear(self, waves: Sequence[np.ndarray]) -> list[tuple[Any, str]]:
        """(soft tokens, transcript) per clip; memoised by waveform hash so repeats cost nothing."""
        keys = [hashlib.sha1(np.ascontiguousarray(w, dtype=np.float32).tobytes(), usedforsecurity=False).hexdigest() for w in waves]
        todo = [i for i, k in enumerate(keys) if k not in self._audio_cache]
        for i in list(todo):
            stored = self._disk_get(keys[i])
            if stored is not None:
                self._remember(keys[i], stored)
                todo.remove(i)
        for start in range(0, len(todo), self.frontend_batch):
            chunk = todo[start : start + self.frontend_batch]
            embeds, texts = self.frontend.encode_audio([waves[i] for i in chunk])
            for i, emb, text in zip(chunk, embeds, texts, strict=True):
                self._remember(keys[i], (emb.cpu(), text))
                self._disk_put(keys[i], emb.cpu(), text)
        return [self._audio_cache[k] for k in keys]

    def _remember(self, key: str, value: tuple[Any, str]) -> None:
        self._audio_cache[key] = value
        if len(self._audio_cache) > self._cache_size:
            self._audio_cache.popitem(last=False)

    def _disk_path(self, key: str) -> Path:
        return cache_dir() / "frontend" / self.frontend_id / key[:2] / f"{key}.safetensors"

    def _disk_get(self, key: str) -> tuple[Any, str] | None:
        from safetensors import SafetensorError
        from safetensors.torch import safe_open

        path = self._disk_path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                return handle.get_tensor("soft"), (handle.metadata() or {}).get("text", "")
        except (SafetensorError, OSError):
            path.unlink(missing_ok=True)
            return None

    def _disk_put(self, key: str, soft: Any, text: str) -> None:
        from safetensors.torch import save_file

        atomic_write(self._disk_path(key), lambda tmp: save_file({"soft": soft.contiguous()}, tmp, {"text": text}))

    def transcribe(self, waves: Sequence[np.ndarray]) -> list[str]:
        return [text for _, text in self.hear(waves)]

    # ---- inputs ---------------------------------------------------------------------------------
    def _render(self, query: Query, modality: Modality, instruction: str | None) -> list[str]:
        """The chat-template text split around the audio position (one piece when there is no audio)."""
        text = user_text(query, modality, instruction)
        if modality == "text-only":
            content = text or ""
        elif text:
            content = f"Audio 1: {AUDIO_MARK}\n{text}"
        else:
            content = f"Audio 1: {AUDIO_MARK}"
        messages = [{"role": "user", "content": content}]
        if self.system_prompt:
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        rendered = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if self.system_prompt == NO_SYSTEM_TURN:
            rendered = without_system_turn(rendered)
        return rendered.split(AUDIO_MARK)

    def build_inputs(
        self, queries: Sequence[Query], modality: Modality, instruction: str | None = None
    ) -> dict[str, Any]:
        import torch

        waves = [needs_audio(q, modality) for q in queries]
        heard = self.hear([w for w in waves if w is not None]) if modality != "text-only" else []
        embed = self._base().get_input_embeddings()
        device, dtype = self.device, self.dtype
        rows = []
        audio_iter = iter(heard)
        for query in queries:
            pieces = self._render(query, modality, instruction)
            parts = []
            for j, piece in enumerate(pieces):
                if j > 0:
                    soft, _ = next(audio_iter)
                    parts.append(soft.to(device, dtype))
                ids = self.tokenizer(piece, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
                with torch.no_grad():
                    parts.append(embed(ids.to(device)).to(dtype))
            rows.append(torch.cat(parts))
        width = max(r.shape[0] for r in rows)
        hidden = rows[0].shape[1]
        inputs_embeds = torch.zeros(len(rows), width, hidden, device=device, dtype=dtype)
        mask = torch.zeros(len(rows), width, device=device, dtype=torch.long)
        for i, row in enumerate(rows):
            inputs_embeds[i, width - row.shape[0] :] = row
            mask[i, width - row.shape[0] :] = 1
        return {"inputs_embeds": inputs_embeds, "attention_mask": mask}

    def prompt_with_answer(
        self,
        queries: Sequence[Query],
        modality: Modality,
        answers: Sequence[str],
        instruction: str | None = None,
        closes: Sequence[bool] | None = None,
        prefixes: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Inputs for teacher forcing: the prompt, an optional prefilled ``prefixes[i]``, then the answer.

        Labels mask the prompt and the prefix (-100), so only the answer is learnt. The end-of-turn token
        follows an answer when ``closes[i]`` (default: always). Right-padded, so the prompt part of each
        row starts at position 0.
        """
        import torch

        prompt = self.build_inputs(queries, modality, instruction)
        embed = self._base().get_input_embeddings()
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in self.tokenizer.get_vocab() else (
            self.tokenizer.eos_token_id
        )
        rows, labels = [], []
        for i, answer in enumerate(answers):
            keep = prompt["attention_mask"][i].bool()
            p_emb = prompt["inputs_embeds"][i][keep]
            a_ids = self.tokenizer(answer, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
            if closes is None or closes[i]:
                a_ids = torch.cat([a_ids, torch.tensor([end])])
            prefix = prefixes[i] if prefixes else ""
            f_ids = self.tokenizer(prefix, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
            ids = torch.cat([f_ids, a_ids]).to(self.device)
            rows.append(torch.cat([p_emb, embed(ids).to(self.dtype)]))
            masked = torch.full((p_emb.shape[0] + f_ids.shape[0],), -100, device=self.device)
            labels.append(torch.cat([masked, a_ids.to(self.device)]))
        width = max(r.shape[0] for r in rows)
        out_emb = torch.zeros(len(rows), width, rows[0].shape[1], device=self.device, dtype=self.dtype)
        out_mask = torch.zeros(len(rows), width, dtype=torch.long, device=self.device)
        out_labels = torch.full((len(rows), width), -100, dtype=torch.long, device=self.device)
        for i, (row, lab) in enumerate(zip(rows, labels, strict=True)):
            out_emb[i, : row.shape[0]] = row
            out_mask[i, : row.shape[0]] = 1
            out_labels[i, : row.shape[0]] = lab
        return {"inputs_embeds": out_emb, "attention_mask": out_mask, "labels": out_labels}


def without_system_turn(rendered: str) -> str:
    """Drop a leading ChatML system turn that the chat template inserted on its own."""
    head = "<|im_start|>system\n"
    if rendered.startswith(head):
        end = rendered.find("<|im_end|>\n")
        if end >= 0:
            return rendered[end + len("<|im_end|>\n") :]
    return rendered
